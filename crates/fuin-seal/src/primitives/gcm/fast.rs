//! The fast AES-256-GCM backend: `aws-lc-rs` (AWS-LC, a BoringSSL
//! descendant, through its Rust bindings), on x86_64 and aarch64.
//!
//! AWS-LC picks its code path at run time from the CPU's features (VAES and
//! VPCLMULQDQ, AES-NI and CLMUL, ARMv8 crypto, down to constant-time code
//! without them), so it runs on every CPU of those architectures and needs
//! no check here. See BENCHMARKS.md, "fuin-seal (AES-256-GCM backends)", for
//! why this crate.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use super::{KEY_LEN, NONCE_LEN, TAG_LEN, TagMismatch};

/// An expanded key. AWS-LC keeps it in memory it allocated itself and
/// overwrites that memory with zeros when it frees it, which dropping the
/// key does (`OPENSSL_free` cleanses every allocation).
pub(super) struct FastKey(LessSafeKey);

impl FastKey {
    /// `None` only if AWS-LC refuses the key, which it does for a key of the
    /// wrong length only; the caller then falls back to the portable one.
    pub(super) fn new(key: &[u8; KEY_LEN]) -> Option<Self> {
        UnboundKey::new(&AES_256_GCM, key)
            .ok()
            .map(|key| Self(LessSafeKey::new(key)))
    }

    /// On a refusal (inputs over GCM's limit, which [`super::Gcm`] checks
    /// first) the tag is all zeros and the value fails to open.
    pub(super) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> [u8; TAG_LEN] {
        self.0
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                buffer,
            )
            .ok()
            .and_then(|tag| <[u8; TAG_LEN]>::try_from(tag.as_ref()).ok())
            .unwrap_or_default()
    }

    /// AWS-LC decrypts before it compares the tag and leaves the buffer
    /// unspecified when the tag is wrong, so it is cleared here.
    pub(super) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), TagMismatch> {
        match self.0.open_in_place_separate_tag(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(aad),
            tag,
            buffer,
        ) {
            Ok(_) => Ok(()),
            Err(_) => {
                buffer.fill(0);
                Err(TagMismatch)
            }
        }
    }

    /// From `input` into `output` (same length, checked by the caller),
    /// without a copy; `output` is cleared when the tag is wrong.
    pub(super) fn open_into(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        input: &[u8],
        tag: &[u8; TAG_LEN],
        output: &mut [u8],
    ) -> Result<(), TagMismatch> {
        self.0
            .open_separate_gather(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                input,
                tag,
                output,
            )
            .map_err(|_| {
                output.fill(0);
                TagMismatch
            })
    }
}
