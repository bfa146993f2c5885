//! The `peers` table: the identities trusted for peer devices, a mirror of
//! their users' trusted device lists (`crate::account`). Every row carries a
//! trust tag ([`super::tags`]) checked on every read.

use fuin_wire::{DeviceAddress, DeviceId, PublicIdentity, UserId};
use rusqlite::{OptionalExtension, params};

use crate::ClientError;

use super::tags::Field;
use super::{PeerRecord, Reader, device_id, identity_bytes, identity_from_bytes, storage};

/// The stored columns of one `peers` row.
struct PeerRow {
    device: i64,
    identity: Vec<u8>,
    pending: Option<Vec<u8>>,
    tag: Option<Vec<u8>>,
}

fn peer_fields<'a>(
    user: &'a str,
    device: i64,
    identity: &'a [u8],
    pending: Option<&'a [u8]>,
) -> [Field<'a>; 4] {
    [
        Field::Text(user),
        Field::Int(device),
        Field::Bytes(identity),
        Field::Optional(pending),
    ]
}

impl<'a> Reader<'a> {
    /// Checks a row's tag and decodes it.
    fn peer_record(&self, user: &str, row: &PeerRow) -> Result<PeerRecord, ClientError> {
        self.check_trust_tag(
            "peers",
            &peer_fields(user, row.device, &row.identity, row.pending.as_deref()),
            row.tag.as_deref(),
            &format!("identity of device {user}/{}", row.device),
        )?;
        Ok(PeerRecord {
            identity: identity_from_bytes(&row.identity)?,
            pending: row
                .pending
                .as_deref()
                .map(identity_from_bytes)
                .transpose()?,
        })
    }

    pub fn peer(&self, address: &DeviceAddress<'_>) -> Result<Option<PeerRecord>, ClientError> {
        let device = i64::from(address.device.0);
        let row = self
            .conn
            .query_row(
                "SELECT identity, pending_identity, tag FROM peers WHERE user = ?1 AND device = ?2",
                params![address.user.as_str(), device],
                |row| {
                    Ok(PeerRow {
                        device,
                        identity: row.get(0)?,
                        pending: row.get(1)?,
                        tag: row.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(storage("reading a peer"))?;
        row.map(|row| self.peer_record(address.user.as_str(), &row))
            .transpose()
    }

    /// Every device of `user` this device knows, ascending.
    pub fn peers_of(&self, user: &UserId<'_>) -> Result<Vec<(DeviceId, PeerRecord)>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT device, identity, pending_identity, tag FROM peers WHERE user = ?1
                 ORDER BY device",
            )
            .map_err(storage("reading peers"))?;
        let rows = statement
            .query_map([user.as_str()], |row| {
                Ok(PeerRow {
                    device: row.get(0)?,
                    identity: row.get(1)?,
                    pending: row.get(2)?,
                    tag: row.get(3)?,
                })
            })
            .map_err(storage("reading peers"))?;
        let mut out = Vec::new();
        for row in rows {
            let row = row.map_err(storage("reading peers"))?;
            out.push((
                device_id(row.device)?,
                self.peer_record(user.as_str(), &row)?,
            ));
        }
        Ok(out)
    }

    /// Trusts `identity` for `address` unless a row for it exists.
    pub fn insert_peer(
        &self,
        address: &DeviceAddress<'_>,
        identity: &PublicIdentity,
        now_ms: u64,
    ) -> Result<(), ClientError> {
        let user = address.user.as_str();
        let device = i64::from(address.device.0);
        let identity = identity_bytes(identity);
        let tag = self.trust_tag("peers", &peer_fields(user, device, &identity, None));
        self.conn
            .execute(
                "INSERT INTO peers (user, device, identity, pending_identity, first_seen_ms, tag)
                 VALUES (?1, ?2, ?3, NULL, ?4, ?5) ON CONFLICT (user, device) DO NOTHING",
                params![
                    user,
                    device,
                    identity,
                    i64::try_from(now_ms).unwrap_or(i64::MAX),
                    tag
                ],
            )
            .map_err(storage("trusting a listed device"))?;
        Ok(())
    }

    /// Forgets the identity trusted for `address`.
    pub fn delete_peer(&self, address: &DeviceAddress<'_>) -> Result<(), ClientError> {
        self.conn
            .execute(
                "DELETE FROM peers WHERE user = ?1 AND device = ?2",
                params![address.user.as_str(), i64::from(address.device.0)],
            )
            .map_err(storage("forgetting a peer"))?;
        Ok(())
    }

    /// Tags every `peers` row as it stands (the migration from schema
    /// version 1, whose rows had no tag).
    pub(super) fn tag_all_peers(&self) -> Result<(), ClientError> {
        let rows: Vec<(String, PeerRow)> = {
            let mut statement = self
                .conn
                .prepare("SELECT user, device, identity, pending_identity FROM peers")
                .map_err(storage("reading peers"))?;
            let rows = statement
                .query_map([], |row| {
                    Ok((
                        row.get(0)?,
                        PeerRow {
                            device: row.get(1)?,
                            identity: row.get(2)?,
                            pending: row.get(3)?,
                            tag: None,
                        },
                    ))
                })
                .map_err(storage("reading peers"))?;
            rows.collect::<Result<_, _>>()
                .map_err(storage("reading peers"))?
        };
        for (user, row) in rows {
            let tag = self.trust_tag(
                "peers",
                &peer_fields(&user, row.device, &row.identity, row.pending.as_deref()),
            );
            self.conn
                .execute(
                    "UPDATE peers SET tag = ?3 WHERE user = ?1 AND device = ?2",
                    params![user, row.device, tag],
                )
                .map_err(storage("tagging a peer"))?;
        }
        Ok(())
    }
}
