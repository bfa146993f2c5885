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
//! Rows that decide trust (`peers`, `accounts`) stay in the clear to be
//! looked up, with a trust tag made with the storage key ([`tags`]).
//!
//! The database runs in WAL mode with `synchronous = FULL`: a transaction
//! that returned is on disk. Every state change is one `BEGIN IMMEDIATE`
//! transaction that reads and writes its state ([`LocalStore::transaction`]),
//! so several processes on one store serialise (`spec/client.md` §1.1).

pub(crate) mod content;
mod handshakes;
mod messages;
mod meta;
pub(crate) mod pages;
mod peers;
mod queues;
mod schema;
pub(crate) mod search;
mod sessions;
pub(crate) mod tags;
mod token;

use std::path::Path;

use fuin_seal::Session;
use fuin_seal::state::{StorageKey, open_with_storage_key, seal_with_storage_key};
use fuin_wire::{
    ClientMessageId, ContentType, DeviceAddress, DeviceId, Ed25519PublicKey, Ed25519Signature,
    FrankingCommitment, FrankingKey, FrankingStamp, MessageId, PublicIdentity, StampKeyId, UserId,
    X25519PublicKey,
};
use rusqlite::{Connection, Transaction};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::ClientError;
use crate::history::MessageStatus;

use self::schema::{SCHEMA, SCHEMA_V2_TABLES, SCHEMA_V3_COLUMNS, SCHEMA_VERSION};
pub(crate) use self::token::{HeldToken, TokenKeeper};

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

/// How long a transaction waits for another process's to finish.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

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
        conn.execute_batch(SCHEMA_V2_TABLES)
            .map_err(storage("creating the schema"))?;
        conn.execute_batch(SCHEMA_V3_COLUMNS)
            .map_err(storage("creating the schema"))?;
        conn.execute_batch(crate::group::GROUP_SCHEMA)
            .map_err(storage("creating the group tables"))?;
        conn.execute_batch(pages::HISTORY_INDEXES)
            .map_err(storage("creating the history indexes"))?;
        conn.execute_batch(crate::identifiers::IDENTIFIER_SCHEMA)
            .map_err(storage("creating the identifier tables"))?;
        // Stores made before accounts gain their table (and are made the
        // first device of a new account when opened, `Client::open`).
        conn.execute_batch(crate::account::ACCOUNT_SCHEMA)
            .map_err(storage("creating the account tables"))?;
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
        let mut conn = Self::connect(path)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(storage("reading the schema version"))?;
        match version {
            SCHEMA_VERSION => {}
            1 => {
                Self::migrate_from_v1(&mut conn, &key)?;
                Self::migrate_from_v2(&mut conn)?;
            }
            2 => Self::migrate_from_v2(&mut conn)?,
            _ => {
                return Err(ClientError::Storage(format!(
                    "the store has schema version {version}; this client reads {SCHEMA_VERSION}"
                )));
            }
        }
        // Stores made before groups gain their tables.
        conn.execute_batch(crate::group::GROUP_SCHEMA)
            .map_err(storage("creating the group tables"))?;
        conn.execute_batch(pages::HISTORY_INDEXES)
            .map_err(storage("creating the history indexes"))?;
        crate::group::upgrade_group_schema(&conn)?;
        // Stores made before the identifier secret was shared gain its table.
        conn.execute_batch(crate::identifiers::IDENTIFIER_SCHEMA)
            .map_err(storage("creating the identifier tables"))?;
        // Stores made before accounts gain their table (and are made the
        // first device of a new account when opened, `Client::open`).
        conn.execute_batch(crate::account::ACCOUNT_SCHEMA)
            .map_err(storage("creating the account tables"))?;
        Ok(Self { conn, key })
    }

    fn connect(path: &Path) -> Result<Connection, ClientError> {
        let conn = Connection::open(path).map_err(storage("opening the store"))?;
        // Another process on the store (an app and its notification
        // extension) holds the write lock for one short transaction at a
        // time; waiting is how the two serialise, so the wait is long. Set
        // first, so that the pragmas below wait too.
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(storage("setting the busy timeout"))?;
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
        search::attach(&conn)?;
        Ok(conn)
    }

    /// Schema version 1 to 2, in one transaction (another process may open
    /// the store at once: the one that migrates second finds version 2):
    /// the answered handshakes and the signed prekey ledger (with the
    /// current signed prekey), and a trust tag for every `peers` and
    /// `accounts` row. The rows are tagged as they stand: what the file
    /// held before the migration is trusted as it was.
    fn migrate_from_v1(conn: &mut Connection, key: &StorageKey) -> Result<(), ClientError> {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(storage("starting the migration"))?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(storage("reading the schema version"))?;
        if version >= 2 {
            return Ok(());
        }
        tx.execute_batch(SCHEMA_V2_TABLES)
            .map_err(storage("migrating the store"))?;
        tx.execute_batch(crate::account::ACCOUNT_SCHEMA)
            .map_err(storage("migrating the store"))?;
        for table in ["peers", "accounts"] {
            let has_tag: i64 = tx
                .query_row(
                    &format!(
                        "SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = 'tag'"
                    ),
                    [],
                    |row| row.get(0),
                )
                .map_err(storage("migrating the store"))?;
            if has_tag == 0 {
                tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN tag BLOB"))
                    .map_err(storage("migrating the store"))?;
            }
        }
        let db = Reader::of(&tx, key);
        db.tag_all_peers()?;
        db.tag_all_accounts()?;
        if let Some(current) = db.prekeys()?.current_signed_prekey() {
            db.note_signed_prekey(current.id.0, crate::client::now_ms())?;
        }
        tx.pragma_update(None, "user_version", 2)
            .map_err(storage("writing the schema version"))?;
        tx.commit().map_err(storage("committing the migration"))
    }

    /// Schema version 2 to 3, in one transaction (another process that
    /// migrates second finds version 3): the typed-content columns of
    /// `messages`. Rows stored before are text, attachments and receipts,
    /// which the new columns' defaults describe.
    fn migrate_from_v2(conn: &mut Connection) -> Result<(), ClientError> {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(storage("starting the migration"))?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(storage("reading the schema version"))?;
        if version >= 3 {
            return Ok(());
        }
        tx.execute_batch(SCHEMA_V3_COLUMNS)
            .map_err(storage("migrating the store"))?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(storage("writing the schema version"))?;
        tx.commit().map_err(storage("committing the migration"))
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
    /// Copies the log into the database and empties the log (after rows
    /// were deleted, so that their old pages are in neither file). Another
    /// connection reading at the moment makes it a partial checkpoint;
    /// the next one finishes it.
    pub fn checkpoint(&self) -> Result<(), ClientError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(storage("checkpointing the log"))
    }

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
}
