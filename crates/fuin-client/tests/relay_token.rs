//! A device logs in once and reuses its bearer token across runs (each
//! `fuin` command opens the store anew) until the token expires or the relay
//! refuses it; then it logs in once more and retries the request once.
//!
//! Logins are counted at the relay: each one leaves a row in its `tokens`
//! table (the SHA-256 of the token it issued).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Devices, NO_WAIT, TestRelay};
use fuin_client::{Client, ClientOptions};
use fuin_relay::store::Store;
use fuin_wire::{DeviceAddress, DeviceId, UserId};

/// How many tokens the relay has issued to `user`'s devices and still holds.
fn tokens_issued(relay: &TestRelay, user: &str) -> i64 {
    let conn = rusqlite::Connection::open(relay.database()).unwrap();
    conn.query_row(
        "SELECT COUNT(*) FROM tokens WHERE user = ?1",
        [user],
        |row| row.get(0),
    )
    .unwrap()
}

async fn reopen(devices: &Devices, user: &str) -> Client {
    Client::open(devices.path(user, 1), ClientOptions::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn clients_opened_one_after_the_other_on_one_store_log_in_once() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    devices.create(&relay, "bob", 1).await;
    // Creating the device published its prekeys: that took one login.
    assert_eq!(tokens_issued(&relay, "alice"), 1);
    drop(alice);

    for run in 0..3 {
        let alice = reopen(&devices, "alice").await;
        alice.send_text("bob", &format!("run {run}")).await.unwrap();
        alice.sync(NO_WAIT).await.unwrap();
        drop(alice);
        assert_eq!(
            tokens_issued(&relay, "alice"),
            1,
            "run {run} logged in again instead of reusing the kept token"
        );
    }
    relay.stop().await;
}

#[tokio::test]
async fn a_revoked_token_leads_to_exactly_one_new_login() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    devices.create(&relay, "bob", 1).await;
    drop(alice);
    let alice = reopen(&devices, "alice").await;
    alice.sync(NO_WAIT).await.unwrap();
    assert_eq!(tokens_issued(&relay, "alice"), 1);

    let address = DeviceAddress::new(UserId::new("alice".to_owned()).unwrap(), DeviceId(1));
    let revoked = relay.relay.store().revoke_tokens(&address).await.unwrap();
    assert_eq!(revoked, 1, "the device held one token");
    assert_eq!(tokens_issued(&relay, "alice"), 0);

    // The kept token is refused (401): one login, and the send retried
    // once, goes through.
    let sent = alice
        .send_text("bob", "after the revocation")
        .await
        .unwrap();
    assert_eq!(sent.status, fuin_client::MessageStatus::Sent);
    assert_eq!(tokens_issued(&relay, "alice"), 1);
    alice.sync(NO_WAIT).await.unwrap();
    drop(alice);

    // The new token was kept: the next run logs in no more.
    let alice = reopen(&devices, "alice").await;
    alice.sync(NO_WAIT).await.unwrap();
    assert_eq!(tokens_issued(&relay, "alice"), 1);

    let bob = reopen(&devices, "bob").await;
    bob.sync(NO_WAIT).await.unwrap();
    let texts: Vec<String> = bob
        .history("alice", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|message| message.text)
        .collect();
    assert!(
        texts.iter().any(|text| text == "after the revocation"),
        "bob got {texts:?}"
    );
    relay.stop().await;
}
