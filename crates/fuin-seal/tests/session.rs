//! One-to-one sessions: the conversation works, and every attack on it that
//! the threat model names fails with the error the spec gives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use fuin_seal::primitives::kdf::Label;
use fuin_seal::primitives::signing::SigningSecret;
use fuin_seal::{Gap, MAX_SKIP, Outgoing, SealError, Session, VerifiedBundle};
use fuin_wire::*;

#[test]
fn conversation_in_both_directions() {
    let mut pair = Pair::new(1);
    for round in 0..5 {
        for i in 0..=round {
            let record = pair.alice_sends(&format!("a{round}.{i}"));
            let opened = pair.bob_session.open(&record, NOW).unwrap();
            assert_eq!(body(&opened), format!("a{round}.{i}"));
            assert_eq!(opened.gap, Gap::default());
            assert_eq!(opened.conversation_with.as_str(), "alice");
        }
        let record = pair.bob_sends(&format!("b{round}"));
        let opened = pair.alice_session.open(&record, NOW).unwrap();
        assert_eq!(body(&opened), format!("b{round}"));
        assert_eq!(opened.conversation_with.as_str(), "bob");
    }
}

#[test]
fn handshake_works_without_a_one_time_prekey() {
    let mut rng = rng(2);
    let mut relay = Relay::new();
    let alice = Device::new(&mut rng, "alice", 1);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let bundle = bob.verified_bundle(&mut rng, false);
    let mut session =
        Session::initiate(&mut rng, &alice.identity, alice.address.clone(), &bundle).unwrap();
    let sealed = seal_text(&mut rng, &mut session, &alice, "bob", "no opk").unwrap();
    assert_eq!(sealed.envelope.content_kind, ContentKind::PrekeyMessage);
    let record = relay.deliver(&alice.address, sealed.envelope);
    let before = bob.prekeys.one_time_count();
    let (_, opened) = bob.respond(None, &record).unwrap();
    assert_eq!(body(&opened), "no opk");
    assert_eq!(bob.prekeys.one_time_count(), before);
}

#[test]
fn the_one_time_prekey_is_consumed_and_prekey_messages_stop_after_the_answer() {
    let mut rng = rng(3);
    let mut relay = Relay::new();
    let alice = Device::new(&mut rng, "alice", 1);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let bundle = bob.verified_bundle(&mut rng, true);
    let count = bob.prekeys.one_time_count();
    let mut alice_session =
        Session::initiate(&mut rng, &alice.identity, alice.address.clone(), &bundle).unwrap();
    // Until Bob answers, every message carries the handshake.
    let first = seal_text(&mut rng, &mut alice_session, &alice, "bob", "one").unwrap();
    let second = seal_text(&mut rng, &mut alice_session, &alice, "bob", "two").unwrap();
    assert_eq!(second.envelope.content_kind, ContentKind::PrekeyMessage);
    let first = relay.deliver(&alice.address, first.envelope);
    let second = relay.deliver(&alice.address, second.envelope);
    let (mut bob_session, _) = bob.respond(None, &first).unwrap();
    assert_eq!(bob.prekeys.one_time_count(), count - 1);
    // The second prekey message belongs to the same session.
    assert_eq!(body(&bob_session.open(&second, NOW).unwrap()), "two");
    let answer = seal_text(&mut rng, &mut bob_session, &bob, "alice", "ok").unwrap();
    assert_eq!(answer.envelope.content_kind, ContentKind::Message);
    alice_session
        .open(&relay.deliver(&bob.address, answer.envelope), NOW)
        .unwrap();
    let third = seal_text(&mut rng, &mut alice_session, &alice, "bob", "three").unwrap();
    assert_eq!(third.envelope.content_kind, ContentKind::Message);
}

#[test]
fn replayed_message_is_rejected() {
    let mut pair = Pair::new(4);
    let record = pair.alice_sends("once");
    pair.bob_session.open(&record, NOW).unwrap();
    assert_eq!(
        pair.bob_session.open(&record, NOW).unwrap_err(),
        SealError::DuplicateMessage
    );
    // Also after the ratchet moved on to new chains in both directions.
    for _ in 0..3 {
        let reply = pair.bob_sends("r");
        pair.alice_session.open(&reply, NOW).unwrap();
        let next = pair.alice_sends("n");
        pair.bob_session.open(&next, NOW).unwrap();
    }
    assert_eq!(
        pair.bob_session.open(&record, NOW).unwrap_err(),
        SealError::DuplicateMessage
    );
}

#[test]
fn replayed_first_message_is_rejected() {
    let mut rng = rng(5);
    let mut relay = Relay::new();
    let alice = Device::new(&mut rng, "alice", 1);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let (_, record) = alice.start_session(&mut rng, &mut relay, &mut bob, true, "first");
    let (mut bob_session, _) = bob.respond(None, &record).unwrap();
    // To the existing session it is a duplicate...
    assert_eq!(
        bob_session.open(&record, NOW).unwrap_err(),
        SealError::DuplicateMessage
    );
    // ...and it cannot start a second session: its one-time prekey is gone.
    let id = bundle_one_time_id(&record);
    assert_eq!(
        bob.respond(None, &record).unwrap_err(),
        SealError::UnknownOneTimePrekey { id }
    );
}

