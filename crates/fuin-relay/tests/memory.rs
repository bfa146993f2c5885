//! What the relay keeps in memory stays bounded: rate buckets of clients
//! and devices that went quiet are forgotten, clients over the cap share one
//! bucket, IPv6 clients are counted per /64, and wake-up handles exist only
//! while someone waits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/eventually.rs"]
mod eventually;
mod lists;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
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

struct Node {
    relay: Arc<Relay<SqliteStore>>,
    app: Router,
    time: Arc<AtomicU64>,
    _dir: tempfile::TempDir,
}

impl Node {
    fn new(adjust: impl FnOnce(&mut RelayConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("relay.db")).unwrap();
        let time = Arc::new(AtomicU64::new(START));
        let clock_time = time.clone();
        let clock: Clock = Arc::new(move || clock_time.load(Ordering::SeqCst));
        let mut config = RelayConfig::new(StampKeys::new(StampKeyId(1), [0x5a; 32]));
        config.origins = vec![lists::TEST_ORIGIN.to_owned()];
        adjust(&mut config);
        let relay = Relay::new(store, config, clock);
        Self {
            app: router(relay.clone()),
            relay,
            time,
            _dir: dir,
        }
    }

    /// One request as if from the client address `from`.
    async fn call(
        &self,
        from: IpAddr,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Vec<u8>) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let mut request = request.body(Body::from(body)).unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(from, 40_000)));
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, bytes.to_vec())
    }

    async fn register(&self, from: IpAddr, user: &str) -> StatusCode {
        self.call(
            from,
            Method::POST,
            "/v1/accounts",
            None,
            registration(user, &key(user)),
        )
        .await
        .0
    }

    /// Registers and logs in `user`'s device 1; its token.
    async fn login(&self, user: &str) -> String {
        let from = loopback(1);
        assert_eq!(self.register(from, user).await, StatusCode::CREATED);
        let address = address(user);
        let request = ChallengeRequest {
            address: address.clone(),
        };
        let (status, body) = self
            .call(
                from,
                Method::POST,
                "/v1/auth/challenge",
                None,
                request.to_bytes().unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let nonce = AuthChallenge::from_bytes(&body).unwrap().nonce;
        let answer = ChallengeResponse {
            address: address.clone(),
            nonce,
            signature: Ed25519Signature(
                key(user)
                    .sign(&relay_auth_input(lists::TEST_ORIGIN, &address, &nonce))
                    .to_bytes(),
            ),
        };
        let (status, body) = self
            .call(
                from,
                Method::POST,
                "/v1/auth/token",
                None,
                answer.to_bytes().unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let token = AuthToken::from_bytes(&body).unwrap();
        hex::encode(token.token.0)
    }

    async fn send(&self, token: &str, to: &[&str]) -> StatusCode {
        let batch = SendBatch {
            envelopes: to
                .iter()
                .map(|user| RoutingEnvelope {
                    recipient: address(user),
                    content_kind: ContentKind::Message,
                    franking_commitment: FrankingCommitment([3; 32]),
                    sealed_body: Opaque::from(b"sealed".to_vec()),
                })
                .collect::<Vec<_>>()
                .into(),
        };
        self.call(
            loopback(1),
            Method::POST,
            "/v1/messages",
            Some(token),
            batch.to_bytes().unwrap(),
        )
        .await
        .0
    }

    fn advance(&self, ms: u64) {
        self.time.fetch_add(ms, Ordering::SeqCst);
    }
}

fn key(user: &str) -> SigningKey {
    SigningKey::from_bytes(&seed_of(user))
}

fn seed_of(user: &str) -> [u8; 32] {
    let mut seed = [0u8; 32];
    for (i, byte) in user.bytes().enumerate() {
        seed[i % 32] ^= byte.wrapping_add(i as u8);
    }
    seed
}

fn address(user: &str) -> DeviceAddress<'static> {
    DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(1))
}

/// The body of `POST /v1/accounts` for `user` with device 1 and `key`.
fn registration(user: &str, key: &SigningKey) -> Vec<u8> {
    let list = lists::signed_list(
        &lists::account_key(1),
        user,
        1,
        &[(1, lists::identity(key, 1))],
    );
    lists::registration(&list, None)
}

