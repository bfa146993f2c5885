//! X25519 key agreement that refuses non-contributory results.

use rand_core::CryptoRng;
use subtle::{Choice, ConstantTimeEq};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::secret::DhOutput;
use crate::SealError;
use fuin_wire::X25519PublicKey;

/// An X25519 secret key with its public key, computed once (a scalar
/// multiplication costs about as much as everything else one message needs).
/// Wiped on drop; `Debug` shows only the public key.
pub struct AgreementSecret {
    secret: StaticSecret,
    public: X25519PublicKey,
}

impl AgreementSecret {
    fn new(secret: StaticSecret) -> Self {
        let public = X25519PublicKey(PublicKey::from(&secret).to_bytes());
        Self { secret, public }
    }

    /// Draws a fresh secret key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::new(StaticSecret::random_from_rng(rng))
    }

    /// Restores a secret key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self::new(StaticSecret::from(bytes))
    }

    /// The secret bytes, for serializing state (which is then encrypted).
    pub(crate) fn to_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.secret.to_bytes())
    }

    /// The public key.
    pub fn public_key(&self) -> X25519PublicKey {
        self.public
    }

    /// X25519 with `peer`. Fails with [`SealError::WeakPublicKey`] when the
    /// result is all zeros, which happens exactly when `peer` has small order:
    /// such a "shared" secret would be known to everyone.
    pub fn agree(&self, peer: &X25519PublicKey) -> Result<DhOutput, SealError> {
        let shared = self.secret.diffie_hellman(&PublicKey::from(peer.0));
        let bytes = Zeroizing::new(shared.to_bytes());
        if bool::from(is_all_zero(&bytes)) {
            return Err(SealError::WeakPublicKey);
        }
        Ok(DhOutput::from_bytes(*bytes))
    }
}

/// Whether a Diffie-Hellman output is all zeros, decided in constant time:
/// the output is a secret, so the check must not stop at its first non-zero
/// byte (`spec/protocol.md` §1.2).
fn is_all_zero(output: &[u8; 32]) -> Choice {
    output.ct_eq(&[0u8; 32])
}

impl Clone for AgreementSecret {
    fn clone(&self) -> Self {
        Self {
            secret: self.secret.clone(),
            public: self.public,
        }
    }
}

impl std::fmt::Debug for AgreementSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AgreementSecret(public: {:?})", self.public_key())
    }
}

/// The u-coordinates of the points of small order on Curve25519 and its
/// twist, in every 255-bit encoding (the top bit is ignored by X25519).
const SMALL_ORDER_POINTS: [[u8; 32]; 7] = [
    // 0
    [0; 32],
    // 1
    {
        let mut u = [0; 32];
        u[0] = 1;
        u
    },
    // two points of order 8
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
    [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ],
    // p - 1, p (= 0) and p + 1 (= 1), with p = 2^255 - 19
    field_element_with_low_byte(0xec),
    field_element_with_low_byte(0xed),
    field_element_with_low_byte(0xee),
];

const fn field_element_with_low_byte(low: u8) -> [u8; 32] {
    let mut u = [0xff; 32];
    u[0] = low;
    u[31] = 0x7f;
    u
}

/// Whether `key` is a point of small order, whose agreement with any secret
/// is all zeros. Checked on keys that arrive in bundles and prekey messages,
/// before they are used; [`AgreementSecret::agree`] checks every result too.
pub fn is_small_order(key: &X25519PublicKey) -> bool {
    let mut u = key.0;
    u[31] &= 0x7f;
    SMALL_ORDER_POINTS.contains(&u)
}

/// Fails with [`SealError::WeakPublicKey`] if `key` has small order.
pub fn check_public_key(key: &X25519PublicKey) -> Result<(), SealError> {
    if is_small_order(key) {
        Err(SealError::WeakPublicKey)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_point_gives_a_zero_agreement() {
        let secret = AgreementSecret::from_bytes([0x42; 32]);
        for point in SMALL_ORDER_POINTS {
            let key = X25519PublicKey(point);
            assert!(is_small_order(&key));
            assert_eq!(secret.agree(&key).err(), Some(SealError::WeakPublicKey));
            let mut high = point;
            high[31] |= 0x80;
            assert!(is_small_order(&X25519PublicKey(high)));
        }
    }

    #[test]
    fn the_all_zero_check_looks_at_every_byte() {
        let zero: Choice = is_all_zero(&[0; 32]);
        assert!(bool::from(zero));
        for position in 0..32 {
            for value in [0x01, 0x80, 0xff] {
                let mut output = [0u8; 32];
                output[position] = value;
                assert!(!bool::from(is_all_zero(&output)), "byte {position}");
            }
        }
    }

    #[test]
    fn debug_shows_the_public_key_only() {
        let secret = AgreementSecret::from_bytes([0x42; 32]);
        let shown = format!("{secret:?}");
        assert!(shown.starts_with("AgreementSecret(public: X25519PublicKey("));
        assert!(!shown.contains(&"42".repeat(32)));
    }
}
