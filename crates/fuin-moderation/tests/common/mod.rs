//! The ingest tests' world: a real relay in process (its public API with a
//! report inbox, and its admin API on a listener of its own, as
//! `fuin-relay` serves them), users' devices made with the SDK, and the
//! moderation service's files written as an operator would (mode 0600).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fuin_client::{Client, ClientOptions};
use fuin_moderation::config::{Secrets, ServiceFiles};
use fuin_moderation::ingest::{Ingest, RelayInbox};
use fuin_moderation::model::LockoutPolicy;
use fuin_moderation::relay_admin::HttpRelayAdmin;
use fuin_moderation::service::{Messenger, Service};
use fuin_moderation::store::sqlite::SqliteStore;
use fuin_relay::api::system_clock;
use fuin_relay::blobs::FsBlobStore;
use fuin_relay::franking::StampKeys;
use fuin_relay::{Relay, RelayConfig};
use fuin_report::{ModerationPublicKey, ModerationSecretKey};
use fuin_wire::StampKeyId;
use tokio::sync::oneshot;

/// Moderation's inbox credential at the test relay.
pub const INBOX_CREDENTIAL: [u8; 32] = [0x6d; 32];
/// The relay's admin credential.
pub const ADMIN_CREDENTIAL: [u8; 32] = [0xad; 32];
/// The test relay's stamp key (id 1).
pub const STAMP_KEY: [u8; 32] = [9; 32];

/// A running relay with a report inbox and an admin API; stops when dropped.
pub struct TestRelay {
    pub url: String,
    pub admin_url: String,
    pub dir: tempfile::TempDir,
    pub relay: Arc<Relay<fuin_relay::store::sqlite::SqliteStore>>,
    stops: Vec<oneshot::Sender<()>>,
}

async fn serve_router(
    listener: tokio::net::TcpListener,
    router: axum::Router,
) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    stop
}

impl TestRelay {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store =
            fuin_relay::store::sqlite::SqliteStore::open(&dir.path().join("relay.db")).unwrap();
        let mut config = RelayConfig::new(StampKeys::new(StampKeyId(1), STAMP_KEY));
        config.requests_per_second = 100_000;
        config.request_burst = 100_000;
        config.anonymous_requests_per_second = 100_000;
        config.anonymous_request_burst = 100_000;
        config.account_requests_per_second = 100_000;
        config.account_request_burst = 100_000;
        config.max_connections_per_address = usize::MAX;
        config.moderation_credential_hash =
            Some(fuin_seal::primitives::sha256(&[&INBOX_CREDENTIAL]));
        config.admin_credential_hash = Some(fuin_seal::primitives::sha256(&[&ADMIN_CREDENTIAL]));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        config.origins = vec![url.clone()];
        let blobs = FsBlobStore::open(&dir.path().join("relay.db.blobs")).unwrap();
        let relay = Relay::with_blob_store(store, Arc::new(blobs), config, system_clock());
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = relay.clone();
        tokio::spawn(async move {
            fuin_relay::serve(listener, serving, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin_url = format!("http://{}", admin_listener.local_addr().unwrap());
        let admin_stop =
            serve_router(admin_listener, fuin_relay::api::admin_router(relay.clone())).await;
        Self {
            url,
            admin_url,
            dir,
            relay,
            stops: vec![stop, admin_stop],
        }
    }

    /// The relay database's files (the database and its journal), as bytes.
    pub fn database_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("relay.db") && path.is_file() {
                bytes.extend(std::fs::read(&path).unwrap());
            }
        }
        bytes
    }
}

/// Users' devices.
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
}

/// Writes a secret file (mode 0600).
pub fn write_secret(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    set_mode(path, 0o600);
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The moderation service's files, as an operator lays them out.
pub struct ModerationFiles {
    pub dir: tempfile::TempDir,
    pub files: ServiceFiles,
    pub stamp_key_file: PathBuf,
    pub public_key: ModerationPublicKey,
}

impl ModerationFiles {
    /// A new key, the relay's stamp key, both credentials; the vault key is
    /// left for the service to make.
    pub fn new() -> Self {
        Self::with_stamp_key(&STAMP_KEY)
    }

    /// As [`ModerationFiles::new`] with another copy of stamp key 1.
    pub fn with_stamp_key(stamp_key: &[u8; 32]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = ModerationSecretKey::generate(&mut rand::rng(), 1);
        let public_key = key.public_key().unwrap();
        let files = ServiceFiles {
            key: dir.path().join("moderation.key"),
            stamp_keys: dir.path().join("stamp-keys.json"),
            inbox_credential: dir.path().join("inbox.credential"),
            admin_credential: dir.path().join("admin.credential"),
            vault_key: dir.path().join("vault.key"),
        };
        write_secret(&files.key, &key.to_bytes());
        let stamp_key_file = dir.path().join("relay.stamp-key");
        write_secret(&stamp_key_file, stamp_key);
        std::fs::write(
            &files.stamp_keys,
            r#"{"stamp_keys": [{"id": 1, "file": "relay.stamp-key", "not_after_ms": null}]}"#,
        )
        .unwrap();
        write_secret(
            &files.inbox_credential,
            format!("{}\n", hex::encode(INBOX_CREDENTIAL)).as_bytes(),
        );
        write_secret(&files.admin_credential, &ADMIN_CREDENTIAL);
        Self {
            dir,
            files,
            stamp_key_file,
            public_key,
        }
    }
}

/// A service over an SQLite store in `files`' directory, talking to
/// `relay`, and its puller's parts; `device` is moderation's own device.
pub fn service(
    relay: &TestRelay,
    files: &ModerationFiles,
    device: Option<Client>,
) -> (Arc<Service<SqliteStore>>, Ingest) {
    let Secrets {
        moderator,
        inbox_credential,
        admin_credential,
        vault,
    } = files.files.load().unwrap();
    let messenger = device.clone().map(|client| {
        Arc::new(fuin_moderation::messenger::ClientMessenger::new(client)) as Arc<dyn Messenger>
    });
    let service = Service {
        store: SqliteStore::open(&files.dir.path().join("cases.db")).unwrap(),
        vault,
        admin: Arc::new(HttpRelayAdmin::new(&relay.admin_url, admin_credential).unwrap()),
        messenger,
        clock: fuin_moderation::service::system_clock(),
        lockout: LockoutPolicy::default(),
        secure_cookies: true,
    };
    let ingest = Ingest {
        inbox: RelayInbox::new(&relay.url, inbox_credential, None).unwrap(),
        moderator,
        device,
    };
    (Arc::new(service), ingest)
}

/// Polls `check` until it holds or 20 seconds pass.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
