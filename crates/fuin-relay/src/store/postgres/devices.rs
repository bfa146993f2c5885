//! The PostgreSQL store's registered devices, and how an identity is stored.

use fuin_wire::{
    DeviceAddress, DeviceId, Ed25519PublicKey, Ed25519Signature, PublicIdentity, UserId,
    X25519PublicKey,
};

use super::{Op, PostgresStore, backend, corrupt, device_id, key, sql_time};
use crate::store::integrity::{self, device_checksum};
use crate::store::{Registration, StoreError};

impl PostgresStore {
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
        let client = self.client(OP).await?;
        let checksum = device_checksum(&user, device, &identity);
        let insert = client
            .prepare_cached(
                "INSERT INTO devices (user_id, device, identity, registered_at, checksum) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, device) DO NOTHING",
            )
            .await
            .op(OP)?;
        if client
            .execute(
                &insert,
                &[&user, &device, &identity, &now, &checksum.as_slice()],
            )
            .await
            .op(OP)?
            == 1
        {
            return Ok(Registration::Created);
        }
        // A new statement sees the row that won the conflict, however recent.
        let select = client
            .prepare_cached("SELECT identity FROM devices WHERE user_id = $1 AND device = $2")
            .await
            .op(OP)?;
        let stored: Vec<u8> = client
            .query_opt(&select, &[&user, &device])
            .await
            .op(OP)?
            // Deleted meanwhile by a newer device list: a refused write.
            .ok_or_else(|| backend(OP))?
            .try_get(0)
            .op(OP)?;
        if stored == identity {
            Ok(Registration::AlreadyRegistered)
        } else {
            Err(StoreError::IdentityConflict)
        }
    }

    pub(super) async fn device_identity(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<Option<PublicIdentity>, StoreError> {
        const OP: &str = "device_identity";
        let (user, device) = key(address);
        let client = self.client(OP).await?;
        checked_identity(&client, &user, device, OP).await
    }

    pub(super) async fn user_devices(
        &self,
        user: &UserId<'_>,
    ) -> Result<Vec<DeviceId>, StoreError> {
        const OP: &str = "user_devices";
        let client = self.client(OP).await?;
        let select = client
            .prepare_cached("SELECT device FROM devices WHERE user_id = $1 ORDER BY device")
            .await
            .op(OP)?;
        client
            .query(&select, &[&user.as_str()])
            .await
            .op(OP)?
            .iter()
            .map(|row| device_id(row.try_get(0).op(OP)?, OP))
            .collect()
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

/// The identity registered at `user`/`device`, if any, after checking its
/// checksum: [`StoreError::CorruptRecord`] if it fails.
pub(super) async fn checked_identity(
    client: &impl deadpool_postgres::GenericClient,
    user: &str,
    device: i64,
    name: &'static str,
) -> Result<Option<PublicIdentity>, StoreError> {
    let select = client
        .prepare_cached("SELECT identity, checksum FROM devices WHERE user_id = $1 AND device = $2")
        .await
        .op(name)?;
    let Some(row) = client
        .query_opt(&select, &[&user, &device])
        .await
        .op(name)?
    else {
        return Ok(None);
    };
    let identity: Vec<u8> = row.try_get(0).op(name)?;
    let checksum: Option<Vec<u8>> = row.try_get(1).op(name)?;
    if !integrity::matches(
        checksum.as_deref(),
        &device_checksum(user, device, &identity),
    ) {
        return Err(StoreError::CorruptRecord);
    }
    identity_from_bytes(&identity, name).map(Some)
}
