//! The admin API (`spec/relay-operations.md` §12): what an operator does to a
//! running relay. It has a router of its own, served on its own listener
//! (`--admin-listen`, loopback by default) and never on the public one,
//! and every request carries the admin credential, which is not the
//! moderation credential and not a device token.
//!
//! Answers are JSON, for people and scripts (`fuin-relay admin`). Every
//! action is logged at info with what it did and to whom, and recorded in
//! the database's audit log (`GET /v1/admin/actions`).

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::error::ApiError;
use crate::store::{AdminRecord, Store, StoreError, StoreStats};
use fuin_wire::{DeviceAddress, DeviceId, UserId};

use super::{Relay, path_user};

/// The most invite codes one request makes.
pub const MAX_INVITES_PER_REQUEST: u32 = 10_000;
/// The most audit records one request lists, and how many by default.
pub const MAX_ACTIONS_LISTED: u32 = 1_000;
const DEFAULT_ACTIONS_LISTED: u32 = 50;

/// The admin API's routes over `relay`. Serve it on a listener of its own;
/// without [`crate::RelayConfig::admin_credential_hash`] every request is
/// answered 404.
pub fn admin_router<S: Store>(relay: Arc<Relay<S>>) -> Router {
    Router::new()
        .route("/v1/admin/stats", get(stats::<S>))
        .route("/v1/admin/users/{user}/suspend", post(suspend::<S>))
        .route("/v1/admin/users/{user}/restore", post(restore::<S>))
        .route(
            "/v1/admin/users/{user}/devices/{device}",
            delete(remove_device::<S>),
        )
        .route("/v1/admin/users/{user}/tokens", delete(revoke_user::<S>))
        .route(
            "/v1/admin/users/{user}/devices/{device}/tokens",
            delete(revoke_device::<S>),
        )
        .route("/v1/admin/invites", post(invites::<S>))
        .route("/v1/admin/purge", post(purge::<S>))
        .route("/v1/admin/actions", get(actions::<S>))
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
        // Outermost, so that it runs first on every request, unknown paths
        // included: nothing is read or done without the credential.
        .layer(middleware::from_fn_with_state(
            relay.clone(),
            require_admin::<S>,
        ))
        .with_state(relay)
}

/// Admits the admin tool: `Authorization: Admin <64 hex digits>` whose
/// SHA-256 is the configured hash, compared in constant time.
async fn require_admin<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = relay.config.admin_credential_hash else {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
            .into_response();
    };
    if !presents_credential(request.headers(), &expected) {
        tracing::info!(
            admin_action = "refused",
            "admin request refused: no valid admin credential"
        );
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid admin credential is required",
        )
        .into_response();
    }
    next.run(request).await
}

fn presents_credential(headers: &HeaderMap, expected: &[u8; 32]) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Admin "))
    else {
        return false;
    };
    let mut credential = Zeroizing::new([0u8; 32]);
    if hex::decode_to_slice(value, credential.as_mut()).is_err() {
        return false;
    }
    let presented: [u8; 32] = Sha256::digest(credential.as_ref()).into();
    bool::from(presented.ct_eq(expected))
}

fn answer(value: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn bad_path() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_path",
        "expected a user id and, where the path has one, a device id (a u32)",
    )
}

fn user_of(path: Result<Path<String>, PathRejection>) -> Result<UserId<'static>, ApiError> {
    let Path(user) = path.map_err(|_| bad_path())?;
    path_user(user)
}

fn device_of(
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<DeviceAddress<'static>, ApiError> {
    let Path((user, device)) = path.map_err(|_| bad_path())?;
    let device = device.parse::<u32>().map_err(|_| bad_path())?;
    Ok(DeviceAddress::new(path_user(user)?, DeviceId(device)))
}

/// Ends the streams and long polls of every device of `user` (each checks
/// what changed before it ends).
async fn evict_user<S: Store>(relay: &Relay<S>, user: &UserId<'static>) -> Result<(), ApiError> {
    for device in relay.store.user_devices(user).await? {
        relay.evict(&DeviceAddress::new(user.clone(), device));
    }
    Ok(())
}

/// `GET /v1/admin/stats`: what the store holds, and this node's open
/// streams.
async fn stats<S: Store>(State(relay): State<Arc<Relay<S>>>) -> Result<Response, ApiError> {
    let stats = relay.store.stats().await?;
    tracing::info!(admin_action = "stats", "admin action");
    let mut body = serde_json::to_value(stats).unwrap_or_default();
    if let Some(fields) = body.as_object_mut() {
        fields.insert("open_streams".into(), json!(*relay.streams.borrow()));
    }
    Ok(answer(&body))
}

/// `POST /v1/admin/users/{user}/suspend`.
async fn suspend<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let user = user_of(path)?;
    if relay.store.account(&user).await?.is_none()
        && relay.store.user_devices(&user).await?.is_empty()
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_user",
            "the user has no account and no device",
        ));
    }
    let changed = relay.store.set_suspended(&user, true, relay.now()).await?;
    evict_user(&relay, &user).await?;
    audit(
        &relay,
        "suspend",
        user.as_str(),
        &json!({ "changed": changed }),
    )
    .await;
    Ok(answer(
        &json!({"user": user.as_str(), "suspended": true, "changed": changed}),
    ))
}

/// `POST /v1/admin/users/{user}/restore`.
async fn restore<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let user = user_of(path)?;
    let changed = relay.store.set_suspended(&user, false, relay.now()).await?;
    audit(
        &relay,
        "restore",
        user.as_str(),
        &json!({ "changed": changed }),
    )
    .await;
    Ok(answer(
        &json!({"user": user.as_str(), "suspended": false, "changed": changed}),
    ))
}

