//! The cryptographic primitives, wrapped for fuin's needs. This module is the
//! only place in the crate that touches the crypto crates; everything else
//! uses the functions and secret types defined here.

pub mod aead;
pub mod chunked;
pub mod framing;
pub mod franking;
pub mod gcm;
pub mod hybrid_kem;
pub mod kdf;
pub mod kem;
pub mod mac;
pub mod secret;
pub mod signing;
pub mod x25519;

#[cfg(test)]
mod wycheproof_tests;

use sha2::{Digest, Sha256};

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}
