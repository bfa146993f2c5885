//! Limits through the binary, each set low: the per-address rate of the
//! endpoints without a token, the mailbox quota, the prekey pool quota and
//! the bound on outstanding challenges. A refused request changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use common::*;
use ed25519_dalek::Signer;
use fuin_wire::relay::{AuthChallenge, ChallengeRequest, ChallengeResponse, PrekeyCount};
use fuin_wire::*;

fn start(data: &Path, more: &[&str]) -> RelayProcess {
    RelayProcess::start_with(&arguments(data, more))
}

fn arguments<'a>(data: &'a Path, more: &'a [&'a str]) -> Vec<&'a OsStr> {
    let mut args = vec![OsStr::new("--data"), data.as_os_str()];
    args.extend(more.iter().map(OsStr::new));
    args
}

/// The body of `POST /v1/accounts` for `user` with one device.
fn registration(user: &str) -> Vec<u8> {
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let list = lists::signed_list(
        &lists::account_key(9),
        user,
        1,
        &[(1, lists::identity(&key, 9))],
    );
    lists::registration(&list, None)
}

fn challenge_request(user: &str) -> Vec<u8> {
    ChallengeRequest {
        address: DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(1)),
    }
    .to_bytes()
    .unwrap()
}

#[test]
fn requests_without_a_token_are_limited_per_client_address() {
    let dir = tempfile::tempdir().unwrap();
    // The relay's clock stands still unless moved, so no bucket refills
    // while the test runs slowly.
    let clock = TestClock::new();
    let relay = RelayProcess::start_on_clock(
        &arguments(
            &dir.path().join("relay.db"),
            &[
                "--anonymous-request-burst",
                "4",
                "--anonymous-requests-per-second",
                "1",
            ],
        ),
        &clock,
    );
    let relay_address = relay.address.as_str();
    // Registration and login take three of 127.0.0.1's four; one more is left.
    let alice = TestDevice::register(relay_address, "alice", 1, 1);
    let post = |path: &str, body: &[u8]| request(relay_address, "POST", path, None, body).unwrap();
    assert_eq!(post("/v1/accounts", &registration("bob")).0, 201);

    // Then every endpoint without a token says 429, before reading the body.
    for (path, body) in [
        ("/v1/accounts", registration("carol")),
        ("/v1/devices", b"not even a frame".to_vec()),
        ("/v1/auth/challenge", challenge_request("alice")),
        ("/v1/auth/token", b"not even a frame".to_vec()),
    ] {
        let (status, reply) = post(path, &body);
        assert_eq!(status, 429, "{path}");
        assert_eq!(error_code(&reply), "rate_limited", "{path}");
    }
    let link = "/v1/link/00112233445566778899aabbccddeeff/request";
    for method in ["PUT", "GET"] {
        let (status, reply) = request(relay_address, method, link, None, b"x").unwrap();
        assert_eq!(status, 429, "{method} {link}");
        assert_eq!(error_code(&reply), "rate_limited");
    }
    // Endpoints with a token have their own, per-device limit.
    let (status, _) = request(
        relay_address,
        "GET",
        "/v1/prekeys/count",
        Some(&alice.token),
        &[],
    )
    .unwrap();
    assert_eq!(status, 200);

    // Another client address has a bucket of its own; carol's refused
    // registration left nothing behind.
    let (status, reply) = request_from(
        "127.0.0.2",
        relay_address,
        "POST",
        "/v1/auth/challenge",
        None,
        &challenge_request("carol"),
    )
    .unwrap();
    assert_eq!(status, 404);
    assert_eq!(error_code(&reply), "unknown_device");
    let (status, _) = request_from(
        "127.0.0.2",
        relay_address,
        "POST",
        "/v1/accounts",
        None,
        &registration("carol"),
    )
    .unwrap();
    assert_eq!(status, 201);

    // At one a second, 127.0.0.1 gets one more after a second.
    clock.advance(Duration::from_millis(1100));
    assert_eq!(post("/v1/accounts", &registration("dave")).0, 201);
    assert_eq!(post("/v1/accounts", &registration("erin")).0, 429);
    assert!(relay.stop("TERM").success());
}

