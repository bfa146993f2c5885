//! The hybrid handshake under attack: a relay that strips, swaps or alters
//! the KEM prekey or the KEM ciphertext gets nothing; one-time KEM prekeys
//! are used once; sessions say whether they are post-quantum
//! (`spec/protocol.md` §5.5, §6.5, §6.8).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use fuin_seal::{PrekeyStore, SealError, Session, VerifiedBundle};
use fuin_wire::{DeliveredRecord, FrameBody, MlKemPublicKey, Opaque, PrekeyBundle, PrekeyMessage};

fn prekey_message(record: &DeliveredRecord<'_>) -> PrekeyMessage<'static> {
    PrekeyMessage::from_bytes(record.envelope.sealed_body.as_bytes())
        .unwrap()
        .into_owned()
}

fn with_message(
    record: &DeliveredRecord<'static>,
    message: &PrekeyMessage<'_>,
) -> DeliveredRecord<'static> {
    let mut altered = record.clone();
    altered.envelope.sealed_body = Opaque::from(message.to_bytes().unwrap());
    altered
}

fn store_bytes(prekeys: &PrekeyStore) -> Vec<u8> {
    prekeys.to_bytes().unwrap().to_vec()
}

#[test]
fn a_new_session_is_post_quantum_on_both_sides() {
    let mut pair = Pair::new(1);
    assert!(pair.alice_session.post_quantum());
    assert!(pair.bob_session.post_quantum());
    assert!(!pair.alice_session.handshake_outdated());
    let record = pair.alice_sends("still talking");
    let opened = pair.bob_session.open(&record, NOW).unwrap();
    assert_eq!(body(&opened), "still talking");
}

#[test]
fn a_bundle_whose_kem_prekey_was_stripped_is_refused() {
    let mut rng = rng(2);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let mut bundle = bob.bundle(&mut rng, true);
    bundle.kem_prekey = None;
    // It still decodes: the refusal names the downgrade.
    let encoded = bundle.to_bytes().unwrap();
    let bundle = PrekeyBundle::from_bytes(&encoded).unwrap();
    assert_eq!(
        VerifiedBundle::verify(&bundle, &bob.address, None).unwrap_err(),
        SealError::MissingKemPrekey
    );
}

#[test]
fn a_kem_prekey_the_identity_did_not_sign_is_refused() {
    let mut rng = rng(3);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let mallory = Device::new(&mut rng, "mallory", 1);
    let genuine = bob.bundle(&mut rng, false);
    // The relay's own KEM key, signed by its own identity: the bundle
    // identity's key does not verify it.
    let mut swapped = genuine.clone();
    swapped.kem_prekey = mallory.prekeys.current_last_resort_kem_prekey().cloned();
    assert_eq!(
        VerifiedBundle::verify(&swapped, &bob.address, None).unwrap_err(),
        SealError::BadSignature
    );
    // Bob's own signature moved onto another id.
    let mut renumbered = genuine.clone();
    renumbered.kem_prekey.as_mut().unwrap().id.0 += 1;
    assert_eq!(
        VerifiedBundle::verify(&renumbered, &bob.address, None).unwrap_err(),
        SealError::BadSignature
    );
    // One byte of the key changed.
    let mut altered = genuine;
    altered.kem_prekey.as_mut().unwrap().public_key.0[5] ^= 1;
    assert_eq!(
        VerifiedBundle::verify(&altered, &bob.address, None).unwrap_err(),
        SealError::BadSignature
    );
}

#[test]
fn a_kem_key_that_is_not_a_valid_ml_kem_key_is_refused_before_its_signature() {
    let mut rng = rng(4);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let mut bundle = bob.bundle(&mut rng, false);
    // Every byte 0xff: 12-bit coefficients of 4095, above q = 3329.
    bundle.kem_prekey.as_mut().unwrap().public_key = MlKemPublicKey([0xff; 1184]);
    assert_eq!(
        VerifiedBundle::verify(&bundle, &bob.address, None).unwrap_err(),
        SealError::InvalidKemKey
    );
}

#[test]
fn a_prekey_message_whose_kem_ciphertext_was_stripped_is_refused_and_consumes_nothing() {
    let mut rng = rng(5);
    let mut relay = Relay::new();
    let alice = Device::new(&mut rng, "alice", 1);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let (_session, record) = alice.start_session(&mut rng, &mut relay, &mut bob, true, "hi");
    let mut message = prekey_message(&record);
    message.kem = None;
    let stripped = with_message(&record, &message);
    let before = store_bytes(&bob.prekeys);
    assert_eq!(
        bob.respond(None, &stripped).unwrap_err(),
        SealError::MissingKemCiphertext
    );
    assert_eq!(store_bytes(&bob.prekeys), before);
    // The genuine message still starts the session.
    let (session, opened) = bob.respond(None, &record).unwrap();
    assert_eq!(body(&opened), "hi");
    assert!(session.post_quantum());
}

