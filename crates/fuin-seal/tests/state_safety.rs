//! Rollback safety, protocol version 2 (spec/protocol.md §3, §7.1, §16;
//! spec/groups.md §4; DESIGN §6.2): a session or a group sender state
//! restored from a backup takes the same message key again, and every
//! message it seals still gets its own AES-GCM key and nonce, because each
//! message draws a fresh salt that is the HKDF salt of its derivation.
//!
//! How the tests see the (key, nonce) pair without any accessor: AES-GCM
//! encrypts in counter mode, `ciphertext = plaintext XOR keystream(key,
//! nonce)`, and the key commitment is derived next to the key and nonce.
//! Two messages sealed under one (key, nonce) therefore have the same
//! keystream and the same commitment (which is what lets a relay XOR two
//! ciphertexts into the XOR of the plaintexts). The receiver opens each
//! message, which gives its exact plaintext, so the test recovers each
//! message's keystream and compares. `the_keystream_check_sees_a_repeated_
//! key_and_nonce` shows the check catches a repeat when there is one.
//! Also: version 1 messages get their specific error, a changed salt does
//! not open, and saved state is encoded into one exact-size wiping buffer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod group_support;

use common::{NOW, Pair, body};
use fuin_seal::group::GroupState;
use fuin_seal::primitives::aead;
use fuin_seal::primitives::kdf::Label;
use fuin_seal::{DeviceIdentity, PrekeyStore, SealError, Session};
use fuin_wire::{
    ContentKind, ContentType, FrameBody, GroupContent, GroupMessage, MessageContent, Opaque,
    PrekeyMessage, RatchetMessage, WireError,
};
use group_support::World;
use zeroize::Zeroizing;

const COMMITMENT_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// The key commitment and the AES-GCM keystream over the plaintext's length
/// of one sealed value `commitment (32) || ciphertext || tag (16)`.
fn commitment_and_keystream(sealed: &[u8], plaintext: &[u8]) -> (Vec<u8>, Vec<u8>) {
    assert_eq!(sealed.len(), COMMITMENT_LEN + plaintext.len() + TAG_LEN);
    let ciphertext = &sealed[COMMITMENT_LEN..COMMITMENT_LEN + plaintext.len()];
    let keystream = ciphertext
        .iter()
        .zip(plaintext)
        .map(|(c, p)| c ^ p)
        .collect();
    (sealed[..COMMITMENT_LEN].to_vec(), keystream)
}

/// Every pair of the sealed messages has its own commitment and keystream.
fn assert_no_key_nonce_repeats(label: &str, sealed: &[(Vec<u8>, Vec<u8>)]) {
    assert!(sealed.len() >= 2);
    for (i, first) in sealed.iter().enumerate() {
        for (j, second) in sealed.iter().enumerate().skip(i + 1) {
            assert_ne!(
                first.0, second.0,
                "{label}: messages {i} and {j} share a commitment"
            );
            assert_ne!(
                first.1, second.1,
                "{label}: messages {i} and {j} share a keystream"
            );
        }
    }
}

#[test]
fn the_keystream_check_sees_a_repeated_key_and_nonce() {
    let (dawn, dusk) = (b"attack at dawn".as_slice(), b"attack at dusk".as_slice());
    let message_key = [0x42; 32];
    // Version 1 sealing: no salt, so one message key gives one (key, nonce).
    let unsalted = [
        aead::seal(Label::MessageKeys, None, &message_key, b"ad", dawn),
        aead::seal(Label::MessageKeys, None, &message_key, b"ad", dusk),
    ];
    let first = commitment_and_keystream(&unsalted[0], dawn);
    let second = commitment_and_keystream(&unsalted[1], dusk);
    assert_eq!(first, second, "a repeated (key, nonce) is seen");
    // And the relay's attack works: the XOR of the ciphertexts is the XOR of
    // the plaintexts.
    let xor = |a: &[u8], b: &[u8]| a.iter().zip(b).map(|(x, y)| x ^ y).collect::<Vec<_>>();
    assert_eq!(
        xor(&unsalted[0][32..46], &unsalted[1][32..46]),
        xor(dawn, dusk)
    );
    // Version 2: the same message key with two salts.
    let salted = [
        aead::seal(
            Label::MessageKeys,
            Some(&[1; 16]),
            &message_key,
            b"ad",
            dawn,
        ),
        aead::seal(
            Label::MessageKeys,
            Some(&[2; 16]),
            &message_key,
            b"ad",
            dusk,
        ),
    ];
    assert_no_key_nonce_repeats(
        "salted",
        &[
            commitment_and_keystream(&salted[0], dawn),
            commitment_and_keystream(&salted[1], dusk),
        ],
    );
}

