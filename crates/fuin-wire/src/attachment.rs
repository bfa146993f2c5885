//! The reference to a sealed attachment: what an end-to-end message carries
//! so that its recipients can fetch, check and open one object.
//!
//! An attachment (an image, a video, a file) is sealed on the device into one
//! blob (`spec/attachments.md`) and uploaded to the relay's blob store, which
//! names it by the SHA-256 of its bytes. The [`AttachmentReference`] says
//! which blob that is, the key that opens it, and the context it is bound to
//! (owner, conversation, object id, content type); a thumbnail is an object
//! of its own with its own key, named by an optional
//! [`ThumbnailReference`]. The reference travels only inside sealed
//! messages, so the relay never sees a key.
//!
//! The body is one version byte (1) followed by the postcard encoding of
//! [`AttachmentReference`] (`spec/wire.md` §8). Decoding refuses another
//! version, anything over [`MAX_REFERENCE_LEN`] bytes, any field outside its
//! rules, trailing bytes and non-canonical encodings. Text is borrowed from
//! the input.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::bytes::fixed_bytes;
use crate::{BlobId, DeviceAddress, WireError};

/// The version byte of an attachment reference body.
pub const REFERENCE_VERSION: u8 = 1;

/// The longest encoded reference body, version byte included. Every valid
/// reference fits (the largest possible is under 800 bytes).
pub const MAX_REFERENCE_LEN: usize = 1024;

/// The longest media type, in bytes.
pub const MAX_MEDIA_TYPE_LEN: usize = 127;

/// The longest file name, in bytes of UTF-8.
pub const MAX_FILE_NAME_LEN: usize = 255;

fixed_bytes!(
    /// The sender-chosen id of one sealed object (random, 16 bytes). It is
    /// part of the object's context, so no two objects share a context.
    ObjectId,
    16
);

fixed_bytes!(
    /// A conversation's 32-byte id (`spec/protocol.md` §9.3): the same on
    /// every device of every member.
    ConversationDigest,
    32
);

/// The random 32-byte key of one sealed object. Secret: `Debug` shows no
/// bytes, the bytes are wiped on drop, and equality is decided without an
/// early exit.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct AttachmentKey(#[serde(with = "attachment_key_bytes")] pub [u8; 32]);

impl PartialEq for AttachmentKey {
    fn eq(&self, other: &Self) -> bool {
        let difference = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(difference) == 0
    }
}

impl Eq for AttachmentKey {}

impl fmt::Debug for AttachmentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AttachmentKey(<redacted>)")
    }
}

mod attachment_key_bytes {
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        crate::bytes::serialize_fixed(bytes, s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        crate::bytes::deserialize_fixed(d)
    }
}

/// What an object is, as `type/subtype` (for example `image/jpeg`): 3 to
/// 127 bytes of lowercase ASCII letters, digits and `!#$&^_.+-`, exactly one
/// `/`, each side starting with a letter or digit. No parameters. Part of the
/// object's context, so one spelling per type keeps contexts unambiguous.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MediaType<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'a> MediaType<'a> {
    /// Checks `text` against the rules above and wraps it.
    pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, WireError> {
        let media_type = Self(text.into());
        media_type.validate()?;
        Ok(media_type)
    }

    /// The media type as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Copies the text if it is borrowed.
    pub fn into_owned(self) -> MediaType<'static> {
        MediaType(Cow::Owned(self.0.into_owned()))
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        const FIELD: &str = "content_type";
        if self.0.len() > MAX_MEDIA_TYPE_LEN {
            return Err(WireError::LimitExceeded {
                field: FIELD,
                len: self.0.len(),
                max: MAX_MEDIA_TYPE_LEN,
            });
        }
        let Some((kind, subtype)) = self.0.split_once('/') else {
            return Err(WireError::InvalidField {
                field: FIELD,
                reason: "has no `/`",
            });
        };
        for part in [kind, subtype] {
            let mut bytes = part.bytes();
            match bytes.next() {
                Some(first) if first.is_ascii_lowercase() || first.is_ascii_digit() => {}
                _ => {
                    return Err(WireError::InvalidField {
                        field: FIELD,
                        reason: "a side of the `/` does not start with a lowercase letter or digit",
                    });
                }
            }
            let allowed =
                |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$&^_.+-".contains(&b);
            if !bytes.all(allowed) {
                return Err(WireError::InvalidField {
                    field: FIELD,
                    reason: "contains a character outside lowercase letters, digits and !#$&^_.+-",
                });
            }
        }
        Ok(())
    }
}

