//! The report of a run: what it measured and found, as JSON or as text.

use serde::Serialize;

use crate::baseline::BaselineResult;
use crate::commits::Commits;

/// A latency distribution, in ms.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Percentiles {
    pub(crate) count: usize,
    pub(crate) p50_ms: f64,
    pub(crate) p90_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
}

pub(crate) fn percentiles(mut micros: Vec<u64>) -> Percentiles {
    micros.sort_unstable();
    let at = |q: f64| {
        if micros.is_empty() {
            return 0.0;
        }
        // Nearest rank.
        let rank = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len());
        micros[rank - 1] as f64 / 1000.0
    };
    Percentiles {
        count: micros.len(),
        p50_ms: at(0.50),
        p90_ms: at(0.90),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    }
}

/// What a run measured and found (printed as text, or as JSON with --json).
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    /// "in-process" or the relays' addresses.
    pub(crate) relays: Vec<String>,
    pub(crate) in_process: bool,
    /// Where the in-process relays keep their data: "sqlite" or "postgres";
    /// "external" for relays given with --relay.
    pub(crate) backend: &'static str,
    /// How long each recipient's fetch waits.
    pub(crate) wait_ms: u64,
    pub(crate) senders: usize,
    pub(crate) recipients: usize,
    pub(crate) messages: usize,
    pub(crate) size: usize,
    pub(crate) timeout_secs: u64,
    pub(crate) setup_seconds: f64,
    /// Sends answered 200 (stored durably).
    pub(crate) sent: u64,
    /// Distinct envelopes fetched by their recipient.
    pub(crate) delivered: u64,
    pub(crate) lost: u64,
    pub(crate) duplicated: u64,
    pub(crate) misdelivered: u64,
    pub(crate) corrupted: u64,
    /// Envelopes fetched before an earlier one from the same sender.
    pub(crate) reordered: u64,
    pub(crate) send_failures: u64,
    pub(crate) other_failures: u64,
    pub(crate) rate_limited: u64,
    /// Sends cut off by the timeout (their outcome is unknown).
    pub(crate) in_flight_at_stop: u64,
    pub(crate) timed_out: bool,
    /// Every recipient's final fetch found its mailbox empty.
    pub(crate) drained: bool,
    /// Durable sends per second: sends answered 200 over the time from the
    /// first send to the last 200.
    pub(crate) durable_sends_per_second: f64,
    pub(crate) send_seconds: f64,
    /// Distinct deliveries per second, from the first send to the last delivery.
    pub(crate) deliveries_per_second: f64,
    pub(crate) send_latency: Percentiles,
    /// Send start to the recipient having fetched it.
    pub(crate) delivery_latency: Percentiles,
    pub(crate) baseline_per_message: Option<BaselineResult>,
    pub(crate) baseline_batched: Option<BaselineResult>,
    /// durable_sends_per_second / baseline_per_message.rows_per_second.
    pub(crate) ratio_to_per_message: Option<f64>,
    /// durable_sends_per_second / baseline_batched.rows_per_second.
    pub(crate) ratio_to_batched: Option<f64>,
    /// The in-process relays' store transactions during the load (not the
    /// setup), and the writes they held; `None` for relays given with --relay.
    pub(crate) commits: Option<Commits>,
    /// /proc/loadavg at the start and at the end.
    pub(crate) loadavg_before: String,
    pub(crate) loadavg_after: String,
    pub(crate) errors: Vec<String>,
    pub(crate) ok: bool,
}

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.trim().to_owned())
        .unwrap_or_default()
}

pub(crate) fn print_report(report: &Report) {
    let where_ = match (report.backend, report.relays.len()) {
        ("sqlite", _) => "a relay in process (SQLite on a temporary file)".to_owned(),
        ("postgres", 1) => "a relay in process on PostgreSQL".to_owned(),
        ("postgres", nodes) => format!(
            "{nodes} relays in process on one PostgreSQL database, each envelope \
             sent through another node than its recipient's"
        ),
        _ => report.relays.join(" and "),
    };
    println!(
        "fuin-relay-load: {} senders -> {} recipients, {} envelopes of {} B, through {where_}",
        report.senders, report.recipients, report.messages, report.size
    );
    println!(
        "setup: {:.2} s; recipients long-poll up to {} ms",
        report.setup_seconds, report.wait_ms
    );
    println!(
        "sent (200): {}, delivered: {}, send failures: {}, other failures: {}, \
         rate-limited retries: {}, in flight at stop: {}",
        report.sent,
        report.delivered,
        report.send_failures,
        report.other_failures,
        report.rate_limited,
        report.in_flight_at_stop
    );
    println!(
        "durable sends: {:.1}/s over {:.2} s; deliveries: {:.1}/s",
        report.durable_sends_per_second, report.send_seconds, report.deliveries_per_second
    );
    let show = |name: &str, p: &Percentiles| {
        println!(
            "{name} ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  (n = {})",
            p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms, p.count
        );
    };
    show("send latency", &report.send_latency);
    show(
        "delivery latency (send start -> fetched)",
        &report.delivery_latency,
    );
    println!(
        "lost {}, duplicated {}, misdelivered {}, corrupted {} (reordered {})",
        report.lost, report.duplicated, report.misdelivered, report.corrupted, report.reordered
    );
    if let Some(commits) = report.commits {
        println!(
            "store commits during the load: {} holding {} writes, {:.1} writes per commit",
            commits.commits,
            commits.writes,
            commits.mean_batch()
        );
    }
    if let Some(base) = &report.baseline_per_message {
        println!(
            "baseline, raw rusqlite, {}: {:.1} rows/s ({} rows in {:.2} s); relay/baseline {:.2}",
            base.mode,
            base.rows_per_second,
            base.rows,
            base.seconds,
            report.ratio_to_per_message.unwrap_or(0.0)
        );
    }
    if let Some(base) = &report.baseline_batched {
        println!(
            "baseline, raw rusqlite, {}: {:.1} rows/s ({} rows in {:.2} s); relay/baseline {:.2}",
            base.mode,
            base.rows_per_second,
            base.rows,
            base.seconds,
            report.ratio_to_batched.unwrap_or(0.0)
        );
    }
    println!(
        "load average before: {}; after: {}",
        report.loadavg_before, report.loadavg_after
    );
    if report.timed_out {
        println!("timed out after {} s", report.timeout_secs);
    }
    for error in &report.errors {
        println!("error: {error}");
    }
    println!("{}", if report.ok { "OK" } else { "FAILED" });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = percentiles((1..=100).map(|ms| ms * 1000).collect());
        assert_eq!(
            (p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms),
            (50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(percentiles(Vec::new()).count, 0);
    }
}
