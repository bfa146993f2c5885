//! Where the plaintext of an attachment to send comes from: a file, bytes
//! in memory, or any async stream.

use std::io::Read;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::io::AsyncRead;

use super::file_error;
use crate::ClientError;

/// The plaintext of an attachment to send. Whatever the source, it is read
/// once, sealed in bounded memory into a temporary file of ciphertext, and
/// only then uploaded.
pub enum AttachmentSource {
    /// The file at this path; its name is the default display name, its
    /// extension gives the default media type, and PNG and JPEG images get
    /// a thumbnail.
    Path(PathBuf),
    /// Bytes in memory (PNG and JPEG images get a thumbnail).
    Bytes(Bytes),
    /// Any stream, read to its end (no thumbnail: it is read only once).
    /// With `len`, a stream that ends before it or goes past it is refused
    /// (and nothing is uploaded), and the limit is checked before the first
    /// byte is read; without, the limit is checked as the bytes arrive.
    Reader {
        /// The stream.
        reader: Box<dyn AsyncRead + Send + Unpin>,
        /// Its length, if known.
        len: Option<u64>,
    },
}

impl std::fmt::Debug for AttachmentSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(path) => f.debug_tuple("Path").field(path).finish(),
            Self::Bytes(bytes) => f.debug_struct("Bytes").field("len", &bytes.len()).finish(),
            Self::Reader { len, .. } => f.debug_struct("Reader").field("len", len).finish(),
        }
    }
}

impl AttachmentSource {
    /// The file at `path`.
    pub fn path(path: impl Into<PathBuf>) -> Self {
        Self::Path(path.into())
    }

    /// Bytes in memory.
    pub fn bytes(bytes: impl Into<Bytes>) -> Self {
        Self::Bytes(bytes.into())
    }

    /// A stream, of `len` bytes if known.
    pub fn reader(reader: impl AsyncRead + Send + Unpin + 'static, len: Option<u64>) -> Self {
        Self::Reader {
            reader: Box::new(reader),
            len,
        }
    }

    /// The path, for the default name and media type.
    pub(super) fn file_path(&self) -> Option<&Path> {
        match self {
            Self::Path(path) => Some(path),
            _ => None,
        }
    }

    /// Opens the source for blocking reads, and says its length if known.
    /// Must run inside the runtime (a stream is bridged to the thread that
    /// seals by the runtime's handle).
    pub(super) fn open(self) -> Result<(Box<dyn Read + Send>, Option<u64>), ClientError> {
        match self {
            Self::Path(path) => {
                let file = std::fs::File::open(&path).map_err(file_error("opening", &path))?;
                let len = file.metadata().map_err(file_error("reading", &path))?.len();
                Ok((Box::new(file), Some(len)))
            }
            Self::Bytes(bytes) => {
                let len = bytes.len() as u64;
                Ok((Box::new(std::io::Cursor::new(bytes)), Some(len)))
            }
            Self::Reader { reader, len } => {
                Ok((Box::new(tokio_util::io::SyncIoBridge::new(reader)), len))
            }
        }
    }
}
