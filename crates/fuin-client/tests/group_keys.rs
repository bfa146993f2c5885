//! Missing sender keys and re-added members, through a real relay on
//! loopback (`spec/groups.md` §9.4-§9.6):
//! - a relay that withholds one member's sender key from another: the
//!   waiting device is told once, asks the sender again (rate-limited), and
//!   the held messages open in order, exactly once, when the key comes;
//! - a sender key request from a device that is not a member gets nothing;
//! - held deliveries beyond the count and age bounds are dropped with an
//!   event;
//! - a removed member who is added again rejoins in the new epoch and reads
//!   only what is sent from then on; a replayed old welcome re-adds nobody.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Devices, NO_WAIT, TestRelay, drain};
use fuin_client::{Client, Event, GroupChange, GroupStatus};
use fuin_relay::store::{Store, StoredDelivery};
use fuin_wire::key_request::SenderKeyRequest;
use fuin_wire::{
    ContentKind, ContentType, DeliveredRecord, DeviceAddress, FrameBody, GroupId, GroupMember,
    GroupWelcome,
};

/// How long a device waits before asking the same sender again
/// (`spec/groups.md` §9.5).
const REQUEST_INTERVAL_MS: i64 = 10 * 60 * 1000;

/// The most deliveries one group holds (`spec/groups.md` §9.4).
const MAX_HELD_PER_GROUP: i64 = 2048;

/// How long a delivery may be held (`spec/groups.md` §9.4).
const MAX_HELD_AGE_MS: i64 = 7 * 24 * 60 * 60 * 1000;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn texts(client: &Client, group: &str) -> Vec<String> {
    client
        .group_history(group, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.text)
        .collect()
}

async fn mailbox(relay: &TestRelay, device: &DeviceAddress<'static>) -> Vec<StoredDelivery> {
    relay
        .relay
        .store()
        .fetch(device, 1000, now())
        .await
        .unwrap()
}

fn record(stored: &StoredDelivery) -> DeliveredRecord<'static> {
    DeliveredRecord::from_bytes(&stored.record)
        .unwrap()
        .into_owned()
}

/// The 1:1 deliveries from `from` waiting in `to`'s mailbox.
async fn direct_from(
    relay: &TestRelay,
    to: &DeviceAddress<'static>,
    from: &DeviceAddress<'static>,
) -> Vec<StoredDelivery> {
    mailbox(relay, to)
        .await
        .into_iter()
        .filter(|stored| {
            let record = record(stored);
            record.sender == *from && record.envelope.content_kind != ContentKind::GroupMessage
        })
        .collect()
}

/// The relay drops every 1:1 delivery from `from` to `to` (there, the
/// sender key `from` distributed); returns how many.
async fn withhold(
    relay: &TestRelay,
    to: &DeviceAddress<'static>,
    from: &DeviceAddress<'static>,
) -> usize {
    let dropped: Vec<_> = direct_from(relay, to, from)
        .await
        .iter()
        .map(|stored| stored.message_id)
        .collect();
    relay.relay.store().acknowledge(to, &dropped).await.unwrap();
    dropped.len()
}

/// The device's local store, opened with plain SQLite beside the client,
/// to move its clock-dependent rows into the past (no sleeping).
fn store(devices: &Devices, user: &str) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(devices.path(user, 1)).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    db
}

fn waiting_for(events: &[Event]) -> Vec<(String, DeviceAddress<'static>, u64)> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::WaitingForSenderKey {
                group,
                sender,
                epoch,
            } => Some((group.clone(), sender.clone(), *epoch)),
            _ => None,
        })
        .collect()
}

fn received_from(events: &[Event], sender: &DeviceAddress<'static>) -> Vec<i64> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::GroupMessageReceived { local_id, from, .. } if from == sender => Some(*local_id),
            _ => None,
        })
        .collect()
}

fn group_id(hex_id: &str) -> GroupId {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_id, &mut bytes).unwrap();
    GroupId(bytes)
}

