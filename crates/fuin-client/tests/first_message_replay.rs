//! A relay that strips the one-time prekey from a bundle can replay the
//! first message it carried: nothing the responder consumed would make a
//! second handshake fail. The replay is dropped as a duplicate and never
//! starts, replaces or evicts a session (`spec/client.md` §1.2,
//! `spec/protocol.md` §6.6).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{Devices, NO_WAIT, TestRelay, drain};
use fuin_client::{Client, Event};
use fuin_seal::SealError;
use fuin_wire::{ContentKind, DeliveredRecord, FrameBody, PrekeyMessage};

/// A mailbox row as the relay stores it.
struct MailboxRow {
    message_id: Vec<u8>,
    user: String,
    device: i64,
    record: Vec<u8>,
    expires_at: i64,
    seq: i64,
    /// The relay's checksum of the row and the record's size: a replaying
    /// relay copies the row whole.
    checksum: Option<Vec<u8>>,
    size: Option<i64>,
}

fn mailbox_of(relay_db: &Path, user: &str) -> Vec<MailboxRow> {
    let conn = rusqlite::Connection::open(relay_db).unwrap();
    let mut statement = conn
        .prepare(
            "SELECT message_id, user, device, record, expires_at, seq, checksum, size FROM mailbox
             WHERE user = ?1 ORDER BY seq",
        )
        .unwrap();
    statement
        .query_map([user], |row| {
            Ok(MailboxRow {
                message_id: row.get(0)?,
                user: row.get(1)?,
                device: row.get(2)?,
                record: row.get(3)?,
                expires_at: row.get(4)?,
                seq: row.get(5)?,
                checksum: row.get(6)?,
                size: row.get(7)?,
            })
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The relay delivers `row` again, exactly as it first did.
fn replay(relay_db: &Path, row: &MailboxRow) {
    let conn = rusqlite::Connection::open(relay_db).unwrap();
    conn.execute(
        "INSERT INTO mailbox (message_id, user, device, record, expires_at, seq, checksum, size)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        rusqlite::params![
            row.message_id,
            row.user,
            row.device,
            row.record,
            row.expires_at,
            row.seq,
            row.checksum,
            row.size
        ],
    )
    .unwrap();
}

/// The relay hands out no one-time prekey of `user` any more.
fn strip_one_time_prekeys(relay_db: &Path, user: &str) {
    let conn = rusqlite::Connection::open(relay_db).unwrap();
    conn.execute("DELETE FROM one_time_prekeys WHERE user = ?1", [user])
        .unwrap();
}

fn sessions_with(store: &Path, user: &str) -> i64 {
    let conn = rusqlite::Connection::open(store).unwrap();
    conn.query_row(
        "SELECT COUNT(*) FROM sessions WHERE user = ?1",
        [user],
        |row| row.get(0),
    )
    .unwrap()
}

fn texts_from(history: &[fuin_client::Message], outgoing: bool) -> Vec<String> {
    history
        .iter()
        .filter(|m| m.outgoing == outgoing)
        .map(|m| m.text.clone())
        .collect()
}

/// Alice's first message to bob, made from a bundle without a one-time
/// prekey, as it waits in bob's mailbox before bob fetches it.
async fn first_message_without_one_time_prekey(relay: &TestRelay, alice: &Client) -> MailboxRow {
    strip_one_time_prekeys(&relay.database(), "bob");
    alice.send_text("bob", "hello").await.unwrap();
    let mut rows = mailbox_of(&relay.database(), "bob");
    assert_eq!(rows.len(), 1);
    let row = rows.remove(0);
    let record = DeliveredRecord::from_bytes(&row.record).unwrap();
    assert_eq!(record.envelope.content_kind, ContentKind::PrekeyMessage);
    let handshake = PrekeyMessage::from_bytes(record.envelope.sealed_body.as_bytes()).unwrap();
    assert_eq!(
        handshake.one_time_prekey_id, None,
        "the first message should carry no one-time prekey"
    );
    row
}

/// Replays `row` to bob `times` times; each is dropped as a duplicate and
/// leaves bob's one session with alice as it was.
async fn replay_and_check(
    relay: &TestRelay,
    devices: &Devices,
    bob: &Client,
    row: &MailboxRow,
    times: usize,
) {
    let bob_store = devices.path("bob", 1);
    let mut events = bob.events();
    for _ in 0..times {
        replay(&relay.database(), row);
        let report = bob.sync(NO_WAIT).await.unwrap();
        assert_eq!(report.messages, 0);
        assert_eq!(report.dropped, 1);
        assert_eq!(report.acknowledged, 1);
        let dropped: Vec<String> = drain(&mut events)
            .into_iter()
            .filter_map(|event| match event {
                Event::MessageDropped { reason, .. } => Some(reason),
                _ => None,
            })
            .collect();
        assert_eq!(dropped, vec![SealError::DuplicateMessage.to_string()]);
        assert_eq!(
            sessions_with(&bob_store, "alice"),
            1,
            "a replay touched the sessions"
        );
    }
}

/// After the replays both directions still work on the one session.
async fn both_directions_work(alice: &Client, bob: &Client) {
    bob.send_text("alice", "reply").await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    assert_eq!(
        texts_from(&alice.history("bob", 100).await.unwrap(), false),
        ["reply"]
    );
    alice.send_text("bob", "again").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(
        texts_from(&bob.history("alice", 100).await.unwrap(), false),
        ["hello", "again"]
    );
}

async fn replayed_first_message(times: usize) {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let row = first_message_without_one_time_prekey(&relay, &alice).await;
    let report = bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(report.messages, 1);
    assert_eq!(sessions_with(&devices.path("bob", 1), "alice"), 1);

    replay_and_check(&relay, &devices, &bob, &row, times).await;
    both_directions_work(&alice, &bob).await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_message_replayed_once_is_dropped_and_the_session_keeps_working() {
    replayed_first_message(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_message_replayed_three_times_does_not_push_out_the_session() {
    replayed_first_message(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_handshake_starts_no_session_even_when_none_is_left() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let row = first_message_without_one_time_prekey(&relay, &alice).await;
    bob.sync(NO_WAIT).await.unwrap();
    // Bob's session with alice is gone (as after an identity change):
    // only the record of the answered handshake stands in the replay's way.
    let bob_store = devices.path("bob", 1);
    rusqlite::Connection::open(&bob_store)
        .unwrap()
        .execute("DELETE FROM sessions WHERE user = 'alice'", [])
        .unwrap();
    let mut events = bob.events();
    replay(&relay.database(), &row);
    let report = bob.sync(NO_WAIT).await.unwrap();
    assert_eq!((report.messages, report.dropped), (0, 1));
    assert!(drain(&mut events).iter().any(|event| matches!(
        event,
        Event::MessageDropped { reason, .. } if *reason == SealError::DuplicateMessage.to_string()
    )));
    assert_eq!(sessions_with(&bob_store, "alice"), 0);
    assert_eq!(
        texts_from(&bob.history("alice", 100).await.unwrap(), false),
        ["hello"]
    );
    relay.stop().await;
}
