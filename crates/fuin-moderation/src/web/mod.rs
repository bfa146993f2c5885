//! The browser console: server-rendered HTML over axum
//! (`spec/report.md` §13.4-§13.5).
//!
//! Layout:
//! - [`html`]: the [`html::Html`] builder, the only way pages are made, which
//!   escapes every value and shows hidden characters visibly;
//! - [`session`]: session and CSRF tokens and their cookies;
//! - `auth`: login, logout, and the [`Moderator`] extractor every other page
//!   goes through;
//! - `cases`: the queue, the case page, attachments and the audit page;
//! - `actions`: what moderators do to a case (assign, note, act, feedback);
//! - `pages`: the templates;
//! - [`time`]: UTC ISO-8601 times.
//!
//! Every response carries the security headers of §13.5 (a strict
//! Content-Security-Policy without inline script or style, `nosniff`, no
//! referrer, no framing, no caching); every POST is refused when its
//! `Origin` names another site, and carries a CSRF token. Logs name the
//! method, the route pattern, the status and the account, never a body or
//! a query string.

mod actions;
mod auth;
mod cases;
pub mod html;
mod pages;
pub mod session;
pub mod time;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tracing::Instrument as _;

pub use auth::Moderator;

use crate::service::Service;
use crate::store::{ModerationStore, StoreError};

/// The console's Content-Security-Policy: scripts, styles and images only
/// from the console itself, nothing inline, no framing, forms only to itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The largest request body the console reads: a 4,000-character note,
/// percent-encoded, with room to spare.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The console's routes, with the service as their state.
pub fn router<S: ModerationStore>(service: Arc<Service<S>>) -> Router {
    let secure = service.secure_cookies;
    Router::new()
        .route("/", get(root))
        .route("/login", get(auth::login_page::<S>).post(auth::login::<S>))
        .route("/logout", post(auth::logout::<S>))
        .route("/cases", get(cases::queue::<S>))
        .route("/cases/{id}", get(cases::case_page::<S>))
        .route(
            "/cases/{id}/messages/{index}/attachment",
            get(cases::attachment::<S>),
        )
        .route("/cases/{id}/assign", post(actions::assign::<S>))
        .route("/cases/{id}/notes", post(actions::add_note::<S>))
        .route("/cases/{id}/actions", post(actions::take_action::<S>))
        .route("/cases/{id}/feedback", post(actions::send_feedback::<S>))
        .route("/audit", get(cases::audit_page::<S>))
        .route("/static/console.css", get(stylesheet))
        .route("/static/console.js", get(script))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            secure,
            refuse_foreign_origin,
        ))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(log_request))
        .with_state(service)
}

async fn root() -> Response {
    see_other("/cases")
}

/// Unknown routes: without a session the extractor sends the browser to
/// the login page, like every other page.
async fn not_found(me: Moderator) -> Response {
    pages::error_page(StatusCode::NOT_FOUND, Some(&me), "There is no such page.")
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("static/console.css"),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("static/console.js"),
    )
        .into_response()
}

/// A 303 to `location` (a path of ids and codes only: never content).
pub(crate) fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The page shown when the database fails; the error (which names the
/// operation, never data) goes to the log.
pub(crate) fn store_failed(error: &StoreError, me: Option<&Moderator>) -> Response {
    tracing::error!(%error, "store");
    pages::error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        me,
        "The moderation database failed; nothing was changed. Try again.",
    )
}

/// Refuses a POST whose `Origin` is present and is not the console's own
/// (`http(s)://` + the `Host` it was reached at).
async fn refuse_foreign_origin(State(secure): State<bool>, req: Request, next: Next) -> Response {
    if req.method() == Method::POST
        && let Some(origin) = req.headers().get(header::ORIGIN)
    {
        let scheme = if secure { "https" } else { "http" };
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok());
        let own = host.is_some_and(|host| {
            origin
                .to_str()
                .is_ok_and(|origin| origin == format!("{scheme}://{host}"))
        });
        if !own {
            tracing::warn!("post from a foreign origin refused");
            return pages::error_page(
                StatusCode::FORBIDDEN,
                None,
                "This form was sent from another site; nothing was done.",
            );
        }
    }
    next.run(req).await
}

/// The headers of §13.5, on every response.
async fn security_headers(req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: under it a browser sends `Origin: null` with the
    // console's own forms, which the Origin check above must refuse.
    // `same-origin` keeps referrers off other sites and the real Origin on
    // the console's own POSTs.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let cache = if is_static { "no-cache" } else { "no-store" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// Logs each request: method, route pattern (ids at most), status and,
/// once the session is known, the account. Never a body or a query.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!(
        "console",
        %method,
        %route,
        account = tracing::field::Empty
    );
    let response = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), "request"));
    response
}

/// The value of `name` in a parsed form or query.
pub(crate) fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}