fn bundle_one_time_id(record: &DeliveredRecord<'_>) -> u32 {
    PrekeyMessage::from_bytes(record.envelope.sealed_body.as_bytes())
        .unwrap()
        .one_time_prekey_id
        .unwrap()
        .0
}

#[test]
fn reordered_messages_open_and_report_the_senders_order() {
    let mut pair = Pair::new(6);
    let records: Vec<_> = (0..5).map(|i| pair.alice_sends(&format!("m{i}"))).collect();
    // Sequences continue after the handshake message (0).
    let order = [3usize, 0, 4, 2, 1];
    let mut seen = Vec::new();
    for &i in &order {
        let opened = pair.bob_session.open(&records[i], NOW).unwrap();
        assert_eq!(body(&opened), format!("m{i}"));
        seen.push((opened.content.sequence, opened.gap));
    }
    let sequence = |i: usize| 1 + i as u64;
    assert_eq!(
        seen,
        vec![
            (
                sequence(3),
                Gap {
                    missing: Some(1..4),
                    late: false
                }
            ),
            (
                sequence(0),
                Gap {
                    missing: None,
                    late: true
                }
            ),
            (
                sequence(4),
                Gap {
                    missing: None,
                    late: false
                }
            ),
            (
                sequence(2),
                Gap {
                    missing: None,
                    late: true
                }
            ),
            (
                sequence(1),
                Gap {
                    missing: None,
                    late: true
                }
            ),
        ]
    );
    // Every key was used once: all five are now duplicates.
    for record in &records {
        assert_eq!(
            pair.bob_session.open(record, NOW).unwrap_err(),
            SealError::DuplicateMessage
        );
    }
}

#[test]
fn reordering_across_ratchet_steps_still_opens() {
    let mut pair = Pair::new(7);
    let old_chain: Vec<_> = (0..3)
        .map(|i| pair.alice_sends(&format!("old{i}")))
        .collect();
    // Alice hears from Bob and moves to a new ratchet key.
    let reply = pair.bob_sends("turn");
    pair.alice_session.open(&reply, NOW).unwrap();
    let new_chain = pair.alice_sends("new");
    // Bob gets the new chain first: the old chain's keys are kept.
    let opened = pair.bob_session.open(&new_chain, NOW).unwrap();
    assert_eq!(body(&opened), "new");
    assert!(opened.gap.missing.is_some());
    for (i, record) in old_chain.iter().enumerate().rev() {
        let opened = pair.bob_session.open(record, NOW).unwrap();
        assert_eq!(body(&opened), format!("old{i}"));
        assert!(opened.gap.late);
    }
}

#[test]
fn dropped_message_is_reported_as_a_gap() {
    let mut pair = Pair::new(8);
    let kept = pair.alice_sends("kept");
    let _dropped = pair.alice_sends("dropped");
    let _dropped_too = pair.alice_sends("dropped too");
    let after = pair.alice_sends("after");
    let first = pair.bob_session.open(&kept, NOW).unwrap();
    let next = pair.bob_session.open(&after, NOW).unwrap();
    let seq = first.content.sequence;
    assert_eq!(next.gap.missing, Some(seq + 1..seq + 3));
    assert!(!next.gap.late);
}

#[test]
fn reflected_message_is_rejected() {
    let mut pair = Pair::new(9);
    let record = pair.alice_sends("to bob");
    // The relay turns Alice's message around, as if Bob had sent it to her.
    let mut reflected = record.clone();
    reflected.sender = pair.bob.address.clone();
    reflected.envelope.recipient = pair.alice.address.clone();
    assert_eq!(
        pair.alice_session.open(&reflected, NOW).unwrap_err(),
        SealError::DecryptionFailed
    );
    // The genuine message still opens at Bob: nothing was disturbed.
    assert_eq!(
        body(&pair.bob_session.open(&record, NOW).unwrap()),
        "to bob"
    );
}

#[test]
fn message_readdressed_to_another_device_is_rejected() {
    let mut pair = Pair::new(10);
    // Bob's second device has its own session with Alice.
    let mut bob2 = Device::new(&mut pair.rng, "bob", 2);
    let bundle = bob2.verified_bundle(&mut pair.rng, true);
    let mut alice_to_bob2 = Session::initiate(
        &mut pair.rng,
        &pair.alice.identity,
        pair.alice.address.clone(),
        &bundle,
    )
    .unwrap();
    let hello = pair.alice.text(&mut pair.rng, "bob", "hello bob2");
    let sealed = alice_to_bob2.seal(&mut pair.rng, &hello, NOW).unwrap();
    let record = pair.relay.deliver(&pair.alice.address, sealed.envelope);
    let (mut bob2_session, _) = bob2.respond(None, &record).unwrap();

    let for_bob1 = pair.alice_sends("for bob/1 only");
    let mut readdressed = for_bob1.clone();
    readdressed.envelope.recipient = bob2.address.clone();
    assert_eq!(
        bob2_session.open(&readdressed, NOW).unwrap_err(),
        SealError::DecryptionFailed
    );
    // Delivered to bob/2 without changing the address: refused outright.
    assert_eq!(
        bob2_session.open(&for_bob1, NOW).unwrap_err(),
        SealError::WrongRecipient
    );
}

