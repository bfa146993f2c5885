//! Held group deliveries: early ones kept until what they need arrives, within bounds.

use fuin_wire::{DeviceAddress, GroupId};
use rusqlite::params;

use crate::ClientError;
use crate::client::user_id;

use super::{Groups, HELD_MESSAGE, MAX_HELD_PER_GROUP, MAX_HELD_TOTAL, random_tag, sql, storage};
use crate::group::group_hex;

impl Groups<'_> {
    fn held_context(id: &GroupId, tag: &[u8]) -> String {
        format!(
            "fuin-client/v1/group-held/{}/{}",
            group_hex(id),
            hex::encode(tag)
        )
    }

    /// Keeps a delivery to try again; `false` if the group holds too many.
    pub(in crate::group) fn hold(
        &self,
        id: &GroupId,
        kind: i64,
        sender: &DeviceAddress<'_>,
        payload: &[u8],
        now: u64,
    ) -> Result<bool, ClientError> {
        let (count, total): (i64, i64) = self
            .db
            .conn
            .query_row(
                "SELECT COALESCE(SUM(group_id = ?1), 0), COUNT(*) FROM group_held",
                params![id.as_bytes()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(storage("counting held group deliveries"))?;
        if count >= MAX_HELD_PER_GROUP || total >= MAX_HELD_TOTAL {
            return Ok(false);
        }
        let tag = random_tag();
        let sealed = self.db.seal(&Self::held_context(id, &tag), payload);
        self.db
            .conn
            .execute(
                "INSERT INTO group_held (group_id, kind, tag, sender_user, sender_device,
                    payload, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id.as_bytes(),
                    kind,
                    tag.as_slice(),
                    sender.user.as_str(),
                    i64::from(sender.device.0),
                    sealed,
                    sql(now)
                ],
            )
            .map_err(storage("holding a group delivery"))?;
        Ok(true)
    }

    /// The held deliveries of a group, oldest first: (row, kind, sender, payload).
    #[allow(clippy::type_complexity)]
    pub(in crate::group) fn held(
        &self,
        id: &GroupId,
    ) -> Result<Vec<(i64, i64, DeviceAddress<'static>, Vec<u8>)>, ClientError> {
        let mut statement = self
            .db
            .conn
            .prepare(
                "SELECT id, kind, tag, sender_user, sender_device, payload FROM group_held
                 WHERE group_id = ?1 ORDER BY id",
            )
            .map_err(storage("reading held group deliveries"))?;
        type Row = (i64, i64, Vec<u8>, String, i64, Vec<u8>);
        let rows: Vec<Row> = statement
            .query_map(params![id.as_bytes()], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                ))
            })
            .map_err(storage("reading held group deliveries"))?
            .collect::<Result<_, _>>()
            .map_err(storage("reading held group deliveries"))?;
        let mut out = Vec::with_capacity(rows.len());
        for (row, kind, tag, user, device, payload) in rows {
            let sender = DeviceAddress::new(user_id(&user)?, crate::store::device_id(device)?);
            let payload = self.db.open(&Self::held_context(id, &tag), &payload)?;
            out.push((row, kind, sender, payload.to_vec()));
        }
        Ok(out)
    }

    pub(in crate::group) fn release(&self, row: i64) -> Result<(), ClientError> {
        self.db
            .conn
            .execute("DELETE FROM group_held WHERE id = ?1", params![row])
            .map_err(storage("releasing a held group delivery"))?;
        Ok(())
    }

    /// Drops every delivery held since before `cutoff_ms`; returns how many
    /// went, by group and sender, oldest group first.
    pub(in crate::group) fn expire_held(
        &self,
        cutoff_ms: u64,
    ) -> Result<Vec<(GroupId, DeviceAddress<'static>, usize)>, ClientError> {
        let mut statement = self
            .db
            .conn
            .prepare(
                "SELECT group_id, sender_user, sender_device, COUNT(*), MIN(id) FROM group_held
                 WHERE at_ms < ?1 GROUP BY group_id, sender_user, sender_device
                 ORDER BY MIN(id)",
            )
            .map_err(storage("reading held group deliveries"))?;
        type Row = (Vec<u8>, String, i64, i64, i64);
        let rows: Vec<Row> = statement
            .query_map(params![sql(cutoff_ms)], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })
            .map_err(storage("reading held group deliveries"))?
            .collect::<Result<_, _>>()
            .map_err(storage("reading held group deliveries"))?;
        let mut out = Vec::with_capacity(rows.len());
        for (group, user, device, count, _) in rows {
            let group = GroupId(
                <[u8; 32]>::try_from(group.as_slice())
                    .map_err(|_| ClientError::Storage("a held delivery names no group".into()))?,
            );
            let sender = DeviceAddress::new(user_id(&user)?, crate::store::device_id(device)?);
            out.push((group, sender, usize::try_from(count).unwrap_or(usize::MAX)));
        }
        self.db
            .conn
            .execute(
                "DELETE FROM group_held WHERE at_ms < ?1",
                params![sql(cutoff_ms)],
            )
            .map_err(storage("dropping old held group deliveries"))?;
        Ok(out)
    }

    /// How many group messages from `sender` the group holds.
    pub(in crate::group) fn held_messages_from(
        &self,
        id: &GroupId,
        sender: &DeviceAddress<'_>,
    ) -> Result<i64, ClientError> {
        self.db
            .conn
            .query_row(
                "SELECT COUNT(*) FROM group_held WHERE group_id = ?1 AND kind = ?2
                    AND sender_user = ?3 AND sender_device = ?4",
                params![
                    id.as_bytes(),
                    HELD_MESSAGE,
                    sender.user.as_str(),
                    i64::from(sender.device.0)
                ],
                |row| row.get(0),
            )
            .map_err(storage("counting held group deliveries"))
    }
}