impl fmt::Debug for MediaType<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MediaType({:?})", self.0)
    }
}

/// The name a file had on the sender's device, for display: 1 to 255 bytes
/// of UTF-8 with no control, format or other invisible character
/// ([`crate::text`]), no `/` or `\`, and not `.` or `..`.
/// A client that saves the file must still choose its own path.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FileName<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'a> FileName<'a> {
    /// Checks `name` against the rules above and wraps it.
    pub fn new(name: impl Into<Cow<'a, str>>) -> Result<Self, WireError> {
        let name = Self(name.into());
        name.validate()?;
        Ok(name)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Copies the text if it is borrowed.
    pub fn into_owned(self) -> FileName<'static> {
        FileName(Cow::Owned(self.0.into_owned()))
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        const FIELD: &str = "file_name";
        let invalid = |reason| {
            Err(WireError::InvalidField {
                field: FIELD,
                reason,
            })
        };
        if self.0.is_empty() {
            return invalid("is empty");
        }
        if self.0.len() > MAX_FILE_NAME_LEN {
            return Err(WireError::LimitExceeded {
                field: FIELD,
                len: self.0.len(),
                max: MAX_FILE_NAME_LEN,
            });
        }
        if self.0.chars().any(char::is_control) {
            return invalid("contains a control character");
        }
        crate::text::check_shown_name(FIELD, &self.0)?;
        if self.0.contains(['/', '\\']) {
            return invalid("contains a path separator");
        }
        if self.0 == "." || self.0 == ".." {
            return invalid("names a directory");
        }
        Ok(())
    }
}

impl fmt::Debug for FileName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileName({:?})", self.0)
    }
}

/// One sealed object: which blob it is, how long, and the key that opens it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedObjectRef {
    /// The object's id, part of its context.
    pub object_id: ObjectId,
    /// The object's key.
    pub key: AttachmentKey,
    /// SHA-256 of the sealed object: its id in the relay's blob store.
    pub blob_id: BlobId,
    /// Length of the sealed object in bytes (header, chunks and tags).
    pub sealed_len: u64,
}

/// A thumbnail (or other preview) of an attachment: a sealed object of its
/// own, with its own id, key and media type, and the same owner and
/// conversation as the attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThumbnailReference<'a> {
    /// What the thumbnail is (usually `image/jpeg` or `image/webp`).
    #[serde(borrow)]
    pub content_type: MediaType<'a>,
    /// The thumbnail's sealed object.
    pub object: SealedObjectRef,
}

impl ThumbnailReference<'_> {
    /// Copies borrowed parts.
    pub fn into_owned(self) -> ThumbnailReference<'static> {
        ThumbnailReference {
            content_type: self.content_type.into_owned(),
            object: self.object,
        }
    }
}

/// The body of a message that shares an attachment.
///
/// The object's context is `(owner, conversation, object.object_id,
/// content_type)`: the sealed object opens only under exactly this context
/// (`spec/attachments.md`). A recipient also checks that the context fits
/// the message that carried the reference (the owner is its sender, the
/// conversation its conversation) before showing anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentReference<'a> {
    /// The device that sealed the object.
    #[serde(borrow)]
    pub owner: DeviceAddress<'a>,
    /// The conversation the object was shared in.
    pub conversation: ConversationDigest,
    /// What the object is.
    #[serde(borrow)]
    pub content_type: MediaType<'a>,
    /// The sealed object.
    pub object: SealedObjectRef,
    /// A thumbnail sealed as its own object, if the sender made one.
    #[serde(borrow)]
    pub thumbnail: Option<ThumbnailReference<'a>>,
    /// The file's name, if it has one worth showing.
    #[serde(borrow)]
    pub file_name: Option<FileName<'a>>,
}

