//! The PostgreSQL backend: for several relay nodes sharing one database.
//!
//! # Connections and durability
//!
//! [`PostgresStore::connect`] takes a connection string in libpq's
//! `key=value` form or as a `postgresql://` URL (for instance
//! `host=127.0.0.1 port=5433 user=fuin dbname=fuin`) and keeps a small pool
//! of connections ([`DEFAULT_POOL_SIZE`], made on demand) through
//! `deadpool-postgres`. It creates the schema if it is missing, under a
//! transaction-scoped advisory lock so that nodes starting together do not
//! race on it. The tables go to the first schema of the connection's
//! `search_path`: give the relay a database (or a schema, with
//! `options='-c search_path=...'`) of its own. Connections are unencrypted
//! (`NoTls`): use a loopback address or a Unix socket.
//!
//! Every connection runs with `default_transaction_isolation = read
//! committed`, which the statements below are written for, and with
//! `synchronous_commit` pinned to the database's setting, raised to `on` if
//! that is `off`: a method that returns `Ok` after a write has had its commit
//! flushed to the server's write-ahead log. `connect` checks both on a pooled
//! connection and refuses to start otherwise. (Whether the server's `fsync`
//! makes the flush reach the disk is the server's configuration.)
//!
//! # Concurrency across nodes
//!
//! Every method is one statement or one transaction, correct however many
//! connections and nodes run it at once:
//! - [`Store::take_bundle`] is a single statement whose `DELETE` takes the
//!   lowest one-time prekey id that no other transaction has locked
//!   (`FOR UPDATE SKIP LOCKED`) and returns it only if it deleted the row: a
//!   one-time prekey is handed out at most once, and concurrent fetchers do
//!   not queue on the same row.
//! - [`Store::take_challenge`] is `DELETE ... RETURNING`.
//! - [`Store::register_device`] inserts with `ON CONFLICT DO NOTHING` and
//!   only then compares identities, so two nodes registering the same device
//!   agree on which identity won.
//! - [`Store::deliver`] stores a batch in one transaction. `seq`, a mailbox's
//!   order, is one more than the mailbox's highest, as in SQLite; to keep
//!   it unique and in commit order, a delivery first takes a
//!   transaction-scoped advisory lock per recipient mailbox (keyed by a hash
//!   of the address, taken in ascending key order so that batches cannot
//!   deadlock). Deliveries to different mailboxes do not wait for each other
//!   unless their keys collide. A unique index on `(user_id, device, seq)`
//!   makes a lapse in this a failed delivery rather than an ambiguous order.
//!   [`Store::deliver_within_quota`] counts the mailboxes under those same
//!   locks, so a quota holds across nodes.
//! - [`Store::publish_prekeys_within_quota`] and
//!   [`Store::put_challenge_bounded`] first take a transaction-scoped
//!   advisory lock for the device (keyed like the mailbox lock, in domains
//!   of their own), so that their count and their write are one step.
//!
//! # Wake-ups across nodes
//!
//! A delivery through one node wakes the long polls and streams waiting on
//! the others: [`Store::deliver`] queues a `NOTIFY` in its transaction, which
//! PostgreSQL sends at commit, and every store keeps a connection of its own
//! that listens and calls the relay's [`RemoteWaker`]. Notifications carry
//! keyed tags of the mailboxes, not addresses; the listening connection is
//! made again if it is lost. `src/store/postgres/notify.rs` and
//! `spec/relay-operations.md` §8.3 give the details.
//!
//! PostgreSQL serializes the commits of all transactions that notify, in the
//! whole cluster, until their commit is flushed: with `synchronous_commit`
//! on, deliveries through all nodes together commit one flush at a time.
//! That is why each store commits deliveries in groups
//! (`src/store/postgres/group_commit.rs`): one task per store takes every
//! send and acknowledgement waiting (up to 256) and writes them in one
//! transaction, one statement per step for all of them (lock, quota count,
//! insert, delete, notify) and one commit, then answers each as if it had
//! been written alone.
//!
//! # What is stored
//!
//! The same tables as the SQLite backend (see [`super::sqlite`]), with the
//! user column named `user_id` (`user` is reserved in PostgreSQL), byte
//! strings as `bytea`, ids and times as `bigint`, a one-row
//! `fuin_schema` table holding the schema version, and a one-row
//! `fuin_wake_key` table holding the wake-up key. The decisions the trait
//! leaves open are taken as in SQLite: a time `t` is expired at `now` when
//! `t <= now`; [`Store::deliver`] rejects a batch with a message id already
//! stored or repeated in the batch as a whole, with
//! `StoreError::Backend("deliver: duplicate message id")`, and does not check
//! that recipients are registered; [`Store::put_token`] refuses an
//! unregistered device, [`Store::put_challenge`] does not;
//! [`Store::take_bundle`] returns `None` for an unregistered device or one
//! without a signed prekey and takes nothing then; one-time prekeys go out
//! lowest id first (among those not being taken at that moment). Publishing
//! the same one-time prekey id twice in one call keeps the last.
//! [`Store::put_blob`] upserts the blob's record (its bytes are in the blob
//! store, `crate::blobs`; the later expiry either way) and adds the
//! capability in one transaction;
//! [`Store::fetch_reports`] reads the lengths and then the chosen reports in
//! one read-only `repeatable read` transaction, so both see one snapshot.
//!
//! # Deletion
//!
//! An acknowledged or expired envelope's row (or an expired blob's, or an
//! acknowledged or expired report's) is deleted at once, but
//! PostgreSQL keeps the dead row version in the table file until `VACUUM`
//! reclaims the space (and even then does not overwrite it), and keeps the
//! row's bytes in its write-ahead log segments until they are recycled (and
//! in any WAL archive or base backup). The "nothing remains in the file"
//! guarantee of the SQLite backend does not hold here; an operator who needs
//! it keeps the data directory on encrypted storage without WAL archiving.
//!
//! Errors never carry data: a backend failure is
//! `StoreError::Backend("<operation>")` or `"<operation>: <stage>"`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use fuin_wire::relay::ReportId;
use fuin_wire::{
    BlobId, DeviceAddress, DeviceId, MessageId, OneTimePrekey, PrekeyId, PublicIdentity,
    SignedPrekey, UserId,
};
use tokio_postgres::{Config, NoTls, Row};