/// `DELETE /v1/admin/users/{user}/devices/{device}`.
async fn remove_device<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let address = device_of(path)?;
    if !relay.store.remove_device(&address).await? {
        return Err(StoreError::UnknownDevice.into());
    }
    relay.evict(&address);
    let target = address.to_string();
    audit(
        &relay,
        "remove_device",
        &target,
        &json!({ "removed": true }),
    )
    .await;
    Ok(answer(&json!({
        "user": address.user.as_str(),
        "device": address.device.0,
        "removed": true,
    })))
}

/// `DELETE /v1/admin/users/{user}/tokens`: every device's tokens.
async fn revoke_user<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let user = user_of(path)?;
    let revoked = relay.store.revoke_user_tokens(&user).await?;
    evict_user(&relay, &user).await?;
    audit(
        &relay,
        "revoke_tokens",
        user.as_str(),
        &json!({ "revoked": revoked }),
    )
    .await;
    Ok(answer(&json!({"user": user.as_str(), "revoked": revoked})))
}

/// `DELETE /v1/admin/users/{user}/devices/{device}/tokens`.
async fn revoke_device<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let address = device_of(path)?;
    let revoked = relay.store.revoke_tokens(&address).await?;
    relay.evict(&address);
    let target = address.to_string();
    audit(
        &relay,
        "revoke_tokens",
        &target,
        &json!({ "revoked": revoked }),
    )
    .await;
    Ok(answer(&json!({
        "user": address.user.as_str(),
        "device": address.device.0,
        "revoked": revoked,
    })))
}

#[derive(serde::Deserialize)]
struct InviteParams {
    count: Option<u32>,
}

/// `POST /v1/admin/invites?count=N`: the codes, the only copy of them.
async fn invites<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    params: Result<Query<InviteParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let count = match params {
        Ok(Query(params)) => params.count.unwrap_or(1),
        Err(_) => 0,
    };
    if !(1..=MAX_INVITES_PER_REQUEST).contains(&count) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("count must be a number from 1 to {MAX_INVITES_PER_REQUEST}"),
        ));
    }
    let (codes, hashes) = new_invites(count);
    relay.store.add_invites(&hashes).await?;
    // The count only: the codes are secrets.
    audit(&relay, "invite", "", &json!({ "count": count })).await;
    Ok(answer(&json!({ "invites": codes })))
}

/// `POST /v1/admin/purge`: the expiry sweep, now. Envelopes are counted
/// by the sweep; the other kinds by the stored counts before and after it,
/// so that what other requests did meanwhile shows there too.
async fn purge<S: Store>(State(relay): State<Arc<Relay<S>>>) -> Result<Response, ApiError> {
    let before = relay.store.stats().await?;
    let envelopes = relay.sweep().await?;
    let after = relay.store.stats().await?;
    let went = |count: fn(&StoreStats) -> u64| count(&before).saturating_sub(count(&after));
    let removed = json!({
        "envelopes": envelopes,
        "envelope_bytes": went(|s| s.envelope_bytes),
        "tokens": went(|s| s.tokens),
        "blobs": went(|s| s.blobs),
        "blob_bytes": went(|s| s.blob_bytes),
        "reports": went(|s| s.reports),
    });
    audit(&relay, "purge", "", &removed).await;
    Ok(answer(&json!({ "removed": removed })))
}

/// Logs an admin action that was done (a `tracing` event at info) and
/// appends it to the audit log in the database. Recording comes after the
/// action, so a failure to record is logged, not answered: the answer says
/// what was done.
async fn audit<S: Store>(relay: &Relay<S>, action: &'static str, target: &str, outcome: &Value) {
    tracing::info!(admin_action = action, target, outcome = %outcome, "admin action");
    let record = AdminRecord {
        at_ms: relay.now(),
        action: action.to_owned(),
        target: target.to_owned(),
        outcome: outcome.to_string(),
    };
    if relay.store.record_admin_action(record).await.is_err() {
        tracing::warn!(
            admin_action = action,
            target,
            "admin action done but not recorded in the database"
        );
    }
}

#[derive(serde::Deserialize)]
struct ActionsParams {
    limit: Option<u32>,
}

/// `GET /v1/admin/actions?limit=N`: the audit log, newest first.
async fn actions<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    params: Result<Query<ActionsParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let limit = match params {
        Ok(Query(params)) => params.limit.unwrap_or(DEFAULT_ACTIONS_LISTED),
        Err(_) => 0,
    };
    if !(1..=MAX_ACTIONS_LISTED).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("limit must be a number from 1 to {MAX_ACTIONS_LISTED}"),
        ));
    }
    let records = relay
        .store
        .admin_actions(usize::try_from(limit).unwrap_or(1))
        .await?;
    tracing::info!(admin_action = "actions", "admin action");
    Ok(answer(&json!({ "actions": records })))
}

/// Makes `count` invite codes of 32 random bytes: each as 64 lowercase hex
/// digits (to hand out) and as its SHA-256 (to store). The raw bytes are
/// wiped.
pub fn new_invites(count: u32) -> (Vec<String>, Vec<[u8; 32]>) {
    let count = usize::try_from(count).unwrap_or(1);
    let mut codes = Vec::with_capacity(count);
    let mut hashes = Vec::with_capacity(count);
    for _ in 0..count {
        let mut code = super::random::<32>();
        hashes.push(<[u8; 32]>::from(Sha256::digest(code)));
        codes.push(hex::encode(code));
        code.zeroize();
    }
    (codes, hashes)
}
