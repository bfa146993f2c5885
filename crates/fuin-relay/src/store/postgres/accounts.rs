//! The PostgreSQL store's accounts: per user the newest accepted signed
//! device list (its frame bytes, version and account key), and the
//! registered devices it names, kept in step with it in one transaction
//! under a lock per user, so that nodes publishing at once serialize.

use std::collections::BTreeMap;

use deadpool_postgres::Transaction;
use fuin_wire::{DeviceAddress, DeviceId, UserId};

use super::devices::identity_bytes;
use super::health;
use super::locks::account_lock;
use super::{Op, PostgresStore, corrupt, device_id, sql_time};
use crate::store::{NewDeviceList, StoreError, StoredAccount};

impl PostgresStore {
    pub(super) async fn create_account(
        &self,
        list: NewDeviceList,
        invite_hash: Option<[u8; 32]>,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        const OP: &str = "create_account";
        let now = sql_time(now_ms);
        let user = list.user.as_str();
        let mut client = self.client(OP).await?;
        let transaction = client.transaction().await.op(OP)?;
        lock_user(&transaction, user, OP).await?;
        let taken = transaction
            .query_opt(
                "SELECT 1 FROM accounts WHERE user_id = $1 \
                 UNION ALL SELECT 1 FROM devices WHERE user_id = $1 LIMIT 1",
                &[&user],
            )
            .await
            .op(OP)?
            .is_some();
        if taken {
            return Err(StoreError::AccountExists);
        }
        if let Some(hash) = invite_hash {
            // Two registrations racing for one invite: the second deletes
            // nothing (the first's delete holds the row until it commits).
            let spent = transaction
                .execute(
                    "DELETE FROM invites WHERE code_hash = $1",
                    &[&hash.as_slice()],
                )
                .await
                .op(OP)?;
            if spent != 1 {
                return Err(StoreError::InvalidInvite);
            }
        }
        write_account(&transaction, &list, OP).await?;
        for (device, identity) in &list.devices {
            insert_device(
                &transaction,
                user,
                i64::from(device.0),
                &identity_bytes(identity),
                now,
                OP,
            )
            .await?;
        }
        health::commit(transaction, OP).await
    }

    pub(super) async fn account(
        &self,
        user: &UserId<'_>,
    ) -> Result<Option<StoredAccount>, StoreError> {
        const OP: &str = "account";
        let client = self.client(OP).await?;
        let select = client
            .prepare_cached("SELECT account_key, version, list FROM accounts WHERE user_id = $1")
            .await
            .op(OP)?;
        let Some(row) = client.query_opt(&select, &[&user.as_str()]).await.op(OP)? else {
            return Ok(None);
        };
        let account_key: Vec<u8> = row.try_get(0).op(OP)?;
        let version: i64 = row.try_get(1).op(OP)?;
        Ok(Some(StoredAccount {
            account_key: account_key.try_into().map_err(|_| corrupt(OP))?,
            version: u64::try_from(version).map_err(|_| corrupt(OP))?,
            list: row.try_get(2).op(OP)?,
        }))
    }

