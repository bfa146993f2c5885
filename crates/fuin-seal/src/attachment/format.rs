//! The byte layout of a sealed object: its header, its chunk size, and where
//! each chunk sits for a given length.
//!
//! ```text
//! object = header (69) || chunk_0 || ... || chunk_{n-1}
//! header = version (1) || BE32(chunk_size) || context_id (32) || commitment (32)
//! chunk_i = GCM ciphertext of plaintext chunk i || tag (16)
//! ```
//!
//! Every chunk but the last holds exactly `chunk_size` plaintext bytes; the
//! last holds 1 to `chunk_size`, or 0 when the whole object is empty (then it
//! is the only chunk). So `n = max(1, ceil(len / chunk_size))`, and a sealed
//! length determines the plaintext length and every chunk boundary.

use super::AttachmentError;
use crate::primitives::chunked::{BlobHash, COMMITMENT_LEN, TAG_LEN};

/// The sealed object format version this implementation writes. It opens
/// this one and [`FormatVersion::V1`] (`spec/attachments.md` §4.1).
pub const FORMAT_VERSION: u8 = 2;
/// Bytes of a sealed object's header.
pub const HEADER_LEN: usize = 1 + 4 + 32 + COMMITMENT_LEN;
/// The smallest chunk size (one AES block), for tests and tiny objects.
pub const MIN_CHUNK_SIZE: u32 = 16;
/// The largest chunk size: what an opener must be ready to buffer per chunk.
pub const MAX_CHUNK_SIZE: u32 = 1 << 20;
/// The chunk size fuin seals with unless asked otherwise.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
/// The most chunks an object can have: chunk indexes are 32 bits.
pub const MAX_CHUNKS: u64 = 1 << 32;

/// A sealed object format version this implementation opens. The versions
/// differ only in the hash that makes the blob id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FormatVersion {
    /// `0x01`: the blob id is the object's SHA-256. Opened, never sealed.
    V1,
    /// `0x02`: the blob id is the object's BLAKE3 hash. What sealers write.
    V2,
}

impl FormatVersion {
    /// The version sealers write.
    pub const SEALED: Self = Self::V2;

    /// The version a header's first byte names, if it is one of these.
    pub fn from_byte(version: u8) -> Result<Self, AttachmentError> {
        match version {
            1 => Ok(Self::V1),
            2 => Ok(Self::V2),
            _ => Err(AttachmentError::UnsupportedVersion { version }),
        }
    }

    /// The version byte.
    pub fn byte(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }

    /// The hash that makes an object's blob id in this version.
    pub(crate) fn blob_hash(self) -> BlobHash {
        match self {
            Self::V1 => BlobHash::Sha256,
            Self::V2 => BlobHash::Blake3,
        }
    }
}

/// The plaintext bytes per chunk, within
/// [`MIN_CHUNK_SIZE`]..=[`MAX_CHUNK_SIZE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkSize(u32);

impl ChunkSize {
    /// 64 KiB.
    pub const DEFAULT: Self = Self(DEFAULT_CHUNK_SIZE);

    /// Checks `bytes` against the bounds.
    pub fn new(bytes: u32) -> Result<Self, AttachmentError> {
        if (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&bytes) {
            Ok(Self(bytes))
        } else {
            Err(AttachmentError::InvalidChunkSize { size: bytes })
        }
    }

    /// The size in bytes.
    pub fn get(self) -> u32 {
        self.0
    }

    /// The size in bytes, as an index into buffers.
    pub(crate) fn bytes(self) -> usize {
        self.0 as usize
    }

    /// Bytes of one full chunk once sealed (plaintext and tag).
    pub(crate) fn sealed_bytes(self) -> usize {
        self.bytes() + TAG_LEN
    }

