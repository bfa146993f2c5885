//! The ratchet's own boundaries, checked on its internals: when a side may
//! send, how many retired peer keys it keeps, and which saved states it
//! refuses to load (spec/protocol.md §7.2-§7.5). Each test pins a comparison
//! that a mutation run found unchecked (MUTANTS.md).

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::skipped::SkippedKeys;
use super::*;

const NOW: u64 = 1_795_000_000_000;

/// An initiator and a responder that completed the handshake on `root`.
fn pair(rng: &mut ChaCha20Rng) -> (Ratchet, Ratchet) {
    let signed_prekey = AgreementSecret::generate(rng);
    let responder_key = signed_prekey.public_key();
    let initiator = Ratchet::initiator(rng, RootKey::from_bytes([7; 32]), responder_key).unwrap();
    let responder = Ratchet::responder(RootKey::from_bytes([7; 32]), signed_prekey);
    (initiator, responder)
}

/// `from` seals one message and `to` opens it; both apply their plans. The
/// two sides must agree on the message key. Returns the header sent.
fn deliver(rng: &mut ChaCha20Rng, from: &mut Ratchet, to: &mut Ratchet) -> RatchetHeader {
    let send = from.plan_send(rng).unwrap();
    let header = send.header;
    let sent_key = *send.message_key.expose();
    from.apply_send(send);
    let receive = to.plan_receive(&header, NOW).unwrap();
    assert_eq!(*receive.message_key.expose(), sent_key);
    to.apply(receive, NOW);
    header
}

#[test]
fn a_responder_cannot_send_before_it_received_and_can_after() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (mut initiator, mut responder) = pair(&mut rng);
    // The initiator has a sending chain from the handshake.
    assert!(initiator.sending.is_some());
    assert!(initiator.can_send());
    // The responder has neither a sending chain nor a peer ratchet key.
    assert!(!responder.can_send());
    assert_eq!(
        responder.plan_send(&mut rng).err(),
        Some(SealError::InvalidState)
    );

    deliver(&mut rng, &mut initiator, &mut responder);
    // Still no sending chain (it is drawn at the next send), but the peer's
    // ratchet key is known: that alone is enough to send.
    assert!(responder.sending.is_none());
    assert!(responder.remote_ratchet.is_some());
    assert!(responder.can_send());
    deliver(&mut rng, &mut responder, &mut initiator);

    // The initiator's sending chain was dropped by the new peer key; it can
    // still send, towards that key.
    assert!(initiator.sending.is_none());
    assert!(initiator.can_send());
    deliver(&mut rng, &mut initiator, &mut responder);
}

#[test]
fn at_most_32_retired_peer_keys_are_kept_and_the_oldest_goes_first() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let (mut initiator, mut responder) = pair(&mut rng);
    // Every round trip gives the responder one new peer ratchet key, and
    // retires the one before it.
    let mut peer_keys = Vec::new();
    for round in 0..RETIRED_KEYS_KEPT + 3 {
        let header = deliver(&mut rng, &mut initiator, &mut responder);
        peer_keys.push(header.ratchet_key);
        assert_eq!(
            responder.retired_remote_keys.len(),
            round.min(RETIRED_KEYS_KEPT)
        );
        deliver(&mut rng, &mut responder, &mut initiator);
    }
    // The newest key is current; the 32 before it are retired, oldest first.
    let current = peer_keys.len() - 1;
    assert_eq!(responder.remote_ratchet, Some(peer_keys[current]));
    let expected: Vec<_> = peer_keys[current - RETIRED_KEYS_KEPT..current].to_vec();
    let retired: Vec<_> = responder.retired_remote_keys.iter().copied().collect();
    assert_eq!(retired, expected);
}

/// Saved state of a responder holding `skipped` kept keys and `retired`
/// retired peer keys.
fn saved_with(skipped: usize, retired: usize) -> SavedRatchet {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (_, mut ratchet) = pair(&mut rng);
    // Kept keys under two ratchet keys: the cap on insertion evicts at
    // MAX_SKIPPED_KEYS, so "one past" is made by joining two saved lists.
    let in_first = skipped.min(MAX_SKIPPED_KEYS);
    for counter in 0..in_first {
        ratchet.skipped.insert(
            ([1; 32], counter as u32),
            MessageKey::from_bytes([2; 32]),
            NOW,
        );
    }
    let mut second = SkippedKeys::default();
    for counter in 0..skipped - in_first {
        second.insert(
            ([3; 32], counter as u32),
            MessageKey::from_bytes([4; 32]),
            NOW,
        );
    }
    for index in 0..retired {
        let mut key = [0x40; 32];
        key[..8].copy_from_slice(&(index as u64).to_be_bytes());
        ratchet.retired_remote_keys.push_back(X25519PublicKey(key));
    }
    let mut saved = ratchet.to_saved();
    saved.skipped.extend(second.to_saved());
    assert_eq!(saved.skipped.len(), skipped);
    assert_eq!(saved.retired_remote_keys.len(), retired);
    saved
}

#[test]
fn saved_state_with_max_skipped_keys_loads_and_one_more_is_refused() {
    let at_limit = Ratchet::from_saved(&saved_with(MAX_SKIPPED_KEYS, 0)).unwrap();
    assert_eq!(at_limit.skipped_len(), MAX_SKIPPED_KEYS);
    assert_eq!(
        Ratchet::from_saved(&saved_with(MAX_SKIPPED_KEYS + 1, 0)).err(),
        Some(SealError::InvalidState)
    );
}

#[test]
fn saved_state_with_32_retired_keys_loads_and_one_more_is_refused() {
    let at_limit = Ratchet::from_saved(&saved_with(0, RETIRED_KEYS_KEPT)).unwrap();
    assert_eq!(at_limit.retired_remote_keys.len(), RETIRED_KEYS_KEPT);
    assert_eq!(
        Ratchet::from_saved(&saved_with(0, RETIRED_KEYS_KEPT + 1)).err(),
        Some(SealError::InvalidState)
    );
}

#[test]
fn saved_state_with_both_bounds_at_their_limit_loads() {
    let ratchet = Ratchet::from_saved(&saved_with(MAX_SKIPPED_KEYS, RETIRED_KEYS_KEPT)).unwrap();
    assert_eq!(ratchet.skipped_len(), MAX_SKIPPED_KEYS);
    assert_eq!(ratchet.retired_remote_keys.len(), RETIRED_KEYS_KEPT);
}
