//! Group conversations: what members can do, and every attack of
//! DESIGN.md §12 on groups performed and shown to fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod group_support;

use fuin_seal::group::{
    ChangeRequest, ControlOutcome, GroupState, MemberStatus, ViewStatus,
    verify_group_message_signature,
};
use fuin_seal::primitives::aead;
use fuin_seal::primitives::framing::Framer;
use fuin_seal::primitives::franking::{self, FrankedMessage, hmac_sha256};
use fuin_seal::primitives::kdf::Label;
use fuin_seal::primitives::signing::SigningSecret;
use fuin_seal::{ConversationId, SealError};
use fuin_wire::*;
use group_support::*;

#[test]
fn every_member_opens_a_message_sealed_once() {
    let mut world = World::new(1, 5, 5);
    for device in &world.devices {
        let state = device.state.as_ref().unwrap();
        assert_eq!(state.epoch(), 0);
        assert!(matches!(state.view(), ViewStatus::Complete(_)));
    }
    let records = world.send(2, "hello group");
    assert_eq!(records.len(), 4);
    for (to, record) in records {
        let opened = world.open(to, &record).unwrap();
        assert_eq!(text(&opened), "hello group");
        assert_eq!(opened.sender, world.devices[2].address);
        assert_eq!(opened.iteration, 0);
        assert_eq!(opened.gap, fuin_seal::Gap::default());
        // What a report needs: the moderation tool checks the signature from
        // public values only.
        verify_group_message_signature(
            record.envelope.sealed_body.as_bytes(),
            &record.sender,
            &record.envelope.franking_commitment,
            &opened.membership_hash,
            &opened.sender_signing_key,
        )
        .unwrap();
        assert_eq!(
            opened.conversation,
            ConversationId::group(world.devices[0].state.as_ref().unwrap().group_id())
        );
    }
}

/// The associated data of spec/groups.md, written from the spec.
#[allow(clippy::too_many_arguments)]
fn spec_ad(
    group: &GroupId,
    epoch: u64,
    membership: &MembershipHash,
    sender: &DeviceAddress<'_>,
    iteration: u32,
    view: Option<&ViewHash>,
    salt: &MessageSalt,
    commitment: &FrankingCommitment,
) -> Vec<u8> {
    Framer::new(b"fuin/v1/group-message-ad")
        .field(&[2])
        .field(group.as_bytes())
        .u64(epoch)
        .field(membership.as_bytes())
        .address(sender)
        .u32(iteration)
        .field(view.map_or(&[][..], |view| view.as_bytes()))
        .field(salt.as_bytes())
        .u32(2)
        .field(commitment.as_bytes())
        .finish()
}

