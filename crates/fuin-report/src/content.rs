//! The plaintext of a report: what the reporter's device discloses, and
//! nothing else.
//!
//! One version byte (1) followed by the postcard encoding of
//! [`ReportContent`] (`spec/report.md` §3). The decoder is strict: another
//! version, trailing bytes, a field over its limit or a non-canonical
//! encoding are all refused, so decode-then-encode gives back the input.
//! Byte strings are borrowed from the (wiped-on-drop) decrypted buffer.
//!
//! The franking key of each message is kept as the raw bytes the reporter
//! sent, of any length up to [`MAX_FRANKING_KEY_FIELD_LEN`]: a key of the
//! wrong length is a verdict on that message ([`Rejection::FrankingKeyLength`](crate::Rejection::FrankingKeyLength)),
//! not a malformed report.

use std::borrow::Cow;
use std::fmt;

use fuin_seal::FrankingOpening;
use fuin_wire::limits::MAX_CONTENT_BODY_LEN;
use fuin_wire::{
    ClientMessageId, ContentType, DeviceAddress, FrankingCommitment, FrankingStamp, MessageId,
    Opaque, PublicIdentity, StampKeyId, UserId,
};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use zeroize::{Zeroize, Zeroizing};

use crate::ReportError;

/// The version byte of a report plaintext.
pub const REPORT_VERSION: u8 = 1;

/// The most messages one report may hold. Fifty messages with bodies at
/// their limit ([`MAX_CONTENT_BODY_LEN`]) and every other field at its widest
/// still seal within the relay's 4 MiB limit on a sealed report.
pub const MAX_REPORTED_MESSAGES: usize = 50;

/// The longest reason, in bytes of UTF-8.
pub const MAX_REASON_LEN: usize = 1024;

/// The longest franking key field a report may carry. Only 32-byte keys
/// verify; longer (or shorter) ones decode so that the verifier can say why
/// the message is refused.
pub const MAX_FRANKING_KEY_FIELD_LEN: usize = 255;

/// A franking key exactly as the reporter's device holds it: raw bytes of
/// any length up to [`MAX_FRANKING_KEY_FIELD_LEN`]. Secret until reported:
/// wiped on drop when owned, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct FrankingKeyBytes<'a>(Cow<'a, [u8]>);

impl<'a> FrankingKeyBytes<'a> {
    /// Wraps key bytes (copied, so that the copy is wiped on drop).
    pub fn new(bytes: &[u8]) -> FrankingKeyBytes<'static> {
        FrankingKeyBytes(Cow::Owned(bytes.to_vec()))
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Copies the bytes if they are borrowed.
    pub fn into_owned(self) -> FrankingKeyBytes<'static> {
        FrankingKeyBytes::new(&self.0)
    }
}

impl Drop for FrankingKeyBytes<'_> {
    fn drop(&mut self) {
        if let Cow::Owned(bytes) = &mut self.0 {
            bytes.zeroize();
        }
    }
}

impl fmt::Debug for FrankingKeyBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FrankingKeyBytes(<{} bytes, redacted>)", self.0.len())
    }
}

impl Serialize for FrankingKeyBytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for FrankingKeyBytes<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = FrankingKeyBytes<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }

            fn visit_borrowed_bytes<E: de::Error>(
                self,
                bytes: &'de [u8],
            ) -> Result<Self::Value, E> {
                Ok(FrankingKeyBytes(Cow::Borrowed(bytes)))
            }

            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
                Ok(FrankingKeyBytes::new(bytes))
            }
        }

        deserializer.deserialize_bytes(KeyVisitor)
    }
}

/// One reported message: its content, its franking opening and the relay's
/// stamp with everything the stamp covers, as the reporter's device
/// received them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedMessage<'a> {
    /// The sending device, as the relay delivered it.
    #[serde(borrow)]
    pub sender: DeviceAddress<'a>,
    /// The receiving device, as the relay delivered it (the reporter's).
    #[serde(borrow)]
    pub recipient: DeviceAddress<'a>,
    /// The sender's id for the message.
    pub message_id: ClientMessageId,
    /// What the body is.
    pub content_type: ContentType,
    /// The body, exactly as it was opened.
    #[serde(borrow)]
    pub body: Opaque<'a>,
    /// The franking key `nf` found inside the message.
    #[serde(borrow)]
    pub franking_key: FrankingKeyBytes<'a>,
    /// The commitment the relay saw and stamped.
    pub commitment: FrankingCommitment,
    /// The relay's stamp.
    pub stamp: FrankingStamp,
    /// Which relay key made the stamp.
    pub stamp_key_id: StampKeyId,
    /// When the relay accepted the message (its clock).
    pub server_time_ms: u64,
    /// The relay's id for the delivery.
    pub server_message_id: MessageId,
}

