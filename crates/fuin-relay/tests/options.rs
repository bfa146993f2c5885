//! The binary's options beyond the storage and the address: lifetimes, the
//! long-poll cap, the low watermark, and stamp-key rotation with older keys
//! kept (and checked at start).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use ed25519_dalek::Signer;
use fuin_relay::franking::StampKeys;
use fuin_wire::relay::{AuthChallenge, ChallengeRequest, ChallengeResponse, PrekeyCount};
use fuin_wire::*;

fn with_data<'a>(data: &'a Path, more: &'a [&'a str]) -> Vec<&'a OsStr> {
    let mut args = vec![OsStr::new("--data"), data.as_os_str()];
    args.extend(more.iter().map(OsStr::new));
    args
}

#[test]
fn an_envelope_past_its_lifetime_is_not_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let clock = TestClock::new();
    let relay = RelayProcess::start_on_clock(
        &with_data(&data, &["--envelope-lifetime-secs", "1"]),
        &clock,
    );
    let alice = TestDevice::register(&relay.address, "alice", 1, 1);
    let bob = TestDevice::register(&relay.address, "bob", 1, 2);
    let (status, _) = alice
        .send(&relay.address, &bob.address, b"soon gone")
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(bob.peek(&relay.address).len(), 1);
    clock.advance(Duration::from_millis(1200));
    assert!(bob.peek(&relay.address).is_empty());
    assert!(relay.stop("TERM").success());
}

#[test]
fn tokens_and_challenges_expire_after_their_configured_lifetimes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let clock = TestClock::new();
    let relay = RelayProcess::start_on_clock(
        &with_data(
            &data,
            &[
                "--token-lifetime-secs",
                "1",
                "--challenge-lifetime-secs",
                "1",
            ],
        ),
        &clock,
    );
    let alice = TestDevice::register(&relay.address, "alice", 1, 1);
    let count = |token: &str| {
        request(&relay.address, "GET", "/v1/prekeys/count", Some(token), &[])
            .unwrap()
            .0
    };
    assert_eq!(count(&alice.token), 200);

    let (status, body) = request(
        &relay.address,
        "POST",
        "/v1/auth/challenge",
        None,
        &ChallengeRequest {
            address: alice.address.clone(),
        }
        .to_bytes()
        .unwrap(),
    )
    .unwrap();
    assert_eq!(status, 200);
    let challenge = AuthChallenge::from_bytes(&body).unwrap();
    clock.advance(Duration::from_millis(1200));

    assert_eq!(count(&alice.token), 401, "the token outlived its second");
    let answer = ChallengeResponse {
        address: alice.address.clone(),
        nonce: challenge.nonce,
        signature: Ed25519Signature(
            alice
                .key
                .sign(&relay::relay_auth_input(
                    &format!("http://{}", relay.address),
                    &alice.address,
                    &challenge.nonce,
                ))
                .to_bytes(),
        ),
    };
    let (status, body) = request(
        &relay.address,
        "POST",
        "/v1/auth/token",
        None,
        &answer.to_bytes().unwrap(),
    )
    .unwrap();
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), "challenge_failed");
    assert!(relay.stop("TERM").success());
}

#[test]
fn the_long_poll_cap_and_the_low_watermark_are_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let relay = RelayProcess::start_with(&with_data(
        &data,
        &["--max-long-poll-secs", "1", "--prekey-low-watermark", "3"],
    ));
    let bob = TestDevice::register(&relay.address, "bob", 1, 2);
    let started = Instant::now();
    let (status, _) = request(
        &relay.address,
        "GET",
        "/v1/mailbox?wait_ms=30000",
        Some(&bob.token),
        &[],
    )
    .unwrap();
    assert_eq!(status, 200);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "waited {waited:?}"
    );

    // Three one-time prekeys are not low under a watermark of 3 (they
    // would be under the default of 10); two are.
    let (status, body) = bob.upload_prekeys(&relay.address, Some(1), 0..2);
    assert_eq!(status, 200);
    assert_eq!(
        PrekeyCount::from_bytes(&body).unwrap(),
        PrekeyCount {
            one_time_prekeys: 2,
            low: true,
            one_time_kem_prekeys: 2,
            kem_low: true,
        }
    );
    let (status, body) = bob.upload_prekeys(&relay.address, None, 2..3);
    assert_eq!(status, 200);
    assert_eq!(
        PrekeyCount::from_bytes(&body).unwrap(),
        PrekeyCount {
            one_time_prekeys: 3,
            low: false,
            one_time_kem_prekeys: 3,
            kem_low: false,
        }
    );
    assert!(relay.stop("TERM").success());
}

