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

/// The middleware around every route: see the module's documentation.
/// `log_client_addresses` adds the client's IP address to the event.
pub(crate) async fn observe_request(
    State(log_client_addresses): State<bool>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request_id();
    let method = metrics::method_label(request.method());
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
    let span = tracing::info_span!("request", request_id = %id, method, route = %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    let latency = started.elapsed();
    let status = response.status().as_u16();
    metrics::request(&route, method, status, latency);
    let latency_ms = latency.as_secs_f64() * 1000.0;
    let _entered = span.enter();
    if is_probe(&route) {
        tracing::debug!(
            target: REQUEST_TARGET,
            request_id = %id, method, route = %route, status, latency_ms, client = client.as_deref(),
            "request"
        );
    } else {
        tracing::info!(
            target: REQUEST_TARGET,
            request_id = %id, method, route = %route, status, latency_ms, client = client.as_deref(),
            "request"
        );
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
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
