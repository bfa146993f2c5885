//! What the bindings tests share: the built library, generating bindings
//! from it in-process, and a real relay on loopback with a report inbox.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fuin::StampKeyId;
use fuin_relay::api::system_clock;
use fuin_relay::blobs::FsBlobStore;
use fuin_relay::franking::StampKeys;
use fuin_relay::store::sqlite::SqliteStore;
use fuin_relay::{Relay, RelayConfig};
use tokio::sync::oneshot;

/// The library's file name on this platform.
pub const LIBRARY: &str = if cfg!(target_os = "macos") {
    "libfuin_ffi.dylib"
} else if cfg!(windows) {
    "fuin_ffi.dll"
} else {
    "libfuin_ffi.so"
};

/// The cdylib cargo built for these tests: beside the test executable's
/// `deps/` folder (the profile's folder), where cargo puts it.
pub fn library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let candidates = [deps.join(LIBRARY), deps.parent().unwrap().join(LIBRARY)];
    candidates
        .iter()
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("the cdylib is not built: looked at {candidates:?}"))
        .clone()
}

/// Generates the bindings of `languages` from the built library into `out`,
/// as `bindings/generate.sh` does (library mode, no formatting).
pub fn generate(languages: &[uniffi::TargetLanguage], out: &Path) {
    let library = library();
    uniffi::generate(uniffi::GenerateOptions {
        languages: languages.to_vec(),
        source: library.try_into().unwrap(),
        out_dir: out.to_owned().try_into().unwrap(),
        format: false,
        metadata_no_deps: true,
        ..uniffi::GenerateOptions::default()
    })
    .unwrap();
}

/// The repository's root.
pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Moderation's inbox credential at the test relay.
pub const CREDENTIAL: [u8; 32] = [0x6d; 32];

/// The test relay's stamp key (id 1).
pub const STAMP_KEY: [u8; 32] = [9; 32];

/// A running relay with a report inbox; stops when dropped.
pub struct TestRelay {
    pub url: String,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestRelay {
    /// A relay on loopback over an SQLite file in a temporary directory,
    /// whose report inbox takes [`CREDENTIAL`].
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("relay.db")).unwrap();
        let mut config = RelayConfig::new(StampKeys::new(StampKeyId(1), STAMP_KEY));
        // The sample is not about rate limits; its devices share loopback.
        config.requests_per_second = 100_000;
        config.request_burst = 100_000;
        config.anonymous_requests_per_second = 100_000;
        config.anonymous_request_burst = 100_000;
        config.account_requests_per_second = 100_000;
        config.account_request_burst = 100_000;
        config.max_connections_per_address = usize::MAX;
        config.moderation_credential_hash = Some(fuin_seal::primitives::sha256(&[&CREDENTIAL]));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        config.origins = vec![url.clone()];
        let blobs = FsBlobStore::open(&dir.path().join("relay.db.blobs")).unwrap();
        let relay = Relay::with_blob_store(store, Arc::new(blobs), config, system_clock());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            fuin_relay::serve(listener, relay, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Self {
            url,
            dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Pulls every waiting report from the inbox, as moderation does.
    pub async fn pull_reports(&self) -> fuin::wire::relay::InboxBatch<'static> {
        use fuin::wire::FrameBody;
        let bytes = reqwest::Client::new()
            .get(format!("{}/v1/moderation/reports", self.url))
            .header(
                "authorization",
                format!("Moderation {}", hex::encode(CREDENTIAL)),
            )
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .bytes()
            .await
            .unwrap();
        fuin::wire::relay::InboxBatch::from_bytes(&bytes)
            .unwrap()
            .into_owned()
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
