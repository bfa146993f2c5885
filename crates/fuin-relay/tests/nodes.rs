//! Two relay processes on one PostgreSQL database: a message sent through
//! one is delivered through the other, stamped with the key they share.
//!
//! Needs `FUIN_TEST_POSTGRES` (see `tests/store.rs`); `.ci/run` provides it.
//! Without it the test is skipped with a note, unless `CI` is set: then it
//! fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod common;

use std::ffi::OsStr;

use common::*;
use fuin_relay::franking::StampKeys;
use fuin_wire::StampKeyId;

fn database() -> Option<String> {
    match std::env::var("FUIN_TEST_POSTGRES") {
        Ok(conninfo) if !conninfo.is_empty() => Some(conninfo),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but FUIN_TEST_POSTGRES is not: .ci/run must start PostgreSQL")
        }
        _ => {
            eprintln!("note: FUIN_TEST_POSTGRES is not set: the two-node test is skipped");
            None
        }
    }
}

#[test]
fn two_relays_on_one_database_deliver_across_nodes() {
    let Some(conninfo) = database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("stamp-key");
    let args = [
        OsStr::new("--postgres"),
        OsStr::new(&conninfo),
        OsStr::new("--stamp-key-file"),
        key_file.as_os_str(),
    ];
    let node_a = RelayProcess::start_with(&args);
    let node_b = RelayProcess::start_with(&args);
    // Fresh user names: the database outlives test runs.
    let mut suffix = [0u8; 6];
    rand::fill(&mut suffix);
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();

    let alice = TestDevice::register(&node_a.address, &format!("alice-{suffix}"), 1, 1);
    let mut bob = TestDevice::register(&node_b.address, &format!("bob-{suffix}"), 1, 2);
    let (status, _) = alice
        .send(&node_a.address, &bob.address, b"across nodes")
        .unwrap();
    assert_eq!(status, 200);

    let records = bob.drain(&node_b.address);
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.envelope.sealed_body.as_bytes(), b"across nodes");
    assert_eq!(record.sender, alice.address);
    // Both nodes stamp with the shared key.
    let key: [u8; 32] = std::fs::read(&key_file).unwrap().try_into().unwrap();
    let keys = StampKeys::new(StampKeyId(1), key);
    assert_eq!(keys.compute(record), Some(record.franking_stamp));

    // A token from one node works on the other, and the acknowledgement made
    // through node B removed the envelope for node A too.
    bob.login(&node_b.address);
    assert!(bob.drain(&node_a.address).is_empty());
    assert!(node_a.stop("TERM").success());
    assert!(node_b.stop("TERM").success());
}
