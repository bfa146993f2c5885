//! The relay's Prometheus metrics: one registry for the process, counted by
//! small functions that any part of the relay calls ([`request`],
//! [`rate_limited`], [`store_commit`], ...), and read by [`encode`] in the
//! Prometheus text format (0.0.4) for the metrics listener's `/metrics`.
//!
//! The metrics are process-wide, as Prometheus counts processes: two relays
//! served by one process add up. `spec/relay-api.md` ("Logs, metrics and
//! health") lists every metric with its type and labels. Labels carry only
//! bounded, public values (route templates, methods, statuses, kinds), never
//! user ids, addresses or anything from a request's body.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The route label of a request that matched no route: unknown paths must
/// not each make a time series.
pub const UNMATCHED_ROUTE: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets from 0.5 ms to about 65 s (long polls wait up to 30 s).
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 18))
}

/// Batch size buckets: 1, 2, 4, ... 256 (the SQLite writer's largest batch).
fn batch_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 9))
}

/// Every metric of the relay, registered once in [`Metrics::registry`].
struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: Histograms<RouteLabels>,
    mailbox_envelopes: Gauge,
    mailboxes: Gauge,
    mailbox_depth_max: Gauge,
    commit_duration: Histograms<BackendLabels>,
    commit_batch: Histograms<BackendLabels>,
    store_errors: Counter,
    streams: Gauge,
    long_polls: Gauge,
    rate_limited: Family<KindLabels, Counter>,
    blob_transfers: Family<DirectionLabels, Counter>,
    blob_bytes: Family<DirectionLabels, Counter>,
    sweeps: Family<OutcomeLabels, Counter>,
    swept_envelopes: Counter,
    quarantined: Family<KindLabels, Counter>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("fuin_relay");
        let requests = Family::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        let request_duration: Histograms<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its response head, by route template and method",
            Unit::Seconds,
            request_duration.clone(),
        );
        let mailbox_envelopes = Gauge::default();
        registry.register(
            "mailbox_envelopes",
            "Envelopes stored in all mailboxes (read from the store at each scrape)",
            mailbox_envelopes.clone(),
        );
        let mailboxes = Gauge::default();
        registry.register(
            "mailboxes_nonempty",
            "Mailboxes holding at least one envelope (read at each scrape)",
            mailboxes.clone(),
        );
        let mailbox_depth_max = Gauge::default();
        registry.register(
            "mailbox_depth_max",
            "Envelopes in the fullest mailbox (read at each scrape)",
            mailbox_depth_max.clone(),
        );
        let commit_duration: Histograms<BackendLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "store_commit_duration",
            "Time to run and commit one store transaction (an SQLite batch), by backend",
            Unit::Seconds,
            commit_duration.clone(),
        );
        let commit_batch: Histograms<BackendLabels> = Family::new_with_constructor(batch_histogram);
        registry.register(
            "store_commit_batch_size",
            "Writes committed together in one transaction, by backend",
            commit_batch.clone(),
        );
        let store_errors = Counter::default();
        registry.register(
            "store_errors",
            "Store operations that failed in the backend (answered 503 storage_unavailable)",
            store_errors.clone(),
        );
        let streams = Gauge::default();
        registry.register(
            "websocket_streams",
            "WebSocket mailbox streams open",
            streams.clone(),
        );
        let long_polls = Gauge::default();
        registry.register(
            "long_polls_waiting",
            "Mailbox fetches waiting for an envelope to arrive",
            long_polls.clone(),
        );
        let rate_limited = Family::default();
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit or cap, by kind",
            rate_limited.clone(),
        );
        let blob_transfers = Family::default();
        registry.register(
            "blob_transfers",
            "Blob uploads stored and downloads answered, by direction",
            blob_transfers.clone(),
        );
        let blob_bytes = Family::default();
        registry.register_with_unit(
            "blob_transfer",
            "Bytes of blobs stored by uploads and answered to downloads, by direction",
            Unit::Bytes,
            blob_bytes.clone(),
        );
        let sweeps = Family::default();
        registry.register(
            "sweeps",
            "Expiry sweeps run, by outcome (ok or failed)",
            sweeps.clone(),
        );
        let quarantined = Family::default();
        registry.register(
            "quarantined_records",
            "Stored records that failed their integrity check and were set aside, by kind",
            quarantined.clone(),
        );
        let swept_envelopes = Counter::default();
        registry.register(
            "swept_envelopes",
            "Expired envelopes deleted by sweeps",
            swept_envelopes.clone(),
        );
        Self {
            registry,
            requests,
            request_duration,
            mailbox_envelopes,
            mailboxes,
            mailbox_depth_max,
            commit_duration,
            commit_batch,
            store_errors,
            streams,
            long_polls,
            rate_limited,
            blob_transfers,
            blob_bytes,
            sweeps,
            swept_envelopes,
            quarantined,
        }
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The method as a label: the standard ones by name, anything else `other`
/// (a client chooses the method; it must not choose new time series).
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Counts one answered request: `route` is its template
/// (`/v1/users/{user}/bundles`) or [`UNMATCHED_ROUTE`], `latency` the time
/// to its response head.
pub fn request(route: &str, method: &'static str, status: u16, latency: Duration) {
    let metrics = &*METRICS;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route: route.to_owned(),
            method,
            status,
        })
        .inc();
    metrics
        .request_duration
        .get_or_create(&RouteLabels {
            route: route.to_owned(),
            method,
        })
        .observe(latency.as_secs_f64());
}

