//! KEM prekeys through a real relay: what a new device publishes, how the
//! pools are refilled when the relay says they are low (and bounded when it
//! always says so), the weekly rotation of the last-resort KEM prekey with
//! the signed prekey, and a store whose KEM prekeys never reached the relay.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Devices, NO_WAIT, TestRelay, drain};
use fuin_client::{Client, ClientOptions, Event};
use fuin_relay::store::{PrekeyCounts, Store};

async fn counts(relay: &TestRelay, client: &Client) -> PrekeyCounts {
    relay
        .relay
        .store()
        .prekey_counts(client.address())
        .await
        .unwrap()
}

/// The id of `user`'s last-resort KEM prekey and of its signed prekey at
/// the relay.
fn relay_prekey_ids(relay: &TestRelay, user: &str) -> (Option<i64>, Option<i64>) {
    let db = rusqlite::Connection::open(relay.database()).unwrap();
    let id = |table: &str| {
        db.query_row(
            &format!("SELECT id FROM {table} WHERE user = ?1"),
            [user],
            |row| row.get(0),
        )
        .ok()
    };
    (id("last_resort_kem_prekeys"), id("signed_prekeys"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_device_publishes_a_last_resort_and_a_hundred_one_time_kem_prekeys() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    assert_eq!(
        counts(&relay, &bob).await,
        PrekeyCounts {
            one_time: 100,
            one_time_kem: 100,
            last_resort_kem: true,
        }
    );
    // Alice's first message takes one of each, and bob opens it with the
    // KEM secret he kept.
    alice.send_text("bob", "hello").await.unwrap();
    let after = counts(&relay, &bob).await;
    assert_eq!((after.one_time, after.one_time_kem), (99, 99));
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(bob.history("alice", 10).await.unwrap()[0].text, "hello");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_kem_prekeys_are_replenished_when_the_relay_says_kem_is_low() {
    // A watermark above the first batch: both pools are "low" from the start.
    let relay = TestRelay::start_with(|config| config.prekey_low_watermark = 150).await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    alice.send_text("bob", "hello").await.unwrap();
    let mut events = bob.events();
    bob.sync(NO_WAIT).await.unwrap();
    let after = counts(&relay, &bob).await;
    assert_eq!((after.one_time, after.one_time_kem), (199, 199));
    let events = drain(&mut events);
    assert!(events.contains(&Event::PrekeysReplenished { count: 100 }));
    assert!(events.contains(&Event::KemPrekeysReplenished { count: 100 }));
    // Sessions started with the new keys open.
    let carol = devices.create(&relay, "carol", 1).await;
    carol.send_text("bob", "from carol").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(
        bob.history("carol", 10).await.unwrap()[0].text,
        "from carol"
    );
    relay.stop().await;
}

/// A relay that always says the pools are low cannot make the device keep
/// more than 400 unused one-time KEM secrets: the uploads stop there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_always_says_low_gets_no_kem_prekeys_past_the_local_maximum() {
    let relay = TestRelay::start_with(|config| config.prekey_low_watermark = 100_000).await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let mut events = bob.events();
    for i in 0..6 {
        alice
            .send_text("bob", &format!("message {i}"))
            .await
            .unwrap();
        bob.sync(NO_WAIT).await.unwrap();
    }
    let kem_batches = drain(&mut events)
        .iter()
        .filter(|event| matches!(event, Event::KemPrekeysReplenished { .. }))
        .count();
    // 100 at registration, one taken by alice's session, then batches
    // while 99 + 100 n stays within 400: three.
    assert_eq!(kem_batches, 3);
    assert_eq!(counts(&relay, &bob).await.one_time_kem, 399);
    relay.stop().await;
}

/// When the signed prekey is a week old the next sync replaces it and the
/// last-resort KEM prekey together, and sessions still start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_resort_kem_prekey_is_rotated_with_the_signed_prekey() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let bob = devices.create(&relay, "bob", 1).await;
    let (kem_before, signed_before) = relay_prekey_ids(&relay, "bob");
    assert!(kem_before.is_some() && signed_before.is_some());
    // Not yet due: nothing changes.
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(relay_prekey_ids(&relay, "bob"), (kem_before, signed_before));
    drop(bob);
    // The signed prekey made "long ago".
    rusqlite::Connection::open(devices.path("bob", 1))
        .unwrap()
        .execute(
            "UPDATE meta SET value = ?1 WHERE name = 'signed_prekey_at'",
            [0u64.to_be_bytes().to_vec()],
        )
        .unwrap();
    let bob = Client::open(devices.path("bob", 1), ClientOptions::default())
        .await
        .unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let (kem_after, signed_after) = relay_prekey_ids(&relay, "bob");
    assert!(kem_after > kem_before, "{kem_after:?} after {kem_before:?}");
    assert!(signed_after > signed_before);
    // A session started on the new keys (the one-time pools emptied, so
    // the last-resort KEM prekey is used) opens.
    let db = rusqlite::Connection::open(relay.database()).unwrap();
    db.execute_batch(
        "DELETE FROM one_time_kem_prekeys WHERE user = 'bob'; \
         DELETE FROM one_time_prekeys WHERE user = 'bob';",
    )
    .unwrap();
    let alice = devices.create(&relay, "alice", 1).await;
    alice.send_text("bob", "on the new keys").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(
        bob.history("alice", 10).await.unwrap()[0].text,
        "on the new keys"
    );
    relay.stop().await;
}

/// A store whose KEM prekeys never reached the relay (saved before KEM
/// prekeys, or whose upload failed) publishes them at its next sync; until
/// then its bundle has no KEM prekey and no session can be started with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_without_kem_prekeys_at_the_relay_publishes_them_at_its_next_sync() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let bob = devices.create(&relay, "bob", 1).await;
    drop(bob);
    rusqlite::Connection::open(devices.path("bob", 1))
        .unwrap()
        .execute("DELETE FROM meta WHERE name = 'kem_prekeys_at'", [])
        .unwrap();
    rusqlite::Connection::open(relay.database())
        .unwrap()
        .execute_batch(
            "DELETE FROM one_time_kem_prekeys WHERE user = 'bob'; \
             DELETE FROM last_resort_kem_prekeys WHERE user = 'bob';",
        )
        .unwrap();
    let alice = devices.create(&relay, "alice", 1).await;
    // The initiator refuses a bundle without a KEM prekey.
    assert!(alice.send_text("bob", "too early").await.is_err());

    let bob = Client::open(devices.path("bob", 1), ClientOptions::default())
        .await
        .unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let after = counts(&relay, &bob).await;
    assert!(after.last_resort_kem);
    // A new batch (it then keeps 200 one-time KEM secrets, within 400).
    assert_eq!(after.one_time_kem, 100);
    alice.send_text("bob", "now").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let texts: Vec<_> = bob
        .history("alice", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|message| message.text)
        .collect();
    assert!(texts.contains(&"now".to_owned()), "{texts:?}");
    relay.stop().await;
}
