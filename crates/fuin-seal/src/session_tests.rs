//! Session checks that need its internals to reach: states the public API
//! only makes in passing, pinned because a mutation run found them
//! unchecked (MUTANTS.md).

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::primitives::x25519::AgreementSecret;
use crate::ratchet::{Ratchet, RootKey};
use crate::{DeviceIdentity, Outgoing, SealError, Session};
use fuin_wire::{ContentType, DeviceAddress, DeviceId, UserId};

fn address(user: &'static str) -> DeviceAddress<'static> {
    DeviceAddress::new(UserId::new(user).unwrap(), DeviceId(1))
}

/// A responder session whose ratchet has not opened a message yet: the
/// state `Session::respond` holds before it opens the first message, and
/// what a saved state from before that point would load as.
fn responder_before_its_first_message(rng: &mut ChaCha20Rng) -> Session {
    let alice = DeviceIdentity::generate(rng);
    let bob = DeviceIdentity::generate(rng);
    Session {
        local_address: address("bob"),
        local_identity: bob.public().clone(),
        peer_address: address("alice"),
        peer_identity: alice.public().clone(),
        ratchet: Ratchet::responder(RootKey::from_bytes([9; 32]), AgreementSecret::generate(rng)),
        pending_prekey: None,
        initiator_base_key: Some(AgreementSecret::generate(rng).public_key()),
        next_sequence: 0,
        highest_received_sequence: None,
        post_quantum: true,
    }
}

#[test]
fn a_responder_that_has_not_received_cannot_send_and_sealing_changes_nothing() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let mut session = responder_before_its_first_message(&mut rng);
    assert!(!session.can_send());
    let message = Outgoing::new(
        &mut rng,
        &address("bob"),
        UserId::new("alice").unwrap(),
        ContentType::Text,
        b"too early",
    )
    .unwrap();
    let before = session.to_bytes().unwrap();
    assert_eq!(
        session.seal(&mut rng, &message, 1).unwrap_err(),
        SealError::InvalidState
    );
    assert_eq!(session.to_bytes().unwrap(), before);
}

/// An initiator session as protocol version 2 left it: its handshake was
/// never answered and its prekey messages carry no KEM ciphertext. It says
/// so, and a version 3 responder refuses what it seals (the client then
/// starts a new session in its place).
#[test]
fn an_unanswered_version_2_handshake_is_outdated_and_refused_by_the_responder() {
    use crate::prekeys::{PrekeyStore, VerifiedBundle};
    use fuin_wire::{DeliveredRecord, FrankingStamp, MessageId, StampKeyId};

    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let alice = DeviceIdentity::generate(&mut rng);
    let bob = DeviceIdentity::generate(&mut rng);
    let mut prekeys = PrekeyStore::new();
    prekeys.rotate_signed_prekey(&bob, &mut rng);
    prekeys.rotate_last_resort_kem_prekey(&bob, &mut rng);
    let bundle = prekeys.bundle(address("bob"), &bob, None, None).unwrap();
    let bundle = VerifiedBundle::verify(&bundle, &address("bob"), None).unwrap();
    let mut session = Session::initiate(&mut rng, &alice, address("alice"), &bundle).unwrap();
    assert!(!session.handshake_outdated());
    // What loading a version 1 state gives for such a session.
    session.pending_prekey.as_mut().unwrap().kem = None;
    session.post_quantum = false;
    assert!(session.handshake_outdated());
    assert!(!session.post_quantum());
    let message = Outgoing::new(
        &mut rng,
        &address("alice"),
        UserId::new("bob").unwrap(),
        ContentType::Text,
        b"hello from version 2",
    )
    .unwrap();
    let sealed = session.seal(&mut rng, &message, 1).unwrap();
    let record = DeliveredRecord {
        envelope: sealed.envelope,
        sender: address("alice"),
        server_time_ms: 2,
        server_message_id: MessageId([1; 16]),
        franking_stamp: FrankingStamp([0; 32]),
        stamp_key_id: StampKeyId(1),
    };
    assert_eq!(
        Session::respond(&bob, address("bob"), &mut prekeys, None, &record, 3).unwrap_err(),
        SealError::MissingKemCiphertext
    );
}
