//! Sending, the long-poll fetch and acknowledgement.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::store::{MailboxQuota, NewDelivery, Store};
use fuin_wire::relay::{
    Acknowledgement, MAX_RECORDS_PER_BATCH, MailboxBatch, SendAccepted, SendBatch,
};
use fuin_wire::{DeliveredRecord, DeviceAddress, FrameBody, FrankingStamp, MessageId};

use super::session::{Ended, SessionWatch};
use super::*;

pub(crate) async fn send<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    Extension(session): Extension<Session>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let sender = session.device;
    let body = body_bytes(body)?;
    let batch = SendBatch::from_bytes(&body)?;
    if batch.envelopes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_send",
            "a send carries at least one envelope",
        ));
    }
    deliver_stamped(&relay, &sender, batch.envelopes.into_vec()).await
}

/// What a send and a group fan-out share: checks that every recipient is
/// registered, stamps one `Delivered` record per envelope (one clock reading
/// for all), stores them all in one write under the mailbox quota, wakes the
/// recipients' waiters once it is durable, and answers `SendAccepted`.
pub(crate) async fn deliver_stamped<S: Store>(
    relay: &Relay<S>,
    sender: &DeviceAddress<'static>,
    envelopes: Vec<fuin_wire::RoutingEnvelope<'_>>,
) -> Result<Response, ApiError> {
    for envelope in &envelopes {
        if relay
            .store
            .device_identity(&envelope.recipient)
            .await?
            .is_none()
        {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_recipient",
                format!("no device {} is registered", envelope.recipient),
            ));
        }
    }
    let server_time_ms = relay.now();
    let expires_at_ms = later(server_time_ms, relay.config.envelope_lifetime);
    let mut deliveries = Vec::with_capacity(envelopes.len());
    let mut message_ids = Vec::with_capacity(envelopes.len());
    for envelope in envelopes {
        let message_id = MessageId(random());
        let recipient = envelope.recipient.clone().into_owned();
        let mut record = DeliveredRecord {
            envelope,
            sender: sender.clone(),
            server_time_ms,
            server_message_id: message_id,
            franking_stamp: FrankingStamp([0; 32]),
            stamp_key_id: relay.config.stamp_keys.current_id(),
        };
        relay.config.stamp_keys.stamp(&mut record);
        deliveries.push(NewDelivery {
            message_id,
            recipient,
            record: record.to_bytes()?,
            expires_at_ms,
        });
        message_ids.push(message_id);
    }
    // What one request may make the relay store is bounded, whatever its
    // size on the wire (a body named for many recipients is stored once per
    // recipient): checked before anything is stored.
    let stored_bytes = deliveries.iter().fold(0u64, |sum, d| {
        sum.saturating_add(u64::try_from(d.record.len()).unwrap_or(u64::MAX))
    });
    if stored_bytes > relay.config.max_send_stored_bytes {
        return Err(send_too_large(
            stored_bytes,
            relay.config.max_send_stored_bytes,
        ));
    }
    // The answer is made before anything is stored: a send the relay could
    // not answer is refused whole, never stored and then refused.
    let answer = encode(&SendAccepted {
        server_time_ms,
        message_ids: message_ids.into(),
    })?;
    let recipients: Vec<_> = deliveries.iter().map(|d| d.recipient.clone()).collect();
    let quota = MailboxQuota {
        max_envelopes: relay.config.max_mailbox_envelopes,
        max_bytes: relay.config.max_mailbox_bytes,
    };
    relay.store.deliver_within_quotas(deliveries, quota).await?;
    for recipient in &recipients {
        relay.notify_mailbox(recipient);
    }
    Ok(answer)
}

/// 413 `send_too_large`: one send would store `at_least` bytes, more than
/// `max`.
pub(crate) fn send_too_large(at_least: u64, max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "send_too_large",
        format!(
            "the send would store at least {at_least} bytes, more than the {max} one send may; \
             nothing was sent"
        ),
    )
}

#[derive(serde::Deserialize)]
pub(crate) struct FetchParams {
    /// How long to wait for an envelope if the mailbox is empty, in ms.
    wait_ms: Option<u64>,
}

pub(crate) async fn fetch<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    Extension(session): Extension<Session>,
    params: Result<Query<FetchParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let device = session.device.clone();
    let Query(params) = params.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "wait_ms must be a number of milliseconds",
        )
    })?;
    let wait = Duration::from_millis(params.wait_ms.unwrap_or(0)).min(relay.config.max_long_poll);
    let deadline = tokio::time::Instant::now() + wait;
    let wakeup = relay.wakeup(&device);
    let mut shutdown = relay.shutdown.subscribe();
    // Started only once the poll is about to wait (a fetch that answers at
    // once need not look at its token again); it looks in the store first,
    // so a revocation since the request was authenticated is seen.
    let mut watch: Option<SessionWatch<'_, S>> = None;
    let stored = loop {
        // Register for a wakeup before looking, so none is missed between.
        let notified = wakeup.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(watching) = &mut watch
            && let Some(ended) = watching.recheck().await
        {
            return Err(session_ended(ended));
        }
        let stored = relay
            .store
            .fetch(&device, MAX_RECORDS_PER_BATCH, relay.now())
            .await?;
        if !stored.is_empty() || tokio::time::Instant::now() >= deadline || relay.is_shutting_down()
        {
            break stored;
        }
        let mut watching = match watch.take() {
            Some(watching) => watching,
            None => SessionWatch::start(&relay, session.clone())
                .await
                .map_err(session_ended)?,
        };
        let _waiting = Counted::new(&relay.mail_waiters);
        let _long_poll = crate::metrics::long_poll_waiting();
        tokio::select! {
            _ = tokio::time::timeout_at(deadline, notified) => {}
            () = shutting_down(&mut shutdown) => {}
            // The token no longer admits the device: answered as the next
            // request with it would be.
            ended = watching.ended() => return Err(session_ended(ended)),
        }
        watch = Some(watching);
    };
    let mut records = Vec::with_capacity(stored.len());
    for delivery in &stored {
        // The relay wrote these bytes itself: failing to read them back is
        // the server's fault, not the client's.
        records.push(DeliveredRecord::from_bytes(&delivery.record).map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "a stored envelope could not be read",
            )
        })?);
    }
    let counts = relay.store.prekey_counts(&device).await?;
    let batch = MailboxBatch {
        records: records.into(),
        prekeys_low: super::prekeys::any_prekeys_low(&relay, counts),
    };
    encode(&batch)
}

/// A long poll's answer when its session ended while it waited.
fn session_ended(ended: Ended) -> ApiError {
    match ended {
        Ended::StorageUnavailable => {
            crate::store::StoreError::Backend("session: storage unavailable".into()).into()
        }
        Ended::TokenRevoked | Ended::TokenExpired | Ended::DeviceRemoved => {
            ApiError::unauthorized()
        }
        Ended::AccountSuspended => super::auth::account_suspended(),
    }
}

pub(crate) async fn acknowledge<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    Extension(session): Extension<Session>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let device = session.device;
    let body = body_bytes(body)?;
    let ack = Acknowledgement::from_bytes(&body)?;
    relay
        .store
        .acknowledge(&device, ack.message_ids.as_slice())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
