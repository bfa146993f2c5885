//! The SQLite store's schema, and bringing a database up to it.

use rusqlite::{Connection, params};

use super::{Op, open_failure};
use crate::store::integrity::{device_checksum, mailbox_checksum, report_checksum};
use crate::store::{OpenFailure, StoreError};

/// The schema version kept in `PRAGMA user_version`. Version 2 added the
/// blob and report tables, version 3 accounts, invites and link messages,
/// version 4 the checksums of devices, envelopes and reports, envelope sizes, the quarantine and
/// `relay_meta`, version 5 suspended users and the audit log of admin
/// actions, version 6 a blob's `length` (its bytes moved to the blob
/// store: `content` is empty, or holds an older relay's blob until the relay
/// moves it), version 7 the last-resort and one-time KEM prekeys (a device
/// from before has none until it publishes them); an older database gains them on opening (its devices stay
/// registered, without a list, until their user publishes one; its
/// envelopes and reports get their checksums then).
const SCHEMA_VERSION: i64 = 7;

/// The tables each schema version has, so that a database whose version
/// says it has a table it lacks is refused rather than silently recreated.
const TABLES_BY_VERSION: &[(i64, &[&str])] = &[
    (
        1,
        &[
            "devices",
            "signed_prekeys",
            "one_time_prekeys",
            "challenges",
            "tokens",
            "mailbox",
        ],
    ),
    (2, &["blobs", "blob_capabilities", "reports"]),
    (3, &["accounts", "invites", "link_messages"]),
    (4, &["quarantine", "relay_meta"]),
    (5, &["suspended_users", "admin_actions"]),
    (7, &["last_resort_kem_prekeys", "one_time_kem_prekeys"]),
];

/// Each envelope's record length, kept beside it so that the byte quota
/// sums an index (as the envelope count counts one) instead of reading
/// every row of the mailbox. Run after `size` exists.
const MAILBOX_SIZES: &str = "
UPDATE mailbox SET size = length(record) WHERE size IS NULL;
CREATE INDEX IF NOT EXISTS mailbox_size ON mailbox (user, device, size);
";

