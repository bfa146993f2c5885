//! Group commit: a batch of sends shares one store transaction for its
//! queued messages and one for their removal from the outbox (one per relay
//! request), and a fetched batch of deliveries is stored and marked in one
//! transaction, with the marks of the batch before it removed in the same
//! transaction. A device that stops at each of these commit boundaries
//! loses nothing, shows nothing twice, and never seals two messages under
//! one message key once it is opened again from its store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::keys::{assert_no_key_reused, envelopes_by_key};
use common::{Devices, NO_WAIT, TestRelay, drain};
use fuin_client::{Client, ClientOptions, Event, EventStream, MessageStatus, Step};

/// Texts in one batch of sends: more than one relay request holds (64
/// envelopes), so the batch is posted in two requests.
const BATCH: usize = 100;

/// Options whose step hook panics ("crashes") at the `nth` time (from 1)
/// the client reaches `step`, and never again.
fn crashing_at(step: Step, nth: usize) -> ClientOptions {
    let seen = Arc::new(AtomicUsize::new(0));
    ClientOptions {
        on_step: Some(Arc::new(move |at| {
            if at == step && seen.fetch_add(1, Ordering::SeqCst) + 1 == nth {
                panic!("simulated crash at {at:?} #{nth}");
            }
        })),
        ..ClientOptions::default()
    }
}

fn texts(history: &[fuin_client::Message]) -> Vec<String> {
    history.iter().map(|m| m.text.clone()).collect()
}

fn batch_texts(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}{i}")).collect()
}

