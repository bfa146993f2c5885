//! ML-KEM-768 (FIPS 203), wrapped for fuin: keys kept as their 64-byte seed,
//! encapsulation with caller-supplied randomness, and the public-key check.
//!
//! Every ML-KEM call in the crate goes through here, so the backend
//! (`libcrux-ml-kem`) can be swapped without touching protocol code.

use libcrux_ml_kem::mlkem768;
use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

use crate::SealError;
use fuin_wire::{MlKemCiphertext, MlKemPublicKey};

/// Bytes of the seed `d || z` a key pair is made from (FIPS 203 §7.1).
pub const SEED_LEN: usize = 64;
/// Bytes of the randomness `m` of one encapsulation (FIPS 203 §7.2).
pub const ENCAPSULATION_RANDOMNESS_LEN: usize = 32;
/// Bytes of an ML-KEM shared secret.
pub const SHARED_SECRET_LEN: usize = 32;

/// An ML-KEM-768 decapsulation key, kept as the 64-byte seed it is made
/// from (the form FIPS 203 recommends storing). Wiped on drop; `Debug`
/// shows no bytes.
#[derive(Clone)]
pub struct KemSecret {
    seed: Zeroizing<[u8; SEED_LEN]>,
}

impl std::fmt::Debug for KemSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KemSecret(..)")
    }
}

/// A 32-byte ML-KEM shared secret. Wiped on drop; `Debug` shows no bytes.
pub struct KemSharedSecret(Zeroizing<[u8; SHARED_SECRET_LEN]>);

impl KemSharedSecret {
    /// The secret's bytes.
    pub fn expose(&self) -> &[u8; SHARED_SECRET_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for KemSharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KemSharedSecret(..)")
    }
}

impl KemSecret {
    /// Draws a fresh seed from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        rng.fill_bytes(seed.as_mut());
        Self { seed }
    }

    /// The key pair made from `seed` (`ML-KEM.KeyGen_internal(d, z)` with
    /// `d = seed[0..32]`, `z = seed[32..64]`).
    pub fn from_seed(seed: [u8; SEED_LEN]) -> Self {
        let mut seed = seed;
        let kept = Self {
            seed: Zeroizing::new(seed),
        };
        seed.zeroize();
        kept
    }

    /// The seed, for saving the key with the rest of a device's state.
    pub fn seed(&self) -> &[u8; SEED_LEN] {
        &self.seed
    }

    /// Expands the seed into the key pair, gives it to `use_pair`, then
    /// wipes the expanded decapsulation key (libcrux's key types do not wipe
    /// themselves).
    fn with_key_pair<T>(
        &self,
        use_pair: impl FnOnce(&mlkem768::MlKem768PrivateKey, &mlkem768::MlKem768PublicKey) -> T,
    ) -> T {
        let (mut private, public) = mlkem768::generate_key_pair(*self.seed).into_parts();
        let out = use_pair(&private, &public);
        private[0..].zeroize();
        out
    }

    /// The encapsulation key to publish.
    pub fn public_key(&self) -> MlKemPublicKey {
        self.with_key_pair(|_, public| MlKemPublicKey(*public.as_slice()))
    }

    /// Decapsulates `ciphertext`. ML-KEM never fails here: a ciphertext that
    /// was altered gives an unrelated pseudorandom secret (implicit
    /// rejection), so whatever is derived from it does not open.
    pub fn decapsulate(&self, ciphertext: &MlKemCiphertext) -> KemSharedSecret {
        self.public_key_and_decapsulate(ciphertext).1
    }

    /// The encapsulation key and [`KemSecret::decapsulate`] of `ciphertext`,
    /// from one expansion of the seed (a responder needs both: the key for
    /// the transcript, the secret for the root key).
    pub fn public_key_and_decapsulate(
        &self,
        ciphertext: &MlKemCiphertext,
    ) -> (MlKemPublicKey, KemSharedSecret) {
        let ciphertext = mlkem768::MlKem768Ciphertext::from(*ciphertext.as_bytes());
        self.with_key_pair(|private, public| {
            let shared = mlkem768::decapsulate(private, &ciphertext);
            (
                MlKemPublicKey(*public.as_slice()),
                KemSharedSecret(Zeroizing::new(shared)),
            )
        })
    }
}

/// Checks an encapsulation key from the wire (FIPS 203 §7.2, the modulus
/// check: every coefficient below q). A key that fails is
/// [`SealError::InvalidKemKey`].
pub fn check_public_key(key: &MlKemPublicKey) -> Result<(), SealError> {
    let key = mlkem768::MlKem768PublicKey::from(*key.as_bytes());
    if mlkem768::validate_public_key(&key) {
        Ok(())
    } else {
        Err(SealError::InvalidKemKey)
    }
}

/// Encapsulates to `key` with fresh randomness from `rng`. The key must
/// have passed [`check_public_key`].
pub fn encapsulate<R: CryptoRng + ?Sized>(
    rng: &mut R,
    key: &MlKemPublicKey,
) -> Result<(MlKemCiphertext, KemSharedSecret), SealError> {
    let mut randomness = Zeroizing::new([0u8; ENCAPSULATION_RANDOMNESS_LEN]);
    rng.fill_bytes(randomness.as_mut());
    encapsulate_with(key, &randomness)
}

/// Encapsulates to `key` with the given randomness `m`. Deterministic: only
/// for known-answer tests and vectors; protocol code uses [`encapsulate`].
pub fn encapsulate_with(
    key: &MlKemPublicKey,
    randomness: &[u8; ENCAPSULATION_RANDOMNESS_LEN],
) -> Result<(MlKemCiphertext, KemSharedSecret), SealError> {
    check_public_key(key)?;
    let key = mlkem768::MlKem768PublicKey::from(*key.as_bytes());
    let (ciphertext, shared) = mlkem768::encapsulate(&key, *randomness);
    let mut bytes = [0u8; MlKemCiphertext::LEN];
    bytes.copy_from_slice(ciphertext.as_slice());
    Ok((
        MlKemCiphertext(bytes),
        KemSharedSecret(Zeroizing::new(shared)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A KEM secret and a shared secret print a fixed placeholder: no seed
    /// or secret byte reaches a log.
    #[test]
    fn debug_shows_no_secret_bytes() {
        let secret = KemSecret::from_seed([0x5a; SEED_LEN]);
        assert_eq!(format!("{secret:?}"), "KemSecret(..)");
        let (ciphertext, shared) = encapsulate_with(&secret.public_key(), &[7; 32]).unwrap();
        assert_eq!(format!("{shared:?}"), "KemSharedSecret(..)");
        assert_eq!(
            secret.decapsulate(&ciphertext).expose(),
            shared.expose(),
            "the secret the placeholder hides is the real one"
        );
    }
}
