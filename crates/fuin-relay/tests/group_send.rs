//! The group fan-out (`POST /v1/groups/messages`), driven in process over
//! both backends: SQLite always, PostgreSQL when `FUIN_TEST_POSTGRES` names a
//! database (required under CI). One group ciphertext reaches every named
//! recipient as its own stamped `Delivered` record; bad bodies change
//! nothing; a device fans out only as itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod lists;

use std::io::Write;
use std::sync::{Arc, Once};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use ed25519_dalek::{Signer, SigningKey};
use fuin_relay::api::Clock;
use fuin_relay::franking::StampKeys;
use fuin_relay::store::Store;
use fuin_relay::store::postgres::PostgresStore;
use fuin_relay::store::sqlite::SqliteStore;
use fuin_relay::{Relay, RelayConfig, router};
use fuin_wire::relay::*;
use fuin_wire::*;
use hmac::{KeyInit, Mac};

use http_body_util::BodyExt;
use tower::ServiceExt;

const START: u64 = 1_795_000_000_000;
const STAMP_KEY: [u8; 32] = [0x5a; 32];

struct Harness {
    app: Router,
}

struct Device {
    address: DeviceAddress<'static>,
    token: String,
}

impl Harness {
    fn new<S: Store>(store: S) -> Self {
        let clock: Clock = Arc::new(|| START);
        let mut config = RelayConfig::new(StampKeys::new(StampKeyId(1), STAMP_KEY));
        config.origins = vec![lists::TEST_ORIGIN.to_owned()];
        // Logins come from one test, as fast as it can make them: seventy
        // devices log in for the large fan-out without waiting for refills.
        config.anonymous_request_burst = 1_000;
        Self {
            app: router(Relay::new(store, config, clock)),
        }
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

    async fn refusal(&self, token: Option<&str>, body: Vec<u8>) -> (StatusCode, String) {
        let (status, body) = self
            .call(Method::POST, "/v1/groups/messages", token, body)
            .await;
        assert!(status.is_client_error(), "expected a 4xx, got {status}");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
        (status, json["code"].as_str().unwrap().to_owned())
    }

    async fn register(&self, user: &str, device: u32, seed: u8) -> Device {
        self.register_user(user, &[(device, seed)])
            .await
            .pop()
            .unwrap()
    }

    /// Creates `user`'s account naming every `(device, seed)`; logs each in.
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
            registered.push(self.login(user, *device, *seed).await);
        }
        registered
    }

    async fn login(&self, user: &str, device: u32, seed: u8) -> Device {
        let address = DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(device));
        let key = SigningKey::from_bytes(&[seed; 32]);
        let request = ChallengeRequest {
            address: address.clone(),
        };
        let (_, body) = self
            .call(
                Method::POST,
                "/v1/auth/challenge",
                None,
                request.to_bytes().unwrap(),
            )
            .await;
        let nonce = AuthChallenge::from_bytes(&body).unwrap().nonce;
        let signature = key
            .sign(&relay_auth_input(lists::TEST_ORIGIN, &address, &nonce))
            .to_bytes();
        let response = ChallengeResponse {
            address: address.clone(),
            nonce,
            signature: Ed25519Signature(signature),
        };
        let (status, body) = self
            .call(
                Method::POST,
                "/v1/auth/token",
                None,
                response.to_bytes().unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let token = hex::encode(AuthToken::from_bytes(&body).unwrap().token.0);
        Device { address, token }
    }

    async fn fetch(&self, device: &Device) -> Vec<DeliveredRecord<'static>> {
        let (status, body) = self
            .call(Method::GET, "/v1/mailbox", Some(&device.token), vec![])
            .await;
        assert_eq!(status, StatusCode::OK);
        MailboxBatch::from_bytes(&body)
            .unwrap()
            .into_owned()
            .records
            .into_vec()
    }
}

fn group_send(recipients: &[&Device], body: &[u8]) -> GroupSend<'static> {
    GroupSend {
        recipients: recipients
            .iter()
            .map(|device| device.address.clone())
            .collect::<Vec<_>>()
            .into(),
        franking_commitment: FrankingCommitment([0x33; 32]),
        sealed_body: Opaque::from(body.to_vec()),
    }
}

