//! End-to-end throughput and latency: one client sends text messages to
//! another through a relay on loopback (SQLite), one send in flight at a
//! time, while the recipient syncs with long polls. The baseline, from the
//! same run, is the relay's own load tool with one sender and one recipient
//! sending bodies of about the same sealed size: what the relay and HTTP cost
//! without any client work. The ratio says what the client side (sealing,
//! opening, its own SQLite store, device lists) costs on top.
//!
//! Run (the load tool must be built first; the bench runs it):
//!
//! ```sh
//! cargo build --release -p fuin-relay-load
//! cargo bench -p fuin-client --bench end_to_end
//! ```
//!
//! `FUIN_BENCH_MESSAGES` (default 2,000) sets the messages per run, and
//! `FUIN_RELAY_LOAD` the load tool's path (default
//! `target/release/fuin-relay-load`). Three runs of each; medians are printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fuin_client::{Client, ClientOptions, Event, EventStreamItem, MessageStatus};
use fuin_relay::api::system_clock;
use fuin_relay::franking::StampKeys;
use fuin_relay::store::sqlite::SqliteStore;
use fuin_relay::{Relay, RelayConfig};
use fuin_wire::StampKeyId;

/// A text of this many bytes seals to a body of about [`SEALED_SIZE`].
const TEXT_LEN: usize = 100;
/// The sealed body size given to the load tool: a 100-byte text plus the
/// content frame (about 64 bytes with the franking key), the AEAD's
/// commitment and tag (48) and the ratchet header (about 45).
const SEALED_SIZE: usize = 260;

struct Run {
    messages_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn client_run(messages: usize) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("relay.db")).unwrap();
    let mut config = RelayConfig::new(StampKeys::new(StampKeyId(1), [7; 32]));
    // Out of the way, as the load tool does for its in-process relay.
    config.requests_per_second = 1_000_000;
    config.request_burst = 1_000_000;
    config.account_requests_per_second = 1_000_000;
    config.account_request_burst = 1_000_000;
    config.max_connections_per_address = usize::MAX;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    config.origins = vec![url.clone()];
    let relay = Relay::new(store, config, system_clock());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(fuin_relay::serve(listener, relay, async {
        let _ = stopped.await;
    }));

    // Delivery receipts off: the load tool sends none either.
    let options = ClientOptions {
        no_delivery_receipts: true,
        ..ClientOptions::default()
    };
    let alice = Client::create(dir.path().join("a.db"), &url, "alice", 1, options.clone())
        .await
        .unwrap();
    let bob = Client::create(dir.path().join("b.db"), &url, "bob", 1, options)
        .await
        .unwrap();
    // One message each way first, so the run measures established sessions.
    alice.send_text("bob", "hello").await.unwrap();
    bob.sync(Duration::ZERO).await.unwrap();

    let mut events = bob.events();
    let sent_at: Arc<std::sync::Mutex<Vec<Instant>>> = Arc::default();
    let receiver = {
        let bob = bob.clone();
        let sent_at = sent_at.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(messages);
            let sync = {
                let bob = bob.clone();
                tokio::spawn(async move {
                    loop {
                        bob.sync(Duration::from_secs(1)).await.unwrap();
                    }
                })
            };
            while latencies.len() < messages {
                match events.next().await {
                    Some(EventStreamItem::Event(Event::MessageReceived { .. })) => {
                        let now = Instant::now();
                        let start = sent_at.lock().unwrap()[latencies.len()];
                        latencies.push(now.duration_since(start).as_secs_f64() * 1000.0);
                    }
                    Some(EventStreamItem::Lagged(n)) => panic!("the bench lost {n} events"),
                    Some(_) => {}
                    None => panic!("the client went away"),
                }
            }
            sync.abort();
            (Instant::now(), latencies)
        })
    };
    let text = "x".repeat(TEXT_LEN);
    let started = Instant::now();
    for _ in 0..messages {
        sent_at.lock().unwrap().push(Instant::now());
        let sent = alice.send_text("bob", &text).await.unwrap();
        assert_eq!(sent.status, MessageStatus::Sent);
    }
    let (finished, mut latencies) = receiver.await.unwrap();
    // Everything arrived once and in order.
    let history = bob.history("alice", messages + 10).await.unwrap();
    assert_eq!(history.len(), messages + 1);
    latencies.sort_by(f64::total_cmp);
    let _ = stop.send(());
    let _ = server.await;
    Run {
        messages_per_second: messages as f64 / finished.duration_since(started).as_secs_f64(),
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
    }
}

fn load_tool_run(tool: &PathBuf, messages: usize) -> Run {
    let output = Command::new(tool)
        .args(["--senders", "1", "--messages", &messages.to_string()])
        .args(["--size", &SEALED_SIZE.to_string(), "--json"])
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", tool.display()));
    assert!(
        output.status.success(),
        "the load tool failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for zero in ["lost", "duplicated", "misdelivered", "corrupted"] {
        assert_eq!(report[zero], 0, "load tool: {zero}");
    }
    Run {
        messages_per_second: report["deliveries_per_second"].as_f64().unwrap(),
        p50_ms: report["delivery_latency"]["p50_ms"].as_f64().unwrap(),
        p99_ms: report["delivery_latency"]["p99_ms"].as_f64().unwrap(),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let messages: usize = std::env::var("FUIN_BENCH_MESSAGES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(2000);
    let tool = std::env::var_os("FUIN_RELAY_LOAD").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/fuin-relay-load"),
        PathBuf::from,
    );
    if !tool.exists() {
        eprintln!(
            "the relay load tool is not built: run `cargo build --release -p fuin-relay --bin \
             fuin-relay-load` first (or set FUIN_RELAY_LOAD)"
        );
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut ours = Vec::new();
    let mut baseline = Vec::new();
    for round in 1..=3 {
        let load = load_tool_run(&tool, messages);
        let run = runtime.block_on(client_run(messages));
        println!(
            "round {round}: clients {:.0} msg/s (p50 {:.2} ms, p99 {:.2} ms); load tool {:.0} msg/s \
             (p50 {:.2} ms, p99 {:.2} ms)",
            run.messages_per_second,
            run.p50_ms,
            run.p99_ms,
            load.messages_per_second,
            load.p50_ms,
            load.p99_ms
        );
        ours.push(run);
        baseline.push(load);
    }
    let ours_rate = median(ours.iter().map(|r| r.messages_per_second).collect());
    let base_rate = median(baseline.iter().map(|r| r.messages_per_second).collect());
    println!(
        "median of 3, {messages} messages of {TEXT_LEN} bytes, one in flight:\n  \
         clients:   {ours_rate:.0} msg/s, p50 {:.2} ms, p99 {:.2} ms\n  \
         load tool: {base_rate:.0} msg/s, p50 {:.2} ms, p99 {:.2} ms ({SEALED_SIZE}-byte bodies)\n  \
         clients / load tool: {:.2}",
        median(ours.iter().map(|r| r.p50_ms).collect()),
        median(ours.iter().map(|r| r.p99_ms).collect()),
        median(baseline.iter().map(|r| r.p50_ms).collect()),
        median(baseline.iter().map(|r| r.p99_ms).collect()),
        ours_rate / base_rate,
    );
}
