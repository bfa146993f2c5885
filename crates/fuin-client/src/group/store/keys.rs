//! Sender keys: this device's own distributions kept to answer requests, and the keys it waits for.

use fuin_wire::{DeviceAddress, GroupId};
use rusqlite::{OptionalExtension, params};

use crate::ClientError;
use crate::client::user_id;

use super::{Groups, KeyWait, random_tag, sql, storage, unsql};
use crate::group::group_hex;

impl Groups<'_> {
    fn own_key_context(id: &GroupId, tag: &[u8]) -> String {
        format!(
            "fuin-client/v1/group-own-key/{}/{}",
            group_hex(id),
            hex::encode(tag)
        )
    }

    /// Keeps this device's distribution of its chain of `epoch` (as first
    /// sent), replacing the one of an earlier epoch, so that it can be sent
    /// again to a member that asks for it (`spec/groups.md` §9.5).
    pub(in crate::group) fn keep_own_distribution(
        &self,
        id: &GroupId,
        epoch: u64,
        distribution: &[u8],
    ) -> Result<(), ClientError> {
        let tag = random_tag();
        let sealed = self.db.seal(&Self::own_key_context(id, &tag), distribution);
        self.db
            .conn
            .execute(
                "INSERT INTO group_own_keys (group_id, epoch, tag, distribution)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (group_id) DO UPDATE SET epoch = excluded.epoch,
                    tag = excluded.tag, distribution = excluded.distribution",
                params![id.as_bytes(), sql(epoch), tag.as_slice(), sealed],
            )
            .map_err(storage("keeping a group sender key"))?;
        Ok(())
    }

    /// This device's kept distribution of its chain of `epoch`, if kept.
    pub(in crate::group) fn own_distribution(
        &self,
        id: &GroupId,
        epoch: u64,
    ) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, ClientError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .db
            .conn
            .query_row(
                "SELECT tag, distribution FROM group_own_keys WHERE group_id = ?1 AND epoch = ?2",
                params![id.as_bytes(), sql(epoch)],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(storage("reading a group sender key"))?;
        let Some((tag, sealed)) = row else {
            return Ok(None);
        };
        Ok(Some(
            self.db.open(&Self::own_key_context(id, &tag), &sealed)?,
        ))
    }

    /// Notes that a message from `sender` waits for its chain of `epoch`.
    /// A key not waited for before (another sender, a later epoch, or one
    /// that arrived and is missing again) is to be announced again; the
    /// time of the last request stays, so the rate limit holds across keys.
    pub(in crate::group) fn note_missing_key(
        &self,
        id: &GroupId,
        sender: &DeviceAddress<'_>,
        epoch: u64,
    ) -> Result<(), ClientError> {
        self.db
            .conn
            .execute(
                "INSERT INTO group_key_waits (group_id, sender_user, sender_device, epoch,
                    waiting, announced, asked_at_ms, asked_count)
                 VALUES (?1, ?2, ?3, ?4, 1, 0, NULL, 0)
                 ON CONFLICT (group_id, sender_user, sender_device) DO UPDATE SET
                    epoch = excluded.epoch, waiting = 1, announced = 0, asked_count = 0
                 WHERE waiting = 0 OR group_key_waits.epoch < excluded.epoch",
                params![
                    id.as_bytes(),
                    sender.user.as_str(),
                    i64::from(sender.device.0),
                    sql(epoch)
                ],
            )
            .map_err(storage("noting a missing sender key"))?;
        Ok(())
    }

    /// The chain of `sender` for `epoch` arrived: a wait for it (or an
    /// earlier one) ends.
    pub(in crate::group) fn key_arrived(
        &self,
        id: &GroupId,
        sender: &DeviceAddress<'_>,
        epoch: u64,
    ) -> Result<(), ClientError> {
        self.db
            .conn
            .execute(
                "UPDATE group_key_waits SET waiting = 0 WHERE group_id = ?1 AND sender_user = ?2
                    AND sender_device = ?3 AND epoch <= ?4",
                params![
                    id.as_bytes(),
                    sender.user.as_str(),
                    i64::from(sender.device.0),
                    sql(epoch)
                ],
            )
            .map_err(storage("ending a wait for a sender key"))?;
        Ok(())
    }

    /// Every sender key waited for, oldest group first.
    pub(in crate::group) fn key_waits(&self) -> Result<Vec<KeyWait>, ClientError> {
        let mut statement = self
            .db
            .conn
            .prepare(
                "SELECT group_id, sender_user, sender_device, epoch, announced, asked_at_ms,
                        asked_count
                 FROM group_key_waits WHERE waiting = 1
                 ORDER BY group_id, sender_user, sender_device",
            )
            .map_err(storage("reading sender key waits"))?;
        type Row = (Vec<u8>, String, i64, i64, i64, Option<i64>, i64);
        let rows: Vec<Row> = statement
            .query_map([], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                ))
            })
            .map_err(storage("reading sender key waits"))?
            .collect::<Result<_, _>>()
            .map_err(storage("reading sender key waits"))?;
        let mut out = Vec::with_capacity(rows.len());
        for (group, user, device, epoch, announced, asked_at, asked_count) in rows {
            let group = GroupId(
                <[u8; 32]>::try_from(group.as_slice())
                    .map_err(|_| ClientError::Storage("a key wait names no group".into()))?,
            );
            out.push(KeyWait {
                group,
                sender: DeviceAddress::new(user_id(&user)?, crate::store::device_id(device)?),
                epoch: unsql(epoch),
                announced: announced != 0,
                asked_at_ms: asked_at.map(unsql),
                asked_count: unsql(asked_count),
            });
        }
        Ok(out)
    }

    /// Updates a wait after the sweep looked at it.
    pub(in crate::group) fn update_key_wait(
        &self,
        wait: &KeyWait,
        waiting: bool,
    ) -> Result<(), ClientError> {
        self.db
            .conn
            .execute(
                "UPDATE group_key_waits SET waiting = ?4, announced = ?5, asked_at_ms = ?6,
                    asked_count = ?7
                 WHERE group_id = ?1 AND sender_user = ?2 AND sender_device = ?3",
                params![
                    wait.group.as_bytes(),
                    wait.sender.user.as_str(),
                    i64::from(wait.sender.device.0),
                    i64::from(waiting),
                    i64::from(wait.announced),
                    wait.asked_at_ms.map(sql),
                    sql(wait.asked_count),
                ],
            )
            .map_err(storage("updating a sender key wait"))?;
        Ok(())
    }

    /// When this device last sent its chain of the group to `peer` because
    /// `peer` asked.
    pub(in crate::group) fn answered_at(
        &self,
        id: &GroupId,
        peer: &DeviceAddress<'_>,
    ) -> Result<Option<u64>, ClientError> {
        self.db
            .conn
            .query_row(
                "SELECT answered_at_ms FROM group_key_answers
                 WHERE group_id = ?1 AND peer_user = ?2 AND peer_device = ?3",
                params![id.as_bytes(), peer.user.as_str(), i64::from(peer.device.0)],
                |row| row.get::<_, i64>(0),
            )
            .optional()
            .map(|at| at.map(unsql))
            .map_err(storage("reading a sender key answer"))
    }

    pub(in crate::group) fn set_answered(
        &self,
        id: &GroupId,
        peer: &DeviceAddress<'_>,
        now: u64,
    ) -> Result<(), ClientError> {
        self.db
            .conn
            .execute(
                "INSERT INTO group_key_answers (group_id, peer_user, peer_device, answered_at_ms)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (group_id, peer_user, peer_device)
                 DO UPDATE SET answered_at_ms = excluded.answered_at_ms",
                params![
                    id.as_bytes(),
                    peer.user.as_str(),
                    i64::from(peer.device.0),
                    sql(now)
                ],
            )
            .map_err(storage("noting a sender key answer"))?;
        Ok(())
    }
}