/// How many `MessageReceived` events the stream holds now. Drained outside
/// tokio's cooperative budget, which would otherwise end the drain early
/// after a hundred-odd events.
async fn received(events: &mut EventStream) -> usize {
    tokio::task::unconstrained(async { drain(events) })
        .await
        .iter()
        .filter(|event| matches!(event, Event::MessageReceived { .. }))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_sends_arrives_once_and_in_order_on_every_device() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    // Two devices of bob and one other of alice: three envelopes a message,
    // so a relay request holds 21 messages and the batch needs five.
    let bob2 = devices.link(&relay, &bob, "bob", 2, "bob's second").await;
    let alice2 = devices
        .link(&relay, &alice, "alice", 2, "alice's second")
        .await;

    let batch = batch_texts("t", BATCH);
    let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
    let sent = alice.send_texts("bob", &refs).await.unwrap();
    assert_eq!(sent.len(), BATCH);
    assert!(
        sent.iter()
            .all(|s| s.status == MessageStatus::Sent && s.devices == 3)
    );
    // Distinct local ids, in the order given.
    assert!(sent.windows(2).all(|w| w[0].local_id < w[1].local_id));
    assert_eq!(alice.queued().await.unwrap(), 0);

    let envelopes = envelopes_by_key(&relay.database(), "bob");
    assert_eq!(assert_no_key_reused(&envelopes), 2 * BATCH);

    for device in [&bob, &bob2] {
        device.sync(NO_WAIT).await.unwrap();
        assert_eq!(texts(&device.history("alice", 1000).await.unwrap()), batch);
    }
    alice2.sync(NO_WAIT).await.unwrap();
    assert_eq!(texts(&alice2.history("bob", 1000).await.unwrap()), batch);
    let mine = alice.history("bob", 1000).await.unwrap();
    assert_eq!(texts(&mine), batch);
    assert!(mine.iter().all(|m| m.status == MessageStatus::Sent));
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_text_in_a_batch_refuses_the_whole_batch() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let _bob = devices.create(&relay, "bob", 1).await;
    assert!(alice.send_texts("bob", &["fine", ""]).await.is_err());
    assert!(alice.send_texts("bob", &[]).await.unwrap().is_empty());
    assert!(alice.history("bob", 10).await.unwrap().is_empty());
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_combined_request_fails_only_the_message_the_relay_refuses() {
    // One short message fits the relay's bound on a send; ten together do
    // not, and a long one does not even alone.
    let relay = TestRelay::start_with(|config| config.max_send_stored_bytes = 2_000).await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let long = "l".repeat(3_000);
    let mut batch = batch_texts("s", 10);
    batch.insert(5, long.clone());
    let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
    let sent = alice.send_texts("bob", &refs).await.unwrap();
    let statuses: Vec<MessageStatus> = sent.iter().map(|s| s.status).collect();
    let mut expected = vec![MessageStatus::Sent; 11];
    expected[5] = MessageStatus::Failed;
    assert_eq!(statuses, expected);
    assert_eq!(alice.queued().await.unwrap(), 0);

    bob.sync(NO_WAIT).await.unwrap();
    let shown = texts(&bob.history("alice", 100).await.unwrap());
    batch.remove(5);
    assert_eq!(shown, batch);
    relay.stop().await;
}

/// Alice's device crashes at the `nth` `step` of a batch of sends; opened
/// again it posts what was queued, sends one more message from the state it
/// restored, and bob shows every message once. No message key sealed two
/// different bodies.
async fn batch_send_with_a_crash_at(step: Step, nth: usize) {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    alice.send_text("bob", "first").await.unwrap();
    drop(alice);

    let path = devices.path("alice", 1);
    let alice = Client::open(&path, crashing_at(step, nth)).await.unwrap();
    let batch = batch_texts("b", BATCH);
    let sending = batch.clone();
    let crashed = tokio::spawn(async move {
        let refs: Vec<&str> = sending.iter().map(String::as_str).collect();
        alice.send_texts("bob", &refs).await
    })
    .await;
    assert!(
        crashed.is_err(),
        "the batch should have crashed at {step:?} #{nth}"
    );

    let alice = Client::open(&path, ClientOptions::default()).await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    assert_eq!(alice.queued().await.unwrap(), 0);
    // Sealed from the sessions the store holds after the crash.
    alice.send_text("bob", "after").await.unwrap();

    let mut expected = vec!["first".to_owned()];
    if step != Step::Sealing {
        expected.extend(batch);
    }
    expected.push("after".into());
    let mine = alice.history("bob", 1000).await.unwrap();
    assert_eq!(texts(&mine), expected);
    assert!(
        mine.iter().all(|m| m.status == MessageStatus::Sent),
        "{mine:?}"
    );

    // Re-posted copies are the same bytes; nothing else shares a key.
    let envelopes = envelopes_by_key(&relay.database(), "bob");
    assert_eq!(assert_no_key_reused(&envelopes), expected.len());

    let mut events = bob.events();
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(texts(&bob.history("alice", 1000).await.unwrap()), expected);
    assert_eq!(received(&mut events).await, expected.len());
    assert_eq!(bob.sync(NO_WAIT).await.unwrap().acknowledged, 0);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_crashes_before_sealing_leaves_nothing() {
    batch_send_with_a_crash_at(Step::Sealing, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_crashes_after_its_one_commit_is_posted_later() {
    batch_send_with_a_crash_at(Step::Queued, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_crashes_after_its_first_request_is_shown_once() {
    batch_send_with_a_crash_at(Step::Posted, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_crashes_after_its_second_request_is_shown_once() {
    batch_send_with_a_crash_at(Step::Posted, 2).await;
}

/// Bob's device crashes at the `nth` `step` of a sync of 70 deliveries
/// (three fetched batches: 32, 32, 6); opened again, it shows each message
/// once and the relay holds nothing more for it.
async fn receive_with_a_crash_at(step: Step, nth: usize) {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    drop(bob);
    let expected = batch_texts("m", 70);
    let refs: Vec<&str> = expected.iter().map(String::as_str).collect();
    alice.send_texts("bob", &refs).await.unwrap();

    let path = devices.path("bob", 1);
    let bob = Client::open(&path, crashing_at(step, nth)).await.unwrap();
    let mut before = bob.events();
    let crashed = tokio::spawn(async move { bob.sync(NO_WAIT).await }).await;
    assert!(
        crashed.is_err(),
        "the sync should have crashed at {step:?} #{nth}"
    );
    let shown_before = received(&mut before).await;

    let bob = Client::open(&path, ClientOptions::default()).await.unwrap();
    let mut after = bob.events();
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(texts(&bob.history("alice", 100).await.unwrap()), expected);
    // Each message was announced once, across the crash.
    assert_eq!(shown_before + received(&mut after).await, expected.len());
    assert_eq!(bob.sync(NO_WAIT).await.unwrap().acknowledged, 0);
    // What bob's store still marks as processed the relay no longer has:
    // a third run opens nothing again.
    drop(bob);
    let bob = Client::open(&path, ClientOptions::default()).await.unwrap();
    let mut third = bob.events();
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(received(&mut third).await, 0);
    assert_eq!(bob.history("alice", 100).await.unwrap().len(), 70);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_an_acknowledged_batch_before_the_next_commit_loses_nothing() {
    // The first batch is acknowledged, its marks not yet removed.
    receive_with_a_crash_at(Step::Fetched, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_commit_that_removed_the_marks_before_shows_nothing_twice() {
    // The second batch stored with the first batch's marks removed, the
    // second not yet acknowledged.
    receive_with_a_crash_at(Step::Stored, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_last_acknowledgement_loses_nothing() {
    // Every batch acknowledged; the last one's marks are still stored.
    receive_with_a_crash_at(Step::Acknowledged, 3).await;
}
