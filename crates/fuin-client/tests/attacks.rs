//! Attacks on the client, each performed against a real relay on loopback:
//! a relay that forges, replays or re-labels deliveries, a user forging
//! receipts. Key substitution in the relay's directory (account keys and
//! device lists) is attacked in `tests/accounts.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Devices, NO_WAIT, TestRelay, drain};
use fuin_client::receipt::{ReceiptBody, ReceiptKind, ReceiptRef};
use fuin_client::{Event, MessageStatus};
use fuin_relay::store::{NewDelivery, Store};
use fuin_wire::{
    ContentKind, DeliveredRecord, DeviceId, FrameBody, FrankingCommitment, FrankingStamp,
    MessageId, Opaque, RoutingEnvelope, StampKeyId,
};

/// The encoded records waiting in `user`'s mailboxes at the relay.
fn waiting_records(relay: &TestRelay, user: &str) -> Vec<Vec<u8>> {
    let db = rusqlite::Connection::open(relay.database()).unwrap();
    let mut statement = db
        .prepare("SELECT record FROM mailbox WHERE user = ?1 ORDER BY seq")
        .unwrap();
    statement
        .query_map([user], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The relay puts `record` into its recipient's mailbox under a new id.
async fn inject(relay: &TestRelay, mut record: DeliveredRecord<'static>) {
    let id = MessageId(rand::random());
    record.server_message_id = id;
    let recipient = record.envelope.recipient.clone();
    relay
        .relay
        .store()
        .deliver(vec![NewDelivery {
            message_id: id,
            recipient,
            record: record.to_bytes().unwrap(),
            expires_at_ms: u64::MAX / 2,
        }])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_delivery_is_not_shown_twice() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    alice.send_text("bob", "only once").await.unwrap();
    let captured = waiting_records(&relay, "bob");
    assert_eq!(captured.len(), 1);
    bob.sync(NO_WAIT).await.unwrap();

    let mut events = bob.events();
    let replay = DeliveredRecord::from_bytes(&captured[0])
        .unwrap()
        .into_owned();
    inject(&relay, replay).await;
    let report = bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(report.messages, 0);
    assert_eq!(report.dropped, 1);
    assert_eq!(bob.history("alice", 10).await.unwrap().len(), 1);
    let events = drain(&mut events);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::MessageDropped { .. })),
        "{events:?}"
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_forged_by_the_relay_or_by_another_user_changes_nothing() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let mallory = devices.create(&relay, "mallory", 1).await;
    let sent = alice.send_text("bob", "for bob's eyes").await.unwrap();
    let message = alice.message(sent.local_id).await.unwrap().unwrap();

    // Mallory, who has a session with alice, claims to have read it.
    mallory.send_text("alice", "hello").await.unwrap();
    let forged = ReceiptBody {
        kind: ReceiptKind::Read,
        messages: vec![ReceiptRef {
            sender_device: DeviceId(1),
            message_id: message.id,
        }],
    };
    mallory.send_receipt("alice", &forged).await.unwrap();
    let report = alice.sync(NO_WAIT).await.unwrap();
    assert_eq!(report.receipts, 1, "the receipt arrived and was looked at");
    let now = alice.message(sent.local_id).await.unwrap().unwrap();
    assert_eq!(now.status, MessageStatus::Sent);
    assert!(alice.receipts(sent.local_id).await.unwrap().is_empty());

    // The relay makes up a receipt from bob: it cannot seal one.
    let mut events = alice.events();
    let fake = DeliveredRecord {
        envelope: RoutingEnvelope {
            recipient: alice.address().clone(),
            content_kind: ContentKind::Message,
            franking_commitment: FrankingCommitment([1; 32]),
            sealed_body: Opaque::from(vec![0u8; 120]),
        },
        sender: bob.address().clone(),
        server_time_ms: 1,
        server_message_id: MessageId([0; 16]),
        franking_stamp: FrankingStamp([0; 32]),
        stamp_key_id: StampKeyId(1),
    };
    inject(&relay, fake).await;
    let report = alice.sync(NO_WAIT).await.unwrap();
    assert_eq!(report.dropped, 1);
    assert_eq!(
        alice.message(sent.local_id).await.unwrap().unwrap().status,
        MessageStatus::Sent
    );
    assert!(
        drain(&mut events)
            .iter()
            .any(|e| matches!(e, Event::MessageDropped { from, .. } if from == bob.address()))
    );

    // Bob's real receipt works.
    bob.sync(NO_WAIT).await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    assert_eq!(
        alice.message(sent.local_id).await.unwrap().unwrap().status,
        MessageStatus::Delivered
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_relabelling_a_delivery_to_another_sender_or_recipient_is_caught() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let carol = devices.create(&relay, "carol", 1).await;
    carol.send_text("bob", "carol says hi").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    alice.send_text("bob", "alice's words").await.unwrap();
    let captured = waiting_records(&relay, "bob");
    bob.sync(NO_WAIT).await.unwrap();

    // The same delivery, claimed to come from carol.
    let mut relabelled = DeliveredRecord::from_bytes(&captured[0])
        .unwrap()
        .into_owned();
    relabelled.sender = carol.address().clone();
    inject(&relay, relabelled).await;
    // And redirected to carol's mailbox.
    let mut redirected = DeliveredRecord::from_bytes(&captured[0])
        .unwrap()
        .into_owned();
    redirected.envelope.recipient = carol.address().clone();
    inject(&relay, redirected).await;

    let report = bob.sync(NO_WAIT).await.unwrap();
    assert_eq!((report.messages, report.dropped), (0, 1));
    let report = carol.sync(NO_WAIT).await.unwrap();
    assert_eq!(report.messages, 0);
    assert_eq!(report.dropped, 1);
    assert_eq!(bob.history("carol", 10).await.unwrap().len(), 1);
    assert!(carol.history("alice", 10).await.unwrap().is_empty());
    relay.stop().await;
}
