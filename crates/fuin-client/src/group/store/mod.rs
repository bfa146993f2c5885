//! The group tables: their schema and the `Groups` rows read and written in a transaction.

use std::collections::BTreeMap;

use fuin_seal::group::GroupState;
use fuin_wire::{ContentType, DeviceAddress, DeviceId, GroupId, UserId};
use rusqlite::{OptionalExtension, params};

use crate::ClientError;
use crate::client::user_id;
use crate::history::MessageStatus;
use crate::store::search::{IndexedHistory, searchable_text};
use crate::store::{Reader, StoredFranking};

use super::{GroupEntry, group_hex};

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
CREATE TABLE IF NOT EXISTS group_own_keys (
    group_id       BLOB PRIMARY KEY,
    epoch          INTEGER NOT NULL,
    tag            BLOB NOT NULL,
    distribution   BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS group_key_waits (
    group_id       BLOB NOT NULL,
    sender_user    TEXT NOT NULL,
    sender_device  INTEGER NOT NULL,
    epoch          INTEGER NOT NULL,
    waiting        INTEGER NOT NULL,
    announced      INTEGER NOT NULL,
    asked_at_ms    INTEGER,
    asked_count    INTEGER NOT NULL,
    PRIMARY KEY (group_id, sender_user, sender_device)
);
CREATE TABLE IF NOT EXISTS group_key_answers (
    group_id       BLOB NOT NULL,
    peer_user      TEXT NOT NULL,
    peer_device    INTEGER NOT NULL,
    answered_at_ms INTEGER NOT NULL,
    PRIMARY KEY (group_id, peer_user, peer_device)
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

/// The most deliveries held for one group; beyond, new ones are dropped
/// (`spec/groups.md` §9.4).
pub(crate) const MAX_HELD_PER_GROUP: i64 = 2048;

/// The most deliveries held in all, so that deliveries naming made-up
/// groups cannot make the store grow without end.
pub(crate) const MAX_HELD_TOTAL: i64 = 8192;

/// Held kinds.
pub(super) const HELD_MESSAGE: i64 = 0;

pub(super) const HELD_DISTRIBUTION: i64 = 1;

pub(super) const HELD_WELCOME: i64 = 2;

/// Outbox kinds.
pub(super) const OUT_FAN_OUT: i64 = 0;

const OUT_DIRECT: i64 = 1;

/// What a group report needs besides the franking opening: the sealed
/// `GroupMessage` frame as delivered, the epoch's membership hash and the
/// sender chain's signing key.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct ReportExtra {
    pub(super) sealed_body: Vec<u8>,
    pub(super) membership_hash: [u8; 32],
    pub(super) chain_signing_key: [u8; 32],
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

/// A sender key this device waits for: messages of `sender` in `group`
/// are held because its chain of `epoch` never arrived.
pub(super) struct KeyWait {
    pub(super) group: GroupId,
    pub(super) sender: DeviceAddress<'static>,
    pub(super) epoch: u64,
    /// The app was told ([`crate::Event::WaitingForSenderKey`]).
    pub(super) announced: bool,
    /// When this device last asked the sender for it.
    pub(super) asked_at_ms: Option<u64>,
    /// How many times it asked for this key.
    pub(super) asked_count: u64,
}

/// A stored group message, for a report or an attachment fetch.
pub(crate) struct ReportSource {
    pub(crate) group: GroupId,
    pub(crate) sender: DeviceAddress<'static>,
    pub(crate) content_type: ContentType,
    pub(super) message_id: Vec<u8>,
    pub(crate) body: Vec<u8>,
    pub(super) opened: Option<(StoredFranking, ReportExtra)>,
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
        MessageStatus::Read => 4,
        _ => 3,
    }
}

fn status_of(code: i64) -> MessageStatus {
    match code {
        0 => MessageStatus::Queued,
        1 => MessageStatus::Sent,
        2 => MessageStatus::Failed,
        4 => MessageStatus::Read,
        _ => MessageStatus::Unread,
    }
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

/// The columns of a group history entry, in the order of [`EntryRow`].
pub(super) const ENTRY_COLUMNS: &str = "local_id, sender_user, sender_device, message_id, \
    outgoing, epoch, body, sent_at_ms, status, content_type";

/// A group history row as read: local id, sender user and device, message
/// id, outgoing, epoch, sealed body, sender's clock, status, content type.
pub(super) type EntryRow = (i64, String, i64, Vec<u8>, i64, i64, Vec<u8>, i64, i64, i64);

/// The group tables, read and written inside the caller's transaction.
pub(super) struct Groups<'a> {
    pub(super) db: Reader<'a>,
}

impl Groups<'_> {
    fn state_context(id: &GroupId) -> String {
        format!("fuin-client/v1/group/{}/state", group_hex(id))
    }

    pub(super) fn load(&self, id: &GroupId) -> Result<Option<GroupState>, ClientError> {
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

    pub(super) fn save(&self, state: &GroupState, now: u64) -> Result<(), ClientError> {
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

    pub(super) fn all(&self) -> Result<Vec<GroupState>, ClientError> {
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
    pub(super) fn insert_message(
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
        if inserted != 1 {
            return Ok(None);
        }
        let local_id = self.db.conn.last_insert_rowid();
        self.db.index_message(
            IndexedHistory::Group,
            local_id,
            message_id,
            &searchable_text(content_type.code(), body),
        )?;
        Ok(Some(local_id))
    }

    pub(super) fn set_status(
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

    pub(super) fn history(
        &self,
        id: &GroupId,
        limit: usize,
    ) -> Result<Vec<GroupEntry>, ClientError> {
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
        let rows: Vec<EntryRow> = statement
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
        for row in rows {
            out.push(self.entry_of(id, row)?);
        }
        out.reverse();
        Ok(out)
    }

    /// A history entry from its row (the columns of [`ENTRY_COLUMNS`]).
    pub(super) fn entry_of(&self, id: &GroupId, row: EntryRow) -> Result<GroupEntry, ClientError> {
        let (local_id, user, device, message_id, outgoing, epoch, body, sent_at, status, kind) =
            row;
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
        Ok(GroupEntry {
            local_id,
            group: group_hex(id),
            sender,
            outgoing: outgoing != 0,
            epoch: unsql(epoch),
            content_type,
            text,
            sent_at_ms: unsql(sent_at),
            status: status_of(status),
        })
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
}

mod held;
mod keys;
mod pages;
mod queue;
mod search;

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
