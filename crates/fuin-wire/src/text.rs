//! The characters a name shown to people may not hold (`spec/wire.md` §3.1).
//!
//! User ids, device names and file names are chosen by one user and shown to
//! others. A character that is invisible, or that reorders the text around
//! it, lets one name pass for another (`alice` with a zero-width space,
//! `invoice` U+202E `fdp.exe`, which shows as `invoiceexe.pdf`). Such a name is refused
//! with the code point that broke the rule, written `U+XXXX`, never the
//! character itself.
//!
//! The rule: a code point is hidden if its General_Category is `Cc`
//! (control), `Cf` (format: bidi controls, zero-width joiners, tags), `Zl` or
//! `Zp` (line and paragraph separators), or if it is a
//! Default_Ignorable_Code_Point (variation selectors, fillers, and the code
//! points reserved to be ignored). The category comes from
//! `unicode-properties` (a table-only crate of the unicode-rs project); the
//! default-ignorable set is small and copied below from Unicode's
//! DerivedCoreProperties.txt, where it has not changed since Unicode 9.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The Default_Ignorable_Code_Point ranges (inclusive), in order.
const DEFAULT_IGNORABLE: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
];

/// Whether `c` is a Default_Ignorable_Code_Point.
pub fn is_default_ignorable(c: char) -> bool {
    let c = u32::from(c);
    DEFAULT_IGNORABLE
        .binary_search_by(|&(first, last)| {
            if last < c {
                std::cmp::Ordering::Less
            } else if first > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Whether a name shown to people may not hold `c`: a control, format,
/// line or paragraph separator, or default-ignorable code point.
pub fn is_hidden(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    ) || is_default_ignorable(c)
}

/// The first character of `text` that [`is_hidden`], if any.
pub fn first_hidden(text: &str) -> Option<char> {
    text.chars().find(|&c| is_hidden(c))
}

/// Refuses `text` for `field` if it holds a hidden character that is not a
/// control character (those are refused before, by each field's own check,
/// as `InvalidField`).
pub(crate) fn check_shown_name(field: &'static str, text: &str) -> Result<(), crate::WireError> {
    match first_hidden(text) {
        Some(c) => Err(crate::WireError::HiddenCharacter {
            field,
            code_point: u32::from(c),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_disjoint() {
        for pair in DEFAULT_IGNORABLE.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
        }
    }

    #[test]
    fn the_named_look_alike_characters_are_hidden() {
        let hidden = [
            // Bidi controls.
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200E}',
            '\u{200F}',
            '\u{061C}',
            // Zero-width and other invisible characters.
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{2061}',
            '\u{2062}',
            '\u{2063}',
            '\u{2064}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{180E}',
            '\u{034F}',
            '\u{3164}',
            '\u{FFA0}',
            '\u{115F}', // Variation selectors.
            '\u{FE00}',
            '\u{FE0F}',
            '\u{E0100}',
            '\u{E01EF}', // Tags.
            '\u{E0001}',
            '\u{E0020}',
            '\u{E007F}', // Controls and separators.
            '\u{0000}',
            '\u{001B}',
            '\u{007F}',
            '\u{0085}',
            '\u{2028}',
            '\u{2029}',
        ];
        for c in hidden {
            assert!(is_hidden(c), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn visible_letters_marks_and_symbols_are_not_hidden() {
        for text in [
            "alice",
            "zoë",
            "Zoe\u{0308}",
            "日本語",
            "Ольга",
            "שלום",
            "😀",
            "a b",
            "a.b-c_d",
        ] {
            assert_eq!(first_hidden(text), None, "{text}");
        }
    }
}
