//! Per-audience identifiers through the SDK and a real relay: two members
//! of one group give an audience unrelated identifiers, one member gives
//! two audiences unrelated ones, they survive reopening the store, and the
//! shared identifier exists only once a member shared a consent, then is
//! the same for every member (a newcomer too). One user's devices share
//! one identifier secret: they give an audience the same values once they
//! synced, a device added later gets the existing secret, two devices that
//! each drew one converge on the older, and no other user can plant one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Devices, NO_WAIT, TestRelay, drain};
use fuin_client::{
    AudienceConversation, Client, ClientError, ClientOptions, Event, GroupChange, Step,
};
use fuin_wire::ContentType;
use fuin_wire::identifier::{IdentifierSecretBytes, IdentifierSecretShare};
use fuin_wire::{DeviceAddress, DeviceId, UserId};

async fn sync_all(clients: &[&Client]) {
    for _ in 0..2 {
        for client in clients {
            client.sync(NO_WAIT).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_are_per_user_and_per_audience_and_shared_only_with_consent() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let carol = devices.create(&relay, "carol", 1).await;
    let id = alice.create_group(&["bob", "carol"]).await.unwrap().id;
    sync_all(&[&alice, &bob, &carol]).await;
    let group = AudienceConversation::Group(id.clone());

    // Two members give one audience unrelated values, for the group and
    // for themselves.
    let alices = alice.audience_identifier("poll-app", &group).await.unwrap();
    let bobs = bob.audience_identifier("poll-app", &group).await.unwrap();
    let carols = carol.audience_identifier("poll-app", &group).await.unwrap();
    assert_eq!(alices.len(), 64);
    assert_ne!(alices, bobs);
    assert_ne!(bobs, carols);
    assert_ne!(alices, carols);
    let alice_user = alice.audience_user_identifier("poll-app").await.unwrap();
    let bob_user = bob.audience_user_identifier("poll-app").await.unwrap();
    assert_ne!(alice_user, bob_user);
    assert_ne!(alice_user, alices, "a user's and a conversation's differ");
    // One member gives two audiences unrelated values.
    let alices_bot = alice
        .audience_identifier("weather-bot", &group)
        .await
        .unwrap();
    assert_ne!(alices, alices_bot);
    assert_ne!(
        alice_user,
        alice.audience_user_identifier("weather-bot").await.unwrap()
    );
    // Another conversation of the same user gets another value.
    let direct = alice
        .audience_identifier("poll-app", &AudienceConversation::Direct("bob".into()))
        .await
        .unwrap();
    assert_ne!(direct, alices);
    // Bad audiences and unknown groups are refused.
    assert!(matches!(
        alice.audience_identifier("", &group).await,
        Err(ClientError::InvalidArgument(_))
    ));
    assert!(matches!(
        alice.audience_user_identifier(&"x".repeat(256)).await,
        Err(ClientError::InvalidArgument(_))
    ));
    assert!(matches!(
        alice
            .audience_identifier("poll-app", &AudienceConversation::Group("ab".repeat(32)))
            .await,
        Err(ClientError::InvalidArgument(_))
    ));

    // Stable: the same again, and after reopening the store.
    assert_eq!(
        alice.audience_identifier("poll-app", &group).await.unwrap(),
        alices
    );
    drop(alice);
    let alice = Client::open(devices.path("alice", 1), Default::default())
        .await
        .unwrap();
    assert_eq!(
        alice.audience_identifier("poll-app", &group).await.unwrap(),
        alices
    );
    assert_eq!(
        alice.audience_user_identifier("poll-app").await.unwrap(),
        alice_user
    );

    // No shared identifier without a consent.
    for member in [&alice, &bob, &carol] {
        assert_eq!(
            member
                .group_shared_identifier("poll-app", &id)
                .await
                .unwrap(),
            None
        );
    }
    let mut carol_events = carol.events();
    let before = alice.groups().await.unwrap()[0].epoch;
    let shared = alice.share_group_consent(&id).await.unwrap();
    assert_eq!(shared.epoch, before + 1, "a consent starts a new epoch");
    sync_all(&[&alice, &bob, &carol]).await;
    assert!(
        drain(&mut carol_events).iter().any(|e| matches!(
            e,
            Event::GroupChanged { change: GroupChange::ConsentShared, by, .. } if by == alice.address()
        )),
        "Carol sees that Alice shared a consent"
    );
    let alices_shared = alice
        .group_shared_identifier("poll-app", &id)
        .await
        .unwrap()
        .expect("a shared identifier");
    for member in [&bob, &carol] {
        assert_eq!(
            member
                .group_shared_identifier("poll-app", &id)
                .await
                .unwrap(),
            Some(alices_shared.clone())
        );
    }
    // Still per audience, and unrelated to the members' own values.
    let bot_shared = bob
        .group_shared_identifier("weather-bot", &id)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(bot_shared, alices_shared);
    for own in [&alices, &bobs, &carols] {
        assert_ne!(*own, alices_shared);
    }
    // The default identifiers do not change with the consent.
    assert_eq!(
        bob.audience_identifier("poll-app", &group).await.unwrap(),
        bobs
    );

    // A newcomer gets the consent in its welcome.
    let dave = devices.create(&relay, "dave", 1).await;
    bob.add_group_members(&id, &["dave"]).await.unwrap();
    sync_all(&[&dave, &alice, &bob, &carol, &dave]).await;
    assert_eq!(
        dave.group_shared_identifier("poll-app", &id).await.unwrap(),
        Some(alices_shared.clone())
    );

    // A newer consent replaces it, for everyone.
    carol.share_group_consent(&id).await.unwrap();
    sync_all(&[&alice, &bob, &carol, &dave]).await;
    let renewed = alice
        .group_shared_identifier("poll-app", &id)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(renewed, alices_shared);
    for member in [&bob, &carol, &dave] {
        assert_eq!(
            member
                .group_shared_identifier("poll-app", &id)
                .await
                .unwrap(),
            Some(renewed.clone())
        );
    }
    relay.stop().await;
}

/// What a device hands the audience `poll-app`: its user identifier and
/// its conversation identifier for the 1:1 conversation with Bob.
async fn identifiers(client: &Client) -> (String, String) {
    let user = client.audience_user_identifier("poll-app").await.unwrap();
    let direct = client
        .audience_identifier("poll-app", &AudienceConversation::Direct("bob".into()))
        .await
        .unwrap();
    (user, direct)
}

/// Returns once the system clock reads a later millisecond than when it was
/// called. A secret is stamped with the millisecond it was drawn in (by the
/// system clock: the client has no other), so one drawn after this returns
/// is strictly newer than one drawn before it was called.
async fn after_this_millisecond() {
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    };
    let drawn_by = now_ms();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while now_ms() <= drawn_by {
        assert!(
            std::time::Instant::now() < deadline,
            "the system clock did not move past {drawn_by} ms"
        );
        tokio::task::yield_now().await;
    }
}

fn secret_changes(events: &[Event]) -> Vec<DeviceAddress<'static>> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::IdentifierSecretChanged { from } => Some(from.clone()),
            _ => None,
        })
        .collect()
}

