//! The HTTP API. Request and response bodies are fuin-wire frames
//! (`application/x-fuin-frame`); errors are JSON (`crate::error`). Every
//! endpoint is documented in `spec/relay-api.md`.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use ed25519_dalek::{Signature, VerifyingKey};
use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, Semaphore, watch};

use crate::config::RelayConfig;
use crate::error::ApiError;
use crate::rate::RateLimiter;
use crate::store::{MailboxTag, NewDelivery, Store};
use crate::waiters::Waiters;
use fuin_wire::limits::MAX_FRAME_LEN;
use fuin_wire::relay::{
    Acknowledgement, AuthChallenge, AuthToken, BearerToken, BundleSet, ChallengeRequest,
    ChallengeResponse, MAX_RECORDS_PER_BATCH, MailboxBatch, Nonce, PrekeyCount, PrekeyUpload,
    SendAccepted, SendBatch, relay_auth_input, relay_origin,
};
use fuin_wire::{
    DeliveredRecord, DeviceAddress, FrameBody, FrankingStamp, MessageId, PrekeyBundle,
    PublicIdentity, UserId,
};

mod accounts;
mod blobs;
mod group;
mod links;
mod reports;

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

/// A relay: its store, settings, clock, the waiters of long polls and
/// streams, and its request limits.
pub struct Relay<S> {
    store: S,
    config: RelayConfig,
    clock: Clock,
    wakeups: Arc<Waiters>,
    /// Streams and long polls of devices, by mailbox tag, to end when a
    /// newer device list removes their device.
    evictions: Waiters,
    /// Takes waiting at the link rendezvous, by channel and slot.
    link_waiters: Waiters,
    /// Per authenticated device.
    device_limits: RateLimiter<(String, u32)>,
    /// Per client address, for the endpoints without a token.
    anonymous_limits: RateLimiter<IpAddr>,
    /// Set once shutdown has begun: long polls answer, streams close.
    shutdown: watch::Sender<bool>,
    /// How many WebSocket streams are open.
    streams: watch::Sender<usize>,
    /// One permit per blob upload or download in flight.
    blob_transfers: Arc<Semaphore>,
    /// How many blob transfers wait for a permit.
    blob_transfers_queued: AtomicUsize,
    /// How many long polls and streams have looked at their mailbox, found
    /// nothing new, and wait for a wake-up.
    mail_waiters: AtomicUsize,
    /// The origins a login signature may name (normalised); see
    /// [`RelayConfig::origins`].
    origins: RwLock<Vec<String>>,
}

impl<S: Store> Relay<S> {
    /// A relay over `store`. If the store is shared with other relay nodes,
    /// their sends wake this relay's waiters too (see [`crate::store::wake`]).
    pub fn new(store: S, config: RelayConfig, clock: Clock) -> Arc<Self> {
        let device_limits = RateLimiter::new(
            config.requests_per_second,
            config.request_burst,
            config.max_rate_buckets,
        );
        let anonymous_limits = RateLimiter::new(
            config.anonymous_requests_per_second,
            config.anonymous_request_burst,
            config.max_rate_buckets,
        );
        let blob_transfers = Arc::new(Semaphore::new(config.max_blob_transfers.max(1)));
        let wakeups = Arc::new(Waiters::default());
        let origins = RwLock::new(normalise_origins(&config.origins));
        let remote = wakeups.clone();
        store.set_remote_waker(Arc::new(move |wakeup| remote.wake(wakeup)));
        Arc::new(Self {
            store,
            config,
            clock,
            wakeups,
            evictions: Waiters::default(),
            link_waiters: Waiters::default(),
            device_limits,
            anonymous_limits,
            shutdown: watch::Sender::new(false),
            streams: watch::Sender::new(0),
            blob_transfers,
            blob_transfers_queued: AtomicUsize::new(0),
            mail_waiters: AtomicUsize::new(0),
            origins,
        })
    }

