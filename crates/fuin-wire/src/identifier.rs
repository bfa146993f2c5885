//! The identifier secret shared among one user's own devices.
//!
//! A user has one identifier secret (`spec/identifiers.md` §2), from which
//! every per-audience identifier is derived. The device that draws it hands
//! it to the user's other devices in a message of content type
//! [`ContentType::IdentifierSecret`](crate::ContentType::IdentifierSecret)
//! over their 1:1 sessions; its body is one version byte (1) followed by the
//! postcard encoding of [`IdentifierSecretShare`] (`spec/wire.md` §8.3).
//!
//! The body holds the secret: the secret's bytes are wiped on drop, never
//! shown by `Debug`, and the encoding comes back in a wiping buffer.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{DeviceId, WireError};

/// The version byte of an identifier secret share.
const SHARE_VERSION: u8 = 1;

/// The longest valid share: the version byte, the 32 secret bytes, a `u64`
/// varint (at most 10 bytes) and a `u32` varint (at most 5 bytes).
pub const MAX_IDENTIFIER_SHARE_LEN: usize = 1 + 32 + 10 + 5;

/// A user's identifier secret (32 bytes) as it travels between the user's
/// devices. `Debug` shows no bytes and the bytes are wiped on drop.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct IdentifierSecretBytes(#[serde(with = "secret_bytes")] pub [u8; 32]);

impl IdentifierSecretBytes {
    /// The bytes, for the caller that derives identifiers from them.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for IdentifierSecretBytes {
    fn eq(&self, other: &Self) -> bool {
        let difference = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(difference) == 0
    }
}

impl Eq for IdentifierSecretBytes {}

impl fmt::Debug for IdentifierSecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentifierSecretBytes(<redacted>)")
    }
}

mod secret_bytes {
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        crate::bytes::serialize_fixed(bytes, s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        crate::bytes::deserialize_fixed(d)
    }
}

/// The body of an identifier secret message: the secret, when it was drawn
/// and by which of the user's devices. Every device keeps the smallest
/// `(drawn_at_ms, origin_device, secret)` it has seen ([`Self::wins_over`]),
/// so all of a user's devices end with the same secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentifierSecretShare {
    /// The secret.
    pub secret: IdentifierSecretBytes,
    /// The drawing device's clock when it drew the secret, ms since the
    /// Unix epoch.
    pub drawn_at_ms: u64,
    /// The device (of the same user) that drew it.
    pub origin_device: DeviceId,
}