/// Alice, Bob and Carol in one group, every key distributed except
/// Carol's to Bob, which the relay dropped.
async fn group_with_carols_key_withheld_from_bob(
    relay: &TestRelay,
    devices: &Devices,
) -> (Client, Client, Client, String) {
    let alice = devices.create(relay, "alice", 1).await;
    let bob = devices.create(relay, "bob", 1).await;
    let carol = devices.create(relay, "carol", 1).await;
    let id = alice.create_group(&["bob", "carol"]).await.unwrap().id;
    bob.sync(NO_WAIT).await.unwrap();
    carol.sync(NO_WAIT).await.unwrap();
    assert_eq!(
        withhold(relay, bob.address(), carol.address()).await,
        1,
        "Carol's sender key to Bob"
    );
    alice.sync(NO_WAIT).await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    (alice, bob, carol, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withheld_sender_key_is_reported_asked_for_again_and_the_held_messages_open_once() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let (alice, bob, carol, id) = group_with_carols_key_withheld_from_bob(&relay, &devices).await;
    let mut bob_events = bob.events();

    carol.send_group_text(&id, "c1").await.unwrap();
    carol.send_group_text(&id, "c2").await.unwrap();
    alice.send_group_text(&id, "a1").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let saw = drain(&mut bob_events);
    // Told once for the missing key, not once per message.
    assert_eq!(
        waiting_for(&saw),
        [(id.clone(), carol.address().clone(), 0)],
        "{saw:?}"
    );
    assert!(received_from(&saw, carol.address()).is_empty(), "{saw:?}");
    assert_eq!(texts(&bob, &id).await, ["a1"]);
    // Bob asked Carol for it over their 1:1 session.
    assert_eq!(
        direct_from(&relay, carol.address(), bob.address())
            .await
            .len(),
        1
    );

    // Another message of Carol's within the interval: no second event, no
    // second request.
    carol.send_group_text(&id, "c3").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let saw = drain(&mut bob_events);
    assert!(waiting_for(&saw).is_empty(), "{saw:?}");
    assert_eq!(
        direct_from(&relay, carol.address(), bob.address())
            .await
            .len(),
        1
    );

    // Once the interval has passed (Bob's last request moved back by it),
    // Bob asks again, and still tells the app only once.
    let moved = store(&devices, "bob")
        .execute(
            "UPDATE group_key_waits SET asked_at_ms = asked_at_ms - ?1",
            [REQUEST_INTERVAL_MS],
        )
        .unwrap();
    assert_eq!(moved, 1);
    bob.sync(NO_WAIT).await.unwrap();
    assert!(waiting_for(&drain(&mut bob_events)).is_empty());
    assert_eq!(
        direct_from(&relay, carol.address(), bob.address())
            .await
            .len(),
        2
    );

    // Carol answers the first request with her key, to Bob alone; the
    // second, too soon after, is refused (her own rate limit).
    let mut carol_events = carol.events();
    let alice_before = direct_from(&relay, alice.address(), carol.address())
        .await
        .len();
    carol.sync(NO_WAIT).await.unwrap();
    let carol_saw = drain(&mut carol_events);
    let refused: Vec<_> = carol_saw
        .iter()
        .filter(|e| {
            matches!(e, Event::MessageDropped { from, reason }
            if from == bob.address() && reason.contains("too soon"))
        })
        .collect();
    assert_eq!(refused.len(), 1, "{carol_saw:?}");
    assert_eq!(
        direct_from(&relay, bob.address(), carol.address())
            .await
            .len(),
        1
    );
    assert_eq!(
        direct_from(&relay, alice.address(), carol.address())
            .await
            .len(),
        alice_before,
        "nobody else is sent the key"
    );

    // The held messages open, in Carol's order, each once.
    bob.sync(NO_WAIT).await.unwrap();
    let saw = drain(&mut bob_events);
    let opened = received_from(&saw, carol.address());
    assert_eq!(opened.len(), 3, "{saw:?}");
    let history = bob.group_history(&id, 100).await.unwrap();
    let opened_texts: Vec<_> = opened
        .iter()
        .map(|local| {
            history
                .iter()
                .find(|entry| entry.local_id == *local)
                .unwrap()
                .text
                .clone()
        })
        .collect();
    assert_eq!(opened_texts, ["c1", "c2", "c3"]);
    assert_eq!(texts(&bob, &id).await, ["c1", "c2", "a1", "c3"]);
    assert!(
        !saw.iter()
            .any(|e| matches!(e, Event::MessageDropped { .. })),
        "{saw:?}"
    );

    // Nothing waits any more: a later sync opens nothing again, and the
    // next message of Carol's opens at once, with no event about her key.
    bob.sync(NO_WAIT).await.unwrap();
    assert!(received_from(&drain(&mut bob_events), carol.address()).is_empty());
    carol.send_group_text(&id, "c4").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let saw = drain(&mut bob_events);
    assert!(waiting_for(&saw).is_empty(), "{saw:?}");
    assert_eq!(received_from(&saw, carol.address()).len(), 1);
    assert_eq!(texts(&bob, &id).await, ["c1", "c2", "a1", "c3", "c4"]);
    let held: i64 = store(&devices, "bob")
        .query_row("SELECT COUNT(*) FROM group_held", [], |row| row.get(0))
        .unwrap();
    assert_eq!(held, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_key_request_from_a_device_that_is_not_a_member_gets_nothing() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let carol = devices.create(&relay, "carol", 1).await;
    let dave = devices.create(&relay, "dave", 1).await;
    let id = alice.create_group(&["bob", "carol"]).await.unwrap().id;
    for member in [&bob, &carol, &alice, &bob] {
        member.sync(NO_WAIT).await.unwrap();
    }
    let request = SenderKeyRequest {
        group_id: group_id(&id),
        epoch: 0,
    }
    .to_bytes()
    .unwrap();

    // Dave, never a member, asks Carol for her key of the group.
    let mut carol_events = carol.events();
    dave.send_raw_content_for_testing("carol", ContentType::SenderKeyRequest, &request)
        .await
        .unwrap();
    carol.sync(NO_WAIT).await.unwrap();
    let saw = drain(&mut carol_events);
    assert!(
        saw.iter()
            .any(|e| matches!(e, Event::MessageDropped { from, reason }
            if from == dave.address() && reason.contains("not a member"))),
        "{saw:?}"
    );
    assert!(
        direct_from(&relay, dave.address(), carol.address())
            .await
            .is_empty()
    );

    // Bob, removed, asks for the key of the epoch he was removed from and
    // of the new one: both refused, nothing sent to him.
    alice.remove_group_members(&id, &["bob"]).await.unwrap();
    carol.sync(NO_WAIT).await.unwrap();
    drain(&mut carol_events);
    let before = direct_from(&relay, bob.address(), carol.address())
        .await
        .len();
    for epoch in [0, 1] {
        let request = SenderKeyRequest {
            group_id: group_id(&id),
            epoch,
        }
        .to_bytes()
        .unwrap();
        bob.send_raw_content_for_testing("carol", ContentType::SenderKeyRequest, &request)
            .await
            .unwrap();
    }
    carol.sync(NO_WAIT).await.unwrap();
    let saw = drain(&mut carol_events);
    let refusals: Vec<_> = saw
        .iter()
        .filter_map(|e| match e {
            Event::MessageDropped { from, reason } if from == bob.address() => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(refusals.len(), 2, "{saw:?}");
    assert!(refusals[0].contains("not the current one"), "{refusals:?}");
    assert!(refusals[1].contains("not a member"), "{refusals:?}");
    assert_eq!(
        direct_from(&relay, bob.address(), carol.address())
            .await
            .len(),
        before
    );
    // An unreadable request is refused too.
    dave.send_raw_content_for_testing("carol", ContentType::SenderKeyRequest, b"\x01short")
        .await
        .unwrap();
    carol.sync(NO_WAIT).await.unwrap();
    assert!(drain(&mut carol_events).iter().any(|e| matches!(
        e,
        Event::MessageDropped { from, reason }
            if from == dave.address() && reason.contains("unreadable sender key request")
    )));
    assert!(
        direct_from(&relay, dave.address(), carol.address())
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_deliveries_beyond_the_count_and_age_bounds_are_dropped_with_an_event() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let (_alice, bob, carol, id) = group_with_carols_key_withheld_from_bob(&relay, &devices).await;
    let mut bob_events = bob.events();
    carol.send_group_text(&id, "c1").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    drain(&mut bob_events);
    let db = store(&devices, "bob");
    let count = |db: &rusqlite::Connection| -> i64 {
        db.query_row("SELECT COUNT(*) FROM group_held", [], |row| row.get(0))
            .unwrap()
    };
    assert_eq!(count(&db), 1);

    // The group holds as many as it may: copies of the held message.
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO group_held (group_id, kind, tag, sender_user, sender_device, payload, at_ms)
         SELECT group_id, kind, tag, sender_user, sender_device, payload, at_ms
         FROM group_held, n",
        [MAX_HELD_PER_GROUP - 1],
    )
    .unwrap();
    assert_eq!(count(&db), MAX_HELD_PER_GROUP);
    carol.send_group_text(&id, "c2").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let saw = drain(&mut bob_events);
    assert_eq!(
        saw.iter()
            .filter(|e| matches!(e, Event::MessageDropped { from, reason }
                if from == carol.address() && reason.contains("too many deliveries")))
            .count(),
        1,
        "{saw:?}"
    );
    assert_eq!(count(&db), MAX_HELD_PER_GROUP);

    // They all grow too old: dropped, with one event saying how many.
    db.execute(
        "UPDATE group_held SET at_ms = at_ms - ?1",
        [MAX_HELD_AGE_MS + 60_000],
    )
    .unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let saw = drain(&mut bob_events);
    let dropped: Vec<_> = saw
        .iter()
        .filter_map(|e| match e {
            Event::HeldDeliveriesDropped {
                group, from, count, ..
            } => Some((group.clone(), from.clone(), *count)),
            _ => None,
        })
        .collect();
    assert_eq!(
        dropped,
        [(
            id.clone(),
            carol.address().clone(),
            MAX_HELD_PER_GROUP as usize
        )],
        "{saw:?}"
    );
    assert_eq!(count(&db), 0);
    // With nothing held, Bob no longer waits for Carol's key: no request.
    let asked = direct_from(&relay, carol.address(), bob.address())
        .await
        .len();
    db.execute(
        "UPDATE group_key_waits SET asked_at_ms = asked_at_ms - ?1",
        [REQUEST_INTERVAL_MS],
    )
    .unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(
        direct_from(&relay, carol.address(), bob.address())
            .await
            .len(),
        asked
    );
    assert!(texts(&bob, &id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_added_again_rejoins_and_reads_only_what_is_sent_after() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let carol = devices.create(&relay, "carol", 1).await;
    let id = alice.create_group(&["bob"]).await.unwrap().id;
    bob.sync(NO_WAIT).await.unwrap();
    let mut carol_events = carol.events();

    // Carol is added (epoch 1), reads, and is removed (epoch 2).
    assert_eq!(
        alice
            .add_group_members(&id, &["carol"])
            .await
            .unwrap()
            .epoch,
        1
    );
    for member in [&carol, &bob, &alice] {
        member.sync(NO_WAIT).await.unwrap();
    }
    alice
        .send_group_text(&id, "while carol is in")
        .await
        .unwrap();
    carol.sync(NO_WAIT).await.unwrap();
    assert_eq!(texts(&carol, &id).await, ["while carol is in"]);
    let epoch_one_members = carol.groups().await.unwrap()[0].members.clone();
    assert_eq!(
        alice
            .remove_group_members(&id, &["carol"])
            .await
            .unwrap()
            .epoch,
        2
    );
    bob.sync(NO_WAIT).await.unwrap();
    alice
        .send_group_text(&id, "while carol is out")
        .await
        .unwrap();
    bob.send_group_text(&id, "bob, while carol is out")
        .await
        .unwrap();
    carol.sync(NO_WAIT).await.unwrap();
    let carols = carol.groups().await.unwrap();
    assert_eq!(carols[0].status, GroupStatus::Removed);
    assert_eq!(texts(&carol, &id).await, ["while carol is in"]);

    // A welcome of epoch 1, from before her removal, sent to her again by
    // a member's device: it re-adds nobody.
    let identities = [&alice, &bob, &carol].map(|c| (c.address().clone(), c.identity().clone()));
    let members: Vec<GroupMember<'static>> = epoch_one_members
        .iter()
        .map(|address| GroupMember {
            address: address.clone(),
            identity: identities
                .iter()
                .find(|(a, _)| a == address)
                .unwrap()
                .1
                .clone(),
        })
        .collect();
    let membership = fuin_seal::group::Membership::new(group_id(&id), 1, members).unwrap();
    let old_welcome = GroupWelcome {
        group_id: group_id(&id),
        epoch: 1,
        membership_hash: *membership.hash(),
        page: 0,
        page_count: 1,
        members: membership.members().to_vec().into(),
        consent: None,
    }
    .to_bytes()
    .unwrap();
    drain(&mut carol_events);
    alice
        .send_raw_content_for_testing("carol", ContentType::GroupWelcome, &old_welcome)
        .await
        .unwrap();
    carol.sync(NO_WAIT).await.unwrap();
    let saw = drain(&mut carol_events);
    assert!(
        !saw.iter()
            .any(|e| matches!(e, Event::GroupChanged { .. } | Event::MessageDropped { .. })),
        "{saw:?}"
    );
    let carols = carol.groups().await.unwrap();
    assert_eq!(carols[0].status, GroupStatus::Removed);
    assert_eq!(carols[0].epoch, 1);

    // Re-added (epoch 3): she rejoins, and her member list is the others'.
    let readded = alice.add_group_members(&id, &["carol"]).await.unwrap();
    assert_eq!(readded.epoch, 3);
    bob.sync(NO_WAIT).await.unwrap();
    carol.sync(NO_WAIT).await.unwrap();
    let saw = drain(&mut carol_events);
    assert!(
        saw.iter().any(|e| matches!(
            e,
            Event::GroupChanged { group, epoch: 3, by, change: GroupChange::Joined }
                if *group == id && by == alice.address()
        )),
        "{saw:?}"
    );
    alice.sync(NO_WAIT).await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let carols = carol.groups().await.unwrap();
    assert_eq!(carols[0].status, GroupStatus::Member);
    assert_eq!(carols[0].epoch, 3);
    assert_eq!(carols[0].members, readded.members);
    assert_eq!(bob.groups().await.unwrap()[0].members, readded.members);
    assert!(readded.members.contains(carol.address()));

    // What is sent from now on she reads (and the others read hers); what
    // was sent while she was out she never does.
    alice.send_group_text(&id, "welcome back").await.unwrap();
    bob.send_group_text(&id, "hi again").await.unwrap();
    carol.sync(NO_WAIT).await.unwrap();
    assert_eq!(
        texts(&carol, &id).await,
        ["while carol is in", "welcome back", "hi again"]
    );
    carol.send_group_text(&id, "glad to be back").await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(texts(&alice, &id).await.last().unwrap(), "glad to be back");
    assert_eq!(texts(&bob, &id).await.last().unwrap(), "glad to be back");
    let saw = drain(&mut carol_events);
    assert!(waiting_for(&saw).is_empty(), "{saw:?}");
}