#[test]
fn unknown_key_share_is_impossible() {
    // Eve registers Alice's identity (and her signed prekey) under her own
    // address. Bob starts a session with "Eve"; Eve forwards his first
    // message to Alice as if it were for her.
    let mut rng = rng(11);
    let mut relay = Relay::new();
    let mut alice = Device::new(&mut rng, "alice", 1);
    let bob = Device::new(&mut rng, "bob", 1);
    let eve_address = address("eve", 1);
    let mut stolen = alice.bundle(&mut rng, true);
    stolen.address = eve_address.clone();
    // The bundle verifies: the identity's signatures are genuine.
    let bundle = VerifiedBundle::verify(&stolen, &eve_address, None).unwrap();
    let mut bob_session =
        Session::initiate(&mut rng, &bob.identity, bob.address.clone(), &bundle).unwrap();
    let sealed = seal_text(&mut rng, &mut bob_session, &bob, "eve", "for eve").unwrap();
    let mut record = relay.deliver(&bob.address, sealed.envelope);
    record.envelope.recipient = alice.address.clone();
    // Alice derives keys over her own address, which Bob never used.
    assert_eq!(
        alice.respond(None, &record).unwrap_err(),
        SealError::DecryptionFailed
    );
}

#[test]
fn bundle_checks_reject_substitution_bad_signatures_and_wrong_addresses() {
    let mut rng = rng(12);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let mallory = Device::new(&mut rng, "mallory", 1);
    let bundle = bob.bundle(&mut rng, true);
    let trusted = bob.identity.public().clone();
    assert!(VerifiedBundle::verify(&bundle, &bob.address, Some(&trusted)).is_ok());

    // The relay substitutes Mallory's identity: surfaced, never accepted.
    let mut substituted = bundle.clone();
    substituted.identity = mallory.identity.public().clone();
    assert_eq!(
        VerifiedBundle::verify(&substituted, &bob.address, Some(&trusted)).unwrap_err(),
        SealError::IdentityMismatch
    );
    // Without a trusted identity it still fails: Mallory did not sign Bob's prekey.
    assert_eq!(
        VerifiedBundle::verify(&substituted, &bob.address, None).unwrap_err(),
        SealError::BadSignature
    );
    let mut bad_prekey = bundle.clone();
    bad_prekey.signed_prekey.signature.0[0] ^= 1;
    assert_eq!(
        VerifiedBundle::verify(&bad_prekey, &bob.address, None).unwrap_err(),
        SealError::BadSignature
    );
    let mut swapped_prekey = bundle.clone();
    swapped_prekey.signed_prekey.public_key = mallory.identity.public().agreement_key;
    assert_eq!(
        VerifiedBundle::verify(&swapped_prekey, &bob.address, None).unwrap_err(),
        SealError::BadSignature
    );
    let mut bad_identity = bundle.clone();
    bad_identity.identity.signature.0[5] ^= 1;
    assert_eq!(
        VerifiedBundle::verify(&bad_identity, &bob.address, None).unwrap_err(),
        SealError::BadSignature
    );
    assert_eq!(
        VerifiedBundle::verify(&bundle, &address("bob", 2), None).unwrap_err(),
        SealError::AddressMismatch
    );
}

#[test]
fn changed_identity_of_an_initiator_is_surfaced() {
    let mut rng = rng(13);
    let mut relay = Relay::new();
    let alice = Device::new(&mut rng, "alice", 1);
    let reinstalled = Device::new(&mut rng, "alice", 1);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let bundle = bob.verified_bundle(&mut rng, true);
    let mut session = Session::initiate(
        &mut rng,
        &reinstalled.identity,
        reinstalled.address.clone(),
        &bundle,
    )
    .unwrap();
    let sealed = seal_text(&mut rng, &mut session, &reinstalled, "bob", "new phone").unwrap();
    let record = relay.deliver(&reinstalled.address, sealed.envelope);
    assert_eq!(
        bob.respond(Some(alice.identity.public()), &record)
            .unwrap_err(),
        SealError::IdentityMismatch
    );
}

fn small_order_key() -> X25519PublicKey {
    // 1 has small order on Curve25519 (see primitives::x25519).
    let mut key = [0u8; 32];
    key[0] = 1;
    X25519PublicKey(key)
}

