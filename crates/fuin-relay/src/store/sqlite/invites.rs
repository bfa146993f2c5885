//! The SQLite store's invite codes, kept as their SHA-256 only and deleted
//! when spent.

use rusqlite::params;

use super::{Op, SqliteStore};
use crate::store::StoreError;

impl SqliteStore {
    pub(super) async fn add_invites(&self, code_hashes: &[[u8; 32]]) -> Result<(), StoreError> {
        const OP: &str = "add_invites";
        let code_hashes = code_hashes.to_vec();
        self.write(OP, move |conn| {
            for hash in &code_hashes {
                conn.prepare_cached("INSERT OR IGNORE INTO invites (code_hash) VALUES (?1)")
                    .op(OP)?
                    .execute(params![hash.as_slice()])
                    .op(OP)?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn invite_unspent(&self, code_hash: [u8; 32]) -> Result<bool, StoreError> {
        const OP: &str = "invite_unspent";
        self.read(OP, move |conn| {
            conn.prepare_cached("SELECT 1 FROM invites WHERE code_hash = ?1")
                .op(OP)?
                .exists(params![code_hash.as_slice()])
                .op(OP)
        })
        .await
    }
}
