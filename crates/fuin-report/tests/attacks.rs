//! Each attack on a report, performed, and shown to fail (DESIGN §12,
//! spec/report.md §8): forged, framed, re-labelled, replayed and misdirected
//! reports, expired stamp keys, wrong moderation keys, tampered sealed
//! reports (ephemeral key, KEM ciphertext, ciphertext), and reports sealed
//! before protocol version 3. Messages are real: sealed and opened with fuin-seal sessions and
//! stamped by the relay crate's own code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use fuin_report::{
    AuditLog, AuditOutcome, FrankingKeyBytes, ModerationSecretKey, Moderator, Rejection,
    ReportError, ReportedMessage, Verdict, verify_log,
};
use fuin_seal::ConversationId;
use fuin_seal::primitives::aead;
use fuin_seal::primitives::franking::{self, FrankedMessage, hmac_sha256};
use fuin_seal::primitives::hybrid_kem::{HybridEncapsulation, HybridSecretKey};
use fuin_seal::primitives::kdf::Label;
use fuin_wire::{
    DeviceAddress, FrameBody, FrankingCommitment, FrankingStamp, HybridSealedReport,
    MlKemCiphertext, Opaque, StampKeyId, X25519PublicKey,
};
use rand_core::{Rng, SeedableRng};

fn carol() -> DeviceAddress<'static> {
    address("carol", 1)
}
fn bob() -> DeviceAddress<'static> {
    address("bob", 1)
}

/// The one verdict of a one-message report by bob/1 about carol.
fn verdict_of(world: &mut World, message: ReportedMessage<'static>) -> Verdict {
    let content = world.content(&bob(), "carol", vec![message]);
    let report = world.open_as(&bob(), &content).unwrap();
    assert_eq!(report.messages.len(), 1);
    report.messages[0].verdict
}

/// The commitment a reporter who knows `nf` computes for a claimed message.
fn recommit(message: &ReportedMessage<'_>, peer: &str) -> FrankingCommitment {
    let conversation = ConversationId::direct(
        &bob().user,
        &fuin_wire::UserId::new(peer.to_owned()).unwrap(),
    );
    franking::commit(
        message.franking_key.as_bytes(),
        &FrankedMessage {
            sender: &message.sender,
            conversation: &conversation,
            message_id: &message.message_id,
            content_type: message.content_type,
            body: message.body.as_bytes(),
        },
    )
    .unwrap()
}

#[test]
fn a_genuine_report_verifies() {
    let mut world = World::new(1);
    let received = world.send(&carol(), &bob(), b"you will regret this");
    assert_eq!(
        received.opened.content.body.as_bytes(),
        b"you will regret this"
    );
    assert_eq!(
        verdict_of(&mut world, received.reported()),
        Verdict::Verified
    );
}

#[test]
fn forged_report_with_a_random_franking_key_is_rejected() {
    let mut world = World::new(2);
    let mut message = world.send(&carol(), &bob(), b"hello").reported();
    let mut random = [0u8; 32];
    world.rng.fill_bytes(&mut random);
    message.franking_key = FrankingKeyBytes::new(&random);
    assert_eq!(
        verdict_of(&mut world, message),
        Verdict::Rejected(Rejection::CommitmentMismatch)
    );
}

#[test]
fn forged_report_with_a_changed_body_is_rejected() {
    let mut world = World::new(3);
    let genuine = world.send(&carol(), &bob(), b"see you at noon").reported();

    // The body changed, everything else as received.
    let mut changed = genuine.clone();
    changed.body = Opaque::from(b"I will hurt you".to_vec());
    assert_eq!(
        verdict_of(&mut world, changed.clone()),
        Verdict::Rejected(Rejection::CommitmentMismatch)
    );

    // A reporter knows nf and can commit to the new body itself: then the
    // commitment checks, and the relay's stamp (over the real one) does not.
    changed.commitment = recommit(&changed, "carol");
    assert_ne!(changed.commitment, genuine.commitment);
    assert_eq!(
        verdict_of(&mut world, changed),
        Verdict::Rejected(Rejection::StampMismatch)
    );
}

