//! Where blob bytes live: an object store behind [`BlobStore`], outside the
//! database (`spec/relay-operations.md` §8.4).
//!
//! The database keeps each blob's record (id, length, expiry, capabilities);
//! the blob store keeps its bytes, one object per blob named by the id in
//! hex. Two rules keep the two consistent without a transaction across them:
//!
//! - **Bytes first.** An upload writes the object and waits until it is
//!   durable, then commits the record. A crash in between leaves an object
//!   without a record, never a record without its object.
//! - **Orphans are swept.** The relay's sweep deletes every object that has
//!   no record and was last written more than a grace period ago (expired
//!   blobs, and the leftovers of crashed uploads). The grace period covers an
//!   upload that has written its object and not yet committed its record;
//!   every upload rewrites its object, so an object being uploaded is always
//!   young.
//!
//! Reads check what comes back: an object whose length or hash
//! ([`blob_hash`]) is not its record's is reported as damaged and not
//! served.

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use bytes::Bytes;
use fuin_wire::BlobId;
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError};

pub mod fs;
pub mod memory;
pub mod s3;

pub use fs::FsBlobStore;
pub use memory::MemoryBlobStore;
pub use s3::{S3BlobStore, S3Settings};

/// What a [`BlobStore`] operation returns.
pub type BlobFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, BlobStoreError>> + Send + 'a>>;

/// Why a blob store operation failed. The reason names the operation and
/// the kind of failure, never bytes, credentials or a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobStoreError {
    /// The operation (`put`, `get`, `delete`, `list`, `open`).
    pub operation: &'static str,
    /// What went wrong, in words.
    pub reason: String,
}

impl BlobStoreError {
    /// An error of `operation`.
    pub fn new(operation: &'static str, reason: impl Into<String>) -> Self {
        Self {
            operation,
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for BlobStoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "blob store failed: {}: {}", self.operation, self.reason)
    }
}

impl std::error::Error for BlobStoreError {}

/// One object in a blob store, as listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredObject {
    /// The blob it holds.
    pub blob_id: BlobId,
    /// When it was last written.
    pub modified: SystemTime,
}

/// An object store for blob bytes, one object per blob id. Implementations
/// are shared by every request of a relay (and, for a shared store, by
/// several relays), so each operation is atomic on its own: a reader sees a
/// whole object or none.
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `bytes` as the object of `blob_id`, replacing any object
    /// there, and returns once it is durable. The object's modification
    /// time becomes now, also when it held the same bytes before.
    fn put(&self, blob_id: BlobId, bytes: Bytes) -> BlobFuture<'_, ()>;

    /// The object of `blob_id`; `None` if there is none. Of an object
    /// longer than `max_len` only the first `max_len + 1` bytes are read,
    /// so that the caller sees it is too long without holding all of it.
    fn get(&self, blob_id: BlobId, max_len: u64) -> BlobFuture<'_, Option<Bytes>>;

    /// Deletes the object of `blob_id`; deleting a missing object succeeds.
    fn delete(&self, blob_id: BlobId) -> BlobFuture<'_, ()>;

    /// Deletes the object of `blob_id` if it was last written before
    /// `cutoff`; returns whether it deleted it. The sweep uses it so that
    /// an object rewritten since it was listed is kept.
    fn delete_if_older(&self, blob_id: BlobId, cutoff: SystemTime) -> BlobFuture<'_, bool>;

    /// Every object in the store.
    fn list(&self) -> BlobFuture<'_, Vec<StoredObject>>;

    /// Deletes what interrupted writes left behind (temporary files) that
    /// is older than `cutoff`; returns how many it deleted. Stores whose
    /// writes leave nothing behind need not do anything.
    fn remove_leftovers(&self, cutoff: SystemTime) -> BlobFuture<'_, u64> {
        let _ = cutoff;
        Box::pin(async { Ok(0) })
    }

    /// Where the objects are, for the operator (a directory, a bucket at an
    /// endpoint); never credentials.
    fn location(&self) -> String;
}

/// The name of a blob's object: its id in lowercase hex.
pub fn object_name(blob_id: &BlobId) -> String {
    hex::encode(blob_id.0)
}

/// A blob id from an object name, if the name is one.
pub fn blob_id_of(name: &str) -> Option<BlobId> {
    let mut id = [0u8; 32];
    if name.len() != 64 || name.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    hex::decode_to_slice(name, &mut id).ok()?;
    Some(BlobId(id))
}

/// The first byte of a sealed attachment of format version 2, whose blob id
/// is its BLAKE3 hash (`spec/attachments.md` §4.1).
const BLAKE3_NAMED: u8 = 0x02;