#[test]
fn low_order_keys_are_rejected_everywhere() {
    let mut rng = rng(14);
    let mut relay = Relay::new();
    let alice = Device::new(&mut rng, "alice", 1);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let bundle = bob.bundle(&mut rng, true);

    // In a bundle: the signed prekey (even correctly signed) and the one-time prekey.
    let signing = SigningSecret::from_bytes([3; 32]);
    let weak = small_order_key();
    let mut weak_identity = fuin_wire::PublicIdentity {
        signing_key: signing.public_key(),
        agreement_key: weak,
        signature: signing.sign(Label::IdentitySignature, weak.as_bytes()),
    };
    let mut weak_bundle = bundle.clone();
    weak_bundle.identity = weak_identity.clone();
    assert_eq!(
        VerifiedBundle::verify(&weak_bundle, &bob.address, None).unwrap_err(),
        SealError::WeakPublicKey
    );
    let mut weak_prekey = bundle.clone();
    weak_prekey.signed_prekey.public_key = weak;
    assert_eq!(
        VerifiedBundle::verify(&weak_prekey, &bob.address, None).unwrap_err(),
        SealError::WeakPublicKey
    );
    let mut weak_one_time = bundle.clone();
    weak_one_time.one_time_prekey.as_mut().unwrap().public_key = weak;
    assert_eq!(
        VerifiedBundle::verify(&weak_one_time, &bob.address, None).unwrap_err(),
        SealError::WeakPublicKey
    );

    // In a prekey message: the base key and the initiator's identity.
    let good = VerifiedBundle::verify(&bundle, &bob.address, None).unwrap();
    let mut session =
        Session::initiate(&mut rng, &alice.identity, alice.address.clone(), &good).unwrap();
    let sealed = seal_text(&mut rng, &mut session, &alice, "bob", "x").unwrap();
    let record = relay.deliver(&alice.address, sealed.envelope);
    let message = PrekeyMessage::from_bytes(record.envelope.sealed_body.as_bytes()).unwrap();
    let with = |message: &PrekeyMessage<'_>| {
        let mut record = record.clone();
        record.envelope.sealed_body = Opaque::from(message.to_bytes().unwrap());
        record
    };
    let mut weak_base = message.clone();
    weak_base.base_key = weak;
    let mut prekeys = bob.prekeys.clone();
    assert_eq!(
        Session::respond(
            &bob.identity,
            bob.address.clone(),
            &mut prekeys,
            None,
            &with(&weak_base),
            NOW
        )
        .unwrap_err(),
        SealError::WeakPublicKey
    );
    weak_identity.signature = signing.sign(Label::IdentitySignature, weak.as_bytes());
    let mut weak_initiator = message.clone();
    weak_initiator.initiator = weak_identity;
    assert_eq!(
        Session::respond(
            &bob.identity,
            bob.address.clone(),
            &mut prekeys,
            None,
            &with(&weak_initiator),
            NOW
        )
        .unwrap_err(),
        SealError::WeakPublicKey
    );

    // In a ratchet header: a new "ratchet key" of small order.
    let mut pair = Pair::new(15);
    let record = pair.alice_sends("y");
    let mut message = RatchetMessage::from_bytes(record.envelope.sealed_body.as_bytes()).unwrap();
    message.header.ratchet_key = weak;
    let mut forged = record.clone();
    forged.envelope.sealed_body = Opaque::from(message.to_bytes().unwrap());
    assert_eq!(
        pair.bob_session.open(&forged, NOW).unwrap_err(),
        SealError::WeakPublicKey
    );
    assert_eq!(body(&pair.bob_session.open(&record, NOW).unwrap()), "y");
}

/// Flips every bit of `bytes` one at a time, calling `check` on each variant.
fn each_bit_flip(bytes: &[u8], mut check: impl FnMut(usize, Vec<u8>)) {
    for position in 0..bytes.len() * 8 {
        let mut flipped = bytes.to_vec();
        flipped[position / 8] ^= 1 << (position % 8);
        check(position, flipped);
    }
}

#[test]
fn bit_flips_in_every_field_of_a_message_are_rejected() {
    let mut pair = Pair::new(16);
    let record = pair.alice_sends("integrity");
    let sealed = record.envelope.sealed_body.as_bytes().to_vec();
    // Every bit of the sealed body: header fields, commitment, ciphertext, tag.
    each_bit_flip(&sealed, |position, flipped| {
        let mut tampered = record.clone();
        tampered.envelope.sealed_body = Opaque::from(flipped);
        assert!(
            pair.bob_session.open(&tampered, NOW).is_err(),
            "flip of bit {position} in the sealed body opened"
        );
    });
    // Every bit of the franking commitment.
    each_bit_flip(
        &record.envelope.franking_commitment.0,
        |position, flipped| {
            let mut tampered = record.clone();
            tampered.envelope.franking_commitment = FrankingCommitment(flipped.try_into().unwrap());
            assert_eq!(
                pair.bob_session.open(&tampered, NOW).unwrap_err(),
                SealError::DecryptionFailed,
                "flip of bit {position} in the commitment"
            );
        },
    );
    // The content kind, relabelled.
    let mut relabelled = record.clone();
    relabelled.envelope.content_kind = ContentKind::PrekeyMessage;
    assert!(pair.bob_session.open(&relabelled, NOW).is_err());
    // Sender and recipient addresses.
    let mut sender = record.clone();
    sender.sender.device = DeviceId(2);
    assert_eq!(
        pair.bob_session.open(&sender, NOW).unwrap_err(),
        SealError::WrongSender
    );
    let mut recipient = record.clone();
    recipient.envelope.recipient.device = DeviceId(2);
    assert_eq!(
        pair.bob_session.open(&recipient, NOW).unwrap_err(),
        SealError::WrongRecipient
    );
    // Nothing was disturbed: the genuine message opens.
    assert_eq!(
        body(&pair.bob_session.open(&record, NOW).unwrap()),
        "integrity"
    );
}