#[test]
fn a_stamp_for_a_message_never_sent_is_rejected() {
    let mut world = World::new(4);
    let genuine = world.send(&carol(), &bob(), b"ordinary message").reported();

    // A message carol never sent: the reporter draws nf and commits
    // correctly, but can only make up a stamp.
    let mut invented = genuine.clone();
    let mut nf = [0u8; 32];
    world.rng.fill_bytes(&mut nf);
    invented.franking_key = FrankingKeyBytes::new(&nf);
    invented.body = Opaque::from(b"an invented threat".to_vec());
    world.rng.fill_bytes(&mut invented.message_id.0);
    invented.commitment = recommit(&invented, "carol");
    let mut stamp = [0u8; 32];
    world.rng.fill_bytes(&mut stamp);
    invented.stamp = FrankingStamp(stamp);
    world.rng.fill_bytes(&mut invented.server_message_id.0);
    assert_eq!(
        verdict_of(&mut world, invented.clone()),
        Verdict::Rejected(Rejection::StampMismatch)
    );

    // Nor does the stamp of a real message, moved onto the invented one.
    invented.stamp = genuine.stamp;
    invented.server_message_id = genuine.server_message_id;
    invented.server_time_ms = genuine.server_time_ms;
    assert_eq!(
        verdict_of(&mut world, invented),
        Verdict::Rejected(Rejection::StampMismatch)
    );
}

#[test]
fn another_body_under_the_same_franking_key_is_rejected() {
    let mut world = World::new(5);
    let first = world.send(&carol(), &bob(), b"first message").reported();
    // The same nf (and id) with another body: the commitment fails, and a
    // recomputed commitment is not the one the relay stamped.
    let mut other = first.clone();
    other.body = Opaque::from(b"first message, but worse".to_vec());
    assert_eq!(
        verdict_of(&mut world, other.clone()),
        Verdict::Rejected(Rejection::CommitmentMismatch)
    );
    other.commitment = recommit(&other, "carol");
    assert_eq!(
        verdict_of(&mut world, other),
        Verdict::Rejected(Rejection::StampMismatch)
    );
}

#[test]
fn franking_keys_of_other_lengths_are_rejected() {
    let mut world = World::new(6);
    let genuine = world.send(&carol(), &bob(), b"length games").reported();
    let nf = genuine.franking_key.as_bytes().to_vec();
    let mut doubled = nf.clone();
    doubled.extend_from_slice(&nf);
    let mut longer = nf.clone();
    longer.push(0x42);
    for key in [nf[..31].to_vec(), longer, doubled] {
        let mut message = genuine.clone();
        message.franking_key = FrankingKeyBytes::new(&key);
        assert_eq!(
            verdict_of(&mut world, message),
            Verdict::Rejected(Rejection::FrankingKeyLength { len: key.len() }),
            "{} bytes",
            key.len()
        );
    }
}

#[test]
fn a_franking_key_with_a_zero_byte_appended_is_rejected_although_hmac_agrees() {
    let mut world = World::new(7);
    let genuine = world.send(&carol(), &bob(), b"zero padding").reported();
    let nf = genuine.franking_key.as_bytes().to_vec();
    let mut padded = nf.clone();
    padded.push(0);
    // HMAC pads its key with zeros, so both keys give the same MAC...
    assert_eq!(
        hmac_sha256(&padded, &[b"any input"]),
        hmac_sha256(&nf, &[b"any input"])
    );
    // ...and only the length rule tells them apart.
    let mut message = genuine;
    message.franking_key = FrankingKeyBytes::new(&padded);
    assert_eq!(
        verdict_of(&mut world, message),
        Verdict::Rejected(Rejection::FrankingKeyLength { len: 33 })
    );
}

