//! The PostgreSQL store's invite codes, kept as their SHA-256 only and
//! deleted when spent.

use super::{Op, PostgresStore};
use crate::store::StoreError;

impl PostgresStore {
    pub(super) async fn add_invites(&self, code_hashes: &[[u8; 32]]) -> Result<(), StoreError> {
        const OP: &str = "add_invites";
        let hashes: Vec<&[u8]> = code_hashes.iter().map(<[u8; 32]>::as_slice).collect();
        let client = self.client(OP).await?;
        client
            .execute(
                "INSERT INTO invites (code_hash) SELECT unnest($1::bytea[]) ON CONFLICT DO NOTHING",
                &[&hashes],
            )
            .await
            .op(OP)?;
        Ok(())
    }

    pub(super) async fn invite_unspent(&self, code_hash: [u8; 32]) -> Result<bool, StoreError> {
        const OP: &str = "invite_unspent";
        let client = self.client(OP).await?;
        Ok(client
            .query_opt(
                "SELECT 1 FROM invites WHERE code_hash = $1",
                &[&code_hash.as_slice()],
            )
            .await
            .op(OP)?
            .is_some())
    }
}