#[test]
fn bit_flips_in_every_field_of_a_prekey_message_are_rejected() {
    let mut rng = rng(17);
    let mut relay = Relay::new();
    let alice = Device::new(&mut rng, "alice", 1);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let (_, record) = alice.start_session(&mut rng, &mut relay, &mut bob, true, "first");
    let body_bytes = record.envelope.sealed_body.as_bytes().to_vec();
    each_bit_flip(&body_bytes, |position, flipped| {
        let mut tampered = record.clone();
        tampered.envelope.sealed_body = Opaque::from(flipped);
        let mut prekeys = bob.prekeys.clone();
        assert!(
            Session::respond(
                &bob.identity,
                bob.address.clone(),
                &mut prekeys,
                None,
                &tampered,
                NOW
            )
            .is_err(),
            "flip of bit {position} in the prekey message opened"
        );
        assert_eq!(prekeys.one_time_count(), bob.prekeys.one_time_count());
    });
    let (_, opened) = bob.respond(None, &record).unwrap();
    assert_eq!(body(&opened), "first");
}

#[test]
fn truncated_ciphertext_is_rejected() {
    let mut pair = Pair::new(18);
    let record = pair.alice_sends("truncate me");
    let mut message = RatchetMessage::from_bytes(record.envelope.sealed_body.as_bytes()).unwrap();
    let full = message.ciphertext.as_bytes().to_vec();
    for len in [0, 1, 31, 32, 47, full.len() - 1] {
        message.ciphertext = Opaque::from(full[..len].to_vec());
        let mut truncated = record.clone();
        truncated.envelope.sealed_body = Opaque::from(message.to_bytes().unwrap());
        assert_eq!(
            pair.bob_session.open(&truncated, NOW).unwrap_err(),
            SealError::DecryptionFailed,
            "ciphertext cut to {len} bytes"
        );
    }
    // A truncated frame is a wire error.
    let bytes = record.envelope.sealed_body.as_bytes();
    let mut cut = record.clone();
    cut.envelope.sealed_body = Opaque::from(bytes[..bytes.len() - 1].to_vec());
    assert_eq!(
        pair.bob_session.open(&cut, NOW).unwrap_err(),
        SealError::Wire(WireError::Truncated)
    );
    assert_eq!(
        body(&pair.bob_session.open(&record, NOW).unwrap()),
        "truncate me"
    );
}

#[test]
fn a_message_too_far_ahead_is_rejected_and_changes_nothing() {
    let mut pair = Pair::new(19);
    let records: Vec<_> = (0..=MAX_SKIP + 1).map(|_| pair.alice_sends("x")).collect();
    let last = records.last().unwrap();
    assert_eq!(
        pair.bob_session.open(last, NOW).unwrap_err(),
        SealError::TooFarAhead {
            skip: u64::from(MAX_SKIP) + 1,
            max: MAX_SKIP
        }
    );
    // Exactly MAX_SKIP ahead is fine.
    let opened = pair
        .bob_session
        .open(&records[MAX_SKIP as usize], NOW)
        .unwrap();
    assert_eq!(
        opened.gap.missing.map(|range| range.end - range.start),
        Some(u64::from(MAX_SKIP))
    );
    assert_eq!(body(&pair.bob_session.open(&records[0], NOW).unwrap()), "x");
}

#[test]
fn skipped_keys_expire() {
    let mut pair = Pair::new(20);
    let late = pair.alice_sends("late");
    let on_time = pair.alice_sends("on time");
    pair.bob_session.open(&on_time, NOW).unwrap();
    let much_later = NOW + fuin_seal::SKIPPED_KEY_LIFETIME_MS + 1;
    // Any later message makes the session forget expired keys.
    let trigger = pair.alice_sends("trigger");
    pair.bob_session.open(&trigger, much_later).unwrap();
    assert_eq!(
        pair.bob_session.open(&late, much_later).unwrap_err(),
        SealError::DuplicateMessage
    );
}