#[test]
fn shifted_field_boundaries_are_rejected() {
    let mut world = World::new(8);
    let carol2 = address("carol", 2);
    let genuine = world.send(&carol2, &bob(), b"1hello").reported();
    assert_eq!(verdict_of(&mut world, genuine.clone()), Verdict::Verified);

    // Each claim below reads the same as the genuine message when sender,
    // conversation and body are simply concatenated; the commitment frames
    // every field with its length, so each is another commitment, refused,
    // and one recomputed with nf is not the one the relay stamped.
    // (claimed sender user, device, conversation peer, body; the naive
    // concatenation of the genuine fields and of the claimed ones)
    type Claim<'a> = (&'a str, u32, &'a str, &'a [u8], [&'a str; 2]);
    let claims: [Claim<'_>; 3] = [
        // address text + body: "carol/2" + "1hello" = "carol/21" + "hello".
        (
            "carol",
            21,
            "carol",
            b"hello",
            [concat!("carol/2", "1hello"), concat!("carol/21", "hello")],
        ),
        // sender user + body: "carol" + "1hello" = "caro" + "l1hello".
        (
            "caro",
            2,
            "caro",
            b"l1hello",
            [concat!("carol", "1hello"), concat!("caro", "l1hello")],
        ),
        // peer + body: "carol" + "1hello" = "carol1" + "hello".
        (
            "carol1",
            2,
            "carol1",
            b"hello",
            [concat!("carol", "1hello"), concat!("carol1", "hello")],
        ),
    ];
    for (user, device, peer, body, [genuine_naive, claimed_naive]) in claims {
        assert_eq!(
            genuine_naive, claimed_naive,
            "the shift keeps the concatenation"
        );
        let mut shifted = genuine.clone();
        shifted.sender = address(user, device);
        shifted.body = Opaque::from(body.to_vec());
        let content = world.content(&bob(), peer, vec![shifted.clone()]);
        let report = world.open_as(&bob(), &content).unwrap();
        assert_eq!(
            report.messages[0].verdict,
            Verdict::Rejected(Rejection::CommitmentMismatch),
            "{user}/{device}"
        );
        shifted.commitment = recommit(&shifted, peer);
        let content = world.content(&bob(), peer, vec![shifted]);
        let report = world.open_as(&bob(), &content).unwrap();
        assert_eq!(
            report.messages[0].verdict,
            Verdict::Rejected(Rejection::StampMismatch),
            "{user}/{device}"
        );
    }

    // The genuine message placed in another conversation: outside it.
    let content = world.content(&bob(), "carolh", vec![genuine]);
    let report = world.open_as(&bob(), &content).unwrap();
    assert_eq!(
        report.messages[0].verdict,
        Verdict::Rejected(Rejection::NotInConversation)
    );
}

#[test]
fn a_message_addressed_to_someone_else_is_rejected() {
    let mut world = World::new(9);
    let alice = address("alice", 1);
    // carol wrote to alice; bob got hold of alice's copy (her device, her
    // franking key, the relay's stamp for her).
    let to_alice = world
        .send(&carol(), &alice, b"a message for alice")
        .reported();

    // As it is: delivered to alice/1, reported by bob/1.
    let content = world.content(&bob(), "carol", vec![to_alice.clone()]);
    let report = world.open_as(&bob(), &content).unwrap();
    assert_eq!(
        report.messages[0].verdict,
        Verdict::Rejected(Rejection::NotAddressedToReporter)
    );

    // Relabelled as delivered to bob/1: the commitment names the
    // conversation carol-alice; recomputed for carol-bob (bob holds nf), the
    // stamp still names alice/1 and the old commitment.
    let mut relabelled = to_alice.clone();
    relabelled.recipient = bob();
    assert_eq!(
        verdict_of(&mut world, relabelled.clone()),
        Verdict::Rejected(Rejection::CommitmentMismatch)
    );
    relabelled.commitment = recommit(&relabelled, "carol");
    assert_eq!(
        verdict_of(&mut world, relabelled),
        Verdict::Rejected(Rejection::StampMismatch)
    );

    // Submitted from alice's device but naming bob as the reporter: the
    // relay says who submitted it, and the report must agree.
    let content = world.content(&bob(), "carol", vec![to_alice.clone()]);
    assert_eq!(
        world.open_as(&alice, &content).unwrap_err(),
        ReportError::ReporterMismatch
    );

    // Alice herself can report it.
    let content = world.content(&alice, "carol", vec![to_alice]);
    let report = world.open_as(&alice, &content).unwrap();
    assert_eq!(report.messages[0].verdict, Verdict::Verified);
}

#[test]
fn every_stamped_field_changed_on_its_own_is_rejected() {
    let mut world = World::new(10);
    let genuine = world.send(&carol(), &bob(), b"stamped fields").reported();
    assert_eq!(verdict_of(&mut world, genuine.clone()), Verdict::Verified);

    // Sender: carol/2 instead of carol/1, with the commitment recomputed
    // (the reporter holds nf): the stamp names carol/1.
    let mut sender = genuine.clone();
    sender.sender = address("carol", 2);
    sender.commitment = recommit(&sender, "carol");
    assert_eq!(
        verdict_of(&mut world, sender),
        Verdict::Rejected(Rejection::StampMismatch)
    );

    // Recipient: bob/2 instead of bob/1, submitted by bob/2.
    let bob2 = address("bob", 2);
    let mut recipient = genuine.clone();
    recipient.recipient = bob2.clone();
    let content = world.content(&bob2, "carol", vec![recipient]);
    let report = world.open_as(&bob2, &content).unwrap();
    assert_eq!(
        report.messages[0].verdict,
        Verdict::Rejected(Rejection::StampMismatch)
    );

    // Time, one millisecond either way.
    for time in [genuine.server_time_ms - 1, genuine.server_time_ms + 1] {
        let mut changed = genuine.clone();
        changed.server_time_ms = time;
        assert_eq!(
            verdict_of(&mut world, changed),
            Verdict::Rejected(Rejection::StampMismatch)
        );
    }

    // The relay's message id.
    let mut id = genuine.clone();
    id.server_message_id.0[15] ^= 1;
    assert_eq!(
        verdict_of(&mut world, id),
        Verdict::Rejected(Rejection::StampMismatch)
    );

    // The key id: another key moderation holds, and one it does not.
    let mut key_id = genuine.clone();
    key_id.stamp_key_id = StampKeyId(OLDER_KEY.0);
    assert_eq!(
        verdict_of(&mut world, key_id.clone()),
        Verdict::Rejected(Rejection::StampMismatch)
    );
    key_id.stamp_key_id = StampKeyId(99);
    assert_eq!(
        verdict_of(&mut world, key_id),
        Verdict::Rejected(Rejection::UnknownStampKey { id: 99 })
    );

    // The commitment itself.
    let mut commitment = genuine.clone();
    commitment.commitment.0[0] ^= 1;
    assert_eq!(
        verdict_of(&mut world, commitment),
        Verdict::Rejected(Rejection::CommitmentMismatch)
    );

    // The stamp itself.
    let mut stamp = genuine;
    stamp.stamp.0[31] ^= 0x80;
    assert_eq!(
        verdict_of(&mut world, stamp),
        Verdict::Rejected(Rejection::StampMismatch)
    );
}

#[test]
fn a_replayed_report_counts_once() {
    let mut world = World::new(11);
    let on_phone = world.send(&carol(), &bob(), b"threat").reported();
    let other = world.send(&carol(), &bob(), b"another threat").reported();

    let moderator = world.moderator();
    let mut audit = AuditLog::in_memory();
    let content = world.content(&bob(), "carol", vec![on_phone.clone()]);
    let frame = world.seal(&content);

    let first = world.inbox(&bob(), &frame);
    let report = moderator.open(&mut audit, "mo", &first, OPENED_AT).unwrap();
    assert_eq!(report.messages[0].verdict, Verdict::Verified);

    // The same sealed report submitted again (a new relay report id).
    let replay = world.inbox(&bob(), &frame);
    assert_ne!(replay.report_id, first.report_id);
    let report = moderator
        .open(&mut audit, "mo", &replay, OPENED_AT)
        .unwrap();
    assert_eq!(report.messages[0].verdict, Verdict::Duplicate);
    assert!(report.messages[0].verdict.is_verified());

    // The same message again inside a new report, next to a new one, and
    // listed twice.
    let content = world.content(
        &bob(),
        "carol",
        vec![on_phone.clone(), other.clone(), other.clone()],
    );
    let frame = world.seal(&content);
    let inbox = world.inbox(&bob(), &frame);
    let report = moderator.open(&mut audit, "mo", &inbox, OPENED_AT).unwrap();
    let verdicts: Vec<_> = report.messages.iter().map(|m| m.verdict).collect();
    assert_eq!(
        verdicts,
        [Verdict::Duplicate, Verdict::Verified, Verdict::Duplicate]
    );

    // The log counted each message once, across the three openings.
    let records = verify_log(audit.memory()).unwrap();
    assert_eq!(records.len(), 3);
    let counted: usize = records.iter().map(|record| record.counted.len()).sum();
    assert_eq!(counted, 2);
    assert_eq!(
        records[1].outcome,
        AuditOutcome::Opened {
            verified: 0,
            duplicates: 1,
            rejected: 0
        }
    );
}

#[test]
fn the_same_message_on_two_devices_of_the_reporter_counts_once() {
    let mut world = World::new(12);
    let bob2 = address("bob", 2);
    // One message of carol's reaches both of bob's devices: one commitment,
    // two deliveries, each with its own relay id and stamp.
    let phone = world.send(&carol(), &bob(), b"same words").reported();
    let moderator = world.moderator();
    let mut audit = AuditLog::in_memory();
    let content = world.content(&bob(), "carol", vec![phone.clone()]);
    let frame = world.seal(&content);
    let inbox = world.inbox(&bob(), &frame);
    assert_eq!(
        moderator
            .open(&mut audit, "mo", &inbox, OPENED_AT)
            .unwrap()
            .messages[0]
            .verdict,
        Verdict::Verified
    );
    // The laptop's delivery of the same commitment, stamped for bob/2 by the
    // relay's code.
    let mut laptop = phone.clone();
    laptop.recipient = bob2.clone();
    world.rng.fill_bytes(&mut laptop.server_message_id.0);
    let input = fuin_wire::franking_stamp_input(
        &laptop.commitment,
        &laptop.sender,
        &laptop.recipient,
        laptop.server_time_ms,
        &laptop.server_message_id,
        laptop.stamp_key_id,
    );
    laptop.stamp = FrankingStamp(hmac_sha256(&CURRENT_KEY.1, &[&input]));
    let content = world.content(&bob2, "carol", vec![laptop]);
    let frame = world.seal(&content);
    let inbox = world.inbox(&bob2, &frame);
    assert_eq!(
        moderator
            .open(&mut audit, "mo", &inbox, OPENED_AT)
            .unwrap()
            .messages[0]
            .verdict,
        Verdict::Duplicate
    );
}

#[test]
fn an_expired_stamp_key_id_is_rejected() {
    let mut world = World::new(13);
    let old = world.send_with_key(&carol(), &bob(), b"old news", OLDER_KEY.0);
    // The older key expired a moment before the relay received the report.
    world.older_key_not_after = Some(RECEIVED_AT - 1);
    assert_eq!(
        verdict_of(&mut world, old.reported()),
        Verdict::Rejected(Rejection::ExpiredStampKey { id: OLDER_KEY.0 })
    );
    // Up to and including its last moment it is accepted.
    world.older_key_not_after = Some(RECEIVED_AT);
    assert_eq!(verdict_of(&mut world, old.reported()), Verdict::Verified);
}

#[test]
fn a_report_sealed_to_the_wrong_moderation_key_is_refused_and_recorded() {
    let mut world = World::new(14);
    let message = world.send(&carol(), &bob(), b"to the wrong key").reported();
    let content = world.content(&bob(), "carol", vec![message]);
    let frame = world.seal(&content);
    let inbox = world.inbox(&bob(), &frame);

    // Another key with the same id.
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(99);
    let other = Moderator::new(
        ModerationSecretKey::generate(&mut rng, world.moderation_key_id),
        world.stamp_keys(),
    );
    let mut audit = AuditLog::in_memory();
    assert_eq!(
        other.open(&mut audit, "mo", &inbox, OPENED_AT).unwrap_err(),
        ReportError::DecryptionFailed
    );
    // Another key id.
    let elsewhere = Moderator::new(
        ModerationSecretKey::generate(&mut rng, world.moderation_key_id + 1),
        world.stamp_keys(),
    );
    assert_eq!(
        elsewhere
            .open(&mut audit, "mo", &inbox, OPENED_AT)
            .unwrap_err(),
        ReportError::UnknownModerationKey {
            id: world.moderation_key_id
        }
    );
    // Both openings are in the log, as refused.
    let records = verify_log(audit.memory()).unwrap();
    let refusals: Vec<_> = records.iter().map(|r| r.outcome.clone()).collect();
    assert_eq!(
        refusals,
        [
            AuditOutcome::Refused {
                reason: "decryption_failed".into()
            },
            AuditOutcome::Refused {
                reason: "unknown_moderation_key".into()
            }
        ]
    );
    assert!(records.iter().all(|r| r.counted.is_empty()));
}

#[test]
fn a_tampered_sealed_report_is_refused() {
    let mut world = World::new(15);
    let message = world.send(&carol(), &bob(), b"tamper with me").reported();
    let content = world.content(&bob(), "carol", vec![message]);
    let frame = world.seal(&content);
    let sealed = HybridSealedReport::from_bytes(&frame).unwrap().into_owned();
    let moderator = world.moderator();
    let open = |world: &mut World, report: &HybridSealedReport<'static>| {
        let frame = report.to_bytes().unwrap();
        let inbox = world.inbox(&bob(), &frame);
        moderator.open(&mut AuditLog::in_memory(), "mo", &inbox, OPENED_AT)
    };
    assert!(open(&mut world, &sealed).is_ok());

    let len = sealed.ciphertext.len();
    // Every byte of the commitment, a byte of the body, the tag's last byte.
    for index in (0..32).chain([len / 2, len - 1]) {
        let mut bytes = sealed.ciphertext.as_bytes().to_vec();
        bytes[index] ^= 0x01;
        let mut tampered = sealed.clone();
        tampered.ciphertext = Opaque::from(bytes);
        assert_eq!(
            open(&mut world, &tampered).unwrap_err(),
            ReportError::DecryptionFailed,
            "byte {index}"
        );
    }
    // Truncated, extended.
    for bytes in [
        sealed.ciphertext.as_bytes()[..len - 1].to_vec(),
        [sealed.ciphertext.as_bytes(), &[0]].concat(),
        Vec::new(),
    ] {
        let mut tampered = sealed.clone();
        tampered.ciphertext = Opaque::from(bytes);
        assert_eq!(
            open(&mut world, &tampered).unwrap_err(),
            ReportError::DecryptionFailed
        );
    }
    // Another ephemeral key (bound into the key and the associated data):
    // a flipped bit in every one of its bytes.
    for index in 0..32 {
        let mut tampered = sealed.clone();
        tampered.ephemeral_key.0[index] ^= 0x01;
        assert_eq!(
            open(&mut world, &tampered).unwrap_err(),
            ReportError::DecryptionFailed,
            "ephemeral key byte {index}"
        );
    }
    // A flipped byte anywhere in the ML-KEM ciphertext: its first and last
    // bytes and a stride through the rest (implicit rejection gives other
    // key material, and the transcript holds the ciphertext as sent).
    for index in (0..MlKemCiphertext::LEN)
        .step_by(67)
        .chain([MlKemCiphertext::LEN - 1])
    {
        let mut tampered = sealed.clone();
        tampered.kem_ciphertext.0[index] ^= 0x80;
        assert_eq!(
            open(&mut world, &tampered).unwrap_err(),
            ReportError::DecryptionFailed,
            "KEM ciphertext byte {index}"
        );
    }
    // A small-order ephemeral key: refused before any agreement.
    let mut weak = sealed.clone();
    weak.ephemeral_key = X25519PublicKey([0; 32]);
    assert_eq!(
        open(&mut world, &weak).unwrap_err(),
        ReportError::WeakPublicKey
    );
    // The key id changed (to one this moderator would hold, had it that id).
    let mut relabelled = sealed;
    relabelled.moderation_key_id += 1;
    assert_eq!(
        open(&mut world, &relabelled).unwrap_err(),
        ReportError::UnknownModerationKey {
            id: world.moderation_key_id + 1
        }
    );
}

