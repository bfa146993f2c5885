//! The PostgreSQL store's audit chain: the head's lock every write takes
//! first, appending, recording alone, and reading the log.

use deadpool_postgres::Object;
use tokio_postgres::Transaction;

use super::{PgRow, PgStore, commit, read_rows};
use crate::audit::{AuditRecord, NewAuditRecord};
use crate::model::CaseId;
use crate::store::StoreError;
use crate::store::rows::{self, AUDIT_COLUMNS, backend, int};

/// Begins a write on `client`: a transaction that first locks the chain's
/// head.
pub(super) async fn begin_write<'c>(
    client: &'c mut Object,
    op: &str,
) -> Result<deadpool_postgres::Transaction<'c>, StoreError> {
    let tx = client.transaction().await.map_err(|_| backend(op))?;
    lock_head(&tx, op).await?;
    Ok(tx)
}

/// Locks the chain's head for the transaction.
async fn lock_head(tx: &Transaction<'_>, op: &str) -> Result<(), StoreError> {
    tx.query_one(
        "SELECT seq FROM moderation_audit_head WHERE one FOR UPDATE",
        &[],
    )
    .await
    .map_err(|_| backend(op))?;
    Ok(())
}

fn invalid_hash(op: &str) -> String {
    format!("{op}: a stored hash is invalid")
}

/// Appends `audit` after the chain's last record, inside `tx` (which holds
/// the head's lock, see [`begin_write`]).
pub(super) async fn append(
    tx: &Transaction<'_>,
    audit: &NewAuditRecord,
) -> Result<AuditRecord, StoreError> {
    const OP: &str = "append an audit record";
    let last = tx
        .query_opt(
            &format!("SELECT {AUDIT_COLUMNS} FROM moderation_audit ORDER BY seq DESC LIMIT 1"),
            &[],
        )
        .await
        .map_err(|_| backend(OP))?
        .map(|row| rows::audit(&PgRow { row: &row, op: OP }, &invalid_hash(OP)))
        .transpose()?;
    let record = audit.chain_after(last.as_ref());
    tx.execute(
        "INSERT INTO moderation_audit (seq, time_ms, actor, action, case_id, detail, prev, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &int(record.seq),
            &int(record.time_ms),
            &record.actor,
            &record.action,
            &record.case,
            &record.detail,
            &record.prev.as_slice(),
            &record.hash.as_slice(),
        ],
    )
    .await
    .map_err(|_| backend(OP))?;
    tx.execute(
        "UPDATE moderation_audit_head SET seq = $1, hash = $2 WHERE one",
        &[&int(record.seq), &record.hash.as_slice()],
    )
    .await
    .map_err(|_| backend(OP))?;
    Ok(record)
}

impl PgStore {
    pub(super) async fn record(&self, audit: NewAuditRecord) -> Result<AuditRecord, StoreError> {
        const OP: &str = "record";
        let mut client = self.client(OP).await?;
        let tx = begin_write(&mut client, OP).await?;
        let record = append(&tx, &audit).await?;
        commit(tx, OP).await?;
        Ok(record)
    }

    pub(super) async fn record_refusal(&self, audit: NewAuditRecord) -> Result<(), StoreError> {
        self.record(audit).await.map(|_| ())
    }

    pub(super) async fn audit_log(&self) -> Result<Vec<AuditRecord>, StoreError> {
        const OP: &str = "audit_log";
        let client = self.client(OP).await?;
        let found = client
            .query(
                &format!("SELECT {AUDIT_COLUMNS} FROM moderation_audit ORDER BY seq"),
                &[],
            )
            .await
            .map_err(|_| backend(OP))?;
        let invalid = invalid_hash(OP);
        read_rows(&found, OP, |row| rows::audit(row, &invalid))
    }

    pub(super) async fn case_audit(&self, id: &CaseId) -> Result<Vec<AuditRecord>, StoreError> {
        const OP: &str = "case_audit";
        let client = self.client(OP).await?;
        let found = client
            .query(
                &format!(
                    "SELECT {AUDIT_COLUMNS} FROM moderation_audit WHERE case_id = $1 ORDER BY seq"
                ),
                &[&id.0],
            )
            .await
            .map_err(|_| backend(OP))?;
        let invalid = invalid_hash(OP);
        read_rows(&found, OP, |row| rows::audit(row, &invalid))
    }
}
