//! Group conversations in the SDK (`spec/client.md` §12): creating a group,
//! adding and removing members, leaving, sending, receiving and the
//! history, on top of `fuin_seal::group` and the relay's fan-out.
//!
//! - Each group's [`GroupState`] is kept encrypted in the local store and
//!   changed only inside the transaction that stores what caused the change.
//! - Everything a group operation must send (the fan-out of a group message,
//!   welcomes and sender-key distributions over 1:1 sessions) is first
//!   written to the `group_outbox` in that same transaction, then posted in
//!   order; a crash in between posts it later, never loses it.
//! - A group message or distribution that arrives before what it depends on
//!   (`FutureEpoch`, `MissingSenderKey`, a group not joined yet) is kept
//!   encrypted in `group_held` and tried again whenever that group's state
//!   changes. Anything else that fails is dropped with an
//!   [`Event::MessageDropped`] naming the group and the reason.

use std::collections::BTreeMap;

use fuin_seal::SealError;
use fuin_seal::group::{ChangeRequest, ControlOutcome, GroupState, MemberStatus};
use fuin_wire::{
    ContentType, DeliveredRecord, DeviceAddress, DeviceId, FrameBody, GroupId, GroupMember,
    GroupWelcome, SenderKeyDistribution, UserId,
};
use rusqlite::{OptionalExtension, params};

use fuin_report::{FrankingKeyBytes, GroupReportBuilder, GroupReportedMessage, ReportedMessage};
use fuin_wire::Opaque;

use crate::client::{Client, State, commit, now_ms, user_id};
use crate::event::Event;
use crate::history::MessageStatus;
use crate::store::{Reader, StoredFranking};
use crate::{ClientError, SentMessage};

/// The tables of groups, created in every store (new or opened).
pub(crate) const GROUP_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS groups (
    group_id       BLOB PRIMARY KEY,
    joined_at_ms   INTEGER NOT NULL,
    state          BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS group_messages (
    local_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id       BLOB NOT NULL,
    sender_user    TEXT NOT NULL,
    sender_device  INTEGER NOT NULL,
    message_id     BLOB NOT NULL,
    outgoing       INTEGER NOT NULL,
    epoch          INTEGER NOT NULL,
    body           BLOB NOT NULL,
    sent_at_ms     INTEGER NOT NULL,
    server_time_ms INTEGER,
    status         INTEGER NOT NULL,
    franking       BLOB,
    report_extra   BLOB,
    received_at_ms INTEGER NOT NULL,
    content_type   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (group_id, sender_user, sender_device, message_id)
);
CREATE TABLE IF NOT EXISTS group_held (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id       BLOB NOT NULL,
    kind           INTEGER NOT NULL,
    tag            BLOB NOT NULL,
    sender_user    TEXT NOT NULL,
    sender_device  INTEGER NOT NULL,
    payload        BLOB NOT NULL,
    at_ms          INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS group_outbox (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id       BLOB NOT NULL,
    kind           INTEGER NOT NULL,
    content_type   INTEGER NOT NULL,
    tag            BLOB NOT NULL,
    user           TEXT NOT NULL,
    devices        TEXT NOT NULL,
    local_id       INTEGER,
    payload        BLOB NOT NULL,
    at_ms          INTEGER NOT NULL
);
";

/// Brings the group tables of a store made by an earlier client up to date:
/// `group_messages` gained the content type (0, text, for rows before it).
pub(crate) fn upgrade_group_schema(conn: &rusqlite::Connection) -> Result<(), ClientError> {
    let has_content_type: bool = conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('group_messages') WHERE name = 'content_type'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .map_err(storage("reading the group tables"))?
        > 0;
    if !has_content_type {
        conn.execute_batch(
            "ALTER TABLE group_messages ADD COLUMN content_type INTEGER NOT NULL DEFAULT 0",
        )
        .map_err(storage("upgrading the group tables"))?;
    }
    Ok(())
}

/// The content types a group history holds, by their wire code.
fn history_content_type(code: i64) -> Result<ContentType, ClientError> {
    match code {
        0 => Ok(ContentType::Text),
        5 => Ok(ContentType::Attachment),
        _ => Err(ClientError::Storage(
            "a group message of an unknown content type".into(),
        )),
    }
}

/// The part of a group message's storage context that holds its body: a
/// share is sealed under another context than a text, so that changing
/// the stored content type makes the row unreadable, not misread.
fn body_part(content_type: ContentType) -> &'static str {
    if content_type == ContentType::Attachment {
        "attachment"
    } else {
        "body"
    }
}

/// The most deliveries held for one group; beyond, new ones are dropped.
const MAX_HELD_PER_GROUP: i64 = 2048;
/// The most deliveries held in all, so that deliveries naming made-up
/// groups cannot make the store grow without end.
const MAX_HELD_TOTAL: i64 = 8192;

/// Held kinds.
const HELD_MESSAGE: i64 = 0;
const HELD_DISTRIBUTION: i64 = 1;
const HELD_WELCOME: i64 = 2;

/// Outbox kinds.
const OUT_FAN_OUT: i64 = 0;
const OUT_DIRECT: i64 = 1;

/// A group as this device holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// The group id, 64 hex digits.
    pub id: String,
    /// The current epoch.
    pub epoch: u64,
    /// Whether this device is still a member.
    pub status: GroupStatus,
    /// The member devices of the current epoch, in canonical order.
    pub members: Vec<DeviceAddress<'static>>,
}

/// Whether this device still belongs to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupStatus {
    /// A member of the current epoch.
    Member,
    /// Removed by another member: it keeps what it received before.
    Removed,
    /// It left.
    Left,
}

/// What changed in a group (see [`Event::GroupChanged`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupChange {
    /// This device joined, welcomed by `by`.
    Joined,
    /// Devices were added.
    Added(Vec<DeviceAddress<'static>>),
    /// Devices were removed.
    Removed(Vec<DeviceAddress<'static>>),
    /// `by` left.
    Left,
    /// This device was removed: it reads nothing of later epochs.
    RemovedThisDevice,
    /// A new audience consent was shared.
    ConsentShared,
}

/// One message (a text or an attachment) of a group's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// The local id.
    pub local_id: i64,
    /// The group id, 64 hex digits.
    pub group: String,
    /// The sending device.
    pub sender: DeviceAddress<'static>,
    /// Whether this user sent it (from this device or another).
    pub outgoing: bool,
    /// The epoch it was sent in.
    pub epoch: u64,
    /// `Text` or `Attachment`.
    pub content_type: ContentType,
    /// The text (lossy for invalid UTF-8), or for an attachment a one-line
    /// description (its name, media type and sealed size).
    pub text: String,
    /// The sender's clock, ms since the Unix epoch.
    pub sent_at_ms: u64,
    /// `Queued`, `Sent` or `Failed` for outgoing, `Unread` for received.
    pub status: MessageStatus,
}

