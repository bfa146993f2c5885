//! Typed content: message bodies of content type
//! [`Typed`](crate::ContentType::Typed), named by a reverse-DNS type name.
//!
//! A typed body is one version byte (1) followed by the postcard encoding of
//! [`TypedContent`]: the type's name and its payload (`spec/wire.md` §8.4).
//! Apps define their own types under names they own (`com.example.poll`);
//! names that start with `fuin.` belong to this project, which defines the
//! built-in types below, each with its own payload encoding (the postcard
//! encoding of its struct, no version byte: a new version of a built-in type
//! is a new name). What a type may do to the history is the client's
//! decision (`spec/client.md` §14): these types only carry it.
//!
//! Every decoder here checks, in order: the length limit, the version (for
//! the typed body), the encoding, trailing bytes, each field's rule, and that
//! the input is the one canonical encoding of what it decodes to.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::limits::MAX_CONTENT_BODY_LEN;
use crate::{ClientMessageId, SecretBytes, UserId, WireError};

/// The version byte of a typed body.
const TYPED_CONTENT_VERSION: u8 = 1;

/// The shortest type name, in bytes (`a.b` is three).
pub const MIN_TYPE_NAME_LEN: usize = 3;
/// The longest type name, in bytes.
pub const MAX_TYPE_NAME_LEN: usize = 128;
/// The longest label of a type name (between dots), in bytes.
pub const MAX_TYPE_NAME_LABEL_LEN: usize = 63;
/// The prefix of the names this project defines; apps use names of a domain
/// they own.
pub const BUILT_IN_PREFIX: &str = "fuin.";
/// The longest reaction, in bytes of UTF-8 (an emoji sequence with its
/// joiners and modifiers fits).
pub const MAX_REACTION_LEN: usize = 32;
/// The longest disappearing-message timer: one year, in seconds.
pub const MAX_TIMER_SECONDS: u32 = 365 * 24 * 60 * 60;

/// The name of an edit ([`Edit`]).
pub const EDIT: &str = "fuin.edit";
/// The name of a delete for everyone ([`Delete`]).
pub const DELETE: &str = "fuin.delete";
/// The name of a reaction ([`Reaction`]).
pub const REACTION: &str = "fuin.reaction";
/// The name of a reply ([`Reply`]).
pub const REPLY: &str = "fuin.reply";
/// The name of a typing indicator ([`Typing`]).
pub const TYPING: &str = "fuin.typing";
/// The name of a disappearing-message timer ([`Timer`]).
pub const TIMER: &str = "fuin.timer";

/// The built-in type names this version knows.
pub const BUILT_IN_TYPES: [&str; 6] = [EDIT, DELETE, REACTION, REPLY, TYPING, TIMER];

/// A content type's name: 3 to 128 bytes of dot-separated labels (at least
/// two), each 1 to 63 bytes of `a`-`z`, `0`-`9` and `-`, starting with a
/// letter and not ending with `-` (a reverse-DNS name such as
/// `com.example.poll`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TypeName<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'a> TypeName<'a> {
    /// Checks and wraps a name.
    pub fn new(name: impl Into<Cow<'a, str>>) -> Result<Self, WireError> {
        let name = Self(name.into());
        name.validate()?;
        Ok(name)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the name is in the project's namespace (`fuin.`).
    pub fn is_built_in_namespace(&self) -> bool {
        self.0.starts_with(BUILT_IN_PREFIX)
    }

    /// Copies a borrowed name.
    pub fn into_owned(self) -> TypeName<'static> {
        TypeName(Cow::Owned(self.0.into_owned()))
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        let name = self.0.as_ref();
        if name.len() < MIN_TYPE_NAME_LEN || name.len() > MAX_TYPE_NAME_LEN {
            return Err(WireError::LimitExceeded {
                field: "type_name",
                len: name.len(),
                max: MAX_TYPE_NAME_LEN,
            });
        }
        let mut labels = 0;
        for label in name.split('.') {
            labels += 1;
            let bytes = label.as_bytes();
            let well_formed = !bytes.is_empty()
                && bytes.len() <= MAX_TYPE_NAME_LABEL_LEN
                && bytes[0].is_ascii_lowercase()
                && bytes[bytes.len() - 1] != b'-'
                && bytes
                    .iter()
                    .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !well_formed {
                return Err(WireError::InvalidField {
                    field: "type_name",
                    reason: "labels of a-z, 0-9 and '-', each starting with a letter",
                });
            }
        }
        if labels < 2 {
            return Err(WireError::InvalidField {
                field: "type_name",
                reason: "needs at least two labels",
            });
        }
        Ok(())
    }
}

