//! The SQLite store's registered devices, and how an identity is stored.

use fuin_wire::{
    DeviceAddress, DeviceId, Ed25519PublicKey, Ed25519Signature, PublicIdentity, UserId,
    X25519PublicKey,
};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Op, SqliteStore, corrupt, device_id, key, sql_time};
use crate::store::integrity::{self, device_checksum};
use crate::store::{Registration, StoreError};

impl SqliteStore {
    pub(super) async fn register_device(
        &self,
        address: &DeviceAddress<'_>,
        identity: &PublicIdentity,
        now_ms: u64,
    ) -> Result<Registration, StoreError> {
        const OP: &str = "register_device";
        let (user, device) = key(address);
        let identity = identity_bytes(identity);
        let now = sql_time(now_ms);
        self.write(OP, move |conn| {
            let stored: Option<Vec<u8>> = conn
                .prepare_cached("SELECT identity FROM devices WHERE user = ?1 AND device = ?2")
                .op(OP)?
                .query_row(params![user, device], |row| row.get(0))
                .optional()
                .op(OP)?;
            match stored {
                Some(stored) if stored == identity => Ok(Registration::AlreadyRegistered),
                Some(_) => Err(StoreError::IdentityConflict),
                None => {
                    insert_device(conn, &user, device, &identity, now, OP)?;
                    Ok(Registration::Created)
                }
            }
        })
        .await
    }

    pub(super) async fn device_identity(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<Option<PublicIdentity>, StoreError> {
        const OP: &str = "device_identity";
        let (user, device) = key(address);
        self.read_now(OP, move |conn| checked_identity(conn, &user, device, OP))
            .await
    }

    pub(super) async fn user_devices(
        &self,
        user: &UserId<'_>,
    ) -> Result<Vec<DeviceId>, StoreError> {
        const OP: &str = "user_devices";
        let user = user.as_str().to_owned();
        self.read(OP, move |conn| {
            let mut statement = conn
                .prepare_cached("SELECT device FROM devices WHERE user = ?1 ORDER BY device")
                .op(OP)?;
            let rows = statement
                .query_map(params![user], |row| row.get::<_, i64>(0))
                .op(OP)?;
            let mut devices = Vec::new();
            for device in rows {
                devices.push(device_id(device.op(OP)?, OP)?);
            }
            Ok(devices)
        })
        .await
    }
}

const IDENTITY_LEN: usize = Ed25519PublicKey::LEN + X25519PublicKey::LEN + Ed25519Signature::LEN;

pub(super) fn identity_bytes(identity: &PublicIdentity) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(IDENTITY_LEN);
    bytes.extend_from_slice(&identity.signing_key.0);
    bytes.extend_from_slice(&identity.agreement_key.0);
    bytes.extend_from_slice(&identity.signature.0);
    bytes
}

pub(super) fn identity_from_bytes(
    bytes: &[u8],
    name: &'static str,
) -> Result<PublicIdentity, StoreError> {
    if bytes.len() != IDENTITY_LEN {
        return Err(corrupt(name));
    }
    let (signing_key, rest) = bytes.split_at(Ed25519PublicKey::LEN);
    let (agreement_key, signature) = rest.split_at(X25519PublicKey::LEN);
    Ok(PublicIdentity {
        signing_key: Ed25519PublicKey(signing_key.try_into().map_err(|_| corrupt(name))?),
        agreement_key: X25519PublicKey(agreement_key.try_into().map_err(|_| corrupt(name))?),
        signature: Ed25519Signature(signature.try_into().map_err(|_| corrupt(name))?),
    })
}

pub(super) fn device_exists(
    conn: &Connection,
    user: &str,
    device: i64,
    name: &'static str,
) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT 1 FROM devices WHERE user = ?1 AND device = ?2")
        .op(name)?
        .exists(params![user, device])
        .op(name)
}

/// Adds a device row with its checksum (the caller has checked that the
/// address is free).
pub(super) fn insert_device(
    conn: &Connection,
    user: &str,
    device: i64,
    identity: &[u8],
    now: i64,
    name: &'static str,
) -> Result<(), StoreError> {
    let checksum = device_checksum(user, device, identity);
    conn.prepare_cached(
        "INSERT INTO devices (user, device, identity, registered_at, checksum) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .op(name)?
    .execute(params![user, device, identity, now, checksum])
    .op(name)?;
    Ok(())
}

/// The identity registered at `user`/`device`, if any, after checking its
/// checksum: [`StoreError::CorruptRecord`] if it fails.
pub(super) fn checked_identity(
    conn: &Connection,
    user: &str,
    device: i64,
    name: &'static str,
) -> Result<Option<PublicIdentity>, StoreError> {
    let stored: Option<(Vec<u8>, Option<Vec<u8>>)> = conn
        .prepare_cached("SELECT identity, checksum FROM devices WHERE user = ?1 AND device = ?2")
        .op(name)?
        .query_row(params![user, device], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
        .op(name)?;
    let Some((identity, checksum)) = stored else {
        return Ok(None);
    };
    if !integrity::matches(
        checksum.as_deref(),
        &device_checksum(user, device, &identity),
    ) {
        return Err(StoreError::CorruptRecord);
    }
    identity_from_bytes(&identity, name).map(Some)
}
