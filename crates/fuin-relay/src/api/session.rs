//! An authenticated session: what a request's bearer token established, and
//! what ends the streams and long polls that rely on it (the token revoked
//! or expired, the device removed).
//!
//! A revocation or removal through this node wakes the device's waiters
//! directly ([`Relay::evict`]); one through another node on a shared store
//! wakes them through the store ([`crate::store::Wakeup::Device`], sent with
//! PostgreSQL `NOTIFY`). Either way the waiter then looks in the store. An
//! expiry needs no store: each waiter has a timer at its token's expiry, and
//! every sweep makes them compare the relay's clock too (a clock that jumped
//! wakes no timer).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;

use crate::error::ApiError;
use crate::store::Store;
use fuin_wire::{DeviceAddress, PublicIdentity};

use super::Relay;

/// The longest a waiter's expiry timer is set for at once (tokio's timers
/// have a range; a later expiry just sets it again).
const LONGEST_TIMER: Duration = Duration::from_secs(24 * 60 * 60);

/// What a request's bearer token established. [`require_token`] puts it in
/// the request's extensions before the handler (and its body) runs.
#[derive(Clone)]
pub(crate) struct Session {
    /// The device the token belongs to.
    pub(crate) device: DeviceAddress<'static>,
    /// SHA-256 of the token, as the store keys it.
    token_hash: [u8; 32],
    /// When the token expires, ms since the Unix epoch.
    expires_at_ms: u64,
}

/// Why a stream or long poll ended before its client closed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The token was revoked.
    TokenRevoked,
    /// The token expired.
    TokenExpired,
    /// A newer device list, or the operator, removed the device.
    DeviceRemoved,
    /// The operator suspended the device's user.
    AccountSuspended,
    /// The store could not say.
    StorageUnavailable,
}

impl Ended {
    /// The stable code a stream's close frame carries.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::TokenRevoked => "token_revoked",
            Self::TokenExpired => "token_expired",
            Self::DeviceRemoved => "device_removed",
            Self::AccountSuspended => "account_suspended",
            Self::StorageUnavailable => "storage_unavailable",
        }
    }
}

/// The session of a request's `Authorization: Bearer <64 hex digits>`, if
/// the token is valid and its device and account are within their request
/// rates.
pub(crate) async fn authenticate<S: Store>(
    relay: &Relay<S>,
    headers: &axum::http::HeaderMap,
) -> Result<Session, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(ApiError::unauthorized)?;
    let mut token = zeroize::Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(value, token.as_mut()).map_err(|_| ApiError::unauthorized())?;
    let token_hash: [u8; 32] = Sha256::digest(token.as_ref()).into();
    drop(token);
    let grant = relay
        .store
        .token_grant(token_hash, relay.now())
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    if grant.suspended {
        return Err(super::auth::account_suspended());
    }
    relay.admit(&grant.owner)?;
    Ok(Session {
        device: grant.owner,
        token_hash,
        expires_at_ms: grant.expires_at_ms,
    })
}

