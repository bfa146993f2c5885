//! The embedded SQLite backend: one database file, nothing else to run.
//!
//! # Durability and concurrency
//!
//! The database runs in WAL mode with `synchronous = FULL`, so a commit has
//! been fsynced when it returns. Every write goes through **one writer
//! thread** that owns the only read-write connection. Writes queue on a
//! channel; the writer takes every write waiting (up to [`MAX_BATCH`]), runs
//! them all in one `BEGIN IMMEDIATE` transaction and commits once: one fsync
//! for the whole batch (group commit). Only then does it answer each caller,
//! so a write's future resolves `Ok` only once the write is durable.
//!
//! Each write runs inside its own `SAVEPOINT`: a write that fails (an identity
//! conflict, a duplicate message id) is rolled back alone and the others of
//! its batch still commit. If the batch itself fails (the commit, or SQLite
//! abandoning the transaction, e.g. on a full disk), every write of the batch
//! fails. Because there is a single writer, read-then-write sequences such as
//! [`Store::take_bundle`] cannot interleave: a one-time prekey is never handed
//! out twice.
//!
//! A write whose future is dropped before it resolves may or may not have been
//! committed.
//!
//! Reads run on a small pool of read-only connections, each read on Tokio's
//! blocking thread pool; in WAL mode they never wait for the writer and see
//! every write that has been answered. The store must therefore be used from
//! within a Tokio runtime (outside one, every operation fails with
//! [`StoreError::Backend`]).
//!
//! # What is stored, and how
//!
//! ```text
//! devices          (user, device, identity, registered_at)  PK (user, device)
//! signed_prekeys   (user, device, id, public_key, signature) PK (user, device): the current one
//! one_time_prekeys (user, device, id, public_key)            PK (user, device, id)
//! challenges       (user, device, nonce, expires_at)         PK (user, device, nonce)
//! tokens           (token_hash, user, device, expires_at)    PK token_hash
//! mailbox          (message_id, user, device, record, expires_at, seq)
//!                  PK message_id, index (user, device, seq)
//! blobs            (blob_id, content, expires_at)            PK blob_id
//! blob_capabilities (capability_hash, blob_id, expires_at)   PK capability_hash,
//!                  blob_id references blobs (deleted with it)
//! reports          (report_id, user, device, received_at, expires_at, report)
//!                  PK report_id, index (received_at, report_id)
//! ```
//!
//! Keys are stored as raw bytes in their own columns rather than as encoded
//! frames, so the schema does not depend on the wire codec's version: an
//! identity is its 128 raw bytes (Ed25519 signing key, X25519 agreement key,
//! signature, in that order); a prekey's public key and signature are 32 and
//! 64 raw bytes. A user id is its UTF-8 text, a device id an integer, and a
//! time is milliseconds since the Unix epoch as an integer (times past
//! `i64::MAX` are clamped to it). The mailbox `record` is the encoded
//! `Delivered` frame, stored and returned as given, never looked into.
//!
//! `seq` orders a mailbox oldest first: each envelope gets one more than the
//! highest `seq` in its mailbox, so an emptied mailbox keeps no counter of
//! what went through it.
//!
//! Decisions the trait leaves open:
//! - A time `t` is expired at `now` when `t <= now`.
//! - [`Store::deliver`] rejects a message id that is already stored, or that
//!   appears twice in the batch: the whole batch fails with
//!   `StoreError::Backend("deliver: duplicate message id")` and stores
//!   nothing. It does not check that the recipient is registered (the API
//!   fans out to registered devices), so that an envelope row is all the
//!   database holds about its recipient.
//! - [`Store::put_token`] for an unregistered device fails with
//!   [`StoreError::UnknownDevice`]. [`Store::put_challenge`] accepts any
//!   address, so that the API need not reveal which devices exist.
//! - [`Store::take_bundle`] returns `None`, and takes nothing from the pool,
//!   for an unregistered device or one without a signed prekey. One-time
//!   prekeys are handed out lowest id first.
//! - [`Store::put_blob`] does not check that the id is the content's hash
//!   (the API does); a blob's `expires_at` is the latest of its
//!   capabilities'. A capability hash already stored fails the write with
//!   `StoreError::Backend("put_blob: duplicate capability")`. A report's
//!   reporter is not checked to be registered, like a mailbox's recipient.
//!
//! # Blobs and the group commit
//!
//! A blob is one row, written through the single writer like every other
//! write: its bytes (up to the relay's blob limit, 64 MiB by default) go to
//! the write-ahead log inside the batch's transaction, so that batch's
//! commit, and with it every write that shares it, waits for those bytes to
//! be written and fsynced. That is correct (a blob is durable when its
//! upload is answered, and a failed blob write fails alone, in its
//! savepoint) but makes a batch with a large blob slower. The log grows by
//! the blob's size until the next checkpoint. A second upload of a stored
//! blob writes only its capability and the new expiry, not the bytes again.
//!
//! # Deletion
//!
//! `secure_delete = ON` makes SQLite overwrite deleted rows (and freed pages)
//! with zeros, so once an envelope is acknowledged or expired, neither its
//! record nor its recipient nor its size remain in the database file; the
//! same holds for an expired blob and its capabilities, and for an
//! acknowledged or expired report. In WAL
//! mode the old page images stay in the `-wal` file until a checkpoint has
//! copied the zeroed pages back and the log is reset;
//! [`SqliteStore::checkpoint`] does that and truncates the log, and so does
//! closing the store. The relay should call it periodically (for instance
//! with each expiry sweep) and on graceful shutdown. What the file system or
//! the disk keeps of overwritten blocks is beyond the database.
//!
//! Errors never carry data: a backend failure is
//! `StoreError::Backend("<operation>")` or `"<operation>: <stage>"`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use fuin_wire::relay::ReportId;
use fuin_wire::{
    BlobId, DeviceAddress, DeviceId, Ed25519PublicKey, Ed25519Signature, MessageId, OneTimePrekey,
    PrekeyId, PublicIdentity, SignedPrekey, UserId, X25519PublicKey,
};
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{
    NewBlob, NewDelivery, NewReport, Registration, Store, StoreError, StoredDelivery, StoredReport,
    TakenBundle,
};