impl<'a> AttachmentReference<'a> {
    /// Encodes the body; refuses values that break a field rule. The bytes
    /// hold the keys, so they come back in a wiping buffer.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, WireError> {
        self.validate()?;
        let mut out = Zeroizing::new(Vec::with_capacity(256));
        out.push(REFERENCE_VERSION);
        let encoded =
            Zeroizing::new(postcard::to_stdvec(self).map_err(|_| WireError::Malformed {
                reason: "value cannot be encoded",
            })?);
        out.extend_from_slice(&encoded);
        Ok(out)
    }

    /// Decodes a body, checking in order: the length limit, the version,
    /// the encoding, trailing bytes, every field rule, and that the input is
    /// the canonical encoding.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_REFERENCE_LEN {
            return Err(WireError::LimitExceeded {
                field: "attachment_reference",
                len: bytes.len(),
                max: MAX_REFERENCE_LEN,
            });
        }
        let (&version, body) = bytes.split_first().ok_or(WireError::Truncated)?;
        if version != REFERENCE_VERSION {
            return Err(WireError::UnknownVersion { version });
        }
        let (reference, rest): (Self, _) =
            postcard::take_from_bytes(body).map_err(WireError::from_postcard)?;
        if !rest.is_empty() {
            return Err(WireError::TrailingBytes { count: rest.len() });
        }
        reference.validate()?;
        let canonical =
            Zeroizing::new(
                postcard::to_stdvec(&reference).map_err(|_| WireError::Malformed {
                    reason: "value cannot be encoded",
                })?,
            );
        if canonical.as_slice() != body {
            return Err(WireError::NonCanonical);
        }
        Ok(reference)
    }

    /// Copies borrowed parts, detaching the reference from the input.
    pub fn into_owned(self) -> AttachmentReference<'static> {
        AttachmentReference {
            owner: self.owner.into_owned(),
            conversation: self.conversation,
            content_type: self.content_type.into_owned(),
            object: self.object,
            thumbnail: self.thumbnail.map(ThumbnailReference::into_owned),
            file_name: self.file_name.map(FileName::into_owned),
        }
    }

    fn validate(&self) -> Result<(), WireError> {
        self.owner.validate()?;
        self.content_type.validate()?;
        if let Some(thumbnail) = &self.thumbnail {
            thumbnail.content_type.validate()?;
        }
        if let Some(name) = &self.file_name {
            name.validate()?;
        }
        Ok(())
    }
}

/// The version byte of an attachment share body.
pub const SHARE_VERSION: u8 = 1;

/// The longest encoded share body, version byte included: a reference at
/// its limit and two capabilities.
pub const MAX_SHARE_LEN: usize = MAX_REFERENCE_LEN + 2 + 2 * 32;

/// The body of a message of content type
/// [`Attachment`](crate::ContentType::Attachment): the reference to the
/// sealed object and the relay capabilities (`spec/relay-api.md` §4.13)
/// that let the recipients download its blob and its thumbnail's.
///
/// Encoded as one version byte (1) and the postcard encoding of the fields
/// in order (`spec/wire.md` §8.2). A share has a thumbnail capability if and
/// only if its reference has a thumbnail. The bytes hold keys and
/// capabilities: they travel only inside sealed messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentShare<'a> {
    /// The reference, as [`AttachmentReference`] (without its own version
    /// byte).
    #[serde(borrow)]
    pub reference: AttachmentReference<'a>,
    /// The capability to download the object's blob.
    pub capability: crate::relay::BlobCapability,
    /// The capability to download the thumbnail's blob.
    pub thumbnail_capability: Option<crate::relay::BlobCapability>,
}