/// A session restored from one backup three times seals, at the same chain
/// position (so with the same message key): two different messages and the
/// same message twice; then each copy seals once more at the next position.
/// No (key, nonce) repeats among the messages of one position, and every
/// message opens for a receiver restored from its own backup.
#[test]
fn a_session_restored_from_a_backup_never_repeats_a_key_and_nonce() {
    let mut pair = Pair::new(0x5afe);
    // Alice's sending chain exists (a new one would draw a ratchet key per
    // copy): the copies then share its next message keys.
    let warm_up = pair.alice_sends("warm up");
    pair.bob_session.open(&warm_up, NOW).unwrap();
    let alice_backup = pair.alice_session.to_bytes().unwrap();
    let bob_backup = pair.bob_session.to_bytes().unwrap();
    let mut copies: Vec<Session> = (0..3)
        .map(|_| Session::from_bytes(&alice_backup).unwrap())
        .collect();
    let texts = ["attack at dawn", "attack at dusk", "and then retreat"];
    let outgoing: Vec<_> = texts
        .iter()
        .map(|text| pair.alice.text(&mut pair.rng, "bob", text))
        .collect();

    for (position, plan) in [(0, [0, 1, 0]), (1, [2, 2, 1])] {
        let mut seen = Vec::new();
        let mut headers = Vec::new();
        for (copy, which) in copies.iter_mut().zip(plan) {
            let sealed = copy.seal(&mut pair.rng, &outgoing[which], NOW).unwrap();
            assert_eq!(sealed.envelope.content_kind, ContentKind::Message);
            let message = RatchetMessage::from_bytes(sealed.envelope.sealed_body.as_bytes())
                .unwrap()
                .into_owned();
            // A receiver restored from its backup opens it (at position 1,
            // keeping the key of position 0 as skipped).
            let record = pair.relay.deliver(&pair.alice.address, sealed.envelope);
            let mut bob = Session::from_bytes(&bob_backup).unwrap();
            let opened = bob.open(&record, NOW).unwrap();
            assert_eq!(opened.content.body.as_bytes(), texts[which].as_bytes());
            let plaintext = opened.content.to_bytes().unwrap();
            seen.push(commitment_and_keystream(
                message.ciphertext.as_bytes(),
                &plaintext,
            ));
            headers.push(message.header);
        }
        // One chain position: same ratchet key, counter and previous length,
        // so the same message key; only the salts differ.
        assert_eq!(headers[0].counter, position + 1);
        assert!(
            headers
                .iter()
                .all(|h| h.ratchet_key == headers[0].ratchet_key
                    && h.counter == headers[0].counter
                    && h.previous_chain_length == headers[0].previous_chain_length)
        );
        assert_ne!(headers[0].salt, headers[1].salt);
        assert_ne!(headers[0].salt, headers[2].salt);
        assert_ne!(headers[1].salt, headers[2].salt);
        assert_no_key_nonce_repeats(&format!("position {position}"), &seen);
    }
}

