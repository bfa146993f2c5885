//! AES-256-GCM behind one interface: the only place in the crate that names
//! an AES-GCM implementation. The key-committing AEAD ([`super::aead`]) and
//! the attachment chunks ([`super::chunked`]) use [`Gcm`] and nothing else.
//!
//! The interface is detached (the tag is returned and taken apart from the
//! ciphertext) and works in place or from one buffer into another, which is
//! what both users need without an extra copy.
//!
//! Two backends, chosen when a key is expanded (BENCHMARKS.md, "fuin-seal
//! (AES-256-GCM backends)", has the measurements behind the choice):
//!
//! - fast: `aws-lc-rs`, compiled and used on x86_64 and aarch64 (every
//!   target the SDK ships for), where it picks its own code for the CPU;
//! - portable: `aes-gcm` (pure Rust) everywhere else (WASM, other
//!   architectures), and on every target when the crate's `portable-aead`
//!   feature is on.
//!
//! Both give the same bytes; the tests run the Wycheproof vectors against
//! each and check them against each other.

mod portable;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod fast;

#[cfg(test)]
pub(super) mod tests;

use portable::PortableKey;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use fast::FastKey;

/// Bytes of an AES-256-GCM key.
pub const KEY_LEN: usize = 32;
/// Bytes of a GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Bytes of a GCM tag.
pub const TAG_LEN: usize = 16;

/// The longest plaintext GCM allows under one nonce (NIST SP 800-38D:
/// 2^39 - 256 bits). Checked here so that both backends refuse the same
/// inputs; no caller comes near it.
const MAX_TEXT_LEN: u64 = (1 << 36) - 32;

/// A GCM tag did not verify. Deliberately carries nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagMismatch;

/// An AES-256-GCM implementation that [`Gcm`] can run on, for tests and
/// benches that check one against the other.
#[cfg(any(test, feature = "hazmat"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `aes-gcm`, pure Rust, on every target.
    Portable,
    /// `aws-lc-rs`, on x86_64 and aarch64.
    Fast,
}

/// An expanded AES-256-GCM key. The expanded key is wiped on drop (by
/// either backend); `Debug` shows nothing.
pub struct Gcm(Expanded);

// The portable key holds its round keys and hash key inline, the fast one
// a pointer to AWS-LC's; boxing the first would cost an allocation per
// message on targets that have only it.
#[allow(clippy::large_enum_variant)]
enum Expanded {
    Portable(PortableKey),
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    Fast(FastKey),
}

impl Gcm {
    /// Expands `key` for the fastest backend this target and CPU allow.
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        if !cfg!(feature = "portable-aead")
            && let Some(fast) = FastKey::new(key)
        {
            return Self(Expanded::Fast(fast));
        }
        Self(Expanded::Portable(PortableKey::new(key)))
    }

    /// Expands `key` for `backend`, or `None` when this target has no such
    /// backend. Ignores the `portable-aead` feature, so that both
    /// backends stay testable under it.
    #[cfg(any(test, feature = "hazmat"))]
    pub fn with_backend(backend: Backend, key: &[u8; KEY_LEN]) -> Option<Self> {
        match backend {
            Backend::Portable => Some(Self(Expanded::Portable(PortableKey::new(key)))),
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Backend::Fast => FastKey::new(key).map(|fast| Self(Expanded::Fast(fast))),
            #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
            Backend::Fast => None,
        }
    }

    /// The backend this key was expanded for.
    #[cfg(any(test, feature = "hazmat"))]
    pub fn backend(&self) -> Backend {
        match self.0 {
            Expanded::Portable(_) => Backend::Portable,
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Expanded::Fast(_) => Backend::Fast,
        }
    }

    /// Encrypts `buffer` in place and returns the tag.
    ///
    /// GCM refuses only inputs over 64 GiB, far beyond any caller's limit.
    /// Were it to happen, the buffer is left as it is and the tag is all
    /// zeros, so the value fails to open: a safe failure, never a wrong
    /// plaintext.
    pub fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> [u8; TAG_LEN] {
        if too_long(buffer) {
            return [0; TAG_LEN];
        }
        match &self.0 {
            Expanded::Portable(key) => key.seal_in_place(nonce, aad, buffer),
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Expanded::Fast(key) => key.seal_in_place(nonce, aad, buffer),
        }
    }

    /// Encrypts `input` into `output` and returns the tag. The two must have
    /// the same length; if they do not (or the input is over GCM's limit),
    /// nothing is written and the tag is all zeros (the value then fails to
    /// open).
    pub fn seal_into(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> [u8; TAG_LEN] {
        if input.len() != output.len() || too_long(input) {
            return [0; TAG_LEN];
        }
        match &self.0 {
            Expanded::Portable(key) => key.seal_into(nonce, aad, input, output),
            // AWS-LC seals in place only.
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Expanded::Fast(key) => {
                output.copy_from_slice(input);
                key.seal_in_place(nonce, aad, output)
            }
        }
    }

    /// Checks `tag` and decrypts `buffer` in place. On failure `buffer`
    /// holds no plaintext: it is left as the ciphertext or zeroed.
    pub fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), TagMismatch> {
        if too_long(buffer) {
            return Err(TagMismatch);
        }
        match &self.0 {
            Expanded::Portable(key) => key.open_in_place(nonce, aad, buffer, tag),
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Expanded::Fast(key) => key.open_in_place(nonce, aad, buffer, tag),
        }
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
        if input.len() != output.len() || too_long(input) {
            return Err(TagMismatch);
        }
        match &self.0 {
            Expanded::Portable(key) => key.open_into(nonce, aad, input, tag, output),
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Expanded::Fast(key) => key.open_into(nonce, aad, input, tag, output),
        }
    }
}

/// Whether `text` is over GCM's limit for one nonce.
fn too_long(text: &[u8]) -> bool {
    u64::try_from(text.len()).map_or(true, |len| len > MAX_TEXT_LEN)
}

impl std::fmt::Debug for Gcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gcm(<redacted>)")
    }
}
