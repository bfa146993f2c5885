//! The checks on uploaded KEM prekeys: each is signed by the uploading
//! device's identity and is a well-formed ML-KEM-768 key. A bad one would
//! otherwise be handed out and make every session started with it fail at
//! the initiator (`BadSignature`, `InvalidKemKey`); refusing it at upload
//! tells the device instead.

use axum::http::StatusCode;
use ed25519_dalek::{Signature, VerifyingKey};
use fuin_wire::{KemPrekey, MlKemPublicKey, PublicIdentity};

use crate::error::ApiError;

/// The label an identity signs a KEM prekey under (`spec/protocol.md` §2).
const KEM_PREKEY_SIGNATURE_LABEL: &[u8] = b"fuin/v1/kem-prekey-signature";

/// ML-KEM's modulus q (FIPS 203).
const KEM_MODULUS: u16 = 3329;

/// The bytes of ML-KEM-768's encoded vector t̂ (3 polynomials of 256
/// 12-bit coefficients); the 32 bytes of the seed ρ follow.
const ENCODED_T_LEN: usize = 3 * 384;

/// Checks every KEM prekey of an upload against the device's identity.
pub(crate) fn check_kem_prekeys<'a>(
    identity: &PublicIdentity,
    prekeys: impl IntoIterator<Item = &'a KemPrekey>,
) -> Result<(), ApiError> {
    let key = VerifyingKey::from_bytes(&identity.signing_key.0)
        .map_err(|_| bad_kem_prekey("the device's identity key cannot verify signatures"))?;
    for prekey in prekeys {
        let id = prekey.id.0;
        if !key_is_canonical(&prekey.public_key) {
            return Err(bad_kem_prekey(format!(
                "KEM prekey {id} is not a valid ML-KEM-768 key (a coefficient is not below 3329)"
            )));
        }
        key.verify_strict(
            &signed_string(prekey),
            &Signature::from_bytes(&prekey.signature.0),
        )
        .map_err(|_| {
            bad_kem_prekey(format!(
                "KEM prekey {id}'s signature does not verify under the device's identity"
            ))
        })?;
    }
    Ok(())
}

/// `label || framed(BE32(id), key)`, each field a 4-byte big-endian length
/// then its bytes: what the identity signs.
fn signed_string(prekey: &KemPrekey) -> Vec<u8> {
    let key = prekey.public_key.as_bytes();
    let mut signed = Vec::with_capacity(KEM_PREKEY_SIGNATURE_LABEL.len() + 8 + 4 + key.len());
    signed.extend_from_slice(KEM_PREKEY_SIGNATURE_LABEL);
    signed.extend_from_slice(&4u32.to_be_bytes());
    signed.extend_from_slice(&prekey.id.0.to_be_bytes());
    // The key's length (1,184) always fits.
    signed.extend_from_slice(&(MlKemPublicKey::LEN as u32).to_be_bytes());
    signed.extend_from_slice(key);
    signed
}

/// FIPS 203's modulus check on an encapsulation key: every 12-bit
/// coefficient of t̂ is below q (so decoding and re-encoding gives the same
/// bytes).
fn key_is_canonical(key: &MlKemPublicKey) -> bool {
    key.as_bytes()[..ENCODED_T_LEN].chunks_exact(3).all(|b| {
        let low = u16::from(b[0]) | (u16::from(b[1] & 0x0f) << 8);
        let high = u16::from(b[1] >> 4) | (u16::from(b[2]) << 4);
        low < KEM_MODULUS && high < KEM_MODULUS
    })
}

fn bad_kem_prekey(why: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_kem_prekey", why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_coefficient_of_q_or_more_fails_the_modulus_check() {
        let mut key = MlKemPublicKey([0; MlKemPublicKey::LEN]);
        assert!(key_is_canonical(&key));
        // The first coefficient 3328 (q - 1): still canonical.
        key.0[0] = 0x00;
        key.0[1] = 0x0d;
        assert!(key_is_canonical(&key));
        // The second coefficient 3329 (q): refused.
        key.0[0] = 0;
        key.0[1] = 0x10;
        key.0[2] = 0xd0;
        assert!(!key_is_canonical(&key));
        // The seed ρ after t̂ is not checked.
        let mut key = MlKemPublicKey([0; MlKemPublicKey::LEN]);
        key.0[ENCODED_T_LEN..].fill(0xff);
        assert!(key_is_canonical(&key));
    }
}
