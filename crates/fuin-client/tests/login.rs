//! A device that logged in once reuses its token in its next run (the next
//! command of the CLI) instead of logging in again: the token is kept,
//! sealed, in the device's store until it is about to expire.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use fuin_client::{Client, ClientError, ClientOptions};

/// The relay allows requests without a token for creating the account and
/// one login, and never more: a second run that logged in again would be
/// refused 429. It is not, because it uses the token of the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_reuses_the_token_of_the_first() {
    let relay = TestRelay::start_with(|config| {
        config.anonymous_request_burst = 3;
        config.anonymous_requests_per_second = 0;
    })
    .await;
    let devices = Devices::new();
    let first = devices.create(&relay, "alice", 1).await;
    first.sync(Duration::ZERO).await.unwrap();
    first.sync(Duration::ZERO).await.unwrap();
    drop(first);

    let second = Client::open(devices.path("alice", 1), ClientOptions::default())
        .await
        .unwrap();
    second.sync(Duration::ZERO).await.unwrap();

    // The budget is indeed spent: another device cannot even register.
    let refused = match Client::create(
        devices.path("bob", 1),
        &relay.url,
        "bob",
        1,
        ClientOptions::default(),
    )
    .await
    {
        Ok(bob) => bob.sync(Duration::ZERO).await.unwrap_err(),
        Err(err) => err,
    };
    assert!(
        matches!(refused, ClientError::Relay { status: 429, .. }),
        "{refused:?}"
    );
    relay.stop().await;
}
