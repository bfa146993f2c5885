//! The device's local state in SQLite: identity, prekeys, trusted peer
//! identities, sessions, history with each message's franking opening, and
//! the queues that make sending and receiving crash-safe.
//!
//! Every secret-bearing value (identity and prekey secrets, session state,
//! the bearer token, message bodies, franking keys, quarantined records) is
//! encrypted with the device storage key through
//! [`fuin_seal::state::seal_with_storage_key`], with a context naming the
//! row, so that a value cannot be moved to another row. Routing metadata
//! (who, when, status) stays in the clear so it can be indexed; it is what
//! the device shows in its conversation list anyway.
//!
//! The database runs in WAL mode with `synchronous = FULL`: a transaction
//! that returned is on disk.

use std::path::Path;

use fuin_seal::state::{StorageKey, open_with_storage_key, seal_with_storage_key};
use fuin_seal::{DeviceIdentity, PrekeyStore, Session};
use fuin_wire::{
    ClientMessageId, ContentType, DeviceAddress, DeviceId, Ed25519PublicKey, Ed25519Signature,
    FrankingCommitment, FrankingKey, FrankingStamp, MessageId, PublicIdentity, StampKeyId, UserId,
    X25519PublicKey,
};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::ClientError;
use crate::history::{Message, MessageStatus};

/// The schema version kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE peers (
    user             TEXT NOT NULL,
    device           INTEGER NOT NULL,
    identity         BLOB NOT NULL,
    pending_identity BLOB,
    first_seen_ms    INTEGER NOT NULL,
    PRIMARY KEY (user, device)
);
CREATE TABLE sessions (
    user      TEXT NOT NULL,
    device    INTEGER NOT NULL,
    slot      INTEGER NOT NULL,
    state     BLOB NOT NULL,
    last_used INTEGER NOT NULL,
    PRIMARY KEY (user, device, slot)
);
CREATE TABLE messages (
    id             INTEGER PRIMARY KEY,
    conversation   TEXT NOT NULL,
    sender_user    TEXT NOT NULL,
    sender_device  INTEGER NOT NULL,
    message_id     BLOB NOT NULL,
    outgoing       INTEGER NOT NULL,
    content_type   INTEGER NOT NULL,
    body           BLOB NOT NULL,
    sent_at_ms     INTEGER NOT NULL,
    sequence       INTEGER NOT NULL,
    server_time_ms INTEGER,
    status         INTEGER NOT NULL,
    franking       BLOB,
    received_at_ms INTEGER NOT NULL,
    receipt_owed   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (sender_user, sender_device, message_id)
);
CREATE INDEX messages_by_conversation ON messages (conversation, sent_at_ms, sequence);
CREATE INDEX messages_owing_receipts ON messages (receipt_owed) WHERE receipt_owed != 0;
CREATE TABLE receipts (
    message   INTEGER NOT NULL REFERENCES messages (id),
    user      TEXT NOT NULL,
    device    INTEGER NOT NULL,
    kind      INTEGER NOT NULL,
    at_ms     INTEGER NOT NULL,
    PRIMARY KEY (message, user, device, kind)
);
CREATE TABLE processed (
    server_message_id BLOB PRIMARY KEY,
    at_ms             INTEGER NOT NULL
);
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY,
    message    INTEGER REFERENCES messages (id),
    batch      BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE quarantine (
    server_message_id BLOB PRIMARY KEY,
    sender_user       TEXT NOT NULL,
    sender_device     INTEGER NOT NULL,
    record            BLOB NOT NULL,
    at_ms             INTEGER NOT NULL
);
";

/// A peer device's identity as this device trusts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerRecord {
    /// The identity trusted for the device.
    pub identity: PublicIdentity,
    /// A different identity the device presented since, not yet accepted.
    pub pending: Option<PublicIdentity>,
}

/// One stored session with a peer device.
pub(crate) struct SessionSlot {
    pub slot: i64,
    pub session: Session,
    pub last_used: i64,
}

/// What a report needs of a received message, stored encrypted with it.
/// The franking key is wiped on drop and never shown by `Debug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFranking {
    /// The per-message franking key `nf`.
    pub franking_key: FrankingKey,
    /// The commitment the relay stamped.
    pub commitment: FrankingCommitment,
    /// The relay's stamp.
    pub stamp: FrankingStamp,
    /// The relay key that made the stamp.
    pub stamp_key_id: StampKeyId,
    /// The relay's time of acceptance.
    pub server_time_ms: u64,
    /// The relay's id for the delivery.
    pub server_message_id: MessageId,
    /// The sending device, as the relay authenticated it.
    pub sender: DeviceAddress<'static>,
    /// This device, the recipient.
    pub recipient: DeviceAddress<'static>,
}

