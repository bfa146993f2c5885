//! The admin API in process (`spec/relay-operations.md` §11): its credential, what
//! a suspension refuses and keeps, what removing a device does to the
//! user's list, and that the public router has none of it. The same
//! actions through the `fuin-relay admin` binary are in `admin_cli.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/eventually.rs"]
mod eventually;
#[path = "harness/mod.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use ed25519_dalek::{Signer, SigningKey};
use eventually::{PATIENCE, eventually_async};
use fuin_relay::api::admin_router;
use fuin_relay::store::Store;
use fuin_wire::relay::*;
use fuin_wire::*;
use futures_util::StreamExt;
use harness::lists::{account_key, identity, signed_list};
use harness::{Answer, Device, Harness, default_config};
use http_body_util::BodyExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tower::ServiceExt;

/// The admin credential of these tests, and the hash the relay keeps.
const CREDENTIAL: [u8; 32] = [0xad; 32];

fn admin_harness() -> (Harness, Router) {
    let mut config = default_config();
    config.admin_credential_hash = Some(Sha256::digest(CREDENTIAL).into());
    let h = Harness::with(config);
    let admin = admin_router(h.relay.clone());
    (h, admin)
}

/// One admin request with `authorization` as the header, if any.
async fn admin_call(
    admin: &Router,
    method: Method,
    path: &str,
    authorization: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = admin
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)));
    (status, json)
}

/// One admin request with the right credential.
async fn admin_do(admin: &Router, method: Method, path: &str) -> (StatusCode, Value) {
    let header = format!("Admin {}", hex::encode(CREDENTIAL));
    admin_call(admin, method, path, Some(&header)).await
}

async fn send(h: &Harness, from: &Device, to: &DeviceAddress<'static>, body: &[u8]) -> Answer {
    let batch = SendBatch {
        envelopes: vec![RoutingEnvelope {
            recipient: to.clone(),
            content_kind: ContentKind::Message,
            franking_commitment: FrankingCommitment([3; 32]),
            sealed_body: Opaque::from(body.to_vec()),
        }]
        .into(),
    };
    h.call(
        Method::POST,
        "/v1/messages",
        Some(&from.token),
        batch.to_bytes().unwrap(),
    )
    .await
}

