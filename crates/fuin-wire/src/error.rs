//! The one error type of the wire codec.

use std::fmt;

/// Why a frame could not be decoded or encoded.
///
/// Every variant names what was wrong with the bytes in terms a caller can act
/// on; none carries payload bytes, so an error is always safe to log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The input ended in the middle of a frame (or was empty).
    Truncated,
    /// The whole frame is longer than [`MAX_FRAME_LEN`](crate::limits::MAX_FRAME_LEN).
    FrameTooLarge {
        /// Length of the input.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The version byte is not one this codec speaks.
    UnknownVersion {
        /// The version byte found.
        version: u8,
    },
    /// The frame tag names a frame this codec does not know (possibly one
    /// added by a newer version).
    UnknownVariant {
        /// The tag found.
        tag: u32,
    },
    /// The frame tag is retired: it carried messages of an older protocol
    /// version that this codec no longer reads (`spec/wire.md` §4). The
    /// sender must upgrade.
    RetiredFrame {
        /// The tag found.
        tag: u32,
        /// The protocol version whose messages the tag carried.
        protocol_version: u8,
    },
    /// A field is longer than its documented limit.
    LimitExceeded {
        /// The field, as named in `spec/wire.md`.
        field: &'static str,
        /// Its length.
        len: usize,
        /// Its limit.
        max: usize,
    },
    /// A field has a value the format does not allow (for example an empty
    /// user id).
    InvalidField {
        /// The field, as named in `spec/wire.md`.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A name shown to people (a user id, device name or file name) holds a
    /// character that is invisible or changes how the text around it is
    /// shown (`spec/wire.md` §3.1), so it could pass for another name.
    HiddenCharacter {
        /// The field, as named in `spec/wire.md`.
        field: &'static str,
        /// The first such code point (the error shows it as `U+XXXX`,
        /// never as the character).
        code_point: u32,
    },
    /// The bytes do not follow the encoding rules (a bad varint, invalid
    /// UTF-8, an unknown value of an inner enum, an option tag other than 0/1).
    Malformed {
        /// What rule was broken.
        reason: &'static str,
    },
    /// The frame decoded, but it is not in its one canonical encoding (an
    /// integer was written with more bytes than needed).
    NonCanonical,
    /// Bytes remain after a complete frame.
    TrailingBytes {
        /// How many bytes remain.
        count: usize,
    },
    /// The frame is valid but of another kind than the caller asked for.
    UnexpectedFrame {
        /// The kind the caller asked for.
        expected: crate::FrameKind,
        /// The kind found.
        found: crate::FrameKind,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("frame is truncated"),
            Self::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max} bytes")
            }
            Self::UnknownVersion { version } => write!(f, "unknown wire version {version}"),
            Self::UnknownVariant { tag } => write!(f, "unknown frame tag {tag}"),
            Self::RetiredFrame {
                tag,
                protocol_version,
            } => write!(
                f,
                "frame tag {tag} is retired: it carried protocol version {protocol_version}, which is no longer read"
            ),
            Self::LimitExceeded { field, len, max } => {
                write!(
                    f,
                    "field `{field}` has length {len}, above its limit of {max}"
                )
            }
            Self::InvalidField { field, reason } => {
                write!(f, "field `{field}` is invalid: {reason}")
            }
            Self::HiddenCharacter { field, code_point } => write!(
                f,
                "field `{field}` holds U+{code_point:04X}, an invisible or text-direction \
                 character that could make it pass for another"
            ),
            Self::Malformed { reason } => write!(f, "malformed frame: {reason}"),
            Self::NonCanonical => f.write_str("frame is not in canonical encoding"),
            Self::TrailingBytes { count } => write!(f, "{count} bytes trail the frame"),
            Self::UnexpectedFrame { expected, found } => {
                write!(f, "expected a {expected} frame, found a {found} frame")
            }
        }
    }
}

impl std::error::Error for WireError {}

impl WireError {
    /// Maps a postcard decoding error to the reason it stands for.
    pub(crate) fn from_postcard(err: postcard::Error) -> Self {
        use postcard::Error as P;
        match err {
            P::DeserializeUnexpectedEnd => Self::Truncated,
            P::DeserializeBadVarint => Self::Malformed {
                reason: "bad varint",
            },
            P::DeserializeBadBool => Self::Malformed { reason: "bad bool" },
            P::DeserializeBadUtf8 | P::DeserializeBadChar => Self::Malformed {
                reason: "text is not valid UTF-8",
            },
            P::DeserializeBadOption => Self::Malformed {
                reason: "option tag is neither 0 nor 1",
            },
            // serde's derived enums report an unknown variant index as a
            // custom error; postcard's own enum check is the other route.
            P::DeserializeBadEnum | P::SerdeDeCustom => Self::Malformed {
                reason: "value outside the set its field allows",
            },
            _ => Self::Malformed {
                reason: "undecodable value",
            },
        }
    }
}