/// The stored form of a [`StoredFranking`] (postcard, then encrypted).
#[derive(Serialize, Deserialize)]
struct FrankingRow<'a> {
    franking_key: FrankingKey,
    commitment: FrankingCommitment,
    stamp: FrankingStamp,
    stamp_key_id: StampKeyId,
    server_time_ms: u64,
    server_message_id: MessageId,
    #[serde(borrow)]
    sender: DeviceAddress<'a>,
    #[serde(borrow)]
    recipient: DeviceAddress<'a>,
}

impl StoredFranking {
    pub(crate) fn encode(&self) -> Result<Zeroizing<Vec<u8>>, ClientError> {
        let row = FrankingRow {
            franking_key: self.franking_key.clone(),
            commitment: self.commitment,
            stamp: self.stamp,
            stamp_key_id: self.stamp_key_id,
            server_time_ms: self.server_time_ms,
            server_message_id: self.server_message_id,
            sender: self.sender.clone(),
            recipient: self.recipient.clone(),
        };
        postcard::to_stdvec(&row)
            .map(Zeroizing::new)
            .map_err(|_| ClientError::Storage("a franking opening could not be encoded".into()))
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, ClientError> {
        let row: FrankingRow<'_> = postcard::from_bytes(bytes)
            .map_err(|_| ClientError::Storage("a franking opening is malformed".into()))?;
        Ok(Self {
            franking_key: row.franking_key.clone(),
            commitment: row.commitment,
            stamp: row.stamp,
            stamp_key_id: row.stamp_key_id,
            server_time_ms: row.server_time_ms,
            server_message_id: row.server_message_id,
            sender: row.sender.clone().into_owned(),
            recipient: row.recipient.clone().into_owned(),
        })
    }
}

/// A message to add to the history.
pub(crate) struct NewMessage<'a> {
    pub conversation: &'a UserId<'a>,
    pub sender: &'a DeviceAddress<'a>,
    pub message_id: ClientMessageId,
    pub outgoing: bool,
    pub content_type: ContentType,
    pub body: &'a [u8],
    pub sent_at_ms: u64,
    pub sequence: u64,
    pub server_time_ms: Option<u64>,
    pub status: MessageStatus,
    pub franking: Option<&'a StoredFranking>,
    pub received_at_ms: u64,
    /// The receipt this device owes the sender (0 none, 1 delivered, 2 read).
    pub receipt_owed: i64,
}

/// The local store.
pub(crate) struct LocalStore {
    conn: Connection,
    key: StorageKey,
}

fn storage(what: &str) -> impl Fn(rusqlite::Error) -> ClientError + '_ {
    move |err| ClientError::Storage(format!("{what}: {err}"))
}

fn to_sql_u64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn from_sql_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

pub(crate) fn identity_bytes(identity: &PublicIdentity) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&identity.signing_key.0);
    out.extend_from_slice(&identity.agreement_key.0);
    out.extend_from_slice(&identity.signature.0);
    out
}

fn identity_from_bytes(bytes: &[u8]) -> Result<PublicIdentity, ClientError> {
    let corrupt = || ClientError::Storage("a stored identity has the wrong length".into());
    if bytes.len() != 128 {
        return Err(corrupt());
    }
    let signing: [u8; 32] = bytes[..32].try_into().map_err(|_| corrupt())?;
    let agreement: [u8; 32] = bytes[32..64].try_into().map_err(|_| corrupt())?;
    let signature: [u8; 64] = bytes[64..].try_into().map_err(|_| corrupt())?;
    Ok(PublicIdentity {
        signing_key: Ed25519PublicKey(signing),
        agreement_key: X25519PublicKey(agreement),
        signature: Ed25519Signature(signature),
    })
}

fn user_id(value: String) -> Result<UserId<'static>, ClientError> {
    UserId::new(value).map_err(|_| ClientError::Storage("a stored user id is invalid".into()))
}

pub(crate) fn device_id(value: i64) -> Result<DeviceId, ClientError> {
    u32::try_from(value)
        .map(DeviceId)
        .map_err(|_| ClientError::Storage("a stored device id is out of range".into()))
}

