//! The SQLite store's mailboxes: delivering, fetching and acknowledging envelopes.

use std::collections::BTreeMap;

use fuin_wire::{DeviceAddress, MessageId};
use rusqlite::{Connection, ErrorCode, params};

use super::{Op, SqliteStore, backend, backend_at, count_u64, fixed, key, sql_time};
use crate::store::{NewDelivery, StoreError, StoredDelivery};

impl SqliteStore {
    pub(super) async fn deliver(&self, deliveries: Vec<NewDelivery>) -> Result<(), StoreError> {
        self.deliver_within_quota(deliveries, u64::MAX).await
    }

    pub(super) async fn deliver_within_quota(
        &self,
        deliveries: Vec<NewDelivery>,
        max_waiting: u64,
    ) -> Result<(), StoreError> {
        const OP: &str = "deliver";
        if deliveries.is_empty() {
            return Ok(());
        }
        self.write(OP, move |conn| {
            if max_waiting != u64::MAX {
                check_mailbox_quota(conn, &deliveries, max_waiting, OP)?;
            }
            let mut insert = conn
                .prepare_cached(
                    "INSERT INTO mailbox (message_id, user, device, record, expires_at, seq) \
                     VALUES (?1, ?2, ?3, ?4, ?5, \
                       (SELECT COALESCE(MAX(seq), 0) + 1 FROM mailbox \
                        WHERE user = ?2 AND device = ?3))",
                )
                .op(OP)?;
            for delivery in &deliveries {
                let (user, device) = key(&delivery.recipient);
                insert
                    .execute(params![
                        delivery.message_id.0,
                        user,
                        device,
                        delivery.record,
                        sql_time(delivery.expires_at_ms)
                    ])
                    .map_err(|error| {
                        if error.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
                            backend_at(OP, "duplicate message id")
                        } else {
                            backend(OP)
                        }
                    })?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn fetch(
        &self,
        recipient: &DeviceAddress<'_>,
        limit: usize,
        now_ms: u64,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        const OP: &str = "fetch";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (user, device) = key(recipient);
        let now = sql_time(now_ms);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(OP, move |conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT message_id, record FROM mailbox \
                     WHERE user = ?1 AND device = ?2 AND expires_at > ?3 \
                     ORDER BY seq LIMIT ?4",
                )
                .op(OP)?;
            let rows = statement
                .query_map(params![user, device, now, limit], |row| {
                    Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?))
                })
                .op(OP)?;
            let mut deliveries = Vec::new();
            for row in rows {
                let (message_id, record) = row.op(OP)?;
                deliveries.push(StoredDelivery {
                    message_id: MessageId(fixed(message_id, OP)?),
                    record,
                });
            }
            Ok(deliveries)
        })
        .await
    }

    pub(super) async fn acknowledge(
        &self,
        recipient: &DeviceAddress<'_>,
        message_ids: &[MessageId],
    ) -> Result<u64, StoreError> {
        const OP: &str = "acknowledge";
        if message_ids.is_empty() {
            return Ok(0);
        }
        let (user, device) = key(recipient);
        let message_ids = message_ids.to_vec();
        self.write(OP, move |conn| {
            let mut delete = conn
                .prepare_cached(
                    "DELETE FROM mailbox WHERE message_id = ?1 AND user = ?2 AND device = ?3",
                )
                .op(OP)?;
            let mut deleted = 0;
            for message_id in &message_ids {
                deleted += count_u64(delete.execute(params![message_id.0, user, device]).op(OP)?);
            }
            Ok(deleted)
        })
        .await
    }
}

/// Refuses `deliveries` if any recipient's mailbox would hold more than
/// `max_waiting` envelopes after them.
fn check_mailbox_quota(
    conn: &Connection,
    deliveries: &[NewDelivery],
    max_waiting: u64,
    name: &'static str,
) -> Result<(), StoreError> {
    let mut adding: BTreeMap<(String, i64), u64> = BTreeMap::new();
    for delivery in deliveries {
        *adding.entry(key(&delivery.recipient)).or_default() += 1;
    }
    // Counting stops past the quota, so a full mailbox costs no more.
    let bound = i64::try_from(max_waiting.saturating_add(1)).unwrap_or(i64::MAX);
    let mut count = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM mailbox WHERE user = ?1 AND device = ?2 LIMIT ?3)",
        )
        .op(name)?;
    for ((user, device), adding) in adding {
        let stored: i64 = count
            .query_row(params![user, device, bound], |row| row.get(0))
            .op(name)?;
        let stored = u64::try_from(stored).unwrap_or(u64::MAX);
        if stored.saturating_add(adding) > max_waiting {
            return Err(StoreError::MailboxFull);
        }
    }
    Ok(())
}
