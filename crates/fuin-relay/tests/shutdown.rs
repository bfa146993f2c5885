//! Shutdown through the binary: on SIGTERM a waiting long poll answers at
//! once, a push stream is closed with 1001 (going away), and a connection
//! that will not finish is dropped after `--shutdown-grace-secs`; each time
//! the process exits promptly with status 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use common::*;
use fuin_wire::FrameBody;
use fuin_wire::relay::MailboxBatch;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Sends SIGTERM; the exit status and how long the process took to exit,
/// or a failed test if it takes more than `limit`.
fn terminate(relay: &mut RelayProcess, limit: Duration) -> (ExitStatus, Duration) {
    let signalled = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &relay.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    // A relay still running when this fails is killed as the test unwinds.
    let status = wait_for("the relay to exit after SIGTERM", limit, || {
        relay.child.try_wait().unwrap()
    });
    (status, signalled.elapsed())
}

#[test]
fn a_waiting_long_poll_is_answered_at_once_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = RelayProcess::start(&dir.path().join("relay.db"));
    let bob = TestDevice::register(&relay.address, "bob", 1, 2);

    let mut connection = TcpStream::connect(&relay.address).unwrap();
    let started = Instant::now();
    write!(
        connection,
        "GET /v1/mailbox?wait_ms=30000 HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Bearer {}\r\nConnection: close\r\n\r\n",
        relay.address, bob.token
    )
    .unwrap();
    // Once the relay has read the request, it is in flight: the shutdown
    // waits for its answer, whether it has begun to wait yet or not.
    eventually("the relay to read the long poll", PATIENCE, || {
        peer_has_read_everything(&connection)
    });
    let poll = std::thread::spawn(move || (read_response(&mut connection), started.elapsed()));
    let (status, took) = terminate(&mut relay, Duration::from_secs(5));
    assert!(status.success(), "exited with {status}");
    assert!(took < Duration::from_secs(5));

    let (answer, waited) = poll.join().unwrap();
    let (status, body) = answer.unwrap();
    assert_eq!(status, 200);
    let batch = MailboxBatch::from_bytes(&body).unwrap();
    assert!(batch.records.is_empty());
    assert!(
        waited < Duration::from_secs(10),
        "the poll waited {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_stream_is_closed_with_going_away_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = RelayProcess::start(&dir.path().join("relay.db"));
    let address = relay.address.clone();
    let bob = tokio::task::spawn_blocking(move || TestDevice::register(&address, "bob", 1, 2))
        .await
        .unwrap();
    let mut request = format!("ws://{}/v1/mailbox/stream", relay.address)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", bob.token).parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    let stopped = tokio::task::spawn_blocking(move || {
        let outcome = terminate(&mut relay, Duration::from_secs(5));
        (relay, outcome)
    });
    let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("nothing on the stream within 5 s of SIGTERM")
        .unwrap()
        .unwrap();
    let Message::Close(Some(frame)) = message else {
        panic!("expected a close frame, got {message:?}");
    };
    assert_eq!(frame.code, CloseCode::Away);
    assert_eq!(frame.reason.as_str(), "shutting_down");
    let (_relay, (status, _)) = stopped.await.unwrap();
    assert!(status.success(), "exited with {status}");
}

#[test]
fn a_connection_that_never_finishes_is_dropped_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let mut relay = RelayProcess::start_with(&[
        OsStr::new("--data"),
        data.as_os_str(),
        OsStr::new("--shutdown-grace-secs"),
        OsStr::new("1"),
    ]);
    // A request whose body never comes: the relay waits to read it. It
    // asks to be told to go on, so the relay's "100 Continue" shows when its
    // handler has begun to read the body.
    let mut stalled = TcpStream::connect(&relay.address).unwrap();
    write!(
        stalled,
        "POST /v1/devices HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\
         Expect: 100-continue\r\n\r\n"
    )
    .unwrap();
    stalled.flush().unwrap();
    stalled.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut interim = Vec::new();
    while !interim.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        stalled
            .read_exact(&mut byte)
            .expect("no 100 Continue: the relay did not begin to read the body");
        interim.push(byte[0]);
    }
    assert!(
        interim.starts_with(b"HTTP/1.1 100 Continue"),
        "{}",
        String::from_utf8_lossy(&interim)
    );
    write!(stalled, "ten bytes.").unwrap();
    stalled.flush().unwrap();

    let (status, took) = terminate(&mut relay, Duration::from_secs(8));
    assert!(status.success(), "exited with {status}");
    assert!(took >= Duration::from_millis(900), "left after {took:?}");
    assert!(took < Duration::from_secs(5), "left after {took:?}");
}
