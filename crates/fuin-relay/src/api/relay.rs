//! The relay's state: its store, settings, clock, waiters and request
//! limits, and the admission checks every request passes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{Notify, Semaphore, watch};

use crate::blobs::{BlobStore, MemoryBlobStore};
use crate::config::RelayConfig;
use crate::error::ApiError;
use crate::rate::RateLimiter;
use crate::store::{Store, Wakeup};
use crate::waiters::Waiters;
use fuin_wire::relay::relay_origin;
use fuin_wire::{DeviceAddress, PublicIdentity};

use super::*;

/// A relay: its store, settings, clock, the waiters of long polls and
/// streams, and its request limits.
pub struct Relay<S> {
    pub(crate) store: S,
    /// Where blob bytes are; the store keeps their records.
    pub(crate) blobs: Arc<dyn BlobStore>,
    pub(crate) config: RelayConfig,
    pub(crate) clock: Clock,
    pub(crate) wakeups: Arc<Waiters>,
    /// Streams and long polls of devices, by mailbox tag, to look whether
    /// they may go on when their device's tokens are revoked or a newer
    /// device list removes it (see [`super::session`]).
    pub(crate) evictions: Arc<Waiters>,
    /// Woken by every sweep: streams and long polls compare their token's
    /// expiry with the relay's clock.
    pub(crate) expiry_checks: Notify,
    /// The open streams of each device, under `max_streams_per_device`.
    pub(crate) stream_slots: super::stream_slots::StreamSlots,
    /// The open connections, under `max_connections` and
    /// `max_connections_per_address`.
    pub(crate) connections: Arc<crate::connection_limits::ConnectionLimits>,
    /// Takes waiting at the link rendezvous, by channel and slot.
    pub(crate) link_waiters: Waiters,
    /// Per authenticated device.
    pub(crate) device_limits: RateLimiter<(String, u32)>,
    /// Per client address, for the endpoints without a token.
    pub(crate) anonymous_limits: RateLimiter<IpAddr>,
    /// Per account (user): all its devices together.
    pub(crate) account_limits: RateLimiter<String>,
    /// Set once shutdown has begun: long polls answer, streams close.
    pub(crate) shutdown: watch::Sender<bool>,
    /// How many WebSocket streams are open.
    pub(crate) streams: watch::Sender<usize>,
    /// One permit per blob upload or download in flight.
    pub(crate) blob_transfers: Arc<Semaphore>,
    /// How many blob transfers wait for a permit.
    pub(crate) blob_transfers_queued: AtomicUsize,
    /// How many long polls and streams have looked at their mailbox, found
    /// nothing new, and wait for a wake-up.
    pub(crate) mail_waiters: AtomicUsize,
    /// The origins a login signature may name (normalised); see
    /// [`RelayConfig::origins`].
    pub(crate) origins: RwLock<Vec<String>>,
}

impl<S: Store> Relay<S> {
    /// A relay over `store` that keeps blob bytes in memory (for tests and
    /// demos: they end with the process); see [`Relay::with_blob_store`].
    pub fn new(store: S, config: RelayConfig, clock: Clock) -> Arc<Self> {
        Self::with_blob_store(store, Arc::new(MemoryBlobStore::default()), config, clock)
    }

