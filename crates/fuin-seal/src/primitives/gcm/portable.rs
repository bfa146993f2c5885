//! The portable AES-256-GCM backend: RustCrypto's `aes-gcm`, pure Rust. It
//! builds for every target (WASM included) and picks AES-NI/CLMUL or ARMv8
//! crypto instructions at run time where the CPU has them, constant-time
//! bitsliced code where it does not.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};

use super::{KEY_LEN, NONCE_LEN, TAG_LEN, TagMismatch};

/// An expanded key. `aes-gcm` (with its `zeroize` feature) wipes the AES
/// round keys and the GHASH key when it is dropped.
pub(super) struct PortableKey(Aes256Gcm);

impl PortableKey {
    pub(super) fn new(key: &[u8; KEY_LEN]) -> Self {
        let mut copy = Key::<Aes256Gcm>::from(*key);
        let cipher = Aes256Gcm::new(&copy);
        zeroize::Zeroize::zeroize(copy.as_mut_slice());
        Self(cipher)
    }

    /// GCM refuses only inputs over 64 GiB, far beyond any caller's limit.
    /// Were it to happen, the tag is all zeros and the value fails to open.
    pub(super) fn seal_in_place(
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

    /// `input` and `output` have the same length (checked by the caller).
    pub(super) fn seal_into(
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

    /// `aes-gcm` checks the tag before it decrypts: on failure `buffer`
    /// still holds the ciphertext.
    pub(super) fn open_in_place(
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

    /// As [`open_in_place`](Self::open_in_place), from `input` into
    /// `output` (same length, checked by the caller); on failure `output`
    /// is left untouched.
    pub(super) fn open_into(
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