/// An address in 127.0.0.0/8, distinct for each `n` below 2^24.
fn loopback(n: u32) -> IpAddr {
    let [_, b, c, d] = n.to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(127, b, c, d))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_of_quiet_clients_and_devices_are_forgotten() {
    let node = Node::new(|_| {});
    for n in 0..300 {
        assert_eq!(
            node.register(loopback(1000 + n), &format!("user{n}")).await,
            StatusCode::CREATED
        );
    }
    let alice = node.login("alice").await;
    let bob = node.login("bob").await;
    assert_eq!(node.send(&alice, &["bob"]).await, StatusCode::OK);
    assert_eq!(node.send(&bob, &["alice"]).await, StatusCode::OK);
    // 300 clients and loopback(1); two devices.
    assert_eq!(node.relay.rate_buckets(), (301, 2));

    // A sweep right away forgets nothing: every bucket is short of full.
    node.relay.sweep().await.unwrap();
    assert_eq!(node.relay.rate_buckets(), (301, 2));
    // Once they have all refilled, it forgets them all.
    node.advance(60_000);
    node.relay.sweep().await.unwrap();
    assert_eq!(node.relay.rate_buckets(), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_over_the_bucket_cap_share_one_bucket() {
    let node = Node::new(|config| {
        config.max_rate_buckets = 10;
        config.anonymous_request_burst = 2;
        config.anonymous_requests_per_second = 1;
    });
    for n in 0..10 {
        assert_eq!(
            node.register(loopback(n), &format!("user{n}")).await,
            StatusCode::CREATED
        );
    }
    // Clients 10 and 11 take the overflow bucket's two tokens; 12 finds none.
    assert_eq!(
        node.register(loopback(10), "u10").await,
        StatusCode::CREATED
    );
    assert_eq!(
        node.register(loopback(11), "u11").await,
        StatusCode::CREATED
    );
    assert_eq!(
        node.register(loopback(12), "u12").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(node.relay.rate_buckets().0, 10);
    // The first ten still have their own bucket, with one token left.
    assert_eq!(node.register(loopback(0), "v0").await, StatusCode::CREATED);
    assert_eq!(
        node.register(loopback(0), "w0").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_clients_share_a_bucket_per_64_prefix() {
    let node = Node::new(|config| config.anonymous_request_burst = 1);
    let ip = |text: &str| text.parse::<IpAddr>().unwrap();
    assert_eq!(
        node.register(ip("2001:db8:1:2::1"), "a").await,
        StatusCode::CREATED
    );
    // Another address of the same /64 draws from the same bucket.
    assert_eq!(
        node.register(ip("2001:db8:1:2:ffff::9"), "b").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The next /64 has its own.
    assert_eq!(
        node.register(ip("2001:db8:1:3::1"), "c").await,
        StatusCode::CREATED
    );
    // An IPv4 client seen through an IPv6 socket is that IPv4 client.
    assert_eq!(
        node.register(ip("127.0.0.5"), "d").await,
        StatusCode::CREATED
    );
    assert_eq!(
        node.register(ip("::ffff:127.0.0.5"), "e").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wakeup_handles_exist_only_while_someone_waits() {
    let node = Arc::new(Node::new(|_| {}));
    let alice = node.login("alice").await;
    let bob = node.login("bob").await;
    let recipients: Vec<String> = (0..20).map(|n| format!("r{n}")).collect();
    for user in &recipients {
        assert_eq!(node.register(loopback(7), user).await, StatusCode::CREATED);
    }
    let to: Vec<&str> = recipients.iter().map(String::as_str).collect();
    assert_eq!(node.send(&alice, &to).await, StatusCode::OK);
    // Sending to mailboxes no one waits on makes no handle.
    assert_eq!(node.relay.wakeup_handles(), 0);

    let poll = {
        let node = node.clone();
        let bob = bob.clone();
        tokio::spawn(async move {
            node.call(
                loopback(1),
                Method::GET,
                "/v1/mailbox?wait_ms=30000",
                Some(&bob),
                vec![],
            )
            .await
        })
    };
    eventually_async("bob's poll to wait", PATIENCE, || {
        let waiting = node.relay.mail_waiters() == 1;
        async move { waiting }
    })
    .await;
    assert_eq!(node.relay.wakeup_handles(), 1);
    assert_eq!(node.send(&alice, &["bob"]).await, StatusCode::OK);
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(MailboxBatch::from_bytes(&body).unwrap().records.len(), 1);
    // The poll is over: the sweep drops its handle.
    node.relay.sweep().await.unwrap();
    assert_eq!(node.relay.wakeup_handles(), 0);
}
