//! The PostgreSQL store's attachment blobs and their read capabilities.

use fuin_wire::BlobId;
use tokio_postgres::error::SqlState;

use super::health;
use super::{Op, PostgresStore, backend, backend_at, sql_time};
use crate::store::{NewBlob, StoreError};

impl PostgresStore {
    pub(super) async fn put_blob(&self, blob: NewBlob) -> Result<(), StoreError> {
        const OP: &str = "put_blob";
        let expires_at = sql_time(blob.expires_at_ms);
        let blob_id = blob.blob_id.0.as_slice();
        let mut client = self.client(OP).await?;
        let transaction = client.transaction().await.op(OP)?;
        // The bytes are written only if the blob is new; otherwise the row
        // gets the later expiry, which also makes a concurrent sweep that
        // would have deleted it skip it.
        let upsert = transaction
            .prepare_cached(
                "INSERT INTO blobs (blob_id, content, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (blob_id) DO UPDATE SET expires_at = \
                   GREATEST(blobs.expires_at, EXCLUDED.expires_at)",
            )
            .await
            .op(OP)?;
        transaction
            .execute(&upsert, &[&blob_id, &blob.content, &expires_at])
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
    ) -> Result<Option<Vec<u8>>, StoreError> {
        const OP: &str = "blob";
        let now = sql_time(now_ms);
        let client = self.client(OP).await?;
        let select = client
            .prepare_cached(
                "SELECT b.content FROM blob_capabilities c \
                 JOIN blobs b ON b.blob_id = c.blob_id \
                 WHERE c.capability_hash = $1 AND c.blob_id = $2 AND c.expires_at > $3",
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
            .map(|row| row.try_get(0).op(OP))
            .transpose()
    }
}
