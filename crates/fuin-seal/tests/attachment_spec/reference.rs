//! The computations of `spec/attachments.md`, written a second time directly
//! on sha2, hkdf and aes-gcm rather than through fuin-seal. The generator
//! computes every value of the vectors with it, and the test checks that
//! fuin-seal produces the same bytes.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use sha2::{Digest, Sha256};

pub const HEADER_LEN: usize = 69;

/// `framed(fields)`: each field as a 4-byte big-endian length and its bytes.
pub fn framed(fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        out.extend_from_slice(&(field.len() as u32).to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// spec/protocol.md §9.3.
pub fn direct_conversation(a: &str, b: &str) -> [u8; 32] {
    let (first, second) = if a.as_bytes() <= b.as_bytes() {
        (a, b)
    } else {
        (b, a)
    };
    sha256(&framed(&[
        b"fuin/v1/direct-conversation",
        first.as_bytes(),
        second.as_bytes(),
    ]))
}

/// §2: the framed context and its hash.
pub fn context(
    owner_user: &str,
    owner_device: u32,
    conversation: &[u8; 32],
    object_id: &[u8; 16],
    content_type: &str,
) -> (Vec<u8>, [u8; 32]) {
    let framed = framed(&[
        b"fuin/v1/attachment-context",
        owner_user.as_bytes(),
        &owner_device.to_be_bytes(),
        conversation,
        object_id,
        content_type.as_bytes(),
    ]);
    let id = sha256(&framed);
    (framed, id)
}

pub struct Keys {
    pub info: Vec<u8>,
    pub gcm_key: [u8; 32],
    pub nonce_prefix: [u8; 7],
    pub commitment: [u8; 32],
}

/// §3: the key schedule.
pub fn keys(key: &[u8; 32], context_id: &[u8; 32], chunk_size: u32) -> Keys {
    let mut info = b"fuin/v1/attachment-keys".to_vec();
    info.extend_from_slice(context_id);
    info.extend_from_slice(&chunk_size.to_be_bytes());
    let mut derived = [0u8; 71];
    hkdf::Hkdf::<Sha256>::new(None, key)
        .expand(&info, &mut derived)
        .unwrap();
    Keys {
        info,
        gcm_key: derived[..32].try_into().unwrap(),
        nonce_prefix: derived[32..39].try_into().unwrap(),
        commitment: derived[39..].try_into().unwrap(),
    }
}

/// §4: the header.
pub fn header(chunk_size: u32, context_id: &[u8; 32], commitment: &[u8; 32]) -> Vec<u8> {
    let mut out = vec![1u8];
    out.extend_from_slice(&chunk_size.to_be_bytes());
    out.extend_from_slice(context_id);
    out.extend_from_slice(commitment);
    assert_eq!(out.len(), HEADER_LEN);
    out
}

/// §5: the nonce of chunk `index`.
pub fn nonce(prefix: &[u8; 7], index: u32, last: bool) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..7].copy_from_slice(prefix);
    out[7..11].copy_from_slice(&index.to_be_bytes());
    out[11] = u8::from(last);
    out
}

/// AES-256-GCM: ciphertext and tag.
pub fn gcm_seal(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    plaintext: &[u8],
) -> (Vec<u8>, [u8; 16]) {
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    let mut out = plaintext.to_vec();
    let tag = cipher
        .encrypt_inout_detached(&Nonce::from(*nonce), aad, out.as_mut_slice().into())
        .unwrap();
    (out, tag.into())
}

/// §5: the plaintext chunks: all of `chunk_size` bytes but the last, which
/// has 1 to `chunk_size` (0 only when the plaintext is empty).
pub fn split(plaintext: &[u8], chunk_size: u32) -> Vec<&[u8]> {
    if plaintext.is_empty() {
        return vec![&[]];
    }
    plaintext.chunks(chunk_size as usize).collect()
}
