//! A device that stops at any step of sending or syncing loses nothing and
//! shows nothing twice. The "crash" is a panic raised by the step hook at
//! that step, which drops the client mid-operation; the device is then
//! opened again from its store. (`crates/fuin-cli/tests` kills real
//! processes the same way.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{CutProxy, Devices, NO_WAIT, TestRelay};
use fuin_client::{Client, ClientOptions, MessageStatus, Step};

fn crashing_at(step: Step) -> ClientOptions {
    let armed = Arc::new(AtomicBool::new(true));
    ClientOptions {
        on_step: Some(Arc::new(move |at| {
            if at == step && armed.swap(false, Ordering::SeqCst) {
                panic!("simulated crash at {at:?}");
            }
        })),
        ..ClientOptions::default()
    }
}

fn texts(history: &[fuin_client::Message]) -> Vec<String> {
    history.iter().map(|m| m.text.clone()).collect()
}

async fn receive_with_a_crash_at(step: Step) {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    drop(bob);
    // More than one fetch batch (32), so the crash falls in the middle.
    let expected: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
    for text in &expected {
        alice.send_text("bob", text).await.unwrap();
    }

    let path = devices.path("bob", 1);
    let bob = Client::open(&path, crashing_at(step)).await.unwrap();
    let crashed = tokio::spawn(async move { bob.sync(NO_WAIT).await }).await;
    assert!(crashed.is_err(), "the sync should have crashed at {step:?}");

    let bob = Client::open(&path, ClientOptions::default()).await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(texts(&bob.history("alice", 100).await.unwrap()), expected);
    // The relay holds nothing more for bob.
    assert_eq!(bob.sync(NO_WAIT).await.unwrap().acknowledged, 0);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_fetching_loses_nothing() {
    receive_with_a_crash_at(Step::Fetched).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_storing_and_acknowledging_shows_nothing_twice() {
    receive_with_a_crash_at(Step::Stored).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_right_after_acknowledging_loses_nothing() {
    receive_with_a_crash_at(Step::Acknowledged).await;
}

async fn send_with_a_crash_at(step: Step) {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    alice.send_text("bob", "first").await.unwrap();
    drop(alice);

    let path = devices.path("alice", 1);
    let alice = Client::open(&path, crashing_at(step)).await.unwrap();
    let crashed = tokio::spawn(async move { alice.send_text("bob", "second").await }).await;
    assert!(crashed.is_err(), "the send should have crashed at {step:?}");

    let alice = Client::open(&path, ClientOptions::default()).await.unwrap();
    // The next operation posts what was queued.
    alice.sync(NO_WAIT).await.unwrap();
    let mine = alice.history("bob", 10).await.unwrap();
    assert_eq!(texts(&mine), ["first", "second"]);
    assert!(
        mine.iter().all(|m| m.status != MessageStatus::Queued),
        "{mine:?}"
    );
    assert_eq!(alice.queued().await.unwrap(), 0);
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(
        texts(&bob.history("alice", 10).await.unwrap()),
        ["first", "second"]
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_sealing_before_posting_loses_nothing() {
    send_with_a_crash_at(Step::Queued).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_relay_accepted_shows_nothing_twice() {
    send_with_a_crash_at(Step::Posted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sealed_while_the_relay_became_unreachable_is_queued_then_sent() {
    let listener = CutProxy::bind().await;
    let proxy_url = listener.url.clone();
    let relay = TestRelay::start_with(|config| config.origins.push(proxy_url)).await;
    let proxy = listener.forward(&relay.url);
    let devices = Devices::new();
    let cut = Arc::new(proxy.cutter());
    let hook_cut = cut.clone();
    let options = ClientOptions {
        on_step: Some(Arc::new(move |step| {
            if step == Step::Queued {
                hook_cut(true);
            }
        })),
        ..ClientOptions::default()
    };
    let alice = Client::create(devices.path("alice", 1), &proxy.url, "alice", 1, options)
        .await
        .unwrap();
    let bob = devices.create(&relay, "bob", 1).await;

    let sent = alice
        .send_text("bob", "sealed, then the network went")
        .await
        .unwrap();
    assert_eq!(sent.status, MessageStatus::Queued);
    assert_eq!(alice.queued().await.unwrap(), 1);
    // While the relay is unreachable, sync fails visibly and keeps the queue.
    assert!(alice.sync(NO_WAIT).await.unwrap_err().is_transient());
    assert_eq!(alice.queued().await.unwrap(), 1);

    cut(false);
    alice.sync(NO_WAIT).await.unwrap();
    assert_eq!(alice.queued().await.unwrap(), 0);
    let mine = alice.message(sent.local_id).await.unwrap().unwrap();
    assert_eq!(mine.status, MessageStatus::Sent);
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(
        texts(&bob.history("alice", 10).await.unwrap()),
        ["sealed, then the network went"]
    );
    relay.stop().await;
}

/// Alice's device stops at `step` while sending a group text; reopened, it
/// posts what was queued, and bob shows the text once.
async fn group_send_with_a_crash_at(step: Step) {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let id = alice.create_group(&["bob"]).await.unwrap().id;
    bob.sync(NO_WAIT).await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    alice.send_group_text(&id, "first").await.unwrap();
    drop(alice);

    let path = devices.path("alice", 1);
    let crashing = Client::open(&path, crashing_at(step)).await.unwrap();
    let group = id.clone();
    let crashed =
        tokio::spawn(async move { crashing.send_group_text(&group, "second").await }).await;
    assert!(crashed.is_err(), "the send should have crashed at {step:?}");

    let alice = Client::open(&path, ClientOptions::default()).await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    let mine = alice.group_history(&id, 10).await.unwrap();
    let texts: Vec<_> = mine.iter().map(|entry| entry.text.clone()).collect();
    assert_eq!(texts, ["first", "second"]);
    assert_eq!(mine[1].status, MessageStatus::Sent);
    bob.sync(NO_WAIT).await.unwrap();
    let theirs: Vec<_> = bob
        .group_history(&id, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.text)
        .collect();
    assert_eq!(theirs, ["first", "second"]);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_send_that_crashes_before_posting_is_posted_later() {
    group_send_with_a_crash_at(Step::Queued).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_send_that_crashes_after_posting_is_shown_once() {
    group_send_with_a_crash_at(Step::Posted).await;
}

/// Bob's device stops at `step` while syncing group messages; reopened, it
/// shows each once.
async fn group_receive_with_a_crash_at(step: Step) {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let id = alice.create_group(&["bob"]).await.unwrap().id;
    drop(bob);
    let expected: Vec<String> = (0..40).map(|i| format!("g{i}")).collect();
    for text in &expected {
        alice.send_group_text(&id, text).await.unwrap();
    }
    let path = devices.path("bob", 1);
    let bob = Client::open(&path, crashing_at(step)).await.unwrap();
    let crashed = tokio::spawn(async move { bob.sync(NO_WAIT).await }).await;
    assert!(crashed.is_err(), "the sync should have crashed at {step:?}");
    let bob = Client::open(&path, ClientOptions::default()).await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let shown: Vec<_> = bob
        .group_history(&id, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.text)
        .collect();
    assert_eq!(shown, expected);
    assert_eq!(bob.sync(NO_WAIT).await.unwrap().acknowledged, 0);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_while_receiving_group_messages_loses_nothing() {
    group_receive_with_a_crash_at(Step::Fetched).await;
    group_receive_with_a_crash_at(Step::Stored).await;
}
