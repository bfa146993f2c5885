//! The PostgreSQL schema and its version (`moderation_schema`).
//!
//! Every table and index is prefixed `moderation_`, so that one database
//! (even one schema) can hold the relay's tables and these side by side.

use tokio_postgres::Client;

use crate::store::StoreError;

/// The schema version this service writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// A key of `pg_advisory_xact_lock` held while the schema is checked or
/// made, so that instances starting together do not race to create it
/// ("fuinmod" in ASCII).
const SCHEMA_LOCK: i64 = 0x0066_7569_6e6d_6f64;

/// The tables of version 1. Times are ms since the Unix epoch (clamped to
/// `i64::MAX`); sealed values are `bytea`, stored as given.
const SCHEMA: &str = "
CREATE TABLE moderation_accounts (
    name            TEXT PRIMARY KEY,
    role            TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    failed_logins   BIGINT NOT NULL DEFAULT 0,
    locked_until_ms BIGINT,
    created_at_ms   BIGINT NOT NULL
);
CREATE TABLE moderation_sessions (
    token_hash    BYTEA PRIMARY KEY,
    account       TEXT NOT NULL REFERENCES moderation_accounts(name) ON DELETE CASCADE,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE TABLE moderation_cases (
    id                  TEXT PRIMARY KEY,
    status              TEXT NOT NULL,
    assignee            TEXT,
    reporter            TEXT NOT NULL,
    reporter_user       TEXT NOT NULL,
    reported_user       TEXT,
    kind                TEXT NOT NULL,
    group_id            TEXT,
    reason              BYTEA NOT NULL,
    created_at_ms       BIGINT NOT NULL,
    received_at_ms      BIGINT NOT NULL,
    opened_at_ms        BIGINT NOT NULL,
    post_quantum        BOOLEAN NOT NULL,
    verified            BIGINT NOT NULL,
    duplicates          BIGINT NOT NULL,
    rejected            BIGINT NOT NULL,
    outcome             TEXT,
    feedback_sent_at_ms BIGINT
);
CREATE INDEX moderation_cases_by_received ON moderation_cases (received_at_ms DESC, id DESC);
CREATE TABLE moderation_messages (
    case_id        TEXT NOT NULL REFERENCES moderation_cases(id),
    idx            BIGINT NOT NULL,
    sender         TEXT NOT NULL,
    recipient      TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    text           BYTEA NOT NULL,
    commitment     TEXT NOT NULL,
    server_time_ms BIGINT NOT NULL,
    verdict        TEXT NOT NULL,
    rejection      TEXT NOT NULL,
    att_status     TEXT,
    att_media_type TEXT,
    att_file_name  BYTEA,
    att_bytes      BYTEA,
    att_size       BIGINT,
    PRIMARY KEY (case_id, idx)
);
CREATE TABLE moderation_counted (
    reporter_user TEXT NOT NULL,
    commitment    TEXT NOT NULL,
    case_id       TEXT NOT NULL REFERENCES moderation_cases(id),
    PRIMARY KEY (reporter_user, commitment)
);
CREATE TABLE moderation_notes (
    id      BIGSERIAL PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES moderation_cases(id),
    author  TEXT NOT NULL,
    at_ms   BIGINT NOT NULL,
    text    BYTEA NOT NULL,
    UNIQUE (case_id, author, at_ms)
);
CREATE INDEX moderation_notes_by_case ON moderation_notes (case_id, id);
CREATE TABLE moderation_actions (
    id      BIGSERIAL PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES moderation_cases(id),
    by_name TEXT NOT NULL,
    at_ms   BIGINT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    result  TEXT NOT NULL
);
CREATE INDEX moderation_actions_by_case ON moderation_actions (case_id, id);
CREATE TABLE moderation_audit (
    seq     BIGINT PRIMARY KEY,
    time_ms BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    case_id TEXT NOT NULL,
    detail  TEXT NOT NULL,
    prev    BYTEA NOT NULL,
    hash    BYTEA NOT NULL
);
CREATE INDEX moderation_audit_by_case ON moderation_audit (case_id, seq);
-- The chain's head: one row, locked (FOR UPDATE) by every transaction that
-- appends, so that instances sharing the database append one at a time.
CREATE TABLE moderation_audit_head (
    one  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    seq  BIGINT NOT NULL,
    hash BYTEA NOT NULL
);
INSERT INTO moderation_audit_head (one, seq, hash) VALUES (TRUE, 0, '\\x');
";

/// Creates the schema when missing, or checks the version of an existing
/// one (a newer one is refused: this service would misread it).
pub async fn prepare(client: &mut Client) -> Result<(), StoreError> {
    let open = |stage: &str| StoreError::Backend(format!("connect: {stage}"));
    let tx = client
        .transaction()
        .await
        .map_err(|_| open("begin the schema check"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await
        .map_err(|_| open("lock the schema"))?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS moderation_schema (version BIGINT NOT NULL)")
        .await
        .map_err(|_| open("create the schema's version"))?;
    let version: Option<i64> = tx
        .query_opt("SELECT max(version) FROM moderation_schema", &[])
        .await
        .map_err(|_| open("read the schema version"))?
        .and_then(|row| row.get(0));
    match version {
        Some(version) if version > SCHEMA_VERSION => {
            return Err(StoreError::Backend(format!(
                "connect: the database has moderation schema version {version}, newer than \
                 this service's {SCHEMA_VERSION} (it was written by a newer fuin-moderation)"
            )));
        }
        Some(_) => {}
        None => {
            tx.batch_execute(SCHEMA)
                .await
                .map_err(|_| open("create the schema"))?;
            tx.execute(
                "INSERT INTO moderation_schema (version) VALUES ($1)",
                &[&SCHEMA_VERSION],
            )
            .await
            .map_err(|_| open("write the schema version"))?;
        }
    }
    tx.commit().await.map_err(|_| open("commit the schema"))
}