/// A member knows another member's chain key (it was distributed to it), so
/// it can make that member's message keys. It seals a message "from" the
/// victim with exactly those keys and a commitment naming the victim; the
/// relay (colluding) names the victim as sender. The signature is not the
/// victim chain's, and every member refuses it.
#[test]
fn a_member_forging_a_message_as_another_member_is_refused() {
    let mut world = World::new(2, 4, 4);
    let (victim, forger, reader) = (1, 2, 3);
    // A new epoch in which the victim's chain is fresh; the forger receives
    // exactly this distribution from the victim.
    let distribution = world
        .change(victim, ChangeRequest::ShareConsent)
        .distribution
        .unwrap();
    let victim_address = world.devices[victim].address.clone();
    let state = world.devices[reader].state.as_ref().unwrap();
    let (group, epoch, membership) = (*state.group_id(), state.epoch(), *state.membership().hash());
    let view = match state.view() {
        ViewStatus::Complete(view) => Some(view),
        other => panic!("{other:?}"),
    };
    assert_eq!(distribution.epoch, epoch);

    // The forger's work, from the victim's chain key alone.
    let chain_key = distribution.chain_key.0;
    let message_key = hmac_sha256(&chain_key, &[b"fuin/v1/group-chain-message-key"]);
    let franking_key = FrankingKey([0x42; 32]);
    let message_id = ClientMessageId([0x43; 16]);
    let body = b"the victim never said this";
    let commitment = franking::commit(
        &franking_key.0,
        &FrankedMessage {
            sender: &victim_address,
            conversation: &ConversationId::group(&group),
            message_id: &message_id,
            content_type: ContentType::Text,
            body,
        },
    )
    .unwrap();
    let plaintext = GroupContent {
        content_type: ContentType::Text,
        message_id,
        sent_at_ms: NOW,
        franking_key,
        body: SecretBytes::borrowed(body),
    }
    .to_bytes()
    .unwrap();
    let salt = MessageSalt([0x44; 16]);
    let ad = spec_ad(
        &group,
        epoch,
        &membership,
        &victim_address,
        0,
        view.as_ref(),
        &salt,
        &commitment,
    );
    let ciphertext = aead::seal(
        Label::GroupMessageKeys,
        Some(salt.as_bytes()),
        &message_key,
        &ad,
        &plaintext,
    );
    // The forger signs with a key of its own: it has no other.
    let forger_key = SigningSecret::generate(&mut world.rng);
    let signed = Framer::unlabelled().field(&ad).field(&ciphertext).finish();
    let signature = forger_key.sign(Label::GroupMessageSignature, &signed);
    let forged = GroupMessage {
        group_id: group,
        epoch,
        iteration: 0,
        view,
        salt,
        ciphertext: Opaque::from(ciphertext.clone()),
        signature,
    }
    .to_bytes()
    .unwrap();
    for target in [0, forger, reader] {
        if target == forger {
            continue;
        }
        let record = world.relay.deliver(
            &victim_address,
            RoutingEnvelope {
                recipient: world.devices[target].address.clone(),
                content_kind: ContentKind::GroupMessage,
                franking_commitment: commitment,
                sealed_body: Opaque::from(forged.clone()),
            },
        );
        let before = world.devices[target].state().to_bytes().unwrap();
        assert_eq!(
            world.open(target, &record).unwrap_err(),
            SealError::BadSignature
        );
        // Nothing changed: the victim's real message 0 still opens.
        assert_eq!(world.devices[target].state().to_bytes().unwrap(), before);
    }
    // The same forged bytes, honestly labelled as from the forger, are no
    // better: the associated data names the victim.
    let record = world.relay.deliver(
        &world.devices[forger].address.clone(),
        RoutingEnvelope {
            recipient: world.devices[reader].address.clone(),
            content_kind: ContentKind::GroupMessage,
            franking_commitment: commitment,
            sealed_body: Opaque::from(forged),
        },
    );
    assert_eq!(
        world.open(reader, &record).unwrap_err(),
        SealError::BadSignature
    );
    // The victim's real first message of the epoch opens for everyone, and
    // the forger's recipe rebuilds its ciphertext byte for byte: only the
    // signature told the forgery apart.
    for (to, record) in world.send(victim, "my own words") {
        let opened = world.open(to, &record).unwrap();
        assert_eq!(text(&opened), "my own words");
        let plaintext = opened.content.to_bytes().unwrap();
        let real = GroupMessage::from_bytes(record.envelope.sealed_body.as_bytes()).unwrap();
        let ad = spec_ad(
            &group,
            epoch,
            &membership,
            &victim_address,
            0,
            view.as_ref(),
            &real.salt,
            &record.envelope.franking_commitment,
        );
        let rebuilt = aead::seal(
            Label::GroupMessageKeys,
            Some(real.salt.as_bytes()),
            &message_key,
            &ad,
            &plaintext,
        );
        assert_eq!(real.ciphertext.as_bytes(), rebuilt.as_slice());
    }
}

