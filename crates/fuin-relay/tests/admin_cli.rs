//! `fuin-relay admin` end to end: the real binary serves its admin API on a
//! loopback listener of its own, and the real binary's `admin` subcommand
//! drives it (`spec/relay-operations.md` §11). Devices talk to the relay over
//! HTTP and WebSocket as they would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ffi::OsStr;
use std::io::{BufRead, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use ed25519_dalek::{Signer, SigningKey};
use fuin_wire::relay::*;
use fuin_wire::*;
use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A relay process with its admin API, and the operator's credential.
struct AdminRelay {
    relay: RelayProcess,
    /// `http://` and the admin API's address.
    admin_url: String,
    credential: PathBuf,
    dir: tempfile::TempDir,
}

/// `fuin-relay admin --credential-file PATH keygen`: the hash it prints.
fn keygen(credential: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_fuin-relay"))
        .args([OsStr::new("admin"), OsStr::new("--credential-file")])
        .arg(credential)
        .arg("keygen")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let hash = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_eq!(hash.len(), 64, "{hash:?}");
    hash
}

impl AdminRelay {
    /// A relay on a new database with an admin credential, with `extra`
    /// options; on `clock` if given.
    fn start(extra: &[&str], clock: Option<&TestClock>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let credential = dir.path().join("admin.credential");
        let hash = keygen(&credential);
        let mode = std::fs::metadata(&credential).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let data = dir.path().join("relay.db");
        let mut args = vec![
            OsStr::new("--data"),
            data.as_os_str(),
            OsStr::new("--admin-credential-hash"),
            OsStr::new(&hash),
            OsStr::new("--admin-listen"),
            OsStr::new("127.0.0.1:0"),
        ];
        args.extend(extra.iter().map(OsStr::new));
        let mut relay = match clock {
            Some(clock) => RelayProcess::start_on_clock(&args, clock),
            None => RelayProcess::start_with(&args),
        };
        let mut line = String::new();
        relay.stdout.as_mut().unwrap().read_line(&mut line).unwrap();
        let admin = line
            .trim()
            .strip_prefix("fuin-relay admin API listening on ")
            .unwrap_or_else(|| panic!("unexpected second line {line:?}"))
            .to_owned();
        assert!(admin.starts_with("127.0.0.1:"), "{admin}");
        assert_ne!(admin, relay.address);
        Self {
            relay,
            admin_url: format!("http://{admin}"),
            credential,
            dir,
        }
    }

    fn admin_address(&self) -> &str {
        self.admin_url.strip_prefix("http://").unwrap()
    }

    /// Runs `fuin-relay admin` with this relay's URL and `credential`.
    fn admin_with(&self, credential: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_fuin-relay"))
            .args(["admin", "--url", &self.admin_url, "--credential-file"])
            .arg(credential)
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs `fuin-relay admin ARGS`, which must succeed; its stdout.
    fn admin(&self, args: &[&str]) -> String {
        let output = self.admin_with(&self.credential, args);
        assert!(output.status.success(), "admin {args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs `fuin-relay admin --json ARGS`, which must succeed; its JSON.
    fn admin_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.admin(&all)).unwrap()
    }
}

async fn connect(address: &str, token: &str) -> Socket {
    let mut request = format!("ws://{address}/v1/mailbox/stream")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// The next pushed batch's bodies.
async fn next_batch(socket: &mut Socket) -> Vec<Vec<u8>> {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("no push in time")
            .unwrap()
            .unwrap();
        if let Message::Binary(bytes) = message {
            let batch = MailboxBatch::from_bytes(&bytes).unwrap();
            return bodies(batch.records.as_slice());
        }
    }
}

/// The reason of the close frame that ends `socket`.
async fn close_reason(socket: &mut Socket) -> String {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(Some(frame)))) => break frame.reason.as_str().to_owned(),
                Some(Ok(_)) => {}
                other => panic!("the stream ended without a close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("the stream stayed open")
}

fn bodies(records: &[DeliveredRecord<'_>]) -> Vec<Vec<u8>> {
    records
        .iter()
        .map(|record| record.envelope.sealed_body.as_bytes().to_vec())
        .collect()
}

/// A login of `device` at `relay`: the token request's status and body.
fn log_in(relay: &str, device: &TestDevice) -> (u16, Vec<u8>) {
    let challenge = ChallengeRequest {
        address: device.address.clone(),
    };
    let (status, body) = request(
        relay,
        "POST",
        "/v1/auth/challenge",
        None,
        &challenge.to_bytes().unwrap(),
    )
    .unwrap();
    assert_eq!(status, 200);
    let nonce = AuthChallenge::from_bytes(&body).unwrap().nonce;
    let answer = ChallengeResponse {
        address: device.address.clone(),
        nonce,
        signature: Ed25519Signature(
            device
                .key
                .sign(&relay_auth_input(
                    &format!("http://{relay}"),
                    &device.address,
                    &nonce,
                ))
                .to_bytes(),
        ),
    };
    request(
        relay,
        "POST",
        "/v1/auth/token",
        None,
        &answer.to_bytes().unwrap(),
    )
    .unwrap()
}

/// One request carrying `authorization` as its header: status and body.
fn request_authorized(
    address: &str,
    method: &str,
    path: &str,
    authorization: &str,
) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(address).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: {authorization}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    read_response(stream).unwrap()
}

fn refusal(answer: &(u16, Vec<u8>)) -> (u16, String) {
    (answer.0, error_code(&answer.1))
}

fn mailbox(relay: &str, device: &TestDevice) -> (u16, Vec<u8>) {
    request(relay, "GET", "/v1/mailbox", Some(&device.token), &[]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_suspended_through_fuin_relay_admin_is_refused_and_streams_end_but_their_mailbox_is_kept()
 {
    let admin = AdminRelay::start(&[], None);
    let relay = admin.relay.address.clone();
    let alice = TestDevice::register(&relay, "alice", 1, 1);
    let bob = TestDevice::register(&relay, "bob", 1, 2);
    assert_eq!(alice.send(&relay, &bob.address, b"before").unwrap().0, 200);
    let mut socket = connect(&relay, &bob.token).await;
    assert_eq!(next_batch(&mut socket).await, vec![b"before".to_vec()]);

    assert_eq!(admin.admin(&["suspend", "bob"]).trim(), "suspended bob");
    assert_eq!(close_reason(&mut socket).await, "account_suspended");
    let suspended = (403, "account_suspended".to_owned());
    assert_eq!(
        refusal(&bob.send(&relay, &alice.address, b"no").unwrap()),
        suspended
    );
    assert_eq!(refusal(&mailbox(&relay, &bob)), suspended);
    assert_eq!(refusal(&log_in(&relay, &bob)), suspended);
    // Others can still send to bob; alice received nothing from him.
    assert_eq!(alice.send(&relay, &bob.address, b"during").unwrap().0, 200);
    assert!(alice.peek(&relay).is_empty());
    let stats = admin.admin_json(&["stats"]);
    assert_eq!(stats["suspended_users"].as_u64(), Some(1));
    assert_eq!(stats["envelopes"].as_u64(), Some(2));
    assert_eq!(
        admin.admin(&["suspend", "bob"]).trim(),
        "bob was suspended already"
    );

    assert_eq!(admin.admin(&["restore", "bob"]).trim(), "restored bob");
    // The audit log, newest first: restore, the second suspend, the first.
    let log = admin.admin(&["log", "--limit", "3"]);
    let actions: Vec<Vec<&str>> = log
        .lines()
        .map(|line| line.split(' ').skip(1).take(2).collect())
        .collect();
    assert_eq!(
        actions,
        [["restore", "bob"], ["suspend", "bob"], ["suspend", "bob"]]
    );
    assert_eq!(
        bodies(&bob.peek(&relay)),
        vec![b"before".to_vec(), b"during".to_vec()]
    );
    assert_eq!(bob.send(&relay, &alice.address, b"back").unwrap().0, 200);
    assert_eq!(bodies(&alice.peek(&relay)), vec![b"back".to_vec()]);
    assert!(admin.relay.stop("TERM").success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_removed_through_fuin_relay_admin_loses_its_token_and_stream() {
    let admin = AdminRelay::start(&[], None);
    let relay = admin.relay.address.clone();
    let alice = TestDevice::register(&relay, "alice", 1, 1);
    let bob = TestDevice::register_user(&relay, "bob", &[(1, 2), (2, 3)]);
    assert_eq!(
        alice.send(&relay, &bob[1].address, b"to two").unwrap().0,
        200
    );
    let mut socket = connect(&relay, &bob[1].token).await;
    assert_eq!(next_batch(&mut socket).await, vec![b"to two".to_vec()]);
    let devices_before = admin.admin_json(&["stats"])["devices"].as_u64();

    assert_eq!(
        admin.admin(&["remove-device", "bob", "2"]).trim(),
        "removed device 2 of bob"
    );
    assert_eq!(close_reason(&mut socket).await, "device_removed");
    assert_eq!(
        refusal(&mailbox(&relay, &bob[1])),
        (401, "unauthorized".to_owned())
    );
    assert_eq!(
        refusal(&alice.send(&relay, &bob[1].address, b"x").unwrap()),
        (404, "unknown_recipient".to_owned())
    );
    // Its mailbox went with it; bob/1 is untouched.
    assert_eq!(admin.admin_json(&["stats"])["envelopes"].as_u64(), Some(0));
    assert_eq!(
        admin.admin_json(&["stats"])["devices"].as_u64(),
        devices_before.map(|devices| devices - 1)
    );
    assert_eq!(bob[0].send(&relay, &alice.address, b"ok").unwrap().0, 200);
    // Removing it again is refused, and said so.
    let again = admin.admin_with(&admin.credential, &["remove-device", "bob", "2"]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("404 unknown_device"),
        "{again:?}"
    );
    assert!(admin.relay.stop("TERM").success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_tokens_through_fuin_relay_admin_ends_streams() {
    let admin = AdminRelay::start(&[], None);
    let relay = admin.relay.address.clone();
    let alice = TestDevice::register(&relay, "alice", 1, 1);
    let mut bob = TestDevice::register_user(&relay, "bob", &[(1, 2), (2, 3)]);
    let mut socket = connect(&relay, &bob[0].token).await;
    let revoked = admin.admin_json(&["revoke-tokens", "bob"]);
    assert_eq!(revoked["revoked"].as_u64(), Some(2));
    assert_eq!(close_reason(&mut socket).await, "token_revoked");
    for device in &bob {
        assert_eq!(mailbox(&relay, device).0, 401);
    }
    assert_eq!(
        alice.send(&relay, &bob[0].address, b"still").unwrap().0,
        200
    );
    // A new login works (revoking is not suspending).
    bob[1].login(&relay);
    assert_eq!(
        admin.admin(&["revoke-tokens", "bob", "2"]).trim(),
        "revoked 1 token(s) of device 2 of bob"
    );
    assert_eq!(mailbox(&relay, &bob[1]).0, 401);
    assert!(admin.relay.stop("TERM").success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_admin_credential_is_refused_and_changes_nothing() {
    let admin = AdminRelay::start(&[], None);
    let relay = admin.relay.address.clone();
    let alice = TestDevice::register(&relay, "alice", 1, 1);
    let bob = TestDevice::register(&relay, "bob", 1, 2);
    let stats_before = admin.admin_json(&["stats"]);

    // Another credential, made the same way.
    let other = admin.dir.path().join("other.credential");
    keygen(&other);
    for args in [
        &["suspend", "bob"][..],
        &["remove-device", "bob", "1"],
        &["revoke-tokens", "bob"],
        &["invite", "--count", "2"],
        &["purge"],
        &["stats"],
    ] {
        let refused = admin.admin_with(&other, args);
        assert!(!refused.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("401 unauthorized"),
            "{args:?}: {refused:?}"
        );
    }
    let refused = admin.admin_with(&other, &["--json", "suspend", "bob"]);
    let failure: Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(failure["error"].as_str(), Some("admin_refused"));

    // No header, another scheme, the device's own token: 401.
    let credential_hex = std::fs::read_to_string(&admin.credential).unwrap();
    for authorization in [
        None,
        Some(format!("Bearer {}", bob.token)),
        Some(format!("Moderation {}", credential_hex.trim())),
    ] {
        let answer = match &authorization {
            None => request(
                admin.admin_address(),
                "POST",
                "/v1/admin/users/bob/suspend",
                None,
                &[],
            )
            .unwrap(),
            Some(value) => request_authorized(
                admin.admin_address(),
                "POST",
                "/v1/admin/users/bob/suspend",
                value,
            ),
        };
        assert_eq!(refusal(&answer), (401, "unauthorized".to_owned()));
    }

    // A credential file others may read is not used at all.
    let loose = admin.dir.path().join("loose.credential");
    std::fs::copy(&admin.credential, &loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = admin.admin_with(&loose, &["suspend", "bob"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("chmod 600"));
    // keygen does not replace a credential.
    let output = Command::new(env!("CARGO_BIN_EXE_fuin-relay"))
        .args(["admin", "--credential-file"])
        .arg(&admin.credential)
        .arg("keygen")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(
        std::fs::read_to_string(&admin.credential).unwrap(),
        credential_hex
    );

    // The admin API is not on the public listener, even with the credential.
    let with_credential = format!("Admin {}", credential_hex.trim());
    for (method, path) in [
        ("POST", "/v1/admin/users/bob/suspend"),
        ("GET", "/v1/admin/stats"),
        ("POST", "/v1/admin/purge"),
    ] {
        let answer = request_authorized(&relay, method, path, &with_credential);
        assert_eq!(refusal(&answer), (404, "not_found".to_owned()));
    }

    // Nothing was done.
    assert_eq!(admin.admin_json(&["stats"]), stats_before);
    assert_eq!(bob.send(&relay, &alice.address, b"free").unwrap().0, 200);
    assert!(admin.relay.stop("TERM").success());
}

#[test]
fn the_admin_api_listens_on_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let hash = hex::encode([7u8; 32]);
    let stderr = refused_start(
        &[
            OsStr::new("--data"),
            data.as_os_str(),
            OsStr::new("--admin-credential-hash"),
            OsStr::new(&hash),
            OsStr::new("--admin-listen"),
            OsStr::new("0.0.0.0:0"),
        ],
        "127.0.0.1:0",
    );
    assert!(stderr.contains("admin API"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_and_purge_through_fuin_relay_admin() {
    let clock = TestClock::new();
    let admin = AdminRelay::start(
        &["--registration", "invite", "--envelope-lifetime-secs", "60"],
        Some(&clock),
    );
    let relay = admin.relay.address.clone();
    let codes: Vec<[u8; 32]> = admin
        .admin(&["invite", "--count", "2"])
        .lines()
        .map(|line| hex::decode(line).unwrap().try_into().unwrap())
        .collect();
    assert_eq!(codes.len(), 2);
    let mut devices = Vec::new();
    for (user, seed, code) in [("alice", 1, codes[0]), ("bob", 2, codes[1])] {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let list = lists::signed_list(
            &lists::account_key(seed),
            user,
            1,
            &[(1, lists::identity(&key, seed))],
        );
        let created = request(
            &relay,
            "POST",
            "/v1/accounts",
            None,
            &lists::registration(&list, Some(code)),
        )
        .unwrap();
        assert_eq!(created.0, 201);
        let mut device = TestDevice {
            address: DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(1)),
            key,
            token: String::new(),
        };
        device.login(&relay);
        devices.push(device);
    }
    // Spent: a third account with the first code is refused.
    let carol = lists::signed_list(
        &lists::account_key(3),
        "carol",
        1,
        &[(1, lists::identity(&SigningKey::from_bytes(&[3; 32]), 3))],
    );
    let refused = request(
        &relay,
        "POST",
        "/v1/accounts",
        None,
        &lists::registration(&carol, Some(codes[0])),
    )
    .unwrap();
    assert_eq!(refusal(&refused), (403, "invalid_invite".to_owned()));

    let (alice, bob) = (&devices[0], &devices[1]);
    assert_eq!(
        alice.send(&relay, &bob.address, b"soon gone").unwrap().0,
        200
    );
    assert_eq!(
        admin.admin(&["purge"]).trim(),
        "purged 0 envelope(s) (0 bytes), 0 token(s), 0 blob(s) (0 bytes), 0 report(s)"
    );
    clock.advance(Duration::from_secs(61));
    let purged = admin.admin_json(&["purge"]);
    assert_eq!(purged["removed"]["envelopes"].as_u64(), Some(1));
    assert!(purged["removed"]["envelope_bytes"].as_u64().unwrap() > 0);
    assert!(bob.peek(&relay).is_empty());
    assert_eq!(admin.admin_json(&["stats"])["envelopes"].as_u64(), Some(0));
    assert!(admin.relay.stop("TERM").success());
}
