//! The WebSocket push stream of a mailbox.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use tokio::sync::watch;

use crate::error::ApiError;
use crate::store::Store;
use fuin_wire::limits::MAX_FRAME_LEN;
use fuin_wire::relay::{Acknowledgement, MAX_RECORDS_PER_BATCH, MailboxBatch};
use fuin_wire::{DeliveredRecord, DeviceAddress, FrameBody, MessageId};

use super::*;

/// `GET /v1/mailbox/stream`: a WebSocket on which the relay pushes
/// `MailboxBatch` frames as envelopes arrive and the device answers with
/// `Acknowledgement` frames. Each envelope is pushed once per connection;
/// until acknowledged it stays stored, and a new connection pushes it again.
pub(crate) async fn stream<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let device = authenticate(&relay, &headers).await?;
    let token_hash = auth::bearer_hash(&headers);
    Ok(upgrade
        .max_message_size(MAX_FRAME_LEN)
        .on_upgrade(move |socket| push_mailbox(relay, device, token_hash, socket)))
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

pub(crate) async fn push_mailbox<S: Store>(
    relay: Arc<Relay<S>>,
    device: DeviceAddress<'static>,
    token_hash: Option<[u8; 32]>,
    mut socket: WebSocket,
) {
    let _open = OpenStream::new(&relay.streams);
    let wakeup = relay.wakeup(&device);
    let mut shutdown = relay.shutdown.subscribe();
    let mut pushed: HashSet<MessageId> = HashSet::new();
    // Registered before the identity is read, so a removal of the device by
    // a newer list, before or after the read, ends the stream.
    let eviction = relay.eviction(&device);
    let evicted = eviction.notified();
    tokio::pin!(evicted);
    evicted.as_mut().enable();
    let Ok(identity) = relay.store.device_identity(&device).await else {
        return close(socket, "storage_unavailable").await;
    };
    if identity.is_none() {
        return close(socket, "device_removed").await;
    }
    loop {
        if relay.is_shutting_down() {
            return going_away(socket, relay.config.shutdown_grace).await;
        }
        let notified = wakeup.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
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
            let Ok(remaining) = relay.store.one_time_remaining(&device).await else {
                return close(socket, "storage_unavailable").await;
            };
            let batch = MailboxBatch {
                records: records.into(),
                prekeys_low: remaining < relay.config.prekey_low_watermark,
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
            () = &mut evicted => {
                match relay.standing(&device, identity.as_ref(), token_hash).await {
                    Ok(standing) => {
                        if let Some(code) = standing.close_code() {
                            return close(socket, code).await;
                        }
                        evicted.set(eviction.notified());
                        evicted.as_mut().enable();
                    }
                    Err(_) => return close(socket, "storage_unavailable").await,
                }
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