/// A relay that drops, replays and reorders group messages: every sender
/// chain numbers its messages, so the reader sees the gap, the late
/// arrivals and refuses the replay; one chain's gaps do not touch another's.
#[test]
fn a_relay_dropping_replaying_or_reordering_group_messages_is_detected_per_sender_chain() {
    let mut world = World::new(3, 3, 3);
    let (sender, other, reader) = (0, 2, 1);
    let mine: Vec<_> = (0..5)
        .map(|i| world.send_to(sender, &format!("m{i}"), &[reader]).remove(0))
        .collect();
    let theirs: Vec<_> = (0..2)
        .map(|i| world.send_to(other, &format!("o{i}"), &[reader]).remove(0))
        .collect();
    let gap = |world: &mut World, record: &DeliveredRecord<'_>| {
        let opened = world.open(reader, record).unwrap();
        (text(&opened), opened.gap.missing, opened.gap.late)
    };
    assert_eq!(gap(&mut world, &mine[0]), ("m0".into(), None, false));
    // m1 is dropped for now, m2 overtakes m1: one missing.
    assert_eq!(gap(&mut world, &mine[2]), ("m2".into(), Some(1..2), false));
    // The other sender's chain has its own numbering: o0 held back.
    assert_eq!(
        gap(&mut world, &theirs[1]),
        ("o1".into(), Some(0..1), false)
    );
    assert_eq!(gap(&mut world, &mine[4]), ("m4".into(), Some(3..4), false));
    assert_eq!(gap(&mut world, &mine[3]), ("m3".into(), None, true));
    // A replay: the key is gone.
    assert_eq!(
        world.open(reader, &mine[3]).unwrap_err(),
        SealError::DuplicateMessage
    );
    assert_eq!(
        world.open(reader, &mine[0]).unwrap_err(),
        SealError::DuplicateMessage
    );
    // The dropped messages arrive very late and still open, once.
    assert_eq!(gap(&mut world, &mine[1]), ("m1".into(), None, true));
    assert_eq!(gap(&mut world, &theirs[0]), ("o0".into(), None, true));
    assert_eq!(
        world.open(reader, &mine[1]).unwrap_err(),
        SealError::DuplicateMessage
    );

    // Moving a message within its chain by editing its iteration, or
    // presenting it as another member's, breaks the signature.
    let more = world.send_to(sender, "m5", &[reader]).remove(0);
    let mut moved = GroupMessage::from_bytes(more.envelope.sealed_body.as_bytes())
        .unwrap()
        .into_owned();
    moved.iteration = 9;
    let mut record = more.clone();
    record.envelope.sealed_body = Opaque::from(moved.to_bytes().unwrap());
    assert_eq!(
        world.open(reader, &record).unwrap_err(),
        SealError::BadSignature
    );
    let mut relabelled = more.clone();
    relabelled.sender = world.devices[other].address.clone();
    assert_eq!(
        world.open(reader, &relabelled).unwrap_err(),
        SealError::BadSignature
    );
    assert_eq!(text(&world.open(reader, &more).unwrap()), "m5");

    // A gap wider than the bound is refused, not walked.
    let last = (0..=fuin_seal::group::MAX_GROUP_SKIP + 1)
        .map(|i| world.send_to(other, &format!("x{i}"), &[]).len())
        .count();
    assert!(last > 0);
    let far = world.send_to(other, "far", &[reader]).remove(0);
    assert!(matches!(
        world.open(reader, &far).unwrap_err(),
        SealError::TooFarAhead { .. }
    ));
}

/// The string a control message's signature covers, from spec/groups.md.
fn spec_control_signed(control: &GroupControl<'_>) -> Vec<u8> {
    let mut signed = Framer::unlabelled();
    signed
        .field(control.group_id.as_bytes())
        .u64(control.epoch)
        .field(control.membership_hash.as_bytes())
        .address(&control.actor);
    match &control.action {
        GroupAction::Add { members } => {
            signed.u32(0).u32(members.len() as u32);
            for member in members.as_slice() {
                signed.address(&member.address).identity(&member.identity);
            }
        }
        GroupAction::Remove { members } => {
            signed.u32(1).u32(members.len() as u32);
            for address in members.as_slice() {
                signed.address(address);
            }
        }
        GroupAction::Leave => {
            signed.u32(2);
        }
        GroupAction::ShareConsent { consent } => {
            signed.u32(3).field(&consent.0);
        }
    }
    signed
        .field(control.new_membership_hash.as_bytes())
        .finish()
}