#[test]
fn a_report_relabelled_to_another_key_id_does_not_open_under_that_id() {
    // A moderation service with two keys, ids 7 and 8, made from the same
    // secret (the worst case): a report sealed to id 7 and relabelled 8
    // still fails, because the id is in the HKDF salt and the associated data.
    let mut world = World::new(16);
    let message = world.send(&carol(), &bob(), b"relabel").reported();
    let content = world.content(&bob(), "carol", vec![message]);
    let frame = world.seal(&content);
    let mut sealed = HybridSealedReport::from_bytes(&frame).unwrap().into_owned();
    sealed.moderation_key_id = 8;
    let mut secret = b"FUINMSK2".to_vec();
    secret.extend_from_slice(&8u32.to_be_bytes());
    secret.extend_from_slice(&[0x4d; 32]);
    secret.extend_from_slice(&[0x6b; 64]);
    let same_secret = Moderator::new(
        ModerationSecretKey::from_bytes(&secret).unwrap(),
        world.stamp_keys(),
    );
    let inbox = world.inbox(&bob(), &sealed.to_bytes().unwrap());
    assert_eq!(
        same_secret
            .open(&mut AuditLog::in_memory(), "mo", &inbox, OPENED_AT)
            .unwrap_err(),
        ReportError::DecryptionFailed
    );
}