    /// A relay over `store`, with blob bytes in `blobs`. If the store is
    /// shared with other relay nodes, their sends wake this relay's waiters
    /// too (see [`crate::store::wake`]); their blob store must then be
    /// shared too.
    pub fn with_blob_store(
        store: S,
        blobs: Arc<dyn BlobStore>,
        config: RelayConfig,
        clock: Clock,
    ) -> Arc<Self> {
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
        let account_limits = RateLimiter::new(
            config.account_requests_per_second,
            config.account_request_burst,
            config.max_rate_buckets,
        );
        let blob_transfers = Arc::new(Semaphore::new(config.max_blob_transfers.max(1)));
        let wakeups = Arc::new(Waiters::default());
        let origins = RwLock::new(normalise_origins(&config.origins));
        let evictions = Arc::new(Waiters::default());
        let (remote, remote_evictions) = (wakeups.clone(), evictions.clone());
        store.set_remote_waker(Arc::new(move |wakeup| match wakeup {
            Wakeup::Mailbox(_) => remote.wake(wakeup),
            Wakeup::Device(_) => remote_evictions.wake(wakeup),
            Wakeup::All => {
                remote.wake(wakeup);
                remote_evictions.wake(wakeup);
            }
        }));
        let stream_slots = super::stream_slots::StreamSlots::new(config.max_streams_per_device);
        let connections = crate::connection_limits::ConnectionLimits::new(
            config.max_connections,
            config.max_connections_per_address,
        );
        Arc::new(Self {
            store,
            blobs,
            config,
            clock,
            wakeups,
            evictions,
            expiry_checks: Notify::new(),
            stream_slots,
            connections,
            link_waiters: Waiters::default(),
            device_limits,
            anonymous_limits,
            account_limits,
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

    /// Takes one request from `device`'s token bucket and one from its
    /// account's, or refuses with 429.
    pub(crate) fn admit(&self, device: &DeviceAddress<'_>) -> Result<(), ApiError> {
        let now = self.now();
        let key = (device.user.as_str().to_owned(), device.device.0);
        if !self.device_limits.admit(key, now) {
            crate::metrics::rate_limited("device");
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "more than {} requests a second (bursts of {})",
                    self.config.requests_per_second, self.config.request_burst
                ),
            ));
        }
        if self
            .account_limits
            .admit(device.user.as_str().to_owned(), now)
        {
            return Ok(());
        }
        crate::metrics::rate_limited("account");
        Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "more than {} requests a second from this account's devices together \
                 (bursts of {})",
                self.config.account_requests_per_second, self.config.account_request_burst
            ),
        ))
    }

    /// Takes one request without a token from the bucket of the client at
    /// `client`, or refuses with 429. Without a client address (a router
    /// served without connection info) all such requests share one bucket.
    pub(crate) fn admit_anonymous(&self, client: Option<IpAddr>) -> Result<(), ApiError> {
        let key = client.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), client_key);
        if self.anonymous_limits.admit(key, self.now()) {
            return Ok(());
        }
        crate::metrics::rate_limited("anonymous");
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

    /// How many accounts have a rate bucket in memory (for tests).
    pub fn account_rate_buckets(&self) -> usize {
        self.account_limits.len()
    }

    /// How many connections are open (for tests).
    pub fn open_connections(&self) -> usize {
        self.connections.open()
    }

    /// How many WebSocket streams `device` has open (for tests).
    pub fn device_streams(&self, device: &DeviceAddress<'_>) -> usize {
        self.stream_slots.open_streams(device)
    }

    /// Revokes every token of `device` and ends, at once, the streams and
    /// long polls opened with them: on this node directly, on the others
    /// sharing the store through it (PostgreSQL `NOTIFY`).
    pub async fn revoke_tokens(
        &self,
        device: &DeviceAddress<'_>,
    ) -> Result<u64, crate::store::StoreError> {
        let revoked = self.store.revoke_tokens(device).await?;
        self.evictions
            .wake(Wakeup::Device(self.store.mailbox_tag(device)));
        Ok(revoked)
    }

    /// The client a request comes from: the connection's peer, or, behind a
    /// trusted proxy, whom its `X-Forwarded-For` names (see
    /// [`crate::forwarded`]). `None` for a router served without connection
    /// info.
    pub(crate) fn client_address(&self, request: &Request) -> Option<IpAddr> {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip())?;
        Some(crate::forwarded::client_address(
            peer,
            request.headers(),
            &self.config.trusted_proxies,
        ))
    }

    /// Whether `peer` is one of the trusted proxies.
    pub(crate) fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.config
            .trusted_proxies
            .iter()
            .any(|proxy| proxy.contains(peer))
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

    pub(crate) fn now(&self) -> u64 {
        (self.clock)()
    }

    /// The wake-up handle of `address`'s mailbox, for a waiter to hold.
    pub(crate) fn wakeup(&self, address: &DeviceAddress<'_>) -> Arc<Notify> {
        self.wakeups.handle(self.store.mailbox_tag(address))
    }

    /// Wakes whatever waits on `address`'s mailbox. A mailbox without a
    /// handle has no waiter (a waiter takes its handle before it looks), so
    /// none is made for it.
    pub(crate) fn notify_mailbox(&self, address: &DeviceAddress<'_>) {
        self.wakeups.wake(crate::store::Wakeup::Mailbox(
            self.store.mailbox_tag(address),
        ));
    }

    /// Ends the streams and long polls of `address`, a device a newer list
    /// removed (each checks that its device is gone before it ends).
    pub(crate) fn evict(&self, address: &DeviceAddress<'_>) {
        self.evictions
            .wake(Wakeup::Device(self.store.mailbox_tag(address)));
        self.notify_mailbox(address);
    }

    /// The handle a stream or long poll of `address` waits on for its
    /// device's removal or the revocation of its tokens. Filed under the
    /// store's tag, which other nodes' wake-ups name.
    pub(crate) fn eviction(&self, address: &DeviceAddress<'_>) -> Arc<Notify> {
        self.evictions.handle(self.store.mailbox_tag(address))
    }

    /// Whether `address` is still registered with `identity`: a device a
    /// newer list removed (or gave another identity) is not.
    pub(crate) async fn still_registered(
        &self,
        address: &DeviceAddress<'_>,
        identity: Option<&PublicIdentity>,
    ) -> Result<bool, crate::store::StoreError> {
        let current = self.store.device_identity(address).await?;
        Ok(current.is_some() && current.as_ref() == identity)
    }

    /// The blob store.
    pub fn blob_store(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    /// Deletes expired envelopes, challenges, tokens, blobs and reports, then
    /// makes the deletions (and the acknowledgements since the last sweep)
    /// final on disk, and deletes the objects of the blob store that have
    /// had no record for `blob_orphan_grace` (by the system clock, which
    /// object times are in). Also forgets rate buckets that have refilled
    /// and wake-up handles no one holds.
    pub async fn sweep(&self) -> Result<u64, crate::store::StoreError> {
        let now = self.now();
        self.device_limits.prune(now);
        self.anonymous_limits.prune(now);
        self.account_limits.prune(now);
        // Streams and long polls whose token expired by the relay's clock
        // end now, even if that clock jumped past their timers.
        self.expiry_checks.notify_waiters();
        self.wakeups.prune();
        self.evictions.prune();
        self.link_waiters.prune();
        let expired = self.store.expire(now).await?;
        self.store.checkpoint().await?;
        let cutoff = std::time::SystemTime::now()
            .checked_sub(self.config.blob_orphan_grace)
            .unwrap_or(std::time::UNIX_EPOCH);
        crate::blobs::sweep_orphans(&self.store, self.blobs.as_ref(), cutoff).await?;
        Ok(expired)
    }
}

/// Each origin normalised; those that are not an origin are left out.
pub(crate) fn normalise_origins(origins: &[String]) -> Vec<String> {
    let mut normalised: Vec<String> = origins
        .iter()
        .filter_map(|origin| relay_origin(origin))
        .collect();
    normalised.dedup();
    normalised
}

/// The key of a client address's rate bucket: an IPv4 address, or the
/// /64 prefix of an IPv6 one (a host usually holds a whole /64).
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
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
pub(crate) async fn limit_anonymous<S: Store>(
    State(relay): State<Arc<Relay<S>>>,
    request: Request,
    next: Next,
) -> Response {
    let client = relay.client_address(&request);
    if let Err(refused) = relay.admit_anonymous(client) {
        return refused.into_response();
    }
    next.run(request).await
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
