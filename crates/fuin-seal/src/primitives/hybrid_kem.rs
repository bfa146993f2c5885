//! The hybrid KEM of reports and link codes: X25519 and ML-KEM-768 side by
//! side (`spec/protocol.md` §4.1).
//!
//! Encapsulation draws an ephemeral X25519 key and encapsulates to the
//! ML-KEM key; the key material is `ss || dh` (64 bytes). This module only
//! makes and opens that material: every use derives its keys from it with a
//! transcript that binds both public keys, the ephemeral key and the
//! ciphertext (the combiner), so the result stays secret while either
//! X25519 or ML-KEM holds.

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::SealError;
use crate::primitives::kem::{self, KemSecret};
use crate::primitives::x25519::{self, AgreementSecret};
use fuin_wire::{MlKemCiphertext, MlKemPublicKey, X25519PublicKey};

/// Bytes of the key material an encapsulation gives: the ML-KEM shared
/// secret, then the X25519 output.
pub const KEY_MATERIAL_LEN: usize = 64;

/// Bytes of an encapsulation on the wire: the ephemeral X25519 key, then the
/// ML-KEM ciphertext.
pub const ENCAPSULATION_LEN: usize = 32 + MlKemCiphertext::LEN;

/// A hybrid public key: an X25519 key and an ML-KEM-768 encapsulation key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HybridPublicKey {
    /// The X25519 half.
    pub x25519: X25519PublicKey,
    /// The ML-KEM-768 half.
    pub ml_kem: MlKemPublicKey,
}

impl HybridPublicKey {
    /// Checks both halves of a key from outside: the X25519 key is not on
    /// the small-order blocklist (`WeakPublicKey`), the ML-KEM key passes
    /// FIPS 203's check (`InvalidKemKey`).
    pub fn check(&self) -> Result<(), SealError> {
        x25519::check_public_key(&self.x25519)?;
        kem::check_public_key(&self.ml_kem)
    }
}

/// A hybrid secret key: the X25519 private key and the ML-KEM seed. Wiped
/// on drop; `Debug` shows no bytes.
#[derive(Clone)]
pub struct HybridSecretKey {
    x25519: AgreementSecret,
    ml_kem: KemSecret,
}

impl std::fmt::Debug for HybridSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HybridSecretKey(..)")
    }
}

/// What a sender sends: its ephemeral X25519 key and the ML-KEM ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HybridEncapsulation {
    /// The sender's ephemeral X25519 key.
    pub ephemeral: X25519PublicKey,
    /// The ML-KEM-768 ciphertext.
    pub ciphertext: MlKemCiphertext,
}

impl HybridSecretKey {
    /// Draws a fresh key pair: 32 bytes of X25519 private key, then the
    /// 64-byte ML-KEM seed.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let x25519 = AgreementSecret::generate(rng);
        let ml_kem = KemSecret::generate(rng);
        Self { x25519, ml_kem }
    }

    /// The key from its two secrets (as saved in a key file).
    pub fn from_parts(x25519: [u8; 32], ml_kem_seed: [u8; kem::SEED_LEN]) -> Self {
        Self {
            x25519: AgreementSecret::from_bytes(x25519),
            ml_kem: KemSecret::from_seed(ml_kem_seed),
        }
    }

    /// The two secrets, for saving: the X25519 private key and the ML-KEM
    /// seed.
    pub fn to_parts(&self) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; kem::SEED_LEN]>) {
        (self.x25519.to_bytes(), Zeroizing::new(*self.ml_kem.seed()))
    }

    /// The public key to publish.
    pub fn public_key(&self) -> HybridPublicKey {
        HybridPublicKey {
            x25519: self.x25519.public_key(),
            ml_kem: self.ml_kem.public_key(),
        }
    }

    /// The key material of `encapsulation`: `ML-KEM.Decaps(ct) || DH(x, E)`.
    /// Fails with `WeakPublicKey` when the ephemeral key gives an all-zero
    /// X25519 output; an altered ML-KEM ciphertext gives other material
    /// (implicit rejection), so what is sealed under it does not open.
    pub fn decapsulate(
        &self,
        encapsulation: &HybridEncapsulation,
    ) -> Result<Zeroizing<[u8; KEY_MATERIAL_LEN]>, SealError> {
        let dh = self.x25519.agree(&encapsulation.ephemeral)?;
        let shared = self.ml_kem.decapsulate(&encapsulation.ciphertext);
        Ok(key_material(shared.expose(), dh.expose()))
    }
}

