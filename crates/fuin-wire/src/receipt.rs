//! Delivery and read receipts: ordinary end-to-end messages whose body says
//! which messages arrived or were read.
//!
//! A receipt travels sealed like any message (content type
//! [`ContentType::Receipt`](crate::ContentType::Receipt)), so the relay can
//! neither read nor forge one. Its body is one version byte (1) followed by
//! the postcard encoding of [`ReceiptBody`] (`spec/wire.md` §8). What a
//! receipt may change is the receiver's decision (`spec/client.md`).

use serde::{Deserialize, Serialize};

use crate::{ClientMessageId, DeviceId};

/// The version byte of a receipt body.
const RECEIPT_VERSION: u8 = 1;

/// The most messages one receipt names.
pub const MAX_RECEIPT_MESSAGES: usize = 256;

/// What a receipt says about its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReceiptKind {
    /// The messages reached one of the receipt sender's devices.
    Delivered,
    /// The receipt sender's user read the messages.
    Read,
}

/// One message a receipt names: the device that sent it and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptRef {
    /// The sending device (of the user the receipt is about).
    pub sender_device: DeviceId,
    /// The message's id.
    pub message_id: ClientMessageId,
}

/// The body of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptBody {
    /// Delivered or read.
    pub kind: ReceiptKind,
    /// The messages, at most [`MAX_RECEIPT_MESSAGES`].
    pub messages: Vec<ReceiptRef>,
}

impl ReceiptBody {
    /// Encodes the body; refuses an empty or over-long list.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ReceiptError> {
        if self.messages.is_empty() || self.messages.len() > MAX_RECEIPT_MESSAGES {
            return Err(ReceiptError::BadCount(self.messages.len()));
        }
        let mut out = vec![RECEIPT_VERSION];
        let encoded = postcard::to_stdvec(self).map_err(|_| ReceiptError::Malformed)?;
        out.extend_from_slice(&encoded);
        Ok(out)
    }

    /// Decodes a body, refusing another version, trailing bytes, and an
    /// empty or over-long list.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ReceiptError> {
        let (&version, rest) = bytes.split_first().ok_or(ReceiptError::Empty)?;
        if version != RECEIPT_VERSION {
            return Err(ReceiptError::UnknownVersion(version));
        }
        let (body, trailing): (Self, _) =
            postcard::take_from_bytes(rest).map_err(|_| ReceiptError::Malformed)?;
        if !trailing.is_empty() {
            return Err(ReceiptError::TrailingBytes);
        }
        if body.messages.is_empty() || body.messages.len() > MAX_RECEIPT_MESSAGES {
            return Err(ReceiptError::BadCount(body.messages.len()));
        }
        // postcard accepts over-long varints; one receipt has one encoding.
        if body.to_bytes()? != bytes {
            return Err(ReceiptError::NonCanonical);
        }
        Ok(body)
    }
}

/// Why a receipt body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptError {
    /// No bytes at all.
    Empty,
    /// A version this client does not know.
    UnknownVersion(u8),
    /// Not a valid encoding.
    Malformed,
    /// Bytes after the body.
    TrailingBytes,
    /// No messages, or more than [`MAX_RECEIPT_MESSAGES`].
    BadCount(usize),
    /// Not the one canonical encoding of what it decodes to (an over-long
    /// varint).
    NonCanonical,
}

impl std::fmt::Display for ReceiptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => f.write_str("empty receipt"),
            Self::UnknownVersion(v) => write!(f, "receipt version {v} is unknown"),
            Self::Malformed => f.write_str("malformed receipt"),
            Self::TrailingBytes => f.write_str("bytes after the receipt"),
            Self::BadCount(n) => write!(f, "a receipt naming {n} messages"),
            Self::NonCanonical => f.write_str("a receipt not in its canonical encoding"),
        }
    }
}

impl std::error::Error for ReceiptError {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn body(count: usize) -> ReceiptBody {
        ReceiptBody {
            kind: ReceiptKind::Read,
            messages: (0..count)
                .map(|i| ReceiptRef {
                    sender_device: DeviceId(i as u32),
                    message_id: ClientMessageId([i as u8; 16]),
                })
                .collect(),
        }
    }

    #[test]
    fn a_receipt_round_trips() {
        let receipt = body(3);
        let bytes = receipt.to_bytes().unwrap();
        assert_eq!(bytes[0], 1);
        assert_eq!(ReceiptBody::from_bytes(&bytes).unwrap(), receipt);
    }

    #[test]
    fn malformed_receipts_are_refused() {
        let bytes = body(2).to_bytes().unwrap();
        assert_eq!(ReceiptBody::from_bytes(&[]), Err(ReceiptError::Empty));
        let mut other_version = bytes.clone();
        other_version[0] = 2;
        assert_eq!(
            ReceiptBody::from_bytes(&other_version),
            Err(ReceiptError::UnknownVersion(2))
        );
        for cut in 1..bytes.len() {
            assert!(ReceiptBody::from_bytes(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            ReceiptBody::from_bytes(&trailing),
            Err(ReceiptError::TrailingBytes)
        );
        // Encoded by hand, since the encoder refuses both.
        let empty = [1u8, 1, 0];
        assert_eq!(
            ReceiptBody::from_bytes(&empty),
            Err(ReceiptError::BadCount(0))
        );
        let mut too_many = vec![1u8];
        too_many.extend(postcard::to_stdvec(&body(MAX_RECEIPT_MESSAGES + 1)).unwrap());
        assert_eq!(
            ReceiptBody::from_bytes(&too_many),
            Err(ReceiptError::BadCount(MAX_RECEIPT_MESSAGES + 1))
        );
        // An over-long varint (device 1 as 0x81 0x00) decodes in postcard
        // but is refused: one receipt has one encoding.
        let mut overlong = vec![1u8, 1, 1, 0x81, 0x00];
        overlong.extend([7u8; 16]);
        assert_eq!(
            ReceiptBody::from_bytes(&overlong),
            Err(ReceiptError::NonCanonical)
        );
        assert!(body(0).to_bytes().is_err());
        assert!(body(MAX_RECEIPT_MESSAGES + 1).to_bytes().is_err());
    }
}
