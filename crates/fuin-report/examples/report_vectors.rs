//! Writes the report vector in `test-vectors/report/`: one report sealed to
//! a moderation key with a fixed ephemeral key, with every intermediate
//! value of the construction of `spec/report.md` §4 and the franking checks
//! of §6.
//!
//! Run `cargo run -p fuin-report --example report_vectors -- test-vectors/report`
//! after a deliberate change of the construction, and review the diff. The
//! test `reference` checks the file against fuin-report and against a second
//! implementation written directly on the crypto crates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::convert::Infallible;
use std::path::PathBuf;

use fuin_report::{ModerationSecretKey, ReportBuilder, fuzzing};
use fuin_seal::primitives::framing::Framer;
use fuin_seal::primitives::kdf::{self, Label};
use fuin_seal::primitives::x25519::AgreementSecret;
use fuin_seal::{ConversationId, primitives::franking};
use fuin_wire::{FrameBody, SealedReport, franking_stamp_input};
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
}