#[test]
fn forged_read_receipt_is_rejected() {
    let mut pair = Pair::new(21);
    // A genuine receipt from Bob opens as a receipt.
    let receipt = Outgoing::new(
        &mut pair.rng,
        &pair.bob.address,
        UserId::new("alice").unwrap(),
        ContentType::Receipt,
        b"read",
    )
    .unwrap();
    let sealed = pair.bob_session.seal(&mut pair.rng, &receipt, NOW).unwrap();
    let genuine = pair.relay.deliver(&pair.bob.address, sealed.envelope);
    // The relay forges one: Bob's header with its own ciphertext, and a
    // replay of the genuine one after it was opened.
    let mut message = RatchetMessage::from_bytes(genuine.envelope.sealed_body.as_bytes()).unwrap();
    message.header.counter += 1;
    message.ciphertext = Opaque::from(vec![0x42; 120]);
    let mut forged = genuine.clone();
    forged.envelope.sealed_body = Opaque::from(message.to_bytes().unwrap());
    assert_eq!(
        pair.alice_session.open(&forged, NOW).unwrap_err(),
        SealError::DecryptionFailed
    );
    let opened = pair.alice_session.open(&genuine, NOW).unwrap();
    assert_eq!(opened.content.content_type, ContentType::Receipt);
    assert_eq!(
        pair.alice_session.open(&genuine, NOW).unwrap_err(),
        SealError::DuplicateMessage
    );
}

#[test]
fn opened_message_carries_a_verifiable_franking_opening() {
    let mut pair = Pair::new(22);
    let record = pair.alice_sends("report me");
    let opened = pair.bob_session.open(&record, NOW).unwrap();
    let opening = &opened.franking;
    assert_eq!(opening.commitment, record.envelope.franking_commitment);
    assert_eq!(opening.stamp, record.franking_stamp);
    assert_eq!(opening.sender, pair.alice.address);
    assert_eq!(opening.recipient, pair.bob.address);
    fuin_seal::primitives::franking::verify(
        &opening.franking_key.0,
        &fuin_seal::primitives::franking::FrankedMessage {
            sender: &opening.sender,
            conversation: &opened.conversation,
            message_id: &opened.content.message_id,
            content_type: opened.content.content_type,
            body: opened.content.body.as_bytes(),
        },
        &opening.commitment,
    )
    .unwrap();
    assert_eq!(
        opened.conversation,
        fuin_seal::ConversationId::direct(&pair.alice.address.user, &pair.bob.address.user)
    );
}

#[test]
fn a_message_naming_a_third_partys_conversation_is_rejected() {
    let mut pair = Pair::new(23);
    // Alice's client names the conversation with Carol in a message to Bob.
    let wrong = pair.alice.text(&mut pair.rng, "carol", "meant for carol");
    assert_eq!(
        pair.alice_session
            .seal(&mut pair.rng, &wrong, NOW)
            .unwrap_err(),
        SealError::ConversationMismatch
    );
}

#[test]
fn a_users_own_devices_learn_whom_a_message_was_for() {
    let mut rng = rng(24);
    let mut relay = Relay::new();
    let alice1 = Device::new(&mut rng, "alice", 1);
    let mut alice2 = Device::new(&mut rng, "alice", 2);
    let bundle = alice2.verified_bundle(&mut rng, true);
    let mut sync =
        Session::initiate(&mut rng, &alice1.identity, alice1.address.clone(), &bundle).unwrap();
    // The copy of a message to Bob, for Alice's other device.
    let message = alice1.text(&mut rng, "bob", "to bob, synced");
    let sealed = sync.seal(&mut rng, &message, NOW).unwrap();
    let record = relay.deliver(&alice1.address, sealed.envelope);
    let (_, opened) = alice2.respond(None, &record).unwrap();
    assert_eq!(opened.conversation_with.as_str(), "bob");
    assert_eq!(
        opened.conversation,
        fuin_seal::ConversationId::direct(&alice1.address.user, &address("bob", 1).user)
    );
}

#[test]
fn session_state_survives_saving_mid_conversation() {
    let mut pair = Pair::new(25);
    let early = pair.alice_sends("early");
    let later = pair.alice_sends("later");
    pair.bob_session.open(&later, NOW).unwrap();
    let saved = pair.bob_session.to_bytes().unwrap();
    let mut restored = Session::from_bytes(&saved).unwrap();
    assert_eq!(restored.to_bytes().unwrap(), saved);
    // The skipped key for "early" survived.
    assert_eq!(body(&restored.open(&early, NOW).unwrap()), "early");
    let reply = seal_text(
        &mut pair.rng,
        &mut restored,
        &pair.bob,
        "alice",
        "after restore",
    )
    .unwrap();
    let record = pair.relay.deliver(&pair.bob.address, reply.envelope);
    assert_eq!(
        body(&pair.alice_session.open(&record, NOW).unwrap()),
        "after restore"
    );
}

#[test]
fn errors_say_what_went_wrong_and_hold_no_secrets() {
    let error = SealError::TooFarAhead {
        skip: 1001,
        max: 1000,
    };
    assert_eq!(
        error.to_string(),
        "message would skip 1001 keys, more than the limit of 1000"
    );
    assert_eq!(
        SealError::InvalidFrankingKey { len: 33 }.to_string(),
        "franking key has 33 bytes instead of 32"
    );
}