impl<'a> AttachmentShare<'a> {
    /// Encodes the body; refuses values that break a field rule.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, WireError> {
        self.validate()?;
        let mut out = Zeroizing::new(Vec::with_capacity(320));
        out.push(SHARE_VERSION);
        let encoded =
            Zeroizing::new(postcard::to_stdvec(self).map_err(|_| WireError::Malformed {
                reason: "value cannot be encoded",
            })?);
        out.extend_from_slice(&encoded);
        Ok(out)
    }

    /// Decodes a body, checking in order: the length limit, the version,
    /// the encoding, trailing bytes, every field rule (those of the
    /// reference, and a thumbnail capability exactly when there is a
    /// thumbnail), and that the input is the canonical encoding.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_SHARE_LEN {
            return Err(WireError::LimitExceeded {
                field: "attachment_share",
                len: bytes.len(),
                max: MAX_SHARE_LEN,
            });
        }
        let (&version, body) = bytes.split_first().ok_or(WireError::Truncated)?;
        if version != SHARE_VERSION {
            return Err(WireError::UnknownVersion { version });
        }
        let (share, rest): (Self, _) =
            postcard::take_from_bytes(body).map_err(WireError::from_postcard)?;
        if !rest.is_empty() {
            return Err(WireError::TrailingBytes { count: rest.len() });
        }
        share.validate()?;
        let canonical =
            Zeroizing::new(
                postcard::to_stdvec(&share).map_err(|_| WireError::Malformed {
                    reason: "value cannot be encoded",
                })?,
            );
        if canonical.as_slice() != body {
            return Err(WireError::NonCanonical);
        }
        Ok(share)
    }

    /// Copies borrowed parts, detaching the share from the input.
    pub fn into_owned(self) -> AttachmentShare<'static> {
        AttachmentShare {
            reference: self.reference.into_owned(),
            capability: self.capability,
            thumbnail_capability: self.thumbnail_capability,
        }
    }

    fn validate(&self) -> Result<(), WireError> {
        self.reference.validate()?;
        if self.reference.thumbnail.is_some() != self.thumbnail_capability.is_some() {
            return Err(WireError::InvalidField {
                field: "thumbnail_capability",
                reason: "present without a thumbnail, or missing for one",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{DeviceId, UserId};

    fn object(start: u8, sealed_len: u64) -> SealedObjectRef {
        SealedObjectRef {
            object_id: ObjectId([start; 16]),
            key: AttachmentKey([start.wrapping_add(1); 32]),
            blob_id: BlobId([start.wrapping_add(2); 32]),
            sealed_len,
        }
    }

    fn reference() -> AttachmentReference<'static> {
        AttachmentReference {
            owner: DeviceAddress::new(UserId::new("alice").unwrap(), DeviceId(1)),
            conversation: ConversationDigest([9; 32]),
            content_type: MediaType::new("image/jpeg").unwrap(),
            object: object(0x10, 1_000_000),
            thumbnail: Some(ThumbnailReference {
                content_type: MediaType::new("image/webp").unwrap(),
                object: object(0x20, 4_000),
            }),
            file_name: Some(FileName::new("beach.jpg").unwrap()),
        }
    }

    #[test]
    fn a_reference_round_trips_and_borrows_its_text() {
        let bytes = reference().to_bytes().unwrap();
        assert_eq!(bytes[0], REFERENCE_VERSION);
        let decoded = AttachmentReference::from_bytes(&bytes).unwrap();
        assert_eq!(decoded, reference());
        assert!(matches!(decoded.content_type.0, Cow::Borrowed(_)));
    }

    #[test]
    fn debug_output_hides_the_keys() {
        let shown = format!("{:?}", reference());
        assert!(shown.contains("AttachmentKey(<redacted>)"));
        assert!(!shown.contains(&hex::encode([0x11u8; 32])));
        assert!(!shown.contains("17, 17, 17"));
    }

    #[test]
    fn media_types_follow_their_rules() {
        for good in [
            "image/jpeg",
            "video/mp4",
            "application/vnd.fuin+json",
            "a/b",
        ] {
            assert!(MediaType::new(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "image",
            "image/",
            "/jpeg",
            "Image/jpeg",
            "image/jpeg; q=1",
            "image/jp/eg",
            "image/-jpeg",
            "imäge/jpeg",
        ] {
            assert!(MediaType::new(bad).is_err(), "{bad:?}");
        }
        let long = format!("a/{}", "b".repeat(MAX_MEDIA_TYPE_LEN - 2));
        assert!(MediaType::new(long.clone()).is_ok());
        assert!(matches!(
            MediaType::new(long + "b"),
            Err(WireError::LimitExceeded { .. })
        ));
    }

    #[test]
    fn file_names_follow_their_rules() {
        for good in ["a", "beach.jpg", "写真 1.png", "..a"] {
            assert!(FileName::new(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a\\b", "a\nb"] {
            assert!(FileName::new(bad).is_err(), "{bad:?}");
        }
        assert!(FileName::new("x".repeat(MAX_FILE_NAME_LEN)).is_ok());
        assert!(FileName::new("x".repeat(MAX_FILE_NAME_LEN + 1)).is_err());
    }
}