/// A control message that no current member signed changes nothing: one
/// forged by the relay, one whose actor was changed, one from an outsider,
/// one naming another membership. Nor can anyone rotate a member's key
/// behind the group's back.
#[test]
fn a_membership_change_or_key_rotation_not_signed_by_a_member_is_refused() {
    let mut world = World::new(4, 5, 4);
    let (actor, target, outsider) = (1, 2, 4);
    let state = world.devices[target].state.as_ref().unwrap();
    let (group, epoch, hash) = (*state.group_id(), state.epoch(), *state.membership().hash());
    let add_outsider = state
        .membership()
        .with_added(&[world.devices[outsider].member()])
        .unwrap();
    let mut forged = GroupControl {
        group_id: group,
        epoch,
        membership_hash: hash,
        actor: world.devices[actor].address.clone(),
        action: GroupAction::Add {
            members: vec![world.devices[outsider].member()].into(),
        },
        new_membership_hash: *add_outsider.hash(),
        signature: Ed25519Signature([0; 64]),
    };
    // The relay signs with a key of its own: signed string per spec/groups.md.
    let relay_key = SigningSecret::generate(&mut world.rng);
    forged.signature = relay_key.sign(Label::GroupControlSignature, &spec_control_signed(&forged));
    let untouched = world.devices[target].state().to_bytes().unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(40);
    let result = world.devices[target]
        .state()
        .apply_control(&mut rng, &forged, NOW);
    assert_eq!(result.unwrap_err(), SealError::BadSignature);
    assert_eq!(world.devices[target].state().to_bytes().unwrap(), untouched);

    // A genuine control with its actor changed: the signature covers it.
    let removed = world.devices[3].address.clone();
    let genuine = world.devices[actor]
        .state()
        .change(&mut world.rng, ChangeRequest::Remove(vec![removed]), NOW)
        .unwrap();
    let record = world.relay.deliver(
        &world.devices[actor].address.clone(),
        genuine.message.envelope_for(&world.devices[target].address),
    );
    let opened = world.devices[target].state().open(&record, NOW).unwrap();
    let control = opened.control().unwrap().unwrap().into_owned();
    let before = world.devices[target].state().to_bytes().unwrap();
    // The spec's signed string is the one the actor's chain signed: the
    // relay's forgery above differs from a genuine control in its key alone.
    fuin_seal::primitives::signing::verify(
        &opened.sender_signing_key,
        Label::GroupControlSignature,
        &spec_control_signed(&control),
        &control.signature,
    )
    .unwrap();
    let mut reattributed = control.clone();
    reattributed.actor = world.devices[0].address.clone();
    assert_eq!(
        world.devices[target]
            .state()
            .apply_control(&mut rng, &reattributed, NOW)
            .unwrap_err(),
        SealError::BadSignature
    );
    // An outsider naming itself: not a member, whatever it signed.
    let mut outsiders = control.clone();
    outsiders.actor = world.devices[outsider].address.clone();
    assert_eq!(
        world.devices[target]
            .state()
            .apply_control(&mut rng, &outsiders, NOW)
            .unwrap_err(),
        SealError::NotAMember
    );
    // Another membership than the epoch's.
    let mut elsewhere = control.clone();
    elsewhere.membership_hash = MembershipHash([9; 32]);
    assert_eq!(
        world.devices[target]
            .state()
            .apply_control(&mut rng, &elsewhere, NOW)
            .unwrap_err(),
        SealError::MembershipMismatch
    );
    // A future epoch's control is not applied.
    let mut later = control.clone();
    later.epoch += 1;
    assert_eq!(
        world.devices[target]
            .state()
            .apply_control(&mut rng, &later, NOW)
            .unwrap_err(),
        SealError::FutureEpoch { epoch: epoch + 1 }
    );

    // Key rotation behind the group's back: a second, different chain for
    // the actor in this epoch, however it arrives.
    let mut rotated = SenderKeyDistribution {
        group_id: group,
        epoch,
        membership_hash: hash,
        sender: world.devices[actor].address.clone(),
        iteration: 0,
        chain_key: SenderChainKey([0x77; 32]),
        signing_key: relay_key.public_key(),
    };
    let actor_identity = world.devices[actor].identity.public().clone();
    let actor_address = world.devices[actor].address.clone();
    assert_eq!(
        world.devices[target]
            .state()
            .receive_distribution((&actor_address, &actor_identity), &rotated)
            .unwrap_err(),
        SealError::EquivocatedSenderKey
    );
    // Handed over by another member's session: that member may hand out
    // only its own chain.
    let third = world.devices[0].address.clone();
    let third_identity = world.devices[0].identity.public().clone();
    assert_eq!(
        world.devices[target]
            .state()
            .receive_distribution((&third, &third_identity), &rotated)
            .unwrap_err(),
        SealError::WrongSender
    );
    // Under another identity than the group knows the actor by.
    assert_eq!(
        world.devices[target]
            .state()
            .receive_distribution((&actor_address, &third_identity), &rotated)
            .unwrap_err(),
        SealError::IdentityMismatch
    );
    // For an epoch no control message started.
    rotated.epoch += 1;
    assert_eq!(
        world.devices[target]
            .state()
            .receive_distribution((&actor_address, &actor_identity), &rotated)
            .unwrap_err(),
        SealError::FutureEpoch { epoch: epoch + 1 }
    );
    assert_eq!(world.devices[target].state().to_bytes().unwrap(), before);

    // The genuine control still applies.
    let applied = world.devices[target]
        .state()
        .apply_control(&mut rng, &control, NOW)
        .unwrap();
    assert_eq!(
        applied.outcome,
        ControlOutcome::Removed(vec![world.devices[3].address.clone()])
    );
    assert_eq!(applied.epoch, epoch + 1);
    // Applying it again changes nothing.
    let again = world.devices[target]
        .state()
        .apply_control(&mut rng, &control, NOW)
        .unwrap();
    assert_eq!(again.outcome, ControlOutcome::AlreadyApplied);
}