    pub(super) async fn replace_device_list(
        &self,
        list: NewDeviceList,
        now_ms: u64,
    ) -> Result<Vec<DeviceId>, StoreError> {
        const OP: &str = "replace_device_list";
        let now = sql_time(now_ms);
        let user = list.user.as_str();
        let mut client = self.client(OP).await?;
        let transaction = client.transaction().await.op(OP)?;
        lock_user(&transaction, user, OP).await?;
        let current = transaction
            .query_opt(
                "SELECT account_key, version FROM accounts WHERE user_id = $1",
                &[&user],
            )
            .await
            .op(OP)?;
        if let Some(row) = current {
            let account_key: Vec<u8> = row.try_get(0).op(OP)?;
            let version: i64 = row.try_get(1).op(OP)?;
            if account_key != list.account_key {
                return Err(StoreError::AccountKeyMismatch);
            }
            if u64::try_from(version).map_err(|_| corrupt(OP))? >= list.version {
                return Err(StoreError::StaleDeviceList);
            }
        }
        let mut registered: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
        for row in transaction
            .query(
                "SELECT device, identity FROM devices WHERE user_id = $1",
                &[&user],
            )
            .await
            .op(OP)?
        {
            registered.insert(row.try_get(0).op(OP)?, row.try_get(1).op(OP)?);
        }
        let named: BTreeMap<i64, Vec<u8>> = list
            .devices
            .iter()
            .map(|(device, identity)| (i64::from(device.0), identity_bytes(identity)))
            .collect();
        let mut removed = Vec::new();
        for (device, identity) in &registered {
            // A device whose identity changed is removed, then added.
            if named.get(device) != Some(identity) {
                remove_device(&transaction, user, *device, OP).await?;
                removed.push(device_id(*device, OP)?);
            }
        }
        for (device, identity) in &named {
            if registered.get(device) != Some(identity) {
                insert_device(&transaction, user, *device, identity, now, OP).await?;
            }
        }
        write_account(&transaction, &list, OP).await?;
        if !removed.is_empty() {
            // The other nodes end the removed devices' streams and long polls.
            let addresses: Vec<DeviceAddress<'_>> = removed
                .iter()
                .map(|device| DeviceAddress::new(list.user.clone(), *device))
                .collect();
            let payloads = self.notifier.device_payloads(addresses.iter());
            transaction
                .execute(
                    "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p",
                    &[&self.notifier.channel(), &payloads],
                )
                .await
                .op(OP)?;
        }
        health::commit(transaction, OP).await?;
        Ok(removed)
    }
}

pub(super) async fn lock_user(
    transaction: &Transaction<'_>,
    user: &str,
    name: &'static str,
) -> Result<(), StoreError> {
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&account_lock(user)])
        .await
        .op(name)?;
    Ok(())
}

async fn write_account(
    transaction: &Transaction<'_>,
    list: &NewDeviceList,
    name: &'static str,
) -> Result<(), StoreError> {
    let version = i64::try_from(list.version).map_err(|_| corrupt(name))?;
    transaction
        .execute(
            "INSERT INTO accounts (user_id, account_key, version, list) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id) DO UPDATE SET account_key = excluded.account_key, \
             version = excluded.version, list = excluded.list",
            &[
                &list.user.as_str(),
                &list.account_key.as_slice(),
                &version,
                &list.list,
            ],
        )
        .await
        .op(name)?;
    Ok(())
}

async fn insert_device(
    transaction: &Transaction<'_>,
    user: &str,
    device: i64,
    identity: &[u8],
    now: i64,
    name: &'static str,
) -> Result<(), StoreError> {
    let checksum = crate::store::integrity::device_checksum(user, device, identity);
    transaction
        .execute(
            "INSERT INTO devices (user_id, device, identity, registered_at, checksum) \
             VALUES ($1, $2, $3, $4, $5)",
            &[&user, &device, &identity, &now, &checksum.as_slice()],
        )
        .await
        .op(name)?;
    Ok(())
}

/// Deletes a device and everything kept for it: identity, tokens,
/// challenges, prekeys and mailbox.
pub(super) async fn remove_device(
    transaction: &Transaction<'_>,
    user: &str,
    device: i64,
    name: &'static str,
) -> Result<(), StoreError> {
    for sql in [
        "DELETE FROM tokens WHERE user_id = $1 AND device = $2",
        "DELETE FROM challenges WHERE user_id = $1 AND device = $2",
        "DELETE FROM one_time_prekeys WHERE user_id = $1 AND device = $2",
        "DELETE FROM one_time_kem_prekeys WHERE user_id = $1 AND device = $2",
        "DELETE FROM last_resort_kem_prekeys WHERE user_id = $1 AND device = $2",
        "DELETE FROM signed_prekeys WHERE user_id = $1 AND device = $2",
        "DELETE FROM mailbox WHERE user_id = $1 AND device = $2",
        "DELETE FROM devices WHERE user_id = $1 AND device = $2",
    ] {
        transaction.execute(sql, &[&user, &device]).await.op(name)?;
    }
    Ok(())
}
