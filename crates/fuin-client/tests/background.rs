//! Background work end to end through a real relay (`spec/client.md` §15):
//! delivery without the app calling `sync`, over the push stream or, when
//! the stream is refused, long polls; pause and resume; queued sends retried
//! with backoff once the relay is back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::gate::GateProxy;
use common::{CutProxy, Devices, TestRelay, eventually};
use fuin_client::{
    BackgroundOptions, Backoff, Client, ClientOptions, ConnectionState, Event, EventStream,
    EventStreamItem, MessageStatus, Step,
};
use fuin_relay::store::Store;

/// Quick settings, so that a test waits milliseconds rather than minutes.
fn quick() -> BackgroundOptions {
    BackgroundOptions::new(
        Duration::from_secs(2),
        Duration::from_millis(200),
        Backoff {
            initial: Duration::from_millis(40),
            max: Duration::from_millis(320),
        },
    )
}

/// The next event that `wanted` picks, within 20 s; the events before it.
async fn wait_for<T>(
    events: &mut EventStream,
    what: &str,
    mut wanted: impl FnMut(&Event) -> Option<T>,
) -> (T, Vec<Event>) {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let next = tokio::time::timeout_at(deadline, events.next())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}; saw {seen:?}"));
        match next {
            Some(EventStreamItem::Event(event)) => {
                if let Some(found) = wanted(&event) {
                    return (found, seen);
                }
                seen.push(event);
            }
            Some(EventStreamItem::Lagged(n)) => panic!("lagged by {n}"),
            None => panic!("the client went away waiting for {what}"),
        }
    }
}

fn state_is(wanted: ConnectionState) -> impl FnMut(&Event) -> Option<()> {
    move |event| match event {
        Event::ConnectionChanged { state } if *state == wanted => Some(()),
        _ => None,
    }
}

fn received(event: &Event) -> Option<i64> {
    match event {
        Event::MessageReceived { local_id, .. } => Some(*local_id),
        _ => None,
    }
}

