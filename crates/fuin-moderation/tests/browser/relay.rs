//! A real relay in process for the browser tests: its public API and its
//! admin API each on a loopback listener of their own, on an SQLite file in
//! a temporary directory, with the moderation inbox and the admin API
//! switched on. It can be restarted on the same ports and database with
//! another stamp key (a key rotation), which is how a test gets a message
//! whose stamp the moderation service cannot check.

use std::net::SocketAddr;
use std::sync::Arc;

use fuin_relay::api::system_clock;
use fuin_relay::blobs::FsBlobStore;
use fuin_relay::franking::StampKeys;
use fuin_relay::store::sqlite::SqliteStore;
use fuin_relay::{Relay, RelayConfig};
use fuin_wire::StampKeyId;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The moderation service's inbox credential at this relay.
pub const INBOX_CREDENTIAL: [u8; 32] = [0x6d; 32];
/// The moderation service's admin credential at this relay.
pub const ADMIN_CREDENTIAL: [u8; 32] = [0xad; 32];
/// The stamp key the relay starts with (id 1).
pub const FIRST_STAMP_KEY: [u8; 32] = [9; 32];
/// The stamp key it rotates to (id 2).
pub const SECOND_STAMP_KEY: [u8; 32] = [7; 32];

/// A running relay; stops when dropped (its tasks are aborted).
pub struct TestRelay {
    /// `http://127.0.0.1:PORT` of the public API.
    pub url: String,
    /// `http://127.0.0.1:PORT` of the admin API.
    pub admin_url: String,
    dir: tempfile::TempDir,
    public: SocketAddr,
    admin: SocketAddr,
    running: Option<Running>,
}

struct Running {
    stop: oneshot::Sender<()>,
    serving: JoinHandle<()>,
    admin: JoinHandle<()>,
}

impl TestRelay {
    /// A relay stamping with key 1.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let public = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut relay = Self {
            url: format!("http://{}", public.local_addr().unwrap()),
            admin_url: format!("http://{}", admin.local_addr().unwrap()),
            public: public.local_addr().unwrap(),
            admin: admin.local_addr().unwrap(),
            dir,
            running: None,
        };
        relay.run(
            StampKeys::new(StampKeyId(1), FIRST_STAMP_KEY),
            public,
            admin,
        );
        relay
    }

    /// Stops the relay and starts it again on the same ports and database,
    /// stamping with key 2 from now on (key 1 kept to check older stamps),
    /// as an operator rotating the stamp key does.
    pub async fn restart_with_rotated_stamp_key(&mut self) {
        self.stop().await;
        let mut keys = StampKeys::new(StampKeyId(1), FIRST_STAMP_KEY);
        keys.rotate(StampKeyId(2), SECOND_STAMP_KEY);
        let public = TcpListener::bind(self.public).await.unwrap();
        let admin = TcpListener::bind(self.admin).await.unwrap();
        self.run(keys, public, admin);
    }

    fn run(&mut self, stamp_keys: StampKeys, public: TcpListener, admin: TcpListener) {
        let store = SqliteStore::open(&self.dir.path().join("relay.db")).unwrap();
        let mut config = RelayConfig::new(stamp_keys);
        config.requests_per_second = 100_000;
        config.request_burst = 100_000;
        config.anonymous_requests_per_second = 100_000;
        config.anonymous_request_burst = 100_000;
        config.account_requests_per_second = 100_000;
        config.account_request_burst = 100_000;
        // Every device of the test connects from loopback.
        config.max_connections_per_address = usize::MAX;
        config.origins = vec![self.url.clone()];
        config.moderation_credential_hash =
            Some(fuin_seal::primitives::sha256(&[&INBOX_CREDENTIAL]));
        config.admin_credential_hash = Some(fuin_seal::primitives::sha256(&[&ADMIN_CREDENTIAL]));
        let blobs = FsBlobStore::open(&self.dir.path().join("relay.db.blobs")).unwrap();
        let relay = Relay::with_blob_store(store, Arc::new(blobs), config, system_clock());
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(fuin_relay_serve(public, relay.clone(), stopped));
        let admin = tokio::spawn(fuin_relay::server::serve_admin(admin, relay));
        self.running = Some(Running {
            stop,
            serving,
            admin,
        });
    }

    /// Stops serving (both listeners closed when this returns).
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
            let _ = running.serving.await;
            running.admin.abort();
            let _ = running.admin.await;
        }
    }
}

async fn fuin_relay_serve(
    listener: TcpListener,
    relay: Arc<Relay<SqliteStore>>,
    stopped: oneshot::Receiver<()>,
) {
    fuin_relay::serve(listener, relay, async {
        let _ = stopped.await;
    })
    .await
    .unwrap();
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.serving.abort();
            running.admin.abort();
        }
    }
}
