//! A relay on loopback for the tests: the real server over HTTP, on an
//! SQLite file in a temporary directory, with its blobs in the directory
//! next to it. It serves blobs without checking them against their records
//! (`check_blob_reads` off), so that tests can play a relay whose store
//! hands out other bytes and see the client refuse them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fuin_client::{Client, ClientOptions, Event, EventStream, EventStreamItem};
use fuin_relay::api::system_clock;
use fuin_relay::blobs::FsBlobStore;
use fuin_relay::franking::StampKeys;
use fuin_relay::store::sqlite::SqliteStore;
use fuin_relay::{Relay, RelayConfig};
use fuin_wire::StampKeyId;
use tokio::sync::oneshot;

pub mod gate;
pub mod keys;
pub mod media;
pub mod moderation;

/// A running relay; stops when dropped.
pub struct TestRelay {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub relay: Arc<Relay<SqliteStore>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestRelay {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A relay whose settings `adjust` changes first.
    pub async fn start_with(adjust: impl FnOnce(&mut RelayConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("relay.db")).unwrap();
        let mut config = RelayConfig::new(StampKeys::new(StampKeyId(1), [9; 32]));
        config.requests_per_second = 100_000;
        config.request_burst = 100_000;
        config.anonymous_requests_per_second = 100_000;
        config.anonymous_request_burst = 100_000;
        config.account_requests_per_second = 100_000;
        config.account_request_burst = 100_000;
        // Every test device connects from loopback: one address for all.
        config.max_connections_per_address = usize::MAX;
        config.check_blob_reads = false;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        config.origins = vec![url.clone()];
        adjust(&mut config);
        let blobs = FsBlobStore::open(&dir.path().join("relay.db.blobs")).unwrap();
        let relay = Relay::with_blob_store(store, Arc::new(blobs), config, system_clock());
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = relay.clone();
        let task = tokio::spawn(async move {
            fuin_relay::serve(listener, serving, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Self {
            url,
            dir,
            relay,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn database(&self) -> PathBuf {
        self.dir.path().join("relay.db")
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

/// A place for clients' stores.
pub struct Devices {
    pub dir: tempfile::TempDir,
}

impl Devices {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, user: &str, device: u32) -> PathBuf {
        self.dir.path().join(format!("{user}-{device}.db"))
    }

    pub async fn create(&self, relay: &TestRelay, user: &str, device: u32) -> Client {
        Client::create(
            self.path(user, device),
            &relay.url,
            user,
            device,
            ClientOptions::default(),
        )
        .await
        .unwrap()
    }

    /// Links a new device of `user` (its store named as device `label`)
    /// through `existing`, with the link code passed between the two as a
    /// user would type it.
    pub async fn link(
        &self,
        relay: &TestRelay,
        existing: &Client,
        user: &str,
        label: u32,
        name: &str,
    ) -> Client {
        let pending = Client::begin_link(
            self.path(user, label),
            &relay.url,
            Some(user),
            name,
            ClientOptions::default(),
        )
        .await
        .unwrap();
        let code = pending.code_digits().to_string();
        let finishing = tokio::spawn(pending.finish(Duration::from_secs(60)));
        existing.approve_link(&code).await.unwrap();
        finishing.await.unwrap().unwrap()
    }
}

/// Everything the stream holds now.
pub fn drain(events: &mut EventStream) -> Vec<Event> {
    let mut out = Vec::new();
    loop {
        let next = futures_now(events);
        match next {
            Some(EventStreamItem::Event(event)) => out.push(event),
            Some(EventStreamItem::Lagged(n)) => panic!("lagged by {n}"),
            None => return out,
        }
    }
}

fn futures_now(events: &mut EventStream) -> Option<EventStreamItem> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let future = events.next();
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(item) => item,
        std::task::Poll::Pending => None,
    }
}

pub const NO_WAIT: Duration = Duration::ZERO;

/// A TCP proxy in front of a relay that can cut every connection and
/// refuse new ones, to make the relay unreachable at a chosen moment.
pub struct CutProxy {
    pub url: String,
    cut: tokio::sync::watch::Sender<bool>,
}

/// A proxy's listening socket, bound before the relay starts so that the
/// relay can be told to accept logins made for the proxy's origin.
pub struct ProxyListener {
    pub url: String,
    listener: tokio::net::TcpListener,
}

impl CutProxy {
    /// Binds the proxy's port; [`ProxyListener::forward`] starts it.
    pub async fn bind() -> ProxyListener {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        ProxyListener { url, listener }
    }
}

impl ProxyListener {
    /// Forwards every connection to `target` (a relay's URL).
    pub fn forward(self, target: &str) -> CutProxy {
        let target = target.trim_start_matches("http://").to_owned();
        let ProxyListener { url, listener } = self;
        let (cut, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if *watch.borrow() {
                    continue;
                }
                let target = target.clone();
                let mut watch = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watch.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        CutProxy { url, cut }
    }
}

impl CutProxy {
    /// A handle that cuts the proxy from synchronous code (a step hook).
    pub fn cutter(&self) -> impl Fn(bool) + Send + Sync + 'static {
        let cut = self.cut.clone();
        move |value| {
            let _ = cut.send(value);
        }
    }
}

/// Polls `check` until it holds, for at most 10 s, for state no event
/// announces (rows at the relay, the outbox). It looks again after a short
/// pause (a poll interval, not a wait for readiness).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
