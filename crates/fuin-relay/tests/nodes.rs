//! Two relay processes on one PostgreSQL database: a message sent through
//! one is delivered through the other, stamped with the key they share, and
//! wakes a long poll or a push stream waiting on the other at once. In the
//! wake-up tests the waiting node runs inside the test process (sharing only
//! the database and the key with the other), so that the test sends only once
//! it sees the waiter wait.
//!
//! Needs `FUIN_TEST_POSTGRES` (see `tests/store/postgres.rs`); `.ci/run` provides it.
//! Without it the test is skipped with a note, unless `CI` is set: then it
//! fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod common;
#[path = "common/pg_schema.rs"]
mod pg_schema;

use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use fuin_relay::api::system_clock;
use fuin_relay::franking::StampKeys;
use fuin_relay::store::postgres::PostgresStore;
use fuin_relay::{Relay, RelayConfig};
use fuin_wire::relay::{Acknowledgement, MailboxBatch};
use fuin_wire::{FrameBody, StampKeyId};
use futures_util::{SinkExt, StreamExt};
use pg_schema::{Schema, fresh_suffix};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// How soon a waiter on one node must hear of a send through the other: far
/// below the 20 s it waits, so that only a wake-up can explain it.
const PROMPTLY: Duration = Duration::from_secs(5);

/// Two relay processes on `conninfo` sharing the stamp key `key_file`, and
/// a blob directory beside it.
fn two_nodes(conninfo: &str, key_file: &Path) -> (RelayProcess, RelayProcess) {
    let blob_dir = key_file.with_extension("blobs");
    let args = [
        OsStr::new("--postgres"),
        OsStr::new(conninfo),
        OsStr::new("--stamp-key-file"),
        key_file.as_os_str(),
        OsStr::new("--blob-dir"),
        blob_dir.as_os_str(),
    ];
    (
        RelayProcess::start_with(&args),
        RelayProcess::start_with(&args),
    )
}

/// A relay node served in this process on `conninfo`, sharing the stamp key
/// `key_file` that a process node made: a test can see how many of its long
/// polls and streams wait ([`Relay::mail_waiters`]). It runs on a runtime of
/// its own, so that blocking tests can use it too.
struct InProcessNode {
    relay: Arc<Relay<PostgresStore>>,
    address: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl InProcessNode {
    fn start(conninfo: &str, key_file: &Path) -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let key: [u8; 32] = std::fs::read(key_file).unwrap().try_into().unwrap();
        let config = RelayConfig::new(StampKeys::new(StampKeyId(1), key));
        let (relay, listener) = runtime.block_on(async {
            let store = PostgresStore::connect(conninfo).await.unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            (Relay::new(store, config, system_clock()), listener)
        });
        let address = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(fuin_relay::serve(listener, relay.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            relay,
            address,
            stop: Some(stop),
            runtime: Some(runtime),
        }
    }
}

impl Drop for InProcessNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A relay process and, on the same database and stamp key, a node in this
/// process.
fn process_and_in_process_nodes(conninfo: &str, key_file: &Path) -> (RelayProcess, InProcessNode) {
    let blob_dir = key_file.with_extension("blobs");
    let args = [
        OsStr::new("--postgres"),
        OsStr::new(conninfo),
        OsStr::new("--stamp-key-file"),
        key_file.as_os_str(),
        OsStr::new("--blob-dir"),
        blob_dir.as_os_str(),
    ];
    // The process makes the key file before it says where it listens.
    let process = RelayProcess::start_with(&args);
    (process, InProcessNode::start(conninfo, key_file))
}

#[test]
fn two_relays_on_one_database_deliver_across_nodes() {
    let Some(schema) = Schema::create() else {
        return;
    };
    let conninfo = schema.conninfo.clone();
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
    let Some(schema) = Schema::create() else {
        return;
    };
    let conninfo = schema.conninfo.clone();
    let dir = tempfile::tempdir().unwrap();
    let (node_a, node_b) = process_and_in_process_nodes(&conninfo, &dir.path().join("stamp-key"));
    let suffix = fresh_suffix();
    let alice = TestDevice::register(&node_a.address, &format!("alice-{suffix}"), 1, 1);
    let bob = TestDevice::register(&node_b.address, &format!("bob-{suffix}"), 1, 2);

    let poll = std::thread::spawn({
        let (address, token) = (node_b.address.clone(), bob.token.clone());
        move || {
            let answer = request(
                &address,
                "GET",
                "/v1/mailbox?wait_ms=20000",
                Some(&token),
                &[],
            )
            .unwrap();
            (answer, Instant::now())
        }
    });
    // The poll has found the mailbox empty and waits: from here on only a
    // wake-up can bring it the envelope.
    eventually("bob's long poll on node B to wait", PATIENCE, || {
        node_b.relay.mail_waiters() == 1
    });
    let (status, _) = alice
        .send(&node_a.address, &bob.address, b"wake up")
        .unwrap();
    assert_eq!(status, 200);
    let sent = Instant::now();
    let ((status, body), answered) = poll.join().unwrap();
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
    // It answered well before its 20 s were up, and waits no more.
    let delay = answered.saturating_duration_since(sent);
    assert!(delay < PROMPTLY, "answered {delay:?} after the send");
    assert_eq!(node_b.relay.mail_waiters(), 0);
    assert!(node_a.stop("TERM").success());
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
    let Some(schema) = Schema::create() else {
        return;
    };
    let conninfo = schema.conninfo.clone();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("stamp-key");
    let (node_a, node_b) =
        tokio::task::spawn_blocking(move || process_and_in_process_nodes(&conninfo, &key_file))
            .await
            .unwrap();
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
    // The stream has looked at the (empty) mailbox and waits: from here on
    // only a wake-up can bring it the envelope.
    let relay_b = node_b.relay.clone();
    eventually_async("bob's stream on node B to wait", PATIENCE, || {
        let waiting = relay_b.mail_waiters() == 1;
        async move { waiting }
    })
    .await;
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
    eventually_async(
        "node A to forget the envelope acknowledged on node B",
        PROMPTLY,
        || {
            let (address, bob) = (node_a.address.clone(), bob.clone());
            async move { fetch(&address, &bob).await.is_empty() }
        },
    )
    .await;
    socket.close(None).await.unwrap();
    let stopped = tokio::task::spawn_blocking(move || node_a.stop("TERM"))
        .await
        .unwrap();
    assert!(stopped.success());
    drop(node_b);
}
