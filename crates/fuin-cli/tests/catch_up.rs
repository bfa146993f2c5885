//! A device that was away catches up on a thousand messages with one
//! `fuin sync` process. The thousand are sent by an SDK client in this test
//! process (a thousand `fuin send` processes would only make it slow),
//! through the same `fuin relay` process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{RelayProcess, Stores, json, texts};
use fuin_client::{Client, ClientOptions, MessageStatus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_away_catches_up_on_a_thousand_messages_in_order() {
    let relay = RelayProcess::start();
    let stores = Stores::new();
    let bob = stores.init(&relay.url, "bob", "bob", 1);
    let alice = Client::create(
        stores.path("alice"),
        &relay.url,
        "alice",
        1,
        ClientOptions::default(),
    )
    .await
    .unwrap();
    let expected: Vec<String> = (0..1000).map(|i| format!("message {i}")).collect();
    for text in &expected {
        let sent = alice.send_text("bob", text).await.unwrap();
        assert_eq!(sent.status, MessageStatus::Sent);
    }

    let bob_path = bob.clone();
    let synced = tokio::task::spawn_blocking(move || json("sync", &bob_path, &[]))
        .await
        .unwrap();
    assert_eq!(synced["messages"], 1000);
    assert_eq!(synced["dropped"], 0);
    assert_eq!(synced["acknowledged"], 1000);
    let received = synced["received"].as_array().unwrap();
    assert_eq!(received.len(), 1000);
    assert_eq!(received[0]["text"], "message 0");
    assert_eq!(received[999]["text"], "message 999");

    let bob_path = bob.clone();
    let history = tokio::task::spawn_blocking(move || {
        json("history", &bob_path, &["alice", "--limit", "5000"])
    })
    .await
    .unwrap();
    assert_eq!(texts(&history), expected);
    // Nothing is left at the relay for bob.
    let again = tokio::task::spawn_blocking(move || json("sync", &bob, &[]))
        .await
        .unwrap();
    assert_eq!(again["messages"], 0);
    assert_eq!(again["acknowledged"], 0);

    // And alice's messages are all delivered: bob's receipts reached her.
    alice.sync(std::time::Duration::ZERO).await.unwrap();
    let mine = alice.history("bob", 5000).await.unwrap();
    assert_eq!(mine.len(), 1000);
    assert!(
        mine.iter().all(|m| m.status == MessageStatus::Delivered),
        "{:?}",
        mine.iter().find(|m| m.status != MessageStatus::Delivered)
    );
}
