//! The `accounts` table: per user (this device's own included) the account
//! key trusted for them, the newest device list that verified under it, and
//! a list signed by another key while that change waits for the user.
//!
//! The `peers` table mirrors the trusted list: exactly the devices it names,
//! with the identities it gives them, so that the 1:1 code keeps asking
//! `peers` which identity a device has.

use fuin_seal::VerifiedDeviceList;
use fuin_wire::account::SignedDeviceList;
use fuin_wire::{DeviceAddress, DeviceId, FrameBody, UserId};
use std::collections::HashMap;
use std::sync::Mutex;

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::ClientError;
use crate::store::{Reader, device_id, identity_bytes};

/// Created on every open, so stores made before accounts gain it.
pub(crate) const ACCOUNT_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    user          TEXT PRIMARY KEY,
    list          BLOB NOT NULL,
    version       INTEGER NOT NULL,
    pending_list  BLOB,
    first_seen_ms INTEGER NOT NULL
);
";

fn storage(what: &'static str) -> impl Fn(rusqlite::Error) -> ClientError {
    move |err| ClientError::Storage(format!("{what}: {err}"))
}

/// What this device holds of one user's account.
pub(crate) struct AccountRecord {
    /// The newest list that verified under the trusted key.
    pub trusted: VerifiedDeviceList,
    /// A list signed by another key, waiting for the user's decision.
    pub pending: Option<VerifiedDeviceList>,
}

/// Lists verified since the process started, by the SHA-256 of their user
/// and frame bytes: verifying is a pure function of those, and a stored list
/// is read on every send, so it is verified once, not on every read. Cleared
/// whole when it reaches [`VERIFIED_CACHE_LEN`] entries.
static VERIFIED: Mutex<Option<HashMap<[u8; 32], VerifiedDeviceList>>> = Mutex::new(None);
const VERIFIED_CACHE_LEN: usize = 1024;

fn decode_list(user: &UserId<'_>, bytes: &[u8]) -> Result<VerifiedDeviceList, ClientError> {
    let mut hasher = Sha256::new();
    hasher.update((user.as_str().len() as u64).to_be_bytes());
    hasher.update(user.as_str().as_bytes());
    hasher.update(bytes);
    let id: [u8; 32] = hasher.finalize().into();
    let cached = VERIFIED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .and_then(|cache| cache.get(&id).cloned());
    if let Some(list) = cached {
        return Ok(list);
    }
    let corrupt = || ClientError::Storage(format!("the stored device list of {user} is corrupt"));
    let list = SignedDeviceList::from_bytes(bytes).map_err(|_| corrupt())?;
    // Checked again when read: a row damaged or swapped in the file does not
    // pass for a list of this user.
    let list = VerifiedDeviceList::verify(&list, user, None, None).map_err(|_| corrupt())?;
    let mut cache = VERIFIED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let cache = cache.get_or_insert_with(HashMap::new);
    if cache.len() >= VERIFIED_CACHE_LEN {
        cache.clear();
    }
    cache.insert(id, list.clone());
    Ok(list)
}

impl Reader<'_> {
    /// The account this device holds for `user`, if any.
    pub fn account(&self, user: &UserId<'_>) -> Result<Option<AccountRecord>, ClientError> {
        let row: Option<(Vec<u8>, Option<Vec<u8>>)> = self
            .conn
            .query_row(
                "SELECT list, pending_list FROM accounts WHERE user = ?1",
                [user.as_str()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(storage("reading an account"))?;
        let Some((list, pending)) = row else {
            return Ok(None);
        };
        let trusted = decode_list(user, &list)?;
        let pending = pending.map(|bytes| decode_list(user, &bytes)).transpose()?;
        Ok(Some(AccountRecord { trusted, pending }))
    }

    /// Stores `list` as the trusted list of its user (and its key as the
    /// trusted key), clearing any pending change, and makes `peers` name
    /// exactly its devices. Sessions of a device that left the list, or whose
    /// identity changed, are deleted.
    pub fn put_trusted_list(
        &self,
        list: &VerifiedDeviceList,
        now_ms: u64,
    ) -> Result<(), ClientError> {
        let content = &list.list().content;
        let user = &content.user;
        let bytes = list.list().to_bytes()?;
        self.conn
            .execute(
                "INSERT INTO accounts (user, list, version, pending_list, first_seen_ms)
                 VALUES (?1, ?2, ?3, NULL, ?4)
                 ON CONFLICT (user) DO UPDATE SET list = excluded.list,
                     version = excluded.version, pending_list = NULL",
                params![
                    user.as_str(),
                    bytes,
                    i64::try_from(content.version).unwrap_or(i64::MAX),
                    i64::try_from(now_ms).unwrap_or(i64::MAX)
                ],
            )
            .map_err(storage("storing a device list"))?;
        let known = self.peers_of(user)?;
        for (device, record) in &known {
            let address = DeviceAddress::new(user.clone(), *device);
            match list.identity_of(*device) {
                Some(identity) if *identity == record.identity => {}
                _ => {
                    self.delete_sessions(&address)?;
                    self.conn
                        .execute(
                            "DELETE FROM peers WHERE user = ?1 AND device = ?2",
                            params![user.as_str(), i64::from(device.0)],
                        )
                        .map_err(storage("forgetting a peer"))?;
                }
            }
        }
        for entry in content.devices.as_slice() {
            self.conn
                .execute(
                    "INSERT INTO peers (user, device, identity, pending_identity, first_seen_ms)
                     VALUES (?1, ?2, ?3, NULL, ?4) ON CONFLICT (user, device) DO NOTHING",
                    params![
                        user.as_str(),
                        i64::from(entry.device.0),
                        identity_bytes(&entry.identity),
                        i64::try_from(now_ms).unwrap_or(i64::MAX)
                    ],
                )
                .map_err(storage("trusting a listed device"))?;
        }
        Ok(())
    }

    /// Records a list signed by another account key than the trusted one,
    /// for the user to accept or not.
    pub fn put_pending_list(&self, list: &VerifiedDeviceList) -> Result<(), ClientError> {
        let content = &list.list().content;
        self.conn
            .execute(
                "UPDATE accounts SET pending_list = ?2 WHERE user = ?1",
                params![content.user.as_str(), list.list().to_bytes()?],
            )
            .map_err(storage("recording an account key change"))?;
        Ok(())
    }

    /// Users whose account key change waits for the user's decision.
    pub fn pending_accounts(&self) -> Result<Vec<UserId<'static>>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT user FROM accounts WHERE pending_list IS NOT NULL ORDER BY user",
            )
            .map_err(storage("reading accounts"))?;
        let rows = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(storage("reading accounts"))?;
        let mut out = Vec::new();
        for row in rows {
            let user = row.map_err(storage("reading accounts"))?;
            out.push(
                UserId::new(user)
                    .map_err(|_| ClientError::Storage("a stored user id is invalid".into()))?,
            );
        }
        Ok(out)
    }

    /// Devices with deliveries held in quarantine, of `user`.
    pub fn quarantined_devices(&self, user: &UserId<'_>) -> Result<Vec<DeviceId>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT sender_device FROM quarantine WHERE sender_user = ?1
                 ORDER BY sender_device",
            )
            .map_err(storage("reading quarantine"))?;
        let rows = statement
            .query_map([user.as_str()], |row| row.get::<_, i64>(0))
            .map_err(storage("reading quarantine"))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(device_id(row.map_err(storage("reading quarantine"))?)?);
        }
        Ok(out)
    }
}