/// A fresh challenge answered by `key`: the token request's answer.
async fn log_in(h: &Harness, address: &DeviceAddress<'static>, key: &SigningKey) -> Answer {
    let request = ChallengeRequest {
        address: address.clone(),
    };
    let answer = h
        .call(
            Method::POST,
            "/v1/auth/challenge",
            None,
            request.to_bytes().unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let nonce = AuthChallenge::from_bytes(&answer.body).unwrap().nonce;
    let response = ChallengeResponse {
        address: address.clone(),
        nonce,
        signature: Ed25519Signature(
            key.sign(&relay_auth_input(&h.origin, address, &nonce))
                .to_bytes(),
        ),
    };
    h.call(
        Method::POST,
        "/v1/auth/token",
        None,
        response.to_bytes().unwrap(),
    )
    .await
}

fn records(answer: &Answer) -> Vec<Vec<u8>> {
    assert_eq!(answer.status, StatusCode::OK);
    MailboxBatch::from_bytes(&answer.body)
        .unwrap()
        .records
        .as_slice()
        .iter()
        .map(|record| record.envelope.sealed_body.as_bytes().to_vec())
        .collect()
}

fn suspended() -> (StatusCode, String) {
    (StatusCode::FORBIDDEN, "account_suspended".to_owned())
}

/// Every admin endpoint, as method and path, for the checks that apply to
/// all of them.
fn every_endpoint() -> Vec<(Method, &'static str)> {
    vec![
        (Method::GET, "/v1/admin/stats"),
        (Method::POST, "/v1/admin/users/bob/suspend"),
        (Method::POST, "/v1/admin/users/bob/restore"),
        (Method::DELETE, "/v1/admin/users/bob/devices/2"),
        (Method::DELETE, "/v1/admin/users/bob/tokens"),
        (Method::DELETE, "/v1/admin/users/bob/devices/1/tokens"),
        (Method::POST, "/v1/admin/invites?count=3"),
        (Method::POST, "/v1/admin/purge"),
        (Method::GET, "/v1/admin/actions"),
        (Method::GET, "/v1/admin/no-such-endpoint"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_admin_credential_every_admin_request_is_refused_and_nothing_done() {
    let (h, admin) = admin_harness();
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register_user("bob", &[(1, 2), (2, 3)]).await;
    let before = h.relay.store().stats().await.unwrap();
    let wrong = format!("Admin {}", hex::encode([0xae; 32]));
    let moderation_scheme = format!("Moderation {}", hex::encode(CREDENTIAL));
    let bearer = format!("Bearer {}", bob[0].token);
    let short = format!("Admin {}", &hex::encode(CREDENTIAL)[..62]);
    let lower_scheme = format!("admin {}", hex::encode(CREDENTIAL));
    for (method, path) in every_endpoint() {
        for header in [
            None,
            Some(wrong.as_str()),
            Some(moderation_scheme.as_str()),
            Some(bearer.as_str()),
            Some(short.as_str()),
            Some(lower_scheme.as_str()),
            Some("Admin "),
        ] {
            let (status, json) = admin_call(&admin, method.clone(), path, header).await;
            assert_eq!(
                (status, json["code"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("unauthorized")),
                "{method} {path} with {header:?}"
            );
        }
    }
    // Nothing was done: the same counts, bob not suspended, his devices and
    // tokens as they were, nothing in the audit log.
    assert_eq!(h.relay.store().stats().await.unwrap(), before);
    assert_eq!(h.relay.store().admin_actions(10).await, Ok(vec![]));
    assert_eq!(
        send(&h, &bob[0], &alice.address, b"hi").await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&h, &bob[1], &alice.address, b"hi").await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_is_not_on_the_public_router_and_not_there_without_a_hash() {
    let (h, _admin) = admin_harness();
    let bob = h.register("bob", 1, 2).await;
    let header = format!("Admin {}", hex::encode(CREDENTIAL));
    for (method, path) in every_endpoint() {
        let answer = h
            .send(
                method.clone(),
                path,
                &[("authorization", header.clone())],
                Body::empty(),
            )
            .await;
        assert_eq!(
            answer.refusal(),
            (StatusCode::NOT_FOUND, "not_found".to_owned()),
            "{method} {path}"
        );
    }
    assert_eq!(
        h.relay.store().user_suspended(&bob.address.user).await,
        Ok(false)
    );

    // A relay without the hash answers 404 whatever the request carries.
    let plain = Harness::new();
    let admin = admin_router(plain.relay.clone());
    for (method, path) in every_endpoint() {
        let (status, json) = admin_call(&admin, method, path, Some(&header)).await;
        assert_eq!(
            (status, json["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_user_is_refused_everything_their_long_poll_ends_and_their_mailbox_is_kept() {
    let (h, admin) = admin_harness();
    let h = Arc::new(h);
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register_user("bob", &[(1, 2), (2, 3)]).await;
    assert_eq!(
        send(&h, &alice, &bob[0].address, b"before").await.status,
        StatusCode::OK
    );

    // bob/2's mailbox is empty: its long poll waits.
    let waiting = {
        let h = h.clone();
        let token = bob[1].token.clone();
        tokio::spawn(async move {
            h.call(
                Method::GET,
                "/v1/mailbox?wait_ms=20000",
                Some(&token),
                vec![],
            )
            .await
        })
    };
    let relay = h.relay.clone();
    eventually_async("bob/2's long poll waiting", PATIENCE, || {
        let waiters = relay.mail_waiters();
        async move { waiters == 1 }
    })
    .await;

    let (status, json) = admin_do(&admin, Method::POST, "/v1/admin/users/bob/suspend").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["changed"], Value::Bool(true));
    let ended = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the suspended user's long poll did not end")
        .unwrap();
    assert_eq!(ended.refusal(), suspended());

    // Sends, group sends, prekey and list publishes, fetches and logins of
    // either device are refused.
    let group = GroupSend {
        recipients: vec![alice.address.clone()].into(),
        franking_commitment: FrankingCommitment([0x33; 32]),
        sealed_body: Opaque::from(b"group".to_vec()),
    };
    let upload = PrekeyUpload {
        signed_prekey: None,
        one_time_prekeys: vec![OneTimePrekey {
            id: PrekeyId(1),
            public_key: X25519PublicKey([1; 32]),
        }]
        .into(),
        last_resort_kem_prekey: None,
        one_time_kem_prekeys: Vec::new().into(),
    };
    let list = signed_list(
        &account_key(2),
        "bob",
        2,
        &[
            (1, identity(&SigningKey::from_bytes(&[2; 32]), 2)),
            (2, identity(&SigningKey::from_bytes(&[3; 32]), 3)),
        ],
    );
    for device in &bob {
        assert_eq!(
            send(&h, device, &alice.address, b"no").await.refusal(),
            suspended()
        );
        let token = Some(device.token.as_str());
        for (method, path, body) in [
            (
                Method::POST,
                "/v1/groups/messages",
                group.to_bytes().unwrap(),
            ),
            (Method::PUT, "/v1/prekeys", upload.to_bytes().unwrap()),
            (Method::PUT, "/v1/account/devices", list.to_bytes().unwrap()),
            (Method::GET, "/v1/mailbox", vec![]),
        ] {
            let answer = h.call(method.clone(), path, token, body).await;
            assert_eq!(answer.refusal(), suspended(), "{method} {path}");
        }
        assert_eq!(
            log_in(&h, &device.address, &device.key).await.refusal(),
            suspended()
        );
    }
    assert_eq!(
        h.relay.store().one_time_remaining(&bob[0].address).await,
        Ok(0)
    );
    // Others can still send to bob, and alice is not affected.
    assert_eq!(
        send(&h, &alice, &bob[0].address, b"during").await.status,
        StatusCode::OK
    );
    let alices = h
        .call(Method::GET, "/v1/mailbox", Some(&alice.token), vec![])
        .await;
    assert!(records(&alices).is_empty(), "a refused send was stored");

    let (status, json) = admin_do(&admin, Method::POST, "/v1/admin/users/bob/restore").await;
    assert_eq!(
        (status, &json["changed"]),
        (StatusCode::OK, &Value::Bool(true))
    );
    // Everything waited, and bob's tokens work again.
    let fetched = h
        .call(Method::GET, "/v1/mailbox", Some(&bob[0].token), vec![])
        .await;
    assert_eq!(
        records(&fetched),
        vec![b"before".to_vec(), b"during".to_vec()]
    );
    assert_eq!(
        send(&h, &bob[0], &alice.address, b"back").await.status,
        StatusCode::OK
    );
    assert_eq!(
        log_in(&h, &bob[1].address, &bob[1].key).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_device_stays_in_the_signed_list_until_the_user_publishes_a_newer_one() {
    let (h, admin) = admin_harness();
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register_user("bob", &[(1, 2), (2, 3)]).await;
    let list_before = h
        .call(
            Method::GET,
            "/v1/users/bob/devices",
            Some(&alice.token),
            vec![],
        )
        .await
        .body;

    let (status, json) = admin_do(&admin, Method::DELETE, "/v1/admin/users/bob/devices/2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["removed"], Value::Bool(true));
    // Its token is refused; it cannot log in; a send to it is refused.
    let answer = h
        .call(Method::GET, "/v1/mailbox", Some(&bob[1].token), vec![])
        .await;
    assert_eq!(
        answer.refusal(),
        (StatusCode::UNAUTHORIZED, "unauthorized".to_owned())
    );
    let challenge = h
        .call(
            Method::POST,
            "/v1/auth/challenge",
            None,
            ChallengeRequest {
                address: bob[1].address.clone(),
            }
            .to_bytes()
            .unwrap(),
        )
        .await;
    assert_eq!(
        challenge.refusal(),
        (StatusCode::NOT_FOUND, "unknown_device".to_owned())
    );
    assert_eq!(
        send(&h, &alice, &bob[1].address, b"x").await.refusal(),
        (StatusCode::NOT_FOUND, "unknown_recipient".to_owned())
    );
    // The list is bob's, byte for byte, as before: the relay cannot sign one.
    let list_after = h
        .call(
            Method::GET,
            "/v1/users/bob/devices",
            Some(&alice.token),
            vec![],
        )
        .await;
    assert_eq!(list_after.body, list_before);
    // Removing it again: it is not registered.
    let (status, json) = admin_do(&admin, Method::DELETE, "/v1/admin/users/bob/devices/2").await;
    assert_eq!(
        (status, json["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_device"))
    );
    // bob/1 is untouched; bob's newer list naming device 2 registers it again.
    assert_eq!(
        send(&h, &bob[0], &alice.address, b"ok").await.status,
        StatusCode::OK
    );
    let newer = signed_list(
        &account_key(2),
        "bob",
        2,
        &[
            (1, identity(&SigningKey::from_bytes(&[2; 32]), 2)),
            (2, identity(&SigningKey::from_bytes(&[3; 32]), 3)),
        ],
    );
    let published = h
        .call(
            Method::PUT,
            "/v1/account/devices",
            Some(&bob[0].token),
            newer.to_bytes().unwrap(),
        )
        .await;
    assert_eq!(published.status, StatusCode::NO_CONTENT);
    assert_eq!(
        log_in(&h, &bob[1].address, &bob[1].key).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_tokens_end_their_streams_and_are_refused() {
    let (h, admin) = admin_harness();
    let h = Arc::new(h);
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register_user("bob", &[(1, 2), (2, 3)]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(fuin_relay::serve(listener, h.relay.clone(), async move {
        let _ = stopped.await;
    }));
    let mut request = format!("ws://{address}/v1/mailbox/stream")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", bob[1].token).parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    // One device's tokens: bob/2's stream closes, bob/1 keeps working.
    let (status, json) = admin_do(
        &admin,
        Method::DELETE,
        "/v1/admin/users/bob/devices/2/tokens",
    )
    .await;
    assert_eq!(
        (status, json["revoked"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => break frame,
                Some(Ok(_)) => {}
                other => panic!("the stream ended without a close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("the revoked token's stream stayed open");
    assert_eq!(closed.unwrap().reason.as_str(), "token_revoked");
    let refused = h
        .call(Method::GET, "/v1/mailbox", Some(&bob[1].token), vec![])
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(&h, &bob[0], &alice.address, b"ok").await.status,
        StatusCode::OK
    );

    // All of bob's: bob/1's token goes too, alice's stays.
    let (status, json) = admin_do(&admin, Method::DELETE, "/v1/admin/users/bob/tokens").await;
    assert_eq!(
        (status, json["revoked"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    assert_eq!(
        send(&h, &bob[0], &alice.address, b"no").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&h, &alice, &bob[0].address, b"ok").await.status,
        StatusCode::OK
    );
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_invites_and_purge_answer_what_the_store_holds() {
    let (h, admin) = admin_harness();
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register("bob", 1, 2).await;
    for body in [&b"12345"[..], b"678"] {
        assert_eq!(
            send(&h, &alice, &bob.address, body).await.status,
            StatusCode::OK
        );
    }
    let (status, stats) = admin_do(&admin, Method::GET, "/v1/admin/stats").await;
    assert_eq!(status, StatusCode::OK);
    let stored = h.relay.store().stats().await.unwrap();
    assert_eq!(
        (
            stored.accounts,
            stored.devices,
            stored.envelopes,
            stored.tokens
        ),
        (2, 2, 2, 2)
    );
    assert_eq!(stats["accounts"].as_u64(), Some(2));
    assert_eq!(stats["envelopes"].as_u64(), Some(2));
    assert_eq!(stats["tokens"].as_u64(), Some(2));
    assert_eq!(
        stats["envelope_bytes"].as_u64(),
        Some(stored.envelope_bytes)
    );
    assert_eq!(stats["open_streams"].as_u64(), Some(0));

    // Invites: that many, each usable once (kept as hashes), and a count
    // out of range is refused.
    let (status, json) = admin_do(&admin, Method::POST, "/v1/admin/invites?count=3").await;
    assert_eq!(status, StatusCode::OK);
    let codes: Vec<[u8; 32]> = json["invites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| {
            hex::decode(code.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect();
    assert_eq!(codes.len(), 3);
    for code in &codes {
        let hash: [u8; 32] = Sha256::digest(code).into();
        assert_eq!(h.relay.store().invite_unspent(hash).await, Ok(true));
    }
    for query in ["count=0", "count=10001", "count=many", "count=-1"] {
        let (status, json) =
            admin_do(&admin, Method::POST, &format!("/v1/admin/invites?{query}")).await;
        assert_eq!(
            (status, json["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_query")),
            "{query}"
        );
    }
    assert_eq!(h.relay.store().stats().await.unwrap().invites, 3);
    for path in [
        "/v1/admin/users/bob/devices/x",
        "/v1/admin/users/bob/devices/4294967296",
        "/v1/admin/users/bob/devices/-1",
    ] {
        let (status, json) = admin_do(&admin, Method::DELETE, path).await;
        assert_eq!(
            (status, json["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_path")),
            "{path}"
        );
    }
    let (status, json) = admin_do(&admin, Method::POST, "/v1/admin/users/nobody/suspend").await;
    assert_eq!(
        (status, json["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_user"))
    );

    // Purge: nothing has expired yet, then the envelopes and tokens have.
    let (status, json) = admin_do(&admin, Method::POST, "/v1/admin/purge").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["removed"]["envelopes"].as_u64(), Some(0));
    assert_eq!(json["removed"]["tokens"].as_u64(), Some(0));
    let config = default_config();
    let past_both = config.envelope_lifetime.max(config.token_lifetime) + Duration::from_secs(1);
    h.advance(u64::try_from(past_both.as_millis()).unwrap());
    let (status, json) = admin_do(&admin, Method::POST, "/v1/admin/purge").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["removed"]["envelopes"].as_u64(), Some(2));
    assert_eq!(
        json["removed"]["envelope_bytes"].as_u64(),
        Some(stored.envelope_bytes)
    );
    assert_eq!(json["removed"]["tokens"].as_u64(), Some(2));
    let after = h.relay.store().stats().await.unwrap();
    assert_eq!((after.envelopes, after.tokens), (0, 0));

    // The audit log holds the actions that changed something (or tried
    // to), newest first, and no invite code.
    let (status, json) = admin_do(&admin, Method::GET, "/v1/admin/actions?limit=10").await;
    assert_eq!(status, StatusCode::OK);
    let logged: Vec<(String, String)> = json["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| {
            (
                record["action"].as_str().unwrap().to_owned(),
                record["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [("purge", ""), ("purge", ""), ("invite", "")];
    assert_eq!(
        logged,
        expected
            .iter()
            .map(|(action, target)| ((*action).to_owned(), (*target).to_owned()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        json["actions"][0]["outcome"].as_str().map(|outcome| {
            serde_json::from_str::<Value>(outcome).unwrap()["envelopes"].as_u64()
        }),
        Some(Some(2))
    );
    let text = json.to_string();
    for code in &codes {
        assert!(
            !text.contains(&hex::encode(code)),
            "an invite code was logged"
        );
    }
    for query in ["limit=0", "limit=1001", "limit=all"] {
        let (status, json) =
            admin_do(&admin, Method::GET, &format!("/v1/admin/actions?{query}")).await;
        assert_eq!(
            (status, json["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_query")),
            "{query}"
        );
    }
}