/// After a removal, the removed member gets every new-epoch message the
/// relay can hand it and opens none; what it sealed in the old epoch but
/// sent after its removal is refused by the others.
#[test]
fn a_removed_member_cannot_read_the_next_epoch() {
    let mut world = World::new(5, 4, 4);
    let removed = 3;
    let removed_address = world.devices[removed].address.clone();
    // Sealed before the removal, delivered after it.
    let stale = world.send_to(removed, "still here?", &[0, 1]);
    let before = world.send_to(1, "before", &[removed]).remove(0);
    world.change(0, ChangeRequest::Remove(vec![removed_address.clone()]));
    let state = world.devices[removed].state.as_ref().unwrap();
    assert_eq!(state.status(), MemberStatus::Removed);
    assert_eq!(state.epoch(), 0);
    for device in [0, 1, 2] {
        let state = world.devices[device].state.as_ref().unwrap();
        assert_eq!(state.epoch(), 1);
        assert!(!state.membership().contains(&removed_address));
        assert!(matches!(state.view(), ViewStatus::Complete(_)));
    }
    // What was sent to it before still opens.
    assert_eq!(text(&world.open(removed, &before).unwrap()), "before");
    // Everything of the new epoch, from each remaining member: refused.
    for sender in [0, 1, 2] {
        let after = world.send_to(sender, "after", &[removed]).remove(0);
        assert_eq!(
            world.open(removed, &after).unwrap_err(),
            SealError::NotAMember
        );
        // Re-labelled as a message of the old epoch it fails the signature
        // (the epoch is signed) where a chain is held.
        let mut old = GroupMessage::from_bytes(after.envelope.sealed_body.as_bytes())
            .unwrap()
            .into_owned();
        old.epoch = 0;
        let mut record = after.clone();
        record.envelope.sealed_body = Opaque::from(old.to_bytes().unwrap());
        assert_eq!(
            world.open(removed, &record).unwrap_err(),
            SealError::BadSignature
        );
    }
    // It can no longer send or change anything.
    let rng = &mut ChaCha20Rng::seed_from_u64(50);
    assert_eq!(
        world.devices[removed]
            .state()
            .seal(rng, ContentType::Text, b"hi", NOW)
            .unwrap_err(),
        SealError::NotAMember
    );
    // Its old-epoch message reaches the others only after the removal.
    for record in &stale {
        let to = world.index_of(&record.envelope.recipient);
        assert_eq!(world.open(to, record).unwrap_err(), SealError::NotAMember);
    }
}

/// A device added later gets the relay's copies of everything sent before it
/// joined, and an old chain forwarded by a member: it opens none of it.
#[test]
fn a_new_member_cannot_read_history() {
    let mut world = World::new(6, 4, 3);
    let newcomer = 3;
    let early = world.send_to(0, "before you came", &[1, newcomer]);
    assert_eq!(text(&world.open(1, &early[0]).unwrap()), "before you came");
    // An older chain, forwarded later by a member.
    let old_chain = world
        .change(1, ChangeRequest::ShareConsent)
        .distribution
        .unwrap();
    let older = world.send_to(2, "still before", &[newcomer]).remove(0);
    let sent = world.change(
        1,
        ChangeRequest::Add(vec![world.devices[newcomer].member()]),
    );
    assert_eq!(sent.joiners, vec![world.devices[newcomer].address.clone()]);
    let state = world.devices[newcomer].state.as_ref().unwrap();
    assert_eq!(state.epoch(), 2);
    assert!(matches!(state.view(), ViewStatus::Complete(_)));
    assert_eq!(
        world.open(newcomer, &early[1]).unwrap_err(),
        SealError::UnknownEpoch { epoch: 0 }
    );
    assert_eq!(
        world.open(newcomer, &older).unwrap_err(),
        SealError::UnknownEpoch { epoch: 1 }
    );
    let from = world.devices[1].address.clone();
    let identity = world.devices[1].identity.public().clone();
    assert_eq!(
        world.devices[newcomer]
            .state()
            .receive_distribution((&from, &identity), &old_chain)
            .unwrap_err(),
        SealError::UnknownEpoch { epoch: 1 }
    );
    // What is sent from now on, it reads.
    for (to, record) in world.send(0, "welcome") {
        assert_eq!(text(&world.open(to, &record).unwrap()), "welcome");
    }
}