impl std::fmt::Display for TypeName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The body of a message of content type
/// [`Typed`](crate::ContentType::Typed): a type name and its payload. The
/// payload is plaintext: wiped on drop, never shown by `Debug`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypedContent<'a> {
    /// What the payload is.
    #[serde(borrow)]
    pub type_name: TypeName<'a>,
    /// The payload, in the type's own encoding.
    #[serde(borrow)]
    pub payload: SecretBytes<'a>,
}

impl<'a> TypedContent<'a> {
    /// Encodes the body (version byte and fields) into a buffer wiped on
    /// drop; refuses a bad name or a body over [`MAX_CONTENT_BODY_LEN`].
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, WireError> {
        self.type_name.validate()?;
        let mut out = Zeroizing::new(Vec::with_capacity(
            self.payload.len() + self.type_name.as_str().len() + 8,
        ));
        out.push(TYPED_CONTENT_VERSION);
        let encoded = Zeroizing::new(postcard::to_stdvec(self).map_err(|_| unencodable())?);
        out.extend_from_slice(&encoded);
        if out.len() > MAX_CONTENT_BODY_LEN {
            return Err(WireError::LimitExceeded {
                field: "typed_content",
                len: out.len(),
                max: MAX_CONTENT_BODY_LEN,
            });
        }
        Ok(out)
    }

    /// Decodes a body, borrowing the name and payload from `bytes`.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_CONTENT_BODY_LEN {
            return Err(WireError::LimitExceeded {
                field: "typed_content",
                len: bytes.len(),
                max: MAX_CONTENT_BODY_LEN,
            });
        }
        let (&version, body) = bytes.split_first().ok_or(WireError::Truncated)?;
        if version != TYPED_CONTENT_VERSION {
            return Err(WireError::UnknownVersion { version });
        }
        let (content, rest): (Self, _) =
            postcard::take_from_bytes(body).map_err(WireError::from_postcard)?;
        if !rest.is_empty() {
            return Err(WireError::TrailingBytes { count: rest.len() });
        }
        content.type_name.validate()?;
        let canonical = Zeroizing::new(postcard::to_stdvec(&content).map_err(|_| unencodable())?);
        if canonical.as_slice() != body {
            return Err(WireError::NonCanonical);
        }
        Ok(content)
    }

    /// Copies borrowed parts, detaching the content from the input.
    pub fn into_owned(self) -> TypedContent<'static> {
        TypedContent {
            type_name: self.type_name.into_owned(),
            payload: self.payload.into_owned(),
        }
    }
}

fn unencodable() -> WireError {
    WireError::Malformed {
        reason: "value cannot be encoded",
    }
}

/// A message of a conversation, named by its author's user and the author's
/// id for it (the id is the same on every copy; the author's user keeps one
/// user's ids apart from another's, so a peer cannot aim at a message of
/// this user by reusing its id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MessageRef<'a> {
    /// The user who sent the message.
    #[serde(borrow)]
    pub author: UserId<'a>,
    /// The author's id for the message.
    pub id: ClientMessageId,
}

impl MessageRef<'_> {
    /// Copies borrowed parts.
    pub fn into_owned(self) -> MessageRef<'static> {
        MessageRef {
            author: self.author.into_owned(),
            id: self.id,
        }
    }
}

/// A built-in type's payload: its name, its encoding and its field rules.
pub trait BuiltIn<'a>: Serialize + Deserialize<'a> {
    /// The type's name.
    const NAME: &'static str;

    /// Checks the field rules.
    fn validate(&self) -> Result<(), WireError>;

    /// Encodes the payload into a buffer wiped on drop.
    fn to_payload(&self) -> Result<Zeroizing<Vec<u8>>, WireError> {
        self.validate()?;
        Ok(Zeroizing::new(
            postcard::to_stdvec(self).map_err(|_| unencodable())?,
        ))
    }

    /// Encodes the payload as a whole typed body.
    fn to_typed_bytes(&self) -> Result<Zeroizing<Vec<u8>>, WireError> {
        let payload = self.to_payload()?;
        TypedContent {
            type_name: TypeName(Cow::Borrowed(Self::NAME)),
            payload: SecretBytes::borrowed(&payload),
        }
        .to_bytes()
    }

