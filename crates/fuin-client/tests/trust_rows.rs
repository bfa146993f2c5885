//! The rows that decide whom a device trusts (peer identities, account keys
//! and device lists, pending changes) carry a tag made with the storage key:
//! write access to the store file alone cannot change who a user is. Each
//! test edits a row with plain SQLite, shows the client refuses it with a
//! storage error naming the row, and that putting the row back heals it
//! (`spec/client.md` §1.3).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{Devices, NO_WAIT, TestRelay};
use fuin_client::{Client, ClientError, ClientOptions};

fn open_db(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

fn assert_refused<T: std::fmt::Debug>(result: Result<T, ClientError>, names: &str) {
    match result {
        Err(ClientError::Storage(message)) => {
            assert!(
                message.contains(names) && message.contains("fails its storage tag"),
                "the error should name {names:?}: {message}"
            );
        }
        other => panic!("expected a storage error naming {names:?}, got {other:?}"),
    }
}

/// Alice and bob, who have exchanged a message each way.
async fn acquainted(relay: &TestRelay, devices: &Devices) -> (Client, Client) {
    let alice = devices.create(relay, "alice", 1).await;
    let bob = devices.create(relay, "bob", 1).await;
    alice.send_text("bob", "hello").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    bob.send_text("alice", "hi").await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    (alice, bob)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_peer_identity_is_refused() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let (alice, bob) = acquainted(&relay, &devices).await;
    let store = devices.path("alice", 1);
    let original: Vec<u8> = open_db(&store)
        .query_row(
            "SELECT identity FROM peers WHERE user = 'bob' AND device = 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let mut edited = original.clone();
    edited[40] ^= 1; // a byte of the agreement key
    open_db(&store)
        .execute(
            "UPDATE peers SET identity = ?1 WHERE user = 'bob' AND device = 1",
            [&edited],
        )
        .unwrap();

    bob.send_text("alice", "while edited").await.unwrap();
    assert_refused(alice.sync(NO_WAIT).await, "identity of device bob/1");
    // Nothing was trusted or fetched over the row, and nothing was lost:
    // the row is as edited, the message waits at the relay.
    let now: Vec<u8> = open_db(&store)
        .query_row(
            "SELECT identity FROM peers WHERE user = 'bob' AND device = 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(now, edited);
    assert_refused(alice.sync(NO_WAIT).await, "identity of device bob/1");

    open_db(&store)
        .execute(
            "UPDATE peers SET identity = ?1 WHERE user = 'bob' AND device = 1",
            [&original],
        )
        .unwrap();
    assert_eq!(alice.sync(NO_WAIT).await.unwrap().messages, 1);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_list_copied_over_another_users_is_refused() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let (alice, _bob) = acquainted(&relay, &devices).await;
    let _carol = devices.create(&relay, "carol", 1).await;
    alice.send_text("carol", "hello carol").await.unwrap();
    let store = devices.path("alice", 1);
    type Row = (Vec<u8>, i64, Option<Vec<u8>>, Option<Vec<u8>>);
    let read = |user: &str| -> Row {
        open_db(&store)
            .query_row(
                "SELECT list, version, pending_list, tag FROM accounts WHERE user = ?1",
                [user],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .unwrap()
    };
    let write = |user: &str, row: &Row| {
        open_db(&store)
            .execute(
                "UPDATE accounts SET list = ?2, version = ?3, pending_list = ?4, tag = ?5
                 WHERE user = ?1",
                rusqlite::params![user, row.0, row.1, row.2, row.3],
            )
            .unwrap();
    };
    let bobs = read("bob");
    // Carol's whole row, tag included, put in bob's place.
    write("bob", &read("carol"));
    assert_refused(
        alice.send_text("bob", "to whom?").await,
        "account and device list of bob",
    );
    assert_refused(
        alice.safety_number("bob").await,
        "account and device list of bob",
    );
    // Not fetched over: the swapped row is still there.
    assert_eq!(read("bob").0, read("carol").0);

    write("bob", &bobs);
    alice.send_text("bob", "to bob").await.unwrap();
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_device_list_version_is_refused() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let (alice, _bob) = acquainted(&relay, &devices).await;
    let store = devices.path("alice", 1);
    open_db(&store)
        .execute(
            "UPDATE accounts SET version = version + 1 WHERE user = 'bob'",
            [],
        )
        .unwrap();
    assert_refused(
        alice.send_text("bob", "after the edit").await,
        "account and device list of bob",
    );
    // A new client on the store refuses it the same way.
    drop(alice);
    let alice = Client::open(&store, ClientOptions::default())
        .await
        .unwrap();
    assert_refused(
        alice.send_text("bob", "after the edit").await,
        "account and device list of bob",
    );
    open_db(&store)
        .execute(
            "UPDATE accounts SET version = version - 1 WHERE user = 'bob'",
            [],
        )
        .unwrap();
    alice.send_text("bob", "restored").await.unwrap();
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_change_put_in_by_editing_the_file_is_refused() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let (alice, _bob) = acquainted(&relay, &devices).await;
    let _carol = devices.create(&relay, "carol", 1).await;
    alice.send_text("carol", "hello carol").await.unwrap();
    let store = devices.path("alice", 1);
    // Carol's list offered as a pending change of bob's account.
    open_db(&store)
        .execute(
            "UPDATE accounts SET pending_list = (SELECT list FROM accounts WHERE user = 'carol')
             WHERE user = 'bob'",
            [],
        )
        .unwrap();
    assert_refused(
        alice.pending_identity_changes().await,
        "account and device list of bob",
    );
    assert_refused(
        alice.accept_identity_change("bob").await,
        "account and device list of bob",
    );
    relay.stop().await;
}

/// A store as the client before schema version 2 left it: no trust tags,
/// no answered handshakes, no typed-content columns, version 1. Opening it migrates it; its rows are
/// tagged as they stood, and are guarded from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_store_is_migrated_and_guarded_from_then_on() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let (alice, bob) = acquainted(&relay, &devices).await;
    drop(alice);
    let store = devices.path("alice", 1);
    open_db(&store)
        .execute_batch(
            "ALTER TABLE peers DROP COLUMN tag;
             ALTER TABLE accounts DROP COLUMN tag;
             DROP TABLE answered_handshakes;
             DROP TABLE signed_prekey_ids;
             DROP INDEX messages_by_target;
             DROP INDEX messages_expiring;
             DROP INDEX messages_timers;
             ALTER TABLE messages DROP COLUMN type_name;
             ALTER TABLE messages DROP COLUMN target_user;
             ALTER TABLE messages DROP COLUMN target_id;
             ALTER TABLE messages DROP COLUMN hidden;
             ALTER TABLE messages DROP COLUMN deleted;
             ALTER TABLE messages DROP COLUMN timer_seconds;
             ALTER TABLE messages DROP COLUMN expires_at_ms;
             PRAGMA user_version = 1;",
        )
        .unwrap();

    let alice = Client::open(&store, ClientOptions::default())
        .await
        .unwrap();
    let version: i64 = open_db(&store)
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 3, "migrated through version 2 to 3");
    let untagged: i64 = open_db(&store)
        .query_row(
            "SELECT (SELECT COUNT(*) FROM peers WHERE tag IS NULL)
                  + (SELECT COUNT(*) FROM accounts WHERE tag IS NULL)",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(untagged, 0);
    alice.send_text("bob", "after the migration").await.unwrap();
    bob.send_text("alice", "still here").await.unwrap();
    assert_eq!(alice.sync(NO_WAIT).await.unwrap().messages, 1);

    open_db(&store)
        .execute(
            "UPDATE accounts SET version = version + 1 WHERE user = 'bob'",
            [],
        )
        .unwrap();
    assert_refused(
        alice.send_text("bob", "after the edit").await,
        "account and device list of bob",
    );
    relay.stop().await;
}
