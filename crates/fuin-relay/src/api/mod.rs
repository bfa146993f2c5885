//! The HTTP API. Request and response bodies are fuin-wire frames
//! (`application/x-fuin-frame`); errors are JSON (`crate::error`). Every
//! endpoint is documented in `spec/relay-api.md`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::middleware::{self};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use rand::Rng;

use crate::error::ApiError;
use crate::store::Store;
use fuin_wire::limits::MAX_FRAME_LEN;
use fuin_wire::{FrameBody, UserId};

mod accounts;
mod admin;
mod auth;
mod blobs;
mod body_deadline;
mod group;
mod health;
mod kem_prekey_check;
mod links;
mod mailbox;
mod prekeys;
mod relay;
mod reports;
mod session;
mod stream;
mod stream_slots;

pub use admin::{MAX_ACTIONS_LISTED, MAX_INVITES_PER_REQUEST, admin_router, new_invites};
pub use health::READY_TIMEOUT;
use mailbox::deliver_stamped;
pub(crate) use relay::Counted;
pub use relay::Relay;
pub(crate) use relay::client_key;
use session::Session;
use stream::shutting_down;

/// The media type of every frame body.
pub const FRAME_MEDIA_TYPE: &str = "application/x-fuin-frame";

/// Milliseconds since the Unix epoch; replaceable so tests can move time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as u64)
    })
}

/// The API's routes over `relay`. Serve it with connection info
/// (`ConnectInfo<SocketAddr>`, as [`crate::serve`] does) for the per-address
/// limit on the endpoints without a token.
pub fn router<S: Store>(relay: Arc<Relay<S>>) -> Router {
    let limited = || middleware::from_fn_with_state(relay.clone(), relay::limit_anonymous::<S>);
    let observed = middleware::from_fn_with_state(
        relay.config.log_client_addresses,
        crate::observe::observe_request,
    );
    // Authenticates from the head, before the handler reads any body.
    let bearer = || middleware::from_fn_with_state(relay.clone(), session::require_token::<S>);
    let moderation =
        || middleware::from_fn_with_state(relay.clone(), reports::require_moderation::<S>);
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz::<S>))
        .route(
            "/v1/accounts",
            post(accounts::create::<S>).route_layer(limited()),
        )
        .route(
            "/v1/devices",
            post(accounts::register::<S>).route_layer(limited()),
        )
        .route(
            "/v1/account/devices",
            put(accounts::publish::<S>).route_layer(bearer()),
        )
        .route(
            "/v1/link/{channel}/{slot}",
            put(links::leave::<S>)
                .get(links::take::<S>)
                .route_layer(limited()),
        )
        .route(
            "/v1/auth/challenge",
            post(auth::challenge::<S>).route_layer(limited()),
        )
        .route(
            "/v1/auth/token",
            post(auth::token::<S>).route_layer(limited()),
        )
        .route(
            "/v1/auth/token",
            delete(auth::revoke::<S>).route_layer(bearer()),
        )
        .route(
            "/v1/prekeys",
            put(prekeys::publish_prekeys::<S>).route_layer(bearer()),
        )
        .route(
            "/v1/prekeys/count",
            get(prekeys::get_prekey_count::<S>).route_layer(bearer()),
        )
        .route(
            "/v1/users/{user}/bundles",
            get(prekeys::bundles::<S>).route_layer(bearer()),
        )
        .route(
            "/v1/users/{user}/devices",
            get(accounts::list::<S>).route_layer(bearer()),
        )
        .route(
            "/v1/messages",
            post(mailbox::send::<S>).route_layer(bearer()),
        )
        .route(
            "/v1/groups/messages",
            post(group::send::<S>).route_layer(bearer()),
        )
        .route(
            "/v1/mailbox",
            get(mailbox::fetch::<S>).route_layer(bearer()),
        )
        .route(
            "/v1/mailbox/ack",
            post(mailbox::acknowledge::<S>).route_layer(bearer()),
        )
        .route(
            "/v1/mailbox/stream",
            get(stream::stream::<S>).route_layer(bearer()),
        )
        .route(
            "/v1/blobs/{blob_id}",
            put(blobs::upload::<S>)
                .get(blobs::download::<S>)
                .route_layer(bearer()),
        )
        .route(
            "/v1/reports",
            post(reports::submit::<S>).route_layer(bearer()),
        )
        .route(
            "/v1/moderation/reports",
            get(reports::pull::<S>).route_layer(moderation()),
        )
        .route(
            "/v1/moderation/reports/ack",
            post(reports::acknowledge::<S>).route_layer(moderation()),
        )
        // One byte over the frame limit reaches the decoder, which names it.
        .layer(DefaultBodyLimit::max(MAX_FRAME_LEN + 1))
        .layer(middleware::from_fn_with_state(
            relay.clone(),
            body_deadline::limit_body_time::<S>,
        ))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "the endpoint does not take this method",
            )
        })
        // Last, so that it wraps every route and both fallbacks.
        .layer(observed)
        .with_state(relay)
}

/// The operator's routes over `relay`: `/metrics` (Prometheus text),
/// `/healthz` and `/readyz`, for the metrics listener (`--metrics-listen`),
/// which is apart from the API so that metrics are not public.
pub fn metrics_router<S: Store>(relay: Arc<Relay<S>>) -> Router {
    let observed = middleware::from_fn_with_state(
        relay.config.log_client_addresses,
        crate::observe::observe_request,
    );
    Router::new()
        .route("/metrics", get(health::metrics::<S>))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz::<S>))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(observed)
        .with_state(relay)
}

pub(crate) fn frame_response(status: StatusCode, bytes: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, FRAME_MEDIA_TYPE)], bytes).into_response()
}

pub(crate) fn encode<'a, T: FrameBody<'a>>(body: &T) -> Result<Response, ApiError> {
    Ok(frame_response(StatusCode::OK, body.to_bytes()?))
}

pub(crate) fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("request body is over the frame limit of {MAX_FRAME_LEN} bytes"),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                "the request body could not be read",
            )
        }
    })
}

/// `lifetime` after `now_ms`, in ms (saturating).
pub(crate) fn later(now_ms: u64, lifetime: Duration) -> u64 {
    now_ms.saturating_add(u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX))
}

pub(crate) fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

pub(crate) fn path_user(user: String) -> Result<UserId<'static>, ApiError> {
    UserId::new(user)
        .map_err(|err| ApiError::new(StatusCode::BAD_REQUEST, "invalid_user_id", err.to_string()))
}
