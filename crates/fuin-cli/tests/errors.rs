//! How `fuin` fails: one line and a hint on stderr with exit status 1, the
//! `{"error": {...}}` shape on stdout with `--json`, and exit status 2 for a
//! command line that does not parse. `fuin relay` refuses what `fuin-relay`
//! refuses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Output;

use common::{Stores, fuin};
use serde_json::Value;

/// A loopback URL where nothing listens.
fn closed_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8(output.stderr.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn json_error(output: &Output) -> Value {
    let value: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "not JSON ({err}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    let error = value["error"].clone();
    for field in ["code", "message", "hint"] {
        assert!(
            error[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field} missing in {value}"
        );
    }
    error
}

#[test]
fn an_unreachable_relay_is_one_line_and_a_hint() {
    let stores = Stores::new();
    // A device can be set up while the relay is away; it registers later,
    // and init says so.
    let store = stores.path("alice");
    let output = fuin()
        .args(["--json", "init", "--store"])
        .arg(&store)
        .args(["--relay", &closed_url(), "--user", "alice"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let init: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(init["device"], "alice/1");
    assert_eq!(init["registered"], false);

    let output = fuin()
        .args(["sync", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let lines = stderr_lines(&output);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("error: the relay could not be reached"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("hint: ") && lines[1].contains("relay is running"),
        "{lines:?}"
    );

    let output = fuin()
        .args(["--json", "sync", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stderr.is_empty());
    let error = json_error(&output);
    assert_eq!(error["code"], "unreachable");
}

#[test]
fn a_send_without_the_relay_fails_visibly() {
    let stores = Stores::new();
    let store = stores.init(&closed_url(), "alice", "alice", 1);
    let output = fuin()
        .args(["--json", "send", "--store"])
        .arg(&store)
        .args(["bob", "hello"])
        .output()
        .unwrap();
    // Without the relay the recipient's devices are unknown: nothing can
    // be sealed, and the command says so rather than pretending it sent.
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(json_error(&output)["code"], "unreachable");
}

#[test]
fn a_missing_store_says_how_to_make_one() {
    let stores = Stores::new();
    let missing = stores.path("nobody");
    for command in [
        vec!["sync"],
        vec!["send", "bob", "hi"],
        vec!["history", "bob"],
        vec!["conversations"],
        vec!["read", "bob"],
        vec!["safety-number", "bob"],
        vec!["accept-identity", "bob"],
        vec!["devices"],
        vec!["devices", "approve", "12345"],
        vec!["devices", "remove", "2"],
    ] {
        let output = fuin()
            .arg(command[0])
            .arg("--store")
            .arg(&missing)
            .args(&command[1..])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{command:?}");
        let lines = stderr_lines(&output);
        assert_eq!(lines.len(), 2, "{command:?}: {lines:?}");
        assert!(lines[0].contains("no device store"), "{lines:?}");
        assert!(lines[1].contains("fuin init"), "{lines:?}");
    }
    // FUIN_STORE names the store when --store is not given.
    let output = fuin()
        .args(["--json", "conversations"])
        .env("FUIN_STORE", &missing)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let error = json_error(&output);
    assert_eq!(error["code"], "no_store");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains(&missing.display().to_string())
    );
    // And no store was made on the way.
    assert!(!missing.exists());
}

#[test]
fn init_refuses_a_store_that_exists() {
    let stores = Stores::new();
    let url = closed_url();
    let store = stores.init(&url, "alice", "alice", 1);
    let key_before = std::fs::read(format!("{}.key", store.display())).unwrap();
    let output = fuin()
        .args(["--json", "init", "--store"])
        .arg(&store)
        .args(["--relay", &url, "--user", "mallory"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(json_error(&output)["code"], "store_exists");
    assert_eq!(
        std::fs::read(format!("{}.key", store.display())).unwrap(),
        key_before
    );
}

#[test]
fn bad_arguments_are_refused_clearly() {
    let stores = Stores::new();
    let store = stores.init(&closed_url(), "alice", "alice", 1);
    let output = fuin()
        .args(["--json", "accept-identity", "--store"])
        .arg(&store)
        .arg("bad\u{7}user")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let error = json_error(&output);
    assert_eq!(error["code"], "invalid_argument");
    assert!(error["hint"].as_str().unwrap().contains("user id"));

    let output = fuin()
        .args(["--json", "send", "--store"])
        .arg(&store)
        .args(["bad\u{7}user", "hi"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(json_error(&output)["code"], "invalid_argument");
}

#[test]
fn a_command_line_that_does_not_parse_exits_with_2() {
    let output = fuin().args(["send"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage"));

    let output = fuin().args(["--json", "frobnicate"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let error = json_error(&output);
    assert_eq!(error["code"], "usage");
    assert!(error["message"].as_str().unwrap().contains("frobnicate"));

    let output = fuin().args(["sync", "--wait", "forever"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn the_crash_option_is_not_in_the_help() {
    for command in ["sync", "send"] {
        let output = fuin().args([command, "--help"]).output().unwrap();
        assert!(output.status.success());
        let help = String::from_utf8(output.stdout).unwrap();
        assert!(help.contains("--store"), "{help}");
        assert!(!help.contains("crash"), "{help}");
    }
}

#[test]
fn fuin_relay_refuses_what_the_relay_binary_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let output = fuin()
        .args(["relay", "--data"])
        .arg(&data)
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let lines = stderr_lines(&output);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("not a loopback address") && lines[0].contains("--insecure-plain-http"),
        "{lines:?}"
    );

    let output = fuin()
        .args(["--json", "relay", "--data"])
        .arg(&data)
        .args(["--token-lifetime-secs", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(json_error(&output)["code"], "usage");
}

#[test]
fn fuin_relay_takes_the_config_file_and_refuses_a_password_flag_as_the_relay_binary_does() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let config = dir.path().join("relay.toml");
    std::fs::write(
        &config,
        format!(
            "data = {:?}\nmax_long_poll_secs = 99999\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let output = fuin()
        .args(["--json", "relay", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let error = json_error(&output);
    assert_eq!(error["code"], "usage");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(config.to_str().unwrap()) && message.contains("key max_long_poll_secs"),
        "{message}"
    );
    assert!(!data.exists());

    let output = fuin()
        .args(["--json", "relay", "--stamp-key-file"])
        .arg(dir.path().join("stamp-key"))
        .args(["--postgres", "postgresql://fuin:hunter2@127.0.0.1:1/fuin"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = json_error(&output)["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("FUIN_RELAY_POSTGRES_PASSWORD") && !message.contains("hunter2"),
        "{message}"
    );
}
