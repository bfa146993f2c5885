//! fuin-seal's ML-KEM-768 (`primitives::kem`, on libcrux) against a second,
//! independently written implementation, RustCrypto's `ml-kem`: for keys
//! from many seeds, both make byte-identical keys, each decapsulates what the
//! other encapsulated, deterministic encapsulation gives the same bytes, an
//! altered ciphertext gives both the same implicit-rejection secret, and
//! both draw the line of the encapsulation-key check at the same place.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fuin_seal::SealError;
use fuin_seal::primitives::kem::{self, KemSecret};
use fuin_wire::{MlKemCiphertext, MlKemPublicKey};
use ml_kem::array::Array;
use ml_kem::kem::{Decapsulate, Encapsulate, KeyExport};
use ml_kem::ml_kem_768::{Ciphertext, DecapsulationKey, EncapsulationKey};
use rand::RngExt;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Seeds per test: enough to reach many keys, fast in a debug build (the
/// crypto crates are optimised even there).
const SEEDS: usize = 200;

/// The ML-KEM modulus q.
const Q: u16 = 3329;

fn rust_crypto_key(seed: &[u8; kem::SEED_LEN]) -> DecapsulationKey {
    DecapsulationKey::from_seed(Array::from(*seed))
}

fn rust_crypto_public(key: &MlKemPublicKey) -> Result<EncapsulationKey, ml_kem::InvalidKey> {
    EncapsulationKey::new(&Array::from(key.0))
}

fn to_rust_crypto(ciphertext: &MlKemCiphertext) -> Ciphertext {
    Array::from(ciphertext.0)
}

fn from_rust_crypto(ciphertext: &Ciphertext) -> MlKemCiphertext {
    let mut bytes = [0u8; MlKemCiphertext::LEN];
    bytes.copy_from_slice(ciphertext.as_slice());
    MlKemCiphertext(bytes)
}

/// `ciphertext` with bit `bit` flipped.
fn flip(ciphertext: &MlKemCiphertext, bit: usize) -> MlKemCiphertext {
    let mut bytes = ciphertext.0;
    bytes[bit / 8] ^= 1 << (bit % 8);
    MlKemCiphertext(bytes)
}

#[test]
fn both_implementations_make_the_same_keys_from_the_same_seed() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x6b65_7973);
    for round in 0..SEEDS {
        let seed: [u8; kem::SEED_LEN] = rng.random();
        let ours = KemSecret::from_seed(seed).public_key();
        let theirs = rust_crypto_key(&seed).encapsulation_key().to_bytes();
        assert_eq!(&ours.0[..], theirs.as_slice(), "round {round}");
        let kept = rust_crypto_key(&seed).to_seed().unwrap();
        assert_eq!(
            kept.as_slice(),
            &seed[..],
            "round {round}: both keep d || z"
        );
    }
}

#[test]
fn fuin_encapsulates_and_rust_crypto_decapsulates() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x656e_6361);
    for round in 0..SEEDS {
        let seed: [u8; kem::SEED_LEN] = rng.random();
        let public = KemSecret::from_seed(seed).public_key();
        let (ciphertext, shared) = kem::encapsulate(&mut rng, &public).unwrap();
        let opened = rust_crypto_key(&seed).decapsulate(&to_rust_crypto(&ciphertext));
        assert_eq!(opened.as_slice(), shared.expose(), "round {round}");
    }
}

#[test]
fn rust_crypto_encapsulates_and_fuin_decapsulates() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x6465_6361);
    for round in 0..SEEDS {
        let seed: [u8; kem::SEED_LEN] = rng.random();
        let ours = KemSecret::from_seed(seed);
        let theirs = rust_crypto_public(&ours.public_key()).unwrap();
        let (ciphertext, shared) = theirs.encapsulate_with_rng(&mut rng);
        let opened = ours.decapsulate(&from_rust_crypto(&ciphertext));
        assert_eq!(opened.expose(), shared.as_slice(), "round {round}");
    }
}

