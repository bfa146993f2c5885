//! The HTTP API, driven in process: the whole flow works, and every way of
//! reaching another device's mailbox, or of getting in without a valid token,
//! is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/eventually.rs"]
mod eventually;
#[path = "common/kem_prekeys.rs"]
mod kem_prekeys;
mod lists;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use ed25519_dalek::{Signer, SigningKey};
use eventually::{PATIENCE, eventually_async};
use fuin_relay::api::Clock;
use fuin_relay::franking::StampKeys;
use fuin_relay::store::sqlite::SqliteStore;
use fuin_relay::{Relay, RelayConfig, router};
use fuin_wire::relay::*;
use fuin_wire::*;
use http_body_util::BodyExt;
use tower::ServiceExt;

const START: u64 = 1_795_000_000_000;

struct Harness {
    relay: Arc<Relay<SqliteStore>>,
    app: Router,
    time: Arc<AtomicU64>,
    _dir: tempfile::TempDir,
}

struct Device {
    address: DeviceAddress<'static>,
    key: SigningKey,
    token: String,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("relay.db")).unwrap();
        let time = Arc::new(AtomicU64::new(START));
        let clock_time = time.clone();
        let clock: Clock = Arc::new(move || clock_time.load(Ordering::SeqCst));
        let mut config = RelayConfig::new(StampKeys::new(StampKeyId(1), [0x5a; 32]));
        config.origins = vec![lists::TEST_ORIGIN.to_owned()];
        let relay = Relay::new(store, config, clock);
        Self {
            app: router(relay.clone()),
            relay,
            time,
            _dir: dir,
        }
    }

    fn advance(&self, ms: u64) {
        self.time.fetch_add(ms, Ordering::SeqCst);
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Vec<u8>) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, bytes.to_vec())
    }

    /// The JSON error code of a refused call.
    async fn error_code(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, String) {
        let (status, body) = self.call(method, path, token, body).await;
        assert!(
            status.is_client_error(),
            "{path}: expected a 4xx, got {status}"
        );
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
        (status, json["code"].as_str().unwrap().to_owned())
    }

    /// Creates `user`'s account with `user/device` as its one device, and
    /// logs in.
    async fn register(&self, user: &str, device: u32, seed: u8) -> Device {
        self.register_user(user, &[(device, seed)])
            .await
            .pop()
            .unwrap()
    }

    /// Creates `user`'s account naming every `(device, seed)`, and logs
    /// each in.
    async fn register_user(&self, user: &str, devices: &[(u32, u8)]) -> Vec<Device> {
        let named: Vec<_> = devices
            .iter()
            .map(|(device, seed)| {
                let key = SigningKey::from_bytes(&[*seed; 32]);
                (*device, lists::identity(&key, *seed))
            })
            .collect();
        let list = lists::signed_list(&lists::account_key(devices[0].1), user, 1, &named);
        let (status, _) = self
            .call(
                Method::POST,
                "/v1/accounts",
                None,
                lists::registration(&list, None),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let mut registered = Vec::new();
        for (device, seed) in devices {
            let address =
                DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(*device));
            let key = SigningKey::from_bytes(&[*seed; 32]);
            let token = self.login(&address, &key).await.unwrap();
            registered.push(Device {
                address,
                key,
                token,
            });
        }
        registered
    }

    async fn challenge(&self, address: &DeviceAddress<'static>) -> AuthChallenge {
        let request = ChallengeRequest {
            address: address.clone(),
        };
        let (status, body) = self
            .call(
                Method::POST,
                "/v1/auth/challenge",
                None,
                request.to_bytes().unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        AuthChallenge::from_bytes(&body).unwrap()
    }

    fn answer(address: &DeviceAddress<'static>, key: &SigningKey, nonce: Nonce) -> Vec<u8> {
        let signature = key
            .sign(&relay_auth_input(lists::TEST_ORIGIN, address, &nonce))
            .to_bytes();
        ChallengeResponse {
            address: address.clone(),
            nonce,
            signature: Ed25519Signature(signature),
        }
        .to_bytes()
        .unwrap()
    }

    async fn login(
        &self,
        address: &DeviceAddress<'static>,
        key: &SigningKey,
    ) -> Result<String, StatusCode> {
        let challenge = self.challenge(address).await;
        let (status, body) = self
            .call(
                Method::POST,
                "/v1/auth/token",
                None,
                Self::answer(address, key, challenge.nonce),
            )
            .await;
        if status != StatusCode::OK {
            return Err(status);
        }
        let token = AuthToken::from_bytes(&body).unwrap();
        Ok(token.token.0.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Publishes a signed prekey, `one_time` one-time prekeys (ids from 1)
    /// and as many one-time KEM prekeys (ids from 1,001), with a signed
    /// last-resort KEM prekey (id 1,000).
    async fn publish(&self, device: &Device, one_time: u32) -> PrekeyCount {
        let upload = PrekeyUpload {
            signed_prekey: Some(SignedPrekey {
                id: PrekeyId(0),
                public_key: X25519PublicKey([7; 32]),
                signature: Ed25519Signature([8; 64]),
            }),
            one_time_prekeys: (1..=one_time)
                .map(|id| OneTimePrekey {
                    id: PrekeyId(id),
                    public_key: X25519PublicKey([id as u8; 32]),
                })
                .collect::<Vec<_>>()
                .into(),
            last_resort_kem_prekey: Some(kem_prekeys::kem_prekey(&device.key, 1000)),
            one_time_kem_prekeys: kem_prekeys::kem_prekeys(&device.key, 1001..1001 + one_time)
                .into(),
        };
        let (status, body) = self.upload(device, &upload).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        PrekeyCount::from_bytes(&body).unwrap()
    }

    async fn upload(&self, device: &Device, upload: &PrekeyUpload) -> (StatusCode, Vec<u8>) {
        self.call(
            Method::PUT,
            "/v1/prekeys",
            Some(&device.token),
            upload.to_bytes().unwrap(),
        )
        .await
    }

    async fn send(
        &self,
        from: &Device,
        to: &DeviceAddress<'static>,
        body: &[u8],
    ) -> (StatusCode, Vec<u8>) {
        let batch = SendBatch {
            envelopes: vec![RoutingEnvelope {
                recipient: to.clone(),
                content_kind: ContentKind::Message,
                franking_commitment: FrankingCommitment([3; 32]),
                sealed_body: Opaque::from(body.to_vec()),
            }]
            .into(),
        };
        self.call(
            Method::POST,
            "/v1/messages",
            Some(&from.token),
            batch.to_bytes().unwrap(),
        )
        .await
    }

    async fn fetch(&self, device: &Device) -> MailboxBatch<'static> {
        let (status, body) = self
            .call(Method::GET, "/v1/mailbox", Some(&device.token), vec![])
            .await;
        assert_eq!(status, StatusCode::OK);
        MailboxBatch::from_bytes(&body).unwrap().into_owned()
    }

    async fn ack(&self, device: &Device, ids: Vec<MessageId>) -> StatusCode {
        let ack = Acknowledgement {
            message_ids: ids.into(),
        };
        self.call(
            Method::POST,
            "/v1/mailbox/ack",
            Some(&device.token),
            ack.to_bytes().unwrap(),
        )
        .await
        .0
    }
}

#[tokio::test]
async fn a_message_goes_from_sender_to_recipient_stamped_and_is_gone_after_acknowledgement() {
    let h = Harness::new();
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register("bob", 1, 2).await;
    assert_eq!(
        h.publish(&bob, 3).await,
        PrekeyCount {
            one_time_prekeys: 3,
            low: true,
            one_time_kem_prekeys: 3,
            kem_low: true,
        }
    );

    // Each bundle fetch hands out another one-time prekey, then none.
    let mut handed_out = Vec::new();
    for _ in 0..4 {
        let (status, body) = h
            .call(
                Method::GET,
                "/v1/users/bob/bundles",
                Some(&alice.token),
                vec![],
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let set = BundleSet::from_bytes(&body).unwrap();
        assert_eq!(set.bundles.len(), 1);
        let bundle = &set.bundles.as_slice()[0];
        assert_eq!(bundle.address, bob.address);
        handed_out.push(bundle.one_time_prekey.as_ref().map(|k| k.id.0));
    }
    assert_eq!(handed_out, vec![Some(1), Some(2), Some(3), None]);

    let (status, body) = h.send(&alice, &bob.address, b"sealed bytes").await;
    assert_eq!(status, StatusCode::OK);
    let accepted = SendAccepted::from_bytes(&body).unwrap();
    assert_eq!(accepted.server_time_ms, START);

    let batch = h.fetch(&bob).await;
    assert!(batch.prekeys_low);
    let record = &batch.records.as_slice()[0];
    assert_eq!(record.sender, alice.address);
    assert_eq!(record.envelope.sealed_body.as_bytes(), b"sealed bytes");
    assert_eq!(record.server_message_id, accepted.message_ids.as_slice()[0]);
    // The stamp is the HMAC of the canonical input under the relay's key.
    let keys = StampKeys::new(StampKeyId(1), [0x5a; 32]);
    assert_eq!(keys.compute(record), Some(record.franking_stamp));
    assert_ne!(record.franking_stamp, FrankingStamp([0; 32]));

    assert_eq!(
        h.ack(&bob, vec![record.server_message_id]).await,
        StatusCode::NO_CONTENT
    );
    assert!(h.fetch(&bob).await.records.is_empty());
}

#[tokio::test]
async fn no_endpoint_opens_without_a_valid_token() {
    let h = Harness::new();
    let alice = h.register("alice", 1, 1).await;
    let revoked = h.register("carol", 1, 3).await;
    let (status, _) = h
        .call(
            Method::DELETE,
            "/v1/auth/token",
            Some(&revoked.token),
            vec![],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let expiring = h.login(&alice.address, &alice.key).await.unwrap();

    let protected: [(Method, &str); 9] = [
        (Method::PUT, "/v1/prekeys"),
        (Method::GET, "/v1/prekeys/count"),
        (Method::GET, "/v1/users/alice/bundles"),
        (Method::GET, "/v1/users/alice/bundles?device=1"),
        (Method::GET, "/v1/users/alice/devices"),
        (Method::POST, "/v1/messages"),
        (Method::GET, "/v1/mailbox"),
        (Method::POST, "/v1/mailbox/ack"),
        (Method::DELETE, "/v1/auth/token"),
    ];
    let garbage = "00".repeat(32);
    let not_hex = "zz".repeat(32);
    let lifetime = RelayConfig::new(StampKeys::new(StampKeyId(1), [0; 32])).token_lifetime;
    h.advance(lifetime.as_millis() as u64 + 1);
    // After the advance every token issued at START has expired.
    for (method, path) in protected {
        for token in [
            None,
            Some(garbage.as_str()),
            Some(not_hex.as_str()),
            Some(revoked.token.as_str()),
            Some(expiring.as_str()),
        ] {
            let (status, code) = h.error_code(method.clone(), path, token, vec![]).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::UNAUTHORIZED, "unauthorized"),
                "{method} {path} with {token:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_device_reads_and_acknowledges_only_its_own_mailbox() {
    let h = Harness::new();
    let alice = h.register("alice", 1, 1).await;
    let [bob, bob2] = <[Device; 2]>::try_from(h.register_user("bob", &[(1, 2), (2, 4)]).await)
        .ok()
        .unwrap();
    let (status, body) = h.send(&alice, &bob.address, b"for bob/1").await;
    assert_eq!(status, StatusCode::OK);
    let id = SendAccepted::from_bytes(&body)
        .unwrap()
        .message_ids
        .as_slice()[0];

    // Bob's other device and the sender see nothing of it...
    assert!(h.fetch(&bob2).await.records.is_empty());
    assert!(h.fetch(&alice).await.records.is_empty());
    // ...and cannot delete it by its id.
    assert_eq!(h.ack(&bob2, vec![id]).await, StatusCode::NO_CONTENT);
    assert_eq!(h.ack(&alice, vec![id]).await, StatusCode::NO_CONTENT);
    let batch = h.fetch(&bob).await;
    assert_eq!(batch.records.len(), 1);
    assert_eq!(
        batch.records.as_slice()[0].envelope.sealed_body.as_bytes(),
        b"for bob/1"
    );
}

#[tokio::test]
async fn challenges_are_single_use_expire_and_need_the_devices_key() {
    let h = Harness::new();
    let alice = h.register("alice", 1, 1).await;
    let mallory_key = SigningKey::from_bytes(&[9; 32]);

    // A replayed answer is refused.
    let challenge = h.challenge(&alice.address).await;
    let answer = Harness::answer(&alice.address, &alice.key, challenge.nonce);
    let (status, _) = h
        .call(Method::POST, "/v1/auth/token", None, answer.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, code) = h
        .error_code(Method::POST, "/v1/auth/token", None, answer)
        .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "challenge_failed")
    );

    // Someone else's key is refused, and spends the challenge.
    let challenge = h.challenge(&alice.address).await;
    let forged = Harness::answer(&alice.address, &mallory_key, challenge.nonce);
    let code = h
        .error_code(Method::POST, "/v1/auth/token", None, forged)
        .await
        .1;
    assert_eq!(code, "challenge_failed");
    let genuine = Harness::answer(&alice.address, &alice.key, challenge.nonce);
    let code = h
        .error_code(Method::POST, "/v1/auth/token", None, genuine)
        .await
        .1;
    assert_eq!(code, "challenge_failed");

    // An expired challenge is refused.
    let challenge = h.challenge(&alice.address).await;
    h.advance(61_000);
    let late = Harness::answer(&alice.address, &alice.key, challenge.nonce);
    let code = h
        .error_code(Method::POST, "/v1/auth/token", None, late)
        .await
        .1;
    assert_eq!(code, "challenge_failed");

    // A challenge for another device cannot be answered for this one.
    let bob = h.register("bob", 1, 2).await;
    let challenge = h.challenge(&bob.address).await;
    let crossed = Harness::answer(&alice.address, &alice.key, challenge.nonce);
    let code = h
        .error_code(Method::POST, "/v1/auth/token", None, crossed)
        .await
        .1;
    assert_eq!(code, "challenge_failed");
}

#[tokio::test]
async fn malformed_oversized_and_truncated_bodies_are_refused_and_change_nothing() {
    let h = Harness::new();
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register("bob", 1, 2).await;
    let batch = SendBatch {
        envelopes: vec![RoutingEnvelope {
            recipient: bob.address.clone(),
            content_kind: ContentKind::Message,
            franking_commitment: FrankingCommitment([3; 32]),
            sealed_body: Opaque::from(vec![1, 2, 3]),
        }]
        .into(),
    };
    let good = batch.to_bytes().unwrap();
    let limit = fuin_wire::limits::MAX_FRAME_LEN;
    let cases: Vec<(Vec<u8>, StatusCode, &str)> = vec![
        (
            good[..good.len() - 1].to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_frame",
        ),
        (
            [good.clone(), vec![0]].concat(),
            StatusCode::BAD_REQUEST,
            "malformed_frame",
        ),
        (vec![], StatusCode::BAD_REQUEST, "malformed_frame"),
        (vec![9, 17], StatusCode::BAD_REQUEST, "malformed_frame"),
        (
            BlobId([0; 32]).to_bytes().unwrap(),
            StatusCode::BAD_REQUEST,
            "unexpected_frame",
        ),
        (
            vec![0u8; limit + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            vec![0u8; limit + 100],
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
    ];
    for (body, status, code) in cases {
        let len = body.len();
        let (got_status, got_code) = h
            .error_code(Method::POST, "/v1/messages", Some(&alice.token), body)
            .await;
        assert_eq!(
            (got_status, got_code.as_str()),
            (status, code),
            "body of {len} bytes"
        );
    }
    let empty = SendBatch {
        envelopes: Vec::new().into(),
    }
    .to_bytes()
    .unwrap();
    let code = h
        .error_code(Method::POST, "/v1/messages", Some(&alice.token), empty)
        .await
        .1;
    assert_eq!(code, "empty_send");
    let carol = DeviceAddress::new(UserId::new("carol").unwrap(), DeviceId(1));
    let (status, _) = h.send(&alice, &carol, b"x").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nothing reached Bob.
    assert!(h.fetch(&bob).await.records.is_empty());
    // The good body still works.
    let (status, _) = h
        .call(Method::POST, "/v1/messages", Some(&alice.token), good)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.fetch(&bob).await.records.len(), 1);
}

#[tokio::test]
async fn registering_a_listed_device_with_another_identity_is_refused() {
    let h = Harness::new();
    let alice = h.register("alice", 1, 1).await;
    let other_key = SigningKey::from_bytes(&[5; 32]);
    let other = DeviceRegistration {
        address: alice.address.clone(),
        identity: lists::identity(&other_key, 5),
    };
    let (status, code) = h
        .error_code(Method::POST, "/v1/devices", None, other.to_bytes().unwrap())
        .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "not_in_device_list")
    );
    // The same identity the list names: nothing to do.
    let same = DeviceRegistration {
        address: alice.address.clone(),
        identity: lists::identity(&alice.key, 1),
    };
    let (status, _) = h
        .call(Method::POST, "/v1/devices", None, same.to_bytes().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_waiting_fetch_returns_as_soon_as_a_message_arrives() {
    let h = Arc::new(Harness::new());
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register("bob", 1, 2).await;
    let waiter = {
        let h = h.clone();
        let token = bob.token.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let (status, body) = h
                .call(
                    Method::GET,
                    "/v1/mailbox?wait_ms=20000",
                    Some(&token),
                    vec![],
                )
                .await;
            assert_eq!(status, StatusCode::OK);
            let records = MailboxBatch::from_bytes(&body).unwrap().records.len();
            (started.elapsed(), records)
        })
    };
    // The fetch has found the mailbox empty and waits: from here on only a
    // wake-up can bring it the message.
    eventually_async("bob's fetch to wait", PATIENCE, || {
        let waiting = h.relay.mail_waiters() == 1;
        async move { waiting }
    })
    .await;
    let (status, _) = h.send(&alice, &bob.address, b"wake up").await;
    assert_eq!(status, StatusCode::OK);
    let (elapsed, count) = waiter.await.unwrap();
    assert_eq!(count, 1);
    // Far sooner than the 20 s it was allowed to wait.
    assert!(
        elapsed < std::time::Duration::from_secs(10),
        "took {elapsed:?}"
    );
}

#[tokio::test]
async fn a_device_over_its_request_rate_is_told_to_slow_down() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("relay.db")).unwrap();
    let time = Arc::new(AtomicU64::new(START));
    let clock_time = time.clone();
    let clock: Clock = Arc::new(move || clock_time.load(Ordering::SeqCst));
    let mut config = RelayConfig::new(StampKeys::new(StampKeyId(1), [0x5a; 32]));
    config.requests_per_second = 2;
    config.request_burst = 5;
    config.origins = vec![lists::TEST_ORIGIN.to_owned()];
    let relay = Relay::new(store, config, clock);
    let h = Harness {
        app: router(relay.clone()),
        relay,
        time,
        _dir: dir,
    };
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register("bob", 1, 2).await;
    for _ in 0..5 {
        assert_eq!(h.send(&alice, &bob.address, b"x").await.0, StatusCode::OK);
    }
    let (status, code) = h
        .error_code(Method::GET, "/v1/prekeys/count", Some(&alice.token), vec![])
        .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    // Another device has its own allowance.
    assert_eq!(h.fetch(&bob).await.records.len(), 5);
    // After a second, two more requests are allowed.
    h.advance(1000);
    assert_eq!(h.send(&alice, &bob.address, b"x").await.0, StatusCode::OK);
    assert_eq!(h.send(&alice, &bob.address, b"x").await.0, StatusCode::OK);
    assert_eq!(
        h.send(&alice, &bob.address, b"x").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn unknown_endpoints_wrong_methods_and_bad_queries_get_json_errors() {
    let h = Harness::new();
    let alice = h.register("alice", 1, 1).await;
    let cases = [
        (
            Method::GET,
            "/v1/nowhere",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::GET,
            "/v1/messages",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::GET,
            "/v1/mailbox?wait_ms=soon",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            Method::GET,
            "/v1/users/%07bell/bundles",
            StatusCode::BAD_REQUEST,
            "invalid_user_id",
        ),
    ];
    for (method, path, status, code) in cases {
        let got = h
            .error_code(method.clone(), path, Some(&alice.token), vec![])
            .await;
        assert_eq!((got.0, got.1.as_str()), (status, code), "{method} {path}");
    }
}

#[tokio::test]
async fn a_device_list_names_every_device_and_hands_out_no_prekeys() {
    let h = Harness::new();
    let alice = h.register("alice", 1, 1).await;
    let [bob_phone, bob_laptop] =
        <[Device; 2]>::try_from(h.register_user("bob", &[(1, 2), (7, 3)]).await)
            .ok()
            .unwrap();
    h.publish(&bob_phone, 3).await;
    h.publish(&bob_laptop, 3).await;

    let (status, body) = h
        .call(
            Method::GET,
            "/v1/users/bob/devices",
            Some(&alice.token),
            vec![],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let list = fuin_wire::account::SignedDeviceList::from_bytes(&body).unwrap();
    let devices: Vec<_> = list
        .content
        .devices
        .as_slice()
        .iter()
        .map(|d| d.device)
        .collect();
    assert_eq!(devices, [DeviceId(1), DeviceId(7)]);
    assert_eq!(
        list.content.devices.as_slice()[0].identity.signing_key.0,
        bob_phone.key.verifying_key().to_bytes()
    );
    // No one-time prekey was taken.
    for bob in [&bob_phone, &bob_laptop] {
        let (_, body) = h
            .call(Method::GET, "/v1/prekeys/count", Some(&bob.token), vec![])
            .await;
        assert_eq!(PrekeyCount::from_bytes(&body).unwrap().one_time_prekeys, 3);
    }

    // One device's bundle takes only that device's one-time prekey.
    let (status, body) = h
        .call(
            Method::GET,
            "/v1/users/bob/bundles?device=7",
            Some(&alice.token),
            vec![],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let set = BundleSet::from_bytes(&body).unwrap();
    assert_eq!(set.bundles.len(), 1);
    assert_eq!(set.bundles.as_slice()[0].address, bob_laptop.address);
    let count = |bob: &Device| {
        let token = bob.token.clone();
        let h = &h;
        async move {
            let (_, body) = h
                .call(Method::GET, "/v1/prekeys/count", Some(&token), vec![])
                .await;
            PrekeyCount::from_bytes(&body).unwrap().one_time_prekeys
        }
    };
    assert_eq!(count(&bob_phone).await, 3);
    assert_eq!(count(&bob_laptop).await, 2);

    // Unknown users, unknown devices and bad queries.
    let (status, code) = h
        .error_code(
            Method::GET,
            "/v1/users/nobody/devices",
            Some(&alice.token),
            vec![],
        )
        .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "unknown_user")
    );
    let (status, code) = h
        .error_code(
            Method::GET,
            "/v1/users/bob/bundles?device=2",
            Some(&alice.token),
            vec![],
        )
        .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "no_bundles")
    );
    let (status, code) = h
        .error_code(
            Method::GET,
            "/v1/users/bob/bundles?device=x",
            Some(&alice.token),
            vec![],
        )
        .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );
    assert_eq!(count(&bob_phone).await, 3);
}

