//! Why an attachment could not be sealed or opened.

use std::fmt;

/// Why an attachment could not be sealed or opened. Each variant names one
/// kind of failure, so that a client can say what happened; none carries key
/// bytes or plaintext. Whatever the variant, a failed open shows nothing.
///
/// The checks run in a fixed order (`spec/attachments.md` §7), so the same
/// bytes give the same error on every path, streaming or parallel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttachmentError {
    /// The sealed object's header has a format version this implementation
    /// does not know.
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },
    /// A chunk size outside
    /// [`MIN_CHUNK_SIZE`](super::MIN_CHUNK_SIZE)..=[`MAX_CHUNK_SIZE`](super::MAX_CHUNK_SIZE),
    /// asked for or found in a header.
    InvalidChunkSize {
        /// The size.
        size: u32,
    },
    /// The object was sealed for another context than the one it is opened
    /// with: another object id, owner, conversation or content type. A blob
    /// swapped for another one (another user's, or another object of the
    /// same user) fails here, before any chunk is opened.
    ContextMismatch,
    /// The key does not open this object: the key commitment in its header
    /// is not the one the key derives. This is a wrong key, an altered
    /// header, or a ciphertext crafted to open under two keys.
    WrongKey,
    /// The reference's size cannot be the size of an object with this
    /// header's chunk size. Only the reference's author can cause this.
    SizeMismatch {
        /// The sealed length the reference gives.
        sealed_len: u64,
    },
    /// Chunk `index` did not authenticate: it was altered, moved to another
    /// position, duplicated, taken from another object, or made final when
    /// it was not (or the reverse).
    ChunkFailed {
        /// The chunk's position, from 0.
        index: u32,
    },
    /// The object ended before the length its reference gives.
    Truncated {
        /// Bytes the reference says the object has.
        expected: u64,
        /// Bytes received.
        received: u64,
    },
    /// Bytes followed the end of the object.
    TrailingData {
        /// Bytes the reference says the object has.
        expected: u64,
    },
    /// Every chunk authenticated but the object's hash (the one its version
    /// names: BLAKE3 for version 2, SHA-256 for version 1) is not the blob id
    /// in the reference: the holder of the key made another ciphertext than
    /// the one it referenced.
    HashMismatch,
    /// The plaintext needs more chunks than the format can number (2^32).
    TooLarge,
    /// The caller's reader or writer failed.
    Io {
        /// What kind of I/O failure it was.
        kind: std::io::ErrorKind,
    },
}

impl fmt::Display for AttachmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedVersion { version } => {
                write!(f, "sealed object format version {version} is not supported")
            }
            Self::InvalidChunkSize { size } => {
                write!(f, "chunk size {size} is outside the allowed range")
            }
            Self::ContextMismatch => f.write_str(
                "the object was sealed for another owner, conversation, object or content type",
            ),
            Self::WrongKey => f.write_str("the key does not open this object"),
            Self::SizeMismatch { sealed_len } => write!(
                f,
                "the reference's size of {sealed_len} bytes does not fit the object's chunk size"
            ),
            Self::ChunkFailed { index } => write!(f, "chunk {index} did not authenticate"),
            Self::Truncated { expected, received } => write!(
                f,
                "the object ended after {received} of its {expected} bytes"
            ),
            Self::TrailingData { expected } => {
                write!(f, "bytes follow the end of the object ({expected} bytes)")
            }
            Self::HashMismatch => f.write_str("the object's hash is not the referenced blob id"),
            Self::TooLarge => f.write_str("the object needs more than 2^32 chunks"),
            Self::Io { kind } => write!(f, "reading or writing the object failed: {kind}"),
        }
    }
}

impl std::error::Error for AttachmentError {}

impl From<std::io::Error> for AttachmentError {
    /// An I/O error that carries an attachment error (as the sealing and
    /// opening writers return them) gives that error back; any other is
    /// [`AttachmentError::Io`].
    fn from(err: std::io::Error) -> Self {
        match err.get_ref().and_then(|inner| inner.downcast_ref::<Self>()) {
            Some(inner) => inner.clone(),
            None => Self::Io { kind: err.kind() },
        }
    }
}

impl From<AttachmentError> for std::io::Error {
    fn from(err: AttachmentError) -> Self {
        match err {
            AttachmentError::Io { kind } => kind.into(),
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other),
        }
    }
}