#[test]
fn deterministic_encapsulation_gives_the_same_bytes() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x6d6d_6d6d);
    for round in 0..SEEDS {
        let seed: [u8; kem::SEED_LEN] = rng.random();
        let m: [u8; kem::ENCAPSULATION_RANDOMNESS_LEN] = rng.random();
        let public = KemSecret::from_seed(seed).public_key();
        let (ours, our_secret) = kem::encapsulate_with(&public, &m).unwrap();
        let (theirs, their_secret) = rust_crypto_public(&public)
            .unwrap()
            .encapsulate_deterministic(&Array::from(m));
        assert_eq!(&ours.0[..], theirs.as_slice(), "round {round}: ciphertext");
        assert_eq!(
            our_secret.expose(),
            their_secret.as_slice(),
            "round {round}"
        );
    }
}

/// A flipped bit anywhere (one random bit per ciphertext, over many keys)
/// gives both implementations the same secret, `J(z || c')`, which is not
/// the encapsulated one.
#[test]
fn altered_ciphertexts_give_both_the_same_implicit_rejection_secret() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x616c_7465);
    for round in 0..SEEDS {
        let seed: [u8; kem::SEED_LEN] = rng.random();
        let ours = KemSecret::from_seed(seed);
        let theirs = rust_crypto_key(&seed);
        let (ciphertext, shared) = kem::encapsulate(&mut rng, &ours.public_key()).unwrap();
        let bit = rng.random_range(0..MlKemCiphertext::LEN * 8);
        let altered = flip(&ciphertext, bit);
        let our_rejection = ours.decapsulate(&altered);
        let their_rejection = theirs.decapsulate(&to_rust_crypto(&altered));
        assert_eq!(
            our_rejection.expose(),
            their_rejection.as_slice(),
            "round {round}: bit {bit}"
        );
        assert_ne!(
            our_rejection.expose(),
            shared.expose(),
            "round {round}: bit {bit}"
        );
    }
}

/// Sets coefficient `index` of the key's encoded vector (12 bits each,
/// two per three bytes, FIPS 203 ByteEncode_12) to `value`.
fn set_coefficient(key: &mut MlKemPublicKey, index: usize, value: u16) {
    let at = index / 2 * 3;
    if index.is_multiple_of(2) {
        key.0[at] = (value & 0xff) as u8;
        key.0[at + 1] = (key.0[at + 1] & 0xf0) | (value >> 8) as u8;
    } else {
        key.0[at + 1] = (key.0[at + 1] & 0x0f) | ((value & 0x0f) << 4) as u8;
        key.0[at + 2] = (value >> 4) as u8;
    }
}

/// One coefficient at q - 1 keeps a key valid; at q or above (up to 4095,
/// what 12 bits hold) it fails the modulus check in both implementations.
#[test]
fn both_implementations_draw_the_modulus_check_at_q() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x6d6f_6475);
    let coefficients = 3 * 256;
    for round in 0..SEEDS {
        let seed: [u8; kem::SEED_LEN] = rng.random();
        let index = rng.random_range(0..coefficients);
        let mut largest = KemSecret::from_seed(seed).public_key();
        set_coefficient(&mut largest, index, Q - 1);
        assert_eq!(kem::check_public_key(&largest), Ok(()), "round {round}");
        assert!(rust_crypto_public(&largest).is_ok(), "round {round}");

        let value = rng.random_range(Q..4096);
        let mut overflowing = largest;
        set_coefficient(&mut overflowing, index, value);
        assert_eq!(
            kem::check_public_key(&overflowing),
            Err(SealError::InvalidKemKey),
            "round {round}: coefficient {index} = {value}"
        );
        assert!(
            rust_crypto_public(&overflowing).is_err(),
            "round {round}: coefficient {index} = {value}"
        );
    }
}

/// The bit layout `set_coefficient` writes is the one both implementations
/// read: setting a coefficient to the value it already has changes no byte.
#[test]
fn coefficient_encoding_round_trips() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x656e_636f);
    let key = KemSecret::from_seed(rng.random()).public_key();
    let mut rewritten = key;
    for index in 0..3 * 256usize {
        let at = index / 2 * 3;
        let value = if index.is_multiple_of(2) {
            u16::from(key.0[at]) | (u16::from(key.0[at + 1] & 0x0f) << 8)
        } else {
            u16::from(key.0[at + 1] >> 4) | (u16::from(key.0[at + 2]) << 4)
        };
        assert!(value < Q, "coefficient {index} of a valid key is below q");
        set_coefficient(&mut rewritten, index, value);
    }
    assert_eq!(rewritten, key);
}
