//! The SQLite store's blob records and their read capabilities. The bytes
//! are in the blob store; `content` holds the bytes only of blobs stored by
//! relays before it (schema 3), until they are moved, and is empty since.

use fuin_wire::BlobId;
use rusqlite::{ErrorCode, OptionalExtension, params};

use super::{Op, SqliteStore, backend, backend_at, corrupt, fixed, sql_time};
use crate::store::{NewBlob, StoreError};

fn sql_len(len: u64, name: &'static str) -> Result<i64, StoreError> {
    i64::try_from(len).map_err(|_| backend_at(name, "length out of range"))
}

impl SqliteStore {
    pub(super) async fn put_blob(&self, blob: NewBlob) -> Result<(), StoreError> {
        const OP: &str = "put_blob";
        let expires_at = sql_time(blob.expires_at_ms);
        let len = sql_len(blob.len, OP)?;
        self.write(OP, move |conn| {
            // A record still holding the bytes from before the blob store
            // drops them: the blob store has them now.
            conn.prepare_cached(
                "INSERT INTO blobs (blob_id, content, length, expires_at) \
                 VALUES (?1, X'', ?2, ?3) \
                 ON CONFLICT (blob_id) DO UPDATE SET expires_at = \
                   MAX(blobs.expires_at, excluded.expires_at), \
                   content = X'', length = excluded.length",
            )
            .op(OP)?
            .execute(params![blob.blob_id.0, len, expires_at])
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
    ) -> Result<Option<u64>, StoreError> {
        const OP: &str = "blob";
        let blob_id = *blob_id;
        let now = sql_time(now_ms);
        let len: Option<i64> = self
            .read(OP, move |conn| {
                conn.prepare_cached(
                    "SELECT b.length FROM blob_capabilities c \
                     JOIN blobs b ON b.blob_id = c.blob_id \
                     WHERE c.capability_hash = ?1 AND c.blob_id = ?2 AND c.expires_at > ?3 \
                       AND b.length IS NOT NULL",
                )
                .op(OP)?
                .query_row(params![capability_hash, blob_id.0, now], |row| row.get(0))
                .optional()
                .op(OP)
            })
            .await?;
        len.map(|len| u64::try_from(len).map_err(|_| corrupt(OP)))
            .transpose()
    }

    pub(super) async fn recorded_blobs(
        &self,
        blob_ids: &[BlobId],
    ) -> Result<Vec<BlobId>, StoreError> {
        const OP: &str = "recorded_blobs";
        let blob_ids = blob_ids.to_vec();
        self.read(OP, move |conn| {
            let mut select = conn
                .prepare_cached("SELECT 1 FROM blobs WHERE blob_id = ?1")
                .op(OP)?;
            let mut recorded = Vec::new();
            for blob_id in blob_ids {
                if select.exists(params![blob_id.0]).op(OP)? {
                    recorded.push(blob_id);
                }
            }
            Ok(recorded)
        })
        .await
    }

    pub(super) async fn blobs_in_database(&self) -> Result<Vec<BlobId>, StoreError> {
        const OP: &str = "blobs_in_database";
        self.read(OP, move |conn| {
            let mut select = conn
                .prepare_cached("SELECT blob_id FROM blobs WHERE length IS NULL")
                .op(OP)?;
            let rows = select
                .query_map([], |row| row.get::<_, Vec<u8>>(0))
                .op(OP)?;
            let mut ids = Vec::new();
            for row in rows {
                ids.push(BlobId(fixed(row.op(OP)?, OP)?));
            }
            Ok(ids)
        })
        .await
    }

    pub(super) async fn blob_bytes_in_database(
        &self,
        blob_id: &BlobId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        const OP: &str = "blob_bytes_in_database";
        let blob_id = *blob_id;
        self.read(OP, move |conn| {
            conn.prepare_cached("SELECT content FROM blobs WHERE blob_id = ?1 AND length IS NULL")
                .op(OP)?
                .query_row(params![blob_id.0], |row| row.get(0))
                .optional()
                .op(OP)
        })
        .await
    }

    pub(super) async fn blob_bytes_moved(
        &self,
        blob_id: &BlobId,
        len: u64,
    ) -> Result<(), StoreError> {
        const OP: &str = "blob_bytes_moved";
        let blob_id = *blob_id;
        let len = sql_len(len, OP)?;
        self.write(OP, move |conn| {
            // `secure_delete` overwrites the freed bytes.
            conn.prepare_cached(
                "UPDATE blobs SET content = X'', length = ?2 \
                 WHERE blob_id = ?1 AND length IS NULL",
            )
            .op(OP)?
            .execute(params![blob_id.0, len])
            .op(OP)?;
            Ok(())
        })
        .await
    }
}
