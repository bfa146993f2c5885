//! Per-audience identifiers through the SDK and a real relay: two members
//! of one group give an audience unrelated identifiers, one member gives
//! two audiences unrelated ones, they survive reopening the store, and the
//! shared identifier exists only once a member shared a consent, then is
//! the same for every member (a newcomer too).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Devices, NO_WAIT, TestRelay, drain};
use fuin_client::{AudienceConversation, Client, ClientError, Event, GroupChange};

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