/// A group sender state restored from one backup three times seals two
/// different messages and the same message twice at one iteration (one
/// message key): no (key, nonce) repeats, and every copy's message opens for
/// a receiver restored from its own backup.
#[test]
fn a_group_sender_state_restored_from_a_backup_never_repeats_a_key_and_nonce() {
    let mut world = World::new(0x6a5e, 3, 3);
    let (sender, receiver) = (0, 1);
    // One message first, so the chain is past its start.
    for (to, record) in world.send(sender, "warm up") {
        world.open(to, &record).unwrap();
    }
    let sender_backup = world.devices[sender].state().to_bytes().unwrap();
    let receiver_backup = world.devices[receiver].state().to_bytes().unwrap();
    let sender_address = world.devices[sender].address.clone();
    let receiver_address = world.devices[receiver].address.clone();

    let mut seen = Vec::new();
    let mut headers = Vec::new();
    for text in ["attack at dawn", "attack at dusk", "attack at dawn"] {
        let mut copy = GroupState::from_bytes(&sender_backup).unwrap();
        let sealed = copy
            .seal(&mut world.rng, ContentType::Text, text.as_bytes(), NOW)
            .unwrap();
        let message = GroupMessage::from_bytes(&sealed.sealed_body)
            .unwrap()
            .into_owned();
        let record = world
            .relay
            .deliver(&sender_address, sealed.envelope_for(&receiver_address));
        let mut reader = GroupState::from_bytes(&receiver_backup).unwrap();
        let opened = reader.open(&record, NOW).unwrap();
        assert_eq!(opened.content.body.as_bytes(), text.as_bytes());
        let plaintext = opened.content.to_bytes().unwrap();
        seen.push(commitment_and_keystream(
            message.ciphertext.as_bytes(),
            &plaintext,
        ));
        headers.push((message.epoch, message.iteration, message.salt));
    }
    assert!(
        headers
            .iter()
            .all(|h| (h.0, h.1) == (headers[0].0, headers[0].1))
    );
    assert_eq!(headers[0].1, 1, "one iteration, past the warm-up");
    assert_ne!(headers[0].2, headers[1].2);
    assert_ne!(headers[0].2, headers[2].2);
    assert_ne!(headers[1].2, headers[2].2);
    assert_no_key_nonce_repeats("group", &seen);
}

/// A version 1 frame of `tag`, as a version 1 sender wrote it: the version 2
/// body without its 16-byte salt, which sat right after `salt_at`.
fn as_version_1(frame: &[u8], tag: u8, salt_at: usize) -> Vec<u8> {
    let mut old = vec![frame[0], tag];
    old.extend_from_slice(&frame[2..salt_at]);
    old.extend_from_slice(&frame[salt_at + 16..]);
    old
}

