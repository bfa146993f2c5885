//! The PostgreSQL store's quarantine of records that failed their integrity
//! check, and the database's record of the stamp key it was made with.

use super::{Op, PostgresStore, backend_at, sql_time};
use crate::store::StoreError;
use crate::store::integrity::{MAILBOX, REPORT};

/// The `relay_meta` name of the stamp key check value.
const STAMP_KEY_CHECK: &str = "stamp_key_check";

impl PostgresStore {
    /// Moves the records of `kind` with these keys (message or report ids)
    /// into the quarantine, in one transaction.
    pub(super) async fn quarantine(
        &self,
        kind: &'static str,
        keys: Vec<Vec<u8>>,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        const OP: &str = "quarantine";
        crate::metrics::quarantined(kind, keys.len());
        let move_rows = match kind {
            MAILBOX => {
                "WITH gone AS (DELETE FROM mailbox WHERE message_id = ANY($2::bytea[]) \
                   RETURNING message_id, record, expires_at) \
                 INSERT INTO quarantine (kind, record_key, content, expires_at, quarantined_at) \
                 SELECT $1, message_id, record, expires_at, $3 FROM gone"
            }
            REPORT => {
                "WITH gone AS (DELETE FROM reports WHERE report_id = ANY($2::bytea[]) \
                   RETURNING report_id, report, expires_at) \
                 INSERT INTO quarantine (kind, record_key, content, expires_at, quarantined_at) \
                 SELECT $1, report_id, report, expires_at, $3 FROM gone"
            }
            _ => return Err(backend_at(OP, "unknown kind")),
        };
        let client = self.client(OP).await?;
        let statement = client.prepare_cached(move_rows).await.op(OP)?;
        client
            .execute(&statement, &[&kind, &keys, &sql_time(now_ms)])
            .await
            .op(OP)?;
        Ok(())
    }

    pub(super) async fn quarantined_records(&self) -> Result<u64, StoreError> {
        const OP: &str = "quarantined_records";
        let client = self.client(OP).await?;
        let count: i64 = client
            .query_one("SELECT COUNT(*) FROM quarantine", &[])
            .await
            .op(OP)?
            .try_get(0)
            .op(OP)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub(super) async fn has_devices(&self) -> Result<bool, StoreError> {
        const OP: &str = "has_devices";
        let client = self.client(OP).await?;
        client
            .query_one("SELECT EXISTS (SELECT 1 FROM devices)", &[])
            .await
            .op(OP)?
            .try_get(0)
            .op(OP)
    }

    pub(super) async fn stamp_key_check(&self) -> Result<Option<Vec<u8>>, StoreError> {
        const OP: &str = "stamp_key_check";
        let client = self.client(OP).await?;
        client
            .query_opt(
                "SELECT value FROM relay_meta WHERE name = $1",
                &[&STAMP_KEY_CHECK],
            )
            .await
            .op(OP)?
            .map(|row| row.try_get(0))
            .transpose()
            .op(OP)
    }

    pub(super) async fn set_stamp_key_check(&self, check: [u8; 16]) -> Result<(), StoreError> {
        const OP: &str = "set_stamp_key_check";
        let client = self.client(OP).await?;
        client
            .execute(
                "INSERT INTO relay_meta (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                &[&STAMP_KEY_CHECK, &check.as_slice()],
            )
            .await
            .op(OP)?;
        Ok(())
    }
}
