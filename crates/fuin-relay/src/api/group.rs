//! The group fan-out (`POST /v1/groups/messages`, `spec/relay-api.md`
//! §4.8a): one group message sealed once by its sender, stored for every
//! recipient the sender names, each copy with its own franking stamp.
//!
//! The relay learns the recipients and nothing else of the group: the
//! membership, the epoch and the content type are inside the sealed body,
//! which it carries as opaque bytes like any other.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{Relay, Session, body_bytes, deliver_stamped};
use crate::error::ApiError;
use crate::store::Store;
use fuin_wire::{FrameBody, GroupSend};

/// `POST /v1/groups/messages`: a `GroupSend` from the authenticated device,
/// fanned out as one `Delivered` record per recipient, all stored in one
/// write, answered after it is durable.
pub(super) async fn send<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    Extension(session): Extension<Session>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let sender = session.device;
    let body = body_bytes(body)?;
    let send = GroupSend::from_bytes(&body)?;
    if send.recipients.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_send",
            "a group send names at least one recipient",
        ));
    }
    // One recipient named twice would store the body twice for nothing (and
    // let one request fill a mailbox): each member device once.
    let mut named = std::collections::HashSet::with_capacity(send.recipients.len());
    if let Some(twice) = send
        .recipients
        .as_slice()
        .iter()
        .find(|recipient| !named.insert(*recipient))
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "duplicate_recipient",
            format!("a group send names {twice} more than once"),
        ));
    }
    // Each recipient's record holds the whole body: refused here, before a
    // record is made, if the bodies alone pass the bound (the exact check,
    // on the records, follows in `deliver_stamped`).
    let bodies = u64::try_from(send.sealed_body.len())
        .unwrap_or(u64::MAX)
        .saturating_mul(u64::try_from(send.recipients.len()).unwrap_or(u64::MAX));
    if bodies > relay.config.max_send_stored_bytes {
        return Err(super::mailbox::send_too_large(
            bodies,
            relay.config.max_send_stored_bytes,
        ));
    }
    let envelopes = send
        .recipients
        .as_slice()
        .iter()
        .map(|recipient| send.envelope_for(recipient))
        .collect();
    deliver_stamped(&relay, &sender, envelopes).await
}
