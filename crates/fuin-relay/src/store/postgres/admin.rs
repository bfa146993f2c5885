//! The PostgreSQL store's administration: suspended users, removing a
//! device at the operator's request, revoking a user's tokens, and the
//! counts of what is stored.

use fuin_wire::{DeviceAddress, UserId};

use super::accounts::{lock_user, remove_device};
use super::{Op, PostgresStore, corrupt, key, sql_time};
use crate::store::{AdminRecord, StoreError, StoreStats};

/// Every count in one statement, so that they come from one snapshot.
const STATS: &str = "SELECT \
    (SELECT COUNT(*) FROM (SELECT user_id FROM accounts UNION SELECT user_id FROM devices) AS users), \
    (SELECT COUNT(*) FROM devices), \
    (SELECT COUNT(*) FROM mailbox), \
    (SELECT COALESCE(SUM(octet_length(record)), 0)::BIGINT FROM mailbox), \
    (SELECT COUNT(*) FROM reports), \
    (SELECT COUNT(*) FROM blobs), \
    (SELECT COALESCE(SUM(COALESCE(length, octet_length(content))), 0)::BIGINT FROM blobs), \
    (SELECT COUNT(*) FROM tokens), \
    (SELECT COUNT(*) FROM suspended_users), \
    (SELECT COUNT(*) FROM invites)";

impl PostgresStore {
    pub(super) async fn set_suspended(
        &self,
        user: &UserId<'_>,
        suspended: bool,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        const OP: &str = "set_suspended";
        let user = user.as_str();
        let now = sql_time(now_ms);
        let client = self.client(OP).await?;
        let changed = if suspended {
            client
                .execute(
                    "INSERT INTO suspended_users (user_id, suspended_at) VALUES ($1, $2) \
                     ON CONFLICT (user_id) DO NOTHING",
                    &[&user, &now],
                )
                .await
                .op(OP)?
        } else {
            client
                .execute("DELETE FROM suspended_users WHERE user_id = $1", &[&user])
                .await
                .op(OP)?
        };
        Ok(changed == 1)
    }

    pub(super) async fn user_suspended(&self, user: &UserId<'_>) -> Result<bool, StoreError> {
        const OP: &str = "user_suspended";
        let client = self.client(OP).await?;
        let check = client
            .prepare_cached("SELECT 1 FROM suspended_users WHERE user_id = $1")
            .await
            .op(OP)?;
        Ok(client
            .query_opt(&check, &[&user.as_str()])
            .await
            .op(OP)?
            .is_some())
    }

    pub(super) async fn remove_device(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<bool, StoreError> {
        const OP: &str = "remove_device";
        let (user, device) = key(address);
        let mut client = self.client(OP).await?;
        let transaction = client.transaction().await.op(OP)?;
        // Under the user's lock, like a new device list.
        lock_user(&transaction, &user, OP).await?;
        let registered = transaction
            .query_opt(
                "SELECT 1 FROM devices WHERE user_id = $1 AND device = $2",
                &[&user, &device],
            )
            .await
            .op(OP)?
            .is_some();
        if !registered {
            return Ok(false);
        }
        remove_device(&transaction, &user, device, OP).await?;
        transaction.commit().await.op(OP)?;
        Ok(true)
    }

    pub(super) async fn revoke_user_tokens(&self, user: &UserId<'_>) -> Result<u64, StoreError> {
        const OP: &str = "revoke_user_tokens";
        let client = self.client(OP).await?;
        client
            .execute("DELETE FROM tokens WHERE user_id = $1", &[&user.as_str()])
            .await
            .op(OP)
    }

    pub(super) async fn stats(&self) -> Result<StoreStats, StoreError> {
        const OP: &str = "stats";
        let client = self.client(OP).await?;
        let row = client.query_one(STATS, &[]).await.op(OP)?;
        let count = |index: usize| -> Result<u64, StoreError> {
            let count: i64 = row.try_get(index).op(OP)?;
            u64::try_from(count).map_err(|_| corrupt(OP))
        };
        Ok(StoreStats {
            accounts: count(0)?,
            devices: count(1)?,
            envelopes: count(2)?,
            envelope_bytes: count(3)?,
            reports: count(4)?,
            blobs: count(5)?,
            blob_bytes: count(6)?,
            tokens: count(7)?,
            suspended_users: count(8)?,
            invites: count(9)?,
        })
    }

    pub(super) async fn record_admin_action(&self, record: AdminRecord) -> Result<(), StoreError> {
        const OP: &str = "record_admin_action";
        let at = sql_time(record.at_ms);
        let client = self.client(OP).await?;
        client
            .execute(
                "INSERT INTO admin_actions (at, action, target, outcome) VALUES ($1, $2, $3, $4)",
                &[&at, &record.action, &record.target, &record.outcome],
            )
            .await
            .op(OP)?;
        Ok(())
    }

    pub(super) async fn admin_actions(&self, limit: usize) -> Result<Vec<AdminRecord>, StoreError> {
        const OP: &str = "admin_actions";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client(OP).await?;
        let rows = client
            .query(
                "SELECT at, action, target, outcome FROM admin_actions ORDER BY id DESC LIMIT $1",
                &[&limit],
            )
            .await
            .op(OP)?;
        rows.iter()
            .map(|row| {
                let at: i64 = row.try_get(0).op(OP)?;
                Ok(AdminRecord {
                    at_ms: u64::try_from(at).map_err(|_| corrupt(OP))?,
                    action: row.try_get(1).op(OP)?,
                    target: row.try_get(2).op(OP)?,
                    outcome: row.try_get(3).op(OP)?,
                })
            })
            .collect()
    }
}
