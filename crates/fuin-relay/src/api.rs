//! The HTTP API. Request and response bodies are fuin-wire frames
//! (`application/x-fuin-frame`); errors are JSON (`crate::error`). Every
//! endpoint is documented in `spec/relay-api.md`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use ed25519_dalek::{Signature, VerifyingKey};
use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::config::RelayConfig;
use crate::error::ApiError;
use crate::store::{NewDelivery, Registration, Store};
use crate::waiters::Waiters;
use fuin_wire::limits::MAX_FRAME_LEN;
use fuin_wire::relay::{
    Acknowledgement, AuthChallenge, AuthToken, BearerToken, BundleSet, ChallengeRequest,
    ChallengeResponse, DeviceRegistration, MAX_DEVICES_PER_USER, MAX_RECORDS_PER_BATCH,
    MailboxBatch, Nonce, PrekeyCount, PrekeyUpload, SendAccepted, SendBatch, relay_auth_input,
};
use fuin_wire::{
    DeliveredRecord, DeviceAddress, FrameBody, FrankingStamp, MessageId, PrekeyBundle, UserId,
};

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

/// A relay: its store, settings, clock and the waiters of long polls.
pub struct Relay<S> {
    store: S,
    config: RelayConfig,
    clock: Clock,
    wakeups: Arc<Waiters>,
    /// Per device: tokens left and when they were last counted (ms).
    buckets: Mutex<HashMap<(String, u32), (f64, u64)>>,
}

impl<S: Store> Relay<S> {
    /// A relay over `store`. If the store is shared with other relay nodes,
    /// their sends wake this relay's waiters too (see [`crate::store::wake`]).
    pub fn new(store: S, config: RelayConfig, clock: Clock) -> Arc<Self> {
        let wakeups = Arc::new(Waiters::default());
        let remote = wakeups.clone();
        store.set_remote_waker(Arc::new(move |wakeup| remote.wake(wakeup)));
        Arc::new(Self {
            store,
            config,
            clock,
            wakeups,
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one request from `device`'s token bucket, or refuses with 429.
    fn admit(&self, device: &DeviceAddress<'_>) -> Result<(), ApiError> {
        let now = self.now();
        let rate = f64::from(self.config.requests_per_second);
        let burst = f64::from(self.config.request_burst);
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, last) = buckets
            .entry((device.user.as_str().to_owned(), device.device.0))
            .or_insert((burst, now));
        let elapsed_s = now.saturating_sub(*last) as f64 / 1000.0;
        *tokens = (*tokens + elapsed_s * rate).min(burst);
        *last = now;
        if *tokens < 1.0 {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "more than {} requests a second (bursts of {})",
                    self.config.requests_per_second, self.config.request_burst
                ),
            ));
        }
        *tokens -= 1.0;
        Ok(())
    }

    /// The store (for the binary's maintenance tasks and for tests).
    pub fn store(&self) -> &S {
        &self.store
    }

    fn now(&self) -> u64 {
        (self.clock)()
    }

    fn wakeup(&self, address: &DeviceAddress<'_>) -> Arc<Notify> {
        self.wakeups.handle(self.store.mailbox_tag(address))
    }

    /// Deletes expired envelopes, challenges and tokens, then makes the
    /// deletions (and the acknowledgements since the last sweep) final on disk.
    pub async fn sweep(&self) -> Result<u64, crate::store::StoreError> {
        let expired = self.store.expire(self.now()).await?;
        self.store.checkpoint().await?;
        Ok(expired)
    }
}

/// The API's routes over `relay`.
pub fn router<S: Store>(relay: Arc<Relay<S>>) -> Router {
    Router::new()
        .route("/v1/devices", post(register::<S>))
        .route("/v1/auth/challenge", post(challenge::<S>))
        .route("/v1/auth/token", post(token::<S>))
        .route("/v1/auth/token", delete(revoke::<S>))
        .route("/v1/prekeys", put(publish_prekeys::<S>))
        .route("/v1/prekeys/count", get(get_prekey_count::<S>))
        .route("/v1/users/{user}/bundles", get(bundles::<S>))
        .route("/v1/messages", post(send::<S>))
        .route("/v1/mailbox", get(fetch::<S>))
        .route("/v1/mailbox/ack", post(acknowledge::<S>))
        .route("/v1/mailbox/stream", get(stream::<S>))
        // One byte over the frame limit reaches the decoder, which names it.
        .layer(DefaultBodyLimit::max(MAX_FRAME_LEN + 1))
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
        .with_state(relay)
}

