//! Two relay processes on one PostgreSQL database: a message sent through
//! one is delivered through the other, stamped with the key they share, and
//! wakes a long poll or a push stream waiting on the other at once.
//!
//! Needs `FUIN_TEST_POSTGRES` (see `tests/store.rs`); `.ci/run` provides it.
//! Without it the test is skipped with a note, unless `CI` is set: then it
//! fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use fuin_relay::franking::StampKeys;
use fuin_wire::relay::{Acknowledgement, MailboxBatch};
use fuin_wire::{FrameBody, StampKeyId};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// How soon a waiter on one node must hear of a send through the other: far
/// below the 20 s it waits, so that only a wake-up can explain it.
const PROMPTLY: Duration = Duration::from_secs(5);

fn database() -> Option<String> {
    match std::env::var("FUIN_TEST_POSTGRES") {
        Ok(conninfo) if !conninfo.is_empty() => Some(conninfo),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but FUIN_TEST_POSTGRES is not: .ci/run must start PostgreSQL")
        }
        _ => {
            eprintln!("note: FUIN_TEST_POSTGRES is not set: the two-node test is skipped");
            None
        }
    }
}

/// Two relay processes on `conninfo` sharing the stamp key `key_file`.
fn two_nodes(conninfo: &str, key_file: &Path) -> (RelayProcess, RelayProcess) {
    let args = [
        OsStr::new("--postgres"),
        OsStr::new(conninfo),
        OsStr::new("--stamp-key-file"),
        key_file.as_os_str(),
    ];
    (
        RelayProcess::start_with(&args),
        RelayProcess::start_with(&args),
    )
}

/// Fresh user names: the database outlives test runs.
fn fresh_suffix() -> String {
    let mut suffix = [0u8; 6];
    rand::fill(&mut suffix);
    suffix.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn two_relays_on_one_database_deliver_across_nodes() {
    let Some(conninfo) = database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("stamp-key");
    let (node_a, node_b) = two_nodes(&conninfo, &key_file);
    let suffix = fresh_suffix();

    let alice = TestDevice::register(&node_a.address, &format!("alice-{suffix}"), 1, 1);
    let mut bob = TestDevice::register(&node_b.address, &format!("bob-{suffix}"), 1, 2);
    let (status, _) = alice
        .send(&node_a.address, &bob.address, b"across nodes")
        .unwrap();
    assert_eq!(status, 200);

    let records = bob.drain(&node_b.address);
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.envelope.sealed_body.as_bytes(), b"across nodes");
    assert_eq!(record.sender, alice.address);
    // Both nodes stamp with the shared key.
    let key: [u8; 32] = std::fs::read(&key_file).unwrap().try_into().unwrap();
    let keys = StampKeys::new(StampKeyId(1), key);
    assert_eq!(keys.compute(record), Some(record.franking_stamp));

    // A token from one node works on the other, and the acknowledgement made
    // through node B removed the envelope for node A too.
    bob.login(&node_b.address);
    assert!(bob.drain(&node_a.address).is_empty());
    assert!(node_a.stop("TERM").success());
    assert!(node_b.stop("TERM").success());
}

