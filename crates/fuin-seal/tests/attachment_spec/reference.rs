//! The computations of `spec/attachments.md`, written a second time directly
//! on sha2, hkdf, aes-gcm and blake3 rather than through fuin-seal: sealing
//! (§2-§6, either format version) and opening (§7, the nine checks in their
//! order). The generator computes every value of the vectors with it, and the
//! tests check that fuin-seal produces the same bytes and the same errors.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};
use sha2::{Digest, Sha256};

/// §1: the header length `H`.
pub const HEADER_LEN: usize = 69;
/// §1: the GCM tag at the end of every chunk.
pub const TAG_LEN: usize = 16;
/// §1: the bounds of the chunk size `c`.
pub const MIN_CHUNK_SIZE: u32 = 16;
pub const MAX_CHUNK_SIZE: u32 = 1 << 20;
/// §1: the default chunk size.
pub const DEFAULT_CHUNK_SIZE: u32 = 1 << 16;
/// §1: the most chunks an object has (a 32-bit index in the nonce).
pub const MAX_CHUNKS: u64 = 1 << 32;
/// §4.1: the version a sealer writes, blob id BLAKE3.
pub const VERSION_BLAKE3: u8 = 0x02;
/// §4.1: the version that is opened but never sealed, blob id SHA-256.
pub const VERSION_SHA256: u8 = 0x01;

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

/// BLAKE3 in its default hash mode, 32 bytes of output.
pub fn blake3(data: &[u8]) -> [u8; 32] {
    blake3::hash(data).into()
}

/// §4.1: the blob id of a sealed object of `version`, or `None` for a
/// version that names no hash.
pub fn blob_id(version: u8, object: &[u8]) -> Option<[u8; 32]> {
    match version {
        VERSION_SHA256 => Some(sha256(object)),
        VERSION_BLAKE3 => Some(blake3(object)),
        _ => None,
    }
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
pub fn header(
    version: u8,
    chunk_size: u32,
    context_id: &[u8; 32],
    commitment: &[u8; 32],
) -> Vec<u8> {
    let mut out = vec![version];
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

/// AES-256-GCM: the plaintext of `ciphertext || tag`, or `None` if it does
/// not authenticate.
pub fn gcm_open(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let split = sealed.len().checked_sub(TAG_LEN)?;
    let (ciphertext, tag) = sealed.split_at(split);
    let tag: [u8; TAG_LEN] = tag.try_into().ok()?;
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    let mut out = ciphertext.to_vec();
    cipher
        .decrypt_inout_detached(
            &Nonce::from(*nonce),
            aad,
            out.as_mut_slice().into(),
            &Tag::from(tag),
        )
        .ok()?;
    Some(out)
}

/// §4: the plaintext chunks: all of `chunk_size` bytes but the last, which
/// has 1 to `chunk_size` (0 only when the plaintext is empty).
pub fn split(plaintext: &[u8], chunk_size: u32) -> Vec<&[u8]> {
    if plaintext.is_empty() {
        return vec![&[]];
    }
    plaintext.chunks(chunk_size as usize).collect()
}

/// §6: the sealed object, from the object key and context id (the random
/// object id is already in the context id).
pub fn seal(
    version: u8,
    key: &[u8; 32],
    context_id: &[u8; 32],
    chunk_size: u32,
    plaintext: &[u8],
) -> Vec<u8> {
    let keys = keys(key, context_id, chunk_size);
    let header = header(version, chunk_size, context_id, &keys.commitment);
    let pieces = split(plaintext, chunk_size);
    let mut sealed = header.clone();
    for (index, piece) in pieces.iter().enumerate() {
        let last = index + 1 == pieces.len();
        let nonce = nonce(&keys.nonce_prefix, index as u32, last);
        let (ciphertext, tag) = gcm_seal(&keys.gcm_key, &nonce, &header, piece);
        sealed.extend_from_slice(&ciphertext);
        sealed.extend_from_slice(&tag);
    }
    sealed
}

/// §4: where the chunks of an object of `sealed_len` bytes sit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// `n`, the number of chunks.
    pub chunks: u64,
    /// `u = c + 16`, the sealed length of every chunk but the last.
    pub unit: u64,
    /// The sealed length of the last chunk.
    pub last_len: u64,
}

impl Layout {
    /// The byte range of chunk `index` in the object.
    pub fn chunk(&self, index: u64) -> (u64, u64) {
        let start = HEADER_LEN as u64 + index * self.unit;
        let len = if index + 1 == self.chunks {
            self.last_len
        } else {
            self.unit
        };
        (start, start + len)
    }
}

/// §4: the layout of `sealed_len` for chunk size `chunk_size`, or `None`
/// when that length has none.
pub fn layout(sealed_len: u64, chunk_size: u32) -> Option<Layout> {
    let body = sealed_len.checked_sub(HEADER_LEN as u64)?;
    if body < TAG_LEN as u64 {
        return None;
    }
    let unit = u64::from(chunk_size) + TAG_LEN as u64;
    let chunks = body.div_ceil(unit);
    let last_len = body - (chunks - 1) * unit;
    let least = if chunks > 1 {
        TAG_LEN as u64 + 1
    } else {
        TAG_LEN as u64
    };
    if last_len < least || chunks > MAX_CHUNKS {
        return None;
    }
    Some(Layout {
        chunks,
        unit,
        last_len,
    })
}

/// §7: the errors of opening, named and shaped as the spec names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenError {
    Truncated { expected: u64, received: u64 },
    UnsupportedVersion { version: u8 },
    InvalidChunkSize { size: u32 },
    ContextMismatch,
    WrongKey,
    SizeMismatch { sealed_len: u64 },
    ChunkFailed { index: u64 },
    TrailingData { expected: u64 },
    HashMismatch,
}

