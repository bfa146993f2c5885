//! The world the console's browser tests run in: a relay (with its report
//! inbox and admin API), the users `alice` (reporter) and `mallory`
//! (reported) on fuin devices, moderation's own device, and the
//! moderation service assembled from its real parts (SQLite store, the
//! relay's admin API over HTTP, the SDK as messenger, the puller) with
//! the console served on a loopback port. Accounts: `lena` (lead) and
//! `max` (moderator).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fuin_client::report::ModerationPublicKey;
use fuin_client::{Client, ClientOptions, SendFileOptions};
use fuin_moderation::accounts::create_account;
use fuin_moderation::ingest::{Ingest, PullSummary, RelayInbox, pull_once};
use fuin_moderation::messenger::ClientMessenger;
use fuin_moderation::model::{AccountName, LockoutPolicy, Role, SERVICE_ACTOR};
use fuin_moderation::relay_admin::HttpRelayAdmin;
use fuin_moderation::service::{Service, system_clock};
use fuin_moderation::store::sqlite::SqliteStore;
use fuin_moderation::vault::Vault;
use fuin_report::{ModerationSecretKey, Moderator, StampKeySet};
use fuin_wire::StampKeyId;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::relay::{ADMIN_CREDENTIAL, FIRST_STAMP_KEY, INBOX_CREDENTIAL, TestRelay};

/// The lead's account and password.
pub const LENA: &str = "lena";
/// The moderator's account.
pub const MAX: &str = "max";
/// Every test account's password (at least 12 characters).
pub const PASSWORD: &str = "correct horse battery staple";
/// Failed logins in a row that lock an account, in these tests.
pub const MAX_FAILURES: u32 = 3;

/// No waiting for new mail: take what is there.
const NO_WAIT: Duration = Duration::ZERO;

/// The running world.
pub struct World {
    /// The relay.
    pub relay: TestRelay,
    /// The reporter.
    pub alice: Client,
    /// The reported user.
    pub mallory: Client,
    /// Moderation's public key, for reports.
    pub moderation_key: ModerationPublicKey,
    /// The service (its store, for checks behind the console's back).
    pub service: Arc<Service<SqliteStore>>,
    ingest: Ingest,
    /// `http://127.0.0.1:PORT` of the console.
    pub console: String,
    console_task: JoinHandle<()>,
    /// Devices' stores, the service's database, files sent.
    pub dir: tempfile::TempDir,
}

impl World {
    /// The relay, the devices, the service with its accounts, and the
    /// console serving. `alice` and `mallory` have made contact.
    pub async fn start() -> Self {
        let relay = TestRelay::start().await;
        let dir = tempfile::tempdir().unwrap();
        let alice = device(dir.path(), &relay, "alice").await;
        let mallory = device(dir.path(), &relay, "mallory").await;
        let moderation_device = device(dir.path(), &relay, "moderation").await;

        // Moderation's keys: its own report key, and a copy of the relay's
        // first stamp key only (a later rotated key never reaches it).
        let mut stamp_keys = StampKeySet::new();
        stamp_keys
            .insert(StampKeyId(1), &FIRST_STAMP_KEY, None)
            .unwrap();
        let moderator = Moderator::new(
            ModerationSecretKey::generate(&mut rand::rng(), 1),
            stamp_keys,
        );
        let moderation_key = moderator.public_key().unwrap();

        let store = SqliteStore::open(&dir.path().join("service.db")).unwrap();
        let service = Arc::new(Service {
            store,
            vault: Vault::generate(),
            admin: Arc::new(
                HttpRelayAdmin::new(&relay.admin_url, Zeroizing::new(ADMIN_CREDENTIAL)).unwrap(),
            ),
            messenger: Some(Arc::new(ClientMessenger::new(moderation_device.clone()))),
            clock: system_clock(),
            lockout: LockoutPolicy {
                max_failures: MAX_FAILURES,
                lock_ms: 15 * 60 * 1000,
            },
            secure_cookies: false,
        });
        let now = (service.clock)();
        for (name, role) in [(LENA, Role::Lead), (MAX, Role::Moderator)] {
            create_account(
                &service.store,
                &AccountName::new(name).unwrap(),
                role,
                PASSWORD,
                SERVICE_ACTOR,
                now,
            )
            .await
            .unwrap();
        }
        let ingest = Ingest {
            inbox: RelayInbox::new(&relay.url, Zeroizing::new(INBOX_CREDENTIAL), None).unwrap(),
            moderator,
            device: Some(moderation_device),
        };

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let console = format!("http://{}", listener.local_addr().unwrap());
        let app = fuin_moderation::web::router(service.clone());
        let console_task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            relay,
            alice,
            mallory,
            moderation_key,
            service,
            ingest,
            console,
            console_task,
            dir,
        }
    }

    /// The console's URL of `path`.
    pub fn page(&self, path: &str) -> String {
        format!("{}{path}", self.console)
    }

    /// Pulls the relay's report inbox into cases, as the service's puller
    /// does on its tick.
    pub async fn pull(&self) -> PullSummary {
        pull_once(&self.service, &self.ingest).await.unwrap()
    }

    /// alice receives what waits for her and reports the last `count`
    /// messages from mallory (oldest first) with `reason`, sealed to
    /// moderation's key, into the relay's report inbox.
    pub async fn alice_reports_mallory(&self, reason: &str, count: usize) {
        self.alice.sync(NO_WAIT).await.unwrap();
        let history = self.alice.history("mallory", 100).await.unwrap();
        assert!(
            history.len() >= count,
            "alice has {} messages from mallory",
            history.len()
        );
        let mut local_ids: Vec<i64> = history.iter().map(|m| m.local_id).collect();
        local_ids.sort_unstable();
        let chosen = &local_ids[local_ids.len() - count..];
        let report = self.alice.report(reason, chosen).await.unwrap();
        self.alice
            .submit_report(&report, &self.moderation_key)
            .await
            .unwrap();
    }

    /// A file in the test's directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// mallory sends alice the image at `path`, named `file_name`.
    pub async fn mallory_sends_image(&self, path: &Path, file_name: &str) {
        self.mallory
            .send_file(
                "alice",
                path,
                &SendFileOptions {
                    content_type: Some("image/png".to_owned()),
                    file_name: Some(file_name.to_owned()),
                    thumbnail: false,
                    chunk_size: None,
                },
            )
            .await
            .unwrap();
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.console_task.abort();
    }
}

async fn device(dir: &Path, relay: &TestRelay, user: &str) -> Client {
    Client::create(
        dir.join(format!("device-{user}.db")),
        &relay.url,
        user,
        1,
        ClientOptions::default(),
    )
    .await
    .unwrap()
}

/// A PNG of `width` × `height` pixels: a gradient with a bright square,
/// so that blurred and sharp differ visibly in the screenshot.
pub fn write_png(path: &Path, width: u32, height: u32) {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        let in_square =
            (width / 3..2 * width / 3).contains(&x) && (height / 3..2 * height / 3).contains(&y);
        if in_square {
            image::Rgb([250, 200, 40])
        } else {
            let r = u8::try_from(x * 255 / width.max(1)).unwrap_or(255);
            let b = u8::try_from(y * 255 / height.max(1)).unwrap_or(255);
            image::Rgb([r, 60, b])
        }
    });
    image
        .save_with_format(path, image::ImageFormat::Png)
        .unwrap();
}