impl ReportedMessage<'static> {
    /// A reported message from what `fuin-seal` returned on opening it
    /// ([`Opened::franking`](fuin_seal::Opened)) and its content.
    pub fn from_opening(
        opening: &FrankingOpening,
        message_id: ClientMessageId,
        content_type: ContentType,
        body: &[u8],
    ) -> Self {
        Self {
            sender: opening.sender.clone(),
            recipient: opening.recipient.clone(),
            message_id,
            content_type,
            body: Opaque::from(body.to_vec()),
            franking_key: FrankingKeyBytes::new(&opening.franking_key.0),
            commitment: opening.commitment,
            stamp: opening.stamp,
            stamp_key_id: opening.stamp_key_id,
            server_time_ms: opening.server_time_ms,
            server_message_id: opening.server_message_id,
        }
    }
}

impl ReportedMessage<'_> {
    /// Copies borrowed parts.
    pub fn into_owned(self) -> ReportedMessage<'static> {
        ReportedMessage {
            sender: self.sender.into_owned(),
            recipient: self.recipient.into_owned(),
            message_id: self.message_id,
            content_type: self.content_type,
            body: self.body.into_owned(),
            franking_key: self.franking_key.into_owned(),
            commitment: self.commitment,
            stamp: self.stamp,
            stamp_key_id: self.stamp_key_id,
            server_time_ms: self.server_time_ms,
            server_message_id: self.server_message_id,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ReportError> {
        check_address(&self.sender)?;
        check_address(&self.recipient)?;
        check_len("body", self.body.len(), MAX_CONTENT_BODY_LEN)?;
        check_len(
            "franking_key",
            self.franking_key.as_bytes().len(),
            MAX_FRANKING_KEY_FIELD_LEN,
        )
    }
}

/// The plaintext of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportContent<'a> {
    /// The reporting device, by its own account (moderation checks it
    /// against the device the relay authenticated).
    #[serde(borrow)]
    pub reporter: DeviceAddress<'a>,
    /// The reporting device's public identity.
    pub reporter_identity: PublicIdentity,
    /// The reported conversation: the one-to-one conversation between the
    /// reporter's user and this user.
    #[serde(borrow)]
    pub peer: UserId<'a>,
    /// Why the user reports, in their words: 1 to [`MAX_REASON_LEN`] bytes
    /// of UTF-8, without control characters other than line breaks and tabs.
    #[serde(borrow)]
    pub reason: Cow<'a, str>,
    /// When the device built the report (its clock, ms since the Unix epoch).
    pub created_at_ms: u64,
    /// The selected messages: 1 to [`MAX_REPORTED_MESSAGES`].
    #[serde(borrow)]
    pub messages: Vec<ReportedMessage<'a>>,
}

impl<'a> ReportContent<'a> {
    /// Encodes the report: the version byte, then its postcard encoding.
    /// Refuses a report outside the limits, as the decoder would. The
    /// result holds franking keys and is wiped on drop.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, ReportError> {
        self.validate()?;
        let failed = |_| ReportError::Malformed {
            reason: "the report does not encode",
        };
        // Sized first, so that the buffer never reallocates (a reallocation
        // would leave an unwiped copy of the keys behind).
        let len = postcard::to_io(self, ByteCounter(0)).map_err(failed)?.0;
        let mut out = Zeroizing::new(Vec::with_capacity(1 + len));
        out.push(REPORT_VERSION);
        postcard::to_io(self, &mut *out).map_err(failed)?;
        Ok(out)
    }

    /// Whether encoding `self` gives exactly `bytes` (version byte
    /// included), compared as the encoding is produced, without a copy.
    fn encodes_to(&self, bytes: &[u8]) -> bool {
        let Some((&REPORT_VERSION, body)) = bytes.split_first() else {
            return false;
        };
        postcard::to_io(
            self,
            Comparer {
                expected: body,
                equal: true,
            },
        )
        .is_ok_and(|comparer| comparer.equal && comparer.expected.is_empty())
    }

    /// Decodes a report plaintext, borrowing its strings from `bytes`.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, ReportError> {
        let (&version, rest) = bytes.split_first().ok_or(ReportError::Malformed {
            reason: "the report is empty",
        })?;
        if version != REPORT_VERSION {
            return Err(ReportError::UnknownVersion { version });
        }
        let (content, trailing): (Self, _) =
            postcard::take_from_bytes(rest).map_err(|_| ReportError::Malformed {
                reason: "the report does not decode",
            })?;
        if !trailing.is_empty() {
            return Err(ReportError::Malformed {
                reason: "bytes follow the report",
            });
        }
        content.validate()?;
        // One encoding per report: what decodes must encode to the input.
        if !content.encodes_to(bytes) {
            return Err(ReportError::Malformed {
                reason: "the report is not canonically encoded",
            });
        }
        Ok(content)
    }

    /// Copies borrowed parts.
    pub fn into_owned(self) -> ReportContent<'static> {
        ReportContent {
            reporter: self.reporter.into_owned(),
            reporter_identity: self.reporter_identity,
            peer: self.peer.into_owned(),
            reason: Cow::Owned(self.reason.into_owned()),
            created_at_ms: self.created_at_ms,
            messages: self
                .messages
                .into_iter()
                .map(ReportedMessage::into_owned)
                .collect(),
        }
    }

    fn validate(&self) -> Result<(), ReportError> {
        check_address(&self.reporter)?;
        check_user(&self.peer)?;
        check_reason(&self.reason)?;
        if self.messages.is_empty() {
            return Err(ReportError::NoMessages);
        }
        check_len("messages", self.messages.len(), MAX_REPORTED_MESSAGES)?;
        self.messages.iter().try_for_each(ReportedMessage::validate)
    }
}