use super::TokenGrant;
use super::{
    AdminRecord, LinkSlot, MailboxQuota, MailboxTag, NewBlob, NewDelivery, NewDeviceList,
    NewPrekeys, NewReport, OpenFailure, PrekeyCounts, Registration, RemoteWaker, Store, StoreError,
    StoreStats, StoredAccount, StoredDelivery, StoredReport, TakenBundle,
};

mod accounts;
mod admin;
mod auth;
mod blobs;
mod devices;
mod group_commit;
mod health;
mod integrity;
mod invites;
mod links;
mod locks;
mod mailbox;
mod notify;
mod prekeys;
mod reports;
mod schema;

/// How many connections a store keeps at most, unless told otherwise.
pub const DEFAULT_POOL_SIZE: usize = 8;
/// How long making a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an operation waits for a free connection.
const POOL_WAIT: Duration = Duration::from_secs(30);

/// The PostgreSQL [`Store`]. See the [module documentation](self).
pub struct PostgresStore {
    pool: Pool,
    /// Whether the database held no relay schema when this store connected.
    was_new: bool,
    notifier: notify::Notifier,
    /// Sends wait here to be stored together (group commit).
    deliveries: group_commit::DeliveryQueue,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The configuration may hold a password: it is not shown.
        let status = self.pool.status();
        f.debug_struct("PostgresStore")
            .field("pool_size", &status.size)
            .field("pool_max_size", &status.max_size)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database `config` names (libpq `key=value` form or a
    /// `postgresql://` URL) with a pool of up to [`DEFAULT_POOL_SIZE`]
    /// connections, and creates the schema if needed. Must be called within
    /// a Tokio runtime, which then runs the connections.
    pub async fn connect(config: &str) -> Result<Self, StoreError> {
        Self::connect_with_pool_size(config, DEFAULT_POOL_SIZE).await
    }

    /// [`connect`](Self::connect), with a pool of up to `pool_size`
    /// connections (at least one).
    pub async fn connect_with_pool_size(
        config: &str,
        pool_size: usize,
    ) -> Result<Self, StoreError> {
        Self::connect_as(config, None, pool_size).await
    }

    /// [`connect`](Self::connect), with the password given apart from the
    /// connection string (which then holds none), so that it need not sit
    /// on a command line.
    pub async fn connect_with_password(
        config: &str,
        password: Option<&[u8]>,
    ) -> Result<Self, StoreError> {
        Self::connect_as(config, password, DEFAULT_POOL_SIZE).await
    }

    async fn connect_as(
        config: &str,
        password: Option<&[u8]>,
        pool_size: usize,
    ) -> Result<Self, StoreError> {
        const OP: &str = "connect";
        let mut config = Config::from_str(config).map_err(|_| backend_at(OP, "config"))?;
        if let Some(password) = password {
            config.password(password);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("fuin-relay");
        }

        // What the database would give a session, before we pin it.
        let synchronous_commit = {
            let (client, connection) = config.connect(NoTls).await.map_err(connect_failure)?;
            let connection = tokio::spawn(connection);
            let setting = show(&client, "synchronous_commit", OP).await;
            drop(client);
            // The connection ends once its client is gone.
            let _ = connection.await;
            setting?
        };
        let synchronous_commit = match synchronous_commit.as_str() {
            "off" => "on",
            durable @ ("on" | "local" | "remote_write" | "remote_apply") => durable,
            _ => return Err(backend_at(OP, "unknown synchronous_commit")),
        };
        // Options given at connection time are the session's defaults (also
        // after `RESET ALL`); later ones override earlier ones.
        let options = format!(
            "{} -c synchronous_commit={synchronous_commit} \
             -c default_transaction_isolation=read\\ committed",
            config.get_options().unwrap_or_default()
        );
        config.options(options.trim_start());

        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|_| backend_at(OP, "pool"))?;

        let mut client = pool.get().await.map_err(|_| backend_at(OP, "pool"))?;
        if show(&client, "synchronous_commit", OP).await? == "off"
            || show(&client, "default_transaction_isolation", OP).await? != "read committed"
        {
            return Err(backend_at(OP, "session settings not applied"));
        }
        let (wake_key, was_new) = schema::migrate(&mut client).await?;
        drop(client);
        let notifier = notify::Notifier::start(config, wake_key).await?;
        let deliveries =
            group_commit::DeliveryQueue::start(pool.clone(), notifier.channel().to_owned());
        Ok(Self {
            pool,
            was_new,
            notifier,
            deliveries,
        })
    }

