//! Accounts through the API (`spec/accounts.md` §6): who may create one,
//! how a signed list decides a user's devices, that no one can add a device
//! without the account key, that a removed device loses everything at once,
//! that a login answered for one relay does not open another, the link
//! rendezvous, and a database from before accounts. Each attack is carried
//! out and shown to fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use ed25519_dalek::SigningKey;
use fuin_relay::RegistrationPolicy;
use fuin_relay::store::Store;
use fuin_wire::account::{LinkMessage, SignedDeviceList};
use fuin_wire::relay::*;
use fuin_wire::*;
use futures_util::StreamExt;
use harness::lists::{account_key, identity, registration, signed_list};
use harness::{Answer, Device, Harness, default_config};
use sha2::{Digest, Sha256};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// `(device, identity)` for devices whose keys come from `seed`s.
fn named(devices: &[(u32, u8)]) -> Vec<(u32, PublicIdentity)> {
    devices
        .iter()
        .map(|(device, seed)| (*device, identity(&key(*seed), *seed)))
        .collect()
}

fn user_address(user: &str, device: u32) -> DeviceAddress<'static> {
    DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(device))
}

async fn create(h: &Harness, list: &SignedDeviceList<'static>, invite: Option<[u8; 32]>) -> Answer {
    h.call(
        Method::POST,
        "/v1/accounts",
        None,
        registration(list, invite),
    )
    .await
}

async fn publish(h: &Harness, device: &Device, list: &SignedDeviceList<'static>) -> Answer {
    h.call(
        Method::PUT,
        "/v1/account/devices",
        Some(&device.token),
        list.to_bytes().unwrap(),
    )
    .await
}

async fn device_list(h: &Harness, reader: &Device, user: &str) -> Answer {
    h.call(
        Method::GET,
        &format!("/v1/users/{user}/devices"),
        Some(&reader.token),
        vec![],
    )
    .await
}

async fn register_device(h: &Harness, address: &DeviceAddress<'static>, seed: u8) -> Answer {
    let registration = DeviceRegistration {
        address: address.clone(),
        identity: identity(&key(seed), seed),
    };
    h.call(
        Method::POST,
        "/v1/devices",
        None,
        registration.to_bytes().unwrap(),
    )
    .await
}

async fn challenge(h: &Harness, address: &DeviceAddress<'static>) -> Answer {
    let request = ChallengeRequest {
        address: address.clone(),
    };
    h.call(
        Method::POST,
        "/v1/auth/challenge",
        None,
        request.to_bytes().unwrap(),
    )
    .await
}