    /// The origins a login signature may name.
    pub fn origins(&self) -> Vec<String> {
        self.origins
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sets the relay's origin to `origin` if none was configured: what
    /// [`crate::serve_with`] does with the address it serves on. Returns
    /// whether it was set.
    pub fn default_origin(&self, origin: &str) -> bool {
        let mut origins = self.origins.write().unwrap_or_else(PoisonError::into_inner);
        match relay_origin(origin) {
            Some(origin) if origins.is_empty() => {
                origins.push(origin);
                true
            }
            _ => false,
        }
    }

    /// Takes one request from `device`'s token bucket, or refuses with 429.
    fn admit(&self, device: &DeviceAddress<'_>) -> Result<(), ApiError> {
        let key = (device.user.as_str().to_owned(), device.device.0);
        if self.device_limits.admit(key, self.now()) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "more than {} requests a second (bursts of {})",
                self.config.requests_per_second, self.config.request_burst
            ),
        ))
    }

    /// Takes one request without a token from the bucket of the client at
    /// `client`, or refuses with 429. Without a client address (a router
    /// served without connection info) all such requests share one bucket.
    fn admit_anonymous(&self, client: Option<IpAddr>) -> Result<(), ApiError> {
        let key = client.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), client_key);
        if self.anonymous_limits.admit(key, self.now()) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "more than {} requests without a token a second from this address \
                 (bursts of {})",
                self.config.anonymous_requests_per_second, self.config.anonymous_request_burst
            ),
        ))
    }

    /// The settings.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// Begins shutdown: every waiting long poll answers at once with what
    /// is there, later ones do not wait, and every stream closes with code
    /// 1001 (going away).
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Resolves once no WebSocket stream is open.
    pub async fn streams_closed(&self) {
        let mut streams = self.streams.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = streams.wait_for(|open| *open == 0).await;
    }

    /// How many mailboxes have a wake-up handle in memory (for tests).
    pub fn wakeup_handles(&self) -> usize {
        self.wakeups.len()
    }

    /// How many client addresses and devices have a rate bucket in memory
    /// (for tests).
    pub fn rate_buckets(&self) -> (usize, usize) {
        (self.anonymous_limits.len(), self.device_limits.len())
    }

    /// How many long polls and push streams have found nothing new in their
    /// mailbox and wait for a wake-up (for tests: a send made after this
    /// counts one can reach them only by waking them).
    pub fn mail_waiters(&self) -> usize {
        self.mail_waiters.load(Ordering::SeqCst)
    }

    /// How many blob transfers hold a permit, and how many wait for one
    /// (for tests).
    pub fn blob_transfers(&self) -> (usize, usize) {
        let limit = self.config.max_blob_transfers.max(1);
        (
            limit.saturating_sub(self.blob_transfers.available_permits()),
            self.blob_transfers_queued.load(Ordering::SeqCst),
        )
    }

    /// The store (for the binary's maintenance tasks and for tests).
    pub fn store(&self) -> &S {
        &self.store
    }

    fn now(&self) -> u64 {
        (self.clock)()
    }

    /// The wake-up handle of `address`'s mailbox, for a waiter to hold.
    fn wakeup(&self, address: &DeviceAddress<'_>) -> Arc<Notify> {
        self.wakeups.handle(self.store.mailbox_tag(address))
    }

    /// Wakes whatever waits on `address`'s mailbox. A mailbox without a
    /// handle has no waiter (a waiter takes its handle before it looks), so
    /// none is made for it.
    fn notify_mailbox(&self, address: &DeviceAddress<'_>) {
        self.wakeups.wake(crate::store::Wakeup::Mailbox(
            self.store.mailbox_tag(address),
        ));
    }

    /// Ends the streams and long polls of `address`, a device a newer list
    /// removed (each checks that its device is gone before it ends).
    fn evict(&self, address: &DeviceAddress<'_>) {
        self.evictions
            .wake(crate::store::Wakeup::Mailbox(MailboxTag::of(address)));
        self.notify_mailbox(address);
    }

    /// The handle a stream or long poll of `address` waits on for its
    /// device's removal.
    fn eviction(&self, address: &DeviceAddress<'_>) -> Arc<Notify> {
        self.evictions.handle(MailboxTag::of(address))
    }

    /// Whether `address` is still registered with `identity`: a device a
    /// newer list removed (or gave another identity) is not.
    async fn still_registered(
        &self,
        address: &DeviceAddress<'_>,
        identity: Option<&PublicIdentity>,
    ) -> Result<bool, crate::store::StoreError> {
        let current = self.store.device_identity(address).await?;
        Ok(current.is_some() && current.as_ref() == identity)
    }

    /// Deletes expired envelopes, challenges, tokens, blobs and reports, then
    /// makes the deletions (and the acknowledgements since the last sweep)
    /// final on disk. Also forgets rate buckets that have refilled and
    /// wake-up handles no one holds.
    pub async fn sweep(&self) -> Result<u64, crate::store::StoreError> {
        let now = self.now();
        self.device_limits.prune(now);
        self.anonymous_limits.prune(now);
        self.wakeups.prune();
        self.evictions.prune();
        self.link_waiters.prune();
        let expired = self.store.expire(now).await?;
        self.store.checkpoint().await?;
        Ok(expired)
    }
}