/// The bundles of `user` that `by` fetches, all at once.
async fn fetch_bundles_concurrently(
    h: &Harness,
    by: &Device,
    user: &str,
    fetches: usize,
) -> Vec<PrekeyBundle<'static>> {
    let path = format!("/v1/users/{user}/bundles");
    let calls = (0..fetches).map(|_| h.call(Method::GET, &path, Some(&by.token), vec![]));
    let mut bundles = Vec::new();
    for (status, body) in futures_util::future::join_all(calls).await {
        assert_eq!(status, StatusCode::OK);
        let set = BundleSet::from_bytes(&body).unwrap();
        bundles.extend(
            set.bundles
                .as_slice()
                .iter()
                .map(|b| b.clone().into_owned()),
        );
    }
    bundles
}

/// Concurrent bundle fetches through the API: each of bob's one-time KEM
/// prekeys goes out in exactly one bundle, every other bundle carries his
/// last-resort KEM prekey (which stays), and every KEM prekey handed out
/// is the one he signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_time_kem_prekeys_go_out_once_each_under_concurrent_fetches() {
    let h = Harness::new();
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register("bob", 1, 2).await;
    h.publish(&bob, 6).await;
    let bundles = fetch_bundles_concurrently(&h, &alice, "bob", 25).await;
    assert_eq!(bundles.len(), 25);
    let mut one_time = Vec::new();
    let mut last_resort = 0;
    for bundle in &bundles {
        let kem = bundle
            .kem_prekey
            .clone()
            .expect("a KEM prekey in every bundle");
        assert_eq!(kem, kem_prekeys::kem_prekey(&bob.key, kem.id.0));
        if kem.id.0 == 1000 {
            last_resort += 1;
        } else {
            one_time.push(kem.id.0);
        }
    }
    one_time.sort_unstable();
    assert_eq!(one_time, (1001..=1006).collect::<Vec<_>>());
    assert_eq!(last_resort, 25 - 6);
    let (_, body) = h
        .call(Method::GET, "/v1/prekeys/count", Some(&bob.token), vec![])
        .await;
    assert_eq!(
        PrekeyCount::from_bytes(&body).unwrap(),
        PrekeyCount {
            one_time_prekeys: 0,
            low: true,
            one_time_kem_prekeys: 0,
            kem_low: true,
        }
    );
    // The last-resort key is still handed out.
    let bundles = fetch_bundles_concurrently(&h, &alice, "bob", 1).await;
    assert_eq!(bundles[0].kem_prekey.as_ref().map(|k| k.id.0), Some(1000));
}

