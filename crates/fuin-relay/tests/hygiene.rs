//! The relay's output holds no secrets: after a workload with known tokens,
//! payloads, prekeys and stamp keys, run with every logging variable turned
//! up, nothing the binary printed on stdout or stderr contains any of them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ffi::OsStr;
use std::process::Stdio;

use common::*;
use fuin_wire::relay::{BundleSet, MailboxBatch};
use fuin_wire::*;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn variants(bytes: &[u8]) -> Vec<Vec<u8>> {
    vec![
        bytes.to_vec(),
        hex::encode(bytes).into_bytes(),
        hex::encode_upper(bytes).into_bytes(),
        // A Debug print of a byte array.
        format!("{:?}", &bytes[..8]).into_bytes(),
    ]
}

#[test]
fn nothing_the_relay_prints_contains_a_token_payload_or_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let relay = RelayProcess::spawn_with_env(
        &[OsStr::new("--data"), data.as_os_str()],
        "127.0.0.1:0",
        Stdio::piped(),
        &[("RUST_LOG", "trace"), ("RUST_BACKTRACE", "full")],
    );
    let address = relay.address.clone();
    let mut secrets: Vec<Vec<u8>> = Vec::new();

    let mut alice = TestDevice::register(&address, "alice", 1, 1);
    let bob = TestDevice::register(&address, "bob", 1, 2);
    let first_alice_token = alice.token.clone();
    alice.login(&address);
    for token in [&first_alice_token, &alice.token, &bob.token] {
        secrets.extend(variants(&hex::decode(token).unwrap()));
    }

    // Prekeys (public, but not for the log either).
    let (status, _) = bob.upload_prekeys(&address, Some(1), 0..3);
    assert_eq!(status, 200);
    secrets.extend(variants(&[0x51; 32]));
    let (status, body) = request(
        &address,
        "GET",
        "/v1/users/bob/bundles",
        Some(&alice.token),
        &[],
    )
    .unwrap();
    assert_eq!(status, 200);
    BundleSet::from_bytes(&body).unwrap();

    // Payloads, sent, fetched, pushed and acknowledged.
    let mut payloads = Vec::new();
    for i in 0..6u8 {
        let mut payload = [0u8; 48];
        rand::fill(&mut payload);
        payload[0] = i;
        let (status, _) = alice.send(&address, &bob.address, &payload).unwrap();
        assert_eq!(status, 200);
        secrets.extend(variants(&payload));
        payloads.push(payload);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pushed = runtime.block_on(async {
        let mut request = format!("ws://{address}/v1/mailbox/stream")
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", bob.token).parse().unwrap(),
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let Some(Ok(Message::Binary(bytes))) = socket.next().await else {
            panic!("no push");
        };
        let batch = MailboxBatch::from_bytes(&bytes).unwrap().into_owned();
        // A text message: the relay closes the stream as a policy breach.
        socket
            .send(Message::Text("not a frame".into()))
            .await
            .unwrap();
        let _ = socket.next().await;
        batch.records.len()
    });
    assert_eq!(pushed, 6);
    let records = bob.drain(&address);
    assert_eq!(records.len(), 6);
    for record in &records {
        secrets.extend(variants(&record.franking_stamp.0));
    }

    // Refused requests: a wrong token, bodies holding a secret. Their JSON
    // answers are scanned too.
    let mut wrong = hex::decode(&bob.token).unwrap();
    wrong[0] ^= 1;
    let wrong = hex::encode(wrong);
    secrets.extend(variants(&hex::decode(&wrong).unwrap()));
    let mut answers = Vec::new();
    for (method, path, token, body, expected) in [
        ("GET", "/v1/mailbox", Some(wrong.as_str()), &[][..], 401),
        (
            "POST",
            "/v1/messages",
            Some(alice.token.as_str()),
            &payloads[0][..],
            400,
        ),
        ("POST", "/v1/devices", None, &payloads[1][..], 400),
        ("POST", "/v1/auth/token", None, &payloads[2][..], 400),
        (
            "DELETE",
            "/v1/auth/token",
            Some(alice.token.as_str()),
            &[][..],
            204,
        ),
    ] {
        let (status, answer) = request(&address, method, path, token, body).unwrap();
        assert_eq!(status, expected, "{method} {path}");
        answers.extend(answer);
    }

    let (status, printed) = relay.stop_and_collect();
    assert!(status.success(), "exited with {status}");

    // The stamp key the relay made.
    let key = std::fs::read(dir.path().join("relay.db.stamp-key")).unwrap();
    secrets.extend(variants(&key));
    for secret in &secrets {
        assert!(
            !contains(&printed, secret),
            "the relay printed a secret: {}",
            String::from_utf8_lossy(&printed)
        );
        assert!(
            !contains(&answers, secret),
            "an error answer holds a secret"
        );
    }
    // The scan is over everything printed after the address line: the
    // relay's own log on stderr (at trace), and nothing else.
    let printed = String::from_utf8(printed).unwrap();
    assert!(
        printed.contains("fuin_relay::request"),
        "the log shows no request: {printed}"
    );
    for line in printed.lines() {
        assert!(
            line.contains(" fuin_relay::") || line.contains("{request_id="),
            "the relay printed something else than its log: {line}"
        );
    }
}
