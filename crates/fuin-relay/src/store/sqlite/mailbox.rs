//! The SQLite store's mailboxes: delivering, fetching and acknowledging envelopes.

use std::collections::BTreeMap;

use fuin_wire::{DeviceAddress, MessageId};
use rusqlite::{Connection, ErrorCode, params};

use super::{Op, SqliteStore, backend, backend_at, count_u64, key, sql_time};
use crate::store::integrity::{self, mailbox_checksum};
use crate::store::{MailboxQuota, NewDelivery, StoreError, StoredDelivery};

impl SqliteStore {
    pub(super) async fn deliver(&self, deliveries: Vec<NewDelivery>) -> Result<(), StoreError> {
        self.deliver_within_quotas(deliveries, MailboxQuota::UNBOUNDED)
            .await
    }

    pub(super) async fn deliver_within_quotas(
        &self,
        deliveries: Vec<NewDelivery>,
        quota: MailboxQuota,
    ) -> Result<(), StoreError> {
        const OP: &str = "deliver";
        if deliveries.is_empty() {
            return Ok(());
        }
        self.write(OP, move |conn| {
            if quota != MailboxQuota::UNBOUNDED {
                check_mailbox_quota(conn, &deliveries, quota, OP)?;
            }
            let mut insert = conn
                .prepare_cached(
                    "INSERT INTO mailbox \
                       (message_id, user, device, record, expires_at, seq, checksum, size) \
                     VALUES (?1, ?2, ?3, ?4, ?5, \
                       (SELECT COALESCE(MAX(seq), 0) + 1 FROM mailbox \
                        WHERE user = ?2 AND device = ?3), ?6, length(?4))",
                )
                .op(OP)?;
            for delivery in &deliveries {
                let (user, device) = key(&delivery.recipient);
                let checksum =
                    mailbox_checksum(&delivery.message_id.0, &user, device, &delivery.record);
                insert
                    .execute(params![
                        delivery.message_id.0,
                        user,
                        device,
                        delivery.record,
                        sql_time(delivery.expires_at_ms),
                        checksum
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
        let (deliveries, corrupt) = self
            .read_now(OP, move |conn| {
                let mut statement = conn
                    .prepare_cached(
                        "SELECT message_id, record, checksum FROM mailbox \
                         WHERE user = ?1 AND device = ?2 AND expires_at > ?3 \
                         ORDER BY seq LIMIT ?4",
                    )
                    .op(OP)?;
                let rows = statement
                    .query_map(params![user, device, now, limit], |row| {
                        Ok((
                            row.get::<_, Vec<u8>>(0)?,
                            row.get::<_, Vec<u8>>(1)?,
                            row.get::<_, Option<Vec<u8>>>(2)?,
                        ))
                    })
                    .op(OP)?;
                let mut deliveries = Vec::new();
                let mut corrupt = Vec::new();
                for row in rows {
                    let (message_id, record, checksum) = row.op(OP)?;
                    let expected = mailbox_checksum(&message_id, &user, device, &record);
                    match <[u8; 16]>::try_from(message_id.as_slice()) {
                        Ok(id) if integrity::matches(checksum.as_deref(), &expected) => {
                            deliveries.push(StoredDelivery {
                                message_id: MessageId(id),
                                record,
                            });
                        }
                        _ => corrupt.push(message_id),
                    }
                }
                Ok((deliveries, corrupt))
            })
            .await?;
        if !corrupt.is_empty() {
            self.quarantine(integrity::MAILBOX, corrupt, now_ms).await?;
        }
        Ok(deliveries)
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
/// the quota's envelopes or bytes after them.
fn check_mailbox_quota(
    conn: &Connection,
    deliveries: &[NewDelivery],
    quota: MailboxQuota,
    name: &'static str,
) -> Result<(), StoreError> {
    let mut adding: BTreeMap<(String, i64), (u64, u64)> = BTreeMap::new();
    for delivery in deliveries {
        let entry = adding.entry(key(&delivery.recipient)).or_default();
        entry.0 += 1;
        entry.1 = entry.1.saturating_add(count_u64(delivery.record.len()));
    }
    // Counting stops past the quota, so a full mailbox costs no more; the
    // index on (user, device, size) answers without reading the rows.
    let bound = i64::try_from(quota.max_envelopes.saturating_add(1)).unwrap_or(i64::MAX);
    let mut count = conn
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM \
             (SELECT size FROM mailbox WHERE user = ?1 AND device = ?2 LIMIT ?3)",
        )
        .op(name)?;
    for ((user, device), (adding, adding_bytes)) in adding {
        let (stored, stored_bytes): (i64, i64) = count
            .query_row(params![user, device, bound], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .op(name)?;
        let stored = u64::try_from(stored).unwrap_or(u64::MAX);
        let stored_bytes = u64::try_from(stored_bytes).unwrap_or(u64::MAX);
        if stored.saturating_add(adding) > quota.max_envelopes {
            return Err(StoreError::MailboxFull);
        }
        if stored_bytes.saturating_add(adding_bytes) > quota.max_bytes {
            return Err(StoreError::MailboxBytesFull);
        }
    }
    Ok(())
}