/// Counts `records` stored records of `kind` (`mailbox` or `report`) that
/// failed their integrity check and were set aside, and says so in the log
/// (the kind and the count only, never the records).
pub fn quarantined(kind: &'static str, records: usize) {
    tracing::error!(
        kind,
        records,
        "stored records failed their integrity check and were set aside, not served"
    );
    METRICS
        .quarantined
        .get_or_create(&KindLabels { kind })
        .inc_by(u64::try_from(records).unwrap_or(u64::MAX));
}

/// Counts one request refused by a limit. `kind` names the limit, one of a
/// fixed set: `device` (a device's request rate), `account` (an account's),
/// `anonymous` (a client address's rate without a token), `connections`
/// (a connection over a cap), `streams` (a stream replaced over the cap).
pub fn rate_limited(kind: &'static str) {
    METRICS
        .rate_limited
        .get_or_create(&KindLabels { kind })
        .inc();
}

/// Records one committed (or failed) store transaction of `backend`
/// (`sqlite`, `postgres`) holding `batch` writes, which took `elapsed`.
pub fn store_commit(backend: &'static str, batch: usize, elapsed: Duration) {
    let labels = BackendLabels { backend };
    METRICS
        .commit_duration
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
    METRICS
        .commit_batch
        .get_or_create(&labels)
        .observe(batch as f64);
}

/// Counts one store operation that failed in its backend.
pub fn store_error() {
    METRICS.store_errors.inc();
}

/// Counts one blob transfer of `bytes`: `direction` is `upload` (stored) or
/// `download` (answered).
pub fn blob_transfer(direction: &'static str, bytes: usize) {
    let labels = DirectionLabels { direction };
    METRICS.blob_transfers.get_or_create(&labels).inc();
    METRICS
        .blob_bytes
        .get_or_create(&labels)
        .inc_by(u64::try_from(bytes).unwrap_or(u64::MAX));
}

/// Counts one expiry sweep: the envelopes it deleted, or its failure.
pub fn sweep(result: Result<u64, ()>) {
    match result {
        Ok(expired) => {
            METRICS
                .sweeps
                .get_or_create(&OutcomeLabels { outcome: "ok" })
                .inc();
            METRICS.swept_envelopes.inc_by(expired);
        }
        Err(()) => {
            METRICS
                .sweeps
                .get_or_create(&OutcomeLabels { outcome: "failed" })
                .inc();
        }
    }
}

/// What the mailboxes hold, as the store counts it at a scrape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailboxDepths {
    /// Envelopes stored, all mailboxes together.
    pub envelopes: u64,
    /// Mailboxes holding at least one envelope.
    pub mailboxes: u64,
    /// Envelopes in the fullest mailbox.
    pub deepest: u64,
}

/// Sets the mailbox gauges from the store's count.
pub fn set_mailbox_depths(depths: MailboxDepths) {
    let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    METRICS.mailbox_envelopes.set(gauge(depths.envelopes));
    METRICS.mailboxes.set(gauge(depths.mailboxes));
    METRICS.mailbox_depth_max.set(gauge(depths.deepest));
}

/// Counts one in a gauge for as long as it lives.
#[must_use = "the gauge goes back down when this is dropped"]
pub struct Tracked(&'static Gauge);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Counts an open WebSocket stream until the returned guard is dropped.
pub fn stream_open() -> Tracked {
    METRICS.streams.inc();
    Tracked(&METRICS.streams)
}

/// Counts a long poll waiting for mail until the returned guard is dropped.
pub fn long_poll_waiting() -> Tracked {
    METRICS.long_polls.inc();
    Tracked(&METRICS.long_polls)
}

/// Every metric, in the Prometheus text format ([`CONTENT_TYPE`]).
pub fn encode() -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &METRICS.registry);
    text
}
