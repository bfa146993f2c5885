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
//! Reads run on a small pool of read-only connections: the small reads of
//! every request (a token, an identity, a mailbox's next batch, prekey
//! counts) on the calling task's thread, the others on Tokio's blocking
//! thread pool; in WAL mode they never wait for the writer and see every
//! write that has been answered. The store must therefore be used from
//! within a Tokio runtime (outside one, every operation fails with
//! [`StoreError::Backend`]).
//!
//! # What is stored, and how
//!
//! ```text
//! devices          (user, device, identity, registered_at)  PK (user, device)
//! signed_prekeys   (user, device, id, public_key, signature) PK (user, device): the current one
//! one_time_prekeys (user, device, id, public_key)            PK (user, device, id)
//! last_resort_kem_prekeys (user, device, id, public_key, signature)
//!                  PK (user, device): the current one, handed out when the pool is empty
//! one_time_kem_prekeys (user, device, id, public_key, signature)
//!                  PK (user, device, id): deleted as each is handed out
//! challenges       (user, device, nonce, expires_at)         PK (user, device, nonce)
//! tokens           (token_hash, user, device, expires_at)    PK token_hash
//! mailbox          (message_id, user, device, record, expires_at, seq, checksum)
//!                  PK message_id, index (user, device, seq)
//! blobs            (blob_id, content, expires_at, length)    PK blob_id;
//!                  the bytes are in the blob store (`crate::blobs`):
//!                  content is empty, or an older relay's bytes until moved
//! blob_capabilities (capability_hash, blob_id, expires_at)   PK capability_hash,
//!                  blob_id references blobs (deleted with it)
//! reports          (report_id, user, device, received_at, expires_at, report, checksum)
//!                  PK report_id, index (received_at, report_id)
//! accounts         (user, account_key, version, list)        PK user: the newest accepted list
//! invites          (code_hash)                               PK code_hash: unspent invites
//! link_messages    (channel, slot, message, expires_at)      PK (channel, slot)
//! quarantine       (id, kind, record_key, content, expires_at, quarantined_at)
//!                  PK id: records that failed their checksum
//! relay_meta       (name, value)                             PK name: the stamp key check
//! suspended_users  (user, suspended_at)                     PK user: users an operator suspended
//! admin_actions    (id, at, action, target, outcome)         PK id: the audit log of admin actions
//! ```
//!
//! `checksum` is checked on every read; a row that fails is moved to
//! `quarantine` and not served (see [`crate::store::integrity`]).
//!
//! # Opening
//!
//! [`SqliteStore::open`] checks the directory and the file first (and
//! creates a missing file with mode 0600, so that its `-wal` and `-shm`,
//! which SQLite makes with the database's mode, are 0600 too), then runs
//! `PRAGMA quick_check`, then the schema checks and migration of
//! `schema.rs`. Each failure is a [`StoreError::Open`] naming its cause.
//!
//! `devices` holds exactly the devices named by the user's row in
//! `accounts` (its `list` is the `SignedDeviceList` frame as accepted):
//! [`Store::replace_device_list`] changes both in one write. The one
//! exception is a device an operator removed ([`Store::remove_device`]):
//! the list still names it until the user publishes a newer one. A user with
//! devices and no `accounts` row comes from a database of schema version 2.
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
//! # Blobs
//!
//! A blob's record is a small row; its bytes are an object of the blob
//! store, written before the record (`crate::blobs`), so large uploads do
//! not pass through the group commit or the write-ahead log.
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

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use fuin_wire::relay::ReportId;
use fuin_wire::{
    BlobId, DeviceAddress, DeviceId, MessageId, OneTimePrekey, PrekeyId, PublicIdentity,
    SignedPrekey, UserId,
};
use rusqlite::{Connection, OpenFlags, params};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::TokenGrant;
use super::{
    AdminRecord, LinkSlot, MailboxQuota, NewBlob, NewDelivery, NewDeviceList, NewPrekeys,
    NewReport, OpenFailure, PrekeyCounts, Registration, Store, StoreError, StoreStats,
    StoredAccount, StoredDelivery, StoredReport, TakenBundle,
};
use writer::{QUEUE_DEPTH, Request, writer_loop};

mod accounts;
mod admin;
mod auth;
mod blobs;
mod devices;
mod files;
mod health;
mod integrity;
mod invites;
mod links;
mod mailbox;
mod prekeys;
mod reports;
mod schema;
mod writer;

pub use writer::MAX_BATCH;