fn message_id(bytes: Vec<u8>) -> Result<ClientMessageId, ClientError> {
    <[u8; 16]>::try_from(bytes.as_slice())
        .map(ClientMessageId)
        .map_err(|_| ClientError::Storage("a stored message id has the wrong length".into()))
}

impl LocalStore {
    /// Creates a new store at `path`; fails if a database is already there.
    pub fn create(path: &Path, key: StorageKey) -> Result<Self, ClientError> {
        if path.exists() {
            return Err(ClientError::Storage(format!(
                "{} already exists; open it instead",
                path.display()
            )));
        }
        let conn = Self::connect(path)?;
        conn.execute_batch(SCHEMA)
            .map_err(storage("creating the schema"))?;
        conn.execute_batch(crate::group::GROUP_SCHEMA)
            .map_err(storage("creating the group tables"))?;
        conn.execute_batch(crate::identifiers::IDENTIFIER_SCHEMA)
            .map_err(storage("creating the identifier tables"))?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(storage("writing the schema version"))?;
        Ok(Self { conn, key })
    }

    /// Opens an existing store.
    pub fn open(path: &Path, key: StorageKey) -> Result<Self, ClientError> {
        if !path.exists() {
            return Err(ClientError::Storage(format!(
                "{} does not exist; create the device first",
                path.display()
            )));
        }
        let conn = Self::connect(path)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(storage("reading the schema version"))?;
        if version != SCHEMA_VERSION {
            return Err(ClientError::Storage(format!(
                "the store has schema version {version}; this client reads {SCHEMA_VERSION}"
            )));
        }
        // Stores made before groups gain their tables.
        conn.execute_batch(crate::group::GROUP_SCHEMA)
            .map_err(storage("creating the group tables"))?;
        crate::group::upgrade_group_schema(&conn)?;
        // Stores made before the identifier secret was shared gain its table.
        conn.execute_batch(crate::identifiers::IDENTIFIER_SCHEMA)
            .map_err(storage("creating the identifier tables"))?;
        Ok(Self { conn, key })
    }

    fn connect(path: &Path) -> Result<Connection, ClientError> {
        let conn = Connection::open(path).map_err(storage("opening the store"))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(storage("enabling WAL"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(ClientError::Storage("the store cannot use WAL".into()));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(storage("setting synchronous"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(storage("enabling foreign keys"))?;
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(storage("enabling secure delete"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(storage("setting the busy timeout"))?;
        Ok(conn)
    }

    /// Starts a write transaction. Dropping it without commit rolls back.
    pub fn transaction(&mut self) -> Result<(Transaction<'_>, &StorageKey), ClientError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(storage("starting a transaction"))?;
        Ok((tx, &self.key))
    }

    /// The connection, for reads.
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            conn: &self.conn,
            key: &self.key,
        }
    }
}

/// Reads and writes on a connection or a transaction, with the storage key.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    pub conn: &'a Connection,
    pub key: &'a StorageKey,
}

impl<'a> Reader<'a> {
    /// Reads and writes inside `tx`.
    pub fn of(tx: &'a Transaction<'_>, key: &'a StorageKey) -> Self {
        Self { conn: tx, key }
    }

    pub(crate) fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        seal_with_storage_key(&mut rand::rng(), self.key, context.as_bytes(), plaintext)
    }

    pub(crate) fn open(
        &self,
        context: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ClientError> {
        open_with_storage_key(self.key, context.as_bytes(), sealed).map_err(|_| {
            ClientError::Storage(format!(
                "a stored value ({}) does not open with the storage key",
                context.split('/').nth(2).unwrap_or("value")
            ))
        })
    }

    // ---- meta: plain and encrypted named values ----

    pub fn put_plain(&self, name: &str, value: &[u8]) -> Result<(), ClientError> {
        self.conn
            .execute(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![name, value],
            )
            .map_err(storage("writing a setting"))?;
        Ok(())
    }

    pub fn plain(&self, name: &str) -> Result<Option<Vec<u8>>, ClientError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE name = ?1", [name], |row| {
                row.get(0)
            })
            .optional()
            .map_err(storage("reading a setting"))
    }

    pub fn put_secret(&self, name: &str, value: &[u8]) -> Result<(), ClientError> {
        let sealed = self.seal(&format!("fuin-client/v1/meta/{name}"), value);
        self.put_plain(name, &sealed)
    }