    /// Closes the pool: idle connections close now, the others when their
    /// operation ends, and every later operation fails. Stops listening for
    /// other nodes' deliveries.
    pub fn close(&self) {
        self.notifier.stop();
        self.pool.close();
    }

    /// The `LISTEN`/`NOTIFY` channel the nodes on this database share (see
    /// the [module documentation](self)).
    pub fn wake_channel(&self) -> &str {
        self.notifier.channel()
    }

    /// The server process id of this store's listening connection, while it
    /// has one: the `pid` to look for in `pg_stat_activity`.
    pub fn listener_pid(&self) -> Option<i32> {
        self.notifier.pid()
    }

    /// How many transactions of the group commit stored sends, and how
    /// many sends they held (for tests and the load tool: their ratio is the
    /// mean batch).
    pub fn delivery_batches(&self) -> (u64, u64) {
        self.deliveries.batches()
    }

    async fn client(&self, name: &'static str) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|_| backend_at(name, "pool"))
    }
}

impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        PostgresStore::ping(self).await
    }

    async fn mailbox_depths(&self) -> Result<crate::metrics::MailboxDepths, StoreError> {
        PostgresStore::mailbox_depths(self).await
    }

    async fn create_account(
        &self,
        list: NewDeviceList,
        invite_hash: Option<[u8; 32]>,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        PostgresStore::create_account(self, list, invite_hash, now_ms).await
    }

    async fn account(&self, user: &UserId<'_>) -> Result<Option<StoredAccount>, StoreError> {
        PostgresStore::account(self, user).await
    }

    async fn replace_device_list(
        &self,
        list: NewDeviceList,
        now_ms: u64,
    ) -> Result<Vec<DeviceId>, StoreError> {
        PostgresStore::replace_device_list(self, list, now_ms).await
    }

    async fn add_invites(&self, code_hashes: &[[u8; 32]]) -> Result<(), StoreError> {
        PostgresStore::add_invites(self, code_hashes).await
    }

    async fn invite_unspent(&self, code_hash: [u8; 32]) -> Result<bool, StoreError> {
        PostgresStore::invite_unspent(self, code_hash).await
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
        PostgresStore::put_link_message(
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
        PostgresStore::take_link_message(self, channel, slot, now_ms).await
    }

    async fn register_device(
        &self,
        address: &DeviceAddress<'_>,
        identity: &PublicIdentity,
        now_ms: u64,
    ) -> Result<Registration, StoreError> {
        PostgresStore::register_device(self, address, identity, now_ms).await
    }

    async fn device_identity(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<Option<PublicIdentity>, StoreError> {
        PostgresStore::device_identity(self, address).await
    }

    async fn user_devices(&self, user: &UserId<'_>) -> Result<Vec<DeviceId>, StoreError> {
        PostgresStore::user_devices(self, user).await
    }

    async fn put_challenge(
        &self,
        address: &DeviceAddress<'_>,
        nonce: [u8; 32],
        expires_at_ms: u64,
    ) -> Result<(), StoreError> {
        PostgresStore::put_challenge(self, address, nonce, expires_at_ms).await
    }

    async fn take_challenge(
        &self,
        address: &DeviceAddress<'_>,
        nonce: [u8; 32],
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        PostgresStore::take_challenge(self, address, nonce, now_ms).await
    }

    async fn put_token(
        &self,
        token_hash: [u8; 32],
        address: &DeviceAddress<'_>,
        expires_at_ms: u64,
    ) -> Result<(), StoreError> {
        PostgresStore::put_token(self, token_hash, address, expires_at_ms).await
    }

    async fn token_owner(
        &self,
        token_hash: [u8; 32],
        now_ms: u64,
    ) -> Result<Option<DeviceAddress<'static>>, StoreError> {
        PostgresStore::token_owner(self, token_hash, now_ms).await
    }

    async fn token_grant(
        &self,
        token_hash: [u8; 32],
        now_ms: u64,
    ) -> Result<Option<TokenGrant>, StoreError> {
        PostgresStore::token_grant(self, token_hash, now_ms).await
    }

    async fn revoke_tokens(&self, address: &DeviceAddress<'_>) -> Result<u64, StoreError> {
        PostgresStore::revoke_tokens(self, address).await
    }
    async fn publish_prekeys(
        &self,
        address: &DeviceAddress<'_>,
        signed_prekey: Option<&SignedPrekey>,
        one_time_prekeys: &[OneTimePrekey],
    ) -> Result<u32, StoreError> {
        PostgresStore::publish_prekeys(self, address, signed_prekey, one_time_prekeys).await
    }

    async fn publish_prekeys_within_quota(
        &self,
        address: &DeviceAddress<'_>,
        signed_prekey: Option<&SignedPrekey>,
        one_time_prekeys: &[OneTimePrekey],
        max_pool: u32,
    ) -> Result<u32, StoreError> {
        PostgresStore::publish_prekeys_within_quota(
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
        PostgresStore::take_bundle(self, address).await
    }

    async fn one_time_remaining(&self, address: &DeviceAddress<'_>) -> Result<u32, StoreError> {
        PostgresStore::one_time_remaining(self, address).await
    }

    async fn prekey_counts(&self, address: &DeviceAddress<'_>) -> Result<PrekeyCounts, StoreError> {
        PostgresStore::prekey_counts(self, address).await
    }

    async fn publish_prekey_upload(
        &self,
        address: &DeviceAddress<'_>,
        prekeys: NewPrekeys<'_>,
        max_pool: u32,
    ) -> Result<PrekeyCounts, StoreError> {
        PostgresStore::publish_prekey_upload(self, address, prekeys, max_pool).await
    }

    async fn deliver(&self, deliveries: Vec<NewDelivery>) -> Result<(), StoreError> {
        PostgresStore::deliver(self, deliveries).await
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
        PostgresStore::deliver_within_quotas(self, deliveries, quota).await
    }

    async fn deliver_within_quotas(
        &self,
        deliveries: Vec<NewDelivery>,
        quota: MailboxQuota,
    ) -> Result<(), StoreError> {
        PostgresStore::deliver_within_quotas(self, deliveries, quota).await
    }

    async fn quarantined_records(&self) -> Result<u64, StoreError> {
        PostgresStore::quarantined_records(self).await
    }

    fn was_new(&self) -> bool {
        self.was_new
    }

    async fn has_devices(&self) -> Result<bool, StoreError> {
        PostgresStore::has_devices(self).await
    }

    async fn stamp_key_check(&self) -> Result<Option<Vec<u8>>, StoreError> {
        PostgresStore::stamp_key_check(self).await
    }

    async fn set_stamp_key_check(&self, check: [u8; 16]) -> Result<(), StoreError> {
        PostgresStore::set_stamp_key_check(self, check).await
    }

    async fn fetch(
        &self,
        recipient: &DeviceAddress<'_>,
        limit: usize,
        now_ms: u64,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        PostgresStore::fetch(self, recipient, limit, now_ms).await
    }

    async fn acknowledge(
        &self,
        recipient: &DeviceAddress<'_>,
        message_ids: &[MessageId],
    ) -> Result<u64, StoreError> {
        PostgresStore::acknowledge(self, recipient, message_ids).await
    }

    async fn expire(&self, now_ms: u64) -> Result<u64, StoreError> {
        const OP: &str = "expire";
        let now = sql_time(now_ms);
        let mut client = self.client(OP).await?;
        let transaction = client.transaction().await.op(OP)?;
        let mut envelopes = 0;
        for (i, sql) in [
            "DELETE FROM mailbox WHERE expires_at <= $1",
            "DELETE FROM challenges WHERE expires_at <= $1",
            "DELETE FROM tokens WHERE expires_at <= $1",
            // Capabilities first, then blobs (their remaining capabilities
            // go with them), then reports.
            "DELETE FROM blob_capabilities WHERE expires_at <= $1",
            "DELETE FROM blobs WHERE expires_at <= $1",
            "DELETE FROM reports WHERE expires_at <= $1",
            "DELETE FROM link_messages WHERE expires_at <= $1",
            "DELETE FROM quarantine WHERE expires_at <= $1",
        ]
        .into_iter()
        .enumerate()
        {
            let delete = transaction.prepare_cached(sql).await.op(OP)?;
            let deleted = transaction.execute(&delete, &[&now]).await.op(OP)?;
            if i == 0 {
                envelopes = deleted;
            }
        }
        health::commit(transaction, OP).await?;
        Ok(envelopes)
    }

    async fn put_challenge_bounded(
        &self,
        address: &DeviceAddress<'_>,
        nonce: [u8; 32],
        expires_at_ms: u64,
        keep: u32,
    ) -> Result<(), StoreError> {
        PostgresStore::put_challenge_bounded(self, address, nonce, expires_at_ms, keep).await
    }

    async fn put_blob(&self, blob: NewBlob) -> Result<(), StoreError> {
        PostgresStore::put_blob(self, blob).await
    }

    async fn blob(
        &self,
        blob_id: &BlobId,
        capability_hash: [u8; 32],
        now_ms: u64,
    ) -> Result<Option<u64>, StoreError> {
        PostgresStore::blob(self, blob_id, capability_hash, now_ms).await
    }

    async fn recorded_blobs(&self, blob_ids: &[BlobId]) -> Result<Vec<BlobId>, StoreError> {
        PostgresStore::recorded_blobs(self, blob_ids).await
    }

    async fn blobs_in_database(&self) -> Result<Vec<BlobId>, StoreError> {
        PostgresStore::blobs_in_database(self).await
    }

    async fn blob_bytes_in_database(
        &self,
        blob_id: &BlobId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        PostgresStore::blob_bytes_in_database(self, blob_id).await
    }

    async fn blob_bytes_moved(&self, blob_id: &BlobId, len: u64) -> Result<(), StoreError> {
        PostgresStore::blob_bytes_moved(self, blob_id, len).await
    }

    async fn put_report(&self, report: NewReport) -> Result<(), StoreError> {
        PostgresStore::put_report(self, report).await
    }

    async fn fetch_reports(
        &self,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> Result<Vec<StoredReport>, StoreError> {
        PostgresStore::fetch_reports(self, limit, max_bytes, now_ms).await
    }

    async fn ack_reports(&self, report_ids: &[ReportId]) -> Result<u64, StoreError> {
        PostgresStore::ack_reports(self, report_ids).await
    }

    async fn set_suspended(
        &self,
        user: &UserId<'_>,
        suspended: bool,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        PostgresStore::set_suspended(self, user, suspended, now_ms).await
    }

    async fn user_suspended(&self, user: &UserId<'_>) -> Result<bool, StoreError> {
        PostgresStore::user_suspended(self, user).await
    }

    async fn remove_device(&self, address: &DeviceAddress<'_>) -> Result<bool, StoreError> {
        PostgresStore::remove_device(self, address).await
    }

    async fn revoke_user_tokens(&self, user: &UserId<'_>) -> Result<u64, StoreError> {
        PostgresStore::revoke_user_tokens(self, user).await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        PostgresStore::stats(self).await
    }

    async fn record_admin_action(&self, record: AdminRecord) -> Result<(), StoreError> {
        PostgresStore::record_admin_action(self, record).await
    }

    async fn admin_actions(&self, limit: usize) -> Result<Vec<AdminRecord>, StoreError> {
        PostgresStore::admin_actions(self, limit).await
    }

    fn mailbox_tag(&self, address: &DeviceAddress<'_>) -> MailboxTag {
        self.notifier.tag(address)
    }

    fn set_remote_waker(&self, waker: RemoteWaker) {
        self.notifier.set_waker(waker);
    }
}

// ---------------------------------------------------------------------------
// Helpers.

/// Maps a database or pool error to [`StoreError::Backend`] naming the
/// operation only.
trait Op<T> {
    fn op(self, name: &'static str) -> Result<T, StoreError>;
}

impl<T> Op<T> for Result<T, tokio_postgres::Error> {
    fn op(self, name: &'static str) -> Result<T, StoreError> {
        self.map_err(|_| backend(name))
    }
}

/// Names why the first connection failed: the server cannot be reached,
/// refused the credentials, or has no such database. Nothing of the error's
/// text is kept (it may name the user or the database).
fn connect_failure(error: tokio_postgres::Error) -> StoreError {
    use tokio_postgres::error::SqlState;
    let failure = match error.code() {
        Some(code)
            if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            OpenFailure::AuthenticationFailed
        }
        Some(code) if *code == SqlState::INVALID_CATALOG_NAME => OpenFailure::NoSuchDatabase,
        Some(_) => OpenFailure::Other("connect".to_owned()),
        // No answer from a server at all: refused, unreachable or timed out.
        None => OpenFailure::CannotConnect,
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

/// A setting of the session, by name (one of ours, never user input).
async fn show(
    client: &tokio_postgres::Client,
    setting: &'static str,
    name: &'static str,
) -> Result<String, StoreError> {
    client
        .query_one("SELECT current_setting($1)", &[&setting])
        .await
        .op(name)?
        .try_get(0)
        .op(name)
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

/// Column `index` of `row`, a byte string of exactly `N` bytes.
fn fixed<const N: usize>(
    row: &Row,
    index: usize,
    name: &'static str,
) -> Result<[u8; N], StoreError> {
    row.try_get::<_, &[u8]>(index)
        .op(name)?
        .try_into()
        .map_err(|_| corrupt(name))
}