#[test]
fn a_flipped_byte_anywhere_in_the_kem_ciphertext_fails_and_changes_nothing() {
    let mut rng = rng(6);
    let mut relay = Relay::new();
    let alice = Device::new(&mut rng, "alice", 1);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let (_session, record) = alice.start_session(&mut rng, &mut relay, &mut bob, true, "hi");
    let message = prekey_message(&record);
    let before = store_bytes(&bob.prekeys);
    let len = message.kem.as_ref().unwrap().ciphertext.0.len();
    assert_eq!(len, 1088);
    for at in 0..len {
        let mut altered = message.clone();
        altered.kem.as_mut().unwrap().ciphertext.0[at] ^= 0x01 << (at % 8);
        assert_eq!(
            bob.respond(None, &with_message(&record, &altered))
                .unwrap_err(),
            SealError::DecryptionFailed,
            "byte {at}"
        );
    }
    assert_eq!(store_bytes(&bob.prekeys), before);
    let (_, opened) = bob.respond(None, &record).unwrap();
    assert_eq!(body(&opened), "hi");
}

#[test]
fn a_repeated_prekey_message_with_altered_kem_fields_does_not_open_in_the_session() {
    let mut rng = rng(7);
    let mut relay = Relay::new();
    let alice = Device::new(&mut rng, "alice", 1);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let (mut alice_session, first) =
        alice.start_session(&mut rng, &mut relay, &mut bob, true, "one");
    let (mut bob_session, _) = bob.respond(None, &first).unwrap();
    // Alice has not heard back: her second message is a prekey message too.
    let sealed = seal_text(&mut rng, &mut alice_session, &alice, "bob", "two").unwrap();
    let second = relay.deliver(&alice.address, sealed.envelope);
    let message = prekey_message(&second);
    let mut alterations = Vec::new();
    let mut stripped = message.clone();
    stripped.kem = None;
    alterations.push(stripped);
    let mut renumbered = message.clone();
    renumbered.kem.as_mut().unwrap().kem_prekey_id.0 += 1;
    alterations.push(renumbered);
    for at in [0, 544, 1087] {
        let mut flipped = message.clone();
        flipped.kem.as_mut().unwrap().ciphertext.0[at] ^= 0x80;
        alterations.push(flipped);
    }
    let saved = bob_session.to_bytes().unwrap().to_vec();
    for altered in &alterations {
        assert_eq!(
            bob_session
                .open(&with_message(&second, altered), NOW)
                .unwrap_err(),
            SealError::DecryptionFailed
        );
        assert_eq!(bob_session.to_bytes().unwrap().to_vec(), saved);
    }
    assert_eq!(body(&bob_session.open(&second, NOW).unwrap()), "two");
}

#[test]
fn a_one_time_kem_prekey_is_consumed_only_by_a_completed_session_and_never_used_twice() {
    let mut rng = rng(8);
    let mut relay = Relay::new();
    let alice = Device::new(&mut rng, "alice", 1);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let one_time = bob
        .prekeys
        .generate_one_time_kem_prekeys(1, &bob.identity, &mut rng)
        .remove(0);
    assert_eq!(bob.prekeys.one_time_kem_count(), 1);
    let bundle = bob
        .prekeys
        .bundle(
            bob.address.clone(),
            &bob.identity,
            None,
            Some(one_time.clone()),
        )
        .unwrap();
    let bundle = VerifiedBundle::verify(&bundle, &bob.address, None).unwrap();
    let mut session =
        Session::initiate(&mut rng, &alice.identity, alice.address.clone(), &bundle).unwrap();
    let sealed = seal_text(&mut rng, &mut session, &alice, "bob", "once").unwrap();
    let record = relay.deliver(&alice.address, sealed.envelope);
    assert_eq!(
        prekey_message(&record).kem.unwrap().kem_prekey_id,
        one_time.id
    );
    // A failed attempt leaves the KEM prekey in place.
    let mut broken = prekey_message(&record);
    broken.kem.as_mut().unwrap().ciphertext.0[0] ^= 1;
    bob.respond(None, &with_message(&record, &broken))
        .unwrap_err();
    assert_eq!(bob.prekeys.one_time_kem_count(), 1);
    let (_, opened) = bob.respond(None, &record).unwrap();
    assert_eq!(body(&opened), "once");
    assert_eq!(bob.prekeys.one_time_kem_count(), 0);
    // The same first message again cannot start a second session.
    assert_eq!(
        bob.respond(None, &record).unwrap_err(),
        SealError::UnknownKemPrekey { id: one_time.id.0 }
    );
}