#[test]
fn a_version_1_message_gets_its_specific_error_and_changes_nothing() {
    let mut pair = Pair::new(0x0001);
    let record = pair.alice_sends("sealed by an old sender");
    let frame = record.envelope.sealed_body.as_bytes();
    let message = RatchetMessage::from_bytes(frame).unwrap();
    // Version, tag, ratchet key, two one-byte counters, then the salt.
    let salt_at = 2 + 32 + 1 + 1;
    assert_eq!(
        &frame[salt_at..salt_at + 16],
        message.header.salt.as_bytes()
    );
    let mut old = record.clone();
    old.envelope.sealed_body = Opaque::from(as_version_1(frame, 6, salt_at));
    let before = pair.bob_session.to_bytes().unwrap();
    assert_eq!(
        pair.bob_session.open(&old, NOW).unwrap_err(),
        SealError::Wire(WireError::RetiredFrame {
            tag: 6,
            protocol_version: 1
        })
    );
    assert_eq!(pair.bob_session.to_bytes().unwrap(), before);
    // The version 2 message itself still opens.
    assert_eq!(
        body(&pair.bob_session.open(&record, NOW).unwrap()),
        "sealed by an old sender"
    );

    // A version 1 prekey message (tag 7), to an existing session and as a
    // new one.
    let mut rng = common::rng(7);
    let mut relay = common::Relay::new();
    let carol = common::Device::new(&mut rng, "carol", 1);
    let mut dave = common::Device::new(&mut rng, "dave", 1);
    let (_, first) = carol.start_session(&mut rng, &mut relay, &mut dave, true, "hi");
    let frame = first.envelope.sealed_body.as_bytes();
    PrekeyMessage::from_bytes(frame).unwrap();
    // Version, tag, identity, base key, one-byte signed prekey id, present
    // one-byte one-time prekey id, ratchet key, two counters: the salt.
    let salt_at = 2 + 128 + 32 + 1 + 2 + 32 + 1 + 1;
    let mut old = first.clone();
    old.envelope.sealed_body = Opaque::from(as_version_1(frame, 7, salt_at));
    let retired = SealError::Wire(WireError::RetiredFrame {
        tag: 7,
        protocol_version: 1,
    });
    let prekeys_before = dave.prekeys.to_bytes().unwrap();
    assert_eq!(dave.respond(None, &old).unwrap_err(), retired);
    assert_eq!(dave.prekeys.to_bytes().unwrap(), prekeys_before);
    let (mut session, _) = dave.respond(None, &first).unwrap();
    assert_eq!(session.open(&old, NOW).unwrap_err(), retired);

    // A version 1 group message (tag 27).
    let mut world = World::new(0x0027, 2, 2);
    let (to, record) = world.send(0, "group, old sender").remove(0);
    let frame = record.envelope.sealed_body.as_bytes();
    let message = GroupMessage::from_bytes(frame).unwrap();
    // Version, tag, group id, one-byte epoch and iteration, view (absent or
    // present), then the salt.
    let salt_at = 2 + 32 + 1 + 1 + if message.view.is_some() { 33 } else { 1 };
    assert_eq!(&frame[salt_at..salt_at + 16], message.salt.as_bytes());
    let mut old = record.clone();
    old.envelope.sealed_body = Opaque::from(as_version_1(frame, 27, salt_at));
    let before = world.devices[to].state().to_bytes().unwrap();
    assert_eq!(
        world.open(to, &old).unwrap_err(),
        SealError::Wire(WireError::RetiredFrame {
            tag: 27,
            protocol_version: 1
        })
    );
    assert_eq!(world.devices[to].state().to_bytes().unwrap(), before);
    assert_eq!(
        group_support::text(&world.open(to, &record).unwrap()),
        "group, old sender"
    );
}

#[test]
fn a_message_whose_salt_was_changed_does_not_open() {
    let mut pair = Pair::new(0x5a17);
    let record = pair.alice_sends("salted");
    let before = pair.bob_session.to_bytes().unwrap();
    for bit in [0u8, 7] {
        for byte in [0usize, 15] {
            let mut message =
                RatchetMessage::from_bytes(record.envelope.sealed_body.as_bytes()).unwrap();
            message.header.salt.0[byte] ^= 1 << bit;
            let mut changed = record.clone();
            changed.envelope.sealed_body = Opaque::from(message.to_bytes().unwrap());
            assert_eq!(
                pair.bob_session.open(&changed, NOW).unwrap_err(),
                SealError::DecryptionFailed
            );
            assert_eq!(pair.bob_session.to_bytes().unwrap(), before);
        }
    }
    assert_eq!(
        body(&pair.bob_session.open(&record, NOW).unwrap()),
        "salted"
    );

    // In a prekey message.
    let mut rng = common::rng(8);
    let mut relay = common::Relay::new();
    let carol = common::Device::new(&mut rng, "carol", 1);
    let mut dave = common::Device::new(&mut rng, "dave", 1);
    let (_, first) = carol.start_session(&mut rng, &mut relay, &mut dave, false, "hi");
    let mut message = PrekeyMessage::from_bytes(first.envelope.sealed_body.as_bytes()).unwrap();
    message.message.header.salt.0[3] ^= 0x10;
    let mut changed = first.clone();
    changed.envelope.sealed_body = Opaque::from(message.to_bytes().unwrap());
    assert_eq!(
        dave.respond(None, &changed).unwrap_err(),
        SealError::DecryptionFailed
    );

    // In a group message the salt is signed with the rest: a changed salt
    // fails the chain signature before any key is used.
    let mut world = World::new(0x5a18, 2, 2);
    let (to, record) = world.send(0, "group salted").remove(0);
    let mut message = GroupMessage::from_bytes(record.envelope.sealed_body.as_bytes()).unwrap();
    message.salt.0[0] ^= 1;
    let mut changed = record.clone();
    changed.envelope.sealed_body = Opaque::from(message.to_bytes().unwrap());
    let before = world.devices[to].state().to_bytes().unwrap();
    assert_eq!(
        world.open(to, &changed).unwrap_err(),
        SealError::BadSignature
    );
    assert_eq!(world.devices[to].state().to_bytes().unwrap(), before);
    assert_eq!(
        group_support::text(&world.open(to, &record).unwrap()),
        "group salted"
    );
}

