//! A relay serving TLS with a self-signed certificate: `--relay-cert`
//! makes the client trust it, and without it the client refuses to talk.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;

use common::{RelayProcess, Stores, fuin, json, texts};

#[test]
fn a_self_signed_relay_is_trusted_only_with_relay_cert() {
    let dir = tempfile::tempdir().unwrap();
    // The certificate names the address the relay listens on, which is
    // also the relay's origin (a login is signed for the origin).
    let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = dir.path().join("relay.crt");
    let key = dir.path().join("relay.key");
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let relay = RelayProcess::start_with(
        dir,
        &[
            OsStr::new("--tls-cert"),
            cert.as_os_str(),
            OsStr::new("--tls-key"),
            key.as_os_str(),
        ],
        "https",
    );
    let url = relay.url.clone();

    let stores = Stores::new();
    let init = |name: &str, user: &str| {
        let store = stores.path(name);
        let output = fuin()
            .args(["--json", "init", "--store"])
            .arg(&store)
            .args(["--relay", &url, "--user", user, "--relay-cert"])
            .arg(&cert)
            .output()
            .unwrap();
        assert!(output.status.success());
        let init: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(init["registered"], true, "{init}");
        store
    };
    let alice = init("alice", "alice");
    let bob = init("bob", "bob");
    let with_cert = |command: &str, store: &std::path::Path, args: &[&str]| {
        let mut all = vec!["--relay-cert", cert.to_str().unwrap()];
        all.extend_from_slice(args);
        json(command, store, &all)
    };
    assert_eq!(
        with_cert("send", &alice, &["bob", "over TLS"])["status"],
        "sent"
    );
    with_cert("sync", &bob, &[]);
    assert_eq!(texts(&json("history", &bob, &["alice"])), ["over TLS"]);

    // Without the certificate the relay is not trusted: nothing is fetched.
    let output = fuin()
        .args(["--json", "sync", "--store"])
        .arg(&bob)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(error["error"]["code"], "unreachable", "{error}");
    assert!(
        error["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("--relay-cert"),
        "{error}"
    );
}
