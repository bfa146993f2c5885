//! AES-256-GCM behind one interface: the only place in the crate that names
//! an AES-GCM implementation. The key-committing AEAD ([`super::aead`]) and
//! the attachment chunks ([`super::chunked`]) use [`Gcm`] and nothing else.
//!
//! The interface is detached (the tag is returned and taken apart from the
//! ciphertext) and works in place or from one buffer into another, which is
//! what both users need without an extra copy.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};

/// Bytes of an AES-256-GCM key.
pub const KEY_LEN: usize = 32;
/// Bytes of a GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Bytes of a GCM tag.
pub const TAG_LEN: usize = 16;

/// A GCM tag did not verify. Deliberately carries nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagMismatch;

/// An expanded AES-256-GCM key. The expanded key schedule is wiped on drop;
/// `Debug` shows nothing.
pub struct Gcm(Aes256Gcm);

impl Gcm {
    /// Expands `key`.
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        let mut expanded = Key::<Aes256Gcm>::from(*key);
        let cipher = Aes256Gcm::new(&expanded);
        zeroize::Zeroize::zeroize(expanded.as_mut_slice());
        Self(cipher)
    }

    /// Encrypts `buffer` in place and returns the tag.
    ///
    /// GCM refuses only inputs over 64 GiB, far beyond any caller's limit.
    /// Were it to happen, the tag is all zeros and the value fails to open:
    /// a safe failure, never a wrong plaintext.
    pub fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> [u8; TAG_LEN] {
        self.0
            .encrypt_inout_detached(&Nonce::from(*nonce), aad, buffer.into())
            .map(Into::into)
            .unwrap_or_default()
    }

    /// Encrypts `input` into `output` and returns the tag. The two must have
    /// the same length; if they do not, nothing is written and the tag is
    /// all zeros (the value then fails to open).
    pub fn seal_into(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> [u8; TAG_LEN] {
        let Ok(buffer) = InOutBuf::new(input, output) else {
            return [0; TAG_LEN];
        };
        self.0
            .encrypt_inout_detached(&Nonce::from(*nonce), aad, buffer)
            .map(Into::into)
            .unwrap_or_default()
    }

    /// Checks `tag` and decrypts `buffer` in place. On failure `buffer`
    /// holds no plaintext (it is left as the ciphertext or zeroed).
    pub fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), TagMismatch> {
        self.0
            .decrypt_inout_detached(&Nonce::from(*nonce), aad, buffer.into(), &Tag::from(*tag))
            .map_err(|_| TagMismatch)
    }

    /// Checks `tag` and decrypts `input` into `output` (of the same length).
    /// On failure `output` holds no plaintext: it is left untouched or
    /// zeroed.
    pub fn open_into(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        input: &[u8],
        tag: &[u8; TAG_LEN],
        output: &mut [u8],
    ) -> Result<(), TagMismatch> {
        let buffer = InOutBuf::new(input, output).map_err(|_| TagMismatch)?;
        self.0
            .decrypt_inout_detached(&Nonce::from(*nonce), aad, buffer, &Tag::from(*tag))
            .map_err(|_| TagMismatch)
    }
}

impl std::fmt::Debug for Gcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gcm(<redacted>)")
    }
}