async fn send(h: &Harness, from: &Device, to: &DeviceAddress<'static>) -> Answer {
    let batch = SendBatch {
        envelopes: vec![RoutingEnvelope {
            recipient: to.clone(),
            content_kind: ContentKind::Message,
            franking_commitment: FrankingCommitment([3; 32]),
            sealed_body: Opaque::from(b"sealed".to_vec()),
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

fn forbidden(code: &str) -> (StatusCode, String) {
    (StatusCode::FORBIDDEN, code.to_owned())
}

#[tokio::test]
async fn an_account_is_created_once_with_a_list_its_own_key_signs() {
    let h = Harness::new();
    let alice = h.register("alice", 1, 1).await;
    let account = account_key(2);

    // A device added after signing breaks the signature.
    let mut forged = signed_list(&account, "bob", 1, &named(&[(1, 2)]));
    forged.content.devices = named(&[(1, 2), (3, 9)])
        .into_iter()
        .map(|(device, identity)| fuin_wire::account::AccountDevice {
            device: DeviceId(device),
            identity,
            name: fuin_wire::account::DeviceName::new("ghost").unwrap(),
            added_at_ms: 0,
        })
        .collect::<Vec<_>>()
        .into();
    // Signed by another key than the one it names.
    let mut other_signer = signed_list(&account, "bob", 1, &named(&[(1, 2)]));
    other_signer.signature = signed_list(&account_key(3), "bob", 1, &named(&[(1, 2)])).signature;
    let empty = signed_list(&account, "bob", 1, &[]);
    for bad in [&forged, &other_signer, &empty] {
        assert_eq!(
            create(&h, bad, None).await.refusal(),
            (StatusCode::BAD_REQUEST, "bad_device_list".to_owned())
        );
    }
    // None of them registered anything.
    assert_eq!(
        challenge(&h, &user_address("bob", 1)).await.refusal(),
        (StatusCode::NOT_FOUND, "unknown_device".to_owned())
    );

    let list = signed_list(&account, "bob", 1, &named(&[(1, 2), (4, 4)]));
    let answer = create(&h, &list, None).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert!(answer.body.is_empty());
    // Every named device is registered; the list is served byte for byte.
    for (device, seed) in [(1, 2), (4, 4)] {
        h.login(&user_address("bob", device), &key(seed)).await;
    }
    let served = device_list(&h, &alice, "bob").await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.body, list.to_bytes().unwrap());

    // The user exists: another key cannot take it over, nor can the same one.
    for again in [
        signed_list(&account_key(7), "bob", 1, &named(&[(2, 7)])),
        signed_list(&account, "bob", 2, &named(&[(1, 2), (2, 7)])),
    ] {
        assert_eq!(
            create(&h, &again, None).await.refusal(),
            (StatusCode::CONFLICT, "account_exists".to_owned())
        );
    }
    assert_eq!(
        device_list(&h, &alice, "bob").await.body,
        list.to_bytes().unwrap()
    );
    assert_eq!(
        device_list(&h, &alice, "nobody").await.refusal(),
        (StatusCode::NOT_FOUND, "unknown_user".to_owned())
    );
}

#[tokio::test]
async fn with_invite_registration_an_unspent_invite_is_needed_and_spent() {
    let mut config = default_config();
    config.registration = RegistrationPolicy::Invite;
    let h = Harness::with(config);
    let code = [0x1c; 32];
    let hash: [u8; 32] = Sha256::digest(code).into();
    h.relay.store().add_invites(&[hash]).await.unwrap();
    let list =
        |user: &str, seed: u8| signed_list(&account_key(seed), user, 1, &named(&[(1, seed)]));

    assert_eq!(
        create(&h, &list("alice", 1), None).await.refusal(),
        forbidden("invite_required")
    );
    assert_eq!(
        create(&h, &list("alice", 1), Some([0x2c; 32]))
            .await
            .refusal(),
        forbidden("invalid_invite")
    );
    assert_eq!(
        create(&h, &list("alice", 1), Some(code)).await.status,
        StatusCode::CREATED
    );
    // Reused for another user: refused, and nothing of it is stored.
    assert_eq!(
        create(&h, &list("bob", 2), Some(code)).await.refusal(),
        forbidden("invalid_invite")
    );
    assert_eq!(
        challenge(&h, &user_address("bob", 1)).await.refusal(),
        (StatusCode::NOT_FOUND, "unknown_device".to_owned())
    );
    // The policy is checked before the list: an invite does not make a bad
    // list good.
    h.relay.store().add_invites(&[[0x33; 32]]).await.unwrap();
    let mut unsigned = list("carol", 3);
    unsigned.signature = Ed25519Signature([0; 64]);
    let carol_code = [0x3d; 32];
    let carol_hash: [u8; 32] = Sha256::digest(carol_code).into();
    h.relay.store().add_invites(&[carol_hash]).await.unwrap();
    assert_eq!(
        create(&h, &unsigned, Some(carol_code)).await.refusal(),
        (StatusCode::BAD_REQUEST, "bad_device_list".to_owned())
    );
    // The refused registration did not spend it.
    assert_eq!(h.relay.store().invite_unspent(carol_hash).await, Ok(true));
}

#[tokio::test]
async fn a_stranger_cannot_register_a_free_device_number_of_an_existing_user() {
    let h = Harness::new();
    let alice = h.register("alice", 1, 1).await;
    let _bob = h.register("bob", 1, 2).await;
    let bob3 = user_address("bob", 3);

    // The ghost device: a stranger claims bob/3 with its own identity.
    assert_eq!(
        register_device(&h, &bob3, 66).await.refusal(),
        forbidden("not_in_device_list")
    );
    // It cannot log in: the relay knows no bob/3.
    assert_eq!(
        challenge(&h, &bob3).await.refusal(),
        (StatusCode::NOT_FOUND, "unknown_device".to_owned())
    );
    // Nor take over bob/1 with its identity.
    assert_eq!(
        register_device(&h, &user_address("bob", 1), 66)
            .await
            .refusal(),
        forbidden("not_in_device_list")
    );
    // bob's list is unchanged, and sends to bob/3 go nowhere.
    let served = SignedDeviceList::from_bytes(&device_list(&h, &alice, "bob").await.body)
        .unwrap()
        .into_owned();
    assert_eq!(served.content.devices.len(), 1);
    assert_eq!(
        send(&h, &alice, &bob3).await.refusal(),
        (StatusCode::NOT_FOUND, "unknown_recipient".to_owned())
    );
    // A listed device registering again: nothing to do.
    assert_eq!(
        register_device(&h, &user_address("bob", 1), 2).await.status,
        StatusCode::OK
    );
    assert_eq!(
        register_device(&h, &user_address("nobody", 1), 5)
            .await
            .refusal(),
        (StatusCode::NOT_FOUND, "no_account".to_owned())
    );
}

#[tokio::test]
async fn a_newer_list_adds_and_removes_devices_and_a_removed_one_loses_everything() {
    let h = Arc::new(Harness::new());
    let alice = h.register("alice", 1, 1).await;
    let bob = h.register("bob", 1, 2).await;
    let account = account_key(2);

    // Version 2 adds bob/2, which can then log in.
    let v2 = signed_list(&account, "bob", 2, &named(&[(1, 2), (2, 3)]));
    assert_eq!(publish(&h, &bob, &v2).await.status, StatusCode::NO_CONTENT);
    let bob2_address = user_address("bob", 2);
    let bob2 = Device {
        token: h.login(&bob2_address, &key(3)).await,
        address: bob2_address.clone(),
        key: key(3),
    };
    assert_eq!(
        device_list(&h, &alice, "bob").await.body,
        v2.to_bytes().unwrap()
    );
    assert_eq!(send(&h, &alice, &bob2_address).await.status, StatusCode::OK);

    // Version 3 removes bob/2, with an envelope waiting for it.
    let v3 = signed_list(&account, "bob", 3, &named(&[(1, 2)]));
    assert_eq!(publish(&h, &bob, &v3).await.status, StatusCode::NO_CONTENT);
    // Its token stops working, it can no longer send, its mailbox is empty,
    // it cannot log in again, and no one can send to it.
    let count = h
        .call(Method::GET, "/v1/prekeys/count", Some(&bob2.token), vec![])
        .await;
    assert_eq!(count.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(&h, &bob2, &alice.address).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.relay
            .store()
            .fetch(&bob2_address, 32, harness::START)
            .await,
        Ok(vec![])
    );
    assert_eq!(
        challenge(&h, &bob2_address).await.refusal(),
        (StatusCode::NOT_FOUND, "unknown_device".to_owned())
    );
    assert_eq!(
        send(&h, &alice, &bob2_address).await.refusal(),
        (StatusCode::NOT_FOUND, "unknown_recipient".to_owned())
    );
    // The removed device cannot publish a list bringing itself back.
    let comeback = signed_list(&account, "bob", 4, &named(&[(1, 2), (2, 3)]));
    assert_eq!(
        publish(&h, &bob2, &comeback).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Refused lists, each changing nothing.
    let refusals = [
        // The same version again, and an older one.
        (
            signed_list(&account, "bob", 3, &named(&[(1, 2), (5, 5)])),
            (StatusCode::CONFLICT, "stale_device_list"),
        ),
        (v2.clone(), (StatusCode::CONFLICT, "stale_device_list")),
        // Another account key.
        (
            signed_list(&account_key(9), "bob", 4, &named(&[(1, 2), (5, 5)])),
            (StatusCode::CONFLICT, "account_key_mismatch"),
        ),
        // Another user's list.
        (
            signed_list(&account, "alice", 4, &named(&[(1, 2)])),
            (StatusCode::FORBIDDEN, "wrong_user"),
        ),
    ];
    for (list, (status, code)) in refusals {
        assert_eq!(
            publish(&h, &bob, &list).await.refusal(),
            (status, code.to_owned())
        );
    }
    let mut forged = signed_list(&account, "bob", 4, &named(&[(1, 2)]));
    forged.content.version = 5;
    assert_eq!(
        publish(&h, &bob, &forged).await.refusal(),
        (StatusCode::BAD_REQUEST, "bad_device_list".to_owned())
    );
    assert_eq!(
        device_list(&h, &alice, "bob").await.body,
        v3.to_bytes().unwrap()
    );
    // alice cannot publish bob's list, even one bob signed.
    let v4 = signed_list(&account, "bob", 4, &named(&[(1, 2), (6, 6)]));
    assert_eq!(
        publish(&h, &alice, &v4).await.refusal(),
        forbidden("wrong_user")
    );
    assert_eq!(publish(&h, &bob, &v4).await.status, StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_devices_open_stream_and_long_poll_end() {
    let h = Harness::new();
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

    // A long poll of the same device waits too (its mailbox is empty).
    let h = Arc::new(h);
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

    let v2 = signed_list(&account_key(2), "bob", 2, &named(&[(1, 2)]));
    assert_eq!(
        publish(&h, &bob[0], &v2).await.status,
        StatusCode::NO_CONTENT
    );
    // The long poll ends: its device and token are gone.
    let ended = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the removed device's long poll did not end")
        .unwrap();
    assert_eq!(ended.status, StatusCode::UNAUTHORIZED);
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
    .expect("the removed device's stream stayed open");
    assert_eq!(closed.unwrap().reason.as_str(), "device_removed");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_login_answered_for_another_relay_is_refused() {
    let relay = |origin: &str| {
        let mut config = default_config();
        config.origins = vec![origin.to_owned()];
        Harness::with(config)
    };
    let (a, b) = (relay("https://a.example"), relay("HTTPS://B.example:443/"));
    // The same device has an account at both.
    for h in [&a, &b] {
        h.register("alice", 1, 1).await;
    }
    let alice = user_address("alice", 1);
    // Relay A asks B for a challenge and passes it to the device, which
    // answers it for A (the relay it talks to).
    let nonce = AuthChallenge::from_bytes(&challenge(&b, &alice).await.body)
        .unwrap()
        .nonce;
    let answer = |origin: &str, nonce: Nonce| {
        use ed25519_dalek::Signer;
        ChallengeResponse {
            address: alice.clone(),
            nonce,
            signature: Ed25519Signature(
                key(1)
                    .sign(&relay_auth_input(origin, &alice, &nonce))
                    .to_bytes(),
            ),
        }
        .to_bytes()
        .unwrap()
    };
    let replayed = b
        .call(
            Method::POST,
            "/v1/auth/token",
            None,
            answer("https://a.example", nonce),
        )
        .await;
    assert_eq!(
        replayed.refusal(),
        (StatusCode::UNAUTHORIZED, "challenge_failed".to_owned())
    );
    // The device answering for B's own origin logs in.
    let nonce = AuthChallenge::from_bytes(&challenge(&b, &alice).await.body)
        .unwrap()
        .nonce;
    let own = b
        .call(
            Method::POST,
            "/v1/auth/token",
            None,
            answer("https://b.example", nonce),
        )
        .await;
    assert_eq!(own.status, StatusCode::OK);
}

fn link_path(channel: &str, slot: &str) -> String {
    format!("/v1/link/{channel}/{slot}")
}

const CHANNEL: &str = "00112233445566778899AABBCCDDEEFF";

fn link_message(sealed: &[u8]) -> Vec<u8> {
    LinkMessage {
        sealed: Opaque::from(sealed.to_vec()),
    }
    .to_bytes()
    .unwrap()
}

async fn leave(h: &Harness, channel: &str, slot: &str, body: Vec<u8>) -> Answer {
    h.call(Method::PUT, &link_path(channel, slot), None, body)
        .await
}

async fn take(h: &Harness, channel: &str, slot: &str) -> Answer {
    h.call(Method::GET, &link_path(channel, slot), None, vec![])
        .await
}

#[tokio::test]
async fn a_link_message_is_handed_out_once_and_holds_its_slot() {
    let h = Arc::new(Harness::new());
    let request = link_message(b"sealed request");
    assert_eq!(
        leave(&h, CHANNEL, "request", request.clone()).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        leave(&h, CHANNEL, "request", link_message(b"a substitute"))
            .await
            .refusal(),
        (StatusCode::CONFLICT, "link_slot_taken".to_owned())
    );
    // Sixteen takers at once: one gets it.
    let takers: Vec<_> = (0..16)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { take(&h, CHANNEL, "request").await })
        })
        .collect();
    let mut handed_out = Vec::new();
    for taker in takers {
        let answer = taker.await.unwrap();
        if answer.status == StatusCode::OK {
            handed_out.push(answer.body);
        } else {
            assert_eq!(
                answer.refusal(),
                (StatusCode::NOT_FOUND, "no_link_message".to_owned())
            );
        }
    }
    assert_eq!(handed_out, vec![request]);
    // The other slot is separate, and the channel's case does not matter.
    assert_eq!(
        take(&h, &CHANNEL.to_lowercase(), "grant").await.refusal(),
        (StatusCode::NOT_FOUND, "no_link_message".to_owned())
    );

    // A waiting take gets a message left while it waits.
    let waiting = {
        let h = h.clone();
        tokio::spawn(async move {
            h.call(
                Method::GET,
                &format!("{}?wait_ms=20000", link_path(CHANNEL, "grant")),
                None,
                vec![],
            )
            .await
        })
    };
    let grant = link_message(b"sealed grant");
    assert_eq!(
        leave(&h, &CHANNEL.to_lowercase(), "grant", grant.clone())
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((answer.status, answer.body), (StatusCode::OK, grant));
}

#[tokio::test]
async fn link_messages_expire_are_bounded_and_need_a_good_path() {
    let mut config = default_config();
    config.max_link_messages = 2;
    let h = Harness::with(config);
    assert_eq!(
        leave(&h, CHANNEL, "request", link_message(b"old"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    h.advance(10 * 60 * 1000);
    assert_eq!(
        take(&h, CHANNEL, "request").await.refusal(),
        (StatusCode::NOT_FOUND, "no_link_message".to_owned())
    );
    // The sweep removes it from the store too.
    h.relay.sweep().await.unwrap();
    let channel: [u8; 16] = hex::decode(CHANNEL).unwrap().try_into().unwrap();
    assert_eq!(
        h.relay
            .store()
            .take_link_message(channel, fuin_relay::store::LinkSlot::Request, 0)
            .await,
        Ok(None)
    );

    // At most two waiting.
    for channel in ["0".repeat(32), "1".repeat(32)] {
        assert_eq!(
            leave(&h, &channel, "request", link_message(b"x"))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
    }
    let full = leave(&h, &"2".repeat(32), "request", link_message(b"x")).await;
    assert_eq!(full.status, StatusCode::SERVICE_UNAVAILABLE);
    let json: serde_json::Value = serde_json::from_slice(&full.body).unwrap();
    assert_eq!(json["code"], "link_capacity");

    // 16 KiB of sealed bytes at most.
    // The encoder refuses to make it: the largest one, its length (a
    // varint after the version and tag bytes) raised by one, a byte more.
    let mut over = link_message(&vec![0; fuin_wire::account::MAX_LINK_SEALED_LEN]);
    assert_eq!(over[2..5], [0x80, 0x80, 0x01]);
    over[2] = 0x81;
    over.push(0);
    assert_eq!(
        leave(&h, &"3".repeat(32), "grant", over).await.refusal().0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Bad channels and slots.
    for (channel, slot) in [
        ("0".repeat(31), "request"),
        ("0".repeat(34), "request"),
        ("g".repeat(32), "grant"),
        ("0".repeat(32), "other"),
    ] {
        assert_eq!(
            take(&h, &channel, slot).await.refusal(),
            (StatusCode::BAD_REQUEST, "invalid_link_path".to_owned())
        );
        assert_eq!(
            leave(&h, &channel, slot, link_message(b"x"))
                .await
                .refusal(),
            (StatusCode::BAD_REQUEST, "invalid_link_path".to_owned())
        );
    }
    // A body that is not a link message.
    assert_eq!(
        leave(&h, &"4".repeat(32), "grant", b"not a frame".to_vec())
            .await
            .refusal(),
        (StatusCode::BAD_REQUEST, "malformed_frame".to_owned())
    );
}

/// A database of schema version 2 (before accounts): its devices stay
/// registered without a list; the user cannot be created again or gain a
/// device by registration; an authenticated device publishes a first list
/// naming itself with its registered identity, which removes the devices
/// the list does not name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_before_accounts_is_upgraded_by_a_first_list() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    {
        let store = fuin_relay::store::sqlite::SqliteStore::open(&path).unwrap();
        for (user, device, seed) in [("bob", 1, 2), ("bob", 2, 3), ("alice", 1, 1)] {
            store
                .register_device(&user_address(user, device), &identity(&key(seed), seed), 0)
                .await
                .unwrap();
        }
    }
    {
        // What version 2 had: no accounts, invites or link messages.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE accounts; DROP TABLE invites; DROP TABLE link_messages; \
             PRAGMA user_version = 2;",
        )
        .unwrap();
    }
    let h = Harness::in_dir(dir, default_config());
    let login = |user: &'static str, device: u32, seed: u8| {
        let h = &h;
        async move {
            let address = user_address(user, device);
            Device {
                token: h.login(&address, &key(seed)).await,
                address,
                key: key(seed),
            }
        }
    };
    let alice = login("alice", 1, 1).await;
    let bob = login("bob", 1, 2).await;
    let bob2 = login("bob", 2, 3).await;
    assert_eq!(
        device_list(&h, &alice, "bob").await.refusal(),
        (StatusCode::NOT_FOUND, "unknown_user".to_owned())
    );
    let taken = signed_list(&account_key(66), "bob", 1, &named(&[(1, 66)]));
    assert_eq!(
        create(&h, &taken, None).await.refusal(),
        (StatusCode::CONFLICT, "account_exists".to_owned())
    );
    assert_eq!(
        register_device(&h, &user_address("bob", 3), 66)
            .await
            .refusal(),
        forbidden("not_in_device_list")
    );
    assert_eq!(
        register_device(&h, &user_address("bob", 1), 2).await.status,
        StatusCode::OK
    );
    // A first list that names the publisher with another identity.
    let account = account_key(2);
    let wrong = signed_list(&account, "bob", 1, &named(&[(1, 9)]));
    assert_eq!(
        publish(&h, &bob, &wrong).await.refusal(),
        forbidden("not_in_device_list")
    );
    let first = signed_list(&account, "bob", 1, &named(&[(1, 2)]));
    assert_eq!(
        publish(&h, &bob, &first).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        device_list(&h, &alice, "bob").await.body,
        first.to_bytes().unwrap()
    );
    // bob/2, not named, is gone.
    let count = h
        .call(Method::GET, "/v1/prekeys/count", Some(&bob2.token), vec![])
        .await;
    assert_eq!(count.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&h, &bob2.address).await.refusal(),
        (StatusCode::NOT_FOUND, "unknown_device".to_owned())
    );
    // From now on bob is an account like any other.
    let again = signed_list(&account, "bob", 1, &named(&[(1, 2), (2, 3)]));
    assert_eq!(
        publish(&h, &bob, &again).await.refusal(),
        (StatusCode::CONFLICT, "stale_device_list".to_owned())
    );
    let conn = rusqlite::Connection::open(h.database_path()).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, 7);
}