#[test]
fn the_last_resort_kem_prekey_is_kept_after_use_and_forgotten_after_three_rotations() {
    let mut rng = rng(9);
    let mut relay = Relay::new();
    let alice = Device::new(&mut rng, "alice", 1);
    let carol = Device::new(&mut rng, "carol", 1);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let last_resort = bob.prekeys.current_last_resort_kem_prekey().unwrap().id;
    let (_, from_alice) = alice.start_session(&mut rng, &mut relay, &mut bob, false, "a");
    let (_, from_carol) = carol.start_session(&mut rng, &mut relay, &mut bob, false, "c");
    for record in [&from_alice, &from_carol] {
        assert_eq!(
            prekey_message(record).kem.unwrap().kem_prekey_id,
            last_resort
        );
    }
    bob.respond(None, &from_alice).unwrap();
    // Not consumed: a second initiator used the same key.
    let (_, opened) = bob.respond(None, &from_carol).unwrap();
    assert_eq!(body(&opened), "c");
    // Kept through two rotations, then forgotten.
    for _ in 0..2 {
        bob.prekeys
            .rotate_last_resort_kem_prekey(&bob.identity, &mut rng);
    }
    bob.respond(None, &from_carol).unwrap();
    bob.prekeys
        .rotate_last_resort_kem_prekey(&bob.identity, &mut rng);
    assert_eq!(
        bob.respond(None, &from_carol).unwrap_err(),
        SealError::UnknownKemPrekey { id: last_resort.0 }
    );
}

#[test]
fn a_prekey_store_saved_with_kem_prekeys_keeps_them() {
    let mut rng = rng(10);
    let mut bob = Device::new(&mut rng, "bob", 1);
    bob.prekeys
        .generate_one_time_kem_prekeys(3, &bob.identity, &mut rng);
    let restored = PrekeyStore::from_bytes(&bob.prekeys.to_bytes().unwrap()).unwrap();
    assert_eq!(restored.one_time_kem_count(), 3);
    assert_eq!(
        restored.current_last_resort_kem_prekey(),
        bob.prekeys.current_last_resort_kem_prekey()
    );
    // The restored store answers a handshake made to its KEM prekey.
    let mut relay = Relay::new();
    let alice = Device::new(&mut rng, "alice", 1);
    bob.prekeys = restored;
    let (_, record) = alice.start_session(&mut rng, &mut relay, &mut bob, true, "after restore");
    let (_, opened) = bob.respond(None, &record).unwrap();
    assert_eq!(body(&opened), "after restore");
}

#[test]
fn a_prekey_message_of_protocol_version_2_is_refused_by_its_tag() {
    let mut rng = rng(11);
    let mut relay = Relay::new();
    let alice = Device::new(&mut rng, "alice", 1);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let (_session, record) = alice.start_session(&mut rng, &mut relay, &mut bob, true, "hi");
    let mut bytes = record.envelope.sealed_body.as_bytes().to_vec();
    // Byte 1 is the tag (40, one varint byte); 38 was version 2's.
    assert_eq!(bytes[1], 40);
    bytes[1] = 38;
    let mut old = record.clone();
    old.envelope.sealed_body = Opaque::from(bytes);
    assert_eq!(
        bob.respond(None, &old).unwrap_err(),
        SealError::Wire(fuin_wire::WireError::RetiredFrame {
            tag: 38,
            protocol_version: 2
        })
    );
}

fn pinned_v1_state(field: &str) -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../test-vectors/seal/saved-state-v1.json"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    hex::decode(json[field].as_str().unwrap()).unwrap()
}

#[test]
fn a_session_saved_before_the_hybrid_handshake_loads_labelled_as_not_post_quantum() {
    let session = Session::from_bytes(&pinned_v1_state("alice_session")).unwrap();
    assert!(!session.post_quantum());
    // It had heard back from its peer: nothing outdated to replace.
    assert!(!session.handshake_outdated());
    // Saved again, it is written as state version 2 and keeps its label.
    let saved = session.to_bytes().unwrap();
    assert_eq!(saved[0], fuin_seal::state::SESSION_STATE_VERSION);
    assert!(!Session::from_bytes(&saved).unwrap().post_quantum());
    // A prekey store of state version 1 loads without KEM prekeys, so the
    // device knows to make and publish them.
    let prekeys = PrekeyStore::from_bytes(&pinned_v1_state("bob_prekeys")).unwrap();
    assert!(prekeys.current_last_resort_kem_prekey().is_none());
    assert_eq!(prekeys.one_time_kem_count(), 0);
    assert!(prekeys.current_signed_prekey().is_some());
}

#[test]
fn an_unknown_state_version_is_refused_by_number() {
    let mut saved = Pair::new(12).alice_session.to_bytes().unwrap().to_vec();
    saved[0] = 3;
    assert_eq!(
        Session::from_bytes(&saved).unwrap_err(),
        SealError::UnsupportedStateVersion { version: 3 }
    );
}
