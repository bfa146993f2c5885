//! A group member asking another member to send its sender chain again.
//!
//! When a group message waits because the chain of its sending device never
//! arrived (the relay dropped the distribution, say), the waiting device asks
//! that device for it in a message of content type
//! [`ContentType::SenderKeyRequest`](crate::ContentType::SenderKeyRequest)
//! over their 1:1 session (`spec/groups.md` §9.5). Its body is one version
//! byte (1) followed by the postcard encoding of [`SenderKeyRequest`]
//! (`spec/wire.md` §8.4). The body holds nothing secret.

use serde::{Deserialize, Serialize};

use crate::{GroupId, WireError};

/// The version byte of a sender key request.
const REQUEST_VERSION: u8 = 1;

/// The longest valid request: the version byte, the 32-byte group id and a
/// `u64` varint (at most 10 bytes).
pub const MAX_SENDER_KEY_REQUEST_LEN: usize = 1 + 32 + 10;

/// "Send me your sender chain of this group's epoch again." The device
/// asked is the 1:1 session's peer; the asking device is the session's
/// authenticated sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderKeyRequest {
    /// The group.
    pub group_id: GroupId,
    /// The epoch whose chain is missing.
    pub epoch: u64,
}

impl SenderKeyRequest {
    /// Encodes the body.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::with_capacity(MAX_SENDER_KEY_REQUEST_LEN);
        out.push(REQUEST_VERSION);
        let encoded = postcard::to_stdvec(self).map_err(|_| WireError::Malformed {
            reason: "value cannot be encoded",
        })?;
        out.extend_from_slice(&encoded);
        Ok(out)
    }

    /// Decodes a body, checking in order: the length limit, the version,
    /// the encoding, trailing bytes, and that the input is the canonical
    /// encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_SENDER_KEY_REQUEST_LEN {
            return Err(WireError::LimitExceeded {
                field: "sender_key_request",
                len: bytes.len(),
                max: MAX_SENDER_KEY_REQUEST_LEN,
            });
        }
        let (&version, body) = bytes.split_first().ok_or(WireError::Truncated)?;
        if version != REQUEST_VERSION {
            return Err(WireError::UnknownVersion { version });
        }
        let (request, rest): (Self, _) =
            postcard::take_from_bytes(body).map_err(WireError::from_postcard)?;
        if !rest.is_empty() {
            return Err(WireError::TrailingBytes { count: rest.len() });
        }
        // postcard accepts over-long varints; one request has one encoding.
        let canonical = postcard::to_stdvec(&request).map_err(|_| WireError::Malformed {
            reason: "value cannot be encoded",
        })?;
        if canonical.as_slice() != body {
            return Err(WireError::NonCanonical);
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn request(epoch: u64) -> SenderKeyRequest {
        SenderKeyRequest {
            group_id: GroupId([0x5a; 32]),
            epoch,
        }
    }

    #[test]
    fn a_request_round_trips() {
        let bytes = request(3).to_bytes().unwrap();
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[1..33], &[0x5a; 32]);
        assert_eq!(bytes[33], 3);
        assert_eq!(bytes.len(), 34);
        assert_eq!(SenderKeyRequest::from_bytes(&bytes).unwrap(), request(3));
        let largest = request(u64::MAX).to_bytes().unwrap();
        assert_eq!(largest.len(), MAX_SENDER_KEY_REQUEST_LEN);
        assert_eq!(
            SenderKeyRequest::from_bytes(&largest).unwrap(),
            request(u64::MAX)
        );
    }

    #[test]
    fn a_truncated_request_is_refused() {
        let bytes = request(300).to_bytes().unwrap();
        assert_eq!(SenderKeyRequest::from_bytes(&[]), Err(WireError::Truncated));
        for cut in 1..bytes.len() {
            assert!(
                matches!(
                    SenderKeyRequest::from_bytes(&bytes[..cut]),
                    Err(WireError::Truncated | WireError::Malformed { .. })
                ),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn trailing_bytes_after_a_request_are_refused() {
        let mut bytes = request(1).to_bytes().unwrap();
        bytes.push(0);
        assert_eq!(
            SenderKeyRequest::from_bytes(&bytes),
            Err(WireError::TrailingBytes { count: 1 })
        );
    }

    #[test]
    fn an_unknown_version_an_overlong_varint_and_an_oversized_body_are_refused() {
        let mut bytes = request(1).to_bytes().unwrap();
        bytes[0] = 2;
        assert_eq!(
            SenderKeyRequest::from_bytes(&bytes),
            Err(WireError::UnknownVersion { version: 2 })
        );
        // Epoch 1 written in two bytes instead of one.
        let mut overlong = request(1).to_bytes().unwrap();
        overlong.pop();
        overlong.extend_from_slice(&[0x81, 0x00]);
        assert_eq!(
            SenderKeyRequest::from_bytes(&overlong),
            Err(WireError::NonCanonical)
        );
        let oversized = vec![1u8; MAX_SENDER_KEY_REQUEST_LEN + 1];
        assert_eq!(
            SenderKeyRequest::from_bytes(&oversized),
            Err(WireError::LimitExceeded {
                field: "sender_key_request",
                len: MAX_SENDER_KEY_REQUEST_LEN + 1,
                max: MAX_SENDER_KEY_REQUEST_LEN,
            })
        );
    }
}
