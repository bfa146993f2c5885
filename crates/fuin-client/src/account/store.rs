//! The `accounts` table: per user (this device's own included) the account
//! key trusted for them, the newest device list that verified under it, and
//! a list signed by another key while that change waits for the user.
//!
//! The `peers` table mirrors the trusted list: exactly the devices it names,
//! with the identities it gives them, so that the 1:1 code keeps asking
//! `peers` which identity a device has.
//!
//! Both tables decide trust, so every row carries a trust tag made with the
//! storage key (`crate::store::tags`), checked on every read: a row edited,
//! swapped or moved in the file is refused, never trusted or fetched over.

use fuin_seal::VerifiedDeviceList;
use fuin_wire::account::SignedDeviceList;
use fuin_wire::{DeviceAddress, DeviceId, FrameBody, UserId};
use std::collections::HashMap;
use std::sync::Mutex;

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::ClientError;
use crate::store::tags::Field;
use crate::store::{Reader, device_id};

/// Created on every open, so stores made before accounts gain it.
pub(crate) const ACCOUNT_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    user          TEXT PRIMARY KEY,
    list          BLOB NOT NULL,
    version       INTEGER NOT NULL,
    pending_list  BLOB,
    first_seen_ms INTEGER NOT NULL,
    tag           BLOB
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

fn account_fields<'a>(
    user: &'a str,
    list: &'a [u8],
    version: i64,
    pending: Option<&'a [u8]>,
) -> [Field<'a>; 4] {
    [
        Field::Text(user),
        Field::Bytes(list),
        Field::Int(version),
        Field::Optional(pending),
    ]
}

/// The stored columns of one `accounts` row.
type AccountRow = (Vec<u8>, i64, Option<Vec<u8>>, Option<Vec<u8>>);

impl Reader<'_> {
    /// The row of `user`, its trust tag checked.
    fn account_row(&self, user: &UserId<'_>) -> Result<Option<AccountRow>, ClientError> {
        let row: Option<AccountRow> = self
            .conn
            .query_row(
                "SELECT list, version, pending_list, tag FROM accounts WHERE user = ?1",
                [user.as_str()],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()
            .map_err(storage("reading an account"))?;
        if let Some((list, version, pending, tag)) = &row {
            self.check_trust_tag(
                "accounts",
                &account_fields(user.as_str(), list, *version, pending.as_deref()),
                tag.as_deref(),
                &format!("account and device list of {user}"),
            )?;
        }
        Ok(row)
    }

    /// Writes the row of `user` with its trust tag.
    fn put_account_row(
        &self,
        user: &UserId<'_>,
        list: &[u8],
        version: i64,
        pending: Option<&[u8]>,
        now_ms: u64,
    ) -> Result<(), ClientError> {
        let tag = self.trust_tag(
            "accounts",
            &account_fields(user.as_str(), list, version, pending),
        );
        self.conn
            .execute(
                "INSERT INTO accounts (user, list, version, pending_list, first_seen_ms, tag)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (user) DO UPDATE SET list = excluded.list,
                     version = excluded.version, pending_list = excluded.pending_list,
                     tag = excluded.tag",
                params![
                    user.as_str(),
                    list,
                    version,
                    pending,
                    i64::try_from(now_ms).unwrap_or(i64::MAX),
                    tag
                ],
            )
            .map_err(storage("storing a device list"))?;
        Ok(())
    }

    /// The account this device holds for `user`, if any.
    pub fn account(&self, user: &UserId<'_>) -> Result<Option<AccountRecord>, ClientError> {
        let Some((list, version, pending, _)) = self.account_row(user)? else {
            return Ok(None);
        };
        let trusted = decode_list(user, &list)?;
        if i64::try_from(trusted.version()).ok() != Some(version) {
            return Err(ClientError::Storage(format!(
                "the stored device list of {user} does not have its recorded version"
            )));
        }
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
        self.put_account_row(
            user,
            &bytes,
            i64::try_from(content.version).unwrap_or(i64::MAX),
            None,
            now_ms,
        )?;
        let known = self.peers_of(user)?;
        for (device, record) in &known {
            let address = DeviceAddress::new(user.clone(), *device);
            match list.identity_of(*device) {
                Some(identity) if *identity == record.identity => {}
                _ => {
                    self.delete_sessions(&address)?;
                    self.delete_peer(&address)?;
                }
            }
        }
        for entry in content.devices.as_slice() {
            let address = DeviceAddress::new(user.clone(), entry.device);
            self.insert_peer(&address, &entry.identity, now_ms)?;
        }
        Ok(())
    }

    /// Records a list signed by another account key than the trusted one,
    /// for the user to accept or not.
    pub fn put_pending_list(&self, list: &VerifiedDeviceList) -> Result<(), ClientError> {
        let user = &list.list().content.user;
        // Only a user with a trusted account can have a change pending.
        let Some((trusted, version, _, _)) = self.account_row(user)? else {
            return Ok(());
        };
        self.put_account_row(user, &trusted, version, Some(&list.list().to_bytes()?), 0)
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
            let user = UserId::new(user)
                .map_err(|_| ClientError::Storage("a stored user id is invalid".into()))?;
            // The row's tag is checked: a pending change put in by editing
            // the file is refused, not shown.
            self.account_row(&user)?;
            out.push(user);
        }
        Ok(out)
    }

    /// Tags every `accounts` row as it stands (the migration from schema
    /// version 1, whose rows had no tag).
    pub(crate) fn tag_all_accounts(&self) -> Result<(), ClientError> {
        let rows: Vec<(String, AccountRow)> = {
            let mut statement = self
                .conn
                .prepare("SELECT user, list, version, pending_list FROM accounts")
                .map_err(storage("reading accounts"))?;
            let rows = statement
                .query_map([], |row| {
                    Ok((row.get(0)?, (row.get(1)?, row.get(2)?, row.get(3)?, None)))
                })
                .map_err(storage("reading accounts"))?;
            rows.collect::<Result<_, _>>()
                .map_err(storage("reading accounts"))?
        };
        for (user, (list, version, pending, _)) in rows {
            let tag = self.trust_tag(
                "accounts",
                &account_fields(&user, &list, version, pending.as_deref()),
            );
            self.conn
                .execute(
                    "UPDATE accounts SET tag = ?2 WHERE user = ?1",
                    params![user, tag],
                )
                .map_err(storage("tagging an account"))?;
        }
        Ok(())
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
