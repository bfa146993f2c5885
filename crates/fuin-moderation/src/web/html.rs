//! HTML that cannot carry unescaped text.
//!
//! Every page of the console is built with [`Html`]: markup enters only as
//! `&'static str` (literals written in this crate), and everything else
//! (report content, notes, names, codes, numbers) enters through
//! [`Html::text`] or [`Html::shown`], which escape it. There is no way to
//! append a runtime `String` unescaped, so a template cannot forget to
//! escape.

use std::fmt::Write as _;

/// A page, or part of one, under construction.
#[derive(Default)]
pub struct Html(String);

impl Html {
    /// An empty fragment.
    pub fn new() -> Self {
        Self(String::new())
    }

    /// Appends markup written in this crate.
    pub fn raw(&mut self, markup: &'static str) -> &mut Self {
        self.0.push_str(markup);
        self
    }

    /// Appends `text`, escaped for element content and quoted attribute
    /// values alike.
    pub fn text(&mut self, text: &str) -> &mut Self {
        escape_into(&mut self.0, text);
        self
    }

    /// Appends a number.
    pub fn num(&mut self, value: u64) -> &mut Self {
        let _ = write!(self.0, "{value}");
        self
    }

    /// Appends a `time` element for `ms` since the Unix epoch, in UTC
    /// ISO 8601.
    pub fn time(&mut self, ms: u64) -> &mut Self {
        let at = super::time::iso8601(ms);
        self.raw("<time datetime=\"")
            .text(&at)
            .raw("\">")
            .text(&at)
            .raw("</time>")
    }

    /// Appends untrusted text (reported text, file names) escaped, with
    /// every bidi control, zero-width or other invisible control character
    /// shown as a visible mark (`⟨U+202E⟩` in a `span.ctl`), so that it can
    /// neither reorder nor hide what the moderator reads.
    pub fn shown(&mut self, text: &str) -> &mut Self {
        let mut plain_from = 0;
        for (at, c) in text.char_indices() {
            if is_hidden_control(c) {
                escape_into(&mut self.0, &text[plain_from..at]);
                let _ = write!(
                    self.0,
                    "<span class=\"ctl\" title=\"hidden character U+{code:04X}\">\u{27e8}U+{code:04X}\u{27e9}</span>",
                    code = u32::from(c)
                );
                plain_from = at + c.len_utf8();
            }
        }
        escape_into(&mut self.0, &text[plain_from..]);
        self
    }

    /// Appends another fragment (itself built only from escaped text and
    /// literal markup).
    pub fn html(&mut self, other: Html) -> &mut Self {
        self.0.push_str(&other.0);
        self
    }

    /// The finished markup.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Escapes `& < > " '`: the one escaping function of the console.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
}

/// Whether `c` is shown as a visible mark rather than as itself: bidi
/// embeddings, overrides, isolates and marks; zero-width characters and the
/// byte order mark; and control characters other than line feed and tab.
pub fn is_hidden_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}'
            | '\u{200B}'..='\u{200D}'
            | '\u{2060}'
            | '\u{FEFF}'
    ) || (c.is_control() && c != '\n' && c != '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_every_markup_character() {
        let mut html = Html::new();
        html.text("<script>alert('x')</script> & \"q\"");
        assert_eq!(
            html.into_string(),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn bidi_and_zero_width_characters_are_shown_as_marks() {
        let mut html = Html::new();
        html.shown("a\u{202E}b\u{200B}c<\u{2066}\u{FEFF}\u{7}");
        let out = html.into_string();
        for hidden in ['\u{202E}', '\u{200B}', '\u{2066}', '\u{FEFF}', '\u{7}'] {
            assert!(!out.contains(hidden), "{hidden:?} left in {out}");
        }
        assert!(out.contains("\u{27e8}U+202E\u{27e9}"));
        assert!(out.contains("\u{27e8}U+200B\u{27e9}"));
        assert!(out.contains("\u{27e8}U+0007\u{27e9}"));
        assert!(out.contains("c&lt;"));
        assert!(out.starts_with("a<span class=\"ctl\""));
    }

    #[test]
    fn line_feeds_and_tabs_stay() {
        let mut html = Html::new();
        html.shown("one\ntwo\tthree");
        assert_eq!(html.into_string(), "one\ntwo\tthree");
    }
}
