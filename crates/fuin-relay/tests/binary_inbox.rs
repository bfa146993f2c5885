//! The `fuin-relay` binary's blob and moderation options: the blob limit it
//! is given binds, the moderation credential whose hash it is given pulls the
//! report inbox, and a malformed hash is refused at startup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use common::{RelayProcess, TestDevice, request};
use fuin_wire::relay::{InboxBatch, InboxSealedReport};
use fuin_wire::{FrameBody, HybridSealedReport, MlKemCiphertext, Opaque, X25519PublicKey};
use sha2::{Digest, Sha256};

/// One request with the given extra header lines; status and body.
fn request_with(address: &str, method: &str, path: &str, headers: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(address).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = String::from_utf8_lossy(&response[..split])
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    (status, response[split + 4..].to_vec())
}

#[test]
fn the_blob_limit_and_the_moderation_credential_are_taken_from_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let credential = [0x4d; 32];
    let hash = hex::encode(Sha256::digest(credential));
    let relay = RelayProcess::start_with(&[
        "--data".as_ref(),
        data.as_os_str(),
        "--moderation-credential-hash".as_ref(),
        hash.as_ref(),
        "--max-blob-len".as_ref(),
        "100".as_ref(),
    ]);
    let alice = TestDevice::register(&relay.address, "alice", 1, 1);

    for (len, expected) in [(101, 413), (100, 201)] {
        let blob = vec![7u8; len];
        let path = format!("/v1/blobs/{}", hex::encode(Sha256::digest(&blob)));
        let (status, _) = request(&relay.address, "PUT", &path, Some(&alice.token), &blob).unwrap();
        assert_eq!(status, expected, "blob of {len} bytes");
    }

    let report = HybridSealedReport {
        moderation_key_id: 1,
        ephemeral_key: X25519PublicKey([2; 32]),
        kem_ciphertext: MlKemCiphertext([3; MlKemCiphertext::LEN]),
        ciphertext: Opaque::borrowed(b"sealed"),
    };
    let (status, _) = request(
        &relay.address,
        "POST",
        "/v1/reports",
        Some(&alice.token),
        &report.to_bytes().unwrap(),
    )
    .unwrap();
    assert_eq!(status, 201);
    let moderation = format!("Authorization: Moderation {}\r\n", hex::encode(credential));
    let (status, body) = request_with(&relay.address, "GET", "/v1/moderation/reports", &moderation);
    assert_eq!(status, 200);
    let batch = InboxBatch::from_bytes(&body).unwrap();
    assert_eq!(batch.reports.len(), 1);
    assert_eq!(batch.reports.as_slice()[0].reporter, alice.address);
    assert_eq!(
        batch.reports.as_slice()[0].report,
        InboxSealedReport::Hybrid(report)
    );
    // The hash itself is not the credential.
    let wrong = format!("Authorization: Moderation {hash}\r\n");
    let (status, _) = request_with(&relay.address, "GET", "/v1/moderation/reports", &wrong);
    assert_eq!(status, 401);

    let exit = relay.stop("TERM");
    assert!(exit.success(), "relay exited with {exit}");
}

#[test]
fn a_malformed_moderation_credential_hash_is_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_fuin-relay"))
        .arg("--data")
        .arg(dir.path().join("relay.db"))
        .args([
            "--moderation-credential-hash",
            "abcd",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("64 hex digits"));
    assert!(!dir.path().join("relay.db").exists());
}