    /// The length of the sealed object of a `plaintext_len`-byte plaintext,
    /// header included; fails if it would need more than [`MAX_CHUNKS`].
    pub fn sealed_len(self, plaintext_len: u64) -> Result<u64, AttachmentError> {
        Layout::for_plaintext(self, plaintext_len).map(|layout| layout.sealed_len)
    }
}

impl Default for ChunkSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Where the chunks of one object sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub chunk_size: ChunkSize,
    /// At least 1, at most [`MAX_CHUNKS`].
    pub chunks: u64,
    pub plaintext_len: u64,
    pub sealed_len: u64,
}

impl Layout {
    pub fn for_plaintext(
        chunk_size: ChunkSize,
        plaintext_len: u64,
    ) -> Result<Self, AttachmentError> {
        let chunks = plaintext_len.div_ceil(u64::from(chunk_size.get())).max(1);
        if chunks > MAX_CHUNKS {
            return Err(AttachmentError::TooLarge);
        }
        // At most 2^32 chunks of at most 2^20 + 16 bytes: no overflow.
        let sealed_len = HEADER_LEN as u64 + plaintext_len + chunks * TAG_LEN as u64;
        Ok(Self {
            chunk_size,
            chunks,
            plaintext_len,
            sealed_len,
        })
    }

    /// The layout of a `sealed_len`-byte object, if there is one.
    pub fn for_sealed(chunk_size: ChunkSize, sealed_len: u64) -> Result<Self, AttachmentError> {
        let mismatch = AttachmentError::SizeMismatch { sealed_len };
        let body = sealed_len
            .checked_sub(HEADER_LEN as u64)
            .filter(|body| *body >= TAG_LEN as u64)
            .ok_or(mismatch.clone())?;
        let unit = chunk_size.sealed_bytes() as u64;
        let chunks = body.div_ceil(unit);
        let last = body - (chunks - 1) * unit;
        // The last chunk holds its tag and, unless it is the only one, at
        // least one byte.
        if chunks > MAX_CHUNKS || last < TAG_LEN as u64 || (chunks > 1 && last == TAG_LEN as u64) {
            return Err(mismatch);
        }
        Ok(Self {
            chunk_size,
            chunks,
            plaintext_len: body - chunks * TAG_LEN as u64,
            sealed_len,
        })
    }

    /// The index of the last chunk.
    pub fn last_index(&self) -> u64 {
        self.chunks - 1
    }

    /// Plaintext bytes of chunk `index`.
    pub fn plaintext_bytes(&self, index: u64) -> usize {
        if index < self.last_index() {
            self.chunk_size.bytes()
        } else {
            // The last chunk's plaintext is at most one chunk size.
            (self.plaintext_len - self.last_index() * u64::from(self.chunk_size.get())) as usize
        }
    }

    /// Sealed bytes of chunk `index`.
    pub fn sealed_bytes(&self, index: u64) -> usize {
        self.plaintext_bytes(index) + TAG_LEN
    }
}

