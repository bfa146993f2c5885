//! The link rendezvous (`spec/accounts.md` §5.4, `spec/relay-api.md`
//! §4.17): a new device and one of its user's devices leave each other one
//! sealed message under a channel id derived from the link code. The relay
//! reads none of it; it keeps a message until it is taken (once) or expires.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{Relay, body_bytes, frame_response, later, shutting_down};
use crate::error::ApiError;
use crate::store::{LinkSlot, MailboxTag, Store};
use fuin_wire::FrameBody;
use fuin_wire::account::LinkMessage;

/// How often a waiting take looks again without a wake-up: a message left
/// through another relay node on the same database wakes no one here.
const LINK_POLL_INTERVAL: Duration = Duration::from_millis(500);

fn invalid_link_path() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_link_path",
        "a link path is /v1/link/{32 hex digits}/{request or grant}",
    )
}

/// The channel (16 bytes, from 32 hex digits of either case) and the slot.
fn link_path(channel: &str, slot: &str) -> Result<([u8; 16], LinkSlot), ApiError> {
    let mut id = [0u8; 16];
    hex::decode_to_slice(channel, &mut id).map_err(|_| invalid_link_path())?;
    let slot = match slot {
        "request" => LinkSlot::Request,
        "grant" => LinkSlot::Grant,
        _ => return Err(invalid_link_path()),
    };
    Ok((id, slot))
}

/// The tag a take waiting on `channel`'s `slot` is filed under.
fn link_tag(channel: &[u8; 16], slot: LinkSlot) -> MailboxTag {
    let mut tag = [0u8; 8];
    tag.copy_from_slice(&channel[..8]);
    tag[7] ^= slot.as_u8();
    MailboxTag(tag)
}

/// `PUT /v1/link/{channel}/{slot}`: leaves a `LinkMessage` in a free slot.
pub(super) async fn leave<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    Path((channel, slot)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (channel, slot) = link_path(&channel, &slot)?;
    let body = body_bytes(body)?;
    LinkMessage::from_bytes(&body)?;
    let now = relay.now();
    relay
        .store
        .put_link_message(
            channel,
            slot,
            body.to_vec(),
            later(now, relay.config.link_message_lifetime),
            relay.config.max_link_messages,
            now,
        )
        .await?;
    relay
        .link_waiters
        .wake(crate::store::Wakeup::Mailbox(link_tag(&channel, slot)));
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(serde::Deserialize)]
pub(super) struct TakeParams {
    /// How long to wait for a message if none is there, in ms.
    wait_ms: Option<u64>,
}

/// `GET /v1/link/{channel}/{slot}?wait_ms=N`: takes the slot's message,
/// which is deleted as it is handed out, waiting for one up to the long-poll
/// limit.
pub(super) async fn take<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    Path((channel, slot)): Path<(String, String)>,
    params: Result<Query<TakeParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (channel, slot) = link_path(&channel, &slot)?;
    let Query(params) = params.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "wait_ms must be a number of milliseconds",
        )
    })?;
    let wait = Duration::from_millis(params.wait_ms.unwrap_or(0)).min(relay.config.max_long_poll);
    let deadline = tokio::time::Instant::now() + wait;
    let wakeup = relay.link_waiters.handle(link_tag(&channel, slot));
    let mut shutdown = relay.shutdown.subscribe();
    loop {
        // Registered before looking, so a message left in between wakes it.
        let notified = wakeup.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(message) = relay
            .store
            .take_link_message(channel, slot, relay.now())
            .await?
        {
            return Ok(frame_response(StatusCode::OK, message));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline || relay.is_shutting_down() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "no_link_message",
                "no link message arrived in time",
            ));
        }
        let next_look = deadline.min(now + LINK_POLL_INTERVAL);
        tokio::select! {
            _ = tokio::time::timeout_at(next_look, notified) => {}
            () = shutting_down(&mut shutdown) => {}
        }
    }
}
