//! Signed KEM prekeys for tests that upload through the API, made the way
//! `spec/protocol.md` §2 says: the identity signs
//! `"fuin/v1/kem-prekey-signature" || framed(BE32(id), key)`.

use ed25519_dalek::{Signer, SigningKey};
use fuin_wire::{Ed25519Signature, KemPrekey, MlKemPublicKey, PrekeyId};

/// A well-formed ML-KEM-768 key (every coefficient of t̂ zero, so below
/// q) told apart by its seed ρ, signed by `key`.
pub fn kem_prekey(key: &SigningKey, id: u32) -> KemPrekey {
    let mut public_key = [0u8; MlKemPublicKey::LEN];
    public_key[MlKemPublicKey::LEN - 4..].copy_from_slice(&id.to_be_bytes());
    public_key[MlKemPublicKey::LEN - 32] = 0x4b;
    sign_kem_prekey(key, id, MlKemPublicKey(public_key))
}

/// `public_key` with id `id`, signed by `key`.
pub fn sign_kem_prekey(key: &SigningKey, id: u32, public_key: MlKemPublicKey) -> KemPrekey {
    let mut signed = b"fuin/v1/kem-prekey-signature".to_vec();
    signed.extend_from_slice(&4u32.to_be_bytes());
    signed.extend_from_slice(&id.to_be_bytes());
    signed.extend_from_slice(&1184u32.to_be_bytes());
    signed.extend_from_slice(public_key.as_bytes());
    KemPrekey {
        id: PrekeyId(id),
        public_key,
        signature: Ed25519Signature(key.sign(&signed).to_bytes()),
    }
}

/// One signed KEM prekey per id.
#[allow(dead_code)]
pub fn kem_prekeys(key: &SigningKey, ids: std::ops::Range<u32>) -> Vec<KemPrekey> {
    ids.map(|id| kem_prekey(key, id)).collect()
}
