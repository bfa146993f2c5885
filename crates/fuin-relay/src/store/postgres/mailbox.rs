//! The PostgreSQL store's mailboxes: delivering, fetching and acknowledging envelopes.

use std::collections::BTreeSet;

use fuin_wire::{DeviceAddress, MessageId};
use tokio_postgres::error::SqlState;

use super::health;
use super::locks::mailbox_lock;
use super::{Op, PostgresStore, backend, backend_at, key, sql_time};
use crate::store::integrity::{self, mailbox_checksum};
use crate::store::{MailboxQuota, NewDelivery, StoreError, StoredDelivery};

impl PostgresStore {
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
        let locks: Vec<i64> = deliveries
            .iter()
            .map(|delivery| mailbox_lock(&delivery.recipient))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let wake_payloads = self
            .notifier
            .payloads(deliveries.iter().map(|delivery| &delivery.recipient));
        let mut message_ids = Vec::with_capacity(deliveries.len());
        let mut users = Vec::with_capacity(deliveries.len());
        let mut devices = Vec::with_capacity(deliveries.len());
        let mut records = Vec::with_capacity(deliveries.len());
        let mut expiries = Vec::with_capacity(deliveries.len());
        let mut checksums = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let (user, device) = key(&delivery.recipient);
            checksums.push(
                mailbox_checksum(&delivery.message_id.0, &user, device, &delivery.record).to_vec(),
            );
            message_ids.push(delivery.message_id.0.to_vec());
            users.push(user);
            devices.push(device);
            records.push(delivery.record);
            expiries.push(sql_time(delivery.expires_at_ms));
        }

        let mut client = self.client(OP).await?;
        let transaction = client.transaction().await.op(OP)?;
        // The function scan yields the keys in the array's (ascending) order
        // and takes each lock as it goes.
        let lock = transaction
            .prepare_cached("SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k")
            .await
            .op(OP)?;
        transaction.execute(&lock, &[&locks]).await.op(OP)?;
        // With the mailboxes locked, no other delivery can add to them
        // before this one commits.
        if quota != MailboxQuota::UNBOUNDED {
            check_mailbox_quota(&transaction, &users, &devices, &records, quota, OP).await?;
        }
        // Each row's seq: its mailbox's highest so far plus its rank among
        // the batch's rows for that mailbox, in the batch's order.
        let insert = transaction
            .prepare_cached(
                "INSERT INTO mailbox \
                   (message_id, user_id, device, record, expires_at, seq, checksum, size) \
                 SELECT m.message_id, m.user_id, m.device, m.record, m.expires_at, \
                   COALESCE((SELECT MAX(x.seq) FROM mailbox x \
                             WHERE x.user_id = m.user_id AND x.device = m.device), 0) \
                   + row_number() OVER (PARTITION BY m.user_id, m.device ORDER BY m.n), \
                   m.checksum, octet_length(m.record) \
                 FROM unnest($1::bytea[], $2::text[], $3::bigint[], $4::bytea[], $5::bigint[], \
                             $6::bytea[]) \
                   WITH ORDINALITY AS m (message_id, user_id, device, record, expires_at, \
                                         checksum, n)",
            )
            .await
            .op(OP)?;
        transaction
            .execute(
                &insert,
                &[
                    &message_ids,
                    &users,
                    &devices,
                    &records,
                    &expiries,
                    &checksums,
                ],
            )
            .await
            .map_err(|error| {
                let duplicate = error.as_db_error().is_some_and(|error| {
                    error.code() == &SqlState::UNIQUE_VIOLATION
                        && error.constraint() == Some("mailbox_pkey")
                });
                if duplicate {
                    backend_at(OP, "duplicate message id")
                } else {
                    backend(OP)
                }
            })?;
        // Queued with the transaction: the other nodes hear of it at commit.
        let notify = transaction
            .prepare_cached("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .await
            .op(OP)?;
        transaction
            .execute(&notify, &[&self.notifier.channel(), &wake_payloads])
            .await
            .op(OP)?;
        health::commit(transaction, OP).await
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
        let client = self.client(OP).await?;
        let select = client
            .prepare_cached(
                "SELECT message_id, record, checksum FROM mailbox \
                 WHERE user_id = $1 AND device = $2 AND expires_at > $3 \
                 ORDER BY seq LIMIT $4",
            )
            .await
            .op(OP)?;
        let rows = client
            .query(&select, &[&user, &device, &now, &limit])
            .await
            .op(OP)?;
        drop(client);
        let mut deliveries = Vec::with_capacity(rows.len());
        let mut corrupt = Vec::new();
        for row in rows {
            let message_id: Vec<u8> = row.try_get(0).op(OP)?;
            let record: Vec<u8> = row.try_get(1).op(OP)?;
            let checksum: Option<Vec<u8>> = row.try_get(2).op(OP)?;
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
        let message_ids: Vec<&[u8]> = message_ids.iter().map(|id| id.0.as_slice()).collect();
        let client = self.client(OP).await?;
        let delete = client
            .prepare_cached(
                "DELETE FROM mailbox \
                 WHERE user_id = $1 AND device = $2 AND message_id = ANY($3::bytea[])",
            )
            .await
            .op(OP)?;
        client
            .execute(&delete, &[&user, &device, &message_ids])
            .await
            .op(OP)
    }
}

/// Refuses a delivery if any of its recipients' mailboxes (given as the
/// parallel `users`, `devices` and `records`, one entry per envelope) would
/// hold more than the quota's envelopes or bytes after it.
async fn check_mailbox_quota(
    client: &impl deadpool_postgres::GenericClient,
    users: &[String],
    devices: &[i64],
    records: &[Vec<u8>],
    quota: MailboxQuota,
    name: &'static str,
) -> Result<(), StoreError> {
    let sizes: Vec<i64> = records
        .iter()
        .map(|record| i64::try_from(record.len()).unwrap_or(i64::MAX))
        .collect();
    // The sizes are summed from the index on (user_id, device) that
    // includes them, not from the rows.
    let count = client
        .prepare_cached(
            "SELECT r.user_id, r.device, COUNT(*) AS adding, SUM(r.size)::bigint AS adding_bytes, \
               (SELECT COUNT(*) FROM mailbox x \
                WHERE x.user_id = r.user_id AND x.device = r.device) AS stored, \
               (SELECT COALESCE(SUM(x.size), 0)::bigint FROM mailbox x \
                WHERE x.user_id = r.user_id AND x.device = r.device) AS stored_bytes \
             FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS r (user_id, device, size) \
             GROUP BY r.user_id, r.device",
        )
        .await
        .op(name)?;
    for row in client
        .query(&count, &[&users, &devices, &sizes])
        .await
        .op(name)?
    {
        let adding: i64 = row.try_get(2).op(name)?;
        let adding_bytes: i64 = row.try_get(3).op(name)?;
        let stored: i64 = row.try_get(4).op(name)?;
        let stored_bytes: i64 = row.try_get(5).op(name)?;
        let total = u64::try_from(adding.saturating_add(stored)).unwrap_or(u64::MAX);
        if total > quota.max_envelopes {
            return Err(StoreError::MailboxFull);
        }
        let total_bytes =
            u64::try_from(adding_bytes.saturating_add(stored_bytes)).unwrap_or(u64::MAX);
        if total_bytes > quota.max_bytes {
            return Err(StoreError::MailboxBytesFull);
        }
    }
    Ok(())
}
