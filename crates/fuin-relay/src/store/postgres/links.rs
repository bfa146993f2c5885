//! The PostgreSQL store's link rendezvous: at most one sealed message per
//! channel and slot, taken once (`DELETE … RETURNING`, so two nodes racing
//! cannot both get it), kept until it expires. Leaving one takes a lock
//! shared by all nodes, so the bound on waiting messages holds across them.

use super::health;
use super::locks::LINK_LOCK;
use super::{Op, PostgresStore, sql_time};
use crate::store::{LinkSlot, StoreError};

impl PostgresStore {
    pub(super) async fn put_link_message(
        &self,
        channel: [u8; 16],
        slot: LinkSlot,
        message: Vec<u8>,
        expires_at_ms: u64,
        max_waiting: u64,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        const OP: &str = "put_link_message";
        let (now, expires_at) = (sql_time(now_ms), sql_time(expires_at_ms));
        let slot = i16::from(slot.as_u8());
        let channel = channel.as_slice();
        let mut client = self.client(OP).await?;
        let transaction = client.transaction().await.op(OP)?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&LINK_LOCK])
            .await
            .op(OP)?;
        // An expired message no longer holds its slot.
        transaction
            .execute(
                "DELETE FROM link_messages WHERE channel = $1 AND slot = $2 AND expires_at <= $3",
                &[&channel, &slot, &now],
            )
            .await
            .op(OP)?;
        let waiting: i64 = transaction
            .query_one(
                "SELECT COUNT(*) FROM link_messages WHERE expires_at > $1",
                &[&now],
            )
            .await
            .op(OP)?
            .try_get(0)
            .op(OP)?;
        let inserted = transaction
            .execute(
                "INSERT INTO link_messages (channel, slot, message, expires_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (channel, slot) DO NOTHING",
                &[&channel, &slot, &message, &expires_at],
            )
            .await
            .op(OP)?;
        if inserted != 1 {
            return Err(StoreError::LinkSlotTaken);
        }
        if u64::try_from(waiting).unwrap_or(u64::MAX) >= max_waiting {
            // Dropping the transaction rolls the insert back.
            return Err(StoreError::LinkCapacity);
        }
        health::commit(transaction, OP).await
    }

    pub(super) async fn take_link_message(
        &self,
        channel: [u8; 16],
        slot: LinkSlot,
        now_ms: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        const OP: &str = "take_link_message";
        let now = sql_time(now_ms);
        let slot = i16::from(slot.as_u8());
        let client = self.client(OP).await?;
        let take = client
            .prepare_cached(
                "DELETE FROM link_messages WHERE channel = $1 AND slot = $2 AND expires_at > $3 \
                 RETURNING message",
            )
            .await
            .op(OP)?;
        client
            .query_opt(&take, &[&channel.as_slice(), &slot, &now])
            .await
            .op(OP)?
            .map(|row| row.try_get(0).op(OP))
            .transpose()
    }
}
