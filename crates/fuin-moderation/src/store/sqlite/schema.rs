//! The SQLite schema and its version (`PRAGMA user_version`).

use rusqlite::Connection;

use crate::store::StoreError;

/// The schema version this service writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// The tables of version 1. Times are ms since the Unix epoch (clamped to
/// `i64::MAX`); sealed values are blobs, stored as given.
const SCHEMA: &str = "
CREATE TABLE accounts (
    name            TEXT PRIMARY KEY,
    role            TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    locked_until_ms INTEGER,
    created_at_ms   INTEGER NOT NULL
);
CREATE TABLE sessions (
    token_hash    BLOB PRIMARY KEY,
    account       TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE TABLE cases (
    id                  TEXT PRIMARY KEY,
    status              TEXT NOT NULL,
    assignee            TEXT,
    reporter            TEXT NOT NULL,
    reporter_user       TEXT NOT NULL,
    reported_user       TEXT,
    kind                TEXT NOT NULL,
    group_id            TEXT,
    reason              BLOB NOT NULL,
    created_at_ms       INTEGER NOT NULL,
    received_at_ms      INTEGER NOT NULL,
    opened_at_ms        INTEGER NOT NULL,
    post_quantum        INTEGER NOT NULL,
    verified            INTEGER NOT NULL,
    duplicates          INTEGER NOT NULL,
    rejected            INTEGER NOT NULL,
    outcome             TEXT,
    feedback_sent_at_ms INTEGER
);
CREATE INDEX cases_by_received ON cases (received_at_ms DESC, id DESC);
CREATE TABLE messages (
    case_id          TEXT NOT NULL REFERENCES cases(id),
    idx              INTEGER NOT NULL,
    sender           TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    text             BLOB NOT NULL,
    commitment       TEXT NOT NULL,
    server_time_ms   INTEGER NOT NULL,
    verdict          TEXT NOT NULL,
    rejection        TEXT NOT NULL,
    att_status       TEXT,
    att_media_type   TEXT,
    att_file_name    BLOB,
    att_bytes        BLOB,
    att_size         INTEGER,
    PRIMARY KEY (case_id, idx)
);
CREATE TABLE counted (
    reporter_user TEXT NOT NULL,
    commitment    TEXT NOT NULL,
    case_id       TEXT NOT NULL REFERENCES cases(id),
    PRIMARY KEY (reporter_user, commitment)
);
CREATE TABLE notes (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id TEXT NOT NULL REFERENCES cases(id),
    author  TEXT NOT NULL,
    at_ms   INTEGER NOT NULL,
    text    BLOB NOT NULL,
    UNIQUE (case_id, author, at_ms)
);
CREATE INDEX notes_by_case ON notes (case_id, id);
CREATE TABLE actions (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id TEXT NOT NULL REFERENCES cases(id),
    by_name TEXT NOT NULL,
    at_ms   INTEGER NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    result  TEXT NOT NULL
);
CREATE INDEX actions_by_case ON actions (case_id, id);
CREATE TABLE audit (
    seq     INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    case_id TEXT NOT NULL,
    detail  TEXT NOT NULL,
    prev    BLOB NOT NULL,
    hash    BLOB NOT NULL
);
CREATE INDEX audit_by_case ON audit (case_id, seq);
";

/// Creates the schema in an empty database, or checks the version of an
/// existing one (a newer one is refused: this service would misread it).
pub fn prepare(conn: &mut Connection) -> Result<(), StoreError> {
    let open = |stage: &str| StoreError::Backend(format!("open: {stage}"));
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|_| open("lock the database"))?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|_| open("read the schema version"))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "open: the database has schema version {version}, newer than this service's \
             {SCHEMA_VERSION} (it was written by a newer fuin-moderation)"
        )));
    }
    if version == 0 {
        let tables: i64 = tx
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |row| row.get(0),
            )
            .map_err(|_| open("read the tables"))?;
        if tables != 0 {
            return Err(open(
                "the file holds another database (tables without a moderation schema version)",
            ));
        }
        tx.execute_batch(SCHEMA)
            .map_err(|_| open("create the schema"))?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(|_| open("write the schema version"))?;
    }
    tx.commit().map_err(|_| open("commit the schema"))
}
