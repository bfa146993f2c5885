//! The relay binary's account options: `fuin-relay invite` makes single-use
//! codes kept only as hashes, `--registration invite` requires one, and
//! `--origin` names the origin logins must be signed for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ffi::OsStr;
use std::process::Command;

use common::*;
use ed25519_dalek::{Signer, SigningKey};
use fuin_wire::relay::*;
use fuin_wire::*;

fn account(user: &str, seed: u8, invite: Option<[u8; 32]>) -> Vec<u8> {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let list = lists::signed_list(
        &lists::account_key(seed),
        user,
        1,
        &[(1, lists::identity(&key, seed))],
    );
    lists::registration(&list, invite)
}

/// Logs `user/1` (key from `seed`) in, signing for `origin`: the status.
fn login(relay: &str, user: &str, seed: u8, origin: &str) -> u16 {
    let address = DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(1));
    let request_body = ChallengeRequest {
        address: address.clone(),
    }
    .to_bytes()
    .unwrap();
    let (status, body) = request(relay, "POST", "/v1/auth/challenge", None, &request_body).unwrap();
    assert_eq!(status, 200);
    let nonce = AuthChallenge::from_bytes(&body).unwrap().nonce;
    let key = SigningKey::from_bytes(&[seed; 32]);
    let answer = ChallengeResponse {
        address: address.clone(),
        nonce,
        signature: Ed25519Signature(
            key.sign(&relay_auth_input(origin, &address, &nonce))
                .to_bytes(),
        ),
    };
    request(
        relay,
        "POST",
        "/v1/auth/token",
        None,
        &answer.to_bytes().unwrap(),
    )
    .unwrap()
    .0
}

#[test]
fn invite_codes_are_printed_once_stored_as_hashes_and_spent_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let output = Command::new(env!("CARGO_BIN_EXE_fuin-relay"))
        .args([OsStr::new("invite"), OsStr::new("--data"), data.as_os_str()])
        .args(["--count", "3"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let codes: Vec<[u8; 32]> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            assert_eq!(line.len(), 64, "{line:?}");
            hex::decode(line).unwrap().try_into().unwrap()
        })
        .collect();
    assert_eq!(codes.len(), 3);
    // The database holds none of them.
    let stored = database_bytes(&data);
    for code in &codes {
        assert!(!contains(&stored, code));
    }

    let relay = RelayProcess::start_with(&[
        OsStr::new("--data"),
        data.as_os_str(),
        OsStr::new("--registration"),
        OsStr::new("invite"),
        OsStr::new("--origin"),
        OsStr::new("HTTP://Relay.Example:80/"),
    ]);
    let post = |body: &[u8]| request(&relay.address, "POST", "/v1/accounts", None, body).unwrap();
    let (status, body) = post(&account("alice", 1, None));
    assert_eq!(
        (status, error_code(&body).as_str()),
        (403, "invite_required")
    );
    assert_eq!(post(&account("alice", 1, Some(codes[0]))).0, 201);
    let (status, body) = post(&account("bob", 2, Some(codes[0])));
    assert_eq!(
        (status, error_code(&body).as_str()),
        (403, "invalid_invite")
    );
    assert_eq!(post(&account("bob", 2, Some(codes[1]))).0, 201);

    // With --origin, a login is signed for that origin, not the address.
    assert_eq!(
        login(
            &relay.address,
            "alice",
            1,
            &format!("http://{}", relay.address)
        ),
        401
    );
    assert_eq!(
        login(&relay.address, "alice", 1, "http://relay.example"),
        200
    );
    assert!(relay.stop("TERM").success());
}
