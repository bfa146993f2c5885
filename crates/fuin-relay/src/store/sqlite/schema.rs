//! The SQLite store's schema, and bringing a database up to it.

use rusqlite::Connection;

use super::{Op, backend_at};
use crate::store::StoreError;

/// The schema version kept in `PRAGMA user_version`. Version 2 added the
/// blob and report tables, version 3 accounts, invites and link messages,
/// version 4 a blob's `length` (its bytes moved to the blob store; `content`
/// is empty, or holds the bytes of an older relay's blob until the relay
/// moves them); an older database gains them on opening (its devices stay
/// registered, without a list, until their user publishes one).
const SCHEMA_VERSION: i64 = 4;

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
    expires_at INTEGER NOT NULL,
    length     INTEGER
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
CREATE TABLE IF NOT EXISTS accounts (
    user        TEXT    NOT NULL PRIMARY KEY,
    account_key BLOB    NOT NULL,
    version     INTEGER NOT NULL,
    list        BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS invites (
    code_hash BLOB NOT NULL PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS link_messages (
    channel    BLOB    NOT NULL,
    slot       INTEGER NOT NULL,
    message    BLOB    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (channel, slot)
);
CREATE INDEX IF NOT EXISTS link_messages_expiry ON link_messages (expires_at);
";

/// Checks that the database is not from a newer relay, then creates what
/// is missing and records the schema version.
pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    const OP: &str = "open";
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .op(OP)?;
    if version > SCHEMA_VERSION {
        return Err(backend_at(OP, "database from a newer relay"));
    }
    conn.execute_batch(SCHEMA).op(OP)?;
    add_blob_length(conn)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)
        .op(OP)?;
    Ok(())
}

/// Gives a blob table from before version 4 its `length` column: NULL for
/// the blobs whose bytes are still in `content`.
fn add_blob_length(conn: &Connection) -> Result<(), StoreError> {
    const OP: &str = "open";
    let has_length: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('blobs') WHERE name = 'length'")
        .op(OP)?
        .exists([])
        .op(OP)?;
    if !has_length {
        conn.execute_batch("ALTER TABLE blobs ADD COLUMN length INTEGER")
            .op(OP)?;
    }
    Ok(())
}