#[test]
fn a_report_sealed_before_protocol_version_3_opens_and_is_labelled_not_post_quantum() {
    // A report the relay stored before its upgrade, sealed in the X25519
    // form to the X25519 half of the key (the same id and secret that
    // `keygen --upgrade` keeps).
    let mut world = World::new(19);
    let message = world
        .send(&carol(), &bob(), b"stored before the upgrade")
        .reported();
    let content = world.content(&bob(), "carol", vec![message]);
    let key = world.moderation_secret_key();
    let old = fuin_report::sealing::seal_before_v3(
        world.moderation_key_id,
        &key.x25519_public_key(),
        [0x21; 32],
        &content.to_bytes().unwrap(),
    )
    .unwrap();
    let inbox = world.inbox(&bob(), &old.to_bytes().unwrap());
    let mut audit = AuditLog::in_memory();
    let opened = world
        .moderator()
        .open(&mut audit, "mo", &inbox, OPENED_AT)
        .unwrap();
    assert!(!opened.post_quantum);
    assert_eq!(opened.messages[0].verdict, Verdict::Verified);

    // The old secret key file (X25519 only) opens it too...
    let mut old_file = b"FUINMSK1".to_vec();
    old_file.extend_from_slice(&world.moderation_key_id.to_be_bytes());
    old_file.extend_from_slice(&[0x4d; 32]);
    let old_moderator = Moderator::new(
        ModerationSecretKey::from_bytes(&old_file).unwrap(),
        world.stamp_keys(),
    );
    let opened = old_moderator
        .open(&mut AuditLog::in_memory(), "mo", &inbox, OPENED_AT)
        .unwrap();
    assert!(!opened.post_quantum);
    // ...but no hybrid report: it holds no ML-KEM half.
    let hybrid = world.seal(&content);
    let hybrid = world.inbox(&bob(), &hybrid);
    assert_eq!(
        old_moderator
            .open(&mut AuditLog::in_memory(), "mo", &hybrid, OPENED_AT)
            .unwrap_err(),
        ReportError::UnknownModerationKey {
            id: world.moderation_key_id
        }
    );
    // A hybrid report is labelled post-quantum.
    assert!(
        world
            .moderator()
            .open(&mut AuditLog::in_memory(), "mo", &hybrid, OPENED_AT)
            .unwrap()
            .post_quantum
    );
}