/// The bearer endpoints' gate, run from the request's head before any byte
/// of its body is read: a request without a valid token, or over its
/// device's or account's rate, is answered at once, and its connection
/// closed if a body was on its way (the relay will not read it). An
/// admitted request carries its [`Session`] to the handler.
pub(crate) async fn require_token<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    mut request: Request,
    next: Next,
) -> Response {
    match authenticate(&relay, request.headers()).await {
        Ok(session) => {
            request.extensions_mut().insert(session);
            next.run(request).await
        }
        Err(refused) => {
            let mut response = refused.into_response();
            if announces_body(&request) {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
    }
}

/// Whether the request's head says a body follows.
pub(crate) fn announces_body(request: &Request) -> bool {
    let headers = request.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
}

/// What a stream or long poll watches to end with its session: its device's
/// eviction handle, woken on a revocation or removal, and its token's expiry.
pub(crate) struct SessionWatch<'a, S> {
    relay: &'a Relay<S>,
    session: Session,
    identity: Option<PublicIdentity>,
    eviction: Arc<Notify>,
    evicted: Pin<Box<OwnedNotified>>,
    /// Set when a wake-up came and the store has not been looked at since
    /// (kept across cancelled calls of [`SessionWatch::ended`]).
    look: bool,
}

impl<'a, S: Store> SessionWatch<'a, S> {
    /// Starts watching `session`: registers for wake-ups first, then looks
    /// in the store, so that a revocation or removal made at any time since
    /// the request was authenticated is seen.
    pub(crate) async fn start(relay: &'a Relay<S>, session: Session) -> Result<Self, Ended> {
        let eviction = relay.eviction(&session.device);
        let mut evicted = Box::pin(eviction.clone().notified_owned());
        evicted.as_mut().enable();
        let identity = relay
            .store
            .device_identity(&session.device)
            .await
            .map_err(|_| Ended::StorageUnavailable)?;
        let mut watch = Self {
            relay,
            session,
            identity,
            eviction,
            evicted,
            look: true,
        };
        match watch.look_in_store().await {
            Some(ended) => Err(ended),
            None => Ok(watch),
        }
    }

    /// The device whose session this is.
    pub(crate) fn device(&self) -> &DeviceAddress<'static> {
        &self.session.device
    }

    /// Resolves when the session ends; cancel-safe (a wake-up it took is
    /// looked into at the next call).
    pub(crate) async fn ended(&mut self) -> Ended {
        loop {
            let swept = self.relay.expiry_checks.notified();
            tokio::pin!(swept);
            swept.as_mut().enable();
            if self.relay.now() >= self.session.expires_at_ms {
                return Ended::TokenExpired;
            }
            if self.look
                && let Some(ended) = self.look_in_store().await
            {
                return ended;
            }
            let left = self.session.expires_at_ms.saturating_sub(self.relay.now());
            let timer = Duration::from_millis(left).min(LONGEST_TIMER);
            tokio::select! {
                () = self.evicted.as_mut() => {
                    self.look = true;
                    self.evicted = Box::pin(self.eviction.clone().notified_owned());
                    self.evicted.as_mut().enable();
                }
                () = &mut swept => {}
                () = tokio::time::sleep(timer) => {}
            }
        }
    }

    /// Looks at once whether the session has ended, if anything says it may
    /// have (a wake-up already came, or the expiry passed): a stream or long
    /// poll asks this before it hands out envelopes, so that a wake-up for
    /// mail that came with a revocation cannot deliver it.
    pub(crate) async fn recheck(&mut self) -> Option<Ended> {
        if self.relay.now() >= self.session.expires_at_ms {
            return Some(Ended::TokenExpired);
        }
        // Polled once, without waiting: the context is gone before any await.
        let woken = {
            let mut cx = Context::from_waker(Waker::noop());
            self.evicted.as_mut().poll(&mut cx).is_ready()
        };
        if woken {
            self.look = true;
            self.evicted = Box::pin(self.eviction.clone().notified_owned());
            self.evicted.as_mut().enable();
        }
        if self.look {
            return self.look_in_store().await;
        }
        None
    }

    /// Whether the token still grants the device, and the device is still
    /// registered with the identity it had.
    async fn look_in_store(&mut self) -> Option<Ended> {
        let relay = self.relay;
        let now = relay.now();
        let grant = match relay.store.token_grant(self.session.token_hash, now).await {
            Ok(grant) => grant,
            Err(_) => return Some(Ended::StorageUnavailable),
        };
        let registered = match relay
            .still_registered(&self.session.device, self.identity.as_ref())
            .await
        {
            Ok(registered) => registered,
            Err(_) => return Some(Ended::StorageUnavailable),
        };
        self.look = false;
        if !registered {
            return Some(Ended::DeviceRemoved);
        }
        match grant {
            Some(grant) if grant.owner == self.session.device => {
                grant.suspended.then_some(Ended::AccountSuspended)
            }
            _ if now >= self.session.expires_at_ms => Some(Ended::TokenExpired),
            _ => Some(Ended::TokenRevoked),
        }
    }
}