/// What §7 gives an opener besides the bytes: the object's key, the context
/// id of the context it expects, and the reference's blob id and length.
#[derive(Clone, Debug)]
pub struct Expected {
    pub key: [u8; 32],
    pub context_id: [u8; 32],
    pub blob_id: [u8; 32],
    pub sealed_len: u64,
}

/// Equality of two byte strings without an early exit, as §7 asks of steps
/// 4 and 5.
fn equal_in_constant_time(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// §7: opens `blob`, checking in the spec's order and stopping at the first
/// failure; the step that failed comes with the error.
pub fn open_with_step(expected: &Expected, blob: &[u8]) -> Result<Vec<u8>, (u8, OpenError)> {
    let received = blob.len() as u64;
    // Step 1.
    if blob.len() < HEADER_LEN {
        return Err((
            1,
            OpenError::Truncated {
                expected: expected.sealed_len,
                received,
            },
        ));
    }
    let header = &blob[..HEADER_LEN];
    // Step 2.
    let version = header[0];
    if version != VERSION_SHA256 && version != VERSION_BLAKE3 {
        return Err((2, OpenError::UnsupportedVersion { version }));
    }
    // Step 3.
    let chunk_size = u32::from_be_bytes(header[1..5].try_into().unwrap());
    if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
        return Err((3, OpenError::InvalidChunkSize { size: chunk_size }));
    }
    // Step 4.
    let context_id: [u8; 32] = header[5..37].try_into().unwrap();
    if !equal_in_constant_time(&context_id, &expected.context_id) {
        return Err((4, OpenError::ContextMismatch));
    }
    // Step 5.
    let keys = keys(&expected.key, &expected.context_id, chunk_size);
    let commitment: [u8; 32] = header[37..69].try_into().unwrap();
    if !equal_in_constant_time(&commitment, &keys.commitment) {
        return Err((5, OpenError::WrongKey));
    }
    // Step 6.
    let Some(layout) = layout(expected.sealed_len, chunk_size) else {
        return Err((
            6,
            OpenError::SizeMismatch {
                sealed_len: expected.sealed_len,
            },
        ));
    };
    // Step 7: the chunks whose bytes all arrived, in index order.
    let mut plaintext = Vec::new();
    for index in 0..layout.chunks {
        let (start, end) = layout.chunk(index);
        if end > received {
            break;
        }
        let last = index + 1 == layout.chunks;
        let nonce = nonce(&keys.nonce_prefix, index as u32, last);
        let chunk = &blob[start as usize..end as usize];
        match gcm_open(&keys.gcm_key, &nonce, header, chunk) {
            Some(piece) => plaintext.extend_from_slice(&piece),
            None => return Err((7, OpenError::ChunkFailed { index })),
        }
    }
    // Step 8.
    if received < expected.sealed_len {
        return Err((
            8,
            OpenError::Truncated {
                expected: expected.sealed_len,
                received,
            },
        ));
    }
    if received > expected.sealed_len {
        return Err((
            8,
            OpenError::TrailingData {
                expected: expected.sealed_len,
            },
        ));
    }
    // Step 9.
    let hash = blob_id(version, blob).unwrap();
    if !equal_in_constant_time(&hash, &expected.blob_id) {
        return Err((9, OpenError::HashMismatch));
    }
    Ok(plaintext)
}

/// §7: opens `blob`.
pub fn open(expected: &Expected, blob: &[u8]) -> Result<Vec<u8>, OpenError> {
    open_with_step(expected, blob).map_err(|(_, error)| error)
}