/// The stamp a record should carry, computed here from the stamp key and
/// the wire's stamp input (not by the relay's own code).
fn expected_stamp(
    record: &DeliveredRecord<'_>,
    sender: &DeviceAddress<'_>,
    recipient: &DeviceAddress<'_>,
) -> [u8; 32] {
    let input = franking_stamp_input(
        &record.envelope.franking_commitment,
        sender,
        recipient,
        record.server_time_ms,
        &record.server_message_id,
        record.stamp_key_id,
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&STAMP_KEY).unwrap();
    mac.update(&input);
    mac.finalize().into_bytes().into()
}

async fn fan_out_delivers_one_stamped_record_per_recipient(h: Harness) {
    let alice = h.register("alice", 1, 1).await;
    let mut bobs = h.register_user("bob", &[(1, 2), (2, 3)]).await;
    let bob2 = bobs.pop().unwrap();
    let bob = bobs.pop().unwrap();
    let carol = h.register("carol", 7, 4).await;
    let body = b"one group ciphertext for everyone".to_vec();
    let send = group_send(&[&bob, &bob2, &carol], &body);
    let (status, answer) = h
        .call(
            Method::POST,
            "/v1/groups/messages",
            Some(&alice.token),
            send.to_bytes().unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let accepted = SendAccepted::from_bytes(&answer).unwrap();
    assert_eq!(accepted.server_time_ms, START);
    let ids = accepted.message_ids.into_vec();
    assert_eq!(ids.len(), 3);
    let mut seen = std::collections::HashSet::new();
    for (recipient, id) in [&bob, &bob2, &carol].into_iter().zip(&ids) {
        let records = h.fetch(recipient).await;
        assert_eq!(records.len(), 1, "{}", recipient.address);
        let record = &records[0];
        assert_eq!(record.server_message_id, *id);
        assert!(seen.insert(*id), "a message id given twice");
        assert_eq!(record.sender, alice.address);
        assert_eq!(record.envelope.recipient, recipient.address);
        assert_eq!(record.envelope.content_kind, ContentKind::GroupMessage);
        assert_eq!(record.envelope.franking_commitment.0, [0x33; 32]);
        assert_eq!(record.envelope.sealed_body.as_bytes(), body.as_slice());
        assert_eq!(record.server_time_ms, START);
        // The stamp names this recipient, and no other.
        assert_eq!(
            record.franking_stamp.0,
            expected_stamp(record, &alice.address, &recipient.address)
        );
        for other in [&bob, &bob2, &carol] {
            if other.address != recipient.address {
                assert_ne!(
                    record.franking_stamp.0,
                    expected_stamp(record, &alice.address, &other.address)
                );
            }
        }
    }
    // The sender gets no copy.
    assert!(h.fetch(&alice).await.is_empty());
}

async fn bad_group_sends_are_refused_and_change_nothing(h: Harness) {
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register("bob", 1, 2).await;
    let carol = h.register("carol", 1, 3).await;
    let good = group_send(&[&bob, &carol], b"x").to_bytes().unwrap();
    // A sealed body one byte over its limit cannot be encoded, so take a
    // frame at the limit and lengthen its body (and the body's length) by one.
    let max = fuin_wire::limits::MAX_SEALED_BODY_LEN;
    let at_limit = GroupSend {
        recipients: vec![bob.address.clone()].into(),
        franking_commitment: FrankingCommitment([0; 32]),
        sealed_body: Opaque::from(vec![0u8; max]),
    }
    .to_bytes()
    .unwrap();
    assert_eq!(
        GroupSend::from_bytes(&at_limit).unwrap().sealed_body.len(),
        max
    );
    let varint = |mut value: usize| {
        let mut out = Vec::new();
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
        out
    };
    let prefix_len = at_limit.len() - max - varint(max).len();
    let mut oversized = at_limit[..prefix_len].to_vec();
    oversized.extend(varint(max + 1));
    oversized.extend(vec![0u8; max + 1]);
    let limit = fuin_wire::limits::MAX_FRAME_LEN;
    let empty = GroupSend {
        recipients: Vec::new().into(),
        franking_commitment: FrankingCommitment([0; 32]),
        sealed_body: Opaque::from(vec![1]),
    }
    .to_bytes()
    .unwrap();
    let one_to_one = SendBatch {
        envelopes: vec![RoutingEnvelope {
            recipient: bob.address.clone(),
            content_kind: ContentKind::Message,
            franking_commitment: FrankingCommitment([0; 32]),
            sealed_body: Opaque::from(vec![1]),
        }]
        .into(),
    }
    .to_bytes()
    .unwrap();
    let unknown = {
        let mut send = group_send(&[&bob], b"x");
        send.recipients = vec![
            bob.address.clone(),
            DeviceAddress::new(UserId::new("nobody").unwrap(), DeviceId(1)),
        ]
        .into();
        send.to_bytes().unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "truncated",
            good[..good.len() - 1].to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_frame",
        ),
        (
            "trailing byte",
            [good.clone(), vec![0]].concat(),
            StatusCode::BAD_REQUEST,
            "malformed_frame",
        ),
        ("empty", vec![], StatusCode::BAD_REQUEST, "malformed_frame"),
        (
            "a 1:1 send",
            one_to_one,
            StatusCode::BAD_REQUEST,
            "unexpected_frame",
        ),
        (
            "sealed body over its limit",
            oversized,
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            "over the frame limit",
            vec![0u8; limit + 100],
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        ("no recipient", empty, StatusCode::BAD_REQUEST, "empty_send"),
        (
            "a recipient named twice",
            group_send(&[&bob, &carol, &bob], b"x").to_bytes().unwrap(),
            StatusCode::BAD_REQUEST,
            "duplicate_recipient",
        ),
        (
            "an unregistered recipient",
            unknown,
            StatusCode::NOT_FOUND,
            "unknown_recipient",
        ),
    ];
    for (what, body, status, code) in cases {
        let (got_status, got_code) = h.refusal(Some(&alice.token), body).await;
        assert_eq!((got_status, got_code.as_str()), (status, code), "{what}");
    }
    // Nothing reached anyone, not even the registered recipient of the send
    // that named an unregistered one.
    assert!(h.fetch(&bob).await.is_empty());
    assert!(h.fetch(&carol).await.is_empty());
    // The good body still works.
    let (status, _) = h
        .call(
            Method::POST,
            "/v1/groups/messages",
            Some(&alice.token),
            good,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.fetch(&bob).await.len(), 1);
    assert_eq!(h.fetch(&carol).await.len(), 1);
}

async fn a_device_fans_out_only_as_itself(h: Harness) {
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register("bob", 1, 2).await;
    let mallory = h.register("mallory", 1, 3).await;
    let good = group_send(&[&bob], b"x").to_bytes().unwrap();
    // No token, a malformed one, and a well-formed unknown one.
    for token in [None, Some("not-hex"), Some(&*hex::encode([7u8; 32]))] {
        let (status, code) = h.refusal(token, good.clone()).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "unauthorized")
        );
    }
    assert!(h.fetch(&bob).await.is_empty());
    // Mallory's send is stamped as Mallory's, whatever the body claims: the
    // frame has no sender field, and the stamp binds the token's device.
    let (status, _) = h
        .call(
            Method::POST,
            "/v1/groups/messages",
            Some(&mallory.token),
            good,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let records = h.fetch(&bob).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].sender, mallory.address);
    assert_eq!(
        records[0].franking_stamp.0,
        expected_stamp(&records[0], &mallory.address, &bob.address)
    );
    assert_ne!(
        records[0].franking_stamp.0,
        expected_stamp(&records[0], &alice.address, &bob.address)
    );
}

