//! Writes the report vectors in `test-vectors/report/`: one report sealed
//! to a moderation key with a fixed ephemeral key, with every intermediate
//! value of the construction of `spec/report.md` §4 and the franking checks
//! of §6 (`sealed_report.json`, plaintext version 1), and one group report
//! (`sealed_group_report.json`, plaintext version 2, §12) of a message of a
//! real three-member group, stamped by the relay crate's own code, with the
//! group message's associated data and chain signature.
//!
//! Run `cargo run -p fuin-report --example report_vectors -- test-vectors/report`
//! after a deliberate change of the construction, and review the diff. The
//! test `reference` checks the file against fuin-report and against a second
//! implementation written directly on the crypto crates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::convert::Infallible;
use std::path::PathBuf;

use fuin_relay::franking::StampKeys;
use fuin_report::{
    GroupReportBuilder, GroupReportedMessage, ModerationSecretKey, ReportBuilder, ReportedMessage,
    fuzzing,
};
use fuin_seal::DeviceIdentity;
use fuin_seal::group::GroupState;
use fuin_seal::primitives::framing::Framer;
use fuin_seal::primitives::kdf::{self, Label};
use fuin_seal::primitives::x25519::AgreementSecret;
use fuin_seal::{ConversationId, primitives::franking};
use fuin_wire::{
    ContentType, DeliveredRecord, DeviceAddress, DeviceId, FrameBody, FrankingStamp, GroupMember,
    GroupMessage, MessageId, SealedReport, StampKeyId, UserId, franking_stamp_input,
};
use rand_core::{SeedableRng, TryCryptoRng, TryRng};
use serde_json::json;

/// An "RNG" that hands out fixed bytes, so that the ephemeral key is known.
struct FixedBytes(Vec<u8>);

impl TryRng for FixedBytes {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let taken: Vec<u8> = self.0.drain(..dst.len()).collect();
        dst.copy_from_slice(&taken);
        Ok(())
    }
}

impl TryCryptoRng for FixedBytes {}

fn main() {
    let dir: PathBuf = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "test-vectors/report".into())
        .into();
    std::fs::create_dir_all(&dir).unwrap();

    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2026);
    let (reporter, identity, peer, messages, _) = fuzzing::doc_example(&mut rng).unwrap();
    let stamp_key = [0x5a; 32];
    let builder = ReportBuilder::new(
        reporter,
        identity,
        peer,
        "spam",
        1_795_000_000_000,
        messages,
    )
    .unwrap();
    let plaintext = builder.content().to_bytes().unwrap();
    let message = &builder.content().messages[0];

    let moderation = ModerationSecretKey::generate(&mut rng, 7);
    let moderation_secret = moderation.to_bytes()[12..].to_vec();
    let moderation_public = moderation.public_key();
    let ephemeral_secret: [u8; 32] = std::array::from_fn(|i| 0xe0 ^ i as u8);
    let ephemeral = AgreementSecret::from_bytes(ephemeral_secret);
    let shared = ephemeral.agree(&moderation_public.key).unwrap();
    let transcript = Framer::new(Label::ReportTranscript.as_bytes())
        .u32(7)
        .field(ephemeral.public_key().as_bytes())
        .field(moderation_public.key.as_bytes())
        .finish();
    let aad = Framer::new(Label::ReportAssociatedData.as_bytes())
        .u32(7)
        .field(ephemeral.public_key().as_bytes())
        .finish();
    let derived: zeroize::Zeroizing<[u8; 76]> = kdf::derive(
        Label::ReportKeys,
        Some(&transcript),
        shared.key_material(),
        &[],
    );
    let frame = builder
        .seal(
            &mut FixedBytes(ephemeral_secret.to_vec()),
            &moderation_public,
        )
        .unwrap();
    let sealed = SealedReport::from_bytes(&frame).unwrap();
    assert_eq!(sealed.ephemeral_key, ephemeral.public_key());

    let conversation = ConversationId::direct(&message.sender.user, &message.recipient.user);
    let commitment = franking::commit(
        message.franking_key.as_bytes(),
        &franking::FrankedMessage {
            sender: &message.sender,
            conversation: &conversation,
            message_id: &message.message_id,
            content_type: message.content_type,
            body: message.body.as_bytes(),
        },
    )
    .unwrap();
    assert_eq!(commitment, message.commitment);
    let stamp_input = franking_stamp_input(
        &message.commitment,
        &message.sender,
        &message.recipient,
        message.server_time_ms,
        &message.server_message_id,
        message.stamp_key_id,
    );

    let vector = json!({
        "description": "One report (spec/report.md) sealed to moderation key id 7 with a fixed \
            ephemeral key, with every intermediate value, and the franking checks of its one \
            message. Byte strings are hex. Written by `cargo run -p fuin-report --example \
            report_vectors -- test-vectors/report`; checked by crates/fuin-report/tests/reference.rs.",
        "moderation_key_id": 7,
        "moderation_secret_key": hex::encode(&moderation_secret),
        "moderation_public_key": hex::encode(moderation_public.key.0),
        "ephemeral_secret_key": hex::encode(ephemeral_secret),
        "ephemeral_public_key": hex::encode(ephemeral.public_key().0),
        "shared_secret": hex::encode(shared.key_material()),
        "hkdf_salt": hex::encode(&transcript),
        "associated_data": hex::encode(&aad),
        "aead_key": hex::encode(&derived[..32]),
        "nonce": hex::encode(&derived[32..44]),
        "key_commitment": hex::encode(&derived[44..]),
        "plaintext": hex::encode(plaintext.as_slice()),
        "sealed_report_frame": hex::encode(&frame),
        "reporter": "bob/1",
        "received_at_ms": 1_795_000_001_000u64,
        "message": {
            "sender_user": message.sender.user.as_str(),
            "sender_device": message.sender.device.0,
            "recipient_user": message.recipient.user.as_str(),
            "recipient_device": message.recipient.device.0,
            "conversation_id": hex::encode(conversation.0),
            "message_id": hex::encode(message.message_id.0),
            "content_type": message.content_type.code(),
            "body": hex::encode(message.body.as_bytes()),
            "franking_key": hex::encode(message.franking_key.as_bytes()),
            "commitment": hex::encode(message.commitment.0),
            "stamp_key_id": message.stamp_key_id.0,
            "stamp_key": hex::encode(stamp_key),
            "stamp_input": hex::encode(&stamp_input),
            "stamp": hex::encode(message.stamp.0),
            "server_time_ms": message.server_time_ms,
            "server_message_id": hex::encode(message.server_message_id.0),
        },
    });
    let path = dir.join("sealed_report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&vector).unwrap() + "\n").unwrap();
    println!("wrote {}", path.display());
    group_vector(&dir);
}

