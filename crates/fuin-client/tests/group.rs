//! Group conversations through a real relay on loopback: four users make a
//! group and talk; a removed member reads nothing of the next epoch (also
//! when a malicious relay hands it a copy); a newcomer reads no history
//! (also when the relay replays an old message to it); deliveries that the
//! relay reorders, group messages ahead of the keys they need, still open.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Devices, NO_WAIT, TestRelay, drain};
use fuin_client::{Client, Event, GroupChange, GroupStatus};
use fuin_relay::store::{NewDelivery, Store, StoredDelivery};
use fuin_wire::{ContentKind, DeliveredRecord, DeviceAddress, FrameBody};

/// The texts of a group's history, oldest first.
async fn texts(client: &Client, group: &str) -> Vec<String> {
    client
        .group_history(group, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.text)
        .collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// What waits in a device's mailbox at the relay, as the relay stored it.
async fn mailbox(relay: &TestRelay, device: &DeviceAddress<'static>) -> Vec<StoredDelivery> {
    relay.relay.store().fetch(device, 100, now()).await.unwrap()
}

/// A malicious relay's copy of a stored group message, re-addressed to
/// `to` (the relay can write any envelope and stamp it).
async fn copy_to(relay: &TestRelay, stored: &StoredDelivery, to: &DeviceAddress<'static>) {
    let mut record = DeliveredRecord::from_bytes(&stored.record)
        .unwrap()
        .into_owned();
    assert_eq!(record.envelope.content_kind, ContentKind::GroupMessage);
    record.envelope.recipient = to.clone();
    let message_id = fuin_wire::MessageId(rand::random());
    record.server_message_id = message_id;
    relay
        .relay
        .store()
        .deliver(vec![NewDelivery {
            message_id,
            recipient: to.clone(),
            record: record.to_bytes().unwrap(),
            expires_at_ms: now() + 60_000,
        }])
        .await
        .unwrap();
}

fn group_message(stored: &StoredDelivery) -> bool {
    DeliveredRecord::from_bytes(&stored.record)
        .unwrap()
        .envelope
        .content_kind
        == ContentKind::GroupMessage
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_users_talk_a_removed_member_reads_no_more_and_a_newcomer_no_history() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let carol = devices.create(&relay, "carol", 1).await;
    let dave = devices.create(&relay, "dave", 1).await;
    let mut bob_events = bob.events();
    let mut carol_events = carol.events();

    let group = alice.create_group(&["bob", "carol"]).await.unwrap();
    assert_eq!(group.epoch, 0);
    assert_eq!(group.members.len(), 3);
    let id = group.id.clone();

    // Bob and Carol join from the welcome and hand out their keys.
    bob.sync(NO_WAIT).await.unwrap();
    carol.sync(NO_WAIT).await.unwrap();
    assert!(
        drain(&mut bob_events).iter().any(|e| matches!(
            e,
            Event::GroupChanged { group, change: GroupChange::Joined, by, .. }
                if *group == id && by == alice.address()
        )),
        "Bob joined"
    );
    let bobs = bob.groups().await.unwrap();
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0].id, id);
    assert_eq!(bobs[0].members, group.members);

    alice.send_group_text(&id, "hello group").await.unwrap();
    // A copy of it, kept by a relay that will later replay it to Dave.
    let old_copy = mailbox(&relay, bob.address())
        .await
        .into_iter()
        .rfind(group_message)
        .unwrap();
    for member in [&alice, &bob, &carol, &bob, &alice] {
        member.sync(NO_WAIT).await.unwrap();
    }
    assert_eq!(texts(&bob, &id).await, ["hello group"]);
    assert_eq!(texts(&carol, &id).await, ["hello group"]);
    drain(&mut bob_events);

    let sent = bob.send_group_text(&id, "hi, from bob").await.unwrap();
    assert_eq!(sent.devices, 2);
    alice.sync(NO_WAIT).await.unwrap();
    carol.sync(NO_WAIT).await.unwrap();
    assert_eq!(texts(&alice, &id).await, ["hello group", "hi, from bob"]);
    assert_eq!(texts(&carol, &id).await, ["hello group", "hi, from bob"]);
    let received = alice.group_history(&id, 10).await.unwrap();
    assert!(!received[1].outgoing);
    assert_eq!(received[1].sender, *bob.address());
    assert!(received[0].outgoing);

    // Alice removes Carol: epoch 1, fresh chains that Carol never gets.
    let changed = alice.remove_group_members(&id, &["carol"]).await.unwrap();
    assert_eq!(changed.epoch, 1);
    assert!(!changed.members.contains(carol.address()));
    alice.send_group_text(&id, "after carol").await.unwrap();
    // The relay tries to let Carol read it anyway: it copies Bob's delivery.
    let leaked = mailbox(&relay, bob.address())
        .await
        .into_iter()
        .rfind(group_message)
        .unwrap();
    copy_to(&relay, &leaked, carol.address()).await;
    drain(&mut carol_events);
    carol.sync(NO_WAIT).await.unwrap();
    let carol_saw = drain(&mut carol_events);
    assert!(
        carol_saw.iter().any(|e| matches!(
            e,
            Event::GroupChanged {
                change: GroupChange::RemovedThisDevice,
                epoch: 0,
                ..
            }
        )),
        "{carol_saw:?}"
    );
    assert!(
        carol_saw.iter().any(|e| matches!(
            e,
            Event::MessageDropped { from, reason }
                if from == alice.address() && reason.contains("not a member")
        )),
        "{carol_saw:?}"
    );
    assert!(
        !carol_saw
            .iter()
            .any(|e| matches!(e, Event::GroupMessageReceived { .. })),
        "{carol_saw:?}"
    );
    assert_eq!(texts(&carol, &id).await, ["hello group", "hi, from bob"]);
    let carols = carol.groups().await.unwrap();
    assert_eq!(carols[0].status, GroupStatus::Removed);
    assert!(carol.send_group_text(&id, "still here?").await.is_err());

    // Bob, still a member, reads it, and the rest go on.
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(
        texts(&bob, &id).await,
        ["hello group", "hi, from bob", "after carol"]
    );
    assert!(drain(&mut bob_events).iter().any(|e| matches!(
        e,
        Event::GroupChanged { change: GroupChange::Removed(gone), epoch: 1, .. }
            if gone == &vec![carol.address().clone()]
    )));
    bob.send_group_text(&id, "bob in epoch 1").await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    assert_eq!(
        texts(&alice, &id).await,
        [
            "hello group",
            "hi, from bob",
            "after carol",
            "bob in epoch 1"
        ]
    );
    carol.sync(NO_WAIT).await.unwrap();
    assert_eq!(texts(&carol, &id).await, ["hello group", "hi, from bob"]);

    // Dave comes in at epoch 2 and gets nothing from before, even when the
    // relay replays an epoch-0 message to him.
    let added = alice.add_group_members(&id, &["dave"]).await.unwrap();
    assert_eq!(added.epoch, 2);
    let mut dave_events = dave.events();
    dave.sync(NO_WAIT).await.unwrap();
    copy_to(&relay, &old_copy, dave.address()).await;
    dave.sync(NO_WAIT).await.unwrap();
    let dave_saw = drain(&mut dave_events);
    assert!(
        dave_saw.iter().any(|e| matches!(
            e,
            Event::GroupChanged {
                change: GroupChange::Joined,
                epoch: 2,
                ..
            }
        )),
        "{dave_saw:?}"
    );
    assert!(
        dave_saw.iter().any(|e| matches!(
            e,
            Event::MessageDropped { reason, .. } if reason.contains("epoch 0 is not held")
        )),
        "{dave_saw:?}"
    );
    assert!(texts(&dave, &id).await.is_empty());
    for member in [&bob, &dave, &alice] {
        member.sync(NO_WAIT).await.unwrap();
    }
    alice.send_group_text(&id, "welcome dave").await.unwrap();
    bob.send_group_text(&id, "hello dave").await.unwrap();
    dave.sync(NO_WAIT).await.unwrap();
    assert_eq!(texts(&dave, &id).await, ["welcome dave", "hello dave"]);
    dave.send_group_text(&id, "thanks").await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    carol.sync(NO_WAIT).await.unwrap();
    assert_eq!(texts(&alice, &id).await.last().unwrap(), "thanks");
    assert_eq!(texts(&bob, &id).await.last().unwrap(), "thanks");
    assert_eq!(texts(&carol, &id).await, ["hello group", "hi, from bob"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_messages_reordered_by_the_relay_and_ahead_of_their_keys_still_open() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let carol = devices.create(&relay, "carol", 1).await;
    let id = alice.create_group(&["bob", "carol"]).await.unwrap().id;
    for text in ["one", "two", "three"] {
        alice.send_group_text(&id, text).await.unwrap();
    }
    // The relay reorders Bob's mailbox: the group messages first, newest
    // first, then the welcome and the sender key they depend on.
    let store = relay.relay.store();
    let waiting = mailbox(&relay, bob.address()).await;
    assert_eq!(waiting.len(), 5);
    let ids: Vec<_> = waiting.iter().map(|d| d.message_id).collect();
    assert_eq!(store.acknowledge(bob.address(), &ids).await.unwrap(), 5);
    let (mut group, direct): (Vec<_>, Vec<_>) = waiting.into_iter().partition(group_message);
    assert_eq!(group.len(), 3);
    group.reverse();
    for stored in group.into_iter().chain(direct) {
        store
            .deliver(vec![NewDelivery {
                message_id: stored.message_id,
                recipient: bob.address().clone(),
                record: stored.record,
                expires_at_ms: now() + 60_000,
            }])
            .await
            .unwrap();
    }
    let mut events = bob.events();
    bob.sync(NO_WAIT).await.unwrap();
    let saw = drain(&mut events);
    assert!(
        !saw.iter()
            .any(|e| matches!(e, Event::MessageDropped { .. })),
        "{saw:?}"
    );
    // All three open, shown in the sender's order.
    assert_eq!(texts(&bob, &id).await, ["one", "two", "three"]);
    assert_eq!(
        saw.iter()
            .filter(|e| matches!(e, Event::GroupMessageReceived { .. }))
            .count(),
        3
    );
    // Nothing stays held: a replay of the same messages is refused, not shown.
    carol.sync(NO_WAIT).await.unwrap();
    assert_eq!(texts(&carol, &id).await, ["one", "two", "three"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_state_and_history_survive_reopening_the_store() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let id = alice.create_group(&["bob"]).await.unwrap().id;
    bob.sync(NO_WAIT).await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    alice.send_group_text(&id, "before").await.unwrap();
    drop(alice);
    let alice = Client::open(devices.path("alice", 1), Default::default())
        .await
        .unwrap();
    alice.send_group_text(&id, "after reopening").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(texts(&bob, &id).await, ["before", "after reopening"]);
    assert_eq!(texts(&alice, &id).await, ["before", "after reopening"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_received_group_message_is_reported_and_moderation_verifies_it() {
    use common::moderation::{moderated_relay, moderator, pull};
    use fuin_client::report::{AuditLog, Verdict};

    let relay = moderated_relay().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let carol = devices.create(&relay, "carol", 1).await;
    let id = alice.create_group(&["bob", "carol"]).await.unwrap().id;
    for member in [&bob, &carol, &alice] {
        member.sync(NO_WAIT).await.unwrap();
    }
    alice
        .send_group_text(&id, "hand it over or else")
        .await
        .unwrap();
    alice.send_group_text(&id, "just kidding").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let history = bob.group_history(&id, 10).await.unwrap();
    assert_eq!(history.len(), 2);

    // A message this device sent cannot be reported.
    let own = alice.group_history(&id, 10).await.unwrap();
    assert!(alice.report_group("x", &[own[0].local_id]).await.is_err());

    let builder = bob
        .report_group("threat", &[history[0].local_id])
        .await
        .unwrap();
    let preview = builder.preview();
    assert_eq!(preview.messages.len(), 1);
    assert_eq!(preview.messages[0].text(), "hand it over or else");
    let moderator = moderator();
    bob.submit_group_report(&builder, &moderator.public_key().unwrap())
        .await
        .unwrap();

    let batch = pull(&relay).await;
    assert_eq!(batch.reports.len(), 1);
    let report = moderator
        .open(
            &mut AuditLog::in_memory(),
            "moderator",
            &batch.reports.as_slice()[0],
            now(),
        )
        .unwrap();
    assert_eq!(report.reporter, *bob.address());
    assert_eq!(hex::encode(report.group.unwrap().0), id);
    assert_eq!(report.messages.len(), 1);
    assert_eq!(report.messages[0].verdict, Verdict::Verified);
    assert_eq!(report.messages[0].sender, *alice.address());
    assert_eq!(report.messages[0].text(), "hand it over or else");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_messages_forged_relabelled_or_replayed_by_the_relay_are_dropped_with_a_reason() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let carol = devices.create(&relay, "carol", 1).await;
    let id = alice.create_group(&["bob", "carol"]).await.unwrap().id;
    for member in [&bob, &carol, &alice, &bob] {
        member.sync(NO_WAIT).await.unwrap();
    }
    alice.send_group_text(&id, "genuine").await.unwrap();
    let store = relay.relay.store();
    let stored = mailbox(&relay, bob.address())
        .await
        .into_iter()
        .rfind(group_message)
        .unwrap();
    let original = DeliveredRecord::from_bytes(&stored.record)
        .unwrap()
        .into_owned();
    // The relay's variants of alice's message: presented as carol's, and
    // with one byte of its sealed body changed. Then the genuine one, and
    // a replay of it.
    let mut as_carol = original.clone();
    as_carol.sender = carol.address().clone();
    let mut flipped = original.clone();
    let mut body = flipped.envelope.sealed_body.as_bytes().to_vec();
    let middle = body.len() / 2;
    body[middle] ^= 0x40;
    flipped.envelope.sealed_body = fuin_wire::Opaque::from(body);
    assert_eq!(
        store
            .acknowledge(bob.address(), &[stored.message_id])
            .await
            .unwrap(),
        1
    );
    for mut record in [as_carol, flipped, original.clone(), original] {
        let message_id = fuin_wire::MessageId(rand::random());
        record.server_message_id = message_id;
        store
            .deliver(vec![NewDelivery {
                message_id,
                recipient: bob.address().clone(),
                record: record.to_bytes().unwrap(),
                expires_at_ms: now() + 60_000,
            }])
            .await
            .unwrap();
    }
    let mut events = bob.events();
    bob.sync(NO_WAIT).await.unwrap();
    let saw = drain(&mut events);
    let dropped: Vec<&str> = saw
        .iter()
        .filter_map(|e| match e {
            Event::MessageDropped { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(dropped.len(), 3, "{saw:?}");
    assert!(dropped[0].contains(&id) && dropped[0].contains("signature does not verify"));
    assert!(
        !dropped[1].is_empty() && dropped[1].contains(&id),
        "{dropped:?}"
    );
    assert!(dropped[2].contains("already opened"), "{dropped:?}");
    assert_eq!(texts(&bob, &id).await, ["genuine"]);
    let shown = bob.group_history(&id, 10).await.unwrap();
    assert_eq!(shown[0].sender, *alice.address());
}