    /// Decodes a payload, borrowing from `bytes`.
    fn from_payload(bytes: &'a [u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_CONTENT_BODY_LEN {
            return Err(WireError::LimitExceeded {
                field: "payload",
                len: bytes.len(),
                max: MAX_CONTENT_BODY_LEN,
            });
        }
        let (value, rest): (Self, _) =
            postcard::take_from_bytes(bytes).map_err(WireError::from_postcard)?;
        if !rest.is_empty() {
            return Err(WireError::TrailingBytes { count: rest.len() });
        }
        value.validate()?;
        let canonical = Zeroizing::new(postcard::to_stdvec(&value).map_err(|_| unencodable())?);
        if canonical.as_slice() != bytes {
            return Err(WireError::NonCanonical);
        }
        Ok(value)
    }
}

/// Decodes an owned value of a built-in type from a payload (for callers
/// that keep the value past the input's life).
pub fn decode_owned<T>(bytes: &[u8]) -> Result<T, WireError>
where
    T: for<'de> BuiltIn<'de> + DeserializeOwned,
{
    T::from_payload(bytes)
}

fn check_text(field: &'static str, text: &str) -> Result<(), WireError> {
    if text.is_empty() {
        return Err(WireError::InvalidField {
            field,
            reason: "is empty",
        });
    }
    Ok(())
}

fn check_author(author: &UserId<'_>) -> Result<(), WireError> {
    author.validate()
}

/// `fuin.edit`: the sender replaces the text of one of its own user's
/// messages. The target is named by id only: its author is the edit's
/// sender's user, so an edit cannot aim at another user's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit<'a> {
    /// The edited message's id.
    pub target: ClientMessageId,
    /// The new text (not empty).
    #[serde(borrow)]
    pub text: Cow<'a, str>,
}

impl<'a> BuiltIn<'a> for Edit<'a> {
    const NAME: &'static str = EDIT;

    fn validate(&self) -> Result<(), WireError> {
        check_text("text", &self.text)
    }
}

/// `fuin.delete`: the sender deletes one of its own user's messages for
/// everyone. Like an edit, the target's author is the sender's user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delete {
    /// The deleted message's id.
    pub target: ClientMessageId,
}

impl BuiltIn<'_> for Delete {
    const NAME: &'static str = DELETE;

    fn validate(&self) -> Result<(), WireError> {
        Ok(())
    }
}

/// `fuin.reaction`: the sender's user's reaction to a message of the
/// conversation; an empty reaction takes the user's reaction back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction<'a> {
    /// The message reacted to.
    #[serde(borrow)]
    pub target: MessageRef<'a>,
    /// The reaction (an emoji sequence), at most [`MAX_REACTION_LEN`]
    /// bytes, with no control characters, line breaks or bidi controls;
    /// empty to take it back.
    #[serde(borrow)]
    pub reaction: Cow<'a, str>,
}

/// Characters a reaction may not hold: controls (which include line breaks),
/// line and paragraph separators, and the bidi controls (a reaction is shown
/// next to other text). Joiners and variation selectors stay: emoji need them.
fn is_refused_in_reaction(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

impl<'a> BuiltIn<'a> for Reaction<'a> {
    const NAME: &'static str = REACTION;

    fn validate(&self) -> Result<(), WireError> {
        check_author(&self.target.author)?;
        if self.reaction.len() > MAX_REACTION_LEN {
            return Err(WireError::LimitExceeded {
                field: "reaction",
                len: self.reaction.len(),
                max: MAX_REACTION_LEN,
            });
        }
        if let Some(c) = self.reaction.chars().find(|&c| is_refused_in_reaction(c)) {
            return Err(WireError::HiddenCharacter {
                field: "reaction",
                code_point: u32::from(c),
            });
        }
        Ok(())
    }
}

/// `fuin.reply`: a text message that quotes another message of the
/// conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply<'a> {
    /// The quoted message.
    #[serde(borrow)]
    pub quote: MessageRef<'a>,
    /// The reply's text (not empty).
    #[serde(borrow)]
    pub text: Cow<'a, str>,
}

impl<'a> BuiltIn<'a> for Reply<'a> {
    const NAME: &'static str = REPLY;

    fn validate(&self) -> Result<(), WireError> {
        check_author(&self.quote.author)?;
        check_text("text", &self.text)
    }
}

/// `fuin.typing`: whether the sender's user is typing in the conversation
/// now. Shown for a moment, never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Typing {
    /// Typing (true) or stopped (false).
    pub typing: bool,
}

impl BuiltIn<'_> for Typing {
    const NAME: &'static str = TYPING;

    fn validate(&self) -> Result<(), WireError> {
        Ok(())
    }
}

