//! The load tool on small bounded runs: it exits 0 and finds every envelope
//! delivered exactly once, to its addressee; with two relay nodes on one
//! PostgreSQL database, every envelope crosses nodes and still arrives at
//! once.
//!
//! The two-node run needs `FUIN_TEST_POSTGRES` (see `crates/fuin-relay/tests/store/postgres.rs`);
//! `.ci/run` provides it. Without it that test is skipped with a note, unless
//! `CI` is set: then it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::process::Command;

/// Runs the load tool with `args` and returns its JSON report, checked for
/// `messages` envelopes sent and every one delivered exactly once.
fn load_run(args: &[&str], messages: u64) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_fuin-relay-load"))
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let count = |field: &str| {
        report[field]
            .as_u64()
            .unwrap_or_else(|| panic!("{field} missing in {report}"))
    };
    assert_eq!(count("sent"), messages, "{report}");
    assert_eq!(count("delivered"), count("sent"), "{report}");
    for field in ["lost", "duplicated", "misdelivered", "corrupted"] {
        assert_eq!(count(field), 0, "{field}: {report}");
    }
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["durable_sends_per_second"].as_f64().unwrap() > 0.0);
    assert!(report["delivery_latency"]["p99_ms"].as_f64().unwrap() > 0.0);
    report
}

#[test]
fn a_small_load_run_delivers_every_envelope_once() {
    let report = load_run(
        &[
            "--senders",
            "8",
            "--messages",
            "160",
            "--size",
            "256",
            "--timeout-secs",
            "60",
        ],
        160,
    );
    assert_eq!(report["backend"], "sqlite", "{report}");
}

/// Two in-process relays on one PostgreSQL database, each envelope sent
/// through the node its recipient does not fetch from, recipients waiting
/// 20 s per long poll: everything arrives once, and promptly, which only the
/// cross-node wake-up can explain (without it most deliveries would wait out
/// the 20 s).
#[test]
fn two_nodes_on_postgres_deliver_every_envelope_once_and_promptly() {
    let conninfo = match std::env::var("FUIN_TEST_POSTGRES") {
        Ok(conninfo) if !conninfo.is_empty() => conninfo,
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but FUIN_TEST_POSTGRES is not: .ci/run must start PostgreSQL")
        }
        _ => {
            eprintln!("note: FUIN_TEST_POSTGRES is not set: the two-node load run is skipped");
            return;
        }
    };
    let report = load_run(
        &[
            "--postgres",
            &conninfo,
            "--nodes",
            "2",
            "--senders",
            "8",
            "--messages",
            "160",
            "--size",
            "256",
            "--wait-ms",
            "20000",
            "--timeout-secs",
            "60",
        ],
        160,
    );
    assert_eq!(report["backend"], "postgres", "{report}");
    assert_eq!(report["relays"].as_array().unwrap().len(), 2, "{report}");
    let p90 = report["delivery_latency"]["p90_ms"].as_f64().unwrap();
    assert!(p90 < 5000.0, "p90 delivery latency {p90} ms: {report}");
}
