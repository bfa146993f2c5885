//! The PostgreSQL store's blob records and their read capabilities. The
//! bytes are in the blob store; `content` holds the bytes only of blobs
//! stored by relays before it (schema 3), until they are moved, and is
//! empty since.

use fuin_wire::BlobId;
use tokio_postgres::error::SqlState;

use super::health;
use super::{Op, PostgresStore, backend, backend_at, corrupt, fixed, sql_time};
use crate::store::{NewBlob, StoreError};

fn sql_len(len: u64, name: &'static str) -> Result<i64, StoreError> {
    i64::try_from(len).map_err(|_| backend_at(name, "length out of range"))
}

impl PostgresStore {
    pub(super) async fn put_blob(&self, blob: NewBlob) -> Result<(), StoreError> {
        const OP: &str = "put_blob";
        let expires_at = sql_time(blob.expires_at_ms);
        let len = sql_len(blob.len, OP)?;
        let blob_id = blob.blob_id.0.as_slice();
        let mut client = self.client(OP).await?;
        let transaction = client.transaction().await.op(OP)?;
        // A known blob gets the later expiry, which also makes a concurrent
        // sweep that would have deleted it skip it; a record still holding
        // the bytes from before the blob store drops them.
        let upsert = transaction
            .prepare_cached(
                "INSERT INTO blobs (blob_id, content, length, expires_at) \
                 VALUES ($1, ''::bytea, $2, $3) \
                 ON CONFLICT (blob_id) DO UPDATE SET expires_at = \
                   GREATEST(blobs.expires_at, EXCLUDED.expires_at), \
                   content = ''::bytea, length = EXCLUDED.length",
            )
            .await
            .op(OP)?;
        transaction
            .execute(&upsert, &[&blob_id, &len, &expires_at])
            .await
            .op(OP)?;
        let insert = transaction
            .prepare_cached(
                "INSERT INTO blob_capabilities (capability_hash, blob_id, expires_at) \
                 VALUES ($1, $2, $3)",
            )
            .await
            .op(OP)?;
        transaction
            .execute(
                &insert,
                &[&blob.capability_hash.as_slice(), &blob_id, &expires_at],
            )
            .await
            .map_err(|error| {
                let duplicate = error.as_db_error().is_some_and(|error| {
                    error.code() == &SqlState::UNIQUE_VIOLATION
                        && error.constraint() == Some("blob_capabilities_pkey")
                });
                if duplicate {
                    backend_at(OP, "duplicate capability")
                } else {
                    backend(OP)
                }
            })?;
        health::commit(transaction, OP).await
    }

    pub(super) async fn blob(
        &self,
        blob_id: &BlobId,
        capability_hash: [u8; 32],
        now_ms: u64,
    ) -> Result<Option<u64>, StoreError> {
        const OP: &str = "blob";
        let now = sql_time(now_ms);
        let client = self.client(OP).await?;
        let select = client
            .prepare_cached(
                "SELECT b.length FROM blob_capabilities c \
                 JOIN blobs b ON b.blob_id = c.blob_id \
                 WHERE c.capability_hash = $1 AND c.blob_id = $2 AND c.expires_at > $3 \
                   AND b.length IS NOT NULL",
            )
            .await
            .op(OP)?;
        client
            .query_opt(
                &select,
                &[&capability_hash.as_slice(), &blob_id.0.as_slice(), &now],
            )
            .await
            .op(OP)?
            .map(|row| {
                let len: i64 = row.try_get(0).op(OP)?;
                u64::try_from(len).map_err(|_| corrupt(OP))
            })
            .transpose()
    }

    pub(super) async fn recorded_blobs(
        &self,
        blob_ids: &[BlobId],
    ) -> Result<Vec<BlobId>, StoreError> {
        const OP: &str = "recorded_blobs";
        if blob_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&[u8]> = blob_ids.iter().map(|id| id.0.as_slice()).collect();
        let client = self.client(OP).await?;
        let select = client
            .prepare_cached("SELECT blob_id FROM blobs WHERE blob_id = ANY($1::bytea[])")
            .await
            .op(OP)?;
        client
            .query(&select, &[&ids])
            .await
            .op(OP)?
            .iter()
            .map(|row| fixed(row, 0, OP).map(BlobId))
            .collect()
    }

    pub(super) async fn blobs_in_database(&self) -> Result<Vec<BlobId>, StoreError> {
        const OP: &str = "blobs_in_database";
        let client = self.client(OP).await?;
        let select = client
            .prepare_cached("SELECT blob_id FROM blobs WHERE length IS NULL")
            .await
            .op(OP)?;
        client
            .query(&select, &[])
            .await
            .op(OP)?
            .iter()
            .map(|row| fixed(row, 0, OP).map(BlobId))
            .collect()
    }

    pub(super) async fn blob_bytes_in_database(
        &self,
        blob_id: &BlobId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        const OP: &str = "blob_bytes_in_database";
        let client = self.client(OP).await?;
        let select = client
            .prepare_cached("SELECT content FROM blobs WHERE blob_id = $1 AND length IS NULL")
            .await
            .op(OP)?;
        client
            .query_opt(&select, &[&blob_id.0.as_slice()])
            .await
            .op(OP)?
            .map(|row| row.try_get(0).op(OP))
            .transpose()
    }

    pub(super) async fn blob_bytes_moved(
        &self,
        blob_id: &BlobId,
        len: u64,
    ) -> Result<(), StoreError> {
        const OP: &str = "blob_bytes_moved";
        let len = sql_len(len, OP)?;
        let client = self.client(OP).await?;
        let update = client
            .prepare_cached(
                "UPDATE blobs SET content = ''::bytea, length = $2 \
                 WHERE blob_id = $1 AND length IS NULL",
            )
            .await
            .op(OP)?;
        client
            .execute(&update, &[&blob_id.0.as_slice(), &len])
            .await
            .op(OP)?;
        Ok(())
    }
}
