//! The operator's endpoints: `/healthz` (the process answers), `/readyz`
//! (the relay can serve: not shutting down, and its store answers a trivial
//! query in time) and `/metrics` (Prometheus text, see [`crate::metrics`]).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::metrics;
use crate::store::Store;

use super::Relay;

/// How long the store may take to answer the readiness query: a store
/// slower than this cannot serve requests in time either.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a scrape waits for the store's mailbox counts before answering
/// with the counts of the previous scrape.
const DEPTHS_TIMEOUT: Duration = Duration::from_secs(5);

fn status_json(status: &str) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "status": status }).to_string(),
    )
        .into_response()
}

/// `GET /healthz`: 200 as long as the process answers.
pub(super) async fn healthz() -> Response {
    status_json("ok")
}

/// `GET /readyz`: 200 if the relay is not shutting down and its store
/// answers within [`READY_TIMEOUT`]; 503 (`shutting_down`,
/// `storage_unavailable`) otherwise.
pub(super) async fn readyz<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
) -> Result<Response, ApiError> {
    if relay.is_shutting_down() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the relay is shutting down",
        ));
    }
    let answered = tokio::time::timeout(READY_TIMEOUT, relay.store.ping()).await;
    let why = match answered {
        Ok(Ok(())) => return Ok(status_json("ready")),
        Ok(Err(err)) => err.to_string(),
        Err(_) => format!(
            "the store did not answer within {} ms",
            READY_TIMEOUT.as_millis()
        ),
    };
    tracing::warn!(reason = %why, "not ready");
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
        format!("not ready: {why}"),
    ))
}

/// `GET /metrics`: every metric, after reading the mailbox counts from the
/// store (kept from the previous scrape if the store does not answer).
pub(super) async fn metrics<S: Store>(State(relay): State<Arc<Relay<S>>>) -> Response {
    match tokio::time::timeout(DEPTHS_TIMEOUT, relay.store.mailbox_depths()).await {
        Ok(Ok(depths)) => metrics::set_mailbox_depths(depths),
        Ok(Err(err)) => tracing::warn!(error = %err, "cannot count the mailboxes for a scrape"),
        Err(_) => tracing::warn!("the store did not count the mailboxes in time for a scrape"),
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::encode(),
    )
        .into_response()
}