/// Each origin normalised; those that are not an origin are left out.
fn normalise_origins(origins: &[String]) -> Vec<String> {
    let mut normalised: Vec<String> = origins
        .iter()
        .filter_map(|origin| relay_origin(origin))
        .collect();
    normalised.dedup();
    normalised
}

/// The key of a client address's rate bucket: an IPv4 address, or the
/// /64 prefix of an IPv6 one (a host usually holds a whole /64).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = v6.to_bits() & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from_bits(prefix))
        }
        v4 => v4,
    }
}

/// The rate limit of the endpoints without a token, checked before the body
/// is read. The client address comes from the connection (`ConnectInfo`).
async fn limit_anonymous<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    request: Request,
    next: Next,
) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    if let Err(refused) = relay.admit_anonymous(client) {
        return refused.into_response();
    }
    next.run(request).await
}

/// The API's routes over `relay`. Serve it with connection info
/// (`ConnectInfo<SocketAddr>`, as [`crate::serve`] does) for the per-address
/// limit on the endpoints without a token.
pub fn router<S: Store>(relay: Arc<Relay<S>>) -> Router {
    let limited = || middleware::from_fn_with_state(relay.clone(), limit_anonymous::<S>);
    Router::new()
        .route(
            "/v1/accounts",
            post(accounts::create::<S>).route_layer(limited()),
        )
        .route(
            "/v1/devices",
            post(accounts::register::<S>).route_layer(limited()),
        )
        .route("/v1/account/devices", put(accounts::publish::<S>))
        .route(
            "/v1/link/{channel}/{slot}",
            put(links::leave::<S>)
                .get(links::take::<S>)
                .route_layer(limited()),
        )
        .route(
            "/v1/auth/challenge",
            post(challenge::<S>).route_layer(limited()),
        )
        .route("/v1/auth/token", post(token::<S>).route_layer(limited()))
        .route("/v1/auth/token", delete(revoke::<S>))
        .route("/v1/prekeys", put(publish_prekeys::<S>))
        .route("/v1/prekeys/count", get(get_prekey_count::<S>))
        .route("/v1/users/{user}/bundles", get(bundles::<S>))
        .route("/v1/users/{user}/devices", get(accounts::list::<S>))
        .route("/v1/messages", post(send::<S>))
        .route("/v1/groups/messages", post(group::send::<S>))
        .route("/v1/mailbox", get(fetch::<S>))
        .route("/v1/mailbox/ack", post(acknowledge::<S>))
        .route("/v1/mailbox/stream", get(stream::<S>))
        .route(
            "/v1/blobs/{blob_id}",
            put(blobs::upload::<S>).get(blobs::download::<S>),
        )
        .route("/v1/reports", post(reports::submit::<S>))
        .route("/v1/moderation/reports", get(reports::pull::<S>))
        .route(
            "/v1/moderation/reports/ack",
            post(reports::acknowledge::<S>),
        )
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

/// `lifetime` after `now_ms`, in ms (saturating).
fn later(now_ms: u64, lifetime: Duration) -> u64 {
    now_ms.saturating_add(u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX))
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
    let expires_at_ms = later(relay.now(), relay.config.challenge_lifetime);
    relay
        .store
        .put_challenge_bounded(
            &request.address,
            nonce.0,
            expires_at_ms,
            relay.config.max_outstanding_challenges,
        )
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
    let signature = Signature::from_bytes(&response.signature.0);
    // The input binds the relay's origin, so an answer to a challenge that
    // another relay passed on (signed for that relay's origin) fails here.
    let signed_for_this_relay = relay.origins().iter().any(|origin| {
        key.verify_strict(
            &relay_auth_input(origin, &response.address, &response.nonce),
            &signature,
        )
        .is_ok()
    });
    if !signed_for_this_relay {
        return Err(refused());
    }
    let token = BearerToken(random());
    let expires_at_ms = later(relay.now(), relay.config.token_lifetime);
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
        .publish_prekeys_within_quota(
            &device,
            upload.signed_prekey.as_ref(),
            upload.one_time_prekeys.as_slice(),
            relay.config.max_prekey_pool,
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

#[derive(serde::Deserialize)]
struct BundleParams {
    /// Only this device's bundle.
    device: Option<u32>,
}

fn path_user(user: String) -> Result<UserId<'static>, ApiError> {
    UserId::new(user)
        .map_err(|err| ApiError::new(StatusCode::BAD_REQUEST, "invalid_user_id", err.to_string()))
}

async fn bundles<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    headers: HeaderMap,
    Path(user): Path<String>,
    params: Result<Query<BundleParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    authenticate(&relay, &headers).await?;
    let user = path_user(user)?;
    let Query(params) = params.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "device must be a device id (a u32)",
        )
    })?;
    let mut bundles = Vec::new();
    let devices = relay.store.user_devices(&user).await?;
    let devices = devices
        .into_iter()
        .filter(|device| params.device.is_none_or(|only| device.0 == only));
    for device in devices {
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
    deliver_stamped(&relay, &sender, batch.envelopes.into_vec()).await
}

