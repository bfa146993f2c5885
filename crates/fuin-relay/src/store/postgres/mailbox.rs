//! The PostgreSQL store's mailboxes: fetching envelopes, and delivering and
//! acknowledging them through the group commit (`group_commit.rs`).

use fuin_wire::{DeviceAddress, MessageId};

use super::{Op, PostgresStore, key, sql_time};
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
        if deliveries.is_empty() {
            return Ok(());
        }
        let wake_payloads = self
            .notifier
            .payloads(deliveries.iter().map(|delivery| &delivery.recipient));
        self.deliveries
            .deliver(deliveries, quota, wake_payloads)
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
        if message_ids.is_empty() {
            return Ok(0);
        }
        let (user, device) = key(recipient);
        let message_ids = message_ids.iter().map(|id| id.0).collect();
        self.deliveries.acknowledge(user, device, message_ids).await
    }
}