/// The hash that names a blob (`spec/relay-api.md` §4.12): BLAKE3 if its
/// first byte is `0x02`, SHA-256 otherwise (version 1 attachments and any
/// other bytes). The first byte is all the relay reads of a blob.
pub fn blob_hash(bytes: &[u8]) -> [u8; 32] {
    if bytes.first() == Some(&BLAKE3_NAMED) {
        *blake3::hash(bytes).as_bytes()
    } else {
        Sha256::digest(bytes).into()
    }
}

/// Why a blob could not be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobReadError {
    /// The object is missing, or its length or hash is not the record's.
    Damaged(&'static str),
    /// The blob store failed.
    Store(BlobStoreError),
}

/// Reads the object of `blob_id` and checks it against the record: exactly
/// `len` bytes whose hash ([`blob_hash`]) is the id.
pub async fn read_checked(
    blobs: &dyn BlobStore,
    blob_id: BlobId,
    len: u64,
) -> Result<Bytes, BlobReadError> {
    let bytes = blobs
        .get(blob_id, len)
        .await
        .map_err(BlobReadError::Store)?
        .ok_or(BlobReadError::Damaged("its object is missing"))?;
    if bytes.len() as u64 != len {
        return Err(BlobReadError::Damaged("its object has another length"));
    }
    // Hashing up to the blob limit takes long enough to hold up other
    // requests on this thread: it runs on the blocking pool.
    let hashed = bytes.clone();
    let digest = tokio::task::spawn_blocking(move || blob_hash(&hashed))
        .await
        .map_err(|_| BlobReadError::Store(BlobStoreError::new("get", "the hash task failed")))?;
    if digest != blob_id.0 {
        return Err(BlobReadError::Damaged("its object's hash is not its id"));
    }
    Ok(bytes)
}

/// How many ids one record look-up of the sweep names.
const SWEEP_BATCH: usize = 500;

/// Deletes the objects that have no record in `store` and were last written
/// before `cutoff`, and the leftovers of interrupted writes older than
/// `cutoff`; returns how many objects it deleted.
pub async fn sweep_orphans<S: Store>(
    store: &S,
    blobs: &dyn BlobStore,
    cutoff: SystemTime,
) -> Result<u64, StoreError> {
    let failed = |err: BlobStoreError| StoreError::Backend(format!("blob sweep: {err}"));
    blobs.remove_leftovers(cutoff).await.map_err(failed)?;
    let old: Vec<BlobId> = blobs
        .list()
        .await
        .map_err(failed)?
        .into_iter()
        .filter(|object| object.modified < cutoff)
        .map(|object| object.blob_id)
        .collect();
    let mut deleted = 0;
    for batch in old.chunks(SWEEP_BATCH) {
        let recorded = store.recorded_blobs(batch).await?;
        for blob_id in batch.iter().filter(|id| !recorded.contains(id)) {
            if blobs
                .delete_if_older(*blob_id, cutoff)
                .await
                .map_err(failed)?
            {
                deleted += 1;
            }
        }
    }
    Ok(deleted)
}

/// Moves the bytes of blobs that an older relay kept in the database into
/// `blobs`, one blob at a time: each object is written and durable before
/// its record drops the bytes, so an interrupted move loses nothing and the
/// next start finishes it. Returns how many blobs it moved.
pub async fn move_database_blobs<S: Store>(
    store: &S,
    blobs: &dyn BlobStore,
) -> Result<u64, StoreError> {
    let failed = |err: BlobStoreError| StoreError::Backend(format!("blob move: {err}"));
    let mut moved = 0;
    for blob_id in store.blobs_in_database().await? {
        // Gone meanwhile (expired, or moved by another relay).
        let Some(content) = store.blob_bytes_in_database(&blob_id).await? else {
            continue;
        };
        let len = content.len() as u64;
        blobs
            .put(blob_id, Bytes::from(content))
            .await
            .map_err(failed)?;
        store.blob_bytes_moved(&blob_id, len).await?;
        moved += 1;
    }
    if moved > 0 {
        // The file would otherwise keep the blobs' size as free pages.
        store.reclaim_space().await?;
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_starting_with_2_is_named_by_blake3_and_any_other_by_sha256() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            hex::encode(blob_hash(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        for first in [0x00, 0x01, 0x03, 0xff] {
            let blob = [first, 9, 9, 9];
            assert_eq!(blob_hash(&blob), <[u8; 32]>::from(Sha256::digest(blob)));
        }
        let sealed_v2 = [0x02, 9, 9, 9];
        assert_eq!(blob_hash(&sealed_v2), *blake3::hash(&sealed_v2).as_bytes());
        assert_ne!(
            blob_hash(&sealed_v2),
            <[u8; 32]>::from(Sha256::digest(sealed_v2))
        );
        assert_eq!(blob_hash(b""), <[u8; 32]>::from(Sha256::digest(b"")));
    }
}
