//! The SQLite store's audit chain: appending inside a write, recording
//! alone, and reading the log.

use rusqlite::{Transaction, params};

use super::{SqliteStore, collect, one};
use crate::audit::{AuditRecord, NewAuditRecord};
use crate::model::CaseId;
use crate::store::StoreError;
use crate::store::rows::{self, AUDIT_COLUMNS, backend, int};

const INVALID_HASH: &str = "read the audit log: a stored hash is invalid";

/// Appends `audit` after the chain's last record, inside `tx` (which holds
/// the write lock).
pub(super) fn append(
    tx: &Transaction<'_>,
    audit: &NewAuditRecord,
) -> Result<AuditRecord, StoreError> {
    const OP: &str = "append an audit record";
    let last = one(
        tx,
        OP,
        &format!("SELECT {AUDIT_COLUMNS} FROM audit ORDER BY seq DESC LIMIT 1"),
        [],
        |row| rows::audit(row, INVALID_HASH),
    )?;
    let record = audit.chain_after(last.as_ref());
    tx.execute(
        "INSERT INTO audit (seq, time_ms, actor, action, case_id, detail, prev, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            int(record.seq),
            int(record.time_ms),
            record.actor,
            record.action,
            record.case,
            record.detail,
            record.prev.as_slice(),
            record.hash.as_slice()
        ],
    )
    .map_err(|_| backend(OP))?;
    Ok(record)
}

impl SqliteStore {
    pub(super) async fn record(&self, audit: NewAuditRecord) -> Result<AuditRecord, StoreError> {
        self.write("record", move |tx| append(tx, &audit)).await
    }

    pub(super) async fn record_refusal(&self, audit: NewAuditRecord) -> Result<(), StoreError> {
        self.write("record_refusal", move |tx| append(tx, &audit).map(|_| ()))
            .await
    }

    pub(super) async fn audit_log(&self) -> Result<Vec<AuditRecord>, StoreError> {
        const OP: &str = "audit_log";
        self.run(OP, move |conn| {
            collect(
                conn,
                OP,
                &format!("SELECT {AUDIT_COLUMNS} FROM audit ORDER BY seq"),
                [],
                |row| rows::audit(row, INVALID_HASH),
            )
        })
        .await
    }

    pub(super) async fn case_audit(&self, id: &CaseId) -> Result<Vec<AuditRecord>, StoreError> {
        const OP: &str = "case_audit";
        let id = id.clone();
        self.run(OP, move |conn| {
            collect(
                conn,
                OP,
                &format!("SELECT {AUDIT_COLUMNS} FROM audit WHERE case_id = ?1 ORDER BY seq"),
                [&id.0],
                |row| rows::audit(row, INVALID_HASH),
            )
        })
        .await
    }
}
