//! End-to-end throughput and latency: one client sends text messages to
//! another through a relay on loopback (SQLite), while the recipient syncs
//! with long polls. Two modes of sending, each a row of its own:
//!
//! - **one at a time**: `send_text`, one send in flight, the worst case for
//!   the store (each message pays its own commits);
//! - **batches**: `send_texts` with [`BATCH`] texts at a time, whose
//!   messages share one commit for queueing, one relay request and one
//!   commit for clearing the outbox (group commit).
//!
//! The baseline, from the same run, is the relay's own load tool with one
//! sender and one recipient sending bodies of about the same sealed size:
//! what the relay and HTTP cost without any client work. The ratio says
//! what the client side (sealing, opening, its own SQLite store, device
//! lists) costs on top.
//!
//! Run (the load tool must be built first; the bench runs it):
//!
//! ```sh
//! cargo build --release -p fuin-relay-load
//! cargo bench -p fuin-client --bench end_to_end
//! ```
//!
//! `FUIN_BENCH_MESSAGES` (default 2,000) sets the messages per run,
//! `FUIN_BENCH_ROUNDS` (default 3) the rounds, `FUIN_BENCH_ONLY` (`one`,
//! `batch` or `load`) runs one of the three alone (for counting fsyncs
//! under strace), and `FUIN_RELAY_LOAD` the load tool's path (default
//! `target/release/fuin-relay-load`). Rounds alternate the three; medians
//! are printed.
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
/// Texts per `send_texts` call in the batched mode: one relay fetch's worth
/// (the relay hands out at most 32 deliveries a fetch).
const BATCH: usize = 32;

/// How the sender sends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    OneAtATime,
    Batches,
}

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

async fn client_run(messages: usize, mode: Mode) -> Run {
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
    match mode {
        Mode::OneAtATime => {
            for _ in 0..messages {
                sent_at.lock().unwrap().push(Instant::now());
                let sent = alice.send_text("bob", &text).await.unwrap();
                assert_eq!(sent.status, MessageStatus::Sent);
            }
        }
        Mode::Batches => {
            let mut left = messages;
            while left > 0 {
                let count = left.min(BATCH);
                left -= count;
                let now = Instant::now();
                sent_at
                    .lock()
                    .unwrap()
                    .extend(std::iter::repeat_n(now, count));
                let texts = vec![text.as_str(); count];
                let sent = alice.send_texts("bob", &texts).await.unwrap();
                assert!(sent.iter().all(|s| s.status == MessageStatus::Sent));
            }
        }
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

struct Rows {
    one: Vec<Run>,
    batch: Vec<Run>,
    load: Vec<Run>,
}

fn summary(name: &str, runs: &[Run]) -> Option<f64> {
    if runs.is_empty() {
        return None;
    }
    let rate = median(runs.iter().map(|r| r.messages_per_second).collect());
    println!(
        "  {name:<14} {rate:>6.0} msg/s, p50 {:.2} ms, p99 {:.2} ms",
        median(runs.iter().map(|r| r.p50_ms).collect()),
        median(runs.iter().map(|r| r.p99_ms).collect()),
    );
    Some(rate)
}

fn show(name: &str, run: &Run) {
    println!(
        "  {name:<14} {:>6.0} msg/s (p50 {:.2} ms, p99 {:.2} ms)",
        run.messages_per_second, run.p50_ms, run.p99_ms
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let messages: usize = std::env::var("FUIN_BENCH_MESSAGES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(2000);
    let rounds: usize = std::env::var("FUIN_BENCH_ROUNDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(3);
    let only = std::env::var("FUIN_BENCH_ONLY").ok();
    let runs = |what: &str| only.as_deref().is_none_or(|only| only == what);
    let tool = std::env::var_os("FUIN_RELAY_LOAD").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/fuin-relay-load"),
        PathBuf::from,
    );
    if runs("load") && !tool.exists() {
        eprintln!(
            "the relay load tool is not built: run `cargo build --release -p fuin-relay-load` \
             first (or set FUIN_RELAY_LOAD)"
        );
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut rows = Rows {
        one: Vec::new(),
        batch: Vec::new(),
        load: Vec::new(),
    };
    for round in 1..=rounds {
        println!("round {round}:");
        if runs("load") {
            let run = load_tool_run(&tool, messages);
            show("load tool", &run);
            rows.load.push(run);
        }
        if runs("one") {
            let run = runtime.block_on(client_run(messages, Mode::OneAtATime));
            show("one at a time", &run);
            rows.one.push(run);
        }
        if runs("batch") {
            let run = runtime.block_on(client_run(messages, Mode::Batches));
            show("batches", &run);
            rows.batch.push(run);
        }
    }
    println!(
        "median of {rounds}, {messages} messages of {TEXT_LEN} bytes ({SEALED_SIZE}-byte bodies \
         for the load tool), batches of {BATCH}:"
    );
    let base = summary("load tool", &rows.load);
    let one = summary("one at a time", &rows.one);
    let batch = summary("batches", &rows.batch);
    if let Some(base) = base {
        for (name, rate) in [("one at a time", one), ("batches", batch)] {
            if let Some(rate) = rate {
                println!("  {name} / load tool: {:.2}", rate / base);
            }
        }
    }
}