fn address(user: &str, device: u32) -> DeviceAddress<'static> {
    DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(device))
}

/// The version-2 vector: alice's message in a group of alice, bob and
/// carol, as delivered to and reported by bob.
fn group_vector(dir: &std::path::Path) {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2027);
    let ids: Vec<_> = (0..3).map(|_| DeviceIdentity::generate(&mut rng)).collect();
    let (a, b, c) = (address("alice", 1), address("bob", 1), address("carol", 1));
    let member = |address: &DeviceAddress<'static>, id: &DeviceIdentity| GroupMember {
        address: address.clone(),
        identity: id.public().clone(),
    };
    let (mut alice, created) = GroupState::create(
        &mut rng,
        a.clone(),
        ids[0].public().clone(),
        vec![member(&b, &ids[1]), member(&c, &ids[2])],
    )
    .unwrap();
    let (mut bob, _) = GroupState::join(
        &mut rng,
        b.clone(),
        ids[1].public().clone(),
        (&a, ids[0].public()),
        &created.welcome,
    )
    .unwrap();
    bob.receive_distribution((&a, ids[0].public()), &created.distribution)
        .unwrap();

    let sent_at = 1_795_000_000_000u64;
    let sealed = alice
        .seal(
            &mut rng,
            ContentType::Text,
            b"meet me alone at the pier",
            sent_at,
        )
        .unwrap();
    let stamp_key_id = 3u32;
    let stamp_key = [0x5a; 32];
    let mut record = DeliveredRecord {
        envelope: sealed.envelope_for(&b),
        sender: a.clone(),
        server_time_ms: sent_at + 5,
        server_message_id: MessageId([0x33; 16]),
        franking_stamp: FrankingStamp([0; 32]),
        stamp_key_id: StampKeyId(stamp_key_id),
    };
    StampKeys::new(StampKeyId(stamp_key_id), stamp_key).stamp(&mut record);
    let opened = bob.open(&record, sent_at + 10).unwrap();
    let reported = GroupReportedMessage {
        message: ReportedMessage::from_opening(
            &opened.franking,
            opened.content.message_id,
            opened.content.content_type,
            opened.content.body.as_bytes(),
        ),
        sealed_body: record.envelope.sealed_body.clone(),
        membership_hash: opened.membership_hash,
        chain_signing_key: opened.sender_signing_key,
    };
    let builder = GroupReportBuilder::new(
        b.clone(),
        ids[1].public().clone(),
        *alice.group_id(),
        "threats",
        1_795_000_100_000,
        vec![reported],
    )
    .unwrap();
    let plaintext = builder.content().to_bytes().unwrap();
    let message = &builder.content().messages[0];

    let moderation = ModerationSecretKey::generate(&mut rng, 7);
    let moderation_secret = moderation.to_bytes()[12..].to_vec();
    let moderation_public = moderation.public_key();
    let ephemeral_secret: [u8; 32] = std::array::from_fn(|i| 0xd0 ^ i as u8);
    let ephemeral = AgreementSecret::from_bytes(ephemeral_secret);
    let frame = builder
        .seal(
            &mut FixedBytes(ephemeral_secret.to_vec()),
            &moderation_public,
        )
        .unwrap();

    let group_message = GroupMessage::from_bytes(message.sealed_body.as_bytes()).unwrap();
    let franked = &message.message;
    let conversation = ConversationId::group(alice.group_id());
    let mut framer = Framer::new(b"fuin/v1/group-message-ad");
    framer
        .field(&[fuin_seal::PROTOCOL_VERSION])
        .field(group_message.group_id.as_bytes())
        .u64(group_message.epoch)
        .field(&message.membership_hash.0)
        .field(franked.sender.user.as_str().as_bytes())
        .u32(franked.sender.device.0)
        .u32(group_message.iteration);
    match &group_message.view {
        Some(view) => framer.field(&view.0),
        None => framer.field(&[]),
    };
    let ad = framer
        .field(group_message.salt.as_bytes())
        .u32(2)
        .field(&franked.commitment.0)
        .finish();
    let stamp_input = franking_stamp_input(
        &franked.commitment,
        &franked.sender,
        &franked.recipient,
        franked.server_time_ms,
        &franked.server_message_id,
        franked.stamp_key_id,
    );

    let vector = json!({
        "description": "One group report (plaintext version 2, spec/report.md §12) sealed to \
            moderation key id 7 with a fixed ephemeral key: alice's message in a group of \
            alice, bob and carol, stamped for bob by the relay crate's code and reported by \
            bob, with its franking values on the group's conversation id and the chain \
            signature's associated data (groups.md §6.1). Byte strings are hex. Written by \
            `cargo run -p fuin-report --example report_vectors -- test-vectors/report`; \
            checked by crates/fuin-report/tests/reference.rs.",
        "moderation_key_id": 7,
        "moderation_secret_key": hex::encode(&moderation_secret),
        "moderation_public_key": hex::encode(moderation_public.key.0),
        "ephemeral_secret_key": hex::encode(ephemeral_secret),
        "ephemeral_public_key": hex::encode(ephemeral.public_key().0),
        "plaintext": hex::encode(plaintext.as_slice()),
        "sealed_report_frame": hex::encode(&frame),
        "reporter": "bob/1",
        "received_at_ms": 1_795_000_101_000u64,
        "group_id": hex::encode(alice.group_id().as_bytes()),
        "message": {
            "sender_user": franked.sender.user.as_str(),
            "sender_device": franked.sender.device.0,
            "recipient_user": franked.recipient.user.as_str(),
            "recipient_device": franked.recipient.device.0,
            "conversation_id": hex::encode(conversation.0),
            "message_id": hex::encode(franked.message_id.0),
            "content_type": franked.content_type.code(),
            "body": hex::encode(franked.body.as_bytes()),
            "franking_key": hex::encode(franked.franking_key.as_bytes()),
            "commitment": hex::encode(franked.commitment.0),
            "stamp_key_id": stamp_key_id,
            "stamp_key": hex::encode(stamp_key),
            "stamp_input": hex::encode(&stamp_input),
            "stamp": hex::encode(franked.stamp.0),
            "server_time_ms": franked.server_time_ms,
            "server_message_id": hex::encode(franked.server_message_id.0),
            "sealed_body": hex::encode(message.sealed_body.as_bytes()),
            "epoch": group_message.epoch,
            "iteration": group_message.iteration,
            "view": group_message.view.map(|v| hex::encode(v.0)),
            "salt": hex::encode(group_message.salt.0),
            "membership_hash": hex::encode(message.membership_hash.0),
            "chain_signing_key": hex::encode(message.chain_signing_key.0),
            "associated_data": hex::encode(&ad),
            "group_ciphertext": hex::encode(group_message.ciphertext.as_bytes()),
            "signature": hex::encode(group_message.signature.0),
        },
    });
    let path = dir.join("sealed_group_report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&vector).unwrap() + "\n").unwrap();
    println!("wrote {}", path.display());
}