/// How many rows a migration gives checksums at a time.
const BACKFILL_BATCH: i64 = 1000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS devices (
    user          TEXT    NOT NULL,
    device        INTEGER NOT NULL,
    identity      BLOB    NOT NULL,
    registered_at INTEGER NOT NULL,
    checksum      BLOB,
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
CREATE TABLE IF NOT EXISTS last_resort_kem_prekeys (
    user       TEXT    NOT NULL,
    device     INTEGER NOT NULL,
    id         INTEGER NOT NULL,
    public_key BLOB    NOT NULL,
    signature  BLOB    NOT NULL,
    PRIMARY KEY (user, device),
    FOREIGN KEY (user, device) REFERENCES devices (user, device) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS one_time_kem_prekeys (
    user       TEXT    NOT NULL,
    device     INTEGER NOT NULL,
    id         INTEGER NOT NULL,
    public_key BLOB    NOT NULL,
    signature  BLOB    NOT NULL,
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
    seq        INTEGER NOT NULL,
    checksum   BLOB,
    size       INTEGER
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
    report      BLOB    NOT NULL,
    checksum    BLOB
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
CREATE TABLE IF NOT EXISTS quarantine (
    id             INTEGER PRIMARY KEY,
    kind           TEXT    NOT NULL,
    record_key     BLOB    NOT NULL,
    content        BLOB    NOT NULL,
    expires_at     INTEGER NOT NULL,
    quarantined_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS quarantine_expiry ON quarantine (expires_at);
CREATE TABLE IF NOT EXISTS relay_meta (
    name  TEXT NOT NULL PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS suspended_users (
    user         TEXT    NOT NULL PRIMARY KEY,
    suspended_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS admin_actions (
    id      INTEGER NOT NULL PRIMARY KEY,
    at      INTEGER NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    outcome TEXT    NOT NULL
);
";

/// Checks that the database is a relay's, not from a newer relay, and has
/// the tables its version says; then, in one transaction, creates what is
/// missing, gives old envelopes and reports their checksums and records the
/// schema version. Returns whether the database was new (no relay schema).
pub(super) fn migrate(conn: &Connection) -> Result<bool, StoreError> {
    const OP: &str = "open";
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(open_failure)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Open(OpenFailure::NewerSchema));
    }
    let tables = table_names(conn)?;
    // Version 0 with only relay tables is a relay's first start cut short
    // before it recorded the version (earlier relays did not create the
    // schema in one transaction): the migration completes it.
    let ours = |table: &String| {
        TABLES_BY_VERSION
            .iter()
            .any(|(_, names)| names.contains(&table.as_str()))
    };
    if version == 0 && !tables.iter().all(ours) {
        return Err(StoreError::Open(OpenFailure::ForeignDatabase));
    }
    let expected = TABLES_BY_VERSION
        .iter()
        .filter(|(since, _)| *since <= version)
        .flat_map(|(_, names)| names.iter());
    for name in expected {
        if !tables.iter().any(|table| table == name) {
            return Err(StoreError::Open(OpenFailure::MissingTables));
        }
    }
    if version == SCHEMA_VERSION {
        return Ok(false);
    }
    let transaction = conn.unchecked_transaction().map_err(open_failure)?;
    transaction.execute_batch(SCHEMA).map_err(open_failure)?;
    for (table, column, kind) in [
        ("devices", "checksum", "BLOB"),
        ("mailbox", "checksum", "BLOB"),
        ("reports", "checksum", "BLOB"),
        ("mailbox", "size", "INTEGER"),
        ("blobs", "length", "INTEGER"),
    ] {
        if !has_column(&transaction, table, column)? {
            transaction
                .execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))
                .op(OP)?;
        }
    }
    transaction.execute_batch(MAILBOX_SIZES).op(OP)?;
    backfill_checksums(&transaction)?;
    transaction
        .pragma_update(None, "user_version", SCHEMA_VERSION)
        .op(OP)?;
    transaction.commit().map_err(open_failure)?;
    Ok(version == 0 && tables.is_empty())
}

fn table_names(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut statement = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .map_err(open_failure)?;
    let names = statement
        .query_map([], |row| row.get(0))
        .map_err(open_failure)?
        .collect::<Result<Vec<String>, _>>()
        .map_err(open_failure)?;
    Ok(names)
}

fn has_column(conn: &Connection, table: &str, column: &str) -> Result<bool, StoreError> {
    const OP: &str = "open";
    let mut statement = conn
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
        .op(OP)?;
    let names = statement
        .query_map([], |row| row.get::<_, String>(0))
        .op(OP)?
        .collect::<Result<Vec<_>, _>>()
        .op(OP)?;
    Ok(names.iter().any(|name| name == column))
}

/// A report's id, reporter, time of receipt and bytes.
type ReportRow = (Vec<u8>, String, i64, i64, Vec<u8>);

/// Gives every envelope and report without a checksum its checksum, a batch
/// at a time (rows are trusted as they are at migration time).
fn backfill_checksums(conn: &Connection) -> Result<(), StoreError> {
    const OP: &str = "open: checksums";
    loop {
        let rows: Vec<(String, i64, Vec<u8>)> = conn
            .prepare_cached(
                "SELECT user, device, identity FROM devices WHERE checksum IS NULL LIMIT ?1",
            )
            .op(OP)?
            .query_map(params![BACKFILL_BATCH], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .op(OP)?
            .collect::<Result<_, _>>()
            .op(OP)?;
        if rows.is_empty() {
            break;
        }
        let mut update = conn
            .prepare_cached("UPDATE devices SET checksum = ?3 WHERE user = ?1 AND device = ?2")
            .op(OP)?;
        for (user, device, identity) in rows {
            let checksum = device_checksum(&user, device, &identity);
            update.execute(params![user, device, checksum]).op(OP)?;
        }
    }
    loop {
        let rows: Vec<(Vec<u8>, String, i64, Vec<u8>)> = conn
            .prepare_cached(
                "SELECT message_id, user, device, record FROM mailbox \
                 WHERE checksum IS NULL LIMIT ?1",
            )
            .op(OP)?
            .query_map(params![BACKFILL_BATCH], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .op(OP)?
            .collect::<Result<_, _>>()
            .op(OP)?;
        if rows.is_empty() {
            break;
        }
        let mut update = conn
            .prepare_cached("UPDATE mailbox SET checksum = ?2 WHERE message_id = ?1")
            .op(OP)?;
        for (message_id, user, device, record) in rows {
            let checksum = mailbox_checksum(&message_id, &user, device, &record);
            update.execute(params![message_id, checksum]).op(OP)?;
        }
    }
    loop {
        let rows: Vec<ReportRow> = conn
            .prepare_cached(
                "SELECT report_id, user, device, received_at, report FROM reports \
                 WHERE checksum IS NULL LIMIT ?1",
            )
            .op(OP)?
            .query_map(params![BACKFILL_BATCH], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })
            .op(OP)?
            .collect::<Result<_, _>>()
            .op(OP)?;
        if rows.is_empty() {
            break;
        }
        let mut update = conn
            .prepare_cached("UPDATE reports SET checksum = ?2 WHERE report_id = ?1")
            .op(OP)?;
        for (report_id, user, device, received_at, report) in rows {
            let checksum = report_checksum(&report_id, &user, device, received_at, &report);
            update.execute(params![report_id, checksum]).op(OP)?;
        }
    }
    Ok(())
}
