//! The SQLite store's accounts: per user the newest accepted signed device
//! list (its frame bytes, version and account key), and the registered
//! devices it names, kept in step with it in one transaction.

use std::collections::BTreeMap;

use fuin_wire::UserId;
use rusqlite::{Connection, OptionalExtension, params};

use super::devices::{identity_bytes, insert_device};
use super::{Op, SqliteStore, corrupt, device_id, sql_time};
use crate::store::{NewDeviceList, StoreError, StoredAccount};
use fuin_wire::DeviceId;

impl SqliteStore {
    pub(super) async fn create_account(
        &self,
        list: NewDeviceList,
        invite_hash: Option<[u8; 32]>,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        const OP: &str = "create_account";
        let now = sql_time(now_ms);
        self.write(OP, move |conn| {
            let user = list.user.as_str();
            let taken = conn
                .prepare_cached("SELECT 1 FROM accounts WHERE user = ?1")
                .op(OP)?
                .exists(params![user])
                .op(OP)?
                || conn
                    .prepare_cached("SELECT 1 FROM devices WHERE user = ?1")
                    .op(OP)?
                    .exists(params![user])
                    .op(OP)?;
            if taken {
                return Err(StoreError::AccountExists);
            }
            if let Some(hash) = invite_hash {
                let spent = conn
                    .prepare_cached("DELETE FROM invites WHERE code_hash = ?1")
                    .op(OP)?
                    .execute(params![hash.as_slice()])
                    .op(OP)?;
                if spent != 1 {
                    return Err(StoreError::InvalidInvite);
                }
            }
            write_account(conn, &list, OP)?;
            for (device, identity) in &list.devices {
                insert_device(
                    conn,
                    user,
                    i64::from(device.0),
                    &identity_bytes(identity),
                    now,
                    OP,
                )?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn account(
        &self,
        user: &UserId<'_>,
    ) -> Result<Option<StoredAccount>, StoreError> {
        const OP: &str = "account";
        let user = user.as_str().to_owned();
        self.read(OP, move |conn| {
            let row: Option<(Vec<u8>, i64, Vec<u8>)> = conn
                .prepare_cached("SELECT account_key, version, list FROM accounts WHERE user = ?1")
                .op(OP)?
                .query_row(params![user], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .optional()
                .op(OP)?;
            row.map(|(account_key, version, list)| {
                Ok(StoredAccount {
                    account_key: account_key.try_into().map_err(|_| corrupt(OP))?,
                    version: u64::try_from(version).map_err(|_| corrupt(OP))?,
                    list,
                })
            })
            .transpose()
        })
        .await
    }

    pub(super) async fn replace_device_list(
        &self,
        list: NewDeviceList,
        now_ms: u64,
    ) -> Result<Vec<DeviceId>, StoreError> {
        const OP: &str = "replace_device_list";
        let now = sql_time(now_ms);
        self.write(OP, move |conn| {
            let user = list.user.as_str();
            let current: Option<(Vec<u8>, i64)> = conn
                .prepare_cached("SELECT account_key, version FROM accounts WHERE user = ?1")
                .op(OP)?
                .query_row(params![user], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
                .op(OP)?;
            if let Some((account_key, version)) = current {
                if account_key != list.account_key {
                    return Err(StoreError::AccountKeyMismatch);
                }
                if u64::try_from(version).map_err(|_| corrupt(OP))? >= list.version {
                    return Err(StoreError::StaleDeviceList);
                }
            }
            // The registered devices now, to compare with the list.
            let mut registered: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
            {
                let mut statement = conn
                    .prepare_cached("SELECT device, identity FROM devices WHERE user = ?1")
                    .op(OP)?;
                let rows = statement
                    .query_map(params![user], |row| Ok((row.get(0)?, row.get(1)?)))
                    .op(OP)?;
                for row in rows {
                    let (device, identity) = row.op(OP)?;
                    registered.insert(device, identity);
                }
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
                    remove_device(conn, user, *device, OP)?;
                    removed.push(device_id(*device, OP)?);
                }
            }
            for (device, identity) in &named {
                if registered.get(device) != Some(identity) {
                    insert_device(conn, user, *device, identity, now, OP)?;
                }
            }
            write_account(conn, &list, OP)?;
            Ok(removed)
        })
        .await
    }
}

fn write_account(
    conn: &Connection,
    list: &NewDeviceList,
    name: &'static str,
) -> Result<(), StoreError> {
    let version = i64::try_from(list.version).map_err(|_| corrupt(name))?;
    conn.prepare_cached(
        "INSERT INTO accounts (user, account_key, version, list) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (user) DO UPDATE SET account_key = excluded.account_key, \
         version = excluded.version, list = excluded.list",
    )
    .op(name)?
    .execute(params![
        list.user.as_str(),
        list.account_key.as_slice(),
        version,
        list.list
    ])
    .op(name)?;
    Ok(())
}

/// Deletes a device and everything the relay keeps for it: its identity,
/// tokens, challenges, prekeys (with the identity, by foreign key) and
/// mailbox.
pub(super) fn remove_device(
    conn: &Connection,
    user: &str,
    device: i64,
    name: &'static str,
) -> Result<(), StoreError> {
    for sql in [
        "DELETE FROM tokens WHERE user = ?1 AND device = ?2",
        "DELETE FROM challenges WHERE user = ?1 AND device = ?2",
        "DELETE FROM one_time_prekeys WHERE user = ?1 AND device = ?2",
        "DELETE FROM one_time_kem_prekeys WHERE user = ?1 AND device = ?2",
        "DELETE FROM last_resort_kem_prekeys WHERE user = ?1 AND device = ?2",
        "DELETE FROM signed_prekeys WHERE user = ?1 AND device = ?2",
        "DELETE FROM mailbox WHERE user = ?1 AND device = ?2",
        "DELETE FROM devices WHERE user = ?1 AND device = ?2",
    ] {
        conn.prepare_cached(sql)
            .op(name)?
            .execute(params![user, device])
            .op(name)?;
    }
    Ok(())
}
