//! The PostgreSQL store's schema, and bringing a database up to it.

use deadpool_postgres::Object;

use super::locks::SCHEMA_LOCK;
use super::notify::{self, WakeKey};
use super::{Op, backend_at};
use crate::store::StoreError;

/// The schema version kept in `fuin_schema`. Version 2 added the blob and
/// report tables, version 3 accounts, invites and link messages, version 4
/// a blob's `length` (its bytes moved to the blob store; `content` is
/// empty, or holds the bytes of an older relay's blob until a relay moves
/// them); an older database gains them when a relay connects.
const SCHEMA_VERSION: i64 = 4;

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
ALTER TABLE blobs ADD COLUMN IF NOT EXISTS length BIGINT;
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
CREATE TABLE IF NOT EXISTS accounts (
    user_id     TEXT   NOT NULL PRIMARY KEY,
    account_key BYTEA  NOT NULL,
    version     BIGINT NOT NULL,
    list        BYTEA  NOT NULL
);
CREATE TABLE IF NOT EXISTS invites (
    code_hash BYTEA NOT NULL PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS link_messages (
    channel    BYTEA    NOT NULL,
    slot       SMALLINT NOT NULL,
    message    BYTEA    NOT NULL,
    expires_at BIGINT   NOT NULL,
    PRIMARY KEY (channel, slot)
);
CREATE INDEX IF NOT EXISTS link_messages_expiry ON link_messages (expires_at);
";

/// Creates what is missing, under the schema lock, checks that the database
/// is not from a newer relay and records the schema version; returns the
/// database's wake key.
pub(super) async fn migrate(client: &mut Object) -> Result<WakeKey, StoreError> {
    const OP: &str = "connect";
    let transaction = client.transaction().await.op(OP)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await
        .op(OP)?;
    // A database already at this version gets no DDL at all: even a
    // `CREATE INDEX IF NOT EXISTS` locks its table, which deadlocks with the
    // expiry sweep of a relay that started a moment earlier.
    let current: Option<i64> = match transaction
        .query_opt("SELECT to_regclass('fuin_schema') IS NOT NULL", &[])
        .await
        .op(OP)?
        .map(|row| row.try_get::<_, bool>(0))
        .transpose()
        .op(OP)?
    {
        Some(true) => transaction
            .query_opt("SELECT version FROM fuin_schema", &[])
            .await
            .op(OP)?
            .map(|row| row.try_get(0))
            .transpose()
            .op(OP)?,
        _ => None,
    };
    if current != Some(SCHEMA_VERSION) {
        transaction.batch_execute(SCHEMA).await.op(OP)?;
        transaction.batch_execute(notify::KEY_SCHEMA).await.op(OP)?;
    }
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
    Ok(wake_key)
}
