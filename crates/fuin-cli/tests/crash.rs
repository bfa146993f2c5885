//! A real client process killed in the middle of a sync or a send loses
//! nothing and shows nothing twice.
//!
//! The kill comes from the hidden option `--crash-at STEP` of `fuin sync`
//! and `fuin send`, which makes the process call `abort()` when the SDK
//! reaches that step (`fuin_client::Step`): `fetched` (deliveries arrived,
//! nothing stored), `stored` (stored, not yet acknowledged at the relay),
//! `acknowledged`, `queued` (a send sealed and queued, not posted) and
//! `posted` (the relay accepted a send, the local outbox not yet cleared).
//! The process dies of SIGABRT without unwinding or flushing anything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use common::{RelayProcess, Stores, fuin, json, texts};

/// More than one fetch batch (32), so that the crash comes with part of
/// the messages stored and part still at the relay.
const MESSAGES: usize = 40;

fn crash(command: &str, store: &Path, args: &[&str], step: &str) {
    let output = fuin()
        .arg(command)
        .arg("--store")
        .arg(store)
        .args(args)
        .args(["--crash-at", step])
        .output()
        .unwrap();
    assert_eq!(
        output.status.signal(),
        Some(6),
        "fuin {command} --crash-at {step} should have aborted: {} {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The envelopes waiting at the relay for `user`, read from its database.
fn waiting_at_relay(relay: &RelayProcess, user: &str) -> i64 {
    let db = rusqlite::Connection::open_with_flags(
        relay.database(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    db.query_row(
        "SELECT count(*) FROM mailbox WHERE user = ?1",
        [user],
        |row| row.get(0),
    )
    .unwrap()
}

/// Crashes bob's sync at `step`; `stored_before` is how many messages the
/// crashed process got into bob's store.
fn receive_after_a_crash_at(step: &str, stored_before: usize) {
    let relay = RelayProcess::start();
    let stores = Stores::new();
    let alice = stores.init(&relay.url, "alice", "alice", 1);
    let bob = stores.init(&relay.url, "bob", "bob", 1);
    let expected: Vec<String> = (0..MESSAGES).map(|i| format!("m{i}")).collect();
    for text in &expected {
        json("send", &alice, &["bob", text]);
    }

    crash("sync", &bob, &[], step);
    // The process died before telling the relay anything.
    assert_eq!(waiting_at_relay(&relay, "bob"), MESSAGES as i64);
    assert_eq!(
        texts(&json("history", &bob, &["alice"])).len(),
        stored_before
    );

    let synced = json("sync", &bob, &[]);
    assert_eq!(synced["dropped"], 0, "{synced}");
    assert_eq!(texts(&json("history", &bob, &["alice"])), expected);
    // The relay holds nothing more for bob.
    let again = json("sync", &bob, &[]);
    assert_eq!(again["acknowledged"], 0, "{again}");
    assert_eq!(again["messages"], 0, "{again}");
    assert_eq!(waiting_at_relay(&relay, "bob"), 0);
}

#[test]
fn a_client_killed_after_fetching_loses_nothing() {
    receive_after_a_crash_at("fetched", 0);
}

#[test]
fn a_client_killed_between_storing_and_acknowledging_shows_nothing_twice() {
    // The first batch (32) was stored.
    receive_after_a_crash_at("stored", 32);
}

#[test]
fn a_sender_killed_after_the_relay_accepted_shows_nothing_twice() {
    let relay = RelayProcess::start();
    let stores = Stores::new();
    let alice = stores.init(&relay.url, "alice", "alice", 1);
    let bob = stores.init(&relay.url, "bob", "bob", 1);
    json("send", &alice, &["bob", "first"]);
    crash("send", &alice, &["bob", "second"], "posted");

    // The next operation posts the queued batch again; bob's session
    // refuses the second copy.
    json("sync", &alice, &[]);
    let mine = json("history", &alice, &["bob"]);
    assert_eq!(texts(&mine), ["first", "second"]);
    assert_eq!(mine["messages"][1]["status"], "sent");
    let synced = json("sync", &bob, &[]);
    assert_eq!(
        texts(&json("history", &bob, &["alice"])),
        ["first", "second"]
    );
    assert_eq!(synced["messages"], 2, "{synced}");
}