/// KEM prekeys whose signature does not verify under the uploading
/// device's identity (forged, altered, or signed by another device), and
/// keys that are not well-formed ML-KEM-768 keys, are refused with
/// `bad_kem_prekey`; nothing of the upload is stored.
#[tokio::test]
async fn kem_prekeys_not_signed_by_the_device_or_malformed_are_refused_whole() {
    let h = Harness::new();
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register("bob", 1, 2).await;
    let upload = |last_resort: Option<KemPrekey>, one_time: Vec<KemPrekey>| PrekeyUpload {
        signed_prekey: Some(SignedPrekey {
            id: PrekeyId(0),
            public_key: X25519PublicKey([7; 32]),
            signature: Ed25519Signature([8; 64]),
        }),
        one_time_prekeys: vec![OneTimePrekey {
            id: PrekeyId(1),
            public_key: X25519PublicKey([1; 32]),
        }]
        .into(),
        last_resort_kem_prekey: last_resort,
        one_time_kem_prekeys: one_time.into(),
    };
    let mut forged = kem_prekeys::kem_prekey(&bob.key, 1001);
    forged.signature.0[10] ^= 1;
    let mut altered_key = kem_prekeys::kem_prekey(&bob.key, 1002);
    altered_key.public_key.0[1183] ^= 1;
    let mut moved_id = kem_prekeys::kem_prekey(&bob.key, 1003);
    moved_id.id = PrekeyId(1004);
    let alices = kem_prekeys::kem_prekey(&alice.key, 1005);
    // t̂'s first coefficient 0xfff, over q, signed all the same.
    let mut malformed = kem_prekeys::kem_prekey(&bob.key, 1006).public_key;
    malformed.0[0] = 0xff;
    malformed.0[1] = 0x0f;
    let malformed = kem_prekeys::sign_kem_prekey(&bob.key, 1006, malformed);
    let good = || kem_prekeys::kem_prekey(&bob.key, 1000);
    for bad in [forged, altered_key, moved_id, alices, malformed] {
        for upload in [
            upload(Some(bad.clone()), vec![]),
            upload(Some(good()), vec![good(), bad.clone()]),
        ] {
            let (status, body) = h.upload(&bob, &upload).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(json["code"], "bad_kem_prekey");
            let message = json["message"].as_str().unwrap();
            assert!(message.contains(&bad.id.0.to_string()), "{message}");
        }
    }
    // Nothing was stored: no bundle, no prekey counted.
    let (status, _) = h
        .call(
            Method::GET,
            "/v1/users/bob/bundles",
            Some(&alice.token),
            vec![],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, body) = h
        .call(Method::GET, "/v1/prekeys/count", Some(&bob.token), vec![])
        .await;
    let count = PrekeyCount::from_bytes(&body).unwrap();
    assert_eq!((count.one_time_prekeys, count.one_time_kem_prekeys), (0, 0));
    // The same upload with good keys is taken.
    let (status, _) = h
        .upload(
            &bob,
            &upload(Some(good()), vec![kem_prekeys::kem_prekey(&bob.key, 1001)]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// The largest upload (100 one-time prekeys and 100 one-time KEM prekeys,
/// about 130 KB) fits the route's body limit.
#[tokio::test]
async fn the_largest_prekey_upload_fits_the_body_limit() {
    let h = Harness::new();
    let bob = h.register("bob", 1, 2).await;
    assert_eq!(
        h.publish(&bob, 100).await,
        PrekeyCount {
            one_time_prekeys: 100,
            low: false,
            one_time_kem_prekeys: 100,
            kem_low: false,
        }
    );
}

/// `kem_low` is said when the one-time KEM pool is under the low
/// watermark, or there is no last-resort KEM prekey however full the pool;
/// a mailbox batch's `prekeys_low` says either pool is low.
#[tokio::test]
async fn kem_low_is_said_for_a_low_pool_or_a_missing_last_resort_key() {
    let h = Harness::new();
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register("bob", 1, 2).await;
    let one_time: Vec<_> = (1..=20)
        .map(|id| OneTimePrekey {
            id: PrekeyId(id),
            public_key: X25519PublicKey([id as u8; 32]),
        })
        .collect();
    // A full KEM pool but no last-resort key.
    let upload = PrekeyUpload {
        signed_prekey: Some(SignedPrekey {
            id: PrekeyId(0),
            public_key: X25519PublicKey([7; 32]),
            signature: Ed25519Signature([8; 64]),
        }),
        one_time_prekeys: one_time.clone().into(),
        last_resort_kem_prekey: None,
        one_time_kem_prekeys: kem_prekeys::kem_prekeys(&bob.key, 101..121).into(),
    };
    let (status, body) = h.upload(&bob, &upload).await;
    assert_eq!(status, StatusCode::OK);
    let count = PrekeyCount::from_bytes(&body).unwrap();
    assert_eq!(
        count,
        PrekeyCount {
            one_time_prekeys: 20,
            low: false,
            one_time_kem_prekeys: 20,
            kem_low: true,
        }
    );
    let (status, _) = h.send(&alice, &bob.address, b"one").await;
    assert_eq!(status, StatusCode::OK);
    assert!(h.fetch(&bob).await.prekeys_low);

    // With a last-resort key: not low, until the KEM pool runs under the
    // watermark (10) while the X25519 pool does not.
    let upload = PrekeyUpload {
        signed_prekey: None,
        one_time_prekeys: one_time
            .iter()
            .map(|key| OneTimePrekey {
                id: PrekeyId(key.id.0 + 100),
                public_key: key.public_key,
            })
            .collect::<Vec<_>>()
            .into(),
        last_resort_kem_prekey: Some(kem_prekeys::kem_prekey(&bob.key, 100)),
        one_time_kem_prekeys: Vec::new().into(),
    };
    let (status, body) = h.upload(&bob, &upload).await;
    assert_eq!(status, StatusCode::OK);
    let count = PrekeyCount::from_bytes(&body).unwrap();
    assert!(!count.low && !count.kem_low, "{count:?}");
    assert!(!h.fetch(&bob).await.prekeys_low);
    let bundles = fetch_bundles_concurrently(&h, &alice, "bob", 11).await;
    assert_eq!(bundles.len(), 11);
    let (_, body) = h
        .call(Method::GET, "/v1/prekeys/count", Some(&bob.token), vec![])
        .await;
    assert_eq!(
        PrekeyCount::from_bytes(&body).unwrap(),
        PrekeyCount {
            one_time_prekeys: 29,
            low: false,
            one_time_kem_prekeys: 9,
            kem_low: true,
        }
    );
    assert!(h.fetch(&bob).await.prekeys_low);
}
