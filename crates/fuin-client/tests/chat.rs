//! One-to-one chat through a real relay on loopback: both directions,
//! receipts, multi-device fan-out, and catching up after a long time away.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Devices, NO_WAIT, TestRelay, drain};
use fuin_client::{Event, MessageStatus};
use std::time::Duration;

use fuin_relay::store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_flows_both_ways_with_receipts() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let mut bob_events = bob.events();

    let sent = alice.send_text("bob", "hello bob").await.unwrap();
    assert_eq!(sent.status, MessageStatus::Sent);
    assert_eq!(sent.devices, 1);

    let report = bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(report.messages, 1);
    let history = bob.history("alice", 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].text, "hello bob");
    assert!(!history[0].outgoing);
    assert_eq!(history[0].status, MessageStatus::Unread);
    assert_eq!(history[0].sender, *alice.address());
    let events = drain(&mut bob_events);
    assert!(
        events.iter().any(
            |e| matches!(e, Event::MessageReceived { conversation, .. } if conversation == "alice")
        ),
        "{events:?}"
    );

    // Bob's device sent a delivery receipt at the end of its sync.
    alice.sync(NO_WAIT).await.unwrap();
    let mine = alice.history("bob", 10).await.unwrap();
    assert_eq!(mine[0].status, MessageStatus::Delivered);
    let receipts = alice.receipts(mine[0].local_id).await.unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].by, *bob.address());

    // Bob reads and answers.
    assert_eq!(bob.mark_read("alice").await.unwrap(), 1);
    bob.send_text("alice", "hi alice").await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    let mine = alice.history("bob", 10).await.unwrap();
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0].text, "hello bob");
    assert_eq!(mine[0].status, MessageStatus::Read);
    assert_eq!(mine[1].text, "hi alice");
    assert!(!mine[1].outgoing);

    let conversations = alice.conversations().await.unwrap();
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].peer, "bob");
    assert_eq!(conversations[0].messages, 2);
    assert_eq!(conversations[0].unread, 1);

    // The received message keeps what a report needs.
    let opening = alice
        .franking_opening(mine[1].local_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(opening.sender, *bob.address());
    assert_eq!(opening.recipient, *alice.address());
    assert!(
        alice
            .franking_opening(mine[0].local_id)
            .await
            .unwrap()
            .is_none()
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_device_of_both_users_sees_the_whole_conversation() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob_phone = devices.create(&relay, "bob", 1).await;
    let bob_laptop = devices.link(&relay, &bob_phone, "bob", 2, "laptop").await;
    let mut laptop_events = bob_laptop.events();

    let sent = alice
        .send_text("bob", "to both of bob's devices")
        .await
        .unwrap();
    assert_eq!(sent.devices, 2);
    for bob in [&bob_phone, &bob_laptop] {
        bob.sync(NO_WAIT).await.unwrap();
        let history = bob.history("alice", 10).await.unwrap();
        assert_eq!(history.len(), 1, "{}", bob.address());
        assert_eq!(history[0].text, "to both of bob's devices");
    }

    // The phone answers: alice and bob's laptop both get it.
    let sent = bob_phone
        .send_text("alice", "answered from the phone")
        .await
        .unwrap();
    assert_eq!(sent.devices, 2);
    alice.sync(NO_WAIT).await.unwrap();
    bob_laptop.sync(NO_WAIT).await.unwrap();
    let alice_view = alice.history("bob", 10).await.unwrap();
    assert_eq!(alice_view.len(), 2);
    assert_eq!(alice_view[1].sender, *bob_phone.address());
    let laptop_view = bob_laptop.history("alice", 10).await.unwrap();
    assert_eq!(laptop_view.len(), 2);
    assert!(laptop_view[1].outgoing);
    assert_eq!(laptop_view[1].text, "answered from the phone");
    // The laptop knew the phone from the list it was linked with.
    let events = drain(&mut laptop_events);
    assert!(
        !events.iter().any(|e| matches!(
            e,
            Event::DeviceListRejected { .. } | Event::MessageDropped { .. }
        )),
        "{events:?}"
    );

    // Reading on the phone marks the message read on the laptop too.
    assert_eq!(bob_phone.mark_read("alice").await.unwrap(), 1);
    bob_laptop.sync(NO_WAIT).await.unwrap();
    let laptop_view = bob_laptop.history("alice", 10).await.unwrap();
    assert_eq!(laptop_view[0].status, MessageStatus::Read);

    // A device added later gets what is sent from then on.
    let bob_tablet = devices.link(&relay, &bob_phone, "bob", 3, "tablet").await;
    let mut alice_events = alice.events();
    let sent = alice.send_text("bob", "after the tablet").await.unwrap();
    assert_eq!(sent.devices, 3);
    let events = drain(&mut alice_events);
    assert!(
        events.iter().any(|e| matches!(e,
            Event::DevicesChanged { user, added, removed }
                if user == "bob" && removed.is_empty()
                    && added.iter().map(|d| d.name.as_str()).collect::<Vec<_>>() == ["tablet"])),
        "{events:?}"
    );
    bob_tablet.sync(NO_WAIT).await.unwrap();
    let tablet_view = bob_tablet.history("alice", 10).await.unwrap();
    assert_eq!(tablet_view.len(), 1);
    assert_eq!(tablet_view[0].text, "after the tablet");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_away_for_a_long_time_catches_up_on_a_thousand_messages() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    for i in 0..1000 {
        let sent = alice
            .send_text("bob", &format!("message {i}"))
            .await
            .unwrap();
        assert_eq!(sent.status, MessageStatus::Sent);
    }
    let report = bob.sync(Duration::ZERO).await.unwrap();
    assert_eq!(report.messages, 1000);
    assert_eq!(report.dropped, 0);
    let history = bob.history("alice", 2000).await.unwrap();
    let texts: Vec<_> = history.iter().map(|m| m.text.clone()).collect();
    let expected: Vec<_> = (0..1000).map(|i| format!("message {i}")).collect();
    assert_eq!(texts, expected);
    // Nothing is left at the relay, and a second sync finds nothing new.
    assert_eq!(bob.sync(NO_WAIT).await.unwrap().messages, 0);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_prekeys_are_replenished_when_the_relay_says_the_pool_is_low() {
    // A watermark above the first batch: the pool is "low" from the start.
    let relay = TestRelay::start_with(|config| config.prekey_low_watermark = 150).await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let remaining = || async {
        relay
            .relay
            .store()
            .one_time_remaining(bob.address())
            .await
            .unwrap()
    };
    assert_eq!(remaining().await, 100);
    // Alice's first message takes one of bob's one-time prekeys.
    alice.send_text("bob", "hello").await.unwrap();
    assert_eq!(remaining().await, 99);
    let mut events = bob.events();
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(remaining().await, 199);
    assert!(drain(&mut events).contains(&Event::PrekeysReplenished { count: 100 }));
    // Handshakes still open after the upload.
    let carol = devices.create(&relay, "carol", 1).await;
    carol.send_text("bob", "from carol").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(
        bob.history("carol", 10).await.unwrap()[0].text,
        "from carol"
    );
    relay.stop().await;
}
