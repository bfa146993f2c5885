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
//! `spec/relay-api.md` §8.3 give the details.
//!
//! PostgreSQL serializes the commits of all transactions that notify, in the
//! whole cluster, until their commit is flushed: with `synchronous_commit`
//! on, deliveries through all nodes together commit one flush at a time.
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
//! [`Store::put_blob`] upserts the blob (its bytes only if it is new, the
//! later expiry either way) and adds the capability in one transaction;
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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use fuin_wire::relay::ReportId;
use fuin_wire::{
    BlobId, DeviceAddress, DeviceId, Ed25519PublicKey, Ed25519Signature, MessageId, OneTimePrekey,
    PrekeyId, PublicIdentity, SignedPrekey, UserId, X25519PublicKey,
};
use sha2::{Digest, Sha256};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Config, NoTls, Row};

use super::{
    MailboxTag, NewBlob, NewDelivery, NewReport, Registration, RemoteWaker, Store, StoreError,
    StoredDelivery, StoredReport, TakenBundle,
};

mod notify;

/// How many connections a store keeps at most, unless told otherwise.
pub const DEFAULT_POOL_SIZE: usize = 8;
/// How long making a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an operation waits for a free connection.
const POOL_WAIT: Duration = Duration::from_secs(30);
/// The schema version kept in `fuin_schema`. Version 2 added the blob and
/// report tables; a version 1 database gains them when a relay connects.
const SCHEMA_VERSION: i64 = 2;
/// The advisory lock key that serializes schema creation ("fuinschm").
const SCHEMA_LOCK: i64 = 0x6675_696e_7363_686d;
/// What the mailbox lock keys are derived from, before the address.
const MAILBOX_LOCK_DOMAIN: &[u8] = b"fuin-relay mailbox lock\0";
/// The same for the lock that serializes a device's prekey uploads.
const PREKEY_LOCK_DOMAIN: &[u8] = b"fuin-relay prekey lock\0";
/// The same for the lock that serializes a device's challenges.
const CHALLENGE_LOCK_DOMAIN: &[u8] = b"fuin-relay challenge lock\0";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS fuin_schema (
    singleton BOOLEAN NOT NULL PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    version   BIGINT  NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    user_id       TEXT   NOT NULL,
    device        BIGINT NOT NULL,
    identity      BYTEA  NOT NULL,
    registered_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, device)
);
CREATE TABLE IF NOT EXISTS signed_prekeys (
    user_id    TEXT   NOT NULL,
    device     BIGINT NOT NULL,
    id         BIGINT NOT NULL,
    public_key BYTEA  NOT NULL,
    signature  BYTEA  NOT NULL,
    PRIMARY KEY (user_id, device),
    FOREIGN KEY (user_id, device) REFERENCES devices (user_id, device) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS one_time_prekeys (
    user_id    TEXT   NOT NULL,
    device     BIGINT NOT NULL,
    id         BIGINT NOT NULL,
    public_key BYTEA  NOT NULL,
    PRIMARY KEY (user_id, device, id),
    FOREIGN KEY (user_id, device) REFERENCES devices (user_id, device) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS challenges (
    user_id    TEXT   NOT NULL,
    device     BIGINT NOT NULL,
    nonce      BYTEA  NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, device, nonce)
);
CREATE INDEX IF NOT EXISTS challenges_expiry ON challenges (expires_at);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash BYTEA  NOT NULL PRIMARY KEY,
    user_id    TEXT   NOT NULL,
    device     BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    FOREIGN KEY (user_id, device) REFERENCES devices (user_id, device) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS tokens_owner ON tokens (user_id, device);
CREATE INDEX IF NOT EXISTS tokens_expiry ON tokens (expires_at);
CREATE TABLE IF NOT EXISTS mailbox (
    message_id BYTEA  NOT NULL PRIMARY KEY,
    user_id    TEXT   NOT NULL,
    device     BIGINT NOT NULL,
    record     BYTEA  NOT NULL,
    expires_at BIGINT NOT NULL,
    seq        BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS mailbox_order ON mailbox (user_id, device, seq);
CREATE INDEX IF NOT EXISTS mailbox_expiry ON mailbox (expires_at);
CREATE TABLE IF NOT EXISTS blobs (
    blob_id    BYTEA  NOT NULL PRIMARY KEY,
    content    BYTEA  NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS blobs_expiry ON blobs (expires_at);
CREATE TABLE IF NOT EXISTS blob_capabilities (
    capability_hash BYTEA  NOT NULL PRIMARY KEY,
    blob_id         BYTEA  NOT NULL REFERENCES blobs (blob_id) ON DELETE CASCADE,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS blob_capabilities_blob ON blob_capabilities (blob_id);
CREATE INDEX IF NOT EXISTS blob_capabilities_expiry ON blob_capabilities (expires_at);
CREATE TABLE IF NOT EXISTS reports (
    report_id   BYTEA  NOT NULL PRIMARY KEY,
    user_id     TEXT   NOT NULL,
    device      BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    report      BYTEA  NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_order ON reports (received_at, report_id);
CREATE INDEX IF NOT EXISTS reports_expiry ON reports (expires_at);
";

/// The PostgreSQL [`Store`]. See the [module documentation](self).
pub struct PostgresStore {
    pool: Pool,
    notifier: notify::Notifier,
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
        const OP: &str = "connect";
        let mut config = Config::from_str(config).map_err(|_| backend_at(OP, "config"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("fuin-relay");
        }

        // What the database would give a session, before we pin it.
        let synchronous_commit = {
            let (client, connection) = config
                .connect(NoTls)
                .await
                .map_err(|_| backend_at(OP, "connection"))?;
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
        let transaction = client.transaction().await.op(OP)?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .await
            .op(OP)?;
        transaction.batch_execute(SCHEMA).await.op(OP)?;
        transaction.batch_execute(notify::KEY_SCHEMA).await.op(OP)?;
        let wake_key = notify::wake_key(&transaction).await?;
        transaction
            .execute(
                "INSERT INTO fuin_schema (version) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&SCHEMA_VERSION],
            )
            .await
            .op(OP)?;
        let version: i64 = transaction
            .query_one("SELECT version FROM fuin_schema", &[])
            .await
            .op(OP)?
            .try_get(0)
            .op(OP)?;
        if version > SCHEMA_VERSION {
            return Err(backend_at(OP, "database from a newer relay"));
        }
        transaction
            .execute(
                "UPDATE fuin_schema SET version = $1 WHERE version < $1",
                &[&SCHEMA_VERSION],
            )
            .await
            .op(OP)?;
        transaction.commit().await.op(OP)?;
        drop(client);
        let notifier = notify::Notifier::start(config, wake_key).await?;
        Ok(Self { pool, notifier })
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

    async fn client(&self, name: &'static str) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|_| backend_at(name, "pool"))
    }
}

impl Store for PostgresStore {
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
        let client = self.client(OP).await?;
        let insert = client
            .prepare_cached(
                "INSERT INTO devices (user_id, device, identity, registered_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, device) DO NOTHING",
            )
            .await
            .op(OP)?;
        if client
            .execute(&insert, &[&user, &device, &identity, &now])
            .await
            .op(OP)?
            == 1
        {
            return Ok(Registration::Created);
        }
        // A new statement sees the row that won the conflict, however recent.
        let select = client
            .prepare_cached("SELECT identity FROM devices WHERE user_id = $1 AND device = $2")
            .await
            .op(OP)?;
        let stored: Vec<u8> = client
            .query_opt(&select, &[&user, &device])
            .await
            .op(OP)?
            // Devices are never deleted, so the row is there.
            .ok_or_else(|| backend(OP))?
            .try_get(0)
            .op(OP)?;
        if stored == identity {
            Ok(Registration::AlreadyRegistered)
        } else {
            Err(StoreError::IdentityConflict)
        }
    }

    async fn device_identity(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<Option<PublicIdentity>, StoreError> {
        const OP: &str = "device_identity";
        let (user, device) = key(address);
        let client = self.client(OP).await?;
        let select = client
            .prepare_cached("SELECT identity FROM devices WHERE user_id = $1 AND device = $2")
            .await
            .op(OP)?;
        client
            .query_opt(&select, &[&user, &device])
            .await
            .op(OP)?
            .map(|row| identity_from_bytes(&row.try_get::<_, Vec<u8>>(0).op(OP)?, OP))
            .transpose()
    }

    async fn user_devices(&self, user: &UserId<'_>) -> Result<Vec<DeviceId>, StoreError> {
        const OP: &str = "user_devices";
        let client = self.client(OP).await?;
        let select = client
            .prepare_cached("SELECT device FROM devices WHERE user_id = $1 ORDER BY device")
            .await
            .op(OP)?;
        client
            .query(&select, &[&user.as_str()])
            .await
            .op(OP)?
            .iter()
            .map(|row| device_id(row.try_get(0).op(OP)?, OP))
            .collect()
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
        let client = self.client(OP).await?;
        let upsert = client
            .prepare_cached(
                "INSERT INTO challenges (user_id, device, nonce, expires_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, device, nonce) \
                 DO UPDATE SET expires_at = EXCLUDED.expires_at",
            )
            .await
            .op(OP)?;
        client
            .execute(&upsert, &[&user, &device, &nonce.as_slice(), &expires_at])
            .await
            .op(OP)?;
        Ok(())
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
        let client = self.client(OP).await?;
        let delete = client
            .prepare_cached(
                "DELETE FROM challenges WHERE user_id = $1 AND device = $2 AND nonce = $3 \
                 RETURNING expires_at",
            )
            .await
            .op(OP)?;
        let expires_at: Option<i64> = client
            .query_opt(&delete, &[&user, &device, &nonce.as_slice()])
            .await
            .op(OP)?
            .map(|row| row.try_get(0).op(OP))
            .transpose()?;
        Ok(expires_at.is_some_and(|expires_at| expires_at > now))
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
        let client = self.client(OP).await?;
        let insert = client
            .prepare_cached(
                "INSERT INTO tokens (token_hash, user_id, device, expires_at) \
                 SELECT $1::bytea, $2::text, $3::bigint, $4::bigint \
                 WHERE EXISTS (SELECT 1 FROM devices WHERE user_id = $2 AND device = $3)",
            )
            .await
            .op(OP)?;
        let inserted = client
            .execute(
                &insert,
                &[&token_hash.as_slice(), &user, &device, &expires_at],
            )
            .await
            .op(OP)?;
        if inserted == 0 {
            return Err(StoreError::UnknownDevice);
        }
        Ok(())
    }

    async fn token_owner(
        &self,
        token_hash: [u8; 32],
        now_ms: u64,
    ) -> Result<Option<DeviceAddress<'static>>, StoreError> {
        const OP: &str = "token_owner";
        let now = sql_time(now_ms);
        let client = self.client(OP).await?;
        let select = client
            .prepare_cached(
                "SELECT user_id, device FROM tokens WHERE token_hash = $1 AND expires_at > $2",
            )
            .await
            .op(OP)?;
        client
            .query_opt(&select, &[&token_hash.as_slice(), &now])
            .await
            .op(OP)?
            .map(|row| {
                let user: String = row.try_get(0).op(OP)?;
                let user = UserId::new(user).map_err(|_| corrupt(OP))?;
                Ok(DeviceAddress::new(
                    user,
                    device_id(row.try_get(1).op(OP)?, OP)?,
                ))
            })
            .transpose()
    }

    async fn revoke_tokens(&self, address: &DeviceAddress<'_>) -> Result<u64, StoreError> {
        const OP: &str = "revoke_tokens";
        let (user, device) = key(address);
        let client = self.client(OP).await?;
        let delete = client
            .prepare_cached("DELETE FROM tokens WHERE user_id = $1 AND device = $2")
            .await
            .op(OP)?;
        client.execute(&delete, &[&user, &device]).await.op(OP)
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
        // One row per id, the last one given winning (as a replacement would).
        let one_time: BTreeMap<i64, Vec<u8>> = one_time_prekeys
            .iter()
            .map(|prekey| (i64::from(prekey.id.0), prekey.public_key.0.to_vec()))
            .collect();
        let (ids, keys): (Vec<i64>, Vec<Vec<u8>>) = one_time.into_iter().unzip();

        let mut client = self.client(OP).await?;
        let transaction = client.transaction().await.op(OP)?;
        let exists = transaction
            .prepare_cached("SELECT 1 FROM devices WHERE user_id = $1 AND device = $2")
            .await
            .op(OP)?;
        if transaction
            .query_opt(&exists, &[&user, &device])
            .await
            .op(OP)?
            .is_none()
        {
            return Err(StoreError::UnknownDevice);
        }
        // Uploads of one device queue here, so that two cannot both pass
        // the quota.
        let lock = transaction
            .prepare_cached("SELECT pg_advisory_xact_lock($1)")
            .await
            .op(OP)?;
        transaction
            .execute(&lock, &[&device_lock(PREKEY_LOCK_DOMAIN, address)])
            .await
            .op(OP)?;
        let before = count_one_time(&transaction, &user, device, OP).await?;
        if let Some(signed) = signed_prekey {
            let upsert = transaction
                .prepare_cached(
                    "INSERT INTO signed_prekeys (user_id, device, id, public_key, signature) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, device) DO UPDATE SET \
                     id = EXCLUDED.id, public_key = EXCLUDED.public_key, \
                     signature = EXCLUDED.signature",
                )
                .await
                .op(OP)?;
            transaction
                .execute(
                    &upsert,
                    &[
                        &user,
                        &device,
                        &i64::from(signed.id.0),
                        &signed.public_key.0.as_slice(),
                        &signed.signature.0.as_slice(),
                    ],
                )
                .await
                .op(OP)?;
        }
        if !ids.is_empty() {
            let upsert = transaction
                .prepare_cached(
                    "INSERT INTO one_time_prekeys (user_id, device, id, public_key) \
                     SELECT $1, $2, id, public_key \
                     FROM unnest($3::bigint[], $4::bytea[]) AS given (id, public_key) \
                     ON CONFLICT (user_id, device, id) \
                     DO UPDATE SET public_key = EXCLUDED.public_key",
                )
                .await
                .op(OP)?;
            transaction
                .execute(&upsert, &[&user, &device, &ids, &keys])
                .await
                .op(OP)?;
        }
        let count = count_one_time(&transaction, &user, device, OP).await?;
        // Dropping the transaction rolls all of it back.
        if count > max_pool && count > before {
            return Err(StoreError::PrekeyPoolFull);
        }
        transaction.commit().await.op(OP)?;
        Ok(count)
    }

    async fn take_bundle(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<Option<TakenBundle>, StoreError> {
        const OP: &str = "take_bundle";
        let (user, device) = key(address);
        let client = self.client(OP).await?;
        // One statement: the bundle's parts, and the lowest one-time prekey
        // no one else is taking, deleted (and so returned) only if there is
        // a bundle. `RETURNING` yields the row only to the statement that
        // deleted it.
        let take = client
            .prepare_cached(
                "WITH bundle AS ( \
                     SELECT d.identity, s.id, s.public_key, s.signature \
                     FROM devices d JOIN signed_prekeys s \
                       ON s.user_id = d.user_id AND s.device = d.device \
                     WHERE d.user_id = $1 AND d.device = $2 \
                 ), taken AS ( \
                     DELETE FROM one_time_prekeys \
                     WHERE (user_id, device, id) = ( \
                         SELECT user_id, device, id FROM one_time_prekeys \
                         WHERE user_id = $1 AND device = $2 AND EXISTS (SELECT 1 FROM bundle) \
                         ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
                     RETURNING id, public_key \
                 ) \
                 SELECT b.identity, b.id, b.public_key, b.signature, t.id, t.public_key \
                 FROM bundle b LEFT JOIN taken t ON TRUE",
            )
            .await
            .op(OP)?;
        let Some(row) = client.query_opt(&take, &[&user, &device]).await.op(OP)? else {
            return Ok(None);
        };
        let identity = identity_from_bytes(&row.try_get::<_, Vec<u8>>(0).op(OP)?, OP)?;
        let signed_prekey = SignedPrekey {
            id: prekey_id(row.try_get(1).op(OP)?, OP)?,
            public_key: X25519PublicKey(fixed(&row, 2, OP)?),
            signature: Ed25519Signature(fixed(&row, 3, OP)?),
        };
        let one_time_prekey = match row.try_get::<_, Option<i64>>(4).op(OP)? {
            None => None,
            Some(id) => Some(OneTimePrekey {
                id: prekey_id(id, OP)?,
                public_key: X25519PublicKey(fixed(&row, 5, OP)?),
            }),
        };
        Ok(Some(TakenBundle {
            identity,
            signed_prekey,
            one_time_prekey,
        }))
    }

    async fn one_time_remaining(&self, address: &DeviceAddress<'_>) -> Result<u32, StoreError> {
        const OP: &str = "one_time_remaining";
        let (user, device) = key(address);
        let client = self.client(OP).await?;
        count_one_time(&client, &user, device, OP).await
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
        let locks: Vec<i64> = deliveries
            .iter()
            .map(|delivery| mailbox_lock(&delivery.recipient))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let wake_payloads = self
            .notifier
            .payloads(deliveries.iter().map(|delivery| &delivery.recipient));
        let mut message_ids = Vec::with_capacity(deliveries.len());
        let mut users = Vec::with_capacity(deliveries.len());
        let mut devices = Vec::with_capacity(deliveries.len());
        let mut records = Vec::with_capacity(deliveries.len());
        let mut expiries = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let (user, device) = key(&delivery.recipient);
            message_ids.push(delivery.message_id.0.to_vec());
            users.push(user);
            devices.push(device);
            records.push(delivery.record);
            expiries.push(sql_time(delivery.expires_at_ms));
        }

        let mut client = self.client(OP).await?;
        let transaction = client.transaction().await.op(OP)?;
        // The function scan yields the keys in the array's (ascending) order
        // and takes each lock as it goes.
        let lock = transaction
            .prepare_cached("SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k")
            .await
            .op(OP)?;
        transaction.execute(&lock, &[&locks]).await.op(OP)?;
        // With the mailboxes locked, no other delivery can add to them
        // before this one commits.
        if max_waiting != u64::MAX {
            check_mailbox_quota(&transaction, &users, &devices, max_waiting, OP).await?;
        }
        // Each row's seq: its mailbox's highest so far plus its rank among
        // the batch's rows for that mailbox, in the batch's order.
        let insert = transaction
            .prepare_cached(
                "INSERT INTO mailbox (message_id, user_id, device, record, expires_at, seq) \
                 SELECT m.message_id, m.user_id, m.device, m.record, m.expires_at, \
                   COALESCE((SELECT MAX(x.seq) FROM mailbox x \
                             WHERE x.user_id = m.user_id AND x.device = m.device), 0) \
                   + row_number() OVER (PARTITION BY m.user_id, m.device ORDER BY m.n) \
                 FROM unnest($1::bytea[], $2::text[], $3::bigint[], $4::bytea[], $5::bigint[]) \
                   WITH ORDINALITY AS m (message_id, user_id, device, record, expires_at, n)",
            )
            .await
            .op(OP)?;
        transaction
            .execute(
                &insert,
                &[&message_ids, &users, &devices, &records, &expiries],
            )
            .await
            .map_err(|error| {
                let duplicate = error.as_db_error().is_some_and(|error| {
                    error.code() == &SqlState::UNIQUE_VIOLATION
                        && error.constraint() == Some("mailbox_pkey")
                });
                if duplicate {
                    backend_at(OP, "duplicate message id")
                } else {
                    backend(OP)
                }
            })?;
        // Queued with the transaction: the other nodes hear of it at commit.
        let notify = transaction
            .prepare_cached("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .await
            .op(OP)?;
        transaction
            .execute(&notify, &[&self.notifier.channel(), &wake_payloads])
            .await
            .op(OP)?;
        transaction.commit().await.op(OP)
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
        let client = self.client(OP).await?;
        let select = client
            .prepare_cached(
                "SELECT message_id, record FROM mailbox \
                 WHERE user_id = $1 AND device = $2 AND expires_at > $3 \
                 ORDER BY seq LIMIT $4",
            )
            .await
            .op(OP)?;
        client
            .query(&select, &[&user, &device, &now, &limit])
            .await
            .op(OP)?
            .iter()
            .map(|row| {
                Ok(StoredDelivery {
                    message_id: MessageId(fixed(row, 0, OP)?),
                    record: row.try_get(1).op(OP)?,
                })
            })
            .collect()
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
        let message_ids: Vec<&[u8]> = message_ids.iter().map(|id| id.0.as_slice()).collect();
        let client = self.client(OP).await?;
        let delete = client
            .prepare_cached(
                "DELETE FROM mailbox \
                 WHERE user_id = $1 AND device = $2 AND message_id = ANY($3::bytea[])",
            )
            .await
            .op(OP)?;
        client
            .execute(&delete, &[&user, &device, &message_ids])
            .await
            .op(OP)
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
        transaction.commit().await.op(OP)?;
        Ok(envelopes)
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
        let mut client = self.client(OP).await?;
        let transaction = client.transaction().await.op(OP)?;
        // Challenges of one device are issued one at a time, so that the
        // bound holds across nodes.
        let lock = transaction
            .prepare_cached("SELECT pg_advisory_xact_lock($1)")
            .await
            .op(OP)?;
        transaction
            .execute(&lock, &[&device_lock(CHALLENGE_LOCK_DOMAIN, address)])
            .await
            .op(OP)?;
        let upsert = transaction
            .prepare_cached(
                "INSERT INTO challenges (user_id, device, nonce, expires_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, device, nonce) \
                 DO UPDATE SET expires_at = EXCLUDED.expires_at",
            )
            .await
            .op(OP)?;
        transaction
            .execute(&upsert, &[&user, &device, &nonce.as_slice(), &expires_at])
            .await
            .op(OP)?;
        let trim = transaction
            .prepare_cached(
                "DELETE FROM challenges WHERE user_id = $1 AND device = $2 AND nonce NOT IN ( \
                     SELECT nonce FROM challenges WHERE user_id = $1 AND device = $2 \
                     ORDER BY nonce = $3 DESC, expires_at DESC, nonce DESC LIMIT $4)",
            )
            .await
            .op(OP)?;
        transaction
            .execute(&trim, &[&user, &device, &nonce.as_slice(), &keep])
            .await
            .op(OP)?;
        transaction.commit().await.op(OP)
    }

    async fn put_blob(&self, blob: NewBlob) -> Result<(), StoreError> {
        const OP: &str = "put_blob";
        let expires_at = sql_time(blob.expires_at_ms);
        let blob_id = blob.blob_id.0.as_slice();
        let mut client = self.client(OP).await?;
        let transaction = client.transaction().await.op(OP)?;
        // The bytes are written only if the blob is new; otherwise the row
        // gets the later expiry, which also makes a concurrent sweep that
        // would have deleted it skip it.
        let upsert = transaction
            .prepare_cached(
                "INSERT INTO blobs (blob_id, content, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (blob_id) DO UPDATE SET expires_at = \
                   GREATEST(blobs.expires_at, EXCLUDED.expires_at)",
            )
            .await
            .op(OP)?;
        transaction
            .execute(&upsert, &[&blob_id, &blob.content, &expires_at])
            .await
            .op(OP)?;
        let insert = transaction
            .prepare_cached(
                "INSERT INTO blob_capabilities (capability_hash, blob_id, expires_at) \
                 VALUES ($1, $2, $3)",
            )
            .await
            .op(OP)?;
        transaction
            .execute(
                &insert,
                &[&blob.capability_hash.as_slice(), &blob_id, &expires_at],
            )
            .await
            .map_err(|error| {
                let duplicate = error.as_db_error().is_some_and(|error| {
                    error.code() == &SqlState::UNIQUE_VIOLATION
                        && error.constraint() == Some("blob_capabilities_pkey")
                });
                if duplicate {
                    backend_at(OP, "duplicate capability")
                } else {
                    backend(OP)
                }
            })?;
        transaction.commit().await.op(OP)
    }

    async fn blob(
        &self,
        blob_id: &BlobId,
        capability_hash: [u8; 32],
        now_ms: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        const OP: &str = "blob";
        let now = sql_time(now_ms);
        let client = self.client(OP).await?;
        let select = client
            .prepare_cached(
                "SELECT b.content FROM blob_capabilities c \
                 JOIN blobs b ON b.blob_id = c.blob_id \
                 WHERE c.capability_hash = $1 AND c.blob_id = $2 AND c.expires_at > $3",
            )
            .await
            .op(OP)?;
        client
            .query_opt(
                &select,
                &[&capability_hash.as_slice(), &blob_id.0.as_slice(), &now],
            )
            .await
            .op(OP)?
            .map(|row| row.try_get(0).op(OP))
            .transpose()
    }

    async fn put_report(&self, report: NewReport) -> Result<(), StoreError> {
        const OP: &str = "put_report";
        let (user, device) = key(&report.reporter);
        let client = self.client(OP).await?;
        let insert = client
            .prepare_cached(
                "INSERT INTO reports \
                 (report_id, user_id, device, received_at, expires_at, report) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .await
            .op(OP)?;
        client
            .execute(
                &insert,
                &[
                    &report.report_id.0.as_slice(),
                    &user,
                    &device,
                    &sql_time(report.received_at_ms),
                    &sql_time(report.expires_at_ms),
                    &report.report,
                ],
            )
            .await
            .map_err(|error| {
                if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                    backend_at(OP, "duplicate report id")
                } else {
                    backend(OP)
                }
            })?;
        Ok(())
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
        let mut client = self.client(OP).await?;
        // One snapshot for both steps.
        let transaction = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .op(OP)?;
        // First the lengths (`octet_length` reads a stored value's size
        // without its bytes), so that only the reports that fit are read.
        let lengths = transaction
            .prepare_cached(
                "SELECT report_id, octet_length(report)::bigint FROM reports \
                 WHERE expires_at > $1 ORDER BY received_at, report_id LIMIT $2",
            )
            .await
            .op(OP)?;
        let mut chosen: Vec<Vec<u8>> = Vec::new();
        let mut total = 0usize;
        for row in transaction.query(&lengths, &[&now, &limit]).await.op(OP)? {
            let len: i64 = row.try_get(1).op(OP)?;
            total = total.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
            if !chosen.is_empty() && total > max_bytes {
                break;
            }
            chosen.push(row.try_get(0).op(OP)?);
        }
        let select = transaction
            .prepare_cached(
                "SELECT r.report_id, r.user_id, r.device, r.received_at, r.report \
                 FROM unnest($1::bytea[]) WITH ORDINALITY AS chosen (report_id, n) \
                 JOIN reports r ON r.report_id = chosen.report_id ORDER BY chosen.n",
            )
            .await
            .op(OP)?;
        let rows = transaction.query(&select, &[&chosen]).await.op(OP)?;
        transaction.commit().await.op(OP)?;
        rows.iter()
            .map(|row| {
                let user =
                    UserId::new(row.try_get::<_, String>(1).op(OP)?).map_err(|_| corrupt(OP))?;
                Ok(StoredReport {
                    report_id: ReportId(fixed(row, 0, OP)?),
                    reporter: DeviceAddress::new(user, device_id(row.try_get(2).op(OP)?, OP)?),
                    received_at_ms: u64::try_from(row.try_get::<_, i64>(3).op(OP)?)
                        .map_err(|_| corrupt(OP))?,
                    report: row.try_get(4).op(OP)?,
                })
            })
            .collect()
    }

    async fn ack_reports(&self, report_ids: &[ReportId]) -> Result<u64, StoreError> {
        const OP: &str = "ack_reports";
        if report_ids.is_empty() {
            return Ok(0);
        }
        let report_ids: Vec<&[u8]> = report_ids.iter().map(|id| id.0.as_slice()).collect();
        let client = self.client(OP).await?;
        let delete = client
            .prepare_cached("DELETE FROM reports WHERE report_id = ANY($1::bytea[])")
            .await
            .op(OP)?;
        client.execute(&delete, &[&report_ids]).await.op(OP)
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

/// The advisory lock key of a mailbox: the first 8 bytes of a SHA-256 of the
/// address, the same on every node whatever its build.
fn mailbox_lock(address: &DeviceAddress<'_>) -> i64 {
    device_lock(MAILBOX_LOCK_DOMAIN, address)
}

/// An advisory lock key for `address` in `domain`: the first 8 bytes of a
/// SHA-256 of both.
fn device_lock(domain: &[u8], address: &DeviceAddress<'_>) -> i64 {
    let digest = Sha256::new()
        .chain_update(domain)
        .chain_update(address.device.0.to_be_bytes())
        .chain_update(address.user.as_str().as_bytes())
        .finalize();
    let mut first = [0; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
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

async fn count_one_time(
    client: &impl deadpool_postgres::GenericClient,
    user: &str,
    device: i64,
    name: &'static str,
) -> Result<u32, StoreError> {
    let select = client
        .prepare_cached("SELECT COUNT(*) FROM one_time_prekeys WHERE user_id = $1 AND device = $2")
        .await
        .op(name)?;
    let count: i64 = client
        .query_one(&select, &[&user, &device])
        .await
        .op(name)?
        .try_get(0)
        .op(name)?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

/// Refuses a delivery if any of its recipients' mailboxes (given as the
/// parallel `users` and `devices`, one entry per envelope) would hold more
/// than `max_waiting` envelopes after it.
async fn check_mailbox_quota(
    client: &impl deadpool_postgres::GenericClient,
    users: &[String],
    devices: &[i64],
    max_waiting: u64,
    name: &'static str,
) -> Result<(), StoreError> {
    let count = client
        .prepare_cached(
            "SELECT r.user_id, r.device, COUNT(*) AS adding, \
               (SELECT COUNT(*) FROM mailbox x \
                WHERE x.user_id = r.user_id AND x.device = r.device) AS stored \
             FROM unnest($1::text[], $2::bigint[]) AS r (user_id, device) \
             GROUP BY r.user_id, r.device",
        )
        .await
        .op(name)?;
    for row in client.query(&count, &[&users, &devices]).await.op(name)? {
        let adding: i64 = row.try_get(2).op(name)?;
        let stored: i64 = row.try_get(3).op(name)?;
        let total = u64::try_from(adding.saturating_add(stored)).unwrap_or(u64::MAX);
        if total > max_waiting {
            return Err(StoreError::MailboxFull);
        }
    }
    Ok(())
}