#[test]
fn a_chain_keeps_at_most_max_skip_keys_over_several_messages() {
    let mut pair = Pair::new(26);
    let records: Vec<_> = (0..1300).map(|_| pair.alice_sends("x")).collect();
    // Skip 600, then another 600 in the same chain: the second jump would
    // leave the chain holding more than MAX_SKIP keys.
    pair.bob_session.open(&records[600], NOW).unwrap();
    assert_eq!(
        pair.bob_session.open(&records[1201], NOW).unwrap_err(),
        SealError::TooFarAhead {
            skip: 1200,
            max: MAX_SKIP
        }
    );
    // Opening late messages frees room again.
    for record in &records[..300] {
        pair.bob_session.open(record, NOW).unwrap();
    }
    pair.bob_session.open(&records[1201], NOW).unwrap();
}

#[test]
fn an_expired_skipped_key_fails_even_with_no_open_in_between() {
    let mut pair = Pair::new(27);
    let late = pair.alice_sends("late");
    let on_time = pair.alice_sends("on time");
    pair.bob_session.open(&on_time, NOW).unwrap();
    let expired = NOW + fuin_seal::SKIPPED_KEY_LIFETIME_MS + 1;
    assert_eq!(
        pair.bob_session.open(&late, expired).unwrap_err(),
        SealError::DuplicateMessage
    );
    // Just within the lifetime it still opens.
    let within = NOW + fuin_seal::SKIPPED_KEY_LIFETIME_MS;
    assert_eq!(body(&pair.bob_session.open(&late, within).unwrap()), "late");
}

#[test]
fn a_header_claiming_the_last_counter_is_refused_without_panicking() {
    let mut pair = Pair::new(28);
    let record = pair.alice_sends("x");
    let mut message = RatchetMessage::from_bytes(record.envelope.sealed_body.as_bytes()).unwrap();
    message.header.counter = u32::MAX;
    let mut forged = record.clone();
    forged.envelope.sealed_body = Opaque::from(message.to_bytes().unwrap());
    assert_eq!(
        pair.bob_session.open(&forged, NOW).unwrap_err(),
        SealError::DecryptionFailed
    );
    assert_eq!(body(&pair.bob_session.open(&record, NOW).unwrap()), "x");
}

#[test]
fn saved_state_with_an_invalid_address_is_refused() {
    let pair = Pair::new(29);
    let saved = pair.bob_session.to_bytes().unwrap();
    // The local user id "bob" is stored as length 3 then the bytes; make it
    // contain a control character.
    let at = saved.windows(4).position(|w| w == b"\x03bob").unwrap();
    let mut corrupt = saved.to_vec();
    corrupt[at + 2] = 0x07;
    assert_eq!(
        Session::from_bytes(&corrupt).unwrap_err(),
        SealError::InvalidState
    );
    assert!(Session::from_bytes(&saved).is_ok());
}

/// protocol.md §7.3: `k`, the keys already kept under a chain, counts every
/// kept key, also those past their lifetime that no applied plan has
/// deleted yet. Deletion happens only when a plan is applied (§7.4).
#[test]
fn expired_kept_keys_count_towards_max_skip_until_a_plan_deletes_them() {
    let mut pair = Pair::new(30);
    let max = MAX_SKIP as usize;
    let records: Vec<_> = (0..max + 3).map(|_| pair.alice_sends("x")).collect();
    // Open counter MAX_SKIP: the chain keeps MAX_SKIP keys (0 .. MAX_SKIP - 1).
    pair.bob_session.open(&records[max], NOW).unwrap();
    let expired = NOW + fuin_seal::SKIPPED_KEY_LIFETIME_MS + 1;
    // Every kept key has expired, yet a skip of one more is too far.
    assert_eq!(
        pair.bob_session
            .open(&records[max + 2], expired)
            .unwrap_err(),
        SealError::TooFarAhead {
            skip: u64::from(MAX_SKIP) + 1,
            max: MAX_SKIP
        }
    );
    // The next counter adds no key: it opens, and applying its plan deletes
    // the expired keys, which makes room again.
    pair.bob_session.open(&records[max + 1], expired).unwrap();
    pair.bob_session.open(&records[max + 2], expired).unwrap();
    assert_eq!(
        pair.bob_session.open(&records[0], expired).unwrap_err(),
        SealError::DuplicateMessage
    );
}