#[test]
fn a_hybrid_report_does_not_open_with_the_x25519_half_alone() {
    // Someone who breaks X25519 has the DH output but not ML-KEM's shared
    // secret: key material with the ML-KEM half zeroed does not open the
    // report, while the full key material does.
    let mut world = World::new(20);
    let message = world.send(&carol(), &bob(), b"harvest now").reported();
    let content = world.content(&bob(), "carol", vec![message]);
    let frame = world.seal(&content);
    let sealed = HybridSealedReport::from_bytes(&frame).unwrap();
    let key = world.moderation_key();
    let encapsulation = HybridEncapsulation {
        ephemeral: sealed.ephemeral_key,
        ciphertext: sealed.kem_ciphertext,
    };
    let salt = fuin_report::sealing::transcript(world.moderation_key_id, &key.key, &encapsulation);
    let aad = fuin_report::sealing::associated_data(world.moderation_key_id, &encapsulation);
    let secret = HybridSecretKey::from_parts([0x4d; 32], [0x6b; 64]);
    let km = secret.decapsulate(&encapsulation).unwrap();
    let open = |km: &[u8]| {
        aead::open(
            Label::HybridReportKeys,
            Some(&salt),
            km,
            &aad,
            sealed.ciphertext.as_bytes(),
        )
    };
    assert!(open(km.as_slice()).is_ok());
    let mut x25519_only = *km;
    x25519_only[..32].fill(0);
    assert!(open(&x25519_only).is_err());
    assert!(open(&km[32..]).is_err());
}