/// One member hands one member a different chain than the others. The
/// member views no longer agree: whoever holds a complete view refuses the
/// other side's messages with `SplitView`, and a second distribution is
/// refused as equivocation. Nothing opens silently under split views.
#[test]
fn a_member_giving_members_different_sender_keys_is_detected() {
    let mut world = World::new(7, 4, 4);
    let (cheat, honest, fooled, late) = (0, 1, 2, 3);
    // A new epoch, in which the cheat distributes by hand.
    let sent = world.devices[cheat]
        .state()
        .change(&mut world.rng, ChangeRequest::ShareConsent, NOW)
        .unwrap();
    let cheat_address = world.devices[cheat].address.clone();
    let mut others = Vec::new();
    for recipient in sent.recipients.clone() {
        let index = world.index_of(&recipient);
        let record = world
            .relay
            .deliver(&cheat_address, sent.message.envelope_for(&recipient));
        others.push((index, world.apply(index, &record).distribution.unwrap()));
    }
    for (from, distribution) in &others {
        world.distribute(*from, distribution);
    }
    let real = sent.distribution.clone().unwrap();
    // Same signing key, another chain key: the cheat's messages still verify
    // for the fooled member, only the keys differ.
    let fake = SenderKeyDistribution {
        chain_key: SenderChainKey([0x66; 32]),
        ..real.clone()
    };
    let cheat_identity = world.devices[cheat].identity.public().clone();
    for to in [honest, late] {
        world.devices[to]
            .state()
            .receive_distribution((&cheat_address, &cheat_identity), &real)
            .unwrap();
    }
    // The fooled member reads a message of the honest one before its view is
    // complete: nothing to compare yet, but the claim is remembered.
    let first = world.send_to(honest, "first", &[fooled]).remove(0);
    assert_eq!(text(&world.open(fooled, &first).unwrap()), "first");
    let accepted = world.devices[fooled]
        .state()
        .receive_distribution((&cheat_address, &cheat_identity), &fake)
        .unwrap();
    assert_eq!(accepted.view, ViewStatus::Split);

    let view = |world: &World, i: usize| world.devices[i].state.as_ref().unwrap().view();
    assert!(matches!(view(&world, honest), ViewStatus::Complete(_)));
    assert_eq!(view(&world, honest), view(&world, late));
    assert_ne!(view(&world, honest), view(&world, fooled));

    // Across the split, nothing opens.
    let record = world.send_to(honest, "to all", &[fooled]).remove(0);
    assert_eq!(
        world.open(fooled, &record).unwrap_err(),
        SealError::SplitView
    );
    let record = world.send_to(fooled, "from the fooled", &[honest, late]);
    for record in &record {
        let to = world.index_of(&record.envelope.recipient);
        assert_eq!(world.open(to, record).unwrap_err(), SealError::SplitView);
    }
    let record = world.send_to(cheat, "from the cheat", &[fooled]).remove(0);
    assert_eq!(
        world.open(fooled, &record).unwrap_err(),
        SealError::SplitView
    );
    // Handing the honest member the other chain too is equivocation.
    assert_eq!(
        world.devices[honest]
            .state()
            .receive_distribution((&cheat_address, &cheat_identity), &fake)
            .unwrap_err(),
        SealError::EquivocatedSenderKey
    );
    // The same chain again is no news.
    let again = world.devices[honest]
        .state()
        .receive_distribution((&cheat_address, &cheat_identity), &real)
        .unwrap();
    assert!(!again.new_chain);
    // Between members with the same view, messages still open.
    let record = world.send_to(late, "same view", &[honest]).remove(0);
    assert_eq!(text(&world.open(honest, &record).unwrap()), "same view");
}

#[test]
fn a_member_leaving_starts_an_epoch_without_it() {
    let mut world = World::new(8, 3, 3);
    let sent = world.change(2, ChangeRequest::Leave);
    assert!(sent.distribution.is_none());
    assert_eq!(
        world.devices[2].state.as_ref().unwrap().status(),
        MemberStatus::Left
    );
    for device in [0, 1] {
        let state = world.devices[device].state.as_ref().unwrap();
        assert_eq!(state.epoch(), 1);
        assert_eq!(state.membership().len(), 2);
    }
    let after = world.send_to(0, "without you", &[1, 2]);
    assert_eq!(text(&world.open(1, &after[0]).unwrap()), "without you");
    assert_eq!(world.open(2, &after[1]).unwrap_err(), SealError::NotAMember);
}