/// What a send and a group fan-out share: checks that every recipient is
/// registered, stamps one `Delivered` record per envelope (one clock reading
/// for all), stores them all in one write under the mailbox quota, wakes the
/// recipients' waiters once it is durable, and answers `SendAccepted`.
async fn deliver_stamped<S: Store>(
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
    // The answer is made before anything is stored: a send the relay could
    // not answer is refused whole, never stored and then refused.
    let answer = encode(&SendAccepted {
        server_time_ms,
        message_ids: message_ids.into(),
    })?;
    let recipients: Vec<_> = deliveries.iter().map(|d| d.recipient.clone()).collect();
    relay
        .store
        .deliver_within_quota(deliveries, relay.config.max_mailbox_envelopes)
        .await?;
    for recipient in &recipients {
        relay.notify_mailbox(recipient);
    }
    Ok(answer)
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
    let mut shutdown = relay.shutdown.subscribe();
    // Registered before the device's identity is read: a removal after the
    // read wakes it, one before makes the check fail.
    let eviction = relay.eviction(&device);
    let evicted = eviction.notified();
    tokio::pin!(evicted);
    evicted.as_mut().enable();
    let identity = relay.store.device_identity(&device).await?;
    let stored = loop {
        // Register for a wakeup before looking, so none is missed between.
        let notified = wakeup.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let stored = relay
            .store
            .fetch(&device, MAX_RECORDS_PER_BATCH, relay.now())
            .await?;
        if !stored.is_empty() || tokio::time::Instant::now() >= deadline || relay.is_shutting_down()
        {
            break stored;
        }
        let _waiting = Counted::new(&relay.mail_waiters);
        tokio::select! {
            _ = tokio::time::timeout_at(deadline, notified) => {}
            () = shutting_down(&mut shutdown) => {}
            () = &mut evicted => {
                if !relay.still_registered(&device, identity.as_ref()).await? {
                    // Its tokens and mailbox are gone with it.
                    return Err(ApiError::unauthorized());
                }
                evicted.set(eviction.notified());
                evicted.as_mut().enable();
            }
        }
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

/// Resolves once shutdown has begun.
async fn shutting_down(shutdown: &mut watch::Receiver<bool>) {
    // The sender lives in the relay, which the caller holds.
    let _ = shutdown.wait_for(|down| *down).await;
}

/// Counts an open stream for as long as it lives.
struct OpenStream<'a>(&'a watch::Sender<usize>);

impl<'a> OpenStream<'a> {
    fn new(streams: &'a watch::Sender<usize>) -> Self {
        streams.send_modify(|open| *open += 1);
        Self(streams)
    }
}

impl Drop for OpenStream<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|open| *open = open.saturating_sub(1));
    }
}

/// Counts one more in a gauge for as long as it lives.
pub(crate) struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    pub(crate) fn new(gauge: &'a AtomicUsize) -> Self {
        gauge.fetch_add(1, Ordering::SeqCst);
        Self(gauge)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn push_mailbox<S: Store>(
    relay: Arc<Relay<S>>,
    device: DeviceAddress<'static>,
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
                match relay.still_registered(&device, identity.as_ref()).await {
                    Ok(true) => {
                        evicted.set(eviction.notified());
                        evicted.as_mut().enable();
                    }
                    Ok(false) => return close(socket, "device_removed").await,
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
async fn going_away(mut socket: WebSocket, limit: Duration) {
    let frame = CloseFrame {
        code: axum::extract::ws::close_code::AWAY,
        reason: "shutting_down".into(),
    };
    let _ = tokio::time::timeout(limit, socket.send(Message::Close(Some(frame)))).await;
}

/// Closes a stream, naming why in the close frame's reason (a stable code).
async fn close(mut socket: WebSocket, code: &'static str) {
    let frame = CloseFrame {
        code: axum::extract::ws::close_code::POLICY,
        reason: code.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}
