//! Per-audience identifiers (spec/identifiers.md): two users of one group
//! give an audience unlinkable identifiers; a consented shared identifier is
//! the same for every member.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod group_support;

use fuin_seal::ConversationId;
use fuin_seal::group::ChangeRequest;
use fuin_seal::identifiers::{
    Audience, IdentifierSecret, conversation_identifier, shared_conversation_identifier,
    user_identifier,
};
use group_support::*;

/// Two users of the same group, one mini-app that both use. Without the
/// users' secrets, nothing the audience holds links the two identifiers:
/// they differ, and each changes entirely with the secret behind it, so the
/// one is no function of the other and the public inputs.
#[test]
fn two_users_of_one_group_give_one_audience_unlinkable_identifiers() {
    let mut rng = ChaCha20Rng::seed_from_u64(20);
    let world = World::new(20, 3, 3);
    let group = ConversationId::group(world.devices[0].state.as_ref().unwrap().group_id());
    let other_group = ConversationId([0x33; 32]);
    let alice = IdentifierSecret::generate(&mut rng);
    let bob = IdentifierSecret::generate(&mut rng);
    let app = Audience::new(b"mini-app.example").unwrap();
    let bot = Audience::new(b"bot.example").unwrap();

    let alice_in_group = conversation_identifier(&alice, app, &group);
    let bob_in_group = conversation_identifier(&bob, app, &group);
    assert_ne!(alice_in_group, bob_in_group);
    // Stable for one user: the audience can recognise the user's own
    // conversation the next time, and only that.
    assert_eq!(conversation_identifier(&alice, app, &group), alice_in_group);
    // Separated by audience and by conversation: pooling two audiences'
    // data, or one user's two conversations, links nothing.
    assert_ne!(conversation_identifier(&alice, bot, &group), alice_in_group);
    assert_ne!(
        conversation_identifier(&alice, app, &other_group),
        alice_in_group
    );
    assert_ne!(user_identifier(&alice, app), user_identifier(&alice, bot));
    assert_ne!(user_identifier(&alice, app), user_identifier(&bob, app));

    // What the audience sees of the two users of the group, and of the same
    // two users in another conversation, has no byte-level relation: the
    // XOR of the identifiers of one conversation says nothing about the
    // other's.
    let xor =
        |a: [u8; 32], b: [u8; 32]| -> Vec<u8> { a.iter().zip(b).map(|(x, y)| x ^ y).collect() };
    let in_group = xor(alice_in_group.0, bob_in_group.0);
    let elsewhere = xor(
        conversation_identifier(&alice, app, &other_group).0,
        conversation_identifier(&bob, app, &other_group).0,
    );
    assert_ne!(in_group, elsewhere);
    // One bit of a user's secret changes every identifier it makes (about
    // half the bits): nothing of Bob's identifier follows from Alice's.
    let mut bytes = *alice.to_secret_bytes();
    bytes[0] ^= 1;
    let neighbour = IdentifierSecret::from_secret_bytes(bytes);
    let flipped = conversation_identifier(&neighbour, app, &group);
    let distance: u32 = alice_in_group
        .0
        .iter()
        .zip(flipped.0)
        .map(|(a, b)| (a ^ b).count_ones())
        .sum();
    assert!((64..=192).contains(&distance), "{distance} bits differ");
    // Not derivable from the public inputs alone: a zero secret (what an
    // audience without secrets could compute) gives neither user's value.
    let public_guess =
        conversation_identifier(&IdentifierSecret::from_secret_bytes([0; 32]), app, &group);
    assert_ne!(public_guess, alice_in_group);
    assert_ne!(public_guess, bob_in_group);
}

/// A shared identifier exists only after a member shared a consent with the
/// group; then every member derives the same one, and a new consent makes a
/// new one. It differs from every member's own identifier.
#[test]
fn a_consented_shared_identifier_is_equal_for_every_member() {
    let mut world = World::new(21, 5, 4);
    let app = Audience::new(b"mini-app.example").unwrap();
    for device in 0..4 {
        assert_eq!(
            world.devices[device]
                .state
                .as_ref()
                .unwrap()
                .shared_identifier(app),
            None
        );
    }
    world.change(2, ChangeRequest::ShareConsent);
    let shared: Vec<_> = (0..4)
        .map(|i| {
            world.devices[i]
                .state
                .as_ref()
                .unwrap()
                .shared_identifier(app)
                .unwrap()
        })
        .collect();
    assert!(shared.iter().all(|identifier| *identifier == shared[0]));
    let state = world.devices[0].state.as_ref().unwrap();
    let conversation = ConversationId::group(state.group_id());
    assert_eq!(
        shared_conversation_identifier(state.consent().unwrap(), app, &conversation),
        shared[0]
    );
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    let own = conversation_identifier(&IdentifierSecret::generate(&mut rng), app, &conversation);
    assert_ne!(own, shared[0]);
    // Per audience still: another audience gets another shared value.
    let bot = Audience::new(b"bot.example").unwrap();
    assert_ne!(state.shared_identifier(bot).unwrap(), shared[0]);
    // A device added later receives the consent with its welcome.
    world.change(1, ChangeRequest::Add(vec![world.devices[4].member()]));
    assert_eq!(
        world.devices[4]
            .state
            .as_ref()
            .unwrap()
            .shared_identifier(app),
        Some(shared[0])
    );
    // A new consent, a new identifier, again the same for all.
    world.change(3, ChangeRequest::ShareConsent);
    let renewed: Vec<_> = (0..5)
        .map(|i| {
            world.devices[i]
                .state
                .as_ref()
                .unwrap()
                .shared_identifier(app)
                .unwrap()
        })
        .collect();
    assert!(renewed.iter().all(|identifier| *identifier == renewed[0]));
    assert_ne!(renewed[0], shared[0]);
}