/// A late message from the epoch just left still opens, if its sender is
/// still a member; two epochs later it no longer does.
#[test]
fn messages_of_the_previous_epoch_still_open_after_a_change() {
    let mut world = World::new(9, 3, 3);
    let late = world.send_to(1, "sent before the change", &[0, 2]);
    world.change(2, ChangeRequest::ShareConsent);
    assert_eq!(
        text(&world.open(0, &late[0]).unwrap()),
        "sent before the change"
    );
    world.change(2, ChangeRequest::ShareConsent);
    assert_eq!(
        world.open(2, &late[1]).unwrap_err(),
        SealError::UnknownEpoch { epoch: 0 }
    );
}

#[test]
fn a_group_state_survives_saving_and_refuses_corrupt_bytes() {
    let mut world = World::new(10, 3, 3);
    let records = world.send_to(0, "one", &[1]);
    let skipped = world.send_to(0, "two", &[1]);
    let third = world.send_to(0, "three", &[1]);
    world.open(1, &records[0]).unwrap();
    world.open(1, &third[0]).unwrap();
    let saved = world.devices[1].state().to_bytes().unwrap();
    let mut restored = GroupState::from_bytes(&saved).unwrap();
    assert_eq!(restored.to_bytes().unwrap().as_slice(), saved.as_slice());
    assert_eq!(text(&restored.open(&skipped[0], NOW).unwrap()), "two");
    assert_eq!(
        restored.open(&third[0], NOW).unwrap_err(),
        SealError::DuplicateMessage
    );

    assert_eq!(
        GroupState::from_bytes(&[]).unwrap_err(),
        SealError::InvalidState
    );
    let mut other_version = saved.to_vec();
    other_version[0] = 2;
    assert_eq!(
        GroupState::from_bytes(&other_version).unwrap_err(),
        SealError::UnsupportedStateVersion { version: 2 }
    );
    let mut trailing = saved.to_vec();
    trailing.push(0);
    assert_eq!(
        GroupState::from_bytes(&trailing).unwrap_err(),
        SealError::InvalidState
    );
    for cut in [1, saved.len() / 2, saved.len() - 1] {
        assert!(
            GroupState::from_bytes(&saved[..cut]).is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn debug_output_shows_no_key_bytes() {
    let mut world = World::new(11, 3, 3);
    let record = world.send_to(0, "secret words", &[1]).remove(0);
    let opened = world.open(1, &record).unwrap();
    let state = world.devices[1].state.as_ref().unwrap();
    let shown = format!("{state:?}");
    let group = hex::encode(state.group_id().0);
    assert_eq!(
        shown,
        format!(
            "GroupState {{ group_id: GroupId({group}), local: DeviceAddress {{ user: UserId(\"u1\"), \
             device: DeviceId(1) }}, status: Member, epoch: 0, members: 3, chains_held: 2, \
             skipped_keys: 0, consent: false, .. }}"
        )
    );
    let opened_shown = format!("{opened:?}");
    assert!(opened_shown.contains("FrankingKey(<redacted>)"));
    assert!(opened_shown.contains("SecretBytes(12 bytes, <redacted>)"));
    // No 16-byte window of the saved state (which holds every key) appears
    // in Debug output, except the public values Debug may show.
    let saved = state.to_bytes().unwrap();
    let public = format!("{:?}{:?}", state.membership(), opened.sender_signing_key);
    let everything = format!("{shown}{opened_shown}");
    let mut checked = 0;
    for window in saved.windows(16).step_by(8) {
        let window = hex::encode(window);
        if public.contains(&window) {
            continue;
        }
        checked += 1;
        assert!(
            !everything.contains(&window),
            "{window} appears in Debug output"
        );
    }
    assert!(checked > 10);
    let distribution = world
        .change(0, ChangeRequest::ShareConsent)
        .distribution
        .unwrap();
    let shown = format!("{distribution:?}");
    assert!(shown.contains("SenderChainKey(<redacted>)"));
    assert!(!shown.contains(&hex::encode(distribution.chain_key.0)));
}

/// Sender keys and welcomes travel as 1:1 messages; the session says who
/// sent them. A member that forwards another member's chain, or makes one up
/// in another member's name, is refused: a member hands out only its own.
#[test]
fn sender_keys_travel_over_sessions_and_only_their_owner_can_hand_them_out() {
    use fuin_seal::{Outgoing, PrekeyStore, Session, VerifiedBundle};

    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let mut relay = Relay::default();
    let names = ["alice", "bob", "carol"];
    let devices: Vec<_> = names
        .iter()
        .map(|name| Device::new(&mut rng, name))
        .collect();
    // Sessions alice→bob and carol→bob, set up from bob's prekeys.
    let mut bob_prekeys = PrekeyStore::new();
    bob_prekeys.rotate_signed_prekey(&devices[1].identity, &mut rng);
    bob_prekeys.rotate_last_resort_kem_prekey(&devices[1].identity, &mut rng);
    let session_to_bob = |from: usize, rng: &mut ChaCha20Rng| {
        let bundle = bob_prekeys
            .bundle(devices[1].address.clone(), &devices[1].identity, None, None)
            .unwrap();
        let bundle = VerifiedBundle::verify(&bundle, &devices[1].address, None).unwrap();
        Session::initiate(
            rng,
            &devices[from].identity,
            devices[from].address.clone(),
            &bundle,
        )
        .unwrap()
    };
    let mut alice_to_bob = session_to_bob(0, &mut rng);
    let mut carol_to_bob = session_to_bob(2, &mut rng);

    let others = vec![devices[1].member(), devices[2].member()];
    let (_alice, created) = GroupState::create(
        &mut rng,
        devices[0].address.clone(),
        devices[0].identity.public().clone(),
        others,
    )
    .unwrap();
    // Alice's welcome and chain, sealed to Bob's device.
    let mut send = |session: &mut Session, from: usize, content_type, body: &[u8]| {
        let outgoing = Outgoing::new(
            &mut rng,
            &devices[from].address,
            UserId::new("bob").unwrap(),
            content_type,
            body,
        )
        .unwrap();
        let sealed = session.seal(&mut rng, &outgoing, NOW).unwrap();
        relay.deliver(&devices[from].address, sealed.envelope)
    };
    let welcome = send(
        &mut alice_to_bob,
        0,
        ContentType::GroupWelcome,
        &created.welcome[0].to_bytes().unwrap(),
    );
    let chain = send(
        &mut alice_to_bob,
        0,
        ContentType::SenderKeyDistribution,
        &created.distribution.to_bytes().unwrap(),
    );
    let (mut bob_session, opened) = Session::respond(
        &devices[1].identity,
        devices[1].address.clone(),
        &mut bob_prekeys.clone(),
        None,
        &welcome,
        NOW,
    )
    .unwrap();
    assert_eq!(opened.content.content_type, ContentType::GroupWelcome);
    let page = GroupWelcome::from_bytes(opened.content.body.as_bytes()).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(13);
    let (mut bob, _) = GroupState::join(
        &mut rng,
        devices[1].address.clone(),
        devices[1].identity.public().clone(),
        (&opened.sender, bob_session.peer_identity()),
        &[page],
    )
    .unwrap();
    let opened = bob_session.open(&chain, NOW).unwrap();
    assert_eq!(
        opened.content.content_type,
        ContentType::SenderKeyDistribution
    );
    let distribution = SenderKeyDistribution::from_bytes(opened.content.body.as_bytes()).unwrap();
    let accepted = bob
        .receive_distribution((&opened.sender, bob_session.peer_identity()), &distribution)
        .unwrap();
    assert!(accepted.new_chain);

    // Carol forwards Alice's chain to Bob: it arrives from Carol's session.
    let forwarded = send(
        &mut carol_to_bob,
        2,
        ContentType::SenderKeyDistribution,
        &created.distribution.to_bytes().unwrap(),
    );
    let (carol_session, opened) = Session::respond(
        &devices[1].identity,
        devices[1].address.clone(),
        &mut bob_prekeys.clone(),
        None,
        &forwarded,
        NOW,
    )
    .unwrap();
    let distribution = SenderKeyDistribution::from_bytes(opened.content.body.as_bytes()).unwrap();
    assert_eq!(
        bob.receive_distribution(
            (&opened.sender, carol_session.peer_identity()),
            &distribution
        )
        .unwrap_err(),
        SealError::WrongSender
    );
    // A welcome only a member's session can bring: Carol's session, claiming
    // Alice's identity for it, does not pass.
    let page = created.welcome[0].clone();
    assert_eq!(
        GroupState::join(
            &mut rng,
            devices[1].address.clone(),
            devices[1].identity.public().clone(),
            (&opened.sender, devices[0].identity.public()),
            &[page],
        )
        .unwrap_err(),
        SealError::IdentityMismatch
    );
}
