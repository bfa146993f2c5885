//! The PostgreSQL store's health: the readiness query, the mailbox counts of
//! the relay's metrics, and timed commits.

use std::time::Instant;

use super::{Op, PostgresStore};
use crate::metrics::MailboxDepths;
use crate::store::StoreError;

impl PostgresStore {
    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        const OP: &str = "ping";
        let client = self.client(OP).await?;
        client.query_one("SELECT 1", &[]).await.op(OP).map(drop)
    }

    pub(super) async fn mailbox_depths(&self) -> Result<MailboxDepths, StoreError> {
        const OP: &str = "mailbox_depths";
        let client = self.client(OP).await?;
        // One pass over the mailbox index, a group per mailbox.
        let row = client
            .query_one(
                "SELECT count(*), coalesce(max(n), 0)::bigint, coalesce(sum(n), 0)::bigint \
                 FROM (SELECT count(*) AS n FROM mailbox GROUP BY user_id, device) AS depths",
                &[],
            )
            .await
            .op(OP)?;
        let count = |index: usize| -> Result<u64, StoreError> {
            let value: i64 = row.try_get(index).op(OP)?;
            Ok(u64::try_from(value).unwrap_or(0))
        };
        Ok(MailboxDepths {
            mailboxes: count(0)?,
            deepest: count(1)?,
            envelopes: count(2)?,
        })
    }
}

/// Commits `transaction`, recording how long the commit took in the
/// relay's metrics (`store_commit_duration_seconds{backend="postgres"}`).
pub(super) async fn commit(
    transaction: deadpool_postgres::Transaction<'_>,
    name: &'static str,
) -> Result<(), StoreError> {
    let started = Instant::now();
    let committed = transaction.commit().await.op(name);
    crate::metrics::store_commit("postgres", 1, started.elapsed());
    committed
}