impl IdentifierSecretShare {
    /// Encodes the body, in a wiping buffer (it holds the secret).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, WireError> {
        let mut out = Zeroizing::new(Vec::with_capacity(MAX_IDENTIFIER_SHARE_LEN));
        out.push(SHARE_VERSION);
        let encoded =
            Zeroizing::new(postcard::to_stdvec(self).map_err(|_| WireError::Malformed {
                reason: "value cannot be encoded",
            })?);
        out.extend_from_slice(&encoded);
        Ok(out)
    }

    /// Decodes a body, checking in order: the length limit, the version,
    /// the encoding, trailing bytes, and that the input is the canonical
    /// encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_IDENTIFIER_SHARE_LEN {
            return Err(WireError::LimitExceeded {
                field: "identifier_secret_share",
                len: bytes.len(),
                max: MAX_IDENTIFIER_SHARE_LEN,
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
        // postcard accepts over-long varints; one share has one encoding.
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

    /// The order the user's devices agree on: older first, then the
    /// smaller drawing device, then the smaller secret bytes. The smallest
    /// share is the one every device keeps.
    pub fn convergence_order(&self, other: &Self) -> Ordering {
        (self.drawn_at_ms, self.origin_device)
            .cmp(&(other.drawn_at_ms, other.origin_device))
            // Reached only by two shares drawn at the same time by the same
            // device; a timing difference here reveals nothing worth hiding.
            .then_with(|| self.secret.0.cmp(&other.secret.0))
    }

    /// Whether this share replaces `other` on a device that holds `other`.
    pub fn wins_over(&self, other: &Self) -> bool {
        self.convergence_order(other) == Ordering::Less
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn share(drawn_at_ms: u64, origin: u32, byte: u8) -> IdentifierSecretShare {
        IdentifierSecretShare {
            secret: IdentifierSecretBytes([byte; 32]),
            drawn_at_ms,
            origin_device: DeviceId(origin),
        }
    }

    #[test]
    fn a_share_round_trips() {
        let original = share(1_700_000_000_000, 3, 0xab);
        let bytes = original.to_bytes().unwrap();
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[1..33], &[0xab; 32]);
        assert!(bytes.len() <= MAX_IDENTIFIER_SHARE_LEN);
        assert_eq!(IdentifierSecretShare::from_bytes(&bytes).unwrap(), original);
        let largest = share(u64::MAX, u32::MAX, 0xff).to_bytes().unwrap();
        assert_eq!(largest.len(), MAX_IDENTIFIER_SHARE_LEN);
        assert!(IdentifierSecretShare::from_bytes(&largest).is_ok());
    }

    #[test]
    fn a_truncated_share_is_refused() {
        let bytes = share(1_700_000_000_000, 3, 7).to_bytes().unwrap();
        assert_eq!(
            IdentifierSecretShare::from_bytes(&[]),
            Err(WireError::Truncated)
        );
        for cut in 1..bytes.len() {
            assert!(
                matches!(
                    IdentifierSecretShare::from_bytes(&bytes[..cut]),
                    Err(WireError::Truncated | WireError::Malformed { .. })
                ),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn trailing_bytes_after_a_share_are_refused() {
        let mut bytes = share(5, 1, 7).to_bytes().unwrap().to_vec();
        bytes.push(0);
        assert_eq!(
            IdentifierSecretShare::from_bytes(&bytes),
            Err(WireError::TrailingBytes { count: 1 })
        );
    }

    #[test]
    fn an_over_long_share_is_refused_before_decoding() {
        let mut bytes = share(u64::MAX, u32::MAX, 7).to_bytes().unwrap().to_vec();
        bytes.push(0);
        assert_eq!(
            IdentifierSecretShare::from_bytes(&bytes),
            Err(WireError::LimitExceeded {
                field: "identifier_secret_share",
                len: MAX_IDENTIFIER_SHARE_LEN + 1,
                max: MAX_IDENTIFIER_SHARE_LEN,
            })
        );
    }

    #[test]
    fn another_version_is_refused() {
        let mut bytes = share(5, 1, 7).to_bytes().unwrap().to_vec();
        bytes[0] = 2;
        assert_eq!(
            IdentifierSecretShare::from_bytes(&bytes),
            Err(WireError::UnknownVersion { version: 2 })
        );
    }

    #[test]
    fn a_non_canonical_share_is_refused() {
        // drawn_at 5 written as the over-long varint 0x85 0x00, then device 1.
        let mut overlong = vec![1u8];
        overlong.extend([7u8; 32]);
        overlong.extend([0x85, 0x00, 0x01]);
        assert_eq!(
            IdentifierSecretShare::from_bytes(&overlong),
            Err(WireError::NonCanonical)
        );
        // The same share written canonically decodes.
        let mut canonical = vec![1u8];
        canonical.extend([7u8; 32]);
        canonical.extend([0x05, 0x01]);
        assert_eq!(
            IdentifierSecretShare::from_bytes(&canonical).unwrap(),
            share(5, 1, 7)
        );
    }

    #[test]
    fn the_older_share_wins_then_the_smaller_device_then_the_smaller_secret() {
        assert!(share(1, 9, 9).wins_over(&share(2, 1, 1)));
        assert!(!share(2, 1, 1).wins_over(&share(1, 9, 9)));
        assert!(share(1, 1, 9).wins_over(&share(1, 2, 1)));
        assert!(share(1, 1, 1).wins_over(&share(1, 1, 2)));
        assert!(!share(1, 1, 1).wins_over(&share(1, 1, 1)));
    }

    #[test]
    fn debug_shows_no_secret_bytes() {
        let shown = format!("{:?}", share(5, 1, 0xab));
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
        assert!(!shown.to_lowercase().contains("ab, "), "{shown}");
    }
}