/// A group send to more devices than a `SendBatch` may carry (64) is stored
/// and answered with every id: the answer is made before anything is stored,
/// so it can never disagree with what was stored.
async fn a_group_send_to_more_than_64_devices_is_answered_with_every_id(h: Harness) {
    let alice = h.register("alice", 1, 1).await;
    let mut recipients = Vec::new();
    for (index, user) in ["m0", "m1", "m2", "m3", "m4"].into_iter().enumerate() {
        let devices: Vec<(u32, u8)> = (0..14u8)
            .map(|d| (u32::from(d) + 1, 10 + 14 * index as u8 + d))
            .collect();
        recipients.extend(h.register_user(user, &devices).await);
    }
    assert!(recipients.len() > fuin_wire::relay::MAX_ENVELOPES_PER_SEND);
    let body = b"to a large group".to_vec();
    let named: Vec<&Device> = recipients.iter().collect();
    let (status, answer) = h
        .call(
            Method::POST,
            "/v1/groups/messages",
            Some(&alice.token),
            group_send(&named, &body).to_bytes().unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let ids = SendAccepted::from_bytes(&answer)
        .unwrap()
        .message_ids
        .into_vec();
    assert_eq!(ids.len(), recipients.len());
    for (recipient, id) in recipients.iter().zip(&ids) {
        let records = h.fetch(recipient).await;
        assert_eq!(records.len(), 1, "{}", recipient.address);
        assert_eq!(records[0].server_message_id, *id);
        assert_eq!(records[0].envelope.sealed_body.as_bytes(), body.as_slice());
    }
}

mod sqlite {
    use super::*;

    fn harness() -> (tempfile::TempDir, Harness) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("relay.db")).unwrap();
        (dir, Harness::new(store))
    }

    #[tokio::test]
    async fn fan_out_delivers_one_stamped_record_per_recipient() {
        let (_dir, h) = harness();
        super::fan_out_delivers_one_stamped_record_per_recipient(h).await;
    }

    #[tokio::test]
    async fn bad_group_sends_are_refused_and_change_nothing() {
        let (_dir, h) = harness();
        super::bad_group_sends_are_refused_and_change_nothing(h).await;
    }

    #[tokio::test]
    async fn a_device_fans_out_only_as_itself() {
        let (_dir, h) = harness();
        super::a_device_fans_out_only_as_itself(h).await;
    }

    #[tokio::test]
    async fn a_group_send_to_more_than_64_devices_is_answered_with_every_id() {
        let (_dir, h) = harness();
        super::a_group_send_to_more_than_64_devices_is_answered_with_every_id(h).await;
    }
}