    pub fn secret(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, ClientError> {
        self.plain(name)?
            .map(|sealed| self.open(&format!("fuin-client/v1/meta/{name}"), &sealed))
            .transpose()
    }

    pub fn put_identity(&self, identity: &DeviceIdentity) -> Result<(), ClientError> {
        self.put_secret("identity", &identity.to_bytes()?)
    }

    pub fn identity(&self) -> Result<DeviceIdentity, ClientError> {
        let bytes = self
            .secret("identity")?
            .ok_or_else(|| ClientError::Storage("the store holds no identity".into()))?;
        Ok(DeviceIdentity::from_bytes(&bytes)?)
    }

    pub fn put_prekeys(&self, prekeys: &PrekeyStore) -> Result<(), ClientError> {
        self.put_secret("prekeys", &prekeys.to_bytes()?)
    }

    pub fn prekeys(&self) -> Result<PrekeyStore, ClientError> {
        let bytes = self
            .secret("prekeys")?
            .ok_or_else(|| ClientError::Storage("the store holds no prekeys".into()))?;
        Ok(PrekeyStore::from_bytes(&bytes)?)
    }

    pub fn put_u64(&self, name: &str, value: u64) -> Result<(), ClientError> {
        self.put_plain(name, &value.to_be_bytes())
    }

    pub fn u64(&self, name: &str) -> Result<Option<u64>, ClientError> {
        self.plain(name)?
            .map(|bytes| {
                <[u8; 8]>::try_from(bytes.as_slice())
                    .map(u64::from_be_bytes)
                    .map_err(|_| ClientError::Storage(format!("setting {name} is malformed")))
            })
            .transpose()
    }

    // ---- peers ----

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

    // ---- sessions ----

    fn session_context(address: &DeviceAddress<'_>, slot: i64) -> String {
        format!(
            "fuin-client/v1/session/{}/{}/{slot}",
            address.user.as_str(),
            address.device.0
        )
    }

    /// The sessions with a peer device, most recently used first.
    pub fn sessions(&self, address: &DeviceAddress<'_>) -> Result<Vec<SessionSlot>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT slot, state, last_used FROM sessions WHERE user = ?1 AND device = ?2
                 ORDER BY last_used DESC, slot DESC",
            )
            .map_err(storage("reading sessions"))?;
        let rows = statement
            .query_map(
                params![address.user.as_str(), i64::from(address.device.0)],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, Vec<u8>>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                },
            )
            .map_err(storage("reading sessions"))?;
        let mut out = Vec::new();
        for row in rows {
            let (slot, state, last_used) = row.map_err(storage("reading sessions"))?;
            let bytes = self.open(&Self::session_context(address, slot), &state)?;
            out.push(SessionSlot {
                slot,
                session: Session::from_bytes(&bytes)?,
                last_used,
            });
        }
        Ok(out)
    }

    pub fn put_session(
        &self,
        address: &DeviceAddress<'_>,
        slot: i64,
        session: &Session,
        last_used: i64,
    ) -> Result<(), ClientError> {
        let state = self.seal(&Self::session_context(address, slot), &session.to_bytes()?);
        self.conn
            .execute(
                "INSERT INTO sessions (user, device, slot, state, last_used)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (user, device, slot)
                 DO UPDATE SET state = excluded.state, last_used = excluded.last_used",
                params![
                    address.user.as_str(),
                    i64::from(address.device.0),
                    slot,
                    state,
                    last_used
                ],
            )
            .map_err(storage("writing a session"))?;
        Ok(())
    }

    pub fn delete_session(
        &self,
        address: &DeviceAddress<'_>,
        slot: i64,
    ) -> Result<(), ClientError> {
        self.conn
            .execute(
                "DELETE FROM sessions WHERE user = ?1 AND device = ?2 AND slot = ?3",
                params![address.user.as_str(), i64::from(address.device.0), slot],
            )
            .map_err(storage("deleting a session"))?;
        Ok(())
    }

    pub fn delete_sessions(&self, address: &DeviceAddress<'_>) -> Result<(), ClientError> {
        self.conn
            .execute(
                "DELETE FROM sessions WHERE user = ?1 AND device = ?2",
                params![address.user.as_str(), i64::from(address.device.0)],
            )
            .map_err(storage("deleting sessions"))?;
        Ok(())
    }

    // ---- history ----

    fn body_context(sender: &DeviceAddress<'_>, id: &ClientMessageId, part: &str) -> String {
        format!(
            "fuin-client/v1/message/{}/{}/{}/{part}",
            sender.user.as_str(),
            sender.device.0,
            hex::encode(id.0)
        )
    }

    /// Adds a message; `None` if a message with the same sender and id is
    /// already stored (it is then left as it is).
    pub fn insert_message(&self, message: &NewMessage<'_>) -> Result<Option<i64>, ClientError> {
        let body = self.seal(
            &Self::body_context(message.sender, &message.message_id, "body"),
            message.body,
        );
        let franking = message
            .franking
            .map(|franking| {
                let encoded = franking.encode()?;
                Ok::<_, ClientError>(self.seal(
                    &Self::body_context(message.sender, &message.message_id, "franking"),
                    &encoded,
                ))
            })
            .transpose()?;
        let inserted = self
            .conn
            .execute(
                "INSERT INTO messages (conversation, sender_user, sender_device, message_id,
                     outgoing, content_type, body, sent_at_ms, sequence, server_time_ms, status,
                     franking, received_at_ms, receipt_owed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT (sender_user, sender_device, message_id) DO NOTHING",
                params![
                    message.conversation.as_str(),
                    message.sender.user.as_str(),
                    i64::from(message.sender.device.0),
                    message.message_id.0.as_slice(),
                    message.outgoing,
                    i64::from(message.content_type.code()),
                    body,
                    to_sql_u64(message.sent_at_ms),
                    to_sql_u64(message.sequence),
                    message.server_time_ms.map(to_sql_u64),
                    message.status.code(),
                    franking,
                    to_sql_u64(message.received_at_ms),
                    message.receipt_owed,
                ],
            )
            .map_err(storage("storing a message"))?;
        Ok((inserted > 0).then(|| self.conn.last_insert_rowid()))
    }

    pub fn set_status(
        &self,
        local_id: i64,
        status: MessageStatus,
        server_time_ms: Option<u64>,
    ) -> Result<(), ClientError> {
        self.conn
            .execute(
                "UPDATE messages SET status = ?2,
                     server_time_ms = COALESCE(?3, server_time_ms) WHERE id = ?1",
                params![local_id, status.code(), server_time_ms.map(to_sql_u64)],
            )
            .map_err(storage("updating a message"))?;
        Ok(())
    }

    /// A message of `conversation` sent by `sender`, by its id: local id and
    /// status.
    pub fn find_message(
        &self,
        conversation: &UserId<'_>,
        sender: &DeviceAddress<'_>,
        id: &ClientMessageId,
    ) -> Result<Option<(i64, MessageStatus)>, ClientError> {
        self.conn
            .query_row(
                "SELECT id, status FROM messages WHERE conversation = ?1 AND sender_user = ?2
                 AND sender_device = ?3 AND message_id = ?4",
                params![
                    conversation.as_str(),
                    sender.user.as_str(),
                    i64::from(sender.device.0),
                    id.0.as_slice()
                ],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
            )
            .optional()
            .map_err(storage("finding a message"))?
            .map(|(local, status)| Ok((local, MessageStatus::from_code(status)?)))
            .transpose()
    }

    pub fn add_receipt(
        &self,
        local_id: i64,
        by: &DeviceAddress<'_>,
        kind: i64,
        at_ms: u64,
    ) -> Result<(), ClientError> {
        self.conn
            .execute(
                "INSERT INTO receipts (message, user, device, kind, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT DO NOTHING",
                params![
                    local_id,
                    by.user.as_str(),
                    i64::from(by.device.0),
                    kind,
                    to_sql_u64(at_ms)
                ],
            )
            .map_err(storage("storing a receipt"))?;
        Ok(())
    }

    /// Marks what receipt a message is owed (0 none, 1 delivered, 2 read).
    pub fn set_receipt_owed(&self, local_id: i64, owed: i64) -> Result<(), ClientError> {
        self.conn
            .execute(
                "UPDATE messages SET receipt_owed = ?2 WHERE id = ?1",
                params![local_id, owed],
            )
            .map_err(storage("updating a message"))?;
        Ok(())
    }

    /// Messages owing a receipt, oldest first, at most `limit`:
    /// conversation, local id, sender device, message id, receipt owed.
    #[allow(clippy::type_complexity)]
    pub fn owed_receipts(
        &self,
        limit: usize,
    ) -> Result<Vec<(String, i64, DeviceId, ClientMessageId, i64)>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT conversation, id, sender_device, message_id, receipt_owed FROM messages
                 WHERE receipt_owed != 0 ORDER BY id LIMIT ?1",
            )
            .map_err(storage("reading owed receipts"))?;
        let rows = statement
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, Vec<u8>>(3)?,
                    row.get::<_, i64>(4)?,
                ))
            })
            .map_err(storage("reading owed receipts"))?;
        let mut out = Vec::new();
        for row in rows {
            let (conversation, local, device, id, owed) =
                row.map_err(storage("reading owed receipts"))?;
            out.push((
                conversation,
                local,
                device_id(device)?,
                message_id(id)?,
                owed,
            ));
        }
        Ok(out)
    }

    /// Unread incoming messages of a conversation: local id, sender, id.
    pub fn unread(
        &self,
        conversation: &UserId<'_>,
    ) -> Result<Vec<(i64, DeviceAddress<'static>, ClientMessageId)>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT id, sender_user, sender_device, message_id FROM messages
                 WHERE conversation = ?1 AND outgoing = 0 AND status = ?2
                 ORDER BY sent_at_ms, sequence",
            )
            .map_err(storage("reading unread messages"))?;
        let rows = statement
            .query_map(
                params![conversation.as_str(), MessageStatus::Unread.code()],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, Vec<u8>>(3)?,
                    ))
                },
            )
            .map_err(storage("reading unread messages"))?;
        let mut out = Vec::new();
        for row in rows {
            let (local, user, device, id) = row.map_err(storage("reading unread messages"))?;
            out.push((
                local,
                DeviceAddress::new(user_id(user)?, device_id(device)?),
                message_id(id)?,
            ));
        }
        Ok(out)
    }

    const MESSAGE_COLUMNS: &'static str = "id, conversation, sender_user, sender_device, \
        message_id, outgoing, content_type, body, sent_at_ms, sequence, server_time_ms, status, \
        received_at_ms";

    fn message_from_row(&self, row: &rusqlite::Row<'_>) -> Result<Message, ClientError> {
        let get = |err: rusqlite::Error| ClientError::Storage(format!("reading a message: {err}"));
        let sender = DeviceAddress::new(
            user_id(row.get(2).map_err(get)?)?,
            device_id(row.get(3).map_err(get)?)?,
        );
        let id = message_id(row.get(4).map_err(get)?)?;
        let body: Vec<u8> = row.get(7).map_err(get)?;
        let body = self.open(&Self::body_context(&sender, &id, "body"), &body)?;
        let content_type = match row.get::<_, i64>(6).map_err(get)? {
            0 => ContentType::Text,
            1 => ContentType::Receipt,
            5 => ContentType::Attachment,
            _ => {
                return Err(ClientError::Storage(
                    "a stored content type is unknown".into(),
                ));
            }
        };
        Ok(Message {
            local_id: row.get(0).map_err(get)?,
            conversation: row.get(1).map_err(get)?,
            sender,
            id,
            outgoing: row.get(5).map_err(get)?,
            text: if content_type == ContentType::Attachment {
                crate::attachment::describe(&body)
            } else {
                String::from_utf8_lossy(&body).into_owned()
            },
            content_type,
            sent_at_ms: from_sql_u64(row.get(8).map_err(get)?),
            sequence: from_sql_u64(row.get(9).map_err(get)?),
            server_time_ms: row
                .get::<_, Option<i64>>(10)
                .map_err(get)?
                .map(from_sql_u64),
            status: MessageStatus::from_code(row.get(11).map_err(get)?)?,
            received_at_ms: from_sql_u64(row.get(12).map_err(get)?),
        })
    }

    /// A conversation's messages in the order the senders sent them: by the
    /// sender's clock, then by the sender's counter. The last `limit`.
    pub fn history(
        &self,
        conversation: &UserId<'_>,
        limit: usize,
    ) -> Result<Vec<Message>, ClientError> {
        let sql = format!(
            "SELECT {} FROM (SELECT * FROM messages WHERE conversation = ?1
                 ORDER BY sent_at_ms DESC, sequence DESC, id DESC LIMIT ?2)
             ORDER BY sent_at_ms, sequence, id",
            Self::MESSAGE_COLUMNS
        );
        let mut statement = self
            .conn
            .prepare_cached(&sql)
            .map_err(storage("reading history"))?;
        let mut rows = statement
            .query(params![
                conversation.as_str(),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ])
            .map_err(storage("reading history"))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(storage("reading history"))? {
            out.push(self.message_from_row(row)?);
        }
        Ok(out)
    }

    pub fn message(&self, local_id: i64) -> Result<Option<Message>, ClientError> {
        let sql = format!(
            "SELECT {} FROM messages WHERE id = ?1",
            Self::MESSAGE_COLUMNS
        );
        let mut statement = self
            .conn
            .prepare_cached(&sql)
            .map_err(storage("reading a message"))?;
        let mut rows = statement
            .query([local_id])
            .map_err(storage("reading a message"))?;
        match rows.next().map_err(storage("reading a message"))? {
            Some(row) => Ok(Some(self.message_from_row(row)?)),
            None => Ok(None),
        }
    }

    /// A message's body exactly as stored (the history's `text` is lossy
    /// for bytes that are not UTF-8; a report needs the bytes).
    pub fn message_body(&self, local_id: i64) -> Result<Option<Zeroizing<Vec<u8>>>, ClientError> {
        let row: Option<(String, i64, Vec<u8>, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT sender_user, sender_device, message_id, body FROM messages WHERE id = ?1",
                [local_id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()
            .map_err(storage("reading a message body"))?;
        let Some((user, device, id, sealed)) = row else {
            return Ok(None);
        };
        let sender = DeviceAddress::new(user_id(user)?, device_id(device)?);
        self.open(
            &Self::body_context(&sender, &message_id(id)?, "body"),
            &sealed,
        )
        .map(Some)
    }

    /// The franking opening stored with a received message.
    #[allow(clippy::type_complexity)]
    pub fn franking(&self, local_id: i64) -> Result<Option<StoredFranking>, ClientError> {
        let row: Option<(String, i64, Vec<u8>, Option<Vec<u8>>)> = self
            .conn
            .query_row(
                "SELECT sender_user, sender_device, message_id, franking FROM messages
                 WHERE id = ?1",
                [local_id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()
            .map_err(storage("reading a franking opening"))?;
        let Some((user, device, id, Some(sealed))) = row else {
            return Ok(None);
        };
        let sender = DeviceAddress::new(user_id(user)?, device_id(device)?);
        let bytes = self.open(
            &Self::body_context(&sender, &message_id(id)?, "franking"),
            &sealed,
        )?;
        StoredFranking::decode(&bytes).map(Some)
    }

    /// Receipts of a message: who, which kind (0 delivered, 1 read), when.
    pub fn receipts(
        &self,
        local_id: i64,
    ) -> Result<Vec<(DeviceAddress<'static>, i64, u64)>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT user, device, kind, at_ms FROM receipts WHERE message = ?1
                 ORDER BY at_ms, user, device, kind",
            )
            .map_err(storage("reading receipts"))?;
        let rows = statement
            .query_map([local_id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })
            .map_err(storage("reading receipts"))?;
        let mut out = Vec::new();
        for row in rows {
            let (user, device, kind, at) = row.map_err(storage("reading receipts"))?;
            out.push((
                DeviceAddress::new(user_id(user)?, device_id(device)?),
                kind,
                from_sql_u64(at),
            ));
        }
        Ok(out)
    }

    /// Conversations, most recent first: peer, message count, unread count,
    /// time of the last message (sender's clock).
    pub fn conversations(&self) -> Result<Vec<(String, u64, u64, u64)>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT conversation, COUNT(*), SUM(outgoing = 0 AND status = ?1), MAX(sent_at_ms)
                 FROM messages GROUP BY conversation ORDER BY MAX(sent_at_ms) DESC, conversation",
            )
            .map_err(storage("reading conversations"))?;
        let rows = statement
            .query_map([MessageStatus::Unread.code()], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })
            .map_err(storage("reading conversations"))?;
        let mut out = Vec::new();
        for row in rows {
            let (peer, count, unread, last) = row.map_err(storage("reading conversations"))?;
            out.push((
                peer,
                from_sql_u64(count),
                from_sql_u64(unread),
                from_sql_u64(last),
            ));
        }
        Ok(out)
    }

    // ---- receiving: processed deliveries and quarantine ----

    pub fn was_processed(&self, id: &MessageId) -> Result<bool, ClientError> {
        self.conn
            .query_row(
                "SELECT 1 FROM processed WHERE server_message_id = ?1",
                [id.0.as_slice()],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(storage("reading processed deliveries"))
    }

    pub fn mark_processed(&self, id: &MessageId, now_ms: u64) -> Result<(), ClientError> {
        self.conn
            .execute(
                "INSERT INTO processed (server_message_id, at_ms) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
                params![id.0.as_slice(), to_sql_u64(now_ms)],
            )
            .map_err(storage("recording a processed delivery"))?;
        Ok(())
    }

    /// Forgets deliveries the relay confirmed deleting.
    pub fn forget_processed(&self, ids: &[MessageId]) -> Result<(), ClientError> {
        let mut statement = self
            .conn
            .prepare_cached("DELETE FROM processed WHERE server_message_id = ?1")
            .map_err(storage("forgetting processed deliveries"))?;
        for id in ids {
            statement
                .execute([id.0.as_slice()])
                .map_err(storage("forgetting processed deliveries"))?;
        }
        Ok(())
    }

    /// Deliveries processed but not yet confirmed deleted at the relay.
    pub fn unconfirmed(&self) -> Result<Vec<MessageId>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT server_message_id FROM processed ORDER BY at_ms LIMIT 256")
            .map_err(storage("reading processed deliveries"))?;
        let rows = statement
            .query_map([], |row| row.get::<_, Vec<u8>>(0))
            .map_err(storage("reading processed deliveries"))?;
        let mut out = Vec::new();
        for row in rows {
            let bytes = row.map_err(storage("reading processed deliveries"))?;
            let id = <[u8; 16]>::try_from(bytes.as_slice())
                .map_err(|_| ClientError::Storage("a stored delivery id is malformed".into()))?;
            out.push(MessageId(id));
        }
        Ok(out)
    }

    fn quarantine_context(id: &MessageId) -> String {
        format!("fuin-client/v1/quarantine/{}", hex::encode(id.0))
    }

    pub fn quarantine(
        &self,
        id: &MessageId,
        sender: &DeviceAddress<'_>,
        record: &[u8],
        now_ms: u64,
    ) -> Result<(), ClientError> {
        let sealed = self.seal(&Self::quarantine_context(id), record);
        self.conn
            .execute(
                "INSERT INTO quarantine (server_message_id, sender_user, sender_device, record, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                params![
                    id.0.as_slice(),
                    sender.user.as_str(),
                    i64::from(sender.device.0),
                    sealed,
                    to_sql_u64(now_ms)
                ],
            )
            .map_err(storage("quarantining a delivery"))?;
        Ok(())
    }

    /// The quarantined deliveries of one sender device, oldest first.
    #[allow(clippy::type_complexity)]
    pub fn quarantined(
        &self,
        sender: &DeviceAddress<'_>,
    ) -> Result<Vec<(MessageId, Zeroizing<Vec<u8>>)>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT server_message_id, record FROM quarantine
                 WHERE sender_user = ?1 AND sender_device = ?2 ORDER BY at_ms, rowid",
            )
            .map_err(storage("reading quarantine"))?;
        let rows = statement
            .query_map(
                params![sender.user.as_str(), i64::from(sender.device.0)],
                |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?)),
            )
            .map_err(storage("reading quarantine"))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, sealed) = row.map_err(storage("reading quarantine"))?;
            let id = MessageId(
                <[u8; 16]>::try_from(id.as_slice())
                    .map_err(|_| ClientError::Storage("a quarantined id is malformed".into()))?,
            );
            let record = self.open(&Self::quarantine_context(&id), &sealed)?;
            out.push((id, record));
        }
        Ok(out)
    }

    pub fn release_quarantined(&self, id: &MessageId) -> Result<(), ClientError> {
        self.conn
            .execute(
                "DELETE FROM quarantine WHERE server_message_id = ?1",
                [id.0.as_slice()],
            )
            .map_err(storage("releasing a quarantined delivery"))?;
        Ok(())
    }

    // ---- sending: the outbox ----

    pub fn enqueue(
        &self,
        message: Option<i64>,
        batch: &[u8],
        now_ms: u64,
    ) -> Result<i64, ClientError> {
        self.conn
            .execute(
                "INSERT INTO outbox (message, batch, created_ms) VALUES (?1, ?2, ?3)",
                params![message, batch, to_sql_u64(now_ms)],
            )
            .map_err(storage("queueing a send"))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Queued sends, oldest first: outbox id, history row, encoded batch.
    #[allow(clippy::type_complexity)]
    pub fn outbox(&self) -> Result<Vec<(i64, Option<i64>, Vec<u8>)>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT id, message, batch FROM outbox ORDER BY id")
            .map_err(storage("reading the outbox"))?;
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .map_err(storage("reading the outbox"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(storage("reading the outbox"))
    }

    pub fn dequeue(&self, id: i64) -> Result<(), ClientError> {
        self.conn
            .execute("DELETE FROM outbox WHERE id = ?1", [id])
            .map_err(storage("removing a sent batch"))?;
        Ok(())
    }
}
