//! The `fuin-relay` binary: starts from nothing but a database path, serves,
//! and shuts down cleanly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{RelayProcess, lists, request};

#[test]
fn the_relay_starts_from_a_database_path_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let relay = RelayProcess::start(&data);

    let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let list = lists::signed_list(
        &lists::account_key(1),
        "alice",
        1,
        &[(1, lists::identity(&key, 1))],
    );
    let (status, _) = request(
        &relay.address,
        "POST",
        "/v1/accounts",
        None,
        &lists::registration(&list, None),
    )
    .unwrap();
    assert_eq!(status, 201);
    let (status, body) =
        request(&relay.address, "POST", "/v1/devices", None, b"not a frame").unwrap();
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("\"code\":\"malformed_frame\""));

    let exit = relay.stop("TERM");
    assert!(exit.success(), "relay exited with {exit}");

    assert!(data.exists());
    let key_file = dir.path().join("relay.db.stamp-key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::read(&key_file).unwrap().len(), 32);
}