fn write_key(path: &Path, key: &[u8; 32], mode: u32) {
    std::fs::write(path, key).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn after_a_rotation_stamps_under_the_old_key_id_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let old_file = dir.path().join("stamp-1");
    let new_file = dir.path().join("stamp-2");

    // Before: key 1 (created by the relay) is current.
    let relay = RelayProcess::start_with(&[
        OsStr::new("--data"),
        data.as_os_str(),
        OsStr::new("--stamp-key-file"),
        old_file.as_os_str(),
    ]);
    let alice = TestDevice::register(&relay.address, "alice", 1, 1);
    let mut bob = TestDevice::register(&relay.address, "bob", 1, 2);
    assert_eq!(
        alice
            .send(&relay.address, &bob.address, b"before")
            .unwrap()
            .0,
        200
    );
    assert!(relay.stop("TERM").success());

    // The rotation: key 2 is current, key 1 kept.
    let mut new_key = [0u8; 32];
    rand::fill(&mut new_key);
    write_key(&new_file, &new_key, 0o600);
    let old_arg = format!("1={}", old_file.display());
    let relay = RelayProcess::start_with(&[
        OsStr::new("--data"),
        data.as_os_str(),
        OsStr::new("--stamp-key-file"),
        new_file.as_os_str(),
        OsStr::new("--stamp-key-id"),
        OsStr::new("2"),
        OsStr::new("--old-stamp-key"),
        OsStr::new(&old_arg),
    ]);
    let mut alice = alice;
    alice.login(&relay.address);
    bob.login(&relay.address);
    assert_eq!(
        alice
            .send(&relay.address, &bob.address, b"after")
            .unwrap()
            .0,
        200
    );
    let records = bob.drain(&relay.address);
    assert!(relay.stop("TERM").success());

    assert_eq!(records.len(), 2);
    let (before, after) = (&records[0], &records[1]);
    assert_eq!(before.envelope.sealed_body.as_bytes(), b"before");
    assert_eq!(before.stamp_key_id, StampKeyId(1));
    assert_eq!(after.stamp_key_id, StampKeyId(2));

    // The moderation tool's view: the same key files, by id.
    let old_key: [u8; 32] = std::fs::read(&old_file).unwrap().try_into().unwrap();
    let mut keys = StampKeys::new(StampKeyId(2), new_key);
    assert!(keys.add_older(StampKeyId(1), old_key));
    assert!(!keys.add_older(StampKeyId(2), old_key), "an id taken twice");
    assert!(keys.verify(before));
    assert!(keys.verify(after));
    // Without the old key the old stamp cannot be checked...
    assert!(!StampKeys::new(StampKeyId(2), new_key).verify(before));
    // ...and a re-labelled or altered record fails.
    let mut relabelled = before.clone();
    relabelled.stamp_key_id = StampKeyId(2);
    assert!(!keys.verify(&relabelled));
    let mut altered = after.clone();
    altered.server_time_ms += 1;
    assert!(!keys.verify(&altered));
    let mut forged = after.clone();
    forged.franking_stamp.0[31] ^= 1;
    assert!(!keys.verify(&forged));
}

