//! Answered handshakes and the signed prekey ledger (`spec/client.md` §1.2).
//!
//! A first message sent without a one-time prekey consumes nothing on this
//! device, so completing its handshake again would succeed: each handshake
//! answered is recorded (signed prekey id, initiator base key) in the
//! transaction that stores its responder session, and a prekey message
//! whose handshake is recorded is a replay. Rows live as long as their
//! signed prekey: the ledger lists the signed prekeys this device made, and
//! rows of one retired by the prekey store go when a new one is made.

use fuin_wire::X25519PublicKey;
use rusqlite::{OptionalExtension, params};

use crate::ClientError;

use super::{Reader, storage, to_sql_u64};

/// The signed prekeys the prekey store keeps: the oldest is retired when a
/// new one is made beyond this many, and its answered handshakes go with it.
const SIGNED_PREKEYS_KEPT: i64 = fuin_seal::SIGNED_PREKEYS_KEPT as i64;

impl Reader<'_> {
    /// Whether the handshake `(signed_prekey_id, base_key)` was answered.
    pub fn handshake_answered(
        &self,
        signed_prekey_id: u32,
        base_key: &X25519PublicKey,
    ) -> Result<bool, ClientError> {
        let count: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM answered_handshakes
                 WHERE signed_prekey_id = ?1 AND base_key = ?2",
                params![i64::from(signed_prekey_id), &base_key.as_bytes()[..]],
                |row| row.get(0),
            )
            .map_err(storage("reading the answered handshakes"))?;
        Ok(count > 0)
    }

    /// Records the handshake `(signed_prekey_id, base_key)` as answered.
    pub fn record_answered_handshake(
        &self,
        signed_prekey_id: u32,
        base_key: &X25519PublicKey,
        now_ms: u64,
    ) -> Result<(), ClientError> {
        self.conn
            .execute(
                "INSERT INTO answered_handshakes (signed_prekey_id, base_key, at_ms)
                 VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![
                    i64::from(signed_prekey_id),
                    &base_key.as_bytes()[..],
                    to_sql_u64(now_ms)
                ],
            )
            .map_err(storage("recording an answered handshake"))?;
        Ok(())
    }

    /// Notes that the signed prekey `id` was made (the newest), and forgets
    /// the answered handshakes of signed prekeys retired by it. Prekey ids
    /// only grow, so the retired ones are those older than the
    /// [`SIGNED_PREKEYS_KEPT`] newest; with fewer noted (a store migrated
    /// from schema version 1), nothing is known retired yet.
    pub fn note_signed_prekey(&self, id: u32, now_ms: u64) -> Result<(), ClientError> {
        self.conn
            .execute(
                "INSERT INTO signed_prekey_ids (id, at_ms) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
                params![i64::from(id), to_sql_u64(now_ms)],
            )
            .map_err(storage("noting a signed prekey"))?;
        let oldest_kept: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM signed_prekey_ids ORDER BY id DESC LIMIT 1 OFFSET ?1",
                [SIGNED_PREKEYS_KEPT - 1],
                |row| row.get(0),
            )
            .optional()
            .map_err(storage("reading the signed prekeys"))?;
        if let Some(oldest_kept) = oldest_kept {
            self.conn
                .execute(
                    "DELETE FROM answered_handshakes WHERE signed_prekey_id < ?1",
                    [oldest_kept],
                )
                .map_err(storage("forgetting retired handshakes"))?;
            self.conn
                .execute("DELETE FROM signed_prekey_ids WHERE id < ?1", [oldest_kept])
                .map_err(storage("forgetting retired signed prekeys"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::LocalStore;
    use fuin_seal::state::StorageKey;

    #[test]
    fn answered_handshakes_live_as_long_as_their_signed_prekey() {
        let dir = tempfile::tempdir().unwrap();
        let key = StorageKey::generate(&mut rand::rng());
        let mut store = LocalStore::create(&dir.path().join("store.db"), key).unwrap();
        let (tx, key) = store.transaction().unwrap();
        let db = Reader::of(&tx, key);
        let first = X25519PublicKey([7; 32]);
        let second = X25519PublicKey([8; 32]);
        db.note_signed_prekey(1, 0).unwrap();
        db.record_answered_handshake(1, &first, 0).unwrap();
        assert!(db.handshake_answered(1, &first).unwrap());
        // Another base key, or the same one under another signed prekey, is
        // another handshake.
        assert!(!db.handshake_answered(1, &second).unwrap());
        assert!(!db.handshake_answered(2, &first).unwrap());

        db.note_signed_prekey(5, 0).unwrap();
        db.record_answered_handshake(5, &second, 0).unwrap();
        db.note_signed_prekey(9, 0).unwrap();
        // Prekey 1 is still one of the three kept.
        assert!(db.handshake_answered(1, &first).unwrap());
        db.note_signed_prekey(12, 0).unwrap();
        // Making the fourth retired prekey 1, and its handshakes with it.
        assert!(!db.handshake_answered(1, &first).unwrap());
        assert!(db.handshake_answered(5, &second).unwrap());
    }
}
