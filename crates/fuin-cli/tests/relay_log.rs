//! `fuin relay` writes the same log as the `fuin-relay` binary: with
//! `--log-format json`, one JSON event a line on stderr, each request named
//! by its route template, never by its path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

#[test]
fn fuin_relay_logs_requests_as_json_by_route_template() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fuin"))
        .arg("relay")
        .arg("--data")
        .arg(dir.path().join("relay.db"))
        .args(["--listen", "127.0.0.1:0"])
        .args(["--log-format", "json", "--log-level", "info"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let address = line
        .trim()
        .strip_prefix("fuin-relay listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();

    let mut stream = TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "GET /v1/users/carol-secret-user/bundles HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    assert!(response.to_ascii_lowercase().contains("x-request-id: "));

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{log}");

    assert!(!log.contains("carol-secret-user"), "{log}");
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(events.iter().any(|event| event["message"] == "listening"));
    let request = events
        .iter()
        .find(|event| event["target"] == "fuin_relay::request")
        .unwrap_or_else(|| panic!("no request event in {log}"));
    assert_eq!(request["route"], "/v1/users/{user}/bundles");
    assert_eq!(request["status"], 401);
    assert_eq!(request["request_id"].as_str().unwrap().len(), 32);
}
