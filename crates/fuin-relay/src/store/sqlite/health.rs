//! The SQLite store's health: the readiness query and the mailbox counts of
//! the relay's metrics.

use super::{Op, SqliteStore, backend};
use crate::metrics::MailboxDepths;
use crate::store::StoreError;

impl SqliteStore {
    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        const OP: &str = "ping";
        // Writes wait for the writer thread: a store whose writer has
        // stopped cannot take a send, however well it reads.
        if self.writer.as_ref().is_none_or(|writer| writer.is_closed()) {
            return Err(backend(OP));
        }
        self.read(OP, move |conn| {
            conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| {
                row.get::<_, i64>(0)
            })
            .op(OP)
        })
        .await
        .map(drop)
    }

    pub(super) async fn mailbox_depths(&self) -> Result<MailboxDepths, StoreError> {
        const OP: &str = "mailbox_depths";
        self.read(OP, move |conn| {
            // One pass over the mailbox index, a group per mailbox.
            let (mailboxes, deepest, envelopes): (i64, i64, i64) = conn
                .query_row(
                    "SELECT count(*), coalesce(max(n), 0), coalesce(sum(n), 0) \
                     FROM (SELECT count(*) AS n FROM mailbox GROUP BY user, device)",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .op(OP)?;
            let count = |value: i64| u64::try_from(value).unwrap_or(0);
            Ok(MailboxDepths {
                envelopes: count(envelopes),
                mailboxes: count(mailboxes),
                deepest: count(deepest),
            })
        })
        .await
    }
}