#[test]
fn a_message_from_outside_the_conversation_is_rejected() {
    let mut world = World::new(17);
    let dave = address("dave", 1);
    let from_dave = world.send(&dave, &bob(), b"from dave").reported();
    // Reported as part of the conversation with carol.
    assert_eq!(
        verdict_of(&mut world, from_dave),
        Verdict::Rejected(Rejection::NotInConversation)
    );
}

#[test]
fn the_relay_attested_reporter_is_what_counts() {
    let mut world = World::new(18);
    let message = world.send(&carol(), &bob(), b"mine").reported();
    let bob2 = address("bob", 2);
    // bob/2 submits bob/1's delivery, naming itself the reporter.
    let content = world.content(&bob2, "carol", vec![message]);
    let report = world.open_as(&bob2, &content).unwrap();
    assert_eq!(
        report.messages[0].verdict,
        Verdict::Rejected(Rejection::NotAddressedToReporter)
    );
}

#[test]
fn inspecting_checks_as_opening_does_but_records_and_counts_nothing() {
    let mut world = World::new(31);
    let genuine = world.send(&carol(), &bob(), b"checked twice").reported();
    let mut forged = world.send(&carol(), &bob(), b"what carol sent").reported();
    forged.body = fuin_wire::Opaque::from(b"what bob claims".to_vec());
    let content = world.content(&bob(), "carol", vec![genuine.clone(), forged, genuine]);
    let frame = world.seal(&content);
    let inbox = world.inbox(&bob(), &frame);
    let moderator = world.moderator();

    // Inspected twice: the same verdicts, and the repeated message is not
    // a duplicate (counting is for the caller's record of openings).
    for _ in 0..2 {
        let inspected = moderator.inspect(&inbox).unwrap();
        let verdicts: Vec<_> = inspected.messages.iter().map(|m| m.verdict).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Verified,
                Verdict::Rejected(Rejection::CommitmentMismatch),
                Verdict::Verified
            ]
        );
        assert_eq!(inspected.report_id, inbox.report_id);
        assert_eq!(inspected.reporter, bob());
        assert_eq!(inspected.conversation_with.as_str(), "carol");
        assert_eq!(inspected.group, None);
        assert!(inspected.post_quantum);
        assert_eq!(inspected.messages[0].body.as_bytes(), b"checked twice");
    }

    // Opening takes the same path and then counts: the repeat is a
    // duplicate, and the record says so.
    let mut audit = AuditLog::in_memory();
    let opened = moderator.open(&mut audit, "mo", &inbox, OPENED_AT).unwrap();
    let verdicts: Vec<_> = opened.messages.iter().map(|m| m.verdict).collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Verified,
            Verdict::Rejected(Rejection::CommitmentMismatch),
            Verdict::Duplicate
        ]
    );
    assert_eq!(
        opened.audit_record.outcome,
        AuditOutcome::Opened {
            verified: 1,
            duplicates: 1,
            rejected: 1
        }
    );
    // Inspecting after the opening still counts nothing.
    let again = moderator.inspect(&inbox).unwrap();
    assert_eq!(again.messages[2].verdict, Verdict::Verified);
    assert_eq!(verify_log(audit.memory()).unwrap().len(), 1);

    // A report that does not open is refused by inspect with the error
    // open records.
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let other = Moderator::new(
        ModerationSecretKey::generate(&mut rng, world.moderation_key_id),
        world.stamp_keys(),
    );
    assert_eq!(
        other.inspect(&inbox).unwrap_err(),
        ReportError::DecryptionFailed
    );
}
