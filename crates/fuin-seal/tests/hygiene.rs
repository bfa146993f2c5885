//! Secrets stay out of `Debug` output (snapshot tests), and safety numbers
//! behave as users rely on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use fuin_seal::safety_number::SafetyNumber;
use fuin_seal::state::StorageKey;
use fuin_seal::{DeviceIdentity, PrekeyStore};
use fuin_wire::UserId;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every secret a device holds, as hex, to look for in `Debug` output.
fn secrets_of(
    identity: &DeviceIdentity,
    prekeys: &PrekeyStore,
    session: &fuin_seal::Session,
) -> Vec<String> {
    let mut secrets = Vec::new();
    // The saved forms hold every secret; any 16-byte window of them must not
    // appear in Debug output.
    for saved in [
        identity.to_bytes().unwrap(),
        prekeys.to_bytes().unwrap(),
        session.to_bytes().unwrap(),
    ] {
        for window in saved.windows(16).step_by(8) {
            secrets.push(hex(window));
        }
    }
    secrets
}

#[test]
fn debug_output_is_a_fixed_snapshot_without_key_bytes() {
    let mut pair = Pair::new(30);
    let storage = StorageKey::from_secret_bytes([0x77; 32]);
    assert_eq!(format!("{storage:?}"), "StorageKey(<redacted>)");
    let session = format!("{:?}", pair.bob_session);
    assert_eq!(
        session,
        "Session { local: DeviceAddress { user: UserId(\"bob\"), device: DeviceId(1) }, \
         peer: DeviceAddress { user: UserId(\"alice\"), device: DeviceId(1) }, \
         next_sequence: 1, post_quantum: true, skipped_keys: 0, .. }"
    );
    let prekeys = format!("{:?}", pair.bob.prekeys);
    assert_eq!(
        prekeys,
        "PrekeyStore { signed_prekeys: 1, one_time_prekeys: 5, last_resort_kem_prekeys: 1, \
         one_time_kem_prekeys: 0, .. }"
    );
    let identity = format!("{:?}", pair.bob.identity);
    assert!(
        identity.starts_with(
            "DeviceIdentity { public: PublicIdentity { signing_key: Ed25519PublicKey("
        )
    );
    assert!(identity.ends_with(".. }"));

    let record = pair.alice_sends("secret text");
    let opened = pair.bob_session.open(&record, NOW).unwrap();
    let opened_debug = format!("{opened:?}");
    assert!(opened_debug.contains("FrankingKey(<redacted>)"));
    assert!(!opened_debug.contains(&hex(&opened.franking.franking_key.0)));
    // The body is shown only as its length.
    assert!(opened_debug.contains("SecretBytes(11 bytes, <redacted>)"));
    assert!(!opened_debug.contains("secret text"));

    let everything = format!("{session}{prekeys}{identity}{opened_debug}");
    // The saved forms also hold public keys, which Debug may show: those are
    // the windows found in the two public identities.
    let public = format!(
        "{:?}{:?}",
        pair.alice.identity.public(),
        pair.bob.identity.public()
    );
    let secrets = secrets_of(&pair.bob.identity, &pair.bob.prekeys, &pair.bob_session);
    assert!(secrets.len() > 20);
    for secret in secrets
        .iter()
        .filter(|secret| !public.contains(secret.as_str()))
    {
        assert!(
            !everything.contains(secret.as_str()),
            "secret bytes {secret} appear in Debug output"
        );
    }
}

#[test]
fn safety_number_is_the_same_from_both_sides_and_changes_with_the_key() {
    let mut rng = rng(31);
    let alice = DeviceIdentity::generate(&mut rng);
    let bob = DeviceIdentity::generate(&mut rng);
    let mallory = DeviceIdentity::generate(&mut rng);
    let (a, b) = (UserId::new("alice").unwrap(), UserId::new("bob").unwrap());
    let from_alice = SafetyNumber::new((&a, alice.public()), (&b, bob.public()));
    let from_bob = SafetyNumber::new((&b, bob.public()), (&a, alice.public()));
    assert_eq!(from_alice, from_bob);
    assert_eq!(from_alice.digits().len(), 60);
    assert!(from_alice.digits().bytes().all(|c| c.is_ascii_digit()));
    let display = from_alice.display();
    assert_eq!(display.split(' ').count(), 12);
    assert!(display.split(' ').all(|group| group.len() == 5));
    // A substituted key (the relay's key for "bob") changes the number.
    let substituted = SafetyNumber::new((&a, alice.public()), (&b, mallory.public()));
    assert_ne!(from_alice, substituted);
    // So does claiming the same key under another name.
    let renamed = SafetyNumber::new(
        (&a, alice.public()),
        (&UserId::new("bob2").unwrap(), bob.public()),
    );
    assert_ne!(from_alice, renamed);
}
