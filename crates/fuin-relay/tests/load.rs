//! The load tool on a small bounded run: it exits 0 and finds every envelope
//! delivered exactly once, to its addressee.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn a_small_load_run_delivers_every_envelope_once() {
    let output = Command::new(env!("CARGO_BIN_EXE_fuin-relay-load"))
        .args([
            "--senders",
            "8",
            "--messages",
            "160",
            "--size",
            "256",
            "--timeout-secs",
            "60",
            "--json",
        ])
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
    assert_eq!(count("sent"), 160, "{report}");
    assert_eq!(count("delivered"), count("sent"), "{report}");
    for field in ["lost", "duplicated", "misdelivered", "corrupted"] {
        assert_eq!(count(field), 0, "{field}: {report}");
    }
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["durable_sends_per_second"].as_f64().unwrap() > 0.0);
    assert!(report["delivery_latency"]["p99_ms"].as_f64().unwrap() > 0.0);
}
