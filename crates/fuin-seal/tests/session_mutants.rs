//! Sessions at the boundaries a mutation run found unchecked (MUTANTS.md):
//! which repeated prekey messages a responder session accepts, the gap the
//! first message received reports, when a message counts as late, how long
//! a kept key lives, when a session can send, and how many signed prekeys a
//! device keeps. Each test would fail if the check it names were removed or
//! turned around.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use fuin_seal::primitives::x25519::AgreementSecret;
use fuin_seal::{DeviceIdentity, Gap, SealError, Session};
use fuin_wire::*;

/// Alice starts a session with Bob and seals `count` prekey messages before
/// hearing back; Bob's session is made from the first. Returns Bob's session
/// and the later records, which repeat the handshake.
fn responder_with_repeated_prekey_messages(
    rng: &mut ChaCha20Rng,
    count: usize,
) -> (Session, Vec<DeliveredRecord<'static>>) {
    let mut relay = Relay::new();
    let alice = Device::new(rng, "alice", 1);
    let mut bob = Device::new(rng, "bob", 1);
    let bundle = bob.verified_bundle(rng, true);
    let mut alice_session =
        Session::initiate(rng, &alice.identity, alice.address.clone(), &bundle).unwrap();
    let records: Vec<_> = (0..count)
        .map(|i| {
            let sealed =
                seal_text(rng, &mut alice_session, &alice, "bob", &format!("m{i}")).unwrap();
            assert_eq!(sealed.envelope.content_kind, ContentKind::PrekeyMessage);
            relay.deliver(&alice.address, sealed.envelope)
        })
        .collect();
    let (bob_session, opened) = bob.respond(None, &records[0]).unwrap();
    assert_eq!(body(&opened), "m0");
    (bob_session, records[1..].to_vec())
}

/// `record` with its prekey message changed by `edit`, as a relay could.
fn with_prekey_message(
    record: &DeliveredRecord<'static>,
    edit: impl FnOnce(&mut PrekeyMessage<'_>),
) -> DeliveredRecord<'static> {
    let mut message = PrekeyMessage::from_bytes(record.envelope.sealed_body.as_bytes()).unwrap();
    edit(&mut message);
    let mut forged = record.clone();
    forged.envelope.sealed_body = Opaque::from(message.to_bytes().unwrap());
    forged
}

/// protocol.md §6.6: a repeated prekey message belongs to the session only
/// if it carries the session's base key *and* its initiator's identity.
/// Here the base key is right and the identity is another device's.
#[test]
fn a_repeated_prekey_message_naming_another_initiator_is_refused() {
    let mut rng = rng(101);
    let (mut bob_session, later) = responder_with_repeated_prekey_messages(&mut rng, 2);
    let stranger = DeviceIdentity::generate(&mut rng);
    let forged = with_prekey_message(&later[0], |message| {
        message.initiator = stranger.public().clone();
    });
    let before = bob_session.to_bytes().unwrap();
    assert_eq!(
        bob_session.open(&forged, NOW).unwrap_err(),
        SealError::SessionMismatch
    );
    assert_eq!(bob_session.to_bytes().unwrap(), before);
    // The genuine message still opens: the refusal consumed nothing.
    assert_eq!(body(&bob_session.open(&later[0], NOW).unwrap()), "m1");
}

/// The other half of the same rule: the identity is right and the base key
/// is another one.
#[test]
fn a_repeated_prekey_message_with_another_base_key_is_refused() {
    let mut rng = rng(102);
    let (mut bob_session, later) = responder_with_repeated_prekey_messages(&mut rng, 2);
    let other_base_key = AgreementSecret::generate(&mut rng).public_key();
    let forged = with_prekey_message(&later[0], |message| {
        assert_ne!(message.base_key, other_base_key);
        message.base_key = other_base_key;
    });
    let before = bob_session.to_bytes().unwrap();
    assert_eq!(
        bob_session.open(&forged, NOW).unwrap_err(),
        SealError::SessionMismatch
    );
    assert_eq!(bob_session.to_bytes().unwrap(), before);
    assert_eq!(body(&bob_session.open(&later[0], NOW).unwrap()), "m1");
}

/// When the first message to arrive is not the sender's first, the messages
/// before it are reported missing (from sequence 0), and each of them is
/// late when it turns up.
#[test]
fn the_first_message_received_reports_those_sent_before_it_as_missing() {
    let mut rng = rng(103);
    let mut relay = Relay::new();
    let alice = Device::new(&mut rng, "alice", 1);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let bundle = bob.verified_bundle(&mut rng, true);
    let mut alice_session =
        Session::initiate(&mut rng, &alice.identity, alice.address.clone(), &bundle).unwrap();
    let records: Vec<_> = (0..3)
        .map(|i| {
            let sealed = seal_text(
                &mut rng,
                &mut alice_session,
                &alice,
                "bob",
                &format!("m{i}"),
            )
            .unwrap();
            assert_eq!(sealed.sequence, i);
            relay.deliver(&alice.address, sealed.envelope)
        })
        .collect();
    let (mut bob_session, opened) = bob.respond(None, &records[2]).unwrap();
    assert_eq!(body(&opened), "m2");
    assert_eq!(
        opened.gap,
        Gap {
            missing: Some(0..2),
            late: false
        }
    );
    for (i, record) in records[..2].iter().enumerate() {
        let opened = bob_session.open(record, NOW).unwrap();
        assert_eq!(body(&opened), format!("m{i}"));
        assert_eq!(
            opened.gap,
            Gap {
                missing: None,
                late: true
            }
        );
    }
}

