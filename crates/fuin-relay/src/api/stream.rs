//! The WebSocket push stream of a mailbox.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, State};
use axum::response::Response;
use tokio::sync::watch;

use crate::error::ApiError;
use crate::store::Store;
use fuin_wire::limits::MAX_FRAME_LEN;
use fuin_wire::relay::{Acknowledgement, MAX_RECORDS_PER_BATCH, MailboxBatch};
use fuin_wire::{DeliveredRecord, FrameBody, MessageId};

use super::session::SessionWatch;
use super::*;

/// `GET /v1/mailbox/stream`: a WebSocket on which the relay pushes
/// `MailboxBatch` frames as envelopes arrive and the device answers with
/// `Acknowledgement` frames. Each envelope is pushed once per connection;
/// until acknowledged it stays stored, and a new connection pushes it again.
pub(crate) async fn stream<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    Extension(session): Extension<Session>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    Ok(upgrade
        .max_message_size(MAX_FRAME_LEN)
        .on_upgrade(move |socket| push_mailbox(relay, session, socket)))
}

/// Resolves once shutdown has begun.
pub(crate) async fn shutting_down(shutdown: &mut watch::Receiver<bool>) {
    // The sender lives in the relay, which the caller holds.
    let _ = shutdown.wait_for(|down| *down).await;
}

/// Counts an open stream for as long as it lives.
pub(crate) struct OpenStream<'a> {
    streams: &'a watch::Sender<usize>,
    /// The metrics' count of open streams, down again when dropped.
    _gauge: crate::metrics::Tracked,
}

impl<'a> OpenStream<'a> {
    pub(crate) fn new(streams: &'a watch::Sender<usize>) -> Self {
        streams.send_modify(|open| *open += 1);
        Self {
            streams,
            _gauge: crate::metrics::stream_open(),
        }
    }
}

impl Drop for OpenStream<'_> {
    fn drop(&mut self) {
        self.streams
            .send_modify(|open| *open = open.saturating_sub(1));
    }
}

/// Pushes `session`'s mailbox until the device closes the stream, the
/// relay shuts down, the session ends (token revoked or expired, device
/// removed: the close frame names which) or a newer stream of the device
/// takes this one's slot (`stream_replaced`).
pub(crate) async fn push_mailbox<S: Store>(
    relay: Arc<Relay<S>>,
    session: Session,
    mut socket: WebSocket,
) {
    let _open = OpenStream::new(&relay.streams);
    let slot = relay.stream_slots.open(&session.device);
    let wakeup = relay.wakeup(&session.device);
    let mut shutdown = relay.shutdown.subscribe();
    let mut pushed: HashSet<MessageId> = HashSet::new();
    let mut watch = match SessionWatch::start(&relay, session).await {
        Ok(watch) => watch,
        Err(ended) => return close(socket, ended.reason()).await,
    };
    let device = watch.device().clone();
    loop {
        if relay.is_shutting_down() {
            return going_away(socket, relay.config.shutdown_grace).await;
        }
        let notified = wakeup.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(ended) = watch.recheck().await {
            return close(socket, ended.reason()).await;
        }
        let Ok(stored) = relay
            .store
            .fetch(&device, MAX_RECORDS_PER_BATCH, relay.now())
            .await
        else {
            return close(socket, "storage_unavailable").await;
        };
        let mut records = Vec::new();
        for delivery in stored.iter().filter(|d| !pushed.contains(&d.message_id)) {
            match DeliveredRecord::from_bytes(&delivery.record) {
                Ok(record) => records.push(record),
                Err(_) => return close(socket, "internal").await,
            }
        }
        if !records.is_empty() {
            pushed.extend(records.iter().map(|record| record.server_message_id));
            let Ok(counts) = relay.store.prekey_counts(&device).await else {
                return close(socket, "storage_unavailable").await;
            };
            let batch = MailboxBatch {
                records: records.into(),
                prekeys_low: super::prekeys::any_prekeys_low(&relay, counts),
            };
            let Ok(bytes) = batch.to_bytes() else {
                return close(socket, "internal").await;
            };
            if socket.send(Message::Binary(bytes.into())).await.is_err() {
                return;
            }
        }
        let _waiting = Counted::new(&relay.mail_waiters);
        tokio::select! {
            _ = &mut notified => {}
            () = shutting_down(&mut shutdown) => {}
            ended = watch.ended() => return close(socket, ended.reason()).await,
            () = slot.replaced() => {
                crate::metrics::rate_limited("streams");
                return close(socket, "stream_replaced").await;
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Binary(bytes))) => {
                    let Ok(ack) = Acknowledgement::from_bytes(&bytes) else {
                        return close(socket, "malformed_frame").await;
                    };
                    let ids = ack.message_ids.as_slice();
                    if relay.store.acknowledge(&device, ids).await.is_err() {
                        return close(socket, "storage_unavailable").await;
                    }
                    for id in ids {
                        pushed.remove(id);
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Text(_))) => return close(socket, "malformed_frame").await,
                // Closed by the device, or the connection failed.
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
            },
        }
    }
}

/// Closes a stream because the relay is shutting down: code 1001 (going
/// away), reason `shutting_down`. A peer that does not take the frame
/// within `limit` is left to the connection's end.
pub(crate) async fn going_away(mut socket: WebSocket, limit: Duration) {
    let frame = CloseFrame {
        code: axum::extract::ws::close_code::AWAY,
        reason: "shutting_down".into(),
    };
    let _ = tokio::time::timeout(limit, socket.send(Message::Close(Some(frame)))).await;
}

/// Closes a stream, naming why in the close frame's reason (a stable code).
pub(crate) async fn close(mut socket: WebSocket, code: &'static str) {
    let frame = CloseFrame {
        code: axum::extract::ws::close_code::POLICY,
        reason: code.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}
