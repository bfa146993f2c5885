//! A `send_text` future dropped at each of its await points loses nothing
//! and sends nothing twice (`spec/client.md` §15.4): the message is in the
//! sender's history once (or not at all, when dropped before sealing), the
//! peer shows it once, and the relay stored it once wherever the send
//! reached it, twice only when the relay's answer was lost, in which case
//! the peer drops the second copy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::gate::GateProxy;
use common::{Devices, NO_WAIT, TestRelay, drain, eventually};
use fuin_client::{Client, ClientOptions, Event, MessageStatus, Step, StepGate};
use tokio::sync::Notify;

/// Where the send future is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DropPoint {
    /// Devices and bundles fetched, nothing sealed or stored.
    BeforeSealing,
    /// Stored in the history and the outbox, not posted.
    AfterQueueing,
    /// Posted: the relay stored it, its answer is on the way.
    DuringThePost,
    /// The relay's acceptance read, the outbox not yet cleared.
    AfterTheRelayAccepted,
}

/// Bob's mailbox rows at the relay.
fn rows_for(relay: &TestRelay, user: &str) -> i64 {
    let db = rusqlite::Connection::open(relay.database()).unwrap();
    db.query_row(
        "SELECT count(*) FROM mailbox WHERE user = ?1",
        [user],
        |row| row.get(0),
    )
    .unwrap()
}

/// A gate that holds the send at `step` once (its future then waits for
/// ever) and says so through `reached`; `on_queued` runs at `Step::Queued`.
fn gate(
    step: Option<Step>,
    reached: Arc<Notify>,
    on_queued: impl Fn() + Send + Sync + 'static,
) -> StepGate {
    let armed = Arc::new(AtomicBool::new(true));
    Arc::new(move |at| -> Pin<Box<dyn Future<Output = ()> + Send>> {
        if at == Step::Queued && armed.load(Ordering::SeqCst) {
            on_queued();
        }
        if Some(at) == step && armed.swap(false, Ordering::SeqCst) {
            reached.notify_one();
            Box::pin(std::future::pending())
        } else {
            Box::pin(std::future::ready(()))
        }
    })
}

async fn send_dropped_at(point: DropPoint) {
    let listener = GateProxy::bind().await;
    let proxy_url = listener.url.clone();
    let relay = TestRelay::start_with(|config| config.origins.push(proxy_url)).await;
    let proxy = listener.forward(&relay.url);
    let hold = Arc::new(proxy.holder());
    let devices = Devices::new();

    let reached = Arc::new(Notify::new());
    let step = match point {
        DropPoint::BeforeSealing => Some(Step::Sealing),
        DropPoint::AfterQueueing => Some(Step::Queued),
        DropPoint::DuringThePost => None,
        DropPoint::AfterTheRelayAccepted => Some(Step::Posted),
    };
    let holding = hold.clone();
    let hold_answers = point == DropPoint::DuringThePost;
    let options = ClientOptions {
        step_gate: Some(gate(step, reached.clone(), move || {
            if hold_answers {
                holding(true);
            }
        })),
        ..ClientOptions::default()
    };
    let alice = Client::create(devices.path("alice", 1), &proxy.url, "alice", 1, options)
        .await
        .unwrap();
    let bob = devices.create(&relay, "bob", 1).await;
    let mut bob_events = bob.events();

    // The send runs until the drop point, and is dropped there.
    {
        let send = alice.send_text("bob", "hello once");
        if point == DropPoint::DuringThePost {
            let stored = async {
                eventually("the relay stores the post", || async {
                    rows_for(&relay, "bob") == 1
                })
                .await;
            };
            tokio::select! {
                result = send => panic!("the send finished: {result:?}"),
                () = stored => {}
            }
        } else {
            tokio::select! {
                result = send => panic!("the send finished: {result:?}"),
                () = reached.notified() => {}
            }
        }
    }
    hold(false);

    let history = alice.history("bob", 10).await.unwrap();
    match point {
        DropPoint::BeforeSealing => {
            // As if never called: nothing stored, nothing queued, nothing sent.
            assert!(history.is_empty());
            assert_eq!(alice.queued().await.unwrap(), 0);
            assert_eq!(rows_for(&relay, "bob"), 0);
            // The app sends again (it never got an answer): one message.
            alice.send_text("bob", "hello once").await.unwrap();
        }
        DropPoint::AfterQueueing => {
            assert_eq!(history.len(), 1);
            assert_eq!(history[0].status, MessageStatus::Queued);
            assert_eq!(alice.queued().await.unwrap(), 1);
            assert_eq!(rows_for(&relay, "bob"), 0);
        }
        DropPoint::DuringThePost | DropPoint::AfterTheRelayAccepted => {
            assert_eq!(history.len(), 1);
            assert_eq!(history[0].status, MessageStatus::Queued);
            assert_eq!(alice.queued().await.unwrap(), 1);
            assert_eq!(rows_for(&relay, "bob"), 1);
        }
    }

    // Catching up posts what the outbox holds.
    alice.sync(NO_WAIT).await.unwrap();
    assert_eq!(alice.queued().await.unwrap(), 0);
    let history = alice.history("bob", 10).await.unwrap();
    assert_eq!(history.len(), 1, "the sender's history holds it once");
    assert_eq!(history[0].text, "hello once");
    assert_eq!(history[0].status, MessageStatus::Sent);
    // The relay stored it once, except where its answer was lost: then the
    // outbox posted it again (the relay does not dedupe, §15.4).
    let stored = rows_for(&relay, "bob");
    let twice = matches!(
        point,
        DropPoint::DuringThePost | DropPoint::AfterTheRelayAccepted
    );
    assert_eq!(stored, if twice { 2 } else { 1 });

    bob.sync(NO_WAIT).await.unwrap();
    let received = bob.history("alice", 10).await.unwrap();
    assert_eq!(received.len(), 1, "the peer shows it once");
    assert_eq!(received[0].text, "hello once");
    let events = drain(&mut bob_events);
    let shown = events
        .iter()
        .filter(|event| matches!(event, Event::MessageReceived { .. }))
        .count();
    let dropped = events
        .iter()
        .filter(|event| matches!(event, Event::MessageDropped { .. }))
        .count();
    assert_eq!(shown, 1);
    assert_eq!(dropped, if twice { 1 } else { 0 }, "{events:?}");
    assert_eq!(rows_for(&relay, "bob"), 0, "everything acknowledged");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_dropped_before_sealing_leaves_no_trace() {
    send_dropped_at(DropPoint::BeforeSealing).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_dropped_after_queueing_is_posted_once_by_the_next_sync() {
    send_dropped_at(DropPoint::AfterQueueing).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_dropped_during_the_post_is_shown_once() {
    send_dropped_at(DropPoint::DuringThePost).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_dropped_after_the_relay_accepted_is_shown_once() {
    send_dropped_at(DropPoint::AfterTheRelayAccepted).await;
}
