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