/// A writer that only counts bytes.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A writer that compares what is written with the bytes expected next.
struct Comparer<'e> {
    /// What is still expected.
    expected: &'e [u8],
    /// Whether everything written so far matched.
    equal: bool,
}

impl std::io::Write for Comparer<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.expected.split_at_checked(buf.len()) {
            // postcard writes fixed-size arrays a byte at a time: compare
            // those without a call.
            Some((next, rest)) if self.equal && next.iter().eq(buf.iter()) => {
                self.expected = rest;
            }
            _ => self.equal = false,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Checks a reason against the rules of [`ReportContent::reason`].
pub(crate) fn check_reason(reason: &str) -> Result<(), ReportError> {
    if reason.trim().is_empty() {
        return Err(ReportError::InvalidReason {
            reason: "it is empty",
        });
    }
    check_len("reason", reason.len(), MAX_REASON_LEN)?;
    if reason
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ReportError::InvalidReason {
            reason: "it holds a control character",
        });
    }
    Ok(())
}

pub(crate) fn check_len(field: &'static str, len: usize, max: usize) -> Result<(), ReportError> {
    if len > max {
        return Err(ReportError::LimitExceeded { field, len, max });
    }
    Ok(())
}

fn check_user(user: &UserId<'_>) -> Result<(), ReportError> {
    UserId::new(user.as_str())
        .map(|_| ())
        .map_err(ReportError::Wire)
}