fn rows_for(relay: &TestRelay, user: &str) -> i64 {
    let db = rusqlite::Connection::open(relay.database()).unwrap();
    db.query_row(
        "SELECT count(*) FROM mailbox WHERE user = ?1",
        [user],
        |row| row.get(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_work_delivers_over_the_push_stream_without_sync() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let mut events = bob.events();
    let background = bob.start_background(quick()).unwrap();
    wait_for(
        &mut events,
        "the push stream",
        state_is(ConnectionState::Push),
    )
    .await;
    assert_eq!(background.state(), ConnectionState::Push);

    // Two messages, each pushed as it arrives; bob never calls `sync`.
    for text in ["first", "second"] {
        alice.send_text("bob", text).await.unwrap();
        let (local_id, _) = wait_for(&mut events, "a pushed message", received).await;
        let message = bob.message(local_id).await.unwrap().unwrap();
        assert_eq!(message.text, text);
    }
    // Stored, then acknowledged on the stream: the relay lets them go.
    eventually("the relay deletes what was acknowledged", || async {
        rows_for(&relay, "bob") == 0
    })
    .await;
    // The delivery receipts go out as `sync` would send them.
    let alice = &alice;
    eventually("the delivery receipts", || async move {
        alice.sync(Duration::ZERO).await.unwrap();
        let history = alice.history("bob", 10).await.unwrap();
        history.len() == 2
            && history
                .iter()
                .all(|message| message.status == MessageStatus::Delivered)
    })
    .await;

    background.stop().await;
    wait_for(&mut events, "the stop", state_is(ConnectionState::Stopped)).await;
    tokio::time::timeout(Duration::from_secs(10), relay.relay.streams_closed())
        .await
        .unwrap();
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_batch_replenishes_prekeys_as_sync_does() {
    // A watermark above the first batch: the pool is "low" from the start.
    let relay = TestRelay::start_with(|config| config.prekey_low_watermark = 150).await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let mut events = bob.events();
    let _background = bob.start_background(quick()).unwrap();
    wait_for(
        &mut events,
        "the push stream",
        state_is(ConnectionState::Push),
    )
    .await;

    alice.send_text("bob", "hello").await.unwrap();
    let ((), seen) = wait_for(&mut events, "the replenishment", |event| {
        (*event == Event::PrekeysReplenished { count: 100 }).then_some(())
    })
    .await;
    assert!(
        seen.iter().any(|event| received(event).is_some()),
        "{seen:?}"
    );
    let remaining = relay
        .relay
        .store()
        .one_time_remaining(bob.address())
        .await
        .unwrap();
    assert_eq!(remaining, 199);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_work_long_polls_when_the_stream_is_refused() {
    let listener = GateProxy::bind().await;
    let proxy_url = listener.url.clone();
    let relay = TestRelay::start_with(|config| config.origins.push(proxy_url)).await;
    let proxy = listener.forward(&relay.url);
    proxy.refuse_upgrades(true);
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = Client::create(
        devices.path("bob", 1),
        &proxy.url,
        "bob",
        1,
        ClientOptions::default(),
    )
    .await
    .unwrap();
    let mut events = bob.events();
    let background = bob.start_background(quick()).unwrap();
    let ((), before) = wait_for(
        &mut events,
        "long polling",
        state_is(ConnectionState::Polling),
    )
    .await;
    assert!(
        !before.contains(&Event::ConnectionChanged {
            state: ConnectionState::Push
        }),
        "{before:?}"
    );

    alice.send_text("bob", "by long poll").await.unwrap();
    let (local_id, seen) = wait_for(&mut events, "a polled message", received).await;
    assert_eq!(
        bob.message(local_id).await.unwrap().unwrap().text,
        "by long poll"
    );
    assert_eq!(background.state(), ConnectionState::Polling, "{seen:?}");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_stream_that_keeps_failing_gives_way_to_long_polls() {
    let listener = GateProxy::bind().await;
    let proxy_url = listener.url.clone();
    let relay = TestRelay::start_with(|config| config.origins.push(proxy_url)).await;
    let proxy = listener.forward(&relay.url);
    proxy.break_streams(true);
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = Client::create(
        devices.path("bob", 1),
        &proxy.url,
        "bob",
        1,
        ClientOptions::default(),
    )
    .await
    .unwrap();
    let mut events = bob.events();
    let mut options = quick();
    // Each severed stream fails well within a tick, even on a busy machine.
    options.tick = Duration::from_secs(5);
    let failures = options.push_failures_before_polling;
    let _background = bob.start_background(options).unwrap();
    let ((), before) = wait_for(
        &mut events,
        "long polling",
        state_is(ConnectionState::Polling),
    )
    .await;
    // The stream opened, and failed, as often as the setting allows.
    let opened = before
        .iter()
        .filter(|event| {
            **event
                == Event::ConnectionChanged {
                    state: ConnectionState::Push,
                }
        })
        .count();
    assert_eq!(opened, usize::try_from(failures).unwrap(), "{before:?}");

    alice.send_text("bob", "by long poll").await.unwrap();
    let (local_id, _) = wait_for(&mut events, "a polled message", received).await;
    assert_eq!(
        bob.message(local_id).await.unwrap().unwrap().text,
        "by long poll"
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ended_by_token_revocation_logs_in_again_and_resumes_push() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let mut events = bob.events();
    let background = bob.start_background(quick()).unwrap();
    wait_for(
        &mut events,
        "the push stream",
        state_is(ConnectionState::Push),
    )
    .await;

    // The relay revokes bob's token: its stream closes with
    // `token_revoked`, and the token is refused (401) from now on.
    let revoked = relay.relay.revoke_tokens(bob.address()).await.unwrap();
    assert_eq!(revoked, 1);
    let ((), between) = wait_for(
        &mut events,
        "the stream again",
        state_is(ConnectionState::Push),
    )
    .await;
    assert!(
        between.contains(&Event::ConnectionChanged {
            state: ConnectionState::Connecting
        }),
        "{between:?}"
    );
    eventually("one stream open at the relay", || async {
        relay.relay.device_streams(bob.address()) == 1
    })
    .await;

    alice.send_text("bob", "after a new login").await.unwrap();
    let (local_id, _) = wait_for(&mut events, "a pushed message", received).await;
    assert_eq!(
        bob.message(local_id).await.unwrap().unwrap().text,
        "after a new login"
    );
    // Dropping the handle ends the task, and with it the stream.
    drop(background);
    tokio::time::timeout(Duration::from_secs(10), relay.relay.streams_closed())
        .await
        .unwrap();
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_delivery_and_resume_catches_up() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let mut events = bob.events();
    let background = bob.start_background(quick()).unwrap();
    wait_for(
        &mut events,
        "the push stream",
        state_is(ConnectionState::Push),
    )
    .await;

    background.pause().await;
    assert_eq!(background.state(), ConnectionState::Paused);
    wait_for(&mut events, "the pause", state_is(ConnectionState::Paused)).await;
    // Paused means off the network: the stream is closed and no long poll
    // waits at the relay.
    tokio::time::timeout(Duration::from_secs(10), relay.relay.streams_closed())
        .await
        .unwrap();
    assert_eq!(relay.relay.mail_waiters(), 0);

    alice.send_text("bob", "while paused").await.unwrap();
    assert_eq!(rows_for(&relay, "bob"), 1);
    assert!(bob.history("alice", 10).await.unwrap().is_empty());
    assert_eq!(background.state(), ConnectionState::Paused);

    background.resume();
    let (local_id, _) = wait_for(&mut events, "the catch-up", received).await;
    assert_eq!(
        bob.message(local_id).await.unwrap().unwrap().text,
        "while paused"
    );
    wait_for(
        &mut events,
        "the push stream again",
        state_is(ConnectionState::Push),
    )
    .await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_send_is_retried_with_backoff_until_the_relay_is_back() {
    let listener = CutProxy::bind().await;
    let proxy_url = listener.url.clone();
    let relay = TestRelay::start_with(|config| config.origins.push(proxy_url)).await;
    let proxy = listener.forward(&relay.url);
    let cut = Arc::new(proxy.cutter());
    let hook_cut = cut.clone();
    let devices = Devices::new();
    let options = ClientOptions {
        // The network goes as soon as the message is sealed and queued.
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
    let mut bob_events = bob.events();
    let bob_background = bob.start_background(quick()).unwrap();
    wait_for(
        &mut bob_events,
        "bob's stream",
        state_is(ConnectionState::Push),
    )
    .await;

    let sent = alice.send_text("bob", "queued, then sent").await.unwrap();
    assert_eq!(sent.status, MessageStatus::Queued);

    let mut alice_events = alice.events();
    let retry = quick().retry;
    let alice_background = alice.start_background(quick()).unwrap();
    // Offline, retrying: each wait within its backoff window, the windows
    // growing up to the cap.
    let mut waits = Vec::new();
    while waits.len() < 5 {
        let (wait, _) = wait_for(&mut alice_events, "an offline retry", |event| match event {
            Event::ConnectionChanged {
                state: ConnectionState::Offline { retry_in, .. },
            } => Some(*retry_in),
            _ => None,
        })
        .await;
        waits.push(wait);
    }
    for (attempt, wait) in (0u32..).zip(&waits) {
        let window = retry.window(attempt);
        assert!(
            *wait >= window / 2 && *wait <= window,
            "retry {attempt} waits {wait:?}, outside {window:?}: {waits:?}"
        );
    }
    assert_eq!(retry.window(4), retry.max, "the last waits reach the cap");
    assert_eq!(alice.queued().await.unwrap(), 1);

    cut(false);
    let (local_id, _) = wait_for(&mut bob_events, "the retried message", received).await;
    assert_eq!(
        bob.message(local_id).await.unwrap().unwrap().text,
        "queued, then sent"
    );
    let sender = &alice;
    eventually("the outbox empties", || async move {
        sender.queued().await.unwrap() == 0
    })
    .await;
    let mine = alice.message(sent.local_id).await.unwrap().unwrap();
    assert_ne!(mine.status, MessageStatus::Queued);
    assert_eq!(bob.history("alice", 10).await.unwrap().len(), 1);

    drop(alice_background);
    bob_background.stop().await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_work_needs_a_runtime_and_says_so() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let bob = devices.create(&relay, "bob", 1).await;
    let outside = std::thread::spawn(move || bob.start_background(quick()).map(|_| ()))
        .join()
        .unwrap();
    assert!(matches!(
        outside,
        Err(fuin_client::ClientError::InvalidArgument(_))
    ));
    relay.stop().await;
}
