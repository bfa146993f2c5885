//! Runs the built app twice, as alice and as bob, against a real relay
//! started in the test: each types lines into its app's input, and each app
//! must print what the other typed. Output is read as it comes, up to a
//! deadline; nothing sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use fuin::StampKeyId;
use fuin_relay::api::system_clock;
use fuin_relay::franking::StampKeys;
use fuin_relay::store::sqlite::SqliteStore;
use fuin_relay::{Relay, RelayConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long an app may take to print a line the test waits for (the first
/// run registers a device and makes its prekeys; a debug build is slow).
const PATIENCE: Duration = Duration::from_secs(120);

/// A relay on loopback over an SQLite file in `dir`, serving until the
/// test's runtime ends.
async fn start_relay(dir: &Path) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut config = RelayConfig::new(StampKeys::new(StampKeyId(1), [3; 32]));
    config.origins = vec![url.clone()];
    // Both apps connect from loopback: one address for both.
    config.max_connections_per_address = usize::MAX;
    let store = SqliteStore::open(&dir.join("relay.db")).unwrap();
    let relay: Arc<Relay<SqliteStore>> = Relay::new(store, config, system_clock());
    tokio::spawn(fuin_relay::serve(listener, relay, std::future::pending()));
    url
}

/// One running app, its input, and the lines it printed so far.
struct App {
    name: &'static str,
    child: Child,
    input: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
    printed: Vec<String>,
}

impl App {
    fn start(store: &Path, relay: &str, user: &'static str, peer: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_terminal-chat"))
            .arg(store)
            .arg(relay)
            .arg(user)
            .arg(peer)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let mut output = BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = output.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            name: user,
            child,
            input,
            lines,
            printed: Vec::new(),
        }
    }

    async fn type_line(&mut self, line: &str) {
        self.input
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        self.input.flush().await.unwrap();
    }

    /// Waits until the app has printed `expected` (at any time since it
    /// started), failing with everything it printed once the deadline passes.
    async fn wait_for(&mut self, expected: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.printed.iter().any(|line| line == expected) {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => self.printed.push(line),
                Ok(None) => panic!(
                    "{} exited without printing {expected:?}; it printed {:?}",
                    self.name, self.printed
                ),
                Err(_) => panic!(
                    "{} did not print {expected:?} in time; it printed {:?}",
                    self.name, self.printed
                ),
            }
        }
    }

    /// Types `/quit` and waits for the app to exit successfully.
    async fn quit(mut self) {
        self.type_line("/quit").await;
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the app did not exit after /quit")
            .unwrap();
        assert!(status.success(), "{} exited with {status}", self.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apps_chat_through_a_relay_and_history_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_relay(dir.path()).await;
    let alice_store = dir.path().join("alice.db");
    let bob_store = dir.path().join("bob.db");

    let mut alice = App::start(&alice_store, &relay, "alice", "bob");
    let mut bob = App::start(&bob_store, &relay, "bob", "alice");
    // Both devices are registered before either sends.
    alice
        .wait_for("alice chatting with bob; /quit to leave")
        .await;
    bob.wait_for("bob chatting with alice; /quit to leave")
        .await;

    alice.type_line("hello bob").await;
    bob.wait_for("alice: hello bob").await;
    bob.type_line("hi alice, got it").await;
    alice.wait_for("bob: hi alice, got it").await;
    // Blank lines are not messages; the next line still goes out.
    alice.type_line("").await;
    alice.type_line("second line").await;
    bob.wait_for("alice: second line").await;
    assert!(!bob.printed.iter().any(|line| line == "alice: "));
    alice.quit().await;
    bob.quit().await;

    // The second run opens the same store: the conversation is shown.
    let mut alice = App::start(&alice_store, &relay, "alice", "bob");
    alice
        .wait_for("alice chatting with bob; /quit to leave")
        .await;
    let shown = &alice.printed;
    let history: Vec<&str> = shown[..shown.len() - 1]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        history,
        ["me: hello bob", "bob: hi alice, got it", "me: second line"]
    );
    alice.quit().await;
}
