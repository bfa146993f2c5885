//! The PostgreSQL store's schema, and bringing a database up to it.

use deadpool_postgres::{Object, Transaction};

use super::Op;
use super::locks::SCHEMA_LOCK;
use super::notify::{self, WakeKey};
use crate::store::integrity::{device_checksum, mailbox_checksum, report_checksum};
use crate::store::{OpenFailure, StoreError};

/// The schema version kept in `fuin_schema`. Version 2 added the blob and
/// report tables, version 3 accounts, invites and link messages, version 4
/// the checksums of devices, envelopes and reports, envelope sizes, the quarantine and `relay_meta`,
/// version 5 suspended users and the audit log of admin actions, version 6 a
/// blob's `length` (its bytes moved to the blob store: `content` is empty, or
/// holds an older relay's blob until a relay moves it), version 7 the
/// last-resort and one-time KEM prekeys (a device from before has none until
/// it publishes them); an older database gains them when a relay connects (its envelopes and
/// reports get their checksums then).
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

/// How many rows a migration gives checksums at a time.
const BACKFILL_BATCH: i64 = 1000;

/// What a database from before version 4 gains besides new tables: the
/// checksum columns, and each envelope's record length with an index that
/// covers it (so the byte quota sums an index, not the rows).
const CHECKSUM_COLUMNS: &str = "
ALTER TABLE devices ADD COLUMN IF NOT EXISTS checksum BYTEA;
ALTER TABLE mailbox ADD COLUMN IF NOT EXISTS checksum BYTEA;
ALTER TABLE reports ADD COLUMN IF NOT EXISTS checksum BYTEA;
ALTER TABLE mailbox ADD COLUMN IF NOT EXISTS size BIGINT;
UPDATE mailbox SET size = octet_length(record) WHERE size IS NULL;
CREATE INDEX IF NOT EXISTS mailbox_size ON mailbox (user_id, device) INCLUDE (size);
";

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
    checksum      BYTEA,
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
CREATE TABLE IF NOT EXISTS last_resort_kem_prekeys (
    user_id    TEXT   NOT NULL,
    device     BIGINT NOT NULL,
    id         BIGINT NOT NULL,
    public_key BYTEA  NOT NULL,
    signature  BYTEA  NOT NULL,
    PRIMARY KEY (user_id, device),
    FOREIGN KEY (user_id, device) REFERENCES devices (user_id, device) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS one_time_kem_prekeys (
    user_id    TEXT   NOT NULL,
    device     BIGINT NOT NULL,
    id         BIGINT NOT NULL,
    public_key BYTEA  NOT NULL,
    signature  BYTEA  NOT NULL,
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
    seq        BIGINT NOT NULL,
    checksum   BYTEA,
    size       BIGINT
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
    report      BYTEA  NOT NULL,
    checksum    BYTEA
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
CREATE TABLE IF NOT EXISTS quarantine (
    id             BIGSERIAL PRIMARY KEY,
    kind           TEXT   NOT NULL,
    record_key     BYTEA  NOT NULL,
    content        BYTEA  NOT NULL,
    expires_at     BIGINT NOT NULL,
    quarantined_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS quarantine_expiry ON quarantine (expires_at);
CREATE TABLE IF NOT EXISTS relay_meta (
    name  TEXT  NOT NULL PRIMARY KEY,
    value BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS suspended_users (
    user_id      TEXT   NOT NULL PRIMARY KEY,
    suspended_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS admin_actions (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      BIGINT NOT NULL,
    action  TEXT   NOT NULL,
    target  TEXT   NOT NULL,
    outcome TEXT   NOT NULL
);
";

/// Creates what is missing, under the schema lock, checks that the database
/// is not from a newer relay, is a relay's and has the tables its version
/// says, gives old envelopes and reports their checksums and records the
/// schema version; returns the database's wake key and whether it was new
/// (held no relay schema).
pub(super) async fn migrate(client: &mut Object) -> Result<(WakeKey, bool), StoreError> {
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
    let present: Vec<String> = transaction
        .query(
            "SELECT c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema()",
            &[],
        )
        .await
        .op(OP)?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()
        .op(OP)?;
    match current {
        Some(version) if version > SCHEMA_VERSION => {
            return Err(StoreError::Open(OpenFailure::NewerSchema));
        }
        Some(version) => {
            let expected = TABLES_BY_VERSION
                .iter()
                .filter(|(since, _)| *since <= version)
                .flat_map(|(_, names)| names.iter());
            for name in expected {
                if !present.iter().any(|table| table == name) {
                    return Err(StoreError::Open(OpenFailure::MissingTables));
                }
            }
        }
        // Relay tables without the version table: not a database a relay
        // made (or one damaged by hand).
        None if TABLES_BY_VERSION
            .iter()
            .flat_map(|(_, names)| names.iter())
            .any(|name| present.iter().any(|table| table == name)) =>
        {
            return Err(StoreError::Open(OpenFailure::ForeignDatabase));
        }
        None => {}
    }
    if current != Some(SCHEMA_VERSION) {
        transaction.batch_execute(SCHEMA).await.op(OP)?;
        transaction.batch_execute(CHECKSUM_COLUMNS).await.op(OP)?;
        transaction.batch_execute(notify::KEY_SCHEMA).await.op(OP)?;
        backfill_checksums(&transaction).await?;
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
        return Err(StoreError::Open(OpenFailure::NewerSchema));
    }
    transaction
        .execute(
            "UPDATE fuin_schema SET version = $1 WHERE version < $1",
            &[&SCHEMA_VERSION],
        )
        .await
        .op(OP)?;
    transaction.commit().await.op(OP)?;
    Ok((wake_key, current.is_none()))
}

/// Gives every envelope and report without a checksum its checksum, a batch
/// at a time (rows are trusted as they are at migration time).
async fn backfill_checksums(transaction: &Transaction<'_>) -> Result<(), StoreError> {
    const OP: &str = "connect: checksums";
    loop {
        let rows = transaction
            .query(
                "SELECT user_id, device, identity FROM devices WHERE checksum IS NULL LIMIT $1",
                &[&BACKFILL_BATCH],
            )
            .await
            .op(OP)?;
        if rows.is_empty() {
            break;
        }
        let mut users = Vec::with_capacity(rows.len());
        let mut devices = Vec::with_capacity(rows.len());
        let mut checksums = Vec::with_capacity(rows.len());
        for row in &rows {
            let user: String = row.try_get(0).op(OP)?;
            let device: i64 = row.try_get(1).op(OP)?;
            let identity: Vec<u8> = row.try_get(2).op(OP)?;
            checksums.push(device_checksum(&user, device, &identity).to_vec());
            users.push(user);
            devices.push(device);
        }
        transaction
            .execute(
                "UPDATE devices d SET checksum = c.checksum \
                 FROM unnest($1::text[], $2::bigint[], $3::bytea[]) AS c (user_id, device, checksum) \
                 WHERE d.user_id = c.user_id AND d.device = c.device",
                &[&users, &devices, &checksums],
            )
            .await
            .op(OP)?;
    }
    loop {
        let rows = transaction
            .query(
                "SELECT message_id, user_id, device, record FROM mailbox \
                 WHERE checksum IS NULL LIMIT $1",
                &[&BACKFILL_BATCH],
            )
            .await
            .op(OP)?;
        if rows.is_empty() {
            break;
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut checksums = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: Vec<u8> = row.try_get(0).op(OP)?;
            let user: String = row.try_get(1).op(OP)?;
            let device: i64 = row.try_get(2).op(OP)?;
            let record: Vec<u8> = row.try_get(3).op(OP)?;
            checksums.push(mailbox_checksum(&id, &user, device, &record).to_vec());
            ids.push(id);
        }
        transaction
            .execute(
                "UPDATE mailbox m SET checksum = c.checksum \
                 FROM unnest($1::bytea[], $2::bytea[]) AS c (message_id, checksum) \
                 WHERE m.message_id = c.message_id",
                &[&ids, &checksums],
            )
            .await
            .op(OP)?;
    }
    loop {
        let rows = transaction
            .query(
                "SELECT report_id, user_id, device, received_at, report FROM reports \
                 WHERE checksum IS NULL LIMIT $1",
                &[&BACKFILL_BATCH],
            )
            .await
            .op(OP)?;
        if rows.is_empty() {
            break;
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut checksums = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: Vec<u8> = row.try_get(0).op(OP)?;
            let user: String = row.try_get(1).op(OP)?;
            let device: i64 = row.try_get(2).op(OP)?;
            let received_at: i64 = row.try_get(3).op(OP)?;
            let report: Vec<u8> = row.try_get(4).op(OP)?;
            checksums.push(report_checksum(&id, &user, device, received_at, &report).to_vec());
            ids.push(id);
        }
        transaction
            .execute(
                "UPDATE reports r SET checksum = c.checksum \
                 FROM unnest($1::bytea[], $2::bytea[]) AS c (report_id, checksum) \
                 WHERE r.report_id = c.report_id",
                &[&ids, &checksums],
            )
            .await
            .op(OP)?;
    }
    Ok(())
}
