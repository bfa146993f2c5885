//! A key-committing AEAD over AES-256-GCM.
//!
//! AES-GCM alone is not key-committing: one ciphertext can be made to open
//! under two different keys ("invisible salamanders"). Here every use starts
//! from secret key material from which one HKDF call derives the GCM key, the
//! nonce and a 32-byte commitment. The commitment travels in front of the
//! ciphertext and is compared in constant time before GCM runs, so a
//! ciphertext opens under at most the one key material it was made with.
//!
//! Layout of a sealed value: `commitment (32) || GCM ciphertext || GCM tag (16)`.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::gcm::Gcm;
use super::kdf::{self, Label};

/// Bytes of the key commitment in front of every ciphertext.
pub const COMMITMENT_LEN: usize = 32;
/// Bytes of the GCM tag at the end of every ciphertext.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed value adds to its plaintext.
pub const OVERHEAD: usize = COMMITMENT_LEN + TAG_LEN;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// Why a sealed value did not open. Deliberately one value: a caller (or an
/// attacker watching it) cannot tell a wrong key from a forged tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFailed;

/// The GCM key, nonce and commitment derived from key material, wiped on
/// drop (as one slice: a single fill the compiler keeps).
struct DerivedKeys([u8; KEY_LEN + NONCE_LEN + COMMITMENT_LEN]);

impl Drop for DerivedKeys {
    fn drop(&mut self) {
        self.0.as_mut_slice().zeroize();
    }
}

impl DerivedKeys {
    fn new(label: Label, salt: Option<&[u8]>, key_material: &[u8]) -> Self {
        let mut keys = Self([0; KEY_LEN + NONCE_LEN + COMMITMENT_LEN]);
        kdf::derive_into(label, salt, key_material, &[], &mut keys.0);
        keys
    }

    fn cipher(&self) -> Gcm {
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(&self.0[..KEY_LEN]);
        let cipher = Gcm::new(&key);
        key.as_mut_slice().zeroize();
        cipher
    }

    fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&self.0[KEY_LEN..KEY_LEN + NONCE_LEN]);
        nonce
    }

    fn commitment(&self) -> &[u8] {
        &self.0[KEY_LEN + NONCE_LEN..]
    }
}

/// Seals `plaintext` under `key_material` (at least 32 secret bytes, used for
/// exactly one plaintext unless `salt` is fresh each time), binding `aad`.
pub fn seal(
    label: Label,
    salt: Option<&[u8]>,
    key_material: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let keys = DerivedKeys::new(label, salt, key_material);
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.extend_from_slice(keys.commitment());
    out.extend_from_slice(plaintext);
    // GCM refuses only plaintexts over 64 GiB, far beyond any wire limit;
    // the tag would then be all zeros and the value would not open.
    let tag = keys
        .cipher()
        .seal_in_place(&keys.nonce(), aad, &mut out[COMMITMENT_LEN..]);
    out.extend_from_slice(&tag);
    out
}

/// Opens a value made by [`seal`] with the same label, salt, key material
/// and `aad`. The plaintext is wiped when dropped.
pub fn open(
    label: Label,
    salt: Option<&[u8]>,
    key_material: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenFailed> {
    if sealed.len() < OVERHEAD {
        return Err(OpenFailed);
    }
    let (commitment, rest) = sealed.split_at(COMMITMENT_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let keys = DerivedKeys::new(label, salt, key_material);
    if !bool::from(keys.commitment().ct_eq(commitment)) {
        return Err(OpenFailed);
    }
    let mut plaintext = Zeroizing::new(ciphertext.to_vec());
    let mut gcm_tag = [0u8; TAG_LEN];
    gcm_tag.copy_from_slice(tag);
    keys.cipher()
        .open_in_place(&keys.nonce(), aad, plaintext.as_mut_slice(), &gcm_tag)
        .map_err(|_| OpenFailed)?;
    Ok(plaintext)
}

/// Bare AES-256-GCM with an explicit key and nonce, for checking the wrapper
/// against outside test vectors (Wycheproof) and for tests that build an
/// attack by hand. Not used by the protocol, and not part of the public API:
/// it exists only in this crate's own unit tests and with the `hazmat`
/// feature, which release builds do not enable.
#[cfg(any(test, feature = "hazmat"))]
pub mod raw {
    use super::*;

    /// Encrypts; returns ciphertext followed by the tag.
    pub fn encrypt(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut out = plaintext.to_vec();
        let tag = Gcm::new(key).seal_in_place(nonce, aad, &mut out);
        out.extend_from_slice(&tag);
        out
    }

    /// Decrypts ciphertext followed by a 16-byte tag.
    pub fn decrypt(
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, OpenFailed> {
        if sealed.len() < TAG_LEN {
            return Err(OpenFailed);
        }
        let (ciphertext, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        let mut out = ciphertext.to_vec();
        let mut gcm_tag = [0u8; TAG_LEN];
        gcm_tag.copy_from_slice(tag);
        Gcm::new(key)
            .open_in_place(nonce, aad, &mut out, &gcm_tag)
            .map_err(|_| OpenFailed)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL: Label = Label::MessageKeys;

    #[test]
    fn seals_and_opens() {
        let sealed = seal(LABEL, None, &[7; 32], b"ad", b"hello");
        assert_eq!(sealed.len(), 5 + OVERHEAD);
        assert_eq!(
            open(LABEL, None, &[7; 32], b"ad", &sealed)
                .unwrap()
                .as_slice(),
            b"hello"
        );
    }

    #[test]
    fn every_failure_is_the_same_error() {
        let sealed = seal(LABEL, None, &[7; 32], b"ad", b"hello");
        let mut wrong_commitment = sealed.clone();
        wrong_commitment[0] ^= 1;
        let mut wrong_tag = sealed.clone();
        *wrong_tag.last_mut().unwrap() ^= 1;
        for result in [
            open(LABEL, None, &[8; 32], b"ad", &sealed),
            open(LABEL, None, &[7; 32], b"other", &sealed),
            open(Label::StateEncryption, None, &[7; 32], b"ad", &sealed),
            open(LABEL, Some(b"salt"), &[7; 32], b"ad", &sealed),
            open(LABEL, None, &[7; 32], b"ad", &wrong_commitment),
            open(LABEL, None, &[7; 32], b"ad", &wrong_tag),
            open(LABEL, None, &[7; 32], b"ad", &sealed[..OVERHEAD - 1]),
        ] {
            assert_eq!(result, Err(OpenFailed));
        }
    }
}