/// What a group report needs besides the franking opening: the sealed
/// `GroupMessage` frame as delivered, the epoch's membership hash and the
/// sender chain's signing key.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct ReportExtra {
    sealed_body: Vec<u8>,
    membership_hash: [u8; 32],
    chain_signing_key: [u8; 32],
}

impl ReportExtra {
    fn encode(&self) -> Result<Vec<u8>, ClientError> {
        postcard::to_allocvec(self)
            .map_err(|_| ClientError::Storage("encoding a group report's parts".into()))
    }

    fn decode(bytes: &[u8]) -> Result<Self, ClientError> {
        postcard::from_bytes(bytes)
            .map_err(|_| ClientError::Storage("a stored group report's parts".into()))
    }
}

/// A stored group message, for a report or an attachment fetch.
pub(crate) struct ReportSource {
    pub(crate) group: GroupId,
    pub(crate) sender: DeviceAddress<'static>,
    pub(crate) content_type: ContentType,
    message_id: Vec<u8>,
    pub(crate) body: Vec<u8>,
    opened: Option<(StoredFranking, ReportExtra)>,
}

fn sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn unsql(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn storage(what: &str) -> impl Fn(rusqlite::Error) -> ClientError + '_ {
    move |err| ClientError::Storage(format!("{what}: {err}"))
}

fn status_code(status: MessageStatus) -> i64 {
    match status {
        MessageStatus::Queued => 0,
        MessageStatus::Sent => 1,
        MessageStatus::Failed => 2,
        _ => 3,
    }
}

fn status_of(code: i64) -> MessageStatus {
    match code {
        0 => MessageStatus::Queued,
        1 => MessageStatus::Sent,
        2 => MessageStatus::Failed,
        _ => MessageStatus::Unread,
    }
}

/// Parses a group id given as 64 hex digits.
pub(crate) fn parse_group_id(group: &str) -> Result<GroupId, ClientError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(group.trim(), &mut bytes)
        .map_err(|_| ClientError::InvalidArgument(format!("{group:?} is not a group id")))?;
    Ok(GroupId(bytes))
}

fn group_hex(id: &GroupId) -> String {
    hex::encode(id.as_bytes())
}

fn random_tag() -> [u8; 16] {
    let mut tag = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut tag);
    tag
}