/// `fuin.timer`: the conversation's disappearing-message timer, set by
/// either user: messages stored after it are deleted this long after they
/// were stored; 0 turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    /// Seconds, at most [`MAX_TIMER_SECONDS`]; 0 for off.
    pub seconds: u32,
}

impl BuiltIn<'_> for Timer {
    const NAME: &'static str = TIMER;

    fn validate(&self) -> Result<(), WireError> {
        if self.seconds > MAX_TIMER_SECONDS {
            return Err(WireError::LimitExceeded {
                field: "seconds",
                len: self.seconds as usize,
                max: MAX_TIMER_SECONDS as usize,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(name: &str, payload: &[u8]) -> Vec<u8> {
        TypedContent {
            type_name: TypeName::new(name.to_owned()).unwrap(),
            payload: SecretBytes::borrowed(payload),
        }
        .to_bytes()
        .unwrap()
        .to_vec()
    }

    #[test]
    fn type_names_follow_the_reverse_dns_rule() {
        for good in ["a.b", "com.example.poll", "fuin.edit", "x1.y-2.z3", "io.a9"] {
            assert!(TypeName::new(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "poll",
            "Com.example",
            "com..example",
            ".com.example",
            "com.example.",
            "com.-example",
            "com.example-",
            "1com.example",
            "com.exa_mple",
            "com.exämple",
            "com example.x",
        ] {
            assert!(TypeName::new(bad).is_err(), "{bad}");
        }
        let longest = format!("{}.{}", "a".repeat(63), "b".repeat(64 - 2));
        assert_eq!(longest.len(), 126);
        assert!(TypeName::new(longest.clone()).is_ok());
        let label_too_long = format!("{}.b", "a".repeat(64));
        assert!(TypeName::new(label_too_long).is_err());
        let too_long = format!("{}.{}.{}", "a".repeat(63), "b".repeat(63), "c");
        assert_eq!(too_long.len(), 129);
        assert!(matches!(
            TypeName::new(too_long),
            Err(WireError::LimitExceeded { .. })
        ));
    }

    #[test]
    fn a_typed_body_round_trips_and_borrows() {
        let bytes = typed("com.example.poll", b"{\"q\":1}");
        assert_eq!(bytes[0], 1);
        let decoded = TypedContent::from_bytes(&bytes).unwrap();
        assert_eq!(decoded.type_name.as_str(), "com.example.poll");
        assert_eq!(decoded.payload.as_bytes(), b"{\"q\":1}");
        assert!(decoded.payload.is_borrowed());
    }

    #[test]
    fn a_typed_body_refuses_bad_input() {
        let bytes = typed("com.example.poll", b"x");
        assert_eq!(TypedContent::from_bytes(&[]), Err(WireError::Truncated));
        let mut other_version = bytes.clone();
        other_version[0] = 2;
        assert_eq!(
            TypedContent::from_bytes(&other_version),
            Err(WireError::UnknownVersion { version: 2 })
        );
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            TypedContent::from_bytes(&trailing),
            Err(WireError::TrailingBytes { count: 1 })
        );
        // An upper-case name, written by hand.
        let mut bad_name = bytes.clone();
        bad_name[2] = b'C';
        assert!(matches!(
            TypedContent::from_bytes(&bad_name),
            Err(WireError::InvalidField { .. })
        ));
        // The payload length as an over-long varint (0x81 0x00 for 1).
        let mut long_varint = bytes[..bytes.len() - 2].to_vec();
        long_varint.extend_from_slice(&[0x81, 0x00, b'x']);
        assert_eq!(
            TypedContent::from_bytes(&long_varint),
            Err(WireError::NonCanonical)
        );
        let mut truncated = bytes.clone();
        truncated.pop();
        assert!(TypedContent::from_bytes(&truncated).is_err());
    }

    #[test]
    fn a_typed_body_over_the_limit_is_refused_both_ways() {
        let name = "com.example.big";
        // version, name length and name, payload length (3 bytes) and payload.
        let fits = MAX_CONTENT_BODY_LEN - 1 - 1 - name.len() - 3;
        let payload = vec![7u8; fits];
        let bytes = typed(name, &payload);
        assert_eq!(bytes.len(), MAX_CONTENT_BODY_LEN);
        assert!(TypedContent::from_bytes(&bytes).is_ok());
        let over = vec![7u8; fits + 1];
        let refused = TypedContent {
            type_name: TypeName::new(name).unwrap(),
            payload: SecretBytes::borrowed(&over),
        }
        .to_bytes();
        assert!(matches!(refused, Err(WireError::LimitExceeded { .. })));
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            TypedContent::from_bytes(&long),
            Err(WireError::LimitExceeded { .. })
        ));
    }

    #[test]
    fn built_in_payloads_round_trip() {
        let id = ClientMessageId([5; 16]);
        let author = UserId::new("bob").unwrap();
        let edit = Edit {
            target: id,
            text: "fixed".into(),
        };
        assert_eq!(Edit::from_payload(&edit.to_payload().unwrap()), Ok(edit));
        let delete = Delete { target: id };
        assert_eq!(
            Delete::from_payload(&delete.to_payload().unwrap()),
            Ok(delete)
        );
        let reaction = Reaction {
            target: MessageRef {
                author: author.clone(),
                id,
            },
            reaction: "👍🏽".into(),
        };
        assert_eq!(
            Reaction::from_payload(&reaction.to_payload().unwrap()),
            Ok(reaction)
        );
        let family = Reaction {
            target: MessageRef {
                author: author.clone(),
                id,
            },
            // Joiners and variation selectors are part of emoji.
            reaction: "👨\u{200D}👩\u{200D}👧\u{FE0F}".into(),
        };
        assert!(family.to_payload().is_ok());
        let reply = Reply {
            quote: MessageRef { author, id },
            text: "yes".into(),
        };
        assert_eq!(Reply::from_payload(&reply.to_payload().unwrap()), Ok(reply));
        for typing in [true, false] {
            let value = Typing { typing };
            assert_eq!(
                Typing::from_payload(&value.to_payload().unwrap()),
                Ok(value)
            );
        }
        let timer = Timer { seconds: 3600 };
        assert_eq!(Timer::from_payload(&timer.to_payload().unwrap()), Ok(timer));
        let whole = timer.to_typed_bytes().unwrap();
        let decoded = TypedContent::from_bytes(&whole).unwrap();
        assert_eq!(decoded.type_name.as_str(), TIMER);
        assert_eq!(
            Timer::from_payload(decoded.payload.as_bytes()),
            Ok(Timer { seconds: 3600 })
        );
    }

    #[test]
    fn built_in_payloads_refuse_what_their_rules_refuse() {
        let id = ClientMessageId([5; 16]);
        let author = UserId::new("bob").unwrap();
        assert!(
            Edit {
                target: id,
                text: "".into()
            }
            .to_payload()
            .is_err()
        );
        assert!(
            Reply {
                quote: MessageRef {
                    author: author.clone(),
                    id
                },
                text: "".into()
            }
            .to_payload()
            .is_err()
        );
        let reaction = |text: &str| Reaction {
            target: MessageRef {
                author: author.clone(),
                id,
            },
            reaction: text.to_owned().into(),
        };
        assert!(reaction("").to_payload().is_ok(), "empty takes it back");
        assert!(reaction(&"a".repeat(MAX_REACTION_LEN)).to_payload().is_ok());
        assert!(matches!(
            reaction(&"a".repeat(MAX_REACTION_LEN + 1)).to_payload(),
            Err(WireError::LimitExceeded { .. })
        ));
        for refused in ["a\nb", "\u{202E}x", "x\u{2028}", "\u{0007}", "\u{2066}"] {
            assert!(
                matches!(
                    reaction(refused).to_payload(),
                    Err(WireError::HiddenCharacter { .. })
                ),
                "{refused:?}"
            );
        }
        assert!(
            Timer {
                seconds: MAX_TIMER_SECONDS
            }
            .to_payload()
            .is_ok()
        );
        assert!(matches!(
            Timer {
                seconds: MAX_TIMER_SECONDS + 1
            }
            .to_payload(),
            Err(WireError::LimitExceeded { .. })
        ));
        // A bool other than 0 or 1, and trailing bytes.
        assert!(Typing::from_payload(&[2]).is_err());
        assert_eq!(
            Typing::from_payload(&[1, 0]),
            Err(WireError::TrailingBytes { count: 1 })
        );
        // An over-long varint for the timer.
        assert_eq!(
            Timer::from_payload(&[0x81, 0x00]),
            Err(WireError::NonCanonical)
        );
        // An invalid author in a reference decodes to an error.
        let mut payload = reaction("x").to_payload().unwrap().to_vec();
        payload[1] = 0x07;
        assert!(matches!(
            Reaction::from_payload(&payload),
            Err(WireError::InvalidField {
                field: "user_id",
                ..
            })
        ));
    }
}