pub(crate) fn check_address(address: &DeviceAddress<'_>) -> Result<(), ReportError> {
    check_user(&address.user)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use fuin_wire::{DeviceId, Ed25519PublicKey, X25519PublicKey};

    fn address(user: &'static str, device: u32) -> DeviceAddress<'static> {
        DeviceAddress::new(UserId::new(user).unwrap(), DeviceId(device))
    }

    fn message(body: &[u8], key_len: usize) -> ReportedMessage<'static> {
        ReportedMessage {
            sender: address("carol", 1),
            recipient: address("bob", 1),
            message_id: ClientMessageId([1; 16]),
            content_type: ContentType::Text,
            body: Opaque::from(body.to_vec()),
            franking_key: FrankingKeyBytes::new(&vec![7; key_len]),
            commitment: FrankingCommitment([2; 32]),
            stamp: FrankingStamp([3; 32]),
            stamp_key_id: StampKeyId(4),
            server_time_ms: 1_795_000_000_000,
            server_message_id: MessageId([5; 16]),
        }
    }

    fn content(messages: Vec<ReportedMessage<'static>>) -> ReportContent<'static> {
        ReportContent {
            reporter: address("bob", 1),
            reporter_identity: PublicIdentity {
                signing_key: Ed25519PublicKey([8; 32]),
                agreement_key: X25519PublicKey([9; 32]),
                signature: fuin_wire::Ed25519Signature([10; 64]),
            },
            peer: UserId::new("carol").unwrap(),
            reason: Cow::Borrowed("spam"),
            created_at_ms: 1_795_000_000_500,
            messages,
        }
    }

    #[test]
    fn a_report_round_trips_and_keeps_odd_key_lengths() {
        let report = content(vec![message(b"buy now", 32), message(b"", 33)]);
        let bytes = report.to_bytes().unwrap();
        assert_eq!(bytes[0], REPORT_VERSION);
        let decoded = ReportContent::from_bytes(&bytes).unwrap();
        assert_eq!(decoded, report);
        assert_eq!(decoded.messages[1].franking_key.as_bytes().len(), 33);
    }

    #[test]
    fn malformed_reports_are_refused() {
        let bytes = content(vec![message(b"hi", 32)]).to_bytes().unwrap();
        assert!(matches!(
            ReportContent::from_bytes(&[]),
            Err(ReportError::Malformed { .. })
        ));
        let mut other = bytes.to_vec();
        other[0] = 2;
        assert_eq!(
            ReportContent::from_bytes(&other),
            Err(ReportError::UnknownVersion { version: 2 })
        );
        for cut in 1..bytes.len() {
            assert!(ReportContent::from_bytes(&bytes[..cut]).is_err(), "{cut}");
        }
        let mut trailing = bytes.to_vec();
        trailing.push(0);
        assert!(matches!(
            ReportContent::from_bytes(&trailing),
            Err(ReportError::Malformed { .. })
        ));
    }

    #[test]
    fn a_non_canonical_encoding_is_refused() {
        let bytes = content(vec![message(b"hi", 32)]).to_bytes().unwrap();
        // The reporter's device id (1, after version, length and "bob"),
        // written in two bytes instead of one.
        assert_eq!(&bytes[..6], &[1, 3, b'b', b'o', b'b', 1]);
        let mut long = bytes[..5].to_vec();
        long.extend_from_slice(&[0x81, 0x00]);
        long.extend_from_slice(&bytes[6..]);
        assert!(matches!(
            ReportContent::from_bytes(&long),
            Err(ReportError::Malformed { .. })
        ));
    }

    #[test]
    fn limits_hold_on_both_sides() {
        assert_eq!(content(vec![]).to_bytes(), Err(ReportError::NoMessages));
        let many = vec![message(b"x", 32); MAX_REPORTED_MESSAGES + 1];
        assert_eq!(
            content(many).to_bytes(),
            Err(ReportError::LimitExceeded {
                field: "messages",
                len: MAX_REPORTED_MESSAGES + 1,
                max: MAX_REPORTED_MESSAGES
            })
        );
        assert!(content(vec![message(b"x", 256)]).to_bytes().is_err());
        let long_body = vec![b'a'; MAX_CONTENT_BODY_LEN + 1];
        assert!(content(vec![message(&long_body, 32)]).to_bytes().is_err());
        // The same limits on decoding: a report encoded without the checks.
        let mut raw = vec![REPORT_VERSION];
        raw.extend(postcard::to_stdvec(&content(vec![message(b"x", 256)])).unwrap());
        assert!(matches!(
            ReportContent::from_bytes(&raw),
            Err(ReportError::LimitExceeded {
                field: "franking_key",
                ..
            })
        ));
        for reason in ["", "  ", "a\u{7}b"] {
            let mut report = content(vec![message(b"x", 32)]);
            report.reason = Cow::Borrowed(reason);
            assert!(
                matches!(report.to_bytes(), Err(ReportError::InvalidReason { .. })),
                "{reason:?}"
            );
        }
    }

    #[test]
    fn the_largest_report_fits_a_sealed_report() {
        let body = vec![b'a'; MAX_CONTENT_BODY_LEN];
        let mut widest = message(&body, MAX_FRANKING_KEY_FIELD_LEN);
        let long_user = "u".repeat(64);
        widest.sender =
            DeviceAddress::new(UserId::new(long_user.clone()).unwrap(), DeviceId(u32::MAX));
        widest.recipient = widest.sender.clone();
        widest.stamp_key_id = StampKeyId(u32::MAX);
        widest.server_time_ms = u64::MAX;
        let mut report = content(vec![widest; MAX_REPORTED_MESSAGES]);
        report.reason = Cow::Owned("r".repeat(MAX_REASON_LEN));
        report.reporter =
            DeviceAddress::new(UserId::new(long_user.clone()).unwrap(), DeviceId(u32::MAX));
        report.peer = UserId::new(long_user).unwrap();
        report.created_at_ms = u64::MAX;
        let len = report.to_bytes().unwrap().len();
        // 48 bytes of key commitment and GCM tag are added on sealing.
        assert!(
            len + 48 <= fuin_wire::limits::MAX_HYBRID_SEALED_REPORT_LEN,
            "{len} bytes"
        );
    }

    #[test]
    fn debug_hides_franking_keys() {
        let shown = format!("{:?}", message(b"hi", 32));
        assert!(shown.contains("FrankingKeyBytes(<32 bytes, redacted>)"));
        assert!(!shown.contains("7, 7"));
    }
}