/// protocol.md §7.5: a message of one of the 32 retired peer chains with no
/// kept key is `DuplicateMessage`; of an older chain it is taken for a new
/// ratchet key, so the plan runs first (`TooFarAhead` for a large `N` or
/// `PN`), and only then does it fail with `DecryptionFailed`. A key still
/// kept for an older chain opens its message (§7.3 case 1 comes first).
#[test]
fn messages_of_chains_older_than_the_retired_ones_are_planned_as_new_chains() {
    let mut pair = Pair::new(31);
    // Alice's chain K1: Bob keeps the key of counter 0 and opens counter 1.
    let kept = pair.alice_sends("kept");
    let opened = pair.alice_sends("opened");
    pair.bob_session.open(&opened, NOW).unwrap();
    let round = |pair: &mut Pair| {
        let reply = pair.bob_sends("r");
        pair.alice_session.open(&reply, NOW).unwrap();
        let next = pair.alice_sends("n");
        pair.bob_session.open(&next, NOW).unwrap();
    };
    // 32 newer chains: K1 is the oldest retired key.
    for _ in 0..32 {
        round(&mut pair);
    }
    assert_eq!(
        pair.bob_session.open(&opened, NOW).unwrap_err(),
        SealError::DuplicateMessage
    );
    // One more: K1 is no longer retired.
    round(&mut pair);
    assert_eq!(
        pair.bob_session.open(&opened, NOW).unwrap_err(),
        SealError::DecryptionFailed
    );
    let forge = |record: &DeliveredRecord<'static>, pn: u32, n: u32| {
        let mut message =
            RatchetMessage::from_bytes(record.envelope.sealed_body.as_bytes()).unwrap();
        message.header.previous_chain_length = pn;
        message.header.counter = n;
        let mut forged = record.clone();
        forged.envelope.sealed_body = Opaque::from(message.to_bytes().unwrap());
        forged
    };
    let too_far = SealError::TooFarAhead {
        skip: u64::from(MAX_SKIP) + 1,
        max: MAX_SKIP,
    };
    // N past MAX_SKIP in the "new" chain.
    assert_eq!(
        pair.bob_session
            .open(&forge(&opened, 1, MAX_SKIP + 1), NOW)
            .unwrap_err(),
        too_far
    );
    // PN past MAX_SKIP beyond Bob's current chain (Nr = 1, nothing kept).
    assert_eq!(
        pair.bob_session
            .open(&forge(&opened, MAX_SKIP + 2, 1), NOW)
            .unwrap_err(),
        too_far
    );
    // The key kept for K1's counter 0 still opens its message.
    let late = pair.bob_session.open(&kept, NOW).unwrap();
    assert_eq!(body(&late), "kept");
    assert!(late.gap.late);
}

/// protocol.md §6.6 and §8: the handshake fields of a prekey message (base
/// key, signed prekey id, one-time prekey id or its absence) are bound into
/// the associated data of the ratchet message it carries. A relay that
/// rewrites the prekey ids of a repeated prekey message gets it refused, the
/// session is unchanged, and the genuine message still opens afterwards.
#[test]
fn a_repeated_prekey_message_with_rewritten_prekey_ids_is_refused() {
    let mut rng = rng(32);
    let mut relay = Relay::new();
    let alice = Device::new(&mut rng, "alice", 1);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let bundle = bob.verified_bundle(&mut rng, true);
    let mut alice_session =
        Session::initiate(&mut rng, &alice.identity, alice.address.clone(), &bundle).unwrap();
    let first = seal_text(&mut rng, &mut alice_session, &alice, "bob", "one").unwrap();
    let second = seal_text(&mut rng, &mut alice_session, &alice, "bob", "two").unwrap();
    let third = seal_text(&mut rng, &mut alice_session, &alice, "bob", "three").unwrap();
    let first = relay.deliver(&alice.address, first.envelope);
    let (mut bob_session, _) = bob.respond(None, &first).unwrap();
    let genuine = PrekeyMessage::from_bytes(second.envelope.sealed_body.as_bytes())
        .unwrap()
        .into_owned();
    assert!(genuine.one_time_prekey_id.is_some());
    let rewrite =
        |envelope: &RoutingEnvelope<'static>, signed: PrekeyId, one_time: Option<PrekeyId>| {
            let mut message = PrekeyMessage::from_bytes(envelope.sealed_body.as_bytes()).unwrap();
            message.signed_prekey_id = signed;
            message.one_time_prekey_id = one_time;
            let mut envelope = envelope.clone();
            envelope.sealed_body = Opaque::from(message.to_bytes().unwrap());
            envelope
        };
    for sealed in [&second, &third] {
        for (signed, one_time) in [
            // Another signed prekey id.
            (PrekeyId(0xdead), genuine.one_time_prekey_id),
            // Another one-time prekey id.
            (genuine.signed_prekey_id, Some(PrekeyId(0xbeef))),
            // The one-time prekey id dropped.
            (genuine.signed_prekey_id, None),
            // Both.
            (PrekeyId(0xdead), Some(PrekeyId(0xbeef))),
        ] {
            let before = bob_session.to_bytes().unwrap();
            let record = relay.deliver(&alice.address, rewrite(&sealed.envelope, signed, one_time));
            assert_eq!(
                bob_session.open(&record, NOW).unwrap_err(),
                SealError::DecryptionFailed
            );
            assert_eq!(bob_session.to_bytes().unwrap(), before, "session changed");
        }
    }
    // The untouched messages still open, in the session they belong to.
    for (sealed, text) in [(second, "two"), (third, "three")] {
        let record = relay.deliver(&alice.address, sealed.envelope);
        assert_eq!(body(&bob_session.open(&record, NOW).unwrap()), text);
    }
}