fn address(user: &str, device: u32) -> DeviceAddress<'static> {
    DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(device))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_of_one_user_give_an_audience_the_same_identifiers() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let phone = devices.create(&relay, "alice", 1).await;
    let laptop = devices.link(&relay, &phone, "alice", 2, "laptop").await;
    let bob = devices.create(&relay, "bob", 1).await;
    let mut laptop_events = laptop.events();

    // The phone draws the secret and sends it to the laptop.
    let phones = identifiers(&phone).await;
    let report = laptop.sync(NO_WAIT).await.unwrap();
    assert_eq!(report.messages, 0, "the secret is not a message");
    assert_eq!(report.dropped, 0);
    let laptops = identifiers(&laptop).await;
    assert_eq!(laptops, phones, "one user, one audience: one value");
    // It is still per user: Bob gives the audience other values.
    assert_ne!(identifiers(&bob).await, phones);
    // The laptop had no secret, so nothing it handed out changed.
    let events = drain(&mut laptop_events);
    assert!(secret_changes(&events).is_empty(), "{events:?}");
    assert!(
        !events.iter().any(|e| matches!(
            e,
            Event::MessageReceived { .. } | Event::MessageDropped { .. }
        )),
        "{events:?}"
    );
    // Never in the history, so nothing to show or to report.
    assert!(laptop.conversations().await.unwrap().is_empty());
    assert!(laptop.history("alice", 10).await.unwrap().is_empty());

    // Stable on both, across reopening, and after more syncs.
    for client in [&phone, &laptop] {
        client.sync(NO_WAIT).await.unwrap();
    }
    drop(laptop);
    let laptop = Client::open(devices.path("alice", 2), Default::default())
        .await
        .unwrap();
    assert_eq!(identifiers(&laptop).await, phones);
    assert_eq!(identifiers(&phone).await, phones);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_added_later_gets_the_existing_secret() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let phone = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let phones = identifiers(&phone).await;

    // A laptop joins and writes to Bob; the phone meets it through the copy
    // it receives, and hands it the secret at the end of that sync.
    let laptop = devices.link(&relay, &phone, "alice", 2, "laptop").await;
    let mut laptop_events = laptop.events();
    laptop.send_text("bob", "from the laptop").await.unwrap();
    phone.sync(NO_WAIT).await.unwrap();
    laptop.sync(NO_WAIT).await.unwrap();
    assert_eq!(identifiers(&laptop).await, phones);
    assert!(secret_changes(&drain(&mut laptop_events)).is_empty());

    // A tablet joins; the phone meets it when it sends (its own device list
    // is fetched for every send) and hands it the secret then.
    let tablet = devices.link(&relay, &phone, "alice", 3, "tablet").await;
    phone.send_text("bob", "from the phone").await.unwrap();
    tablet.sync(NO_WAIT).await.unwrap();
    assert_eq!(identifiers(&tablet).await, phones);
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(bob.history("alice", 10).await.unwrap().len(), 2);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_that_each_drew_a_secret_converge_on_the_older() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let phone = devices.create(&relay, "alice", 1).await;
    // The phone draws while it is alone: nobody gets its secret yet.
    let phones = identifiers(&phone).await;
    after_this_millisecond().await;

    // The laptop joins, draws its own (newer) one and offers it.
    let laptop = devices.link(&relay, &phone, "alice", 2, "laptop").await;
    let mut phone_events = phone.events();
    let mut laptop_events = laptop.events();
    let laptops_before = identifiers(&laptop).await;
    assert_ne!(laptops_before, phones, "two secrets, drawn apart");

    // The phone keeps its older one and sends it back...
    phone.sync(NO_WAIT).await.unwrap();
    assert_eq!(identifiers(&phone).await, phones);
    assert!(secret_changes(&drain(&mut phone_events)).is_empty());
    // ...and the laptop adopts it and says so.
    laptop.sync(NO_WAIT).await.unwrap();
    assert_eq!(identifiers(&laptop).await, phones);
    assert_eq!(
        secret_changes(&drain(&mut laptop_events)),
        vec![address("alice", 1)]
    );
    // Settled: more syncs change nothing on either side.
    for _ in 0..2 {
        for client in [&phone, &laptop] {
            client.sync(NO_WAIT).await.unwrap();
        }
    }
    assert_eq!(identifiers(&phone).await, phones);
    assert_eq!(identifiers(&laptop).await, phones);
    assert!(secret_changes(&drain(&mut phone_events)).is_empty());
    assert!(secret_changes(&drain(&mut laptop_events)).is_empty());
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_drawn_while_both_devices_were_offline_converge() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let phone = devices.create(&relay, "alice", 1).await;
    let laptop = devices.link(&relay, &phone, "alice", 2, "laptop").await;
    let mut phone_events = phone.events();
    let mut laptop_events = laptop.events();
    // Both draw before either syncs, so each one's offer crosses the other's.
    let laptops = identifiers(&laptop).await;
    after_this_millisecond().await;
    let phones_before = identifiers(&phone).await;
    assert_ne!(laptops, phones_before);
    for _ in 0..2 {
        for client in [&phone, &laptop] {
            client.sync(NO_WAIT).await.unwrap();
        }
    }
    // The laptop's is older: the phone is the one that changed.
    assert_eq!(identifiers(&phone).await, laptops);
    assert_eq!(identifiers(&laptop).await, laptops);
    assert_eq!(
        secret_changes(&drain(&mut phone_events)),
        vec![address("alice", 2)]
    );
    assert!(secret_changes(&drain(&mut laptop_events)).is_empty());
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identifier_secret_from_another_user_is_dropped() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let mallory = devices.create(&relay, "mallory", 1).await;
    let alices = identifiers(&alice).await;
    let mut alice_events = alice.events();

    // Mallory offers a secret older than any, claiming to be Alice's own
    // device 1: it would win if it were accepted.
    let planted = IdentifierSecretShare {
        secret: IdentifierSecretBytes([7; 32]),
        drawn_at_ms: 0,
        origin_device: DeviceId(1),
    };
    mallory
        .send_raw_content_for_testing(
            "alice",
            ContentType::IdentifierSecret,
            &planted.to_bytes().unwrap(),
        )
        .await
        .unwrap();
    let report = alice.sync(NO_WAIT).await.unwrap();
    assert_eq!(report.dropped, 1);
    assert_eq!(report.messages, 0);
    let events = drain(&mut alice_events);
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::MessageDropped { from, reason }
                if *from == address("mallory", 1) && reason.contains("another user")
        )),
        "{events:?}"
    );
    assert!(secret_changes(&events).is_empty());
    assert_eq!(identifiers(&alice).await, alices, "nothing changed");
    assert!(alice.conversations().await.unwrap().is_empty());

    // Garbage from one of Alice's own devices is dropped too.
    let laptop = devices.link(&relay, &alice, "alice", 2, "laptop").await;
    alice.sync(NO_WAIT).await.unwrap();
    laptop.sync(NO_WAIT).await.unwrap();
    laptop
        .send_raw_content_for_testing("alice", ContentType::IdentifierSecret, b"\x01short")
        .await
        .unwrap();
    let report = alice.sync(NO_WAIT).await.unwrap();
    assert_eq!(report.dropped, 1);
    assert!(drain(&mut alice_events).iter().any(|e| matches!(
        e,
        Event::MessageDropped { reason, .. } if reason.contains("unreadable")
    )));
    assert_eq!(identifiers(&alice).await, alices);
    relay.stop().await;
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_received_secret_is_adopted_exactly_when_its_delivery_is_stored() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let phone = devices.create(&relay, "alice", 1).await;
    let laptop = devices.link(&relay, &phone, "alice", 2, "laptop").await;
    drop(laptop);
    let phones = identifiers(&phone).await;
    let path = devices.path("alice", 2);

    // A crash before the commit: nothing adopted, the delivery comes again.
    let laptop = Client::open(&path, crashing_at(Step::Fetched))
        .await
        .unwrap();
    let crashed = tokio::spawn(async move { laptop.sync(NO_WAIT).await }).await;
    assert!(crashed.is_err(), "the sync should have crashed");
    // A crash after the commit, before the acknowledgement: adopted, and
    // so already in use when the device comes back, before any sync.
    let laptop = Client::open(&path, crashing_at(Step::Stored))
        .await
        .unwrap();
    let crashed = tokio::spawn(async move { laptop.sync(NO_WAIT).await }).await;
    assert!(crashed.is_err(), "the sync should have crashed");
    let laptop = Client::open(&path, ClientOptions::default()).await.unwrap();
    assert_eq!(identifiers(&laptop).await, phones);
    // The stored delivery is acknowledged without being opened again.
    let report = laptop.sync(NO_WAIT).await.unwrap();
    assert_eq!((report.dropped, report.acknowledged), (0, 1));
    assert_eq!(identifiers(&laptop).await, phones);
    relay.stop().await;
}