/// The most writes committed in one transaction.
pub const MAX_BATCH: usize = 256;
/// How many writes may wait for the writer before callers wait to enqueue.
const QUEUE_DEPTH: usize = 4 * MAX_BATCH;
/// How many read connections are kept open (and run at once).
const READERS: usize = 4;
/// How long a connection waits for a lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The schema version kept in `PRAGMA user_version`. Version 2 added the
/// blob and report tables; a version 1 database gains them on opening.
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS devices (
    user          TEXT    NOT NULL,
    device        INTEGER NOT NULL,
    identity      BLOB    NOT NULL,
    registered_at INTEGER NOT NULL,
    PRIMARY KEY (user, device)
);
CREATE TABLE IF NOT EXISTS signed_prekeys (
    user       TEXT    NOT NULL,
    device     INTEGER NOT NULL,
    id         INTEGER NOT NULL,
    public_key BLOB    NOT NULL,
    signature  BLOB    NOT NULL,
    PRIMARY KEY (user, device),
    FOREIGN KEY (user, device) REFERENCES devices (user, device) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS one_time_prekeys (
    user       TEXT    NOT NULL,
    device     INTEGER NOT NULL,
    id         INTEGER NOT NULL,
    public_key BLOB    NOT NULL,
    PRIMARY KEY (user, device, id),
    FOREIGN KEY (user, device) REFERENCES devices (user, device) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS challenges (
    user       TEXT    NOT NULL,
    device     INTEGER NOT NULL,
    nonce      BLOB    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (user, device, nonce)
);
CREATE INDEX IF NOT EXISTS challenges_expiry ON challenges (expires_at);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash BLOB    NOT NULL PRIMARY KEY,
    user       TEXT    NOT NULL,
    device     INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    FOREIGN KEY (user, device) REFERENCES devices (user, device) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS tokens_owner ON tokens (user, device);
CREATE INDEX IF NOT EXISTS tokens_expiry ON tokens (expires_at);
CREATE TABLE IF NOT EXISTS mailbox (
    message_id BLOB    NOT NULL PRIMARY KEY,
    user       TEXT    NOT NULL,
    device     INTEGER NOT NULL,
    record     BLOB    NOT NULL,
    expires_at INTEGER NOT NULL,
    seq        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS mailbox_order ON mailbox (user, device, seq);
CREATE INDEX IF NOT EXISTS mailbox_expiry ON mailbox (expires_at);
CREATE TABLE IF NOT EXISTS blobs (
    blob_id    BLOB    NOT NULL PRIMARY KEY,
    content    BLOB    NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS blobs_expiry ON blobs (expires_at);
CREATE TABLE IF NOT EXISTS blob_capabilities (
    capability_hash BLOB    NOT NULL PRIMARY KEY,
    blob_id         BLOB    NOT NULL,
    expires_at      INTEGER NOT NULL,
    FOREIGN KEY (blob_id) REFERENCES blobs (blob_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS blob_capabilities_blob ON blob_capabilities (blob_id);
CREATE INDEX IF NOT EXISTS blob_capabilities_expiry ON blob_capabilities (expires_at);
CREATE TABLE IF NOT EXISTS reports (
    report_id   BLOB    NOT NULL PRIMARY KEY,
    user        TEXT    NOT NULL,
    device      INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    report      BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_order ON reports (received_at, report_id);
CREATE INDEX IF NOT EXISTS reports_expiry ON reports (expires_at);
";

/// The SQLite [`Store`]. See the [module documentation](self).
pub struct SqliteStore {
    path: PathBuf,
    readers: Arc<Readers>,
    /// `None` only while dropping.
    writer: Option<mpsc::Sender<Request>>,
    writer_thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database at `path`, creating the file and the schema if
    /// needed, and starts the writer thread.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        const OP: &str = "open";
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).op(OP)?;
        conn.busy_timeout(BUSY_TIMEOUT).op(OP)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .op(OP)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(backend_at(OP, "WAL mode unavailable"));
        }
        conn.pragma_update(None, "synchronous", "FULL").op(OP)?;
        conn.pragma_update(None, "secure_delete", "ON").op(OP)?;
        conn.pragma_update(None, "foreign_keys", "ON").op(OP)?;
        let secure_delete: i64 = conn
            .pragma_query_value(None, "secure_delete", |row| row.get(0))
            .op(OP)?;
        let foreign_keys: i64 = conn
            .pragma_query_value(None, "foreign_keys", |row| row.get(0))
            .op(OP)?;
        if secure_delete != 1 || foreign_keys != 1 {
            return Err(backend_at(OP, "pragma not applied"));
        }
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .op(OP)?;
        if version > SCHEMA_VERSION {
            return Err(backend_at(OP, "database from a newer relay"));
        }
        conn.execute_batch(SCHEMA).op(OP)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .op(OP)?;

        let mut idle = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            idle.push(open_reader(path)?);
        }
        let readers = Arc::new(Readers {
            path: path.to_owned(),
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(READERS)),
        });

        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        let writer_thread = std::thread::Builder::new()
            .name("fuin-relay-sqlite-writer".to_owned())
            .spawn(move || writer_loop(conn, receiver))
            .map_err(|_| backend_at(OP, "writer thread"))?;
        Ok(Self {
            path: path.to_owned(),
            readers,
            writer: Some(sender),
            writer_thread: Some(writer_thread),
        })
    }

    /// The database file.
    pub fn database_path(&self) -> &Path {
        &self.path
    }

    /// Copies everything in the write-ahead log into the database file and
    /// truncates the log (`PRAGMA wal_checkpoint(TRUNCATE)`), after the writes
    /// queued before it. Afterwards the old page images of deleted rows are
    /// gone from the `-wal` file too. Used on graceful shutdown, periodically
    /// by the relay, and by tests that inspect the file.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        const OP: &str = "checkpoint";
        let writer = self.writer.as_ref().ok_or_else(|| backend(OP))?;
        let (reply, answer) = oneshot::channel();
        writer
            .send(Request::Checkpoint(reply))
            .await
            .map_err(|_| backend(OP))?;
        answer.await.map_err(|_| backend(OP))?
    }

    /// Runs `op` on the writer thread, in the next batch, inside its own
    /// savepoint; resolves once the batch has committed.
    async fn write<T, F>(&self, name: &'static str, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let writer = self.writer.as_ref().ok_or_else(|| backend(name))?;
        let (reply, answer) = oneshot::channel();
        let command = Box::new(Command {
            name,
            op: Some(op),
            outcome: None,
            reply,
        });
        writer
            .send(Request::Write(command))
            .await
            .map_err(|_| backend(name))?;
        answer.await.map_err(|_| backend(name))?
    }

    /// Runs `query` on a read connection on the blocking thread pool.
    async fn read<T, F>(&self, name: &'static str, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| backend(name))?;
        let permit = Arc::clone(&self.readers.permits)
            .acquire_owned()
            .await
            .map_err(|_| backend(name))?;
        let readers = Arc::clone(&self.readers);
        runtime
            .spawn_blocking(move || {
                let _permit = permit;
                let conn = readers.check_out(name)?;
                let result = query(&conn);
                readers.check_in(conn);
                result
            })
            .await
            .map_err(|_| backend(name))?
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Close the readers first so that the writer's connection is the last
        // one: closing it checkpoints the log and removes the `-wal` file.
        self.readers.close();
        // Closing the channel lets the writer finish what is queued and stop.
        drop(self.writer.take());
        if let Some(thread) = self.writer_thread.take() {
            // A panicked writer has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

impl Store for SqliteStore {
    fn checkpoint(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        SqliteStore::checkpoint(self)
    }

    async fn register_device(
        &self,
        address: &DeviceAddress<'_>,
        identity: &PublicIdentity,
        now_ms: u64,
    ) -> Result<Registration, StoreError> {
        const OP: &str = "register_device";
        let (user, device) = key(address);
        let identity = identity_bytes(identity);
        let now = sql_time(now_ms);
        self.write(OP, move |conn| {
            let stored: Option<Vec<u8>> = conn
                .prepare_cached("SELECT identity FROM devices WHERE user = ?1 AND device = ?2")
                .op(OP)?
                .query_row(params![user, device], |row| row.get(0))
                .optional()
                .op(OP)?;
            match stored {
                Some(stored) if stored == identity => Ok(Registration::AlreadyRegistered),
                Some(_) => Err(StoreError::IdentityConflict),
                None => {
                    conn.prepare_cached(
                        "INSERT INTO devices (user, device, identity, registered_at) \
                         VALUES (?1, ?2, ?3, ?4)",
                    )
                    .op(OP)?
                    .execute(params![user, device, identity, now])
                    .op(OP)?;
                    Ok(Registration::Created)
                }
            }
        })
        .await
    }

    async fn device_identity(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<Option<PublicIdentity>, StoreError> {
        const OP: &str = "device_identity";
        let (user, device) = key(address);
        self.read(OP, move |conn| {
            let stored: Option<Vec<u8>> = conn
                .prepare_cached("SELECT identity FROM devices WHERE user = ?1 AND device = ?2")
                .op(OP)?
                .query_row(params![user, device], |row| row.get(0))
                .optional()
                .op(OP)?;
            stored
                .map(|bytes| identity_from_bytes(&bytes, OP))
                .transpose()
        })
        .await
    }

    async fn user_devices(&self, user: &UserId<'_>) -> Result<Vec<DeviceId>, StoreError> {
        const OP: &str = "user_devices";
        let user = user.as_str().to_owned();
        self.read(OP, move |conn| {
            let mut statement = conn
                .prepare_cached("SELECT device FROM devices WHERE user = ?1 ORDER BY device")
                .op(OP)?;
            let rows = statement
                .query_map(params![user], |row| row.get::<_, i64>(0))
                .op(OP)?;
            let mut devices = Vec::new();
            for device in rows {
                devices.push(device_id(device.op(OP)?, OP)?);
            }
            Ok(devices)
        })
        .await
    }

    async fn put_challenge(
        &self,
        address: &DeviceAddress<'_>,
        nonce: [u8; 32],
        expires_at_ms: u64,
    ) -> Result<(), StoreError> {
        const OP: &str = "put_challenge";
        let (user, device) = key(address);
        let expires_at = sql_time(expires_at_ms);
        self.write(OP, move |conn| {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO challenges (user, device, nonce, expires_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .op(OP)?
            .execute(params![user, device, nonce, expires_at])
            .op(OP)?;
            Ok(())
        })
        .await
    }

    async fn take_challenge(
        &self,
        address: &DeviceAddress<'_>,
        nonce: [u8; 32],
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        const OP: &str = "take_challenge";
        let (user, device) = key(address);
        let now = sql_time(now_ms);
        self.write(OP, move |conn| {
            let expires_at: Option<i64> = conn
                .prepare_cached(
                    "DELETE FROM challenges WHERE user = ?1 AND device = ?2 AND nonce = ?3 \
                     RETURNING expires_at",
                )
                .op(OP)?
                .query_row(params![user, device, nonce], |row| row.get(0))
                .optional()
                .op(OP)?;
            Ok(expires_at.is_some_and(|expires_at| expires_at > now))
        })
        .await
    }

    async fn put_token(
        &self,
        token_hash: [u8; 32],
        address: &DeviceAddress<'_>,
        expires_at_ms: u64,
    ) -> Result<(), StoreError> {
        const OP: &str = "put_token";
        let (user, device) = key(address);
        let expires_at = sql_time(expires_at_ms);
        self.write(OP, move |conn| {
            if !device_exists(conn, &user, device, OP)? {
                return Err(StoreError::UnknownDevice);
            }
            conn.prepare_cached(
                "INSERT INTO tokens (token_hash, user, device, expires_at) VALUES (?1, ?2, ?3, ?4)",
            )
            .op(OP)?
            .execute(params![token_hash, user, device, expires_at])
            .op(OP)?;
            Ok(())
        })
        .await
    }

    async fn token_owner(
        &self,
        token_hash: [u8; 32],
        now_ms: u64,
    ) -> Result<Option<DeviceAddress<'static>>, StoreError> {
        const OP: &str = "token_owner";
        let now = sql_time(now_ms);
        self.read(OP, move |conn| {
            let owner: Option<(String, i64)> = conn
                .prepare_cached(
                    "SELECT user, device FROM tokens WHERE token_hash = ?1 AND expires_at > ?2",
                )
                .op(OP)?
                .query_row(params![token_hash, now], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
                .op(OP)?;
            owner
                .map(|(user, device)| {
                    let user = UserId::new(user).map_err(|_| corrupt(OP))?;
                    Ok(DeviceAddress::new(user, device_id(device, OP)?))
                })
                .transpose()
        })
        .await
    }

    async fn revoke_tokens(&self, address: &DeviceAddress<'_>) -> Result<u64, StoreError> {
        const OP: &str = "revoke_tokens";
        let (user, device) = key(address);
        self.write(OP, move |conn| {
            let revoked = conn
                .prepare_cached("DELETE FROM tokens WHERE user = ?1 AND device = ?2")
                .op(OP)?
                .execute(params![user, device])
                .op(OP)?;
            Ok(count_u64(revoked))
        })
        .await
    }

    async fn publish_prekeys(
        &self,
        address: &DeviceAddress<'_>,
        signed_prekey: Option<&SignedPrekey>,
        one_time_prekeys: &[OneTimePrekey],
    ) -> Result<u32, StoreError> {
        self.publish_prekeys_within_quota(address, signed_prekey, one_time_prekeys, u32::MAX)
            .await
    }

    async fn publish_prekeys_within_quota(
        &self,
        address: &DeviceAddress<'_>,
        signed_prekey: Option<&SignedPrekey>,
        one_time_prekeys: &[OneTimePrekey],
        max_pool: u32,
    ) -> Result<u32, StoreError> {
        const OP: &str = "publish_prekeys";
        let (user, device) = key(address);
        let signed_prekey = signed_prekey.cloned();
        let one_time_prekeys = one_time_prekeys.to_vec();
        self.write(OP, move |conn| {
            if !device_exists(conn, &user, device, OP)? {
                return Err(StoreError::UnknownDevice);
            }
            let before = count_one_time(conn, &user, device, OP)?;
            if let Some(signed) = signed_prekey {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO signed_prekeys \
                     (user, device, id, public_key, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .op(OP)?
                .execute(params![
                    user,
                    device,
                    signed.id.0,
                    signed.public_key.0,
                    signed.signature.0
                ])
                .op(OP)?;
            }
            let mut insert = conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO one_time_prekeys (user, device, id, public_key) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .op(OP)?;
            for prekey in &one_time_prekeys {
                insert
                    .execute(params![user, device, prekey.id.0, prekey.public_key.0])
                    .op(OP)?;
            }
            let after = count_one_time(conn, &user, device, OP)?;
            // The write's savepoint rolls all of it back.
            if after > max_pool && after > before {
                return Err(StoreError::PrekeyPoolFull);
            }
            Ok(after)
        })
        .await
    }

    async fn take_bundle(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<Option<TakenBundle>, StoreError> {
        const OP: &str = "take_bundle";
        let (user, device) = key(address);
        self.write(OP, move |conn| {
            let identity: Option<Vec<u8>> = conn
                .prepare_cached("SELECT identity FROM devices WHERE user = ?1 AND device = ?2")
                .op(OP)?
                .query_row(params![user, device], |row| row.get(0))
                .optional()
                .op(OP)?;
            let Some(identity) = identity else {
                return Ok(None);
            };
            let identity = identity_from_bytes(&identity, OP)?;
            let signed: Option<(i64, Vec<u8>, Vec<u8>)> = conn
                .prepare_cached(
                    "SELECT id, public_key, signature FROM signed_prekeys \
                     WHERE user = ?1 AND device = ?2",
                )
                .op(OP)?
                .query_row(params![user, device], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .optional()
                .op(OP)?;
            let Some((id, public_key, signature)) = signed else {
                return Ok(None);
            };
            let signed_prekey = SignedPrekey {
                id: prekey_id(id, OP)?,
                public_key: X25519PublicKey(fixed(public_key, OP)?),
                signature: Ed25519Signature(fixed(signature, OP)?),
            };
            let one_time: Option<(i64, Vec<u8>)> = conn
                .prepare_cached(
                    "SELECT id, public_key FROM one_time_prekeys \
                     WHERE user = ?1 AND device = ?2 ORDER BY id LIMIT 1",
                )
                .op(OP)?
                .query_row(params![user, device], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
                .op(OP)?;
            let one_time_prekey = match one_time {
                None => None,
                Some((id, public_key)) => {
                    conn.prepare_cached(
                        "DELETE FROM one_time_prekeys WHERE user = ?1 AND device = ?2 AND id = ?3",
                    )
                    .op(OP)?
                    .execute(params![user, device, id])
                    .op(OP)?;
                    Some(OneTimePrekey {
                        id: prekey_id(id, OP)?,
                        public_key: X25519PublicKey(fixed(public_key, OP)?),
                    })
                }
            };
            Ok(Some(TakenBundle {
                identity,
                signed_prekey,
                one_time_prekey,
            }))
        })
        .await
    }

    async fn one_time_remaining(&self, address: &DeviceAddress<'_>) -> Result<u32, StoreError> {
        const OP: &str = "one_time_remaining";
        let (user, device) = key(address);
        self.read(OP, move |conn| count_one_time(conn, &user, device, OP))
            .await
    }

    async fn deliver(&self, deliveries: Vec<NewDelivery>) -> Result<(), StoreError> {
        self.deliver_within_quota(deliveries, u64::MAX).await
    }

    async fn deliver_within_quota(
        &self,
        deliveries: Vec<NewDelivery>,
        max_waiting: u64,
    ) -> Result<(), StoreError> {
        const OP: &str = "deliver";
        if deliveries.is_empty() {
            return Ok(());
        }
        self.write(OP, move |conn| {
            if max_waiting != u64::MAX {
                check_mailbox_quota(conn, &deliveries, max_waiting, OP)?;
            }
            let mut insert = conn
                .prepare_cached(
                    "INSERT INTO mailbox (message_id, user, device, record, expires_at, seq) \
                     VALUES (?1, ?2, ?3, ?4, ?5, \
                       (SELECT COALESCE(MAX(seq), 0) + 1 FROM mailbox \
                        WHERE user = ?2 AND device = ?3))",
                )
                .op(OP)?;
            for delivery in &deliveries {
                let (user, device) = key(&delivery.recipient);
                insert
                    .execute(params![
                        delivery.message_id.0,
                        user,
                        device,
                        delivery.record,
                        sql_time(delivery.expires_at_ms)
                    ])
                    .map_err(|error| {
                        if error.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
                            backend_at(OP, "duplicate message id")
                        } else {
                            backend(OP)
                        }
                    })?;
            }
            Ok(())
        })
        .await
    }

    async fn fetch(
        &self,
        recipient: &DeviceAddress<'_>,
        limit: usize,
        now_ms: u64,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        const OP: &str = "fetch";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (user, device) = key(recipient);
        let now = sql_time(now_ms);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(OP, move |conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT message_id, record FROM mailbox \
                     WHERE user = ?1 AND device = ?2 AND expires_at > ?3 \
                     ORDER BY seq LIMIT ?4",
                )
                .op(OP)?;
            let rows = statement
                .query_map(params![user, device, now, limit], |row| {
                    Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?))
                })
                .op(OP)?;
            let mut deliveries = Vec::new();
            for row in rows {
                let (message_id, record) = row.op(OP)?;
                deliveries.push(StoredDelivery {
                    message_id: MessageId(fixed(message_id, OP)?),
                    record,
                });
            }
            Ok(deliveries)
        })
        .await
    }

    async fn acknowledge(
        &self,
        recipient: &DeviceAddress<'_>,
        message_ids: &[MessageId],
    ) -> Result<u64, StoreError> {
        const OP: &str = "acknowledge";
        if message_ids.is_empty() {
            return Ok(0);
        }
        let (user, device) = key(recipient);
        let message_ids = message_ids.to_vec();
        self.write(OP, move |conn| {
            let mut delete = conn
                .prepare_cached(
                    "DELETE FROM mailbox WHERE message_id = ?1 AND user = ?2 AND device = ?3",
                )
                .op(OP)?;
            let mut deleted = 0;
            for message_id in &message_ids {
                deleted += count_u64(delete.execute(params![message_id.0, user, device]).op(OP)?);
            }
            Ok(deleted)
        })
        .await
    }

    async fn expire(&self, now_ms: u64) -> Result<u64, StoreError> {
        const OP: &str = "expire";
        let now = sql_time(now_ms);
        self.write(OP, move |conn| {
            let envelopes = conn
                .prepare_cached("DELETE FROM mailbox WHERE expires_at <= ?1")
                .op(OP)?
                .execute(params![now])
                .op(OP)?;
            conn.prepare_cached("DELETE FROM challenges WHERE expires_at <= ?1")
                .op(OP)?
                .execute(params![now])
                .op(OP)?;
            conn.prepare_cached("DELETE FROM tokens WHERE expires_at <= ?1")
                .op(OP)?
                .execute(params![now])
                .op(OP)?;
            // Capabilities first, then blobs (their remaining capabilities
            // go with them), then reports.
            for sql in [
                "DELETE FROM blob_capabilities WHERE expires_at <= ?1",
                "DELETE FROM blobs WHERE expires_at <= ?1",
                "DELETE FROM reports WHERE expires_at <= ?1",
            ] {
                conn.prepare_cached(sql)
                    .op(OP)?
                    .execute(params![now])
                    .op(OP)?;
            }
            Ok(count_u64(envelopes))
        })
        .await
    }

    async fn put_challenge_bounded(
        &self,
        address: &DeviceAddress<'_>,
        nonce: [u8; 32],
        expires_at_ms: u64,
        keep: u32,
    ) -> Result<(), StoreError> {
        const OP: &str = "put_challenge";
        let (user, device) = key(address);
        let expires_at = sql_time(expires_at_ms);
        let keep = i64::from(keep.max(1));
        self.write(OP, move |conn| {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO challenges (user, device, nonce, expires_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .op(OP)?
            .execute(params![user, device, nonce, expires_at])
            .op(OP)?;
            conn.prepare_cached(
                "DELETE FROM challenges WHERE user = ?1 AND device = ?2 AND nonce NOT IN ( \
                     SELECT nonce FROM challenges WHERE user = ?1 AND device = ?2 \
                     ORDER BY nonce = ?3 DESC, expires_at DESC, nonce DESC LIMIT ?4)",
            )
            .op(OP)?
            .execute(params![user, device, nonce, keep])
            .op(OP)?;
            Ok(())
        })
        .await
    }

    async fn put_blob(&self, blob: NewBlob) -> Result<(), StoreError> {
        const OP: &str = "put_blob";
        let expires_at = sql_time(blob.expires_at_ms);
        self.write(OP, move |conn| {
            // The bytes are written only if the blob is new.
            conn.prepare_cached(
                "INSERT INTO blobs (blob_id, content, expires_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (blob_id) DO UPDATE SET expires_at = \
                   MAX(blobs.expires_at, excluded.expires_at)",
            )
            .op(OP)?
            .execute(params![blob.blob_id.0, blob.content, expires_at])
            .op(OP)?;
            conn.prepare_cached(
                "INSERT INTO blob_capabilities (capability_hash, blob_id, expires_at) \
                 VALUES (?1, ?2, ?3)",
            )
            .op(OP)?
            .execute(params![blob.capability_hash, blob.blob_id.0, expires_at])
            .map_err(|error| {
                if error.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
                    backend_at(OP, "duplicate capability")
                } else {
                    backend(OP)
                }
            })?;
            Ok(())
        })
        .await
    }

    async fn blob(
        &self,
        blob_id: &BlobId,
        capability_hash: [u8; 32],
        now_ms: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        const OP: &str = "blob";
        let blob_id = *blob_id;
        let now = sql_time(now_ms);
        self.read(OP, move |conn| {
            conn.prepare_cached(
                "SELECT b.content FROM blob_capabilities c \
                 JOIN blobs b ON b.blob_id = c.blob_id \
                 WHERE c.capability_hash = ?1 AND c.blob_id = ?2 AND c.expires_at > ?3",
            )
            .op(OP)?
            .query_row(params![capability_hash, blob_id.0, now], |row| row.get(0))
            .optional()
            .op(OP)
        })
        .await
    }

    async fn put_report(&self, report: NewReport) -> Result<(), StoreError> {
        const OP: &str = "put_report";
        let (user, device) = key(&report.reporter);
        self.write(OP, move |conn| {
            conn.prepare_cached(
                "INSERT INTO reports (report_id, user, device, received_at, expires_at, report) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .op(OP)?
            .execute(params![
                report.report_id.0,
                user,
                device,
                sql_time(report.received_at_ms),
                sql_time(report.expires_at_ms),
                report.report
            ])
            .map_err(|error| {
                if error.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
                    backend_at(OP, "duplicate report id")
                } else {
                    backend(OP)
                }
            })?;
            Ok(())
        })
        .await
    }

    async fn fetch_reports(
        &self,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> Result<Vec<StoredReport>, StoreError> {
        const OP: &str = "fetch_reports";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = sql_time(now_ms);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(OP, move |conn| {
            // One snapshot for both steps.
            let snapshot = conn.unchecked_transaction().op(OP)?;
            // First the lengths (SQLite reads a blob's length without its
            // bytes), so that only the reports that fit are read.
            let mut statement = snapshot
                .prepare_cached(
                    "SELECT report_id, length(report) FROM reports WHERE expires_at > ?1 \
                     ORDER BY received_at, report_id LIMIT ?2",
                )
                .op(OP)?;
            let rows = statement
                .query_map(params![now, limit], |row| {
                    Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, i64>(1)?))
                })
                .op(OP)?;
            let mut chosen = Vec::new();
            let mut total = 0usize;
            for row in rows {
                let (id, len) = row.op(OP)?;
                total = total.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
                if !chosen.is_empty() && total > max_bytes {
                    break;
                }
                chosen.push(id);
            }
            drop(statement);
            let mut select = snapshot
                .prepare_cached(
                    "SELECT user, device, received_at, report FROM reports WHERE report_id = ?1",
                )
                .op(OP)?;
            let mut reports = Vec::with_capacity(chosen.len());
            for id in chosen {
                let (user, device, received_at, report): (String, i64, i64, Vec<u8>) = select
                    .query_row(params![id], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                    })
                    .op(OP)?;
                let user = UserId::new(user).map_err(|_| corrupt(OP))?;
                reports.push(StoredReport {
                    report_id: ReportId(fixed(id, OP)?),
                    reporter: DeviceAddress::new(user, device_id(device, OP)?),
                    received_at_ms: u64::try_from(received_at).map_err(|_| corrupt(OP))?,
                    report,
                });
            }
            Ok(reports)
        })
        .await
    }

    async fn ack_reports(&self, report_ids: &[ReportId]) -> Result<u64, StoreError> {
        const OP: &str = "ack_reports";
        if report_ids.is_empty() {
            return Ok(0);
        }
        let report_ids = report_ids.to_vec();
        self.write(OP, move |conn| {
            let mut delete = conn
                .prepare_cached("DELETE FROM reports WHERE report_id = ?1")
                .op(OP)?;
            let mut deleted = 0;
            for report_id in &report_ids {
                deleted += count_u64(delete.execute(params![report_id.0]).op(OP)?);
            }
            Ok(deleted)
        })
        .await
    }
}

// ---------------------------------------------------------------------------
// The writer thread.

enum Request {
    Write(Box<dyn WriteCommand>),
    Checkpoint(oneshot::Sender<Result<(), StoreError>>),
}

/// One queued write: runs inside the batch's transaction, then answers its
/// caller once the batch's fate is known.
trait WriteCommand: Send {
    /// Runs the write; returns whether it succeeded (and so is kept).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller; `batch` is how the batch ended (`Err(stage)` if it
    /// did not commit).
    fn finish(self: Box<Self>, batch: Result<(), &'static str>);
}

struct Command<T, F> {
    name: &'static str,
    op: Option<F>,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> WriteCommand for Command<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let outcome = match self.op.take() {
            Some(op) => op(conn),
            None => Err(backend(self.name)),
        };
        let succeeded = outcome.is_ok();
        self.outcome = Some(outcome);
        succeeded
    }

    fn finish(self: Box<Self>, batch: Result<(), &'static str>) {
        let Self {
            name,
            outcome,
            reply,
            ..
        } = *self;
        let answer = match (outcome, batch) {
            // A failed write was rolled back to its savepoint whatever the batch did.
            (Some(Err(error)), _) => Err(error),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)) | None, Err(stage)) => Err(backend_at(name, stage)),
            (None, Ok(())) => Err(backend(name)),
        };
        // The caller may have stopped waiting; the outcome stands either way.
        let _ = reply.send(answer);
    }
}