fn devices_text(devices: &[DeviceId]) -> String {
    devices
        .iter()
        .map(|d| d.0.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn devices_of(text: &str) -> Vec<DeviceId> {
    text.split(',')
        .filter_map(|d| d.parse().ok())
        .map(DeviceId)
        .collect()
}

/// Addresses grouped by user, in a stable order.
fn by_user(addresses: &[DeviceAddress<'static>]) -> BTreeMap<UserId<'static>, Vec<DeviceId>> {
    let mut out: BTreeMap<UserId<'static>, Vec<DeviceId>> = BTreeMap::new();
    for address in addresses {
        out.entry(address.user.clone())
            .or_default()
            .push(address.device);
    }
    out
}

/// The group tables, read and written inside the caller's transaction.
struct Groups<'a> {
    db: Reader<'a>,
}

impl Groups<'_> {
    fn state_context(id: &GroupId) -> String {
        format!("fuin-client/v1/group/{}/state", group_hex(id))
    }

    fn load(&self, id: &GroupId) -> Result<Option<GroupState>, ClientError> {
        let sealed: Option<Vec<u8>> = self
            .db
            .conn
            .query_row(
                "SELECT state FROM groups WHERE group_id = ?1",
                params![id.as_bytes()],
                |row| row.get(0),
            )
            .optional()
            .map_err(storage("reading a group"))?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let bytes = self.db.open(&Self::state_context(id), &sealed)?;
        Ok(Some(GroupState::from_bytes(&bytes)?))
    }

    fn save(&self, state: &GroupState, now: u64) -> Result<(), ClientError> {
        let id = state.group_id();
        let bytes = state.to_bytes()?;
        let sealed = self.db.seal(&Self::state_context(id), &bytes);
        self.db
            .conn
            .execute(
                "INSERT INTO groups (group_id, joined_at_ms, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT (group_id) DO UPDATE SET state = excluded.state",
                params![id.as_bytes(), sql(now), sealed],
            )
            .map_err(storage("writing a group"))?;
        Ok(())
    }

    fn all(&self) -> Result<Vec<GroupState>, ClientError> {
        let mut statement = self
            .db
            .conn
            .prepare("SELECT group_id FROM groups ORDER BY joined_at_ms, group_id")
            .map_err(storage("listing groups"))?;
        let ids: Vec<Vec<u8>> = statement
            .query_map([], |row| row.get(0))
            .map_err(storage("listing groups"))?
            .collect::<Result<_, _>>()
            .map_err(storage("listing groups"))?;
        let mut out = Vec::new();
        for id in ids {
            let Ok(bytes) = <[u8; 32]>::try_from(id.as_slice()) else {
                continue;
            };
            if let Some(state) = self.load(&GroupId(bytes))? {
                out.push(state);
            }
        }
        Ok(out)
    }

    fn body_context(
        id: &GroupId,
        sender: &DeviceAddress<'_>,
        message: &[u8],
        part: &str,
    ) -> String {
        format!(
            "fuin-client/v1/group-message/{}/{}/{}/{}/{part}",
            group_hex(id),
            sender.user.as_str(),
            sender.device.0,
            hex::encode(message)
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_message(
        &self,
        id: &GroupId,
        sender: &DeviceAddress<'_>,
        message_id: &[u8; 16],
        outgoing: bool,
        epoch: u64,
        content_type: ContentType,
        body: &[u8],
        sent_at_ms: u64,
        server_time_ms: Option<u64>,
        status: MessageStatus,
        franking: Option<(&StoredFranking, &ReportExtra)>,
        now: u64,
    ) -> Result<Option<i64>, ClientError> {
        let sealed_body = self.db.seal(
            &Self::body_context(id, sender, message_id, body_part(content_type)),
            body,
        );
        let (sealed_franking, sealed_extra) = match franking {
            Some((franking, extra)) => (
                Some(self.db.seal(
                    &Self::body_context(id, sender, message_id, "franking"),
                    &franking.encode()?,
                )),
                Some(self.db.seal(
                    &Self::body_context(id, sender, message_id, "report"),
                    &extra.encode()?,
                )),
            ),
            None => (None, None),
        };
        let inserted = self
            .db
            .conn
            .execute(
                "INSERT OR IGNORE INTO group_messages (group_id, sender_user, sender_device,
                    message_id, outgoing, epoch, body, sent_at_ms, server_time_ms, status,
                    franking, report_extra, received_at_ms, content_type)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    id.as_bytes(),
                    sender.user.as_str(),
                    i64::from(sender.device.0),
                    message_id.as_slice(),
                    i64::from(outgoing),
                    sql(epoch),
                    sealed_body,
                    sql(sent_at_ms),
                    server_time_ms.map(sql),
                    status_code(status),
                    sealed_franking,
                    sealed_extra,
                    sql(now),
                    i64::from(content_type.code()),
                ],
            )
            .map_err(storage("storing a group message"))?;
        Ok((inserted == 1).then(|| self.db.conn.last_insert_rowid()))
    }

    fn set_status(
        &self,
        local_id: i64,
        status: MessageStatus,
        server_time_ms: Option<u64>,
    ) -> Result<(), ClientError> {
        self.db
            .conn
            .execute(
                "UPDATE group_messages SET status = ?2,
                    server_time_ms = COALESCE(?3, server_time_ms) WHERE local_id = ?1",
                params![local_id, status_code(status), server_time_ms.map(sql)],
            )
            .map_err(storage("updating a group message"))?;
        Ok(())
    }

    fn history(&self, id: &GroupId, limit: usize) -> Result<Vec<GroupEntry>, ClientError> {
        let mut statement = self
            .db
            .conn
            .prepare(
                "SELECT local_id, sender_user, sender_device, message_id, outgoing, epoch, body,
                        sent_at_ms, status, content_type
                 FROM group_messages WHERE group_id = ?1
                 ORDER BY sent_at_ms DESC, local_id DESC LIMIT ?2",
            )
            .map_err(storage("reading group history"))?;
        type Row = (i64, String, i64, Vec<u8>, i64, i64, Vec<u8>, i64, i64, i64);
        let rows: Vec<Row> = statement
            .query_map(
                params![id.as_bytes(), i64::try_from(limit).unwrap_or(i64::MAX)],
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
                        row.get(9)?,
                    ))
                },
            )
            .map_err(storage("reading group history"))?
            .collect::<Result<_, _>>()
            .map_err(storage("reading group history"))?;
        let mut out = Vec::with_capacity(rows.len());
        for (local_id, user, device, message_id, outgoing, epoch, body, sent_at, status, kind) in
            rows
        {
            let content_type = history_content_type(kind)?;
            let sender = DeviceAddress::new(user_id(&user)?, crate::store::device_id(device)?);
            let body = self.db.open(
                &Self::body_context(id, &sender, &message_id, body_part(content_type)),
                &body,
            )?;
            let text = if content_type == ContentType::Attachment {
                crate::attachment::describe(&body)
            } else {
                String::from_utf8_lossy(&body).into_owned()
            };
            out.push(GroupEntry {
                local_id,
                group: group_hex(id),
                sender,
                outgoing: outgoing != 0,
                epoch: unsql(epoch),
                content_type,
                text,
                sent_at_ms: unsql(sent_at),
                status: status_of(status),
            });
        }
        out.reverse();
        Ok(out)
    }

    /// A stored group message: what a report of it needs, or the share
    /// of an attachment.
    pub(crate) fn reported(&self, local_id: i64) -> Result<Option<ReportSource>, ClientError> {
        type Row = (
            Vec<u8>,
            String,
            i64,
            Vec<u8>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            Vec<u8>,
            i64,
        );
        let row: Option<Row> = self
            .db
            .conn
            .query_row(
                "SELECT group_id, sender_user, sender_device, message_id, franking,
                        report_extra, body, content_type
                 FROM group_messages WHERE local_id = ?1",
                params![local_id],
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
                    ))
                },
            )
            .optional()
            .map_err(storage("reading a group message"))?;
        let Some((group, user, device, message_id, franking, extra, body, kind)) = row else {
            return Ok(None);
        };
        let group = GroupId(
            <[u8; 32]>::try_from(group.as_slice())
                .map_err(|_| ClientError::Storage("a group message names no group".into()))?,
        );
        let sender = DeviceAddress::new(user_id(&user)?, crate::store::device_id(device)?);
        let content_type = history_content_type(kind)?;
        let context = |part| Self::body_context(&group, &sender, &message_id, part);
        let body = self
            .db
            .open(&context(body_part(content_type)), &body)?
            .to_vec();
        let (Some(franking), Some(extra)) = (franking, extra) else {
            return Ok(Some(ReportSource {
                group,
                sender,
                content_type,
                message_id,
                body,
                opened: None,
            }));
        };
        let franking = StoredFranking::decode(&self.db.open(&context("franking"), &franking)?)?;
        let extra = ReportExtra::decode(&self.db.open(&context("report"), &extra)?)?;
        Ok(Some(ReportSource {
            group,
            sender,
            content_type,
            message_id,
            body,
            opened: Some((franking, extra)),
        }))
    }

    fn held_context(id: &GroupId, tag: &[u8]) -> String {
        format!(
            "fuin-client/v1/group-held/{}/{}",
            group_hex(id),
            hex::encode(tag)
        )
    }

    /// Keeps a delivery to try again; `false` if the group holds too many.
    fn hold(
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
    fn held(
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

    fn release(&self, row: i64) -> Result<(), ClientError> {
        self.db
            .conn
            .execute("DELETE FROM group_held WHERE id = ?1", params![row])
            .map_err(storage("releasing a held group delivery"))?;
        Ok(())
    }

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
    fn enqueue_direct(
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

    fn enqueue_fan_out(
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
    fn next_queued(
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

    fn dequeue(&self, row: i64) -> Result<(), ClientError> {
        self.db
            .conn
            .execute("DELETE FROM group_outbox WHERE id = ?1", params![row])
            .map_err(storage("clearing a group send"))?;
        Ok(())
    }
}

fn info(state: &GroupState) -> GroupInfo {
    GroupInfo {
        id: group_hex(state.group_id()),
        epoch: state.epoch(),
        status: match state.status() {
            MemberStatus::Member => GroupStatus::Member,
            MemberStatus::Removed => GroupStatus::Removed,
            MemberStatus::Left => GroupStatus::Left,
        },
        members: state
            .membership()
            .members()
            .iter()
            .map(|member| member.address.clone())
            .collect(),
    }
}

fn change_of(outcome: &ControlOutcome) -> Option<GroupChange> {
    Some(match outcome {
        ControlOutcome::Added(devices) => GroupChange::Added(devices.clone()),
        ControlOutcome::Removed(devices) => GroupChange::Removed(devices.clone()),
        ControlOutcome::Left => GroupChange::Left,
        ControlOutcome::ConsentShared => GroupChange::ConsentShared,
        ControlOutcome::RemovedThisDevice => GroupChange::RemovedThisDevice,
        ControlOutcome::AlreadyApplied => return None,
    })
}

/// Whether a group error means "too early": the delivery is kept.
fn is_early(err: &SealError) -> bool {
    matches!(
        err,
        SealError::FutureEpoch { .. } | SealError::MissingSenderKey
    )
}

/// What handling one group delivery came to.
enum Handled {
    /// It must wait for something that has not arrived.
    Early,
    /// Done with (stored, applied, or dropped with an event); the group's
    /// state may have changed.
    Done,
}

/// What a sync collects while handling group deliveries.
pub(crate) struct GroupWork<'e> {
    pub events: &'e mut Vec<Event>,
    pub messages: usize,
    pub dropped: usize,
}

impl Client {
    /// Creates a group with every device of `users` and this user's other
    /// devices, sends each a welcome and this device's sender key, and
    /// returns it.
    pub async fn create_group(&self, users: &[&str]) -> Result<GroupInfo, ClientError> {
        self.ensure_registered().await?;
        let mut state = self.inner.state.lock().await;
        let mut members = self.members_of(&mut state, users).await?;
        if members.is_empty() {
            return Err(ClientError::InvalidArgument(
                "a group needs at least one other device".into(),
            ));
        }
        let own = self.inner.address.user.clone();
        if !users.iter().any(|u| *u == own.as_str()) {
            let own_devices = self.resolve_devices(&mut state, &own).await?;
            members.extend(
                own_devices
                    .into_iter()
                    .map(|(address, identity)| GroupMember { address, identity }),
            );
        }
        let now = now_ms();
        let (group, created) = GroupState::create(
            &mut rand::rng(),
            self.inner.address.clone(),
            self.inner.identity.public().clone(),
            members,
        )?;
        let id = *group.group_id();
        let others: Vec<_> = group.recipients().cloned().collect();
        {
            let (tx, key) = state.store.transaction()?;
            let groups = Groups {
                db: Reader::of(&tx, key),
            };
            groups.save(&group, now)?;
            for page in &created.welcome {
                groups.enqueue_direct(
                    &id,
                    ContentType::GroupWelcome,
                    &others,
                    &page.to_bytes()?,
                    now,
                )?;
            }
            groups.enqueue_direct(
                &id,
                ContentType::SenderKeyDistribution,
                &others,
                &created.distribution.to_bytes()?,
                now,
            )?;
            commit(tx)?;
        }
        self.flush_group_outbox_lenient(&mut state).await?;
        Ok(info(&group))
    }

    /// Adds every device of `users` to the group.
    pub async fn add_group_members(
        &self,
        group: &str,
        users: &[&str],
    ) -> Result<GroupInfo, ClientError> {
        let id = parse_group_id(group)?;
        self.ensure_registered().await?;
        let mut state = self.inner.state.lock().await;
        let current = self.group_state(&state, &id)?;
        let members: Vec<_> = self
            .members_of(&mut state, users)
            .await?
            .into_iter()
            .filter(|member| !current.membership().contains(&member.address))
            .collect();
        if members.is_empty() {
            return Err(ClientError::InvalidArgument(
                "every device of those users is a member already".into(),
            ));
        }
        self.change_group(&mut state, &id, ChangeRequest::Add(members))
            .await
    }

    /// Removes every device of `users` from the group.
    pub async fn remove_group_members(
        &self,
        group: &str,
        users: &[&str],
    ) -> Result<GroupInfo, ClientError> {
        let id = parse_group_id(group)?;
        self.ensure_registered().await?;
        let mut state = self.inner.state.lock().await;
        let current = self.group_state(&state, &id)?;
        let mut removed = Vec::new();
        for user in users {
            let user = user_id(user)?;
            removed.extend(
                current
                    .membership()
                    .members()
                    .iter()
                    .filter(|member| member.address.user == user)
                    .map(|member| member.address.clone()),
            );
        }
        if removed.is_empty() {
            return Err(ClientError::InvalidArgument(
                "none of those users is a member".into(),
            ));
        }
        self.change_group(&mut state, &id, ChangeRequest::Remove(removed))
            .await
    }

    /// Leaves the group: this device stops sending and receives nothing of
    /// later epochs.
    pub async fn leave_group(&self, group: &str) -> Result<GroupInfo, ClientError> {
        let id = parse_group_id(group)?;
        self.ensure_registered().await?;
        let mut state = self.inner.state.lock().await;
        self.change_group(&mut state, &id, ChangeRequest::Leave)
            .await
    }

    /// Sends a text to every other member device of the group's current
    /// epoch, in one fan-out.
    pub async fn send_group_text(
        &self,
        group: &str,
        text: &str,
    ) -> Result<SentMessage, ClientError> {
        if text.is_empty() {
            return Err(ClientError::InvalidArgument("a message needs text".into()));
        }
        let id = parse_group_id(group)?;
        self.send_group_content(&id, ContentType::Text, text.as_bytes())
            .await
    }

    /// Whether this device may send in the group now (it holds it and is
    /// a member of its current epoch).
    pub(crate) async fn check_group_member(&self, id: &GroupId) -> Result<(), ClientError> {
        let state = self.inner.state.lock().await;
        let current = self.group_state(&state, id)?;
        if info(&current).status != GroupStatus::Member {
            return Err(ClientError::InvalidArgument(format!(
                "this device is no longer a member of group {}",
                group_hex(id)
            )));
        }
        Ok(())
    }

    /// Seals `body` of `content_type` (`Text` or `Attachment`) for the
    /// group's current epoch, stores it in the history and fans it out.
    pub(crate) async fn send_group_content(
        &self,
        id: &GroupId,
        content_type: ContentType,
        body: &[u8],
    ) -> Result<SentMessage, ClientError> {
        let id = *id;
        self.ensure_registered().await?;
        let mut state = self.inner.state.lock().await;
        let mut current = self.group_state(&state, &id)?;
        let now = now_ms();
        let sealed = current.seal(&mut rand::rng(), content_type, body, now)?;
        let recipients: Vec<_> = current.recipients().cloned().collect();
        let devices = recipients.len();
        let frame = sealed.send_frame(recipients).to_bytes()?;
        let local_id = {
            let (tx, key) = state.store.transaction()?;
            let groups = Groups {
                db: Reader::of(&tx, key),
            };
            groups.save(&current, now)?;
            let local_id = groups.insert_message(
                &id,
                &self.inner.address,
                sealed.message_id.as_bytes(),
                true,
                sealed.epoch,
                content_type,
                body,
                now,
                None,
                MessageStatus::Queued,
                None,
                now,
            )?;
            if devices > 0 {
                groups.enqueue_fan_out(&id, &frame, local_id, now)?;
            } else if let Some(local) = local_id {
                groups.set_status(local, MessageStatus::Sent, None)?;
            }
            commit(tx)?;
            local_id
        };
        self.step(crate::Step::Queued);
        self.flush_group_outbox_lenient(&mut state).await?;
        let status = match local_id {
            Some(local) => self
                .group_history_in(&state, &id, usize::MAX)?
                .into_iter()
                .find(|entry| entry.local_id == local)
                .map_or(MessageStatus::Queued, |entry| entry.status),
            None => MessageStatus::Queued,
        };
        Ok(SentMessage {
            local_id: local_id.unwrap_or(0),
            status,
            devices,
        })
    }

    /// The groups this device holds, member or not.
    pub async fn groups(&self) -> Result<Vec<GroupInfo>, ClientError> {
        let state = self.inner.state.lock().await;
        let groups = Groups {
            db: state.store.reader(),
        };
        Ok(groups.all()?.iter().map(info).collect())
    }

    /// The group's `limit` most recent texts, oldest first, ordered by the
    /// senders' clocks.
    pub async fn group_history(
        &self,
        group: &str,
        limit: usize,
    ) -> Result<Vec<GroupEntry>, ClientError> {
        let id = parse_group_id(group)?;
        let state = self.inner.state.lock().await;
        self.group_state(&state, &id)?;
        self.group_history_in(&state, &id, limit)
    }

    /// Builds a report of exactly the listed received group messages (texts
    /// or attachment shares, all of
    /// one group, at most 25, none twice) for the app to preview
    /// (`spec/client.md` §12, `spec/report.md` §12). Nothing is sent.
    pub async fn report_group(
        &self,
        reason: &str,
        local_ids: &[i64],
    ) -> Result<GroupReportBuilder, ClientError> {
        if local_ids.is_empty() {
            return Err(ClientError::InvalidArgument(
                "select at least one message to report".into(),
            ));
        }
        let mut group: Option<GroupId> = None;
        let mut messages = Vec::with_capacity(local_ids.len());
        {
            let state = self.inner.state.lock().await;
            let groups = Groups {
                db: state.store.reader(),
            };
            for &local_id in local_ids {
                let source = groups.reported(local_id)?.ok_or_else(|| {
                    ClientError::InvalidArgument(format!("there is no group message {local_id}"))
                })?;
                let Some((franking, extra)) = source.opened else {
                    return Err(ClientError::InvalidArgument(format!(
                        "group message {local_id} was sent by this device; only received \
                         messages can be reported"
                    )));
                };
                match group {
                    Some(group) if group != source.group => {
                        return Err(ClientError::InvalidArgument(
                            "the messages of one report must be from one group".into(),
                        ));
                    }
                    _ => group = Some(source.group),
                }
                let message_id = <[u8; 16]>::try_from(source.message_id.as_slice())
                    .map_err(|_| ClientError::Storage("a stored message id".into()))?;
                messages.push(GroupReportedMessage {
                    message: ReportedMessage {
                        sender: franking.sender.clone(),
                        recipient: franking.recipient.clone(),
                        message_id: fuin_wire::ClientMessageId(message_id),
                        content_type: source.content_type,
                        body: Opaque::from(source.body),
                        franking_key: FrankingKeyBytes::new(&franking.franking_key.0),
                        commitment: franking.commitment,
                        stamp: franking.stamp,
                        stamp_key_id: franking.stamp_key_id,
                        server_time_ms: franking.server_time_ms,
                        server_message_id: franking.server_message_id,
                    },
                    sealed_body: Opaque::from(extra.sealed_body),
                    membership_hash: fuin_wire::MembershipHash(extra.membership_hash),
                    chain_signing_key: fuin_wire::Ed25519PublicKey(extra.chain_signing_key),
                });
            }
        }
        let group = group.ok_or_else(|| ClientError::InvalidArgument("no message".into()))?;
        GroupReportBuilder::new(
            self.inner.address.clone(),
            self.inner.identity.public().clone(),
            group,
            reason,
            now_ms(),
            messages,
        )
        .map_err(|err| ClientError::InvalidArgument(err.to_string()))
    }

    /// Seals a group report made on this device to the moderation
    /// service's key and submits it to the relay's report inbox.
    pub async fn submit_group_report(
        &self,
        report: &GroupReportBuilder,
        moderation_key: &fuin_report::ModerationPublicKey,
    ) -> Result<fuin_wire::relay::ReportAccepted, ClientError> {
        if report.content().reporter != self.inner.address {
            return Err(ClientError::InvalidArgument(
                "the report was made on another device".into(),
            ));
        }
        let frame = report
            .seal(&mut rand::rng(), moderation_key)
            .map_err(|err| ClientError::InvalidArgument(err.to_string()))?;
        self.ensure_registered().await?;
        let relay = &self.inner.relay;
        let frame = &frame;
        self.authed(|token| async move { relay.submit_report(&token, frame).await })
            .await
    }

    /// The stored group message `local_id`, if there is one.
    pub(crate) async fn group_message_source(
        &self,
        local_id: i64,
    ) -> Result<Option<ReportSource>, ClientError> {
        let state = self.inner.state.lock().await;
        Groups {
            db: state.store.reader(),
        }
        .reported(local_id)
    }

    fn group_history_in(
        &self,
        state: &State,
        id: &GroupId,
        limit: usize,
    ) -> Result<Vec<GroupEntry>, ClientError> {
        Groups {
            db: state.store.reader(),
        }
        .history(id, limit)
    }

    pub(crate) fn group_state(
        &self,
        state: &State,
        id: &GroupId,
    ) -> Result<GroupState, ClientError> {
        Groups {
            db: state.store.reader(),
        }
        .load(id)?
        .ok_or_else(|| ClientError::InvalidArgument(format!("no group {}", group_hex(id))))
    }

    /// Every device of `users` (not this one), as group members.
    async fn members_of(
        &self,
        state: &mut State,
        users: &[&str],
    ) -> Result<Vec<GroupMember<'static>>, ClientError> {
        let mut members: Vec<GroupMember<'static>> = Vec::new();
        for user in users {
            let user = user_id(user)?;
            let devices = self.resolve_devices(state, &user).await?;
            if devices.is_empty() && user != self.inner.address.user {
                return Err(ClientError::UnknownUser {
                    user: user.as_str().to_owned(),
                });
            }
            for (address, identity) in devices {
                if !members.iter().any(|m| m.address == address) {
                    members.push(GroupMember { address, identity });
                }
            }
        }
        Ok(members)
    }

    pub(crate) async fn change_group(
        &self,
        state: &mut State,
        id: &GroupId,
        request: ChangeRequest,
    ) -> Result<GroupInfo, ClientError> {
        let mut current = self.group_state(state, id)?;
        let now = now_ms();
        let sent = current.change(&mut rand::rng(), request, now)?;
        {
            let (tx, key) = state.store.transaction()?;
            let groups = Groups {
                db: Reader::of(&tx, key),
            };
            groups.save(&current, now)?;
            if !sent.recipients.is_empty() {
                let frame = sent
                    .message
                    .send_frame(sent.recipients.clone())
                    .to_bytes()?;
                groups.enqueue_fan_out(id, &frame, None, now)?;
            }
            for page in &sent.welcome {
                groups.enqueue_direct(
                    id,
                    ContentType::GroupWelcome,
                    &sent.joiners,
                    &page.to_bytes()?,
                    now,
                )?;
            }
            if let Some(distribution) = &sent.distribution {
                groups.enqueue_direct(
                    id,
                    ContentType::SenderKeyDistribution,
                    &sent.distribute_to,
                    &distribution.to_bytes()?,
                    now,
                )?;
            }
            commit(tx)?;
        }
        self.flush_group_outbox_lenient(state).await?;
        Ok(info(&current))
    }

    /// [`Client::flush_group_outbox`], where an unreachable relay only
    /// leaves the sends queued.
    pub(crate) async fn flush_group_outbox_lenient(
        &self,
        state: &mut State,
    ) -> Result<(), ClientError> {
        match self.flush_group_outbox(state).await {
            Err(err) if err.is_transient() => Ok(()),
            other => other,
        }
    }

    /// Posts every queued group send in order; stops at the first that
    /// cannot be posted now (a transient error).
    pub(crate) async fn flush_group_outbox(&self, state: &mut State) -> Result<(), ClientError> {
        loop {
            let Some((row, kind, content_type, user, devices, local_id, payload)) = Groups {
                db: state.store.reader(),
            }
            .next_queued()?
            else {
                return Ok(());
            };
            let outcome = if kind == OUT_FAN_OUT {
                let relay = &self.inner.relay;
                let payload = &payload;
                self.authed(|token| async move { relay.group_send(&token, payload).await })
                    .await
                    .map(|accepted| Some(accepted.server_time_ms))
            } else {
                let user = user_id(&user)?;
                let only: Vec<_> = devices
                    .iter()
                    .map(|device| DeviceAddress::new(user.clone(), *device))
                    .collect();
                let content_type = match content_type {
                    2 => ContentType::SenderKeyDistribution,
                    3 => ContentType::GroupWelcome,
                    _ => return Err(ClientError::Storage("a queued group send's type".into())),
                };
                self.send_content_to(state, &user, content_type, &payload, &only)
                    .await
                    .map(|_| None)
            };
            let status = match outcome {
                Ok(time) => {
                    if kind == OUT_FAN_OUT {
                        self.step(crate::Step::Posted);
                    }
                    Some((MessageStatus::Sent, time))
                }
                Err(err) if err.is_transient() => return Err(err),
                // Refused for good (a 4xx, an identity change, a user gone):
                // the send is dropped, its message marked failed.
                Err(err) => {
                    self.emit(Event::MessageDropped {
                        from: self.inner.address.clone(),
                        reason: format!("a group send could not be made: {err}"),
                    });
                    Some((MessageStatus::Failed, None))
                }
            };
            let (tx, key) = state.store.transaction()?;
            let groups = Groups {
                db: Reader::of(&tx, key),
            };
            if let (Some(local), Some((status, time))) = (local_id, status) {
                groups.set_status(local, status, time)?;
            }
            groups.dequeue(row)?;
            commit(tx)?;
        }
    }

    // ---- receiving, inside the sync's transaction ----

    /// A delivery of content kind `GroupMessage`.
    pub(crate) fn receive_group_record(
        &self,
        db: Reader<'_>,
        record: &DeliveredRecord<'_>,
        now: u64,
        work: &mut GroupWork<'_>,
    ) -> Result<(), ClientError> {
        let from = record.sender.clone().into_owned();
        let group_id =
            match fuin_wire::GroupMessage::from_bytes(record.envelope.sealed_body.as_bytes()) {
                Ok(message) => message.group_id,
                Err(err) => {
                    self.group_drop(work, &from, None, &SealError::from(err));
                    return Ok(());
                }
            };
        let groups = Groups { db };
        match self.handle_group_message(groups.db, &group_id, record, now, work)? {
            Handled::Early => self.hold_or_drop(
                &groups,
                &group_id,
                HELD_MESSAGE,
                &from,
                &record.to_bytes()?,
                now,
                work,
            ),
            Handled::Done => self.retry_held(db, &group_id, now, work),
        }
    }

    /// A 1:1 message of content type `SenderKeyDistribution` or
    /// `GroupWelcome` from `from`.
    pub(crate) fn receive_group_direct(
        &self,
        db: Reader<'_>,
        from: &DeviceAddress<'static>,
        content_type: ContentType,
        body: &[u8],
        now: u64,
        work: &mut GroupWork<'_>,
    ) -> Result<(), ClientError> {
        let groups = Groups { db };
        let (kind, group_id) = match content_type {
            ContentType::SenderKeyDistribution => match SenderKeyDistribution::from_bytes(body) {
                Ok(distribution) => (HELD_DISTRIBUTION, distribution.group_id),
                Err(err) => {
                    self.group_drop(work, from, None, &SealError::from(err));
                    return Ok(());
                }
            },
            _ => match GroupWelcome::from_bytes(body) {
                Ok(welcome) => (HELD_WELCOME, welcome.group_id),
                Err(err) => {
                    self.group_drop(work, from, None, &SealError::from(err));
                    return Ok(());
                }
            },
        };
        if kind == HELD_WELCOME {
            if groups.load(&group_id)?.is_some() {
                // Joined already (a repeated welcome): nothing to do.
                return Ok(());
            }
            // Pages wait together until all have come.
            self.hold_or_drop(&groups, &group_id, HELD_WELCOME, from, body, now, work)?;
            return self.retry_held(db, &group_id, now, work);
        }
        match self.handle_distribution(db, &group_id, from, body, work)? {
            Handled::Early => self.hold_or_drop(&groups, &group_id, kind, from, body, now, work),
            Handled::Done => self.retry_held(db, &group_id, now, work),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn hold_or_drop(
        &self,
        groups: &Groups<'_>,
        id: &GroupId,
        kind: i64,
        from: &DeviceAddress<'static>,
        payload: &[u8],
        now: u64,
        work: &mut GroupWork<'_>,
    ) -> Result<(), ClientError> {
        if !groups.hold(id, kind, from, payload, now)? {
            work.dropped += 1;
            work.events.push(Event::MessageDropped {
                from: from.clone(),
                reason: format!(
                    "group {}: too many deliveries are waiting for keys",
                    group_hex(id)
                ),
            });
        }
        Ok(())
    }

    fn group_drop(
        &self,
        work: &mut GroupWork<'_>,
        from: &DeviceAddress<'static>,
        group: Option<&GroupId>,
        err: &SealError,
    ) {
        work.dropped += 1;
        let reason = match group {
            Some(group) => format!("group {}: {err}", group_hex(group)),
            None => format!("group delivery: {err}"),
        };
        work.events.push(Event::MessageDropped {
            from: from.clone(),
            reason,
        });
    }

    /// Tries the group's held deliveries again until a pass over them makes
    /// no progress. One pass goes on after a delivery is handled (so the
    /// messages waiting for one distribution all open in that pass), and the
    /// passes are as many as the held deliveries' chain of dependencies is
    /// deep (a distribution, then the epochs), not one per delivery; only a
    /// join re-reads the list at once, as it consumes every welcome page.
    fn retry_held(
        &self,
        db: Reader<'_>,
        id: &GroupId,
        now: u64,
        work: &mut GroupWork<'_>,
    ) -> Result<(), ClientError> {
        let groups = Groups { db };
        loop {
            let mut progressed = false;
            for (row, kind, from, payload) in groups.held(id)? {
                let handled = match kind {
                    HELD_MESSAGE => match DeliveredRecord::from_bytes(&payload) {
                        Ok(record) => self.handle_group_message(db, id, &record, now, work)?,
                        Err(_) => Handled::Done,
                    },
                    HELD_DISTRIBUTION => self.handle_distribution(db, id, &from, &payload, work)?,
                    _ => self.try_join(db, id, now, work)?,
                };
                if let Handled::Done = handled {
                    if kind == HELD_WELCOME {
                        // Joining consumed (or refused) every page.
                        for (other, other_kind, _, _) in groups.held(id)? {
                            if other_kind == HELD_WELCOME {
                                groups.release(other)?;
                            }
                        }
                        progressed = true;
                        break;
                    }
                    groups.release(row)?;
                    progressed = true;
                }
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    /// Joins from the held welcome pages, once a full set from one member
    /// is there.
    fn try_join(
        &self,
        db: Reader<'_>,
        id: &GroupId,
        now: u64,
        work: &mut GroupWork<'_>,
    ) -> Result<Handled, ClientError> {
        let groups = Groups { db };
        if groups.load(id)?.is_some() {
            return Ok(Handled::Done);
        }
        let held = groups.held(id)?;
        let mut by_sender: BTreeMap<DeviceAddress<'static>, Vec<Vec<u8>>> = BTreeMap::new();
        for (_, kind, from, payload) in held {
            if kind == HELD_WELCOME {
                by_sender.entry(from).or_default().push(payload);
            }
        }
        for (inviter, pages) in by_sender {
            let decoded: Vec<GroupWelcome<'_>> = pages
                .iter()
                .filter_map(|page| GroupWelcome::from_bytes(page).ok())
                .collect();
            let Some(first) = decoded.first() else {
                continue;
            };
            if decoded.len() < first.page_count as usize {
                continue;
            }
            let Some(peer) = db.peer(&inviter)? else {
                continue;
            };
            match GroupState::join(
                &mut rand::rng(),
                self.inner.address.clone(),
                self.inner.identity.public().clone(),
                (&inviter, &peer.identity),
                &decoded,
            ) {
                Ok((state, distribution)) => {
                    groups.save(&state, now)?;
                    let others: Vec<_> = state.recipients().cloned().collect();
                    groups.enqueue_direct(
                        id,
                        ContentType::SenderKeyDistribution,
                        &others,
                        &distribution.to_bytes()?,
                        now,
                    )?;
                    work.events.push(Event::GroupChanged {
                        group: group_hex(id),
                        epoch: state.epoch(),
                        by: inviter.clone(),
                        change: GroupChange::Joined,
                    });
                    return Ok(Handled::Done);
                }
                Err(err) => {
                    self.group_drop(work, &inviter, Some(id), &err);
                    return Ok(Handled::Done);
                }
            }
        }
        Ok(Handled::Early)
    }

    fn handle_distribution(
        &self,
        db: Reader<'_>,
        id: &GroupId,
        from: &DeviceAddress<'static>,
        body: &[u8],
        work: &mut GroupWork<'_>,
    ) -> Result<Handled, ClientError> {
        let groups = Groups { db };
        let Some(mut state) = groups.load(id)? else {
            return Ok(Handled::Early);
        };
        let distribution = match SenderKeyDistribution::from_bytes(body) {
            Ok(distribution) => distribution,
            Err(err) => {
                self.group_drop(work, from, Some(id), &SealError::from(err));
                return Ok(Handled::Done);
            }
        };
        let Some(peer) = db.peer(from)? else {
            self.group_drop(work, from, Some(id), &SealError::IdentityMismatch);
            return Ok(Handled::Done);
        };
        match state.receive_distribution((from, &peer.identity), &distribution) {
            Ok(accepted) => {
                if let fuin_seal::group::ViewStatus::Split = accepted.view {
                    work.events.push(Event::MessageDropped {
                        from: from.clone(),
                        reason: format!(
                            "group {}: members were given different keys (split view)",
                            group_hex(id)
                        ),
                    });
                }
                groups.save(&state, 0)?;
                Ok(Handled::Done)
            }
            Err(err) if is_early(&err) => Ok(Handled::Early),
            Err(err) => {
                self.group_drop(work, from, Some(id), &err);
                Ok(Handled::Done)
            }
        }
    }

    fn handle_group_message(
        &self,
        db: Reader<'_>,
        id: &GroupId,
        record: &DeliveredRecord<'_>,
        now: u64,
        work: &mut GroupWork<'_>,
    ) -> Result<Handled, ClientError> {
        let groups = Groups { db };
        let from = record.sender.clone().into_owned();
        let Some(mut state) = groups.load(id)? else {
            return Ok(Handled::Early);
        };
        let opened = match state.open(record, now) {
            Ok(opened) => opened,
            Err(err) if is_early(&err) => return Ok(Handled::Early),
            Err(err) => {
                self.group_drop(work, &from, Some(id), &err);
                return Ok(Handled::Done);
            }
        };
        if let Some(missing) = &opened.gap.missing {
            work.events.push(Event::MessagesMissing {
                from: from.clone(),
                sequences: missing.clone(),
            });
        }
        match opened.content.content_type {
            ContentType::Text | ContentType::Attachment => {
                if opened.content.content_type == ContentType::Attachment {
                    // A share whose reference does not fit this message (its
                    // owner is not the sending device, or it names another
                    // conversation than this group) is not this message's.
                    if let Err(reason) = crate::attachment::check_incoming(
                        opened.content.body.as_bytes(),
                        &from,
                        &fuin_seal::ConversationId::group(id),
                    ) {
                        groups.save(&state, now)?;
                        work.dropped += 1;
                        work.events.push(Event::MessageDropped {
                            from: from.clone(),
                            reason: format!("group {}: {reason}", group_hex(id)),
                        });
                        return Ok(Handled::Done);
                    }
                }
                let franking = StoredFranking {
                    franking_key: opened.franking.franking_key.clone(),
                    commitment: opened.franking.commitment,
                    stamp: opened.franking.stamp,
                    stamp_key_id: opened.franking.stamp_key_id,
                    server_time_ms: opened.franking.server_time_ms,
                    server_message_id: opened.franking.server_message_id,
                    sender: opened.franking.sender.clone(),
                    recipient: opened.franking.recipient.clone(),
                };
                let extra = ReportExtra {
                    sealed_body: record.envelope.sealed_body.as_bytes().to_vec(),
                    membership_hash: opened.membership_hash.0,
                    chain_signing_key: opened.sender_signing_key.0,
                };
                groups.save(&state, now)?;
                let inserted = groups.insert_message(
                    id,
                    &from,
                    opened.content.message_id.as_bytes(),
                    from.user == self.inner.address.user,
                    opened.epoch,
                    opened.content.content_type,
                    opened.content.body.as_bytes(),
                    opened.content.sent_at_ms,
                    Some(opened.franking.server_time_ms),
                    MessageStatus::Unread,
                    Some((&franking, &extra)),
                    now,
                )?;
                if let Some(local_id) = inserted {
                    work.messages += 1;
                    work.events.push(Event::GroupMessageReceived {
                        group: group_hex(id),
                        local_id,
                        from,
                    });
                }
                Ok(Handled::Done)
            }
            ContentType::GroupControl => {
                let control = match opened.control() {
                    Some(Ok(control)) => control.into_owned(),
                    Some(Err(err)) => {
                        groups.save(&state, now)?;
                        self.group_drop(work, &from, Some(id), &err);
                        return Ok(Handled::Done);
                    }
                    None => return Ok(Handled::Done),
                };
                // The control is applied on top of the opened state; if it
                // is too early, neither is kept and the message waits.
                match state.apply_control(&mut rand::rng(), &control, now) {
                    Ok(applied) => {
                        groups.save(&state, now)?;
                        if let Some(distribution) = &applied.distribution {
                            groups.enqueue_direct(
                                id,
                                ContentType::SenderKeyDistribution,
                                &applied.distribute_to,
                                &distribution.to_bytes()?,
                                now,
                            )?;
                        }
                        if let Some(change) = change_of(&applied.outcome) {
                            work.events.push(Event::GroupChanged {
                                group: group_hex(id),
                                epoch: state.epoch(),
                                by: applied.actor.clone(),
                                change,
                            });
                        }
                        Ok(Handled::Done)
                    }
                    Err(err) if is_early(&err) => Ok(Handled::Early),
                    Err(err) => {
                        groups.save(&state, now)?;
                        self.group_drop(work, &from, Some(id), &err);
                        Ok(Handled::Done)
                    }
                }
            }
            // Group receipts are not used by this client; the chain moves on.
            _ => {
                groups.save(&state, now)?;
                Ok(Handled::Done)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_store_from_before_group_attachments_gains_the_content_type() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let old = GROUP_SCHEMA.replace("    content_type   INTEGER NOT NULL DEFAULT 0,\n", "");
        assert_ne!(old, GROUP_SCHEMA, "the old schema lacks the column");
        conn.execute_batch(&old).unwrap();
        conn.execute(
            "INSERT INTO group_messages (group_id, sender_user, sender_device, message_id,
                outgoing, epoch, body, sent_at_ms, status, received_at_ms)
             VALUES (x'00', 'alice', 1, x'01', 0, 0, x'02', 0, 0, 0)",
            [],
        )
        .unwrap();
        upgrade_group_schema(&conn).unwrap();
        // Twice is harmless.
        upgrade_group_schema(&conn).unwrap();
        let kind: i64 = conn
            .query_row("SELECT content_type FROM group_messages", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(history_content_type(kind).unwrap(), ContentType::Text);
        assert!(history_content_type(4).is_err());
    }
}