mod postgres {
    use super::*;
    use tokio_postgres::NoTls;

    const VARIABLE: &str = "FUIN_TEST_POSTGRES";

    /// The database to test on, or `None` to skip (after saying so once).
    fn database() -> Option<String> {
        if let Some(config) = std::env::var(VARIABLE)
            .ok()
            .filter(|c| !c.trim().is_empty())
        {
            return Some(config);
        }
        if std::env::var("CI").is_ok_and(|ci| !ci.is_empty()) {
            panic!("CI is set but {VARIABLE} is not: .ci/run must start PostgreSQL");
        }
        static NOTE: Once = Once::new();
        NOTE.call_once(|| {
            let _ = writeln!(
                std::io::stderr(),
                "note: {VARIABLE} is not set: the PostgreSQL fan-out tests are skipped"
            );
        });
        None
    }

    async fn execute(database: &str, sql: &str) {
        let (client, connection) = tokio_postgres::connect(database, NoTls).await.unwrap();
        let connection = tokio::spawn(connection);
        client.batch_execute(sql).await.unwrap();
        drop(client);
        connection.await.unwrap().unwrap();
    }

    /// Runs `test` on a relay over a fresh schema, dropped afterwards.
    async fn on_postgres<F: std::future::Future<Output = ()>>(test: impl FnOnce(Harness) -> F) {
        let Some(database) = database() else { return };
        let name = format!("fuin_test_{}", hex::encode(rand::random::<[u8; 8]>()));
        execute(&database, &format!("CREATE SCHEMA {name}")).await;
        let config = if database.contains("://") {
            let separator = if database.contains('?') { '&' } else { '?' };
            format!("{database}{separator}options=-c%20search_path%3D{name}")
        } else {
            format!("{database} options='-c search_path={name}'")
        };
        let store = PostgresStore::connect_with_pool_size(&config, 4)
            .await
            .unwrap();
        test(Harness::new(store)).await;
        execute(&database, &format!("DROP SCHEMA {name} CASCADE")).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fan_out_delivers_one_stamped_record_per_recipient() {
        on_postgres(super::fan_out_delivers_one_stamped_record_per_recipient).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_group_sends_are_refused_and_change_nothing() {
        on_postgres(super::bad_group_sends_are_refused_and_change_nothing).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_device_fans_out_only_as_itself() {
        on_postgres(super::a_device_fans_out_only_as_itself).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_send_to_more_than_64_devices_is_answered_with_every_id() {
        on_postgres(super::a_group_send_to_more_than_64_devices_is_answered_with_every_id).await;
    }
}