fn writer_loop(mut conn: Connection, mut requests: mpsc::Receiver<Request>) {
    let mut batch: Vec<Box<dyn WriteCommand>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = requests.blocking_recv() {
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(request) = next.take() {
            taken += 1;
            match request {
                Request::Write(command) => batch.push(command),
                Request::Checkpoint(reply) => {
                    // Writes queued before the checkpoint go first.
                    run_batch(&mut conn, &mut batch);
                    let _ = reply.send(checkpoint(&conn));
                }
            }
            if taken < MAX_BATCH {
                next = requests.try_recv().ok();
            }
        }
        run_batch(&mut conn, &mut batch);
    }
}

/// Runs `batch` (emptying it) in one transaction, each write in its own
/// savepoint, commits once and answers every caller.
fn run_batch(conn: &mut Connection, batch: &mut Vec<Box<dyn WriteCommand>>) {
    if batch.is_empty() {
        return;
    }
    let outcome = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Err(_) => Err("begin"),
        Ok(mut transaction) => {
            let mut failed = None;
            for command in batch.iter_mut() {
                if let Err(stage) = run_in_savepoint(&mut transaction, command.as_mut()) {
                    failed = Some(stage);
                    break;
                }
            }
            match failed {
                // Dropping the transaction rolls it back.
                Some(stage) => Err(stage),
                None => transaction.commit().map_err(|_| "commit"),
            }
        }
    };
    for command in batch.drain(..) {
        command.finish(outcome);
    }
}