fn frame_response(status: StatusCode, bytes: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, FRAME_MEDIA_TYPE)], bytes).into_response()
}

fn encode<'a, T: FrameBody<'a>>(body: &T) -> Result<Response, ApiError> {
    Ok(frame_response(StatusCode::OK, body.to_bytes()?))
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
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

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// The device a request's bearer token belongs to, if it is within its
/// request rate.
async fn authenticate<S: Store>(
    relay: &Relay<S>,
    headers: &HeaderMap,
) -> Result<DeviceAddress<'static>, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(ApiError::unauthorized)?;
    let mut token = [0u8; 32];
    hex::decode_to_slice(value, &mut token).map_err(|_| ApiError::unauthorized())?;
    let hash: [u8; 32] = Sha256::digest(token).into();
    zeroize::Zeroize::zeroize(&mut token);
    let device = relay
        .store
        .token_owner(hash, relay.now())
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    relay.admit(&device)?;
    Ok(device)
}

async fn register<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let registration = DeviceRegistration::from_bytes(&body)?;
    let devices = relay.store.user_devices(&registration.address.user).await?;
    if !devices.contains(&registration.address.device) && devices.len() >= MAX_DEVICES_PER_USER {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_devices",
            format!("a user may have at most {MAX_DEVICES_PER_USER} devices"),
        ));
    }
    let outcome = relay
        .store
        .register_device(&registration.address, &registration.identity, relay.now())
        .await?;
    let status = match outcome {
        Registration::Created => StatusCode::CREATED,
        Registration::AlreadyRegistered => StatusCode::OK,
    };
    Ok(status.into_response())
}

async fn challenge<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let request = ChallengeRequest::from_bytes(&body)?;
    if relay
        .store
        .device_identity(&request.address)
        .await?
        .is_none()
    {
        return Err(crate::store::StoreError::UnknownDevice.into());
    }
    let nonce = Nonce(random());
    let expires_at_ms = relay.now() + relay.config.challenge_lifetime.as_millis() as u64;
    relay
        .store
        .put_challenge(&request.address, nonce.0, expires_at_ms)
        .await?;
    encode(&AuthChallenge {
        nonce,
        expires_at_ms,
    })
}

async fn token<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let response = ChallengeResponse::from_bytes(&body)?;
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "challenge_failed",
            "the challenge is unknown, used, expired, or not signed by the device",
        )
    };
    // Taken first: a challenge is spent whether or not the signature holds.
    let fresh = relay
        .store
        .take_challenge(&response.address, response.nonce.0, relay.now())
        .await?;
    let identity = relay.store.device_identity(&response.address).await?;
    let (true, Some(identity)) = (fresh, identity) else {
        return Err(refused());
    };
    let key = VerifyingKey::from_bytes(&identity.signing_key.0).map_err(|_| refused())?;
    key.verify_strict(
        &relay_auth_input(&response.address, &response.nonce),
        &Signature::from_bytes(&response.signature.0),
    )
    .map_err(|_| refused())?;
    let token = BearerToken(random());
    let expires_at_ms = relay.now() + relay.config.token_lifetime.as_millis() as u64;
    relay
        .store
        .put_token(
            Sha256::digest(token.0).into(),
            &response.address,
            expires_at_ms,
        )
        .await?;
    encode(&AuthToken {
        token,
        expires_at_ms,
    })
}

async fn revoke<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let device = authenticate(&relay, &headers).await?;
    relay.store.revoke_tokens(&device).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn prekey_count<S: Store>(relay: &Relay<S>, remaining: u32) -> PrekeyCount {
    PrekeyCount {
        one_time_prekeys: remaining,
        low: remaining < relay.config.prekey_low_watermark,
    }
}

async fn publish_prekeys<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let device = authenticate(&relay, &headers).await?;
    let body = body_bytes(body)?;
    let upload = PrekeyUpload::from_bytes(&body)?;
    let remaining = relay
        .store
        .publish_prekeys(
            &device,
            upload.signed_prekey.as_ref(),
            upload.one_time_prekeys.as_slice(),
        )
        .await?;
    encode(&prekey_count(&relay, remaining))
}

