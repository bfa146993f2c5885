//! What the relay tells its operator about requests: every request gets a
//! random id (answered in `X-Request-Id`), runs inside a `request` span that
//! carries it, and ends with one `tracing` event and one count in
//! [`crate::metrics`].
//!
//! The event holds the request id, the method, the route *template*
//! (`/v1/users/{user}/bundles`, never the path, which holds user ids), the
//! status and the latency; the client's address only if the operator asked
//! for it ([`crate::RelayConfig::log_client_addresses`]). Never a header, a
//! query, a body or a token. The library only emits events; the relay
//! commands install the subscriber that writes them ([`install_logging`]).

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::metrics;

/// The response header that carries a request's id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Where log events go: `tracing`'s target of the per-request event.
pub const REQUEST_TARGET: &str = "fuin_relay::request";

/// Routes that probes and scrapers call every few seconds: logged at debug,
/// not info, so that they do not drown the log.
fn is_probe(route: &str) -> bool {
    matches!(route, "/healthz" | "/readyz" | "/metrics")
}

/// A fresh request id: 16 random bytes as 32 hex digits.
fn request_id() -> String {
    hex::encode(crate::api::random::<16>())
}

/// The status a request is counted and logged with when it ends without
/// an answer (its client went away, or shutdown dropped it): nginx's
/// "client closed request".
pub const UNANSWERED_STATUS: u16 = 499;

/// The middleware around every route: see the module's documentation.
/// `log_client_addresses` adds the client's IP address to the event.
pub(crate) async fn observe_request(
    State(log_client_addresses): State<bool>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(metrics::UNMATCHED_ROUTE, MatchedPath::as_str)
        .to_owned();
    let client = log_client_addresses
        .then(|| {
            request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| address.ip().to_string())
        })
        .flatten();
    let mut observed = Observed {
        started: Instant::now(),
        id: request_id(),
        method: metrics::method_label(request.method()),
        route,
        client,
        answered: false,
    };
    let span = tracing::info_span!(
        "request",
        request_id = %observed.id,
        method = observed.method,
        route = %observed.route
    );
    let mut response = next.run(request).instrument(span).await;
    observed.answered = true;
    observed.report(response.status().as_u16());
    if let Ok(value) = HeaderValue::from_str(&observed.id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// One request's observation, reported once: with its status when it is
/// answered, or as [`UNANSWERED_STATUS`] if it is dropped before that.
struct Observed {
    started: Instant,
    id: String,
    method: &'static str,
    route: String,
    client: Option<String>,
    answered: bool,
}

impl Observed {
    fn report(&self, status: u16) {
        let latency = self.started.elapsed();
        metrics::request(&self.route, self.method, status, latency);
        let latency_ms = latency.as_secs_f64() * 1000.0;
        let (request_id, method, route) = (&self.id, self.method, &self.route);
        let client = self.client.as_deref();
        if is_probe(route) {
            tracing::debug!(
                target: REQUEST_TARGET,
                request_id, method, route, status, latency_ms, client,
                "request"
            );
        } else {
            tracing::info!(
                target: REQUEST_TARGET,
                request_id, method, route, status, latency_ms, client,
                "request"
            );
        }
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        if !self.answered {
            self.report(UNANSWERED_STATUS);
        }
    }
}

/// How the relay commands write their log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event, for people.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the process's log subscriber, writing to stderr in `format`.
/// The filter is `level` if given (a level such as `debug`, or `tracing`
/// directives such as `fuin_relay=debug,warn`), else `RUST_LOG` if set, else
/// `info`. Only the relay commands call this, once, before serving; a
/// library user installs its own subscriber or none.
pub fn install_logging(format: LogFormat, level: Option<&str>) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(level) => EnvFilter::try_new(level)
            .map_err(|err| format!("--log-level {level:?} is not a level or filter: {err}"))?,
        None => match std::env::var(EnvFilter::DEFAULT_ENV) {
            Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
                .map_err(|err| format!("RUST_LOG is not a level or filter: {err}"))?,
            _ => EnvFilter::new("info"),
        },
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    installed.map_err(|err| format!("cannot install the log subscriber: {err}"))
}