#[test]
fn bad_stamp_key_files_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let current = dir.path().join("current");
    let old = dir.path().join("old");
    let open = dir.path().join("open");
    let short = dir.path().join("short");
    write_key(&current, &[1; 32], 0o600);
    write_key(&old, &[2; 32], 0o600);
    write_key(&open, &[3; 32], 0o644);
    std::fs::write(&short, [4; 31]).unwrap();
    std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
    let refused = |extra: &[&OsStr]| {
        let mut args = vec![
            OsStr::new("--data"),
            data.as_os_str(),
            OsStr::new("--stamp-key-file"),
            current.as_os_str(),
        ];
        args.extend_from_slice(extra);
        refused_start(&args, "127.0.0.1:0")
    };
    let old_arg = |id: u32, path: &Path| format!("{id}={}", path.display());

    let stderr = refused(&[OsStr::new("--old-stamp-key"), OsStr::new(&old_arg(1, &old))]);
    assert!(stderr.contains("id 1 is given twice"), "stderr: {stderr}");
    let missing = dir.path().join("missing");
    let stderr = refused(&[
        OsStr::new("--old-stamp-key"),
        OsStr::new(&old_arg(7, &missing)),
    ]);
    assert!(
        stderr.contains("cannot read the stamp key"),
        "stderr: {stderr}"
    );
    assert!(!missing.exists(), "an old key was made up");
    let stderr = refused(&[
        OsStr::new("--old-stamp-key"),
        OsStr::new(&old_arg(7, &open)),
    ]);
    assert!(stderr.contains("chmod 600"), "stderr: {stderr}");
    let stderr = refused(&[
        OsStr::new("--old-stamp-key"),
        OsStr::new(&old_arg(7, &short)),
    ]);
    assert!(stderr.contains("shorter than 32 bytes"), "stderr: {stderr}");
    let stderr = refused(&[OsStr::new("--old-stamp-key"), OsStr::new("7")]);
    assert!(stderr.contains("ID=PATH"), "stderr: {stderr}");
    let stderr = refused_start(
        &[
            OsStr::new("--data"),
            data.as_os_str(),
            OsStr::new("--stamp-key-file"),
            open.as_os_str(),
        ],
        "127.0.0.1:0",
    );
    assert!(stderr.contains("chmod 600"), "stderr: {stderr}");
    // Out-of-range settings are usage errors.
    let stderr = refused(&[OsStr::new("--token-lifetime-secs"), OsStr::new("0")]);
    assert!(stderr.contains("--token-lifetime-secs"), "stderr: {stderr}");
    // The key bytes themselves are never shown.
    assert!(!stderr.contains("0303030303"));
    assert!(!data.exists(), "a refused start created the database");
}

/// The network limits are options of the binary: out-of-range values and
/// proxies that are not an address or network stop it at start, and the
/// account rate it is given binds all of an account's devices together.
#[test]
fn network_limits_are_options() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    for bad in [
        ["--trusted-proxy", "proxy.example"],
        ["--trusted-proxy", "10.0.0.0/33"],
        ["--max-streams-per-device", "0"],
        ["--body-read-timeout-secs", "0"],
        ["--max-connections-per-address", "0"],
        ["--account-request-burst", "0"],
    ] {
        let stderr = refused_start(&with_data(&data, &bad), "127.0.0.1:0");
        assert!(stderr.contains(bad[0]), "{bad:?}: {stderr}");
    }
    // The clock stands still, so no bucket refills during the test.
    let clock = TestClock::new();
    let relay = RelayProcess::start_on_clock(
        &with_data(
            &data,
            &[
                "--account-request-burst",
                "3",
                "--account-requests-per-second",
                "1",
                "--trusted-proxy",
                "10.0.0.0/8",
                "--trusted-proxy",
                "fd00::1",
                "--max-connections",
                "100",
                "--max-connections-per-address",
                "10",
                "--max-streams-per-device",
                "2",
                "--body-read-timeout-secs",
                "5",
                "--request-head-timeout-secs",
                "5",
            ],
        ),
        &clock,
    );
    let devices = TestDevice::register_user(&relay.address, "erin", &[(1, 5), (2, 6)]);
    let statuses: Vec<u16> = (0..4)
        .map(|index| {
            let token = &devices[index % 2].token;
            request(&relay.address, "GET", "/v1/prekeys/count", Some(token), &[])
                .unwrap()
                .0
        })
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    assert!(relay.stop("TERM").success());
}
