//! The SQLite store's administration: suspended users, removing a device at
//! the operator's request, revoking a user's tokens, and the counts of what
//! is stored.

use fuin_wire::{DeviceAddress, UserId};
use rusqlite::params;

use super::accounts::remove_device;
use super::devices::device_exists;
use super::{Op, SqliteStore, corrupt, count_u64, key, sql_time};
use crate::store::{AdminRecord, StoreError, StoreStats};

/// Every count in one statement, so that they come from one snapshot.
const STATS: &str = "SELECT \
    (SELECT COUNT(*) FROM (SELECT user FROM accounts UNION SELECT user FROM devices)), \
    (SELECT COUNT(*) FROM devices), \
    (SELECT COUNT(*) FROM mailbox), \
    (SELECT COALESCE(SUM(LENGTH(record)), 0) FROM mailbox), \
    (SELECT COUNT(*) FROM reports), \
    (SELECT COUNT(*) FROM blobs), \
    (SELECT COALESCE(SUM(COALESCE(length, LENGTH(content))), 0) FROM blobs), \
    (SELECT COUNT(*) FROM tokens), \
    (SELECT COUNT(*) FROM suspended_users), \
    (SELECT COUNT(*) FROM invites)";

impl SqliteStore {
    pub(super) async fn set_suspended(
        &self,
        user: &UserId<'_>,
        suspended: bool,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        const OP: &str = "set_suspended";
        let user = user.as_str().to_owned();
        let now = sql_time(now_ms);
        self.write(OP, move |conn| {
            let changed = if suspended {
                conn.prepare_cached(
                    "INSERT OR IGNORE INTO suspended_users (user, suspended_at) VALUES (?1, ?2)",
                )
                .op(OP)?
                .execute(params![user, now])
                .op(OP)?
            } else {
                conn.prepare_cached("DELETE FROM suspended_users WHERE user = ?1")
                    .op(OP)?
                    .execute(params![user])
                    .op(OP)?
            };
            Ok(changed == 1)
        })
        .await
    }

    pub(super) async fn user_suspended(&self, user: &UserId<'_>) -> Result<bool, StoreError> {
        const OP: &str = "user_suspended";
        let user = user.as_str().to_owned();
        self.read(OP, move |conn| {
            conn.prepare_cached("SELECT 1 FROM suspended_users WHERE user = ?1")
                .op(OP)?
                .exists(params![user])
                .op(OP)
        })
        .await
    }

    pub(super) async fn remove_device(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<bool, StoreError> {
        const OP: &str = "remove_device";
        let (user, device) = key(address);
        self.write(OP, move |conn| {
            if !device_exists(conn, &user, device, OP)? {
                return Ok(false);
            }
            remove_device(conn, &user, device, OP)?;
            Ok(true)
        })
        .await
    }

    pub(super) async fn revoke_user_tokens(&self, user: &UserId<'_>) -> Result<u64, StoreError> {
        const OP: &str = "revoke_user_tokens";
        let user = user.as_str().to_owned();
        self.write(OP, move |conn| {
            let revoked = conn
                .prepare_cached("DELETE FROM tokens WHERE user = ?1")
                .op(OP)?
                .execute(params![user])
                .op(OP)?;
            Ok(count_u64(revoked))
        })
        .await
    }

    pub(super) async fn stats(&self) -> Result<StoreStats, StoreError> {
        const OP: &str = "stats";
        self.read(OP, move |conn| {
            let counts: [i64; 10] = conn
                .prepare_cached(STATS)
                .op(OP)?
                .query_row([], |row| {
                    let mut counts = [0i64; 10];
                    for (i, count) in counts.iter_mut().enumerate() {
                        *count = row.get(i)?;
                    }
                    Ok(counts)
                })
                .op(OP)?;
            let mut counts = counts.into_iter().map(u64::try_from);
            let mut next = || -> Result<u64, StoreError> {
                counts
                    .next()
                    .and_then(Result::ok)
                    .ok_or_else(|| corrupt(OP))
            };
            Ok(StoreStats {
                accounts: next()?,
                devices: next()?,
                envelopes: next()?,
                envelope_bytes: next()?,
                reports: next()?,
                blobs: next()?,
                blob_bytes: next()?,
                tokens: next()?,
                suspended_users: next()?,
                invites: next()?,
            })
        })
        .await
    }

    pub(super) async fn record_admin_action(&self, record: AdminRecord) -> Result<(), StoreError> {
        const OP: &str = "record_admin_action";
        let at = sql_time(record.at_ms);
        self.write(OP, move |conn| {
            conn.prepare_cached(
                "INSERT INTO admin_actions (at, action, target, outcome) VALUES (?1, ?2, ?3, ?4)",
            )
            .op(OP)?
            .execute(params![at, record.action, record.target, record.outcome])
            .op(OP)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn admin_actions(&self, limit: usize) -> Result<Vec<AdminRecord>, StoreError> {
        const OP: &str = "admin_actions";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(OP, move |conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT at, action, target, outcome FROM admin_actions \
                     ORDER BY id DESC LIMIT ?1",
                )
                .op(OP)?;
            let rows = statement
                .query_map(params![limit], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .op(OP)?;
            let mut records = Vec::new();
            for row in rows {
                let (at, action, target, outcome) = row.op(OP)?;
                records.push(AdminRecord {
                    at_ms: u64::try_from(at).map_err(|_| corrupt(OP))?,
                    action,
                    target,
                    outcome,
                });
            }
            Ok(records)
        })
        .await
    }
}
