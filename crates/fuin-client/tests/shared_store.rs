//! Several processes on one store (an app and its notification extension,
//! or many `fuin send` runs at once) serialise their state changes: no
//! message key is used twice, every message arrives exactly once, and the
//! second process is never told the store is in use (`spec/client.md` §1.1).
//!
//! The two-process test runs this test binary again as its children (the
//! role is passed in the environment); the relay runs in the parent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::keys::{assert_no_key_reused, envelopes_by_key};
use common::{Devices, NO_WAIT, TestRelay};
use fuin_client::{Client, ClientOptions};

/// The child's role (`0` or `1`); its absence makes the test the parent.
const ROLE: &str = "FUIN_SHARED_STORE_ROLE";
/// The store the children share.
const STORE: &str = "FUIN_SHARED_STORE_PATH";
/// Messages each child sends; it syncs after every fifth.
const SENDS_PER_PROCESS: usize = 80;
/// Messages bob sends to alice meanwhile, which the children open.
const REPLIES: usize = 30;

/// Syncs until the relay holds nothing more.
async fn sync_all(client: &Client) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let report = client.sync(NO_WAIT).await.unwrap();
        if report.acknowledged == 0 && report.messages == 0 && client.queued().await.unwrap() == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the sync does not settle");
    }
}

/// Counts each text of the conversation with `peer` received from it
/// (`outgoing` false) or sent to it (`outgoing` true).
async fn texts(client: &Client, peer: &str, outgoing: bool) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for message in client.history(peer, usize::MAX).await.unwrap() {
        if message.outgoing == outgoing {
            *out.entry(message.text).or_insert(0) += 1;
        }
    }
    out
}

fn exactly_once(texts: impl IntoIterator<Item = String>) -> BTreeMap<String, usize> {
    texts.into_iter().map(|text| (text, 1)).collect()
}

/// What a child does: sends to bob and syncs, on the shared store.
async fn run_child(role: &str, store: &str) {
    let alice = Client::open(store, ClientOptions::default()).await.unwrap();
    for i in 0..SENDS_PER_PROCESS {
        alice
            .send_text("bob", &format!("p{role}-{i}"))
            .await
            .unwrap_or_else(|err| panic!("send {i} of process {role}: {err}"));
        if i % 5 == 4 {
            alice
                .sync(NO_WAIT)
                .await
                .unwrap_or_else(|err| panic!("sync after {i} of process {role}: {err}"));
        }
    }
}

fn spawn_child(role: usize, store: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "two_processes_on_one_store_never_reuse_a_message_key",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role.to_string())
        .env(STORE, store)
        .spawn()
        .unwrap()
}

/// Waits for the children to exit (each on a blocking thread), killing them
/// all if they have not by the deadline.
async fn wait_for(children: Vec<Child>, patience: Duration) -> Vec<std::process::ExitStatus> {
    let ids: Vec<u32> = children.iter().map(Child::id).collect();
    let waits = children
        .into_iter()
        .map(|mut child| tokio::task::spawn_blocking(move || child.wait().unwrap()));
    match tokio::time::timeout(patience, join_all(waits)).await {
        Ok(statuses) => statuses,
        Err(_) => {
            for id in ids {
                let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
            }
            panic!("the child processes did not finish in {patience:?}");
        }
    }
}

