//! The blob stores the tests run on: a directory, and an S3-compatible
//! bucket when `FUIN_TEST_S3` names its endpoint (`.ci/run` starts
//! SeaweedFS's S3 gateway on loopback and sets it, with
//! `FUIN_TEST_S3_BUCKET`, `FUIN_TEST_S3_ACCESS_KEY_ID` and
//! `FUIN_TEST_S3_SECRET_ACCESS_KEY`). Without it the S3 tests pass without
//! running, with a note on stderr, unless `CI` is set: then they fail.
//! Each S3 store works under a prefix of its own, so tests (and their
//! sweeps) never see each other's objects.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Once};

use fuin_relay::blobs::{BlobStore, FsBlobStore, S3BlobStore, S3Settings};
use zeroize::Zeroizing;

const VARIABLE: &str = "FUIN_TEST_S3";

/// The two kinds of blob store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Fs,
    S3,
}

/// The test bucket's settings with a fresh prefix, or `None` to skip
/// (after saying so once).
pub fn s3_settings() -> Option<S3Settings> {
    let endpoint = std::env::var(VARIABLE)
        .ok()
        .filter(|value| !value.trim().is_empty());
    let Some(endpoint) = endpoint else {
        if std::env::var("CI").is_ok_and(|ci| !ci.is_empty()) {
            panic!("CI is set but {VARIABLE} is not: .ci/run must start the S3 server");
        }
        static NOTE: Once = Once::new();
        NOTE.call_once(|| {
            let _ = writeln!(
                std::io::stderr(),
                "note: {VARIABLE} is not set: the S3 blob store tests are skipped \
                 (set it to an S3 endpoint such as http://127.0.0.1:18333, with \
                 FUIN_TEST_S3_BUCKET and the FUIN_TEST_S3_ACCESS_KEY_ID and \
                 FUIN_TEST_S3_SECRET_ACCESS_KEY credentials, or run .ci/run)"
            );
        });
        return None;
    };
    let variable = |name: &str, default: &str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.is_empty())
            .unwrap_or_else(|| default.to_owned())
    };
    Some(S3Settings {
        endpoint,
        bucket: variable("FUIN_TEST_S3_BUCKET", "fuin-test"),
        region: variable("FUIN_TEST_S3_REGION", "us-east-1"),
        prefix: format!("test-{}", hex::encode(rand::random::<[u8; 8]>())),
        access_key_id: Zeroizing::new(variable("FUIN_TEST_S3_ACCESS_KEY_ID", "")),
        secret_access_key: Zeroizing::new(variable("FUIN_TEST_S3_SECRET_ACCESS_KEY", "")),
    })
}

/// A fresh, empty blob store of `backend` (a directory `dir/blobs` for the
/// filesystem), or `None` if the S3 tests are skipped.
pub fn open(backend: Backend, dir: &Path) -> Option<Arc<dyn BlobStore>> {
    match backend {
        Backend::Fs => Some(Arc::new(FsBlobStore::open(&dir.join("blobs")).unwrap())),
        Backend::S3 => Some(Arc::new(S3BlobStore::new(&s3_settings()?).unwrap())),
    }
}

/// Declares, in modules `fs` and `s3`, one `#[tokio::test]` per named
/// `async fn(Backend)` of the enclosing module.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod fs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::Fs).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if super::blob_backends::s3_settings().is_none() {
                        return;
                    }
                    super::$test(super::Backend::S3).await;
                }
            )*
        }
    };
}
