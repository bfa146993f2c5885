//! The `peers` table: the identities trusted for peer devices, a mirror of
//! their users' trusted device lists (`crate::account`).

use fuin_wire::{DeviceAddress, DeviceId, UserId};
use rusqlite::{OptionalExtension, params};

use crate::ClientError;

use super::{PeerRecord, Reader, device_id, identity_from_bytes, storage};

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
}