/// Opened plaintext bodies are the wiping, redacting type, not the
/// ciphertext type `Opaque`.
#[test]
fn opened_bodies_are_wiped_on_drop_and_never_shown() {
    let mut pair = Pair::new(0xb0d1);
    let record = pair.alice_sends("a private thought");
    let opened = pair.bob_session.open(&record, NOW).unwrap();
    let content: &MessageContent<'static> = &opened.content;
    let body: &fuin_wire::SecretBytes<'static> = &content.body;
    assert!(!body.is_borrowed(), "an opened body owns its wiping buffer");
    assert_eq!(body.as_bytes(), b"a private thought");
    assert!(!format!("{opened:?}").contains("private"));

    let mut world = World::new(0xb0d2, 2, 2);
    let (to, record) = world.send(0, "a group secret").remove(0);
    let opened = world.open(to, &record).unwrap();
    let content: &GroupContent<'static> = &opened.content;
    let body: &fuin_wire::SecretBytes<'static> = &content.body;
    assert!(!body.is_borrowed());
    assert!(!format!("{opened:?}").contains("group secret"));
}

/// Every saved state comes back in a buffer that wipes itself on drop.
#[test]
fn saved_state_comes_back_in_a_wiping_buffer() {
    let mut pair = Pair::new(0x5a7e);
    let session: Zeroizing<Vec<u8>> = pair.alice_session.to_bytes().unwrap();
    let identity: Zeroizing<Vec<u8>> = pair.alice.identity.to_bytes().unwrap();
    let prekeys: Zeroizing<Vec<u8>> = pair.bob.prekeys.to_bytes().unwrap();
    let mut world = World::new(0x5a7f, 2, 2);
    let group: Zeroizing<Vec<u8>> = world.devices[0].state().to_bytes().unwrap();
    for (saved, version) in [
        (&session, fuin_seal::state::SESSION_STATE_VERSION),
        (&identity, fuin_seal::state::STATE_VERSION),
        (&prekeys, fuin_seal::state::SESSION_STATE_VERSION),
        (&group, fuin_seal::state::STATE_VERSION),
    ] {
        assert_eq!(saved[0], version);
        // Allocated once at its final size: nothing was left behind by growth.
        assert_eq!(saved.capacity(), saved.len());
    }
    assert!(Session::from_bytes(&session).is_ok());
    assert!(DeviceIdentity::from_bytes(&identity).is_ok());
    assert!(PrekeyStore::from_bytes(&prekeys).is_ok());
    assert!(GroupState::from_bytes(&group).is_ok());
    let _ = pair.alice_sends("still usable");
}
