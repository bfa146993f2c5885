//! The `peers` table: the identities trusted for peer devices and pending changes.

use fuin_wire::{DeviceAddress, DeviceId, PublicIdentity, UserId};
use rusqlite::{OptionalExtension, params};

use crate::ClientError;

use super::{
    PeerRecord, Reader, device_id, identity_bytes, identity_from_bytes, storage, to_sql_u64,
    user_id,
};

impl<'a> Reader<'a> {
    pub fn peer(&self, address: &DeviceAddress<'_>) -> Result<Option<PeerRecord>, ClientError> {
        let row: Option<(Vec<u8>, Option<Vec<u8>>)> = self
            .conn
            .query_row(
                "SELECT identity, pending_identity FROM peers WHERE user = ?1 AND device = ?2",
                params![address.user.as_str(), i64::from(address.device.0)],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(storage("reading a peer"))?;
        row.map(|(identity, pending)| {
            Ok(PeerRecord {
                identity: identity_from_bytes(&identity)?,
                pending: pending.as_deref().map(identity_from_bytes).transpose()?,
            })
        })
        .transpose()
    }

    /// Every device of `user` this device knows, ascending.
    pub fn peers_of(&self, user: &UserId<'_>) -> Result<Vec<(DeviceId, PeerRecord)>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT device, identity, pending_identity FROM peers WHERE user = ?1
                 ORDER BY device",
            )
            .map_err(storage("reading peers"))?;
        let rows = statement
            .query_map([user.as_str()], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, Vec<u8>>(1)?,
                    row.get::<_, Option<Vec<u8>>>(2)?,
                ))
            })
            .map_err(storage("reading peers"))?;
        let mut out = Vec::new();
        for row in rows {
            let (device, identity, pending) = row.map_err(storage("reading peers"))?;
            out.push((
                device_id(device)?,
                PeerRecord {
                    identity: identity_from_bytes(&identity)?,
                    pending: pending.as_deref().map(identity_from_bytes).transpose()?,
                },
            ));
        }
        Ok(out)
    }

    /// Every peer device with an identity change waiting for acceptance.
    pub fn pending_changes(&self) -> Result<Vec<DeviceAddress<'static>>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT user, device FROM peers WHERE pending_identity IS NOT NULL
                 ORDER BY user, device",
            )
            .map_err(storage("reading peers"))?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(storage("reading peers"))?;
        let mut out = Vec::new();
        for row in rows {
            let (user, device) = row.map_err(storage("reading peers"))?;
            out.push(DeviceAddress::new(user_id(user)?, device_id(device)?));
        }
        Ok(out)
    }

    /// Trusts `identity` for a device seen for the first time.
    pub fn trust_new_peer(
        &self,
        address: &DeviceAddress<'_>,
        identity: &PublicIdentity,
        now_ms: u64,
    ) -> Result<(), ClientError> {
        self.conn
            .execute(
                "INSERT INTO peers (user, device, identity, pending_identity, first_seen_ms)
                 VALUES (?1, ?2, ?3, NULL, ?4)",
                params![
                    address.user.as_str(),
                    i64::from(address.device.0),
                    identity_bytes(identity),
                    to_sql_u64(now_ms)
                ],
            )
            .map_err(storage("trusting a peer"))?;
        Ok(())
    }

    /// Notes that a known device presented another identity.
    pub fn set_pending_identity(
        &self,
        address: &DeviceAddress<'_>,
        identity: &PublicIdentity,
    ) -> Result<(), ClientError> {
        self.conn
            .execute(
                "UPDATE peers SET pending_identity = ?3 WHERE user = ?1 AND device = ?2",
                params![
                    address.user.as_str(),
                    i64::from(address.device.0),
                    identity_bytes(identity)
                ],
            )
            .map_err(storage("recording an identity change"))?;
        Ok(())
    }

    /// Makes the pending identity the trusted one and forgets the device's
    /// sessions, which belonged to the old identity.
    pub fn accept_pending_identity(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<bool, ClientError> {
        let changed = self
            .conn
            .execute(
                "UPDATE peers SET identity = pending_identity, pending_identity = NULL
                 WHERE user = ?1 AND device = ?2 AND pending_identity IS NOT NULL",
                params![address.user.as_str(), i64::from(address.device.0)],
            )
            .map_err(storage("accepting an identity change"))?;
        if changed > 0 {
            self.delete_sessions(address)?;
        }
        Ok(changed > 0)
    }
}