/// A long poll on node B, waiting 20 s on an empty mailbox, answers with the
/// envelope as soon as a send through node A has committed.
#[test]
fn a_long_poll_on_one_node_is_answered_when_a_send_through_the_other_commits() {
    let Some(conninfo) = database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (node_a, node_b) = two_nodes(&conninfo, &dir.path().join("stamp-key"));
    let suffix = fresh_suffix();
    let alice = TestDevice::register(&node_a.address, &format!("alice-{suffix}"), 1, 1);
    let bob = TestDevice::register(&node_b.address, &format!("bob-{suffix}"), 1, 2);

    let poll = std::thread::spawn({
        let (address, token) = (node_b.address.clone(), bob.token.clone());
        move || {
            let started = Instant::now();
            let answer = request(
                &address,
                "GET",
                "/v1/mailbox?wait_ms=20000",
                Some(&token),
                &[],
            )
            .unwrap();
            (answer, started.elapsed(), Instant::now())
        }
    });
    // Give the poll time to find the mailbox empty and wait.
    std::thread::sleep(Duration::from_millis(500));
    let (status, _) = alice
        .send(&node_a.address, &bob.address, b"wake up")
        .unwrap();
    assert_eq!(status, 200);
    let sent = Instant::now();
    let ((status, body), waited, answered) = poll.join().unwrap();
    assert_eq!(status, 200);
    let batch = MailboxBatch::from_bytes(&body).unwrap();
    assert_eq!(
        batch.records.len(),
        1,
        "the poll answered without the envelope"
    );
    assert_eq!(
        batch.records.as_slice()[0].envelope.sealed_body.as_bytes(),
        b"wake up"
    );
    // It waited for the send, and answered well before its 20 s were up.
    assert!(
        waited >= Duration::from_millis(400),
        "answered after {waited:?}"
    );
    let delay = answered.saturating_duration_since(sent);
    assert!(delay < PROMPTLY, "answered {delay:?} after the send");
    assert!(node_a.stop("TERM").success());
    assert!(node_b.stop("TERM").success());
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect_stream(address: &str, token: &str) -> Socket {
    let mut request = format!("ws://{address}/v1/mailbox/stream")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// The records of `address`'s mailbox as `device` fetches them, without waiting.
async fn fetch(address: &str, device: &Arc<TestDevice>) -> Vec<fuin_wire::MessageId> {
    let (address, device) = (address.to_owned(), device.clone());
    tokio::task::spawn_blocking(move || {
        let (status, body) =
            request(&address, "GET", "/v1/mailbox", Some(&device.token), &[]).unwrap();
        assert_eq!(status, 200);
        let batch = MailboxBatch::from_bytes(&body).unwrap();
        batch
            .records
            .as_slice()
            .iter()
            .map(|record| record.server_message_id)
            .collect()
    })
    .await
    .unwrap()
}

/// A push stream on node B gets an envelope sent through node A at once;
/// acknowledging it on the stream removes it for node A too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_on_one_node_gets_sends_through_the_other_and_its_acks_count_there() {
    let Some(conninfo) = database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (node_a, node_b) = two_nodes(&conninfo, &dir.path().join("stamp-key"));
    let suffix = fresh_suffix();
    let (alice, bob) = tokio::task::spawn_blocking({
        let (a, b) = (node_a.address.clone(), node_b.address.clone());
        move || {
            (
                Arc::new(TestDevice::register(&a, &format!("alice-{suffix}"), 1, 1)),
                Arc::new(TestDevice::register(&b, &format!("bob-{suffix}"), 1, 2)),
            )
        }
    })
    .await
    .unwrap();

    let mut socket = connect_stream(&node_b.address, &bob.token).await;
    // The stream has looked at the (empty) mailbox and is waiting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = tokio::task::spawn_blocking({
        let (alice, address, to) = (alice.clone(), node_a.address.clone(), bob.address.clone());
        move || alice.send(&address, &to, b"pushed across").unwrap().0
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    let sent = Instant::now();
    let message = tokio::time::timeout(PROMPTLY, socket.next())
        .await
        .unwrap_or_else(|_| panic!("nothing pushed within {PROMPTLY:?} of the send"))
        .unwrap()
        .unwrap();
    let received = sent.elapsed();
    let Message::Binary(bytes) = message else {
        panic!("unexpected message {message:?}");
    };
    let batch = MailboxBatch::from_bytes(&bytes).unwrap().into_owned();
    let records = batch.records.as_slice();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].envelope.sealed_body.as_bytes(), b"pushed across");
    assert!(received < PROMPTLY, "pushed {received:?} after the send");
    let id = records[0].server_message_id;

    // Node A sees it until the stream on node B acknowledges it.
    assert_eq!(fetch(&node_a.address, &bob).await, vec![id]);
    let ack = Acknowledgement {
        message_ids: vec![id].into(),
    };
    socket
        .send(Message::Binary(ack.to_bytes().unwrap().into()))
        .await
        .unwrap();
    let deadline = Instant::now() + PROMPTLY;
    while !fetch(&node_a.address, &bob).await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "node A still has the envelope acknowledged on node B"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    socket.close(None).await.unwrap();
    assert!(node_a.stop("TERM").success());
    assert!(node_b.stop("TERM").success());
}
