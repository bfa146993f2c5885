//! The group outbox: sealed group sends waiting for the relay.

use fuin_wire::{ContentType, DeviceAddress, DeviceId, GroupId, UserId};
use rusqlite::{OptionalExtension, params};

use crate::ClientError;

use super::{
    Groups, OUT_DIRECT, OUT_FAN_OUT, by_user, devices_of, devices_text, random_tag, sql, storage,
};
use crate::group::group_hex;

impl Groups<'_> {
    fn outbox_context(id: &GroupId, tag: &[u8]) -> String {
        format!(
            "fuin-client/v1/group-outbox/{}/{}",
            group_hex(id),
            hex::encode(tag)
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn enqueue(
        &self,
        id: &GroupId,
        kind: i64,
        content_type: ContentType,
        user: &UserId<'_>,
        devices: &[DeviceId],
        local_id: Option<i64>,
        payload: &[u8],
        now: u64,
    ) -> Result<(), ClientError> {
        let tag = random_tag();
        let sealed = self.db.seal(&Self::outbox_context(id, &tag), payload);
        self.db
            .conn
            .execute(
                "INSERT INTO group_outbox (group_id, kind, content_type, tag, user, devices,
                    local_id, payload, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    id.as_bytes(),
                    kind,
                    i64::from(content_type.code()),
                    tag.as_slice(),
                    user.as_str(),
                    devices_text(devices),
                    local_id,
                    sealed,
                    sql(now)
                ],
            )
            .map_err(storage("queueing a group send"))?;
        Ok(())
    }

    /// Queues one 1:1 message of `content_type` to each of `to`, one row per
    /// user.
    pub(in crate::group) fn enqueue_direct(
        &self,
        id: &GroupId,
        content_type: ContentType,
        to: &[DeviceAddress<'static>],
        payload: &[u8],
        now: u64,
    ) -> Result<(), ClientError> {
        for (user, devices) in by_user(to) {
            self.enqueue(
                id,
                OUT_DIRECT,
                content_type,
                &user,
                &devices,
                None,
                payload,
                now,
            )?;
        }
        Ok(())
    }

    pub(in crate::group) fn enqueue_fan_out(
        &self,
        id: &GroupId,
        frame: &[u8],
        local_id: Option<i64>,
        now: u64,
    ) -> Result<(), ClientError> {
        let nobody = UserId::new(String::from("-")).map_err(ClientError::from)?;
        self.enqueue(
            id,
            OUT_FAN_OUT,
            ContentType::Text,
            &nobody,
            &[],
            local_id,
            frame,
            now,
        )
    }

    /// The oldest queued group send: (row, kind, content type, user,
    /// devices, local id, payload).
    #[allow(clippy::type_complexity)]
    pub(in crate::group) fn next_queued(
        &self,
    ) -> Result<Option<(i64, i64, i64, String, Vec<DeviceId>, Option<i64>, Vec<u8>)>, ClientError>
    {
        type Row = (
            i64,
            Vec<u8>,
            i64,
            i64,
            Vec<u8>,
            String,
            String,
            Option<i64>,
            Vec<u8>,
        );
        let row: Option<Row> = self
            .db
            .conn
            .query_row(
                "SELECT id, group_id, kind, content_type, tag, user, devices, local_id, payload
                 FROM group_outbox ORDER BY id LIMIT 1",
                [],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                        row.get(6)?,
                        row.get(7)?,
                        row.get(8)?,
                    ))
                },
            )
            .optional()
            .map_err(storage("reading the group outbox"))?;
        let Some((row, group, kind, content_type, tag, user, devices, local_id, payload)) = row
        else {
            return Ok(None);
        };
        let group = GroupId(
            <[u8; 32]>::try_from(group.as_slice())
                .map_err(|_| ClientError::Storage("a queued group send names no group".into()))?,
        );
        let payload = self
            .db
            .open(&Self::outbox_context(&group, &tag), &payload)?;
        Ok(Some((
            row,
            kind,
            content_type,
            user,
            devices_of(&devices),
            local_id,
            payload.to_vec(),
        )))
    }

    pub(in crate::group) fn dequeue(&self, row: i64) -> Result<(), ClientError> {
        self.db
            .conn
            .execute("DELETE FROM group_outbox WHERE id = ?1", params![row])
            .map_err(storage("clearing a group send"))?;
        Ok(())
    }
}