#[test]
fn a_send_to_a_full_mailbox_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start(
        &dir.path().join("relay.db"),
        &["--max-mailbox-envelopes", "3"],
    );
    let address = relay.address.as_str();
    let alice = TestDevice::register(address, "alice", 1, 1);
    let bob = TestDevice::register(address, "bob", 1, 2);
    let carol = TestDevice::register(address, "carol", 1, 3);
    for i in 0..3u8 {
        assert_eq!(alice.send(address, &bob.address, &[i]).unwrap().0, 200);
    }
    let (status, body) = alice.send(address, &bob.address, b"one too many").unwrap();
    assert_eq!(status, 507);
    assert_eq!(error_code(&body), "mailbox_full");
    // A batch with one full mailbox stores nothing, not even for carol.
    let (status, body) = alice.send_batch(address, &[&carol.address, &bob.address], b"both");
    assert_eq!(status, 507);
    assert_eq!(error_code(&body), "mailbox_full");
    assert!(carol.peek(address).is_empty());
    // Two for carol fit; a third would not once one is there.
    let (status, _) = alice.send_batch(address, &[&carol.address, &carol.address], b"2");
    assert_eq!(status, 200);
    let (status, _) = alice.send_batch(address, &[&carol.address, &carol.address], b"2");
    assert_eq!(status, 507);

    // Acknowledging makes room.
    let drained = bob.drain(address);
    assert_eq!(drained.len(), 3);
    assert_eq!(alice.send(address, &bob.address, b"fits").unwrap().0, 200);
    assert_eq!(bob.peek(address).len(), 1);
    assert_eq!(carol.peek(address).len(), 2);
    assert!(relay.stop("TERM").success());
}

#[test]
fn an_upload_over_the_prekey_pool_limit_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start(&dir.path().join("relay.db"), &["--max-prekey-pool", "5"]);
    let address = relay.address.as_str();
    let bob = TestDevice::register(address, "bob", 1, 2);
    let count = |body: &[u8]| PrekeyCount::from_bytes(body).unwrap().one_time_prekeys;

    let (status, body) = bob.upload_prekeys(address, Some(1), 0..5);
    assert_eq!(status, 200);
    assert_eq!(count(&body), 5);
    // One more new id: refused, and the signed prekey in it is not taken.
    let (status, body) = bob.upload_prekeys(address, Some(2), 5..6);
    assert_eq!(status, 409);
    assert_eq!(error_code(&body), "prekey_pool_full");
    // Replacing ids already there, or only the signed prekey, is fine.
    let (status, body) = bob.upload_prekeys(address, None, 0..5);
    assert_eq!(status, 200);
    assert_eq!(count(&body), 5);
    let (status, body) = bob.upload_prekeys(address, Some(3), 0..0);
    assert_eq!(status, 200);
    assert_eq!(count(&body), 5);

    let alice = TestDevice::register(address, "alice", 1, 1);
    let (status, body) = request(
        address,
        "GET",
        "/v1/users/bob/bundles",
        Some(&alice.token),
        &[],
    )
    .unwrap();
    assert_eq!(status, 200);
    let bundles = fuin_wire::relay::BundleSet::from_bytes(&body).unwrap();
    let bundle = &bundles.bundles.as_slice()[0];
    assert_eq!(bundle.signed_prekey.id, PrekeyId(3));
    // Taking one made room for one.
    let (status, body) = bob.upload_prekeys(address, None, 5..6);
    assert_eq!(status, 200);
    assert_eq!(count(&body), 5);
    assert!(relay.stop("TERM").success());
}

#[test]
fn a_challenge_beyond_the_outstanding_bound_replaces_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start(
        &dir.path().join("relay.db"),
        &["--max-outstanding-challenges", "2"],
    );
    let address = relay.address.as_str();
    let alice = TestDevice::register(address, "alice", 1, 1);
    let challenges: Vec<AuthChallenge> = (0..3)
        .map(|_| {
            let (status, body) = request(
                address,
                "POST",
                "/v1/auth/challenge",
                None,
                &challenge_request("alice"),
            )
            .unwrap();
            assert_eq!(status, 200);
            AuthChallenge::from_bytes(&body).unwrap()
        })
        .collect();
    let answer = |challenge: &AuthChallenge| {
        let response = ChallengeResponse {
            address: alice.address.clone(),
            nonce: challenge.nonce,
            signature: Ed25519Signature(
                alice
                    .key
                    .sign(&relay::relay_auth_input(
                        &format!("http://{address}"),
                        &alice.address,
                        &challenge.nonce,
                    ))
                    .to_bytes(),
            ),
        };
        request(
            address,
            "POST",
            "/v1/auth/token",
            None,
            &response.to_bytes().unwrap(),
        )
        .unwrap()
    };
    // The newest is always kept; of the two before it, the one expiring
    // first is replaced. Two made in the same millisecond expire together,
    // and either may go (relay-api.md §4.2): exactly one of them then fails.
    let answers = [answer(&challenges[0]), answer(&challenges[1])];
    let refused: Vec<usize> = (0..2).filter(|&i| answers[i].0 == 401).collect();
    assert_eq!(
        refused.len(),
        1,
        "one of the two older challenges is replaced"
    );
    assert_eq!(error_code(&answers[refused[0]].1), "challenge_failed");
    assert_eq!(answers[1 - refused[0]].0, 200);
    if challenges[0].expires_at_ms < challenges[1].expires_at_ms {
        assert_eq!(refused, [0], "the oldest challenge was kept");
    }
    assert_eq!(answer(&challenges[2]).0, 200);
    assert!(relay.stop("TERM").success());
}
