//! The queues: processed deliveries, the quarantine and the outbox.

use fuin_wire::{DeviceAddress, MessageId};
use rusqlite::{OptionalExtension, params};
use zeroize::Zeroizing;

use crate::ClientError;

use super::{Reader, storage, to_sql_u64};

impl<'a> Reader<'a> {
    pub fn was_processed(&self, id: &MessageId) -> Result<bool, ClientError> {
        self.conn
            .query_row(
                "SELECT 1 FROM processed WHERE server_message_id = ?1",
                [id.0.as_slice()],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(storage("reading processed deliveries"))
    }

    pub fn mark_processed(&self, id: &MessageId, now_ms: u64) -> Result<(), ClientError> {
        self.conn
            .execute(
                "INSERT INTO processed (server_message_id, at_ms) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
                params![id.0.as_slice(), to_sql_u64(now_ms)],
            )
            .map_err(storage("recording a processed delivery"))?;
        Ok(())
    }

    /// Forgets deliveries the relay confirmed deleting.
    pub fn forget_processed(&self, ids: &[MessageId]) -> Result<(), ClientError> {
        let mut statement = self
            .conn
            .prepare_cached("DELETE FROM processed WHERE server_message_id = ?1")
            .map_err(storage("forgetting processed deliveries"))?;
        for id in ids {
            statement
                .execute([id.0.as_slice()])
                .map_err(storage("forgetting processed deliveries"))?;
        }
        Ok(())
    }

    /// Deliveries processed but not yet confirmed deleted at the relay.
    pub fn unconfirmed(&self) -> Result<Vec<MessageId>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT server_message_id FROM processed ORDER BY at_ms LIMIT 256")
            .map_err(storage("reading processed deliveries"))?;
        let rows = statement
            .query_map([], |row| row.get::<_, Vec<u8>>(0))
            .map_err(storage("reading processed deliveries"))?;
        let mut out = Vec::new();
        for row in rows {
            let bytes = row.map_err(storage("reading processed deliveries"))?;
            let id = <[u8; 16]>::try_from(bytes.as_slice())
                .map_err(|_| ClientError::Storage("a stored delivery id is malformed".into()))?;
            out.push(MessageId(id));
        }
        Ok(out)
    }

    fn quarantine_context(id: &MessageId) -> String {
        format!("fuin-client/v1/quarantine/{}", hex::encode(id.0))
    }

    pub fn quarantine(
        &self,
        id: &MessageId,
        sender: &DeviceAddress<'_>,
        record: &[u8],
        now_ms: u64,
    ) -> Result<(), ClientError> {
        let sealed = self.seal(&Self::quarantine_context(id), record);
        self.conn
            .execute(
                "INSERT INTO quarantine (server_message_id, sender_user, sender_device, record, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                params![
                    id.0.as_slice(),
                    sender.user.as_str(),
                    i64::from(sender.device.0),
                    sealed,
                    to_sql_u64(now_ms)
                ],
            )
            .map_err(storage("quarantining a delivery"))?;
        Ok(())
    }

    /// The quarantined deliveries of one sender device, oldest first.
    #[allow(clippy::type_complexity)]
    pub fn quarantined(
        &self,
        sender: &DeviceAddress<'_>,
    ) -> Result<Vec<(MessageId, Zeroizing<Vec<u8>>)>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT server_message_id, record FROM quarantine
                 WHERE sender_user = ?1 AND sender_device = ?2 ORDER BY at_ms, rowid",
            )
            .map_err(storage("reading quarantine"))?;
        let rows = statement
            .query_map(
                params![sender.user.as_str(), i64::from(sender.device.0)],
                |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?)),
            )
            .map_err(storage("reading quarantine"))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, sealed) = row.map_err(storage("reading quarantine"))?;
            let id = MessageId(
                <[u8; 16]>::try_from(id.as_slice())
                    .map_err(|_| ClientError::Storage("a quarantined id is malformed".into()))?,
            );
            let record = self.open(&Self::quarantine_context(&id), &sealed)?;
            out.push((id, record));
        }
        Ok(out)
    }

    /// Removes a held delivery; whether it was still held (another process
    /// on the store may have released it first).
    pub fn release_quarantined(&self, id: &MessageId) -> Result<bool, ClientError> {
        let removed = self
            .conn
            .execute(
                "DELETE FROM quarantine WHERE server_message_id = ?1",
                [id.0.as_slice()],
            )
            .map_err(storage("releasing a quarantined delivery"))?;
        Ok(removed > 0)
    }

    pub fn enqueue(
        &self,
        message: Option<i64>,
        batch: &[u8],
        now_ms: u64,
    ) -> Result<i64, ClientError> {
        self.conn
            .execute(
                "INSERT INTO outbox (message, batch, created_ms) VALUES (?1, ?2, ?3)",
                params![message, batch, to_sql_u64(now_ms)],
            )
            .map_err(storage("queueing a send"))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Queued sends, oldest first: outbox id, history row, encoded batch.
    #[allow(clippy::type_complexity)]
    pub fn outbox(&self) -> Result<Vec<(i64, Option<i64>, Vec<u8>)>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT id, message, batch FROM outbox ORDER BY id")
            .map_err(storage("reading the outbox"))?;
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .map_err(storage("reading the outbox"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(storage("reading the outbox"))
    }

    pub fn dequeue(&self, id: i64) -> Result<(), ClientError> {
        self.conn
            .execute("DELETE FROM outbox WHERE id = ?1", [id])
            .map_err(storage("removing a sent batch"))?;
        Ok(())
    }
}
