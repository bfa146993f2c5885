//! A blob store in memory: what [`crate::Relay::new`] uses when it is given
//! none (tests, demos). Its blobs end with the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use bytes::Bytes;
use fuin_wire::BlobId;

use super::{BlobFuture, BlobStore, StoredObject};

/// Each object's bytes and the time it was written, by blob id.
type Objects = HashMap<[u8; 32], (Bytes, SystemTime)>;

/// Blobs in a map, with the time each was written.
#[derive(Debug, Clone, Default)]
pub struct MemoryBlobStore {
    objects: Arc<Mutex<Objects>>,
}

impl MemoryBlobStore {
    fn objects(&self) -> std::sync::MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl BlobStore for MemoryBlobStore {
    fn put(&self, blob_id: BlobId, bytes: Bytes) -> BlobFuture<'_, ()> {
        self.objects().insert(blob_id.0, (bytes, SystemTime::now()));
        Box::pin(async { Ok(()) })
    }

    fn get(&self, blob_id: BlobId, max_len: u64) -> BlobFuture<'_, Option<Bytes>> {
        let limit = usize::try_from(max_len.saturating_add(1)).unwrap_or(usize::MAX);
        let found = self
            .objects()
            .get(&blob_id.0)
            .map(|(bytes, _)| bytes.slice(..bytes.len().min(limit)));
        Box::pin(async move { Ok(found) })
    }

    fn delete(&self, blob_id: BlobId) -> BlobFuture<'_, ()> {
        self.objects().remove(&blob_id.0);
        Box::pin(async { Ok(()) })
    }

    fn delete_if_older(&self, blob_id: BlobId, cutoff: SystemTime) -> BlobFuture<'_, bool> {
        let mut objects = self.objects();
        let old = objects
            .get(&blob_id.0)
            .is_some_and(|(_, modified)| *modified < cutoff);
        if old {
            objects.remove(&blob_id.0);
        }
        Box::pin(async move { Ok(old) })
    }

    fn list(&self) -> BlobFuture<'_, Vec<StoredObject>> {
        let objects = self
            .objects()
            .iter()
            .map(|(id, (_, modified))| StoredObject {
                blob_id: BlobId(*id),
                modified: *modified,
            })
            .collect();
        Box::pin(async move { Ok(objects) })
    }

    fn location(&self) -> String {
        "memory (lost when the relay stops)".to_owned()
    }
}