/// The parsed header of a sealed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub version: FormatVersion,
    pub chunk_size: ChunkSize,
    pub context_id: [u8; 32],
    pub commitment: [u8; COMMITMENT_LEN],
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = self.version.byte();
        out[1..5].copy_from_slice(&self.chunk_size.get().to_be_bytes());
        out[5..37].copy_from_slice(&self.context_id);
        out[37..].copy_from_slice(&self.commitment);
        out
    }

    /// Reads a header: the version must be one this implementation opens
    /// and the chunk size within its bounds.
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Result<Self, AttachmentError> {
        let version = FormatVersion::from_byte(bytes[0])?;
        let mut size = [0u8; 4];
        size.copy_from_slice(&bytes[1..5]);
        let chunk_size = ChunkSize::new(u32::from_be_bytes(size))?;
        let mut context_id = [0u8; 32];
        context_id.copy_from_slice(&bytes[5..37]);
        let mut commitment = [0u8; COMMITMENT_LEN];
        commitment.copy_from_slice(&bytes[37..]);
        Ok(Self {
            version,
            chunk_size,
            context_id,
            commitment,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn each_version_names_its_blob_hash() {
        assert_eq!(FormatVersion::SEALED.byte(), FORMAT_VERSION);
        assert_eq!(FormatVersion::V1.blob_hash(), BlobHash::Sha256);
        assert_eq!(FormatVersion::V2.blob_hash(), BlobHash::Blake3);
        for version in [FormatVersion::V1, FormatVersion::V2] {
            assert_eq!(FormatVersion::from_byte(version.byte()), Ok(version));
        }
    }

    #[test]
    fn chunk_sizes_outside_the_bounds_are_refused() {
        for size in [0, 1, MIN_CHUNK_SIZE - 1, MAX_CHUNK_SIZE + 1, u32::MAX] {
            assert_eq!(
                ChunkSize::new(size),
                Err(AttachmentError::InvalidChunkSize { size })
            );
        }
        assert!(ChunkSize::new(MIN_CHUNK_SIZE).is_ok());
        assert!(ChunkSize::new(MAX_CHUNK_SIZE).is_ok());
    }

    #[test]
    fn sealed_lengths_map_back_to_their_plaintext_lengths() {
        for size in [16u32, 17, 100] {
            let chunk = ChunkSize::new(size).unwrap();
            let mut valid = std::collections::BTreeSet::new();
            for len in 0..(5 * u64::from(size) + 3) {
                let layout = Layout::for_plaintext(chunk, len).unwrap();
                assert_eq!(
                    Layout::for_sealed(chunk, layout.sealed_len).unwrap(),
                    layout
                );
                valid.insert(layout.sealed_len);
                let total: usize = (0..layout.chunks).map(|i| layout.sealed_bytes(i)).sum();
                assert_eq!(HEADER_LEN as u64 + total as u64, layout.sealed_len);
            }
            // Every other length up to there has no layout.
            let top = *valid.iter().next_back().unwrap();
            for sealed_len in 0..top {
                if !valid.contains(&sealed_len) {
                    assert_eq!(
                        Layout::for_sealed(chunk, sealed_len),
                        Err(AttachmentError::SizeMismatch { sealed_len })
                    );
                }
            }
        }
    }

    #[test]
    fn the_chunk_count_is_capped() {
        let chunk = ChunkSize::new(16).unwrap();
        assert!(Layout::for_plaintext(chunk, MAX_CHUNKS * 16).is_ok());
        assert_eq!(
            Layout::for_plaintext(chunk, MAX_CHUNKS * 16 + 1),
            Err(AttachmentError::TooLarge)
        );
        let too_long = HEADER_LEN as u64 + (MAX_CHUNKS + 1) * 32;
        assert!(Layout::for_sealed(chunk, too_long).is_err());
    }

    #[test]
    fn a_header_round_trips_and_refuses_unknown_versions() {
        let header = Header {
            version: FormatVersion::SEALED,
            chunk_size: ChunkSize::DEFAULT,
            context_id: [3; 32],
            commitment: [4; 32],
        };
        let bytes = header.encode();
        assert_eq!(bytes[0], 2);
        assert_eq!(Header::parse(&bytes).unwrap(), header);
        let mut old = bytes;
        old[0] = 1;
        assert_eq!(
            Header::parse(&old).unwrap(),
            Header {
                version: FormatVersion::V1,
                ..header.clone()
            }
        );
        for version in [0, 3, 0x81, 0xff] {
            let mut other = bytes;
            other[0] = version;
            assert_eq!(
                Header::parse(&other),
                Err(AttachmentError::UnsupportedVersion { version })
            );
        }
        let mut tiny = bytes;
        tiny[1..5].copy_from_slice(&15u32.to_be_bytes());
        assert_eq!(
            Header::parse(&tiny),
            Err(AttachmentError::InvalidChunkSize { size: 15 })
        );
    }
}