async fn get_prekey_count<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let device = authenticate(&relay, &headers).await?;
    let remaining = relay.store.one_time_remaining(&device).await?;
    encode(&prekey_count(&relay, remaining))
}

async fn bundles<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    headers: HeaderMap,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    authenticate(&relay, &headers).await?;
    let user = UserId::new(user).map_err(|err| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_user_id", err.to_string())
    })?;
    let mut bundles = Vec::new();
    for device in relay.store.user_devices(&user).await? {
        let address = DeviceAddress::new(user.clone(), device);
        if let Some(taken) = relay.store.take_bundle(&address).await? {
            bundles.push(PrekeyBundle {
                address,
                identity: taken.identity,
                signed_prekey: taken.signed_prekey,
                one_time_prekey: taken.one_time_prekey,
            });
        }
    }
    if bundles.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_bundles",
            "the user has no device with published prekeys",
        ));
    }
    encode(&BundleSet {
        bundles: bundles.into(),
    })
}

async fn send<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let sender = authenticate(&relay, &headers).await?;
    let body = body_bytes(body)?;
    let batch = SendBatch::from_bytes(&body)?;
    if batch.envelopes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_send",
            "a send carries at least one envelope",
        ));
    }
    for envelope in batch.envelopes.as_slice() {
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
    let expires_at_ms = server_time_ms + relay.config.envelope_lifetime.as_millis() as u64;
    let mut deliveries = Vec::with_capacity(batch.envelopes.len());
    let mut message_ids = Vec::with_capacity(batch.envelopes.len());
    for envelope in batch.envelopes.into_vec() {
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
    let recipients: Vec<_> = deliveries.iter().map(|d| d.recipient.clone()).collect();
    relay.store.deliver(deliveries).await?;
    for recipient in &recipients {
        relay.wakeup(recipient).notify_waiters();
    }
    encode(&SendAccepted {
        server_time_ms,
        message_ids: message_ids.into(),
    })
}

#[derive(serde::Deserialize)]
struct FetchParams {
    /// How long to wait for an envelope if the mailbox is empty, in ms.
    wait_ms: Option<u64>,
}

async fn fetch<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    headers: HeaderMap,
    params: Result<Query<FetchParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let device = authenticate(&relay, &headers).await?;
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
    let stored = loop {
        // Register for a wakeup before looking, so none is missed between.
        let notified = wakeup.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let stored = relay
            .store
            .fetch(&device, MAX_RECORDS_PER_BATCH, relay.now())
            .await?;
        if !stored.is_empty() || tokio::time::Instant::now() >= deadline {
            break stored;
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
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
    let remaining = relay.store.one_time_remaining(&device).await?;
    let batch = MailboxBatch {
        records: records.into(),
        prekeys_low: remaining < relay.config.prekey_low_watermark,
    };
    encode(&batch)
}

async fn acknowledge<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let device = authenticate(&relay, &headers).await?;
    let body = body_bytes(body)?;
    let ack = Acknowledgement::from_bytes(&body)?;
    relay
        .store
        .acknowledge(&device, ack.message_ids.as_slice())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v1/mailbox/stream`: a WebSocket on which the relay pushes
/// `MailboxBatch` frames as envelopes arrive and the device answers with
/// `Acknowledgement` frames. Each envelope is pushed once per connection;
/// until acknowledged it stays stored, and a new connection pushes it again.
async fn stream<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let device = authenticate(&relay, &headers).await?;
    Ok(upgrade
        .max_message_size(MAX_FRAME_LEN)
        .on_upgrade(move |socket| push_mailbox(relay, device, socket)))
}

async fn push_mailbox<S: Store>(
    relay: Arc<Relay<S>>,
    device: DeviceAddress<'static>,
    mut socket: WebSocket,
) {
    let wakeup = relay.wakeup(&device);
    let mut pushed: HashSet<MessageId> = HashSet::new();
    loop {
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
        tokio::select! {
            _ = &mut notified => {}
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

/// Closes a stream, naming why in the close frame's reason (a stable code).
async fn close(mut socket: WebSocket, code: &'static str) {
    let frame = CloseFrame {
        code: axum::extract::ws::close_code::POLICY,
        reason: code.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}
