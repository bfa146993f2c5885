//! The SQLite store's quarantine of records that failed their integrity
//! check, and the database's record of the stamp key it was made with.

use rusqlite::{OptionalExtension, params};

use super::{Op, SqliteStore, count_u64, sql_time};
use crate::store::StoreError;
use crate::store::integrity::{MAILBOX, REPORT};

/// The `relay_meta` name of the stamp key check value.
const STAMP_KEY_CHECK: &str = "stamp_key_check";

impl SqliteStore {
    /// Moves the records of `kind` with these keys (message or report ids)
    /// into the quarantine, in one write.
    pub(super) async fn quarantine(
        &self,
        kind: &'static str,
        keys: Vec<Vec<u8>>,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        const OP: &str = "quarantine";
        crate::metrics::quarantined(kind, keys.len());
        let now = sql_time(now_ms);
        self.write(OP, move |conn| {
            let (copy, delete) = match kind {
                MAILBOX => (
                    "INSERT INTO quarantine (kind, record_key, content, expires_at, quarantined_at) \
                     SELECT ?1, message_id, record, expires_at, ?3 FROM mailbox \
                     WHERE message_id = ?2",
                    "DELETE FROM mailbox WHERE message_id = ?1",
                ),
                REPORT => (
                    "INSERT INTO quarantine (kind, record_key, content, expires_at, quarantined_at) \
                     SELECT ?1, report_id, report, expires_at, ?3 FROM reports \
                     WHERE report_id = ?2",
                    "DELETE FROM reports WHERE report_id = ?1",
                ),
                _ => return Err(super::backend_at(OP, "unknown kind")),
            };
            let mut copy = conn.prepare_cached(copy).op(OP)?;
            let mut delete = conn.prepare_cached(delete).op(OP)?;
            for key in &keys {
                copy.execute(params![kind, key, now]).op(OP)?;
                delete.execute(params![key]).op(OP)?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn quarantined_records(&self) -> Result<u64, StoreError> {
        const OP: &str = "quarantined_records";
        self.read(OP, |conn| {
            let count: i64 = conn
                .query_row("SELECT COUNT(*) FROM quarantine", [], |row| row.get(0))
                .op(OP)?;
            Ok(count_u64(usize::try_from(count).unwrap_or(0)))
        })
        .await
    }

    pub(super) async fn has_devices(&self) -> Result<bool, StoreError> {
        const OP: &str = "has_devices";
        self.read(OP, |conn| {
            conn.query_row("SELECT EXISTS (SELECT 1 FROM devices)", [], |row| {
                row.get(0)
            })
            .op(OP)
        })
        .await
    }

    pub(super) async fn stamp_key_check(&self) -> Result<Option<Vec<u8>>, StoreError> {
        const OP: &str = "stamp_key_check";
        self.read(OP, |conn| {
            conn.query_row(
                "SELECT value FROM relay_meta WHERE name = ?1",
                params![STAMP_KEY_CHECK],
                |row| row.get(0),
            )
            .optional()
            .op(OP)
        })
        .await
    }

    pub(super) async fn set_stamp_key_check(&self, check: [u8; 16]) -> Result<(), StoreError> {
        const OP: &str = "set_stamp_key_check";
        self.write(OP, move |conn| {
            conn.execute(
                "INSERT INTO relay_meta (name, value) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![STAMP_KEY_CHECK, check],
            )
            .op(OP)?;
            Ok(())
        })
        .await
    }
}