/// Every exit status, in order.
async fn join_all(
    waits: impl Iterator<Item = tokio::task::JoinHandle<std::process::ExitStatus>>,
) -> Vec<std::process::ExitStatus> {
    let mut statuses = Vec::new();
    for wait in waits.collect::<Vec<_>>() {
        statuses.push(wait.await.unwrap());
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_store_never_reuse_a_message_key() {
    if let Ok(role) = std::env::var(ROLE) {
        let store = std::env::var(STORE).unwrap();
        run_child(&role, &store).await;
        return;
    }
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    // Both sides know each other before the children start; the children
    // then start from the same sessions.
    alice.send_text("bob", "hello").await.unwrap();
    drop(alice);

    let store = devices.path("alice", 1);
    let children = vec![spawn_child(0, &store), spawn_child(1, &store)];
    // Bob writes meanwhile: the children open his messages as they sync.
    let mut replies = Vec::new();
    for i in 0..REPLIES {
        let text = format!("b-{i}");
        bob.send_text("alice", &text).await.unwrap();
        replies.push(text);
    }
    let statuses = wait_for(children, Duration::from_secs(120)).await;
    for status in statuses {
        assert!(status.success(), "a child process failed: {status}");
    }

    // What reached the relay for bob: no message key sealed two bodies.
    let envelopes = envelopes_by_key(&relay.database(), "bob");
    let keys = assert_no_key_reused(&envelopes);
    assert!(
        keys > 2 * SENDS_PER_PROCESS,
        "only {keys} message keys for {} messages",
        2 * SENDS_PER_PROCESS + 1
    );

    // Every message arrived exactly once, in both directions.
    let mut expected: Vec<String> = vec!["hello".into()];
    for role in 0..2 {
        expected.extend((0..SENDS_PER_PROCESS).map(|i| format!("p{role}-{i}")));
    }
    sync_all(&bob).await;
    assert_eq!(
        texts(&bob, "alice", false).await,
        exactly_once(expected.clone())
    );
    let alice = Client::open(&store, ClientOptions::default())
        .await
        .unwrap();
    sync_all(&alice).await;
    assert_eq!(texts(&alice, "bob", true).await, exactly_once(expected));
    assert_eq!(
        texts(&alice, "bob", false).await,
        exactly_once(replies.clone())
    );
    // And the sessions still work both ways.
    alice.send_text("bob", "after").await.unwrap();
    bob.send_text("alice", "after too").await.unwrap();
    sync_all(&bob).await;
    sync_all(&alice).await;
    assert_eq!(texts(&bob, "alice", false).await.get("after"), Some(&1));
    assert_eq!(texts(&alice, "bob", false).await.get("after too"), Some(&1));
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_on_one_store_in_one_process_never_reuse_a_message_key() {
    const SENDS: usize = 40;
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    alice.send_text("bob", "hello").await.unwrap();
    bob.send_text("alice", "hi").await.unwrap();
    // A second client on the same store: its own connection and lock, as
    // an app's second process would have.
    let store = devices.path("alice", 1);
    let other = Client::open(&store, ClientOptions::default())
        .await
        .unwrap();

    let run = |client: Client, name: &'static str| async move {
        for i in 0..SENDS {
            client
                .send_text("bob", &format!("{name}-{i}"))
                .await
                .unwrap_or_else(|err| panic!("send {i} of {name}: {err}"));
            if i % 4 == 3 {
                client.sync(NO_WAIT).await.unwrap();
            }
        }
    };
    let first = tokio::spawn(run(alice.clone(), "first"));
    let second = tokio::spawn(run(other.clone(), "second"));
    first.await.unwrap();
    second.await.unwrap();

    let envelopes = envelopes_by_key(&relay.database(), "bob");
    let keys = assert_no_key_reused(&envelopes);
    assert!(keys > 2 * SENDS, "only {keys} message keys");

    let mut expected: Vec<String> = vec!["hello".into()];
    for name in ["first", "second"] {
        expected.extend((0..SENDS).map(|i| format!("{name}-{i}")));
    }
    sync_all(&bob).await;
    assert_eq!(
        texts(&bob, "alice", false).await,
        exactly_once(expected.clone())
    );
    sync_all(&alice).await;
    assert_eq!(texts(&alice, "bob", true).await, exactly_once(expected));
    assert_eq!(
        texts(&alice, "bob", false).await,
        exactly_once(["hi".to_owned()])
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_on_one_store_never_seal_with_one_group_chain_key() {
    const SENDS: usize = 30;
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let id = alice.create_group(&["bob"]).await.unwrap().id;
    bob.sync(NO_WAIT).await.unwrap();
    let other = Client::open(devices.path("alice", 1), ClientOptions::default())
        .await
        .unwrap();

    let run = |client: Client, name: &'static str, id: String| async move {
        for i in 0..SENDS {
            client
                .send_group_text(&id, &format!("{name}-{i}"))
                .await
                .unwrap_or_else(|err| panic!("group send {i} of {name}: {err}"));
        }
    };
    let first = tokio::spawn(run(alice.clone(), "first", id.clone()));
    let second = tokio::spawn(run(other.clone(), "second", id.clone()));
    first.await.unwrap();
    second.await.unwrap();

    // A chain key used twice would make bob drop one of the two messages
    // sealed with it (the second is a replay to him): each arrives once.
    sync_all(&bob).await;
    let mut received = BTreeMap::new();
    for entry in bob.group_history(&id, usize::MAX).await.unwrap() {
        assert!(!entry.outgoing);
        *received.entry(entry.text).or_insert(0) += 1;
    }
    let mut expected = Vec::new();
    for name in ["first", "second"] {
        expected.extend((0..SENDS).map(|i| format!("{name}-{i}")));
    }
    assert_eq!(received, exactly_once(expected));
    relay.stop().await;
}