fn key_material(shared: &[u8; 32], dh: &[u8; 32]) -> Zeroizing<[u8; KEY_MATERIAL_LEN]> {
    let mut out = Zeroizing::new([0u8; KEY_MATERIAL_LEN]);
    out[..32].copy_from_slice(shared);
    out[32..].copy_from_slice(dh);
    out
}

/// Encapsulates to `recipient`: draws the ephemeral X25519 key (32 bytes),
/// then the ML-KEM randomness (32 bytes), and returns what to send and the
/// key material. Checks `recipient` first ([`HybridPublicKey::check`]).
pub fn encapsulate<R: CryptoRng + ?Sized>(
    rng: &mut R,
    recipient: &HybridPublicKey,
) -> Result<(HybridEncapsulation, Zeroizing<[u8; KEY_MATERIAL_LEN]>), SealError> {
    recipient.check()?;
    let ephemeral = AgreementSecret::generate(rng);
    let dh = ephemeral.agree(&recipient.x25519)?;
    let (ciphertext, shared) = kem::encapsulate(rng, &recipient.ml_kem)?;
    Ok((
        HybridEncapsulation {
            ephemeral: ephemeral.public_key(),
            ciphertext,
        },
        key_material(shared.expose(), dh.expose()),
    ))
}

/// [`encapsulate`] with the given ephemeral X25519 private key and ML-KEM
/// randomness `m`, in the order `encapsulate` draws them. Deterministic:
/// only for test vectors; protocol code uses [`encapsulate`].
pub fn encapsulate_with(
    recipient: &HybridPublicKey,
    ephemeral: [u8; 32],
    randomness: &[u8; kem::ENCAPSULATION_RANDOMNESS_LEN],
) -> Result<(HybridEncapsulation, Zeroizing<[u8; KEY_MATERIAL_LEN]>), SealError> {
    recipient.check()?;
    let ephemeral = AgreementSecret::from_bytes(ephemeral);
    let dh = ephemeral.agree(&recipient.x25519)?;
    let (ciphertext, shared) = kem::encapsulate_with(&recipient.ml_kem, randomness)?;
    Ok((
        HybridEncapsulation {
            ephemeral: ephemeral.public_key(),
            ciphertext,
        },
        key_material(shared.expose(), dh.expose()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};

    #[test]
    fn both_sides_get_the_same_material_and_any_altered_byte_changes_it() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let secret = HybridSecretKey::generate(&mut rng);
        let (sent, material) = encapsulate(&mut rng, &secret.public_key()).unwrap();
        assert_eq!(*secret.decapsulate(&sent).unwrap(), *material);
        let mut altered = sent.clone();
        altered.ciphertext.0[1087] ^= 1;
        assert_ne!(*secret.decapsulate(&altered).unwrap(), *material);
        let mut altered = sent;
        altered.ephemeral.0[0] ^= 1;
        assert_ne!(*secret.decapsulate(&altered).unwrap(), *material);
    }

    #[test]
    fn recorded_randomness_gives_what_the_rng_would() {
        let secret = HybridSecretKey::generate(&mut ChaCha20Rng::seed_from_u64(9));
        let mut draws = ChaCha20Rng::seed_from_u64(10);
        let mut ephemeral = [0u8; 32];
        let mut m = [0u8; 32];
        draws.fill_bytes(&mut ephemeral);
        draws.fill_bytes(&mut m);
        let recorded = encapsulate_with(&secret.public_key(), ephemeral, &m).unwrap();
        let drawn = encapsulate(&mut ChaCha20Rng::seed_from_u64(10), &secret.public_key()).unwrap();
        assert_eq!(recorded.0, drawn.0);
        assert_eq!(*recorded.1, *drawn.1);
        assert_eq!(*secret.decapsulate(&recorded.0).unwrap(), *recorded.1);
    }

    #[test]
    fn a_small_order_x25519_half_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let mut public = HybridSecretKey::generate(&mut rng).public_key();
        public.x25519 = X25519PublicKey([0; 32]);
        assert_eq!(
            encapsulate(&mut rng, &public).unwrap_err(),
            SealError::WeakPublicKey
        );
    }
}
