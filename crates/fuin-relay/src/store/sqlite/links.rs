//! The SQLite store's link rendezvous: at most one sealed message per
//! channel and slot, taken once, kept until it expires.

use rusqlite::{OptionalExtension, params};

use super::{Op, SqliteStore, sql_time};
use crate::store::{LinkSlot, StoreError};

impl SqliteStore {
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
        let slot = slot.as_u8();
        // One writer: the count, the check of the slot and the insert are
        // one step.
        self.write(OP, move |conn| {
            // An expired message no longer holds its slot.
            conn.prepare_cached(
                "DELETE FROM link_messages WHERE channel = ?1 AND slot = ?2 AND expires_at <= ?3",
            )
            .op(OP)?
            .execute(params![channel.as_slice(), slot, now])
            .op(OP)?;
            let taken = conn
                .prepare_cached("SELECT 1 FROM link_messages WHERE channel = ?1 AND slot = ?2")
                .op(OP)?
                .exists(params![channel.as_slice(), slot])
                .op(OP)?;
            if taken {
                return Err(StoreError::LinkSlotTaken);
            }
            let waiting: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM link_messages WHERE expires_at > ?1")
                .op(OP)?
                .query_row(params![now], |row| row.get(0))
                .op(OP)?;
            if u64::try_from(waiting).unwrap_or(u64::MAX) >= max_waiting {
                return Err(StoreError::LinkCapacity);
            }
            conn.prepare_cached(
                "INSERT INTO link_messages (channel, slot, message, expires_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .op(OP)?
            .execute(params![channel.as_slice(), slot, message, expires_at])
            .op(OP)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn take_link_message(
        &self,
        channel: [u8; 16],
        slot: LinkSlot,
        now_ms: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        const OP: &str = "take_link_message";
        let now = sql_time(now_ms);
        let slot = slot.as_u8();
        // A read first, so that a take that finds nothing (most of a long
        // poll's looks) costs no write.
        let waiting = self
            .read(OP, move |conn| {
                conn.prepare_cached(
                    "SELECT 1 FROM link_messages \
                     WHERE channel = ?1 AND slot = ?2 AND expires_at > ?3",
                )
                .op(OP)?
                .exists(params![channel.as_slice(), slot, now])
                .op(OP)
            })
            .await?;
        if !waiting {
            return Ok(None);
        }
        // Deleting and returning in one statement, on the one writer: two
        // takes cannot both get it.
        self.write(OP, move |conn| {
            conn.prepare_cached(
                "DELETE FROM link_messages WHERE channel = ?1 AND slot = ?2 AND expires_at > ?3 \
                 RETURNING message",
            )
            .op(OP)?
            .query_row(params![channel.as_slice(), slot, now], |row| row.get(0))
            .optional()
            .op(OP)
        })
        .await
    }
}