/// The sender's first message arriving first reports nothing missing.
#[test]
fn a_first_message_with_sequence_zero_reports_no_gap() {
    let mut rng = rng(104);
    let mut relay = Relay::new();
    let alice = Device::new(&mut rng, "alice", 1);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let (_, record) = alice.start_session(&mut rng, &mut relay, &mut bob, true, "first");
    let (_, opened) = bob.respond(None, &record).unwrap();
    assert_eq!(opened.content.sequence, 0);
    assert_eq!(opened.gap, Gap::default());
}

/// protocol.md §7.5: a kept key lives 14 days = 1,209,600,000 ms (written
/// out here, so that a change to the constant is noticed): at exactly that
/// age it opens its message, one millisecond later the message is refused.
#[test]
fn a_kept_key_lives_exactly_fourteen_days() {
    const FOURTEEN_DAYS_MS: u64 = 1_209_600_000;
    assert_eq!(fuin_seal::SKIPPED_KEY_LIFETIME_MS, FOURTEEN_DAYS_MS);
    for (age, opens) in [(FOURTEEN_DAYS_MS, true), (FOURTEEN_DAYS_MS + 1, false)] {
        let mut pair = Pair::new(105);
        let late = pair.alice_sends("late");
        let on_time = pair.alice_sends("on time");
        pair.bob_session.open(&on_time, NOW).unwrap();
        let result = pair.bob_session.open(&late, NOW + age);
        if opens {
            assert_eq!(body(&result.unwrap()), "late");
        } else {
            assert_eq!(result.unwrap_err(), SealError::DuplicateMessage);
        }
    }
}

/// An initiator can send from the start; a responder session exists only
/// once a first message arrived, and can answer it at once.
#[test]
fn both_sides_of_a_new_session_can_send() {
    let mut rng = rng(106);
    let mut relay = Relay::new();
    let alice = Device::new(&mut rng, "alice", 1);
    let mut bob = Device::new(&mut rng, "bob", 1);
    let (alice_session, record) =
        alice.start_session(&mut rng, &mut relay, &mut bob, false, "first");
    assert!(alice_session.can_send());
    let (mut bob_session, _) = bob.respond(None, &record).unwrap();
    assert!(bob_session.can_send());
    let answer = seal_text(&mut rng, &mut bob_session, &bob, "alice", "answer").unwrap();
    assert_eq!(answer.envelope.content_kind, ContentKind::Message);
}

/// `late` follows the sender's sequence numbers, not only the ratchet: a
/// sender restored from a copy of its state (here a clone taken after its
/// first message) answers on a new chain with a sequence it already used.
/// Equal to the highest seen, the message is not late; below it, it is,
/// although its ratchet position is new.
#[test]
fn a_restored_sender_reusing_sequences_is_late_only_below_the_highest() {
    for (sent_after_copy, late) in [(1, false), (2, true)] {
        let mut pair = Pair::new(108);
        let first = pair.alice_sends("first");
        let copy = pair.alice_session.clone();
        let first = pair.bob_session.open(&first, NOW).unwrap().content.sequence;
        for i in 0..sent_after_copy {
            let record = pair.alice_sends(&format!("after copy {i}"));
            pair.bob_session.open(&record, NOW).unwrap();
        }
        // Bob answers; the copy opens the answer and replies on a new chain
        // with the sequence number after "first".
        pair.alice_session = copy;
        let answer = pair.bob_sends("answer");
        pair.alice_session.open(&answer, NOW).unwrap();
        let reply = pair.alice_sends("from the copy");
        let opened = pair.bob_session.open(&reply, NOW).unwrap();
        assert_eq!(body(&opened), "from the copy");
        assert_eq!(opened.content.sequence, first + 1);
        assert_eq!(
            opened.gap,
            Gap {
                missing: None,
                late
            },
            "{sent_after_copy} sent after the copy"
        );
    }
}

/// A device keeps its current signed prekey and the two before it
/// (`SIGNED_PREKEYS_KEPT`), so a first message sealed to a bundle fetched
/// before two rotations still opens. After a third rotation that prekey is
/// forgotten: a first message sealed to it is refused by name and the store
/// is unchanged.
#[test]
fn a_signed_prekey_is_kept_for_two_rotations_and_forgotten_at_the_third() {
    assert_eq!(fuin_seal::SIGNED_PREKEYS_KEPT, 3);
    for (rotations, kept) in [(2, true), (3, false)] {
        let mut rng = rng(109);
        let mut relay = Relay::new();
        let alice = Device::new(&mut rng, "alice", 1);
        let mut bob = Device::new(&mut rng, "bob", 1);
        let (_, record) = alice.start_session(&mut rng, &mut relay, &mut bob, false, "old bundle");
        let old_id = PrekeyMessage::from_bytes(record.envelope.sealed_body.as_bytes())
            .unwrap()
            .signed_prekey_id;
        for _ in 0..rotations {
            let current = bob.prekeys.rotate_signed_prekey(&bob.identity, &mut rng);
            assert_ne!(current.id, old_id);
            assert_eq!(bob.prekeys.current_signed_prekey(), Some(&current));
        }
        if kept {
            let (_, opened) = bob.respond(None, &record).unwrap();
            assert_eq!(body(&opened), "old bundle");
        } else {
            let before = bob.prekeys.to_bytes().unwrap();
            assert_eq!(
                bob.respond(None, &record).unwrap_err(),
                SealError::UnknownSignedPrekey { id: old_id.0 }
            );
            assert_eq!(bob.prekeys.to_bytes().unwrap(), before);
        }
    }
}
