//! Writes the report vectors in `test-vectors/report/`: one report sealed
//! with the hybrid KEM to a moderation key from recorded seeds and
//! randomness, with every intermediate value of the construction of
//! `spec/report.md` §4.1-§4.2 and the franking checks of §6
//! (`sealed_report.json`, plaintext version 1); the same report sealed in
//! the X25519 form of before protocol version 3 (§4.3,
//! `sealed_report_before_v3.json`); and one group report
//! (`sealed_group_report.json`, plaintext version 2, §12) of a message of a
//! real three-member group, stamped by the relay crate's own code, with the
//! group message's associated data and chain signature.
//!
//! Run `cargo run -p fuin-report --example report_vectors -- test-vectors/report`
//! after a deliberate change of the construction, and review the diff. The
//! test `reference` checks the file against fuin-report and against a second
//! implementation written directly on the crypto crates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
#![recursion_limit = "256"]

use std::convert::Infallible;
use std::path::PathBuf;

use fuin_relay::franking::StampKeys;
use fuin_report::{
    GroupReportBuilder, GroupReportedMessage, ModerationSecretKey, ReportBuilder, ReportedMessage,
    fuzzing, sealing,
};
use fuin_seal::DeviceIdentity;
use fuin_seal::group::GroupState;
use fuin_seal::primitives::framing::Framer;
use fuin_seal::primitives::hybrid_kem;
use fuin_seal::primitives::kdf::{self, Label};
use fuin_seal::primitives::x25519::AgreementSecret;
use fuin_seal::{ConversationId, primitives::franking};
use fuin_wire::{
    ContentType, DeliveredRecord, DeviceAddress, DeviceId, FrameBody, FrankingStamp, GroupMember,
    GroupMessage, HybridSealedReport, MessageId, StampKeyId, UserId, franking_stamp_input,
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

    // The hybrid key: its X25519 secret is drawn first, so it is the key of
    // the vector of before protocol version 3 (same seed), then the ML-KEM
    // seed d || z.
    let moderation = ModerationSecretKey::generate(&mut rng, 7);
    let stored = moderation.to_bytes();
    let x25519_secret = stored[12..44].to_vec();
    let ml_kem_seed = stored[44..].to_vec();
    let moderation_public = moderation.public_key().unwrap();

    // The same report sealed before protocol version 3 (report.md §4.3).
    let old_ephemeral_secret: [u8; 32] = std::array::from_fn(|i| 0xe0 ^ i as u8);
    let old_ephemeral = AgreementSecret::from_bytes(old_ephemeral_secret);
    let old_shared = old_ephemeral
        .agree(&moderation.x25519_public_key())
        .unwrap();
    let old_transcript = sealing::transcript_before_v3(
        7,
        &old_ephemeral.public_key(),
        &moderation.x25519_public_key(),
    );
    let old_aad = sealing::associated_data_before_v3(7, &old_ephemeral.public_key());
    let old_derived: zeroize::Zeroizing<[u8; 76]> = kdf::derive(
        Label::ReportKeys,
        Some(&old_transcript),
        old_shared.key_material(),
        &[],
    );
    let old_frame = sealing::seal_before_v3(
        7,
        &moderation.x25519_public_key(),
        old_ephemeral_secret,
        &plaintext,
    )
    .unwrap()
    .to_bytes()
    .unwrap();

    // The hybrid sealing (report.md §4.1-§4.2) from recorded randomness.
    let ephemeral_secret: [u8; 32] = std::array::from_fn(|i| 0xa0 ^ i as u8);
    let kem_randomness: [u8; 32] = std::array::from_fn(|i| 0xb0 ^ i as u8);
    let (encapsulation, km) =
        hybrid_kem::encapsulate_with(&moderation_public.key, ephemeral_secret, &kem_randomness)
            .unwrap();
    let transcript = sealing::transcript(7, &moderation_public.key, &encapsulation);
    let aad = sealing::associated_data(7, &encapsulation);
    let derived: zeroize::Zeroizing<[u8; 76]> = kdf::derive(
        Label::HybridReportKeys,
        Some(&transcript),
        km.as_slice(),
        &[],
    );
    let frame = builder
        .seal(
            &mut FixedBytes([ephemeral_secret, kem_randomness].concat()),
            &moderation_public,
        )
        .unwrap();
    let sealed = HybridSealedReport::from_bytes(&frame).unwrap();
    assert_eq!(sealed.ephemeral_key, encapsulation.ephemeral);
    assert_eq!(sealed.kem_ciphertext, encapsulation.ciphertext);

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

    let message_json = json!({
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
    });
    let vector = json!({
        "description": "One report (spec/report.md) sealed with the hybrid KEM (§4.1-§4.2) to \
            moderation key id 7, the key from recorded seeds (X25519 private key, ML-KEM-768 \
            seed d || z) and the encapsulation from recorded randomness (the ephemeral X25519 \
            key, then the ML-KEM randomness m), with every intermediate value, and the franking \
            checks of its one message. Byte strings are hex. Written by `cargo run -p \
            fuin-report --example report_vectors -- test-vectors/report`; checked by \
            crates/fuin-report/tests/vectors.rs and by the second implementation in \
            tests/reference.rs (on x25519-dalek, ml-kem, hkdf, aes-gcm).",
        "moderation_key_id": 7,
        "moderation_x25519_secret_key": hex::encode(&x25519_secret),
        "moderation_ml_kem_seed": hex::encode(&ml_kem_seed),
        "moderation_x25519_public_key": hex::encode(moderation_public.key.x25519.0),
        "moderation_ml_kem_public_key": hex::encode(moderation_public.key.ml_kem.as_bytes()),
        "ephemeral_secret_key": hex::encode(ephemeral_secret),
        "ephemeral_public_key": hex::encode(encapsulation.ephemeral.0),
        "kem_randomness": hex::encode(kem_randomness),
        "kem_ciphertext": hex::encode(encapsulation.ciphertext.as_bytes()),
        "kem_shared_secret": hex::encode(&km[..32]),
        "dh_output": hex::encode(&km[32..]),
        "key_material": hex::encode(km.as_slice()),
        "hkdf_salt": hex::encode(&transcript),
        "associated_data": hex::encode(&aad),
        "aead_key": hex::encode(&derived[..32]),
        "nonce": hex::encode(&derived[32..44]),
        "key_commitment": hex::encode(&derived[44..]),
        "plaintext": hex::encode(plaintext.as_slice()),
        "hybrid_sealed_report_frame": hex::encode(&frame),
        "reporter": "bob/1",
        "received_at_ms": 1_795_000_001_000u64,
        "message": message_json,
    });
    let path = dir.join("sealed_report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&vector).unwrap() + "\n").unwrap();
    println!("wrote {}", path.display());

    let old_vector = json!({
        "description": "One report (spec/report.md) sealed before protocol version 3, in the \
            X25519 form of §4.3, to moderation key id 7 with a fixed ephemeral key, with every \
            intermediate value, and the franking checks of its one message. The moderation \
            key is the X25519 half of the hybrid key of sealed_report.json. Byte strings are \
            hex. Written by `cargo run -p fuin-report --example report_vectors -- \
            test-vectors/report`; checked by crates/fuin-report/tests/reference.rs.",
        "moderation_key_id": 7,
        "moderation_secret_key": hex::encode(&x25519_secret),
        "moderation_public_key": hex::encode(moderation.x25519_public_key().0),
        "ephemeral_secret_key": hex::encode(old_ephemeral_secret),
        "ephemeral_public_key": hex::encode(old_ephemeral.public_key().0),
        "shared_secret": hex::encode(old_shared.key_material()),
        "hkdf_salt": hex::encode(&old_transcript),
        "associated_data": hex::encode(&old_aad),
        "aead_key": hex::encode(&old_derived[..32]),
        "nonce": hex::encode(&old_derived[32..44]),
        "key_commitment": hex::encode(&old_derived[44..]),
        "plaintext": hex::encode(plaintext.as_slice()),
        "sealed_report_frame": hex::encode(&old_frame),
        "reporter": "bob/1",
        "received_at_ms": 1_795_000_001_000u64,
        "message": message_json,
    });
    let path = dir.join("sealed_report_before_v3.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&old_vector).unwrap() + "\n",
    )
    .unwrap();
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
    let stored = moderation.to_bytes();
    let moderation_public = moderation.public_key().unwrap();
    let ephemeral_secret: [u8; 32] = std::array::from_fn(|i| 0xd0 ^ i as u8);
    let kem_randomness: [u8; 32] = std::array::from_fn(|i| 0xc0 ^ i as u8);
    let (encapsulation, _) =
        hybrid_kem::encapsulate_with(&moderation_public.key, ephemeral_secret, &kem_randomness)
            .unwrap();
    let frame = builder
        .seal(
            &mut FixedBytes([ephemeral_secret, kem_randomness].concat()),
            &moderation_public,
        )
        .unwrap();

    let group_message = GroupMessage::from_bytes(message.sealed_body.as_bytes()).unwrap();
    let franked = &message.message;
    let conversation = ConversationId::group(alice.group_id());
    let mut framer = Framer::new(b"fuin/v1/group-message-ad");
    framer
        .field(&[fuin_seal::GROUP_PROTOCOL_VERSION])
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
        "description": "One group report (plaintext version 2, spec/report.md §12) sealed with \
            the hybrid KEM to moderation key id 7 from recorded seeds and randomness: alice's message in a group of \
            alice, bob and carol, stamped for bob by the relay crate's code and reported by \
            bob, with its franking values on the group's conversation id and the chain \
            signature's associated data (groups.md §6.1). Byte strings are hex. Written by \
            `cargo run -p fuin-report --example report_vectors -- test-vectors/report`; \
            checked by crates/fuin-report/tests/reference.rs.",
        "moderation_key_id": 7,
        "moderation_x25519_secret_key": hex::encode(&stored[12..44]),
        "moderation_ml_kem_seed": hex::encode(&stored[44..]),
        "moderation_x25519_public_key": hex::encode(moderation_public.key.x25519.0),
        "moderation_ml_kem_public_key": hex::encode(moderation_public.key.ml_kem.as_bytes()),
        "ephemeral_secret_key": hex::encode(ephemeral_secret),
        "ephemeral_public_key": hex::encode(encapsulation.ephemeral.0),
        "kem_randomness": hex::encode(kem_randomness),
        "kem_ciphertext": hex::encode(encapsulation.ciphertext.as_bytes()),
        "plaintext": hex::encode(plaintext.as_slice()),
        "hybrid_sealed_report_frame": hex::encode(&frame),
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