/// How many read connections are kept open (and run at once).
const READERS: usize = 4;
/// How long a connection waits for a lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite [`Store`]. See the [module documentation](self).
pub struct SqliteStore {
    path: PathBuf,
    /// Whether the file held no relay schema when opened.
    was_new: bool,
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
    /// Opens the database at `path`, creating the file (mode 0600) and the
    /// schema if needed, and starts the writer thread. Refuses, with
    /// [`StoreError::Open`] naming the cause, a path it cannot use, a
    /// database file (or `-wal`/`-shm`) others may read, a database that
    /// fails `PRAGMA quick_check`, one that is not a relay's, and one whose
    /// tables do not match its schema version.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        const OP: &str = "open";
        files::prepare(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(open_failure)?;
        conn.busy_timeout(BUSY_TIMEOUT).op(OP)?;
        // Before anything writes: damaged pages are refused, not built on.
        files::quick_check(&conn)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(open_failure)?;
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
        let was_new = schema::migrate(&conn)?;

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
            was_new,
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

    /// Rebuilds the database file without its free pages (`VACUUM`), after
    /// the writes queued before it, and checkpoints: the file shrinks to
    /// what it holds. Slow on a large database; the relay does it only
    /// after moving blob bytes out of it.
    pub async fn vacuum(&self) -> Result<(), StoreError> {
        const OP: &str = "vacuum";
        let writer = self.writer.as_ref().ok_or_else(|| backend(OP))?;
        let (reply, answer) = oneshot::channel();
        writer
            .send(Request::Vacuum(reply))
            .await
            .map_err(|_| backend(OP))?;
        answer.await.map_err(|_| backend(OP))?
    }

    /// Runs `query` on a read connection on the calling task's own thread.
    ///
    /// For the small reads every request makes (a token, an identity, a
    /// mailbox's next batch, prekey counts): each is an index lookup over
    /// pages the OS has cached, a few microseconds, where handing it to the
    /// blocking pool and back (two thread wake-ups) cost more than the read
    /// and dominated the relay's profile under load. In WAL mode a reader
    /// takes no lock the writer holds, so it does not wait for a commit.
    /// Larger reads (listings, statistics, blob bytes) use
    /// [`read`](Self::read).
    async fn read_now<T, F>(&self, name: &'static str, query: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError>,
    {
        let _permit = self
            .readers
            .permits
            .acquire()
            .await
            .map_err(|_| backend(name))?;
        let conn = self.readers.check_out(name)?;
        let result = query(&conn);
        self.readers.check_in(conn);
        result
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
    async fn ping(&self) -> Result<(), StoreError> {
        SqliteStore::ping(self).await
    }

    async fn mailbox_depths(&self) -> Result<crate::metrics::MailboxDepths, StoreError> {
        SqliteStore::mailbox_depths(self).await
    }

    async fn create_account(
        &self,
        list: NewDeviceList,
        invite_hash: Option<[u8; 32]>,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        SqliteStore::create_account(self, list, invite_hash, now_ms).await
    }

    async fn account(&self, user: &UserId<'_>) -> Result<Option<StoredAccount>, StoreError> {
        SqliteStore::account(self, user).await
    }

    async fn replace_device_list(
        &self,
        list: NewDeviceList,
        now_ms: u64,
    ) -> Result<Vec<DeviceId>, StoreError> {
        SqliteStore::replace_device_list(self, list, now_ms).await
    }

    async fn add_invites(&self, code_hashes: &[[u8; 32]]) -> Result<(), StoreError> {
        SqliteStore::add_invites(self, code_hashes).await
    }

    async fn invite_unspent(&self, code_hash: [u8; 32]) -> Result<bool, StoreError> {
        SqliteStore::invite_unspent(self, code_hash).await
    }

    async fn put_link_message(
        &self,
        channel: [u8; 16],
        slot: LinkSlot,
        message: Vec<u8>,
        expires_at_ms: u64,
        max_waiting: u64,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        SqliteStore::put_link_message(
            self,
            channel,
            slot,
            message,
            expires_at_ms,
            max_waiting,
            now_ms,
        )
        .await
    }

    async fn take_link_message(
        &self,
        channel: [u8; 16],
        slot: LinkSlot,
        now_ms: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        SqliteStore::take_link_message(self, channel, slot, now_ms).await
    }

    fn checkpoint(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        SqliteStore::checkpoint(self)
    }

    fn reclaim_space(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        SqliteStore::vacuum(self)
    }

    async fn register_device(
        &self,
        address: &DeviceAddress<'_>,
        identity: &PublicIdentity,
        now_ms: u64,
    ) -> Result<Registration, StoreError> {
        SqliteStore::register_device(self, address, identity, now_ms).await
    }

    async fn device_identity(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<Option<PublicIdentity>, StoreError> {
        SqliteStore::device_identity(self, address).await
    }

    async fn user_devices(&self, user: &UserId<'_>) -> Result<Vec<DeviceId>, StoreError> {
        SqliteStore::user_devices(self, user).await
    }

    async fn put_challenge(
        &self,
        address: &DeviceAddress<'_>,
        nonce: [u8; 32],
        expires_at_ms: u64,
    ) -> Result<(), StoreError> {
        SqliteStore::put_challenge(self, address, nonce, expires_at_ms).await
    }

    async fn take_challenge(
        &self,
        address: &DeviceAddress<'_>,
        nonce: [u8; 32],
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        SqliteStore::take_challenge(self, address, nonce, now_ms).await
    }

    async fn put_token(
        &self,
        token_hash: [u8; 32],
        address: &DeviceAddress<'_>,
        expires_at_ms: u64,
    ) -> Result<(), StoreError> {
        SqliteStore::put_token(self, token_hash, address, expires_at_ms).await
    }

    async fn token_owner(
        &self,
        token_hash: [u8; 32],
        now_ms: u64,
    ) -> Result<Option<DeviceAddress<'static>>, StoreError> {
        SqliteStore::token_owner(self, token_hash, now_ms).await
    }

    async fn token_grant(
        &self,
        token_hash: [u8; 32],
        now_ms: u64,
    ) -> Result<Option<TokenGrant>, StoreError> {
        SqliteStore::token_grant(self, token_hash, now_ms).await
    }

    async fn revoke_tokens(&self, address: &DeviceAddress<'_>) -> Result<u64, StoreError> {
        SqliteStore::revoke_tokens(self, address).await
    }

    async fn publish_prekeys(
        &self,
        address: &DeviceAddress<'_>,
        signed_prekey: Option<&SignedPrekey>,
        one_time_prekeys: &[OneTimePrekey],
    ) -> Result<u32, StoreError> {
        SqliteStore::publish_prekeys(self, address, signed_prekey, one_time_prekeys).await
    }

    async fn publish_prekeys_within_quota(
        &self,
        address: &DeviceAddress<'_>,
        signed_prekey: Option<&SignedPrekey>,
        one_time_prekeys: &[OneTimePrekey],
        max_pool: u32,
    ) -> Result<u32, StoreError> {
        SqliteStore::publish_prekeys_within_quota(
            self,
            address,
            signed_prekey,
            one_time_prekeys,
            max_pool,
        )
        .await
    }

    async fn take_bundle(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<Option<TakenBundle>, StoreError> {
        SqliteStore::take_bundle(self, address).await
    }

    async fn one_time_remaining(&self, address: &DeviceAddress<'_>) -> Result<u32, StoreError> {
        SqliteStore::one_time_remaining(self, address).await
    }

    async fn prekey_counts(&self, address: &DeviceAddress<'_>) -> Result<PrekeyCounts, StoreError> {
        SqliteStore::prekey_counts(self, address).await
    }

    async fn publish_prekey_upload(
        &self,
        address: &DeviceAddress<'_>,
        prekeys: NewPrekeys<'_>,
        max_pool: u32,
    ) -> Result<PrekeyCounts, StoreError> {
        SqliteStore::publish_prekey_upload(self, address, prekeys, max_pool).await
    }

    async fn deliver(&self, deliveries: Vec<NewDelivery>) -> Result<(), StoreError> {
        SqliteStore::deliver(self, deliveries).await
    }

    async fn deliver_within_quota(
        &self,
        deliveries: Vec<NewDelivery>,
        max_waiting: u64,
    ) -> Result<(), StoreError> {
        let quota = MailboxQuota {
            max_envelopes: max_waiting,
            max_bytes: u64::MAX,
        };
        SqliteStore::deliver_within_quotas(self, deliveries, quota).await
    }

    async fn deliver_within_quotas(
        &self,
        deliveries: Vec<NewDelivery>,
        quota: MailboxQuota,
    ) -> Result<(), StoreError> {
        SqliteStore::deliver_within_quotas(self, deliveries, quota).await
    }

    async fn quarantined_records(&self) -> Result<u64, StoreError> {
        SqliteStore::quarantined_records(self).await
    }

    fn was_new(&self) -> bool {
        self.was_new
    }

    async fn has_devices(&self) -> Result<bool, StoreError> {
        SqliteStore::has_devices(self).await
    }

    async fn stamp_key_check(&self) -> Result<Option<Vec<u8>>, StoreError> {
        SqliteStore::stamp_key_check(self).await
    }

    async fn set_stamp_key_check(&self, check: [u8; 16]) -> Result<(), StoreError> {
        SqliteStore::set_stamp_key_check(self, check).await
    }

    async fn fetch(
        &self,
        recipient: &DeviceAddress<'_>,
        limit: usize,
        now_ms: u64,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        SqliteStore::fetch(self, recipient, limit, now_ms).await
    }

    async fn acknowledge(
        &self,
        recipient: &DeviceAddress<'_>,
        message_ids: &[MessageId],
    ) -> Result<u64, StoreError> {
        SqliteStore::acknowledge(self, recipient, message_ids).await
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
                "DELETE FROM link_messages WHERE expires_at <= ?1",
                "DELETE FROM quarantine WHERE expires_at <= ?1",
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
        SqliteStore::put_challenge_bounded(self, address, nonce, expires_at_ms, keep).await
    }

    async fn put_blob(&self, blob: NewBlob) -> Result<(), StoreError> {
        SqliteStore::put_blob(self, blob).await
    }

    async fn blob(
        &self,
        blob_id: &BlobId,
        capability_hash: [u8; 32],
        now_ms: u64,
    ) -> Result<Option<u64>, StoreError> {
        SqliteStore::blob(self, blob_id, capability_hash, now_ms).await
    }

    async fn recorded_blobs(&self, blob_ids: &[BlobId]) -> Result<Vec<BlobId>, StoreError> {
        SqliteStore::recorded_blobs(self, blob_ids).await
    }

    async fn blobs_in_database(&self) -> Result<Vec<BlobId>, StoreError> {
        SqliteStore::blobs_in_database(self).await
    }

    async fn blob_bytes_in_database(
        &self,
        blob_id: &BlobId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        SqliteStore::blob_bytes_in_database(self, blob_id).await
    }

    async fn blob_bytes_moved(&self, blob_id: &BlobId, len: u64) -> Result<(), StoreError> {
        SqliteStore::blob_bytes_moved(self, blob_id, len).await
    }

    async fn put_report(&self, report: NewReport) -> Result<(), StoreError> {
        SqliteStore::put_report(self, report).await
    }

    async fn fetch_reports(
        &self,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> Result<Vec<StoredReport>, StoreError> {
        SqliteStore::fetch_reports(self, limit, max_bytes, now_ms).await
    }

    async fn ack_reports(&self, report_ids: &[ReportId]) -> Result<u64, StoreError> {
        SqliteStore::ack_reports(self, report_ids).await
    }

    async fn set_suspended(
        &self,
        user: &UserId<'_>,
        suspended: bool,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        SqliteStore::set_suspended(self, user, suspended, now_ms).await
    }

    async fn user_suspended(&self, user: &UserId<'_>) -> Result<bool, StoreError> {
        SqliteStore::user_suspended(self, user).await
    }

    async fn remove_device(&self, address: &DeviceAddress<'_>) -> Result<bool, StoreError> {
        SqliteStore::remove_device(self, address).await
    }

    async fn revoke_user_tokens(&self, user: &UserId<'_>) -> Result<u64, StoreError> {
        SqliteStore::revoke_user_tokens(self, user).await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        SqliteStore::stats(self).await
    }

    async fn record_admin_action(&self, record: AdminRecord) -> Result<(), StoreError> {
        SqliteStore::record_admin_action(self, record).await
    }

    async fn admin_actions(&self, limit: usize) -> Result<Vec<AdminRecord>, StoreError> {
        SqliteStore::admin_actions(self, limit).await
    }
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

/// Maps an error of opening or preparing the database to the cause an
/// operator can act on.
fn open_failure(error: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    let failure = match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt) => OpenFailure::Corrupt,
        Some(ErrorCode::NotADatabase) => OpenFailure::NotADatabase,
        // The file itself was checked writable before: what SQLite cannot
        // open or write is in the directory (the -wal and -shm files).
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen) => OpenFailure::ReadOnly,
        Some(ErrorCode::PermissionDenied) => OpenFailure::PermissionDenied,
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => OpenFailure::Locked,
        _ => OpenFailure::Other("open".to_owned()),
    };
    StoreError::Open(failure)
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
