//! The `fuin-relay` binary: starts from nothing but a database path, serves,
//! and shuts down cleanly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{RelayProcess, request};
use fuin_wire::relay::DeviceRegistration;
use fuin_wire::*;

#[test]
fn the_relay_starts_from_a_database_path_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let relay = RelayProcess::start(&data);

    let registration = DeviceRegistration {
        address: DeviceAddress::new(UserId::new("alice").unwrap(), DeviceId(1)),
        identity: PublicIdentity {
            signing_key: Ed25519PublicKey([1; 32]),
            agreement_key: X25519PublicKey([2; 32]),
            signature: Ed25519Signature([3; 64]),
        },
    };
    let (status, _) = request(
        &relay.address,
        "POST",
        "/v1/devices",
        None,
        &registration.to_bytes().unwrap(),
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