fn run_in_savepoint(
    transaction: &mut Transaction<'_>,
    command: &mut dyn WriteCommand,
) -> Result<(), &'static str> {
    let savepoint = transaction.savepoint().map_err(|_| "savepoint")?;
    if command.run(&savepoint) {
        savepoint.commit().map_err(|_| "savepoint release")?;
    } else {
        // Rolls back to the savepoint, then releases it.
        savepoint.finish().map_err(|_| "savepoint rollback")?;
    }
    // SQLite abandons the whole transaction on some errors (a full disk, an
    // I/O error); what follows would then run outside it.
    if transaction.is_autocommit() {
        return Err("transaction abandoned");
    }
    Ok(())
}

fn checkpoint(conn: &Connection) -> Result<(), StoreError> {
    const OP: &str = "checkpoint";
    let busy: i64 = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
        .op(OP)?;
    if busy != 0 {
        return Err(backend_at(OP, "busy"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The read pool.

struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Bounds the reads running at once to the pool's size.
    permits: Arc<Semaphore>,
}

impl Readers {
    fn check_out(&self, name: &'static str) -> Result<Connection, StoreError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(conn) => Ok(conn),
            // A connection is lost only if a read panicked; replace it.
            None => open_reader(&self.path).map_err(|_| backend_at(name, "open reader")),
        }
    }

    fn check_in(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < READERS {
            idle.push(conn);
        }
    }

    fn close(&self) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    const OP: &str = "open reader";
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).op(OP)?;
    conn.busy_timeout(BUSY_TIMEOUT).op(OP)?;
    Ok(conn)
}

// ---------------------------------------------------------------------------
// Helpers.

/// Maps a rusqlite error to [`StoreError::Backend`] naming the operation only.
trait Op<T> {
    fn op(self, name: &'static str) -> Result<T, StoreError>;
}

impl<T> Op<T> for rusqlite::Result<T> {
    fn op(self, name: &'static str) -> Result<T, StoreError> {
        self.map_err(|_| backend(name))
    }
}

fn backend(name: &'static str) -> StoreError {
    StoreError::Backend(name.to_owned())
}

fn backend_at(name: &'static str, stage: &'static str) -> StoreError {
    StoreError::Backend(format!("{name}: {stage}"))
}

fn corrupt(name: &'static str) -> StoreError {
    backend_at(name, "corrupt row")
}

/// The columns an address is stored in.
fn key(address: &DeviceAddress<'_>) -> (String, i64) {
    (
        address.user.as_str().to_owned(),
        i64::from(address.device.0),
    )
}

fn sql_time(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn count_u64(count: usize) -> u64 {
    u64::try_from(count).unwrap_or(u64::MAX)
}

fn device_id(value: i64, name: &'static str) -> Result<DeviceId, StoreError> {
    u32::try_from(value)
        .map(DeviceId)
        .map_err(|_| corrupt(name))
}

fn prekey_id(value: i64, name: &'static str) -> Result<PrekeyId, StoreError> {
    u32::try_from(value)
        .map(PrekeyId)
        .map_err(|_| corrupt(name))
}

fn fixed<const N: usize>(bytes: Vec<u8>, name: &'static str) -> Result<[u8; N], StoreError> {
    bytes.try_into().map_err(|_| corrupt(name))
}

const IDENTITY_LEN: usize = Ed25519PublicKey::LEN + X25519PublicKey::LEN + Ed25519Signature::LEN;

fn identity_bytes(identity: &PublicIdentity) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(IDENTITY_LEN);
    bytes.extend_from_slice(&identity.signing_key.0);
    bytes.extend_from_slice(&identity.agreement_key.0);
    bytes.extend_from_slice(&identity.signature.0);
    bytes
}

fn identity_from_bytes(bytes: &[u8], name: &'static str) -> Result<PublicIdentity, StoreError> {
    if bytes.len() != IDENTITY_LEN {
        return Err(corrupt(name));
    }
    let (signing_key, rest) = bytes.split_at(Ed25519PublicKey::LEN);
    let (agreement_key, signature) = rest.split_at(X25519PublicKey::LEN);
    Ok(PublicIdentity {
        signing_key: Ed25519PublicKey(signing_key.try_into().map_err(|_| corrupt(name))?),
        agreement_key: X25519PublicKey(agreement_key.try_into().map_err(|_| corrupt(name))?),
        signature: Ed25519Signature(signature.try_into().map_err(|_| corrupt(name))?),
    })
}

fn device_exists(
    conn: &Connection,
    user: &str,
    device: i64,
    name: &'static str,
) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT 1 FROM devices WHERE user = ?1 AND device = ?2")
        .op(name)?
        .exists(params![user, device])
        .op(name)
}

fn count_one_time(
    conn: &Connection,
    user: &str,
    device: i64,
    name: &'static str,
) -> Result<u32, StoreError> {
    let count: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM one_time_prekeys WHERE user = ?1 AND device = ?2")
        .op(name)?
        .query_row(params![user, device], |row| row.get(0))
        .op(name)?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

/// Refuses `deliveries` if any recipient's mailbox would hold more than
/// `max_waiting` envelopes after them.
fn check_mailbox_quota(
    conn: &Connection,
    deliveries: &[NewDelivery],
    max_waiting: u64,
    name: &'static str,
) -> Result<(), StoreError> {
    let mut adding: BTreeMap<(String, i64), u64> = BTreeMap::new();
    for delivery in deliveries {
        *adding.entry(key(&delivery.recipient)).or_default() += 1;
    }
    // Counting stops past the quota, so a full mailbox costs no more.
    let bound = i64::try_from(max_waiting.saturating_add(1)).unwrap_or(i64::MAX);
    let mut count = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM mailbox WHERE user = ?1 AND device = ?2 LIMIT ?3)",
        )
        .op(name)?;
    for ((user, device), adding) in adding {
        let stored: i64 = count
            .query_row(params![user, device, bound], |row| row.get(0))
            .op(name)?;
        let stored = u64::try_from(stored).unwrap_or(u64::MAX);
        if stored.saturating_add(adding) > max_waiting {
            return Err(StoreError::MailboxFull);
        }
    }
    Ok(())
}
