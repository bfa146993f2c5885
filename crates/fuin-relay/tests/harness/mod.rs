//! An in-process relay on a temporary SQLite file, with a clock the test
//! moves, and devices that register and log in through the API. Shared by
//! the blob and report tests (`#[path]`-included, not a test target).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../lists/mod.rs"]
pub mod lists;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use ed25519_dalek::{Signer, SigningKey};
use fuin_relay::api::Clock;
use fuin_relay::blobs::{BlobStore, FsBlobStore};
use fuin_relay::franking::StampKeys;
use fuin_relay::store::sqlite::SqliteStore;
use fuin_relay::{Relay, RelayConfig, router};
use fuin_wire::relay::*;
use fuin_wire::*;
use http_body_util::BodyExt;
use tower::ServiceExt;

pub const START: u64 = 1_795_000_000_000;

/// The defaults every harness starts from.
pub fn default_config() -> RelayConfig {
    let mut config = RelayConfig::new(StampKeys::new(StampKeyId(1), [0x5a; 32]));
    config.origins = vec![lists::TEST_ORIGIN.to_owned()];
    config
}

pub struct Harness {
    pub relay: Arc<Relay<SqliteStore>>,
    pub app: Router,
    time: Arc<AtomicU64>,
    pub dir: tempfile::TempDir,
    /// The origin logins are signed for: the first configured one.
    pub origin: String,
}

pub struct Device {
    pub address: DeviceAddress<'static>,
    pub key: SigningKey,
    pub token: String,
}

/// A call's answer.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The JSON error code, after checking that this is a 4xx with a message.
    pub fn code(&self) -> String {
        assert!(
            self.status.is_client_error(),
            "expected a 4xx, got {}",
            self.status
        );
        let json: serde_json::Value = serde_json::from_slice(&self.body).unwrap();
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
        json["code"].as_str().unwrap().to_owned()
    }

    /// Status and code together, for comparing against expectations.
    pub fn refusal(&self) -> (StatusCode, String) {
        (self.status, self.code())
    }
}

pub fn hex_of(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

impl Harness {
    pub fn new() -> Self {
        Self::with(default_config())
    }

    pub fn with(config: RelayConfig) -> Self {
        Self::in_dir(tempfile::tempdir().unwrap(), config)
    }

    /// A relay on `dir/relay.db`, which may hold a database already, with
    /// its blobs in `dir/relay.db.blobs`.
    pub fn in_dir(dir: tempfile::TempDir, config: RelayConfig) -> Self {
        let blobs = FsBlobStore::open(&dir.path().join("relay.db.blobs")).unwrap();
        Self::in_dir_with_blobs(dir, config, Arc::new(blobs))
    }

    /// A relay with its blobs in `blobs`.
    pub fn with_blobs(config: RelayConfig, blobs: Arc<dyn BlobStore>) -> Self {
        Self::in_dir_with_blobs(tempfile::tempdir().unwrap(), config, blobs)
    }

    /// A relay on `dir/relay.db` with its blobs in `blobs`.
    pub fn in_dir_with_blobs(
        dir: tempfile::TempDir,
        config: RelayConfig,
        blobs: Arc<dyn BlobStore>,
    ) -> Self {
        let origin = config
            .origins
            .first()
            .and_then(|origin| relay_origin(origin))
            .unwrap_or_else(|| lists::TEST_ORIGIN.to_owned());
        let store = SqliteStore::open(&dir.path().join("relay.db")).unwrap();
        let time = Arc::new(AtomicU64::new(START));
        let clock_time = time.clone();
        let clock: Clock = Arc::new(move || clock_time.load(Ordering::SeqCst));
        let relay = Relay::with_blob_store(store, blobs, config, clock);
        Self {
            app: router(relay.clone()),
            relay,
            time,
            dir,
            origin,
        }
    }

    pub fn advance(&self, ms: u64) {
        self.time.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn database_path(&self) -> PathBuf {
        self.dir.path().join("relay.db")
    }

    /// The database file and its write-ahead log, after a checkpoint.
    pub async fn database_bytes(&self) -> Vec<u8> {
        self.relay.store().checkpoint().await.unwrap();
        let mut bytes = std::fs::read(self.database_path()).unwrap();
        if let Ok(wal) = std::fs::read(self.dir.path().join("relay.db-wal")) {
            bytes.extend(wal);
        }
        bytes
    }

    /// One request with the given headers and body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Body,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// One request with an optional bearer token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let headers: Vec<_> = token
            .map(|token| ("authorization", format!("Bearer {token}")))
            .into_iter()
            .collect();
        self.send(method, path, &headers, Body::from(body)).await
    }

    /// Creates `user`'s account with one device, `user/device`, and logs it in.
    pub async fn register(&self, user: &str, device: u32, seed: u8) -> Device {
        self.register_user(user, &[(device, seed)])
            .await
            .pop()
            .unwrap()
    }

    /// Creates `user`'s account with a list (version 1, account key from the
    /// first seed) naming every `(device, seed)`, and logs each device in.
    pub async fn register_user(&self, user: &str, devices: &[(u32, u8)]) -> Vec<Device> {
        let account = lists::account_key(devices[0].1);
        let named: Vec<_> = devices
            .iter()
            .map(|(device, seed)| {
                let key = SigningKey::from_bytes(&[*seed; 32]);
                (*device, lists::identity(&key, *seed))
            })
            .collect();
        let list = lists::signed_list(&account, user, 1, &named);
        let answer = self
            .call(
                Method::POST,
                "/v1/accounts",
                None,
                lists::registration(&list, None),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED);
        let mut registered = Vec::new();
        for (device, seed) in devices {
            let address =
                DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(*device));
            let key = SigningKey::from_bytes(&[*seed; 32]);
            let token = self.login(&address, &key).await;
            registered.push(Device {
                address,
                key,
                token,
            });
        }
        registered
    }

    /// Answers a fresh challenge; the new token as hex.
    pub async fn login(&self, address: &DeviceAddress<'static>, key: &SigningKey) -> String {
        let request = ChallengeRequest {
            address: address.clone(),
        };
        let answer = self
            .call(
                Method::POST,
                "/v1/auth/challenge",
                None,
                request.to_bytes().unwrap(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        let challenge = AuthChallenge::from_bytes(&answer.body).unwrap();
        let response = ChallengeResponse {
            address: address.clone(),
            nonce: challenge.nonce,
            signature: Ed25519Signature(
                key.sign(&relay_auth_input(&self.origin, address, &challenge.nonce))
                    .to_bytes(),
            ),
        };
        let answer = self
            .call(
                Method::POST,
                "/v1/auth/token",
                None,
                response.to_bytes().unwrap(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        hex_of(&AuthToken::from_bytes(&answer.body).unwrap().token.0)
    }

    /// Revokes every token of `device`.
    pub async fn log_out(&self, device: &Device) {
        let answer = self
            .call(
                Method::DELETE,
                "/v1/auth/token",
                Some(&device.token),
                vec![],
            )
            .await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT);
    }
}
