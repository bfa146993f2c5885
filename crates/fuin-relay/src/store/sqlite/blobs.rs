//! The SQLite store's attachment blobs and their read capabilities.

use fuin_wire::BlobId;
use rusqlite::{ErrorCode, OptionalExtension, params};

use super::{Op, SqliteStore, backend, backend_at, sql_time};
use crate::store::{NewBlob, StoreError};

impl SqliteStore {
    pub(super) async fn put_blob(&self, blob: NewBlob) -> Result<(), StoreError> {
        const OP: &str = "put_blob";
        let expires_at = sql_time(blob.expires_at_ms);
        self.write(OP, move |conn| {
            // The bytes are written only if the blob is new.
            conn.prepare_cached(
                "INSERT INTO blobs (blob_id, content, expires_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (blob_id) DO UPDATE SET expires_at = \
                   MAX(blobs.expires_at, excluded.expires_at)",
            )
            .op(OP)?
            .execute(params![blob.blob_id.0, blob.content, expires_at])
            .op(OP)?;
            conn.prepare_cached(
                "INSERT INTO blob_capabilities (capability_hash, blob_id, expires_at) \
                 VALUES (?1, ?2, ?3)",
            )
            .op(OP)?
            .execute(params![blob.capability_hash, blob.blob_id.0, expires_at])
            .map_err(|error| {
                if error.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
                    backend_at(OP, "duplicate capability")
                } else {
                    backend(OP)
                }
            })?;
            Ok(())
        })
        .await
    }

    pub(super) async fn blob(
        &self,
        blob_id: &BlobId,
        capability_hash: [u8; 32],
        now_ms: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        const OP: &str = "blob";
        let blob_id = *blob_id;
        let now = sql_time(now_ms);
        self.read(OP, move |conn| {
            conn.prepare_cached(
                "SELECT b.content FROM blob_capabilities c \
                 JOIN blobs b ON b.blob_id = c.blob_id \
                 WHERE c.capability_hash = ?1 AND c.blob_id = ?2 AND c.expires_at > ?3",
            )
            .op(OP)?
            .query_row(params![capability_hash, blob_id.0, now], |row| row.get(0))
            .optional()
            .op(OP)
        })
        .await
    }
}
