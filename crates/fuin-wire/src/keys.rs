//! Public key material as it crosses the wire: device identities and prekey
//! bundles.
//!
//! These are bytes only. Whether a key is a valid curve point, whether a
//! signature verifies and whether a key has low order is checked by the
//! protocol crate, which turns these untrusted values into trusted ones.

use serde::{Deserialize, Serialize};

use crate::bytes::fixed_bytes;
use crate::{DeviceAddress, WireError};

fixed_bytes!(
    /// An Ed25519 public key (32 bytes, RFC 8032 encoding).
    Ed25519PublicKey,
    32
);

fixed_bytes!(
    /// An X25519 public key (32 bytes, RFC 7748 encoding).
    X25519PublicKey,
    32
);

fixed_bytes!(
    /// An Ed25519 signature (64 bytes).
    Ed25519Signature,
    64
);

fixed_bytes!(
    /// An ML-KEM-768 encapsulation (public) key (1,184 bytes, FIPS 203).
    MlKemPublicKey,
    1184
);

fixed_bytes!(
    /// An ML-KEM-768 ciphertext (1,088 bytes, FIPS 203).
    MlKemCiphertext,
    1088
);

/// A device's public identity: its Ed25519 signing key, its X25519 agreement
/// key, and the signing key's signature binding the two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIdentity {
    /// Signs prekeys and relay challenges; never message content.
    pub signing_key: Ed25519PublicKey,
    /// Used in the handshake's Diffie-Hellman terms.
    pub agreement_key: X25519PublicKey,
    /// `signing_key`'s signature over `agreement_key` (the exact signed string
    /// is fixed in `spec/protocol.md`).
    pub signature: Ed25519Signature,
}

/// Identifies one prekey among those a device has published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PrekeyId(pub u32);

/// A medium-term X25519 prekey signed by the device's identity, rotated from
/// time to time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPrekey {
    /// Which signed prekey this is.
    pub id: PrekeyId,
    /// The X25519 public key.
    pub public_key: X25519PublicKey,
    /// The identity's signature over the key and its id.
    pub signature: Ed25519Signature,
}

/// A single-use X25519 prekey. The relay hands each out at most once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimePrekey {
    /// Which one-time prekey this is.
    pub id: PrekeyId,
    /// The X25519 public key.
    pub public_key: X25519PublicKey,
}

/// An ML-KEM-768 prekey signed by the device's identity: one of a pool of
/// one-time KEM prekeys, or the device's current last-resort KEM prekey
/// (handed out when the pool is empty). The initiator encapsulates to it, so
/// that a session stays sealed while either X25519 or ML-KEM holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KemPrekey {
    /// Which KEM prekey this is (ids are shared with the X25519 prekeys).
    pub id: PrekeyId,
    /// The ML-KEM-768 encapsulation key.
    pub public_key: MlKemPublicKey,
    /// The identity's signature over the key and its id.
    pub signature: Ed25519Signature,
}

/// What an initiator fetches to start a session with one device: its address,
/// identity, current signed prekey, a signed KEM prekey and, while the pool
/// lasts, one one-time prekey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrekeyBundle<'a> {
    /// The device the bundle belongs to.
    #[serde(borrow)]
    pub address: DeviceAddress<'a>,
    /// The device's identity.
    pub identity: PublicIdentity,
    /// The device's current signed prekey.
    pub signed_prekey: SignedPrekey,
    /// A one-time prekey, absent when the pool is empty.
    pub one_time_prekey: Option<OneTimePrekey>,
    /// A signed KEM prekey: one-time while the pool lasts, else the
    /// last-resort one. The protocol refuses a bundle without one
    /// (`spec/protocol.md` §5.5); the field is optional on the wire so that
    /// a stripped bundle decodes and is refused by name, not as malformed.
    pub kem_prekey: Option<KemPrekey>,
}

impl PrekeyBundle<'_> {
    /// Copies borrowed parts, detaching the bundle from the input.
    pub fn into_owned(self) -> PrekeyBundle<'static> {
        PrekeyBundle {
            address: self.address.into_owned(),
            identity: self.identity,
            signed_prekey: self.signed_prekey,
            one_time_prekey: self.one_time_prekey,
            kem_prekey: self.kem_prekey,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.address.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_bytes_debug_is_labelled_hex() {
        let key = X25519PublicKey([0xab; 32]);
        assert_eq!(
            format!("{key:?}"),
            format!("X25519PublicKey({})", "ab".repeat(32))
        );
    }
}
