//! The schema of the local store and its version (`PRAGMA user_version`).

/// The schema version kept in `PRAGMA user_version`: 2 added the answered
/// handshakes, the signed prekey ledger and the trust tags of `peers` and
/// `accounts`; 3 the typed-content columns of `messages` (`spec/client.md`
/// §1.4, §14).
pub(super) const SCHEMA_VERSION: i64 = 3;

pub(super) const SCHEMA: &str = "
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE peers (
    user             TEXT NOT NULL,
    device           INTEGER NOT NULL,
    identity         BLOB NOT NULL,
    pending_identity BLOB,
    first_seen_ms    INTEGER NOT NULL,
    tag              BLOB,
    PRIMARY KEY (user, device)
);
CREATE TABLE sessions (
    user      TEXT NOT NULL,
    device    INTEGER NOT NULL,
    slot      INTEGER NOT NULL,
    state     BLOB NOT NULL,
    last_used INTEGER NOT NULL,
    PRIMARY KEY (user, device, slot)
);
CREATE TABLE messages (
    id             INTEGER PRIMARY KEY,
    conversation   TEXT NOT NULL,
    sender_user    TEXT NOT NULL,
    sender_device  INTEGER NOT NULL,
    message_id     BLOB NOT NULL,
    outgoing       INTEGER NOT NULL,
    content_type   INTEGER NOT NULL,
    body           BLOB NOT NULL,
    sent_at_ms     INTEGER NOT NULL,
    sequence       INTEGER NOT NULL,
    server_time_ms INTEGER,
    status         INTEGER NOT NULL,
    franking       BLOB,
    received_at_ms INTEGER NOT NULL,
    receipt_owed   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (sender_user, sender_device, message_id)
);
CREATE INDEX messages_by_conversation ON messages (conversation, sent_at_ms, sequence);
CREATE INDEX messages_owing_receipts ON messages (receipt_owed) WHERE receipt_owed != 0;
CREATE TABLE receipts (
    message   INTEGER NOT NULL REFERENCES messages (id),
    user      TEXT NOT NULL,
    device    INTEGER NOT NULL,
    kind      INTEGER NOT NULL,
    at_ms     INTEGER NOT NULL,
    PRIMARY KEY (message, user, device, kind)
);
CREATE TABLE processed (
    server_message_id BLOB PRIMARY KEY,
    at_ms             INTEGER NOT NULL
);
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY,
    message    INTEGER REFERENCES messages (id),
    batch      BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE quarantine (
    server_message_id BLOB PRIMARY KEY,
    sender_user       TEXT NOT NULL,
    sender_device     INTEGER NOT NULL,
    record            BLOB NOT NULL,
    at_ms             INTEGER NOT NULL
);
";

/// The tables schema version 2 added: made with [`SCHEMA`] in a new store,
/// and by the migration from version 1.
pub(super) const SCHEMA_V2_TABLES: &str = "
CREATE TABLE IF NOT EXISTS answered_handshakes (
    signed_prekey_id INTEGER NOT NULL,
    base_key         BLOB NOT NULL,
    at_ms            INTEGER NOT NULL,
    PRIMARY KEY (signed_prekey_id, base_key)
);
CREATE TABLE IF NOT EXISTS signed_prekey_ids (
    id    INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL
);
";

/// The columns and indexes schema version 3 added to `messages` for typed
/// content (`spec/client.md` §14): the type's name, the message a built-in
/// type aims at (its author's user and id), whether the row is shown as a
/// message of its own, whether its author deleted it for everyone, the
/// timer a `fuin.timer` row sets, and when a disappearing message goes.
/// Made by [`super::Store::create`] and by the migration from version 2.
pub(super) const SCHEMA_V3_COLUMNS: &str = "
ALTER TABLE messages ADD COLUMN type_name TEXT;
ALTER TABLE messages ADD COLUMN target_user TEXT;
ALTER TABLE messages ADD COLUMN target_id BLOB;
ALTER TABLE messages ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN timer_seconds INTEGER;
ALTER TABLE messages ADD COLUMN expires_at_ms INTEGER;
CREATE INDEX messages_by_target ON messages (conversation, target_user, target_id)
    WHERE target_id IS NOT NULL;
CREATE INDEX messages_expiring ON messages (expires_at_ms) WHERE expires_at_ms IS NOT NULL;
CREATE INDEX messages_timers ON messages (conversation, sent_at_ms)
    WHERE timer_seconds IS NOT NULL;
";
