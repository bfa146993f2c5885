//! The report benchmark's fixture and primitive floors, shared by
//! `benches/report.rs` (criterion, wall clock) and
//! `examples/report_costs.rs` (instruction counts), so that both measure
//! exactly the same work.

use std::hint::black_box;

use fuin_report::{ModerationPublicKey, ModerationSecretKey, Moderator, ReportBuilder, fuzzing};
use fuin_seal::ConversationId;
use fuin_seal::primitives::framing::Framer;
use fuin_seal::primitives::franking::{self, FrankedMessage, verify_hmac_sha256};
use fuin_seal::primitives::kdf::Label;
use fuin_seal::primitives::x25519::AgreementSecret;
use fuin_seal::primitives::{aead, sha256};
use fuin_wire::relay::{InboxReport, ReportId};
use fuin_wire::{FrameBody, SealedReport, StampKeyId, franking_stamp_input};
use rand_chacha::ChaCha20Rng;

/// A chat-sized body.
const BODY_LEN: usize = 140;
const STAMP_KEY: [u8; 32] = [0x5a; 32];
/// Lengths of the report's HKDF salt (its transcript) and associated data.
const SALT_LEN: usize = 97;
const AAD_LEN: usize = 61;

/// A report of `count` messages, sealed and waiting in the inbox, and what
/// the floors need.
pub struct Fixture {
    pub builder: ReportBuilder,
    pub moderator: Moderator,
    pub inbox: InboxReport<'static>,
    plaintext: Vec<u8>,
    salt: Vec<u8>,
    aad: Vec<u8>,
    moderation: AgreementSecret,
    ephemeral: AgreementSecret,
    sealed: Vec<u8>,
    record_len: usize,
}

pub fn fixture(rng: &mut ChaCha20Rng, count: usize) -> Fixture {
    let (reporter, identity, peer, mut messages, stamp_keys) = fuzzing::doc_example(rng).unwrap();
    let sender = messages[0].sender.clone();
    messages.clear();
    for i in 0..count {
        let body: Vec<u8> = (0..BODY_LEN).map(|j| b'a' + ((i + j) % 26) as u8).collect();
        messages.push(fuzzing::franked_message(
            rng,
            &sender,
            &reporter,
            &body,
            &STAMP_KEY,
            StampKeyId(1),
            1_794_999_990_000 + i as u64,
        ));
    }
    let builder = ReportBuilder::new(
        reporter.clone(),
        identity,
        peer,
        "spam",
        1_795_000_000_000,
        messages,
    )
    .unwrap();
    let moderator = Moderator::new(ModerationSecretKey::generate(rng, 1), stamp_keys);
    let frame = builder.seal(rng, &moderator.public_key()).unwrap();
    let inbox = InboxReport {
        report_id: ReportId([1; 16]),
        reporter,
        received_at_ms: 1_795_000_001_000,
        report: SealedReport::from_bytes(&frame).unwrap().into_owned(),
    };
    let plaintext = builder.content().to_bytes().unwrap().to_vec();
    let salt = vec![0u8; SALT_LEN];
    let aad = vec![0u8; AAD_LEN];
    let moderation = AgreementSecret::generate(rng);
    let ephemeral = AgreementSecret::generate(rng);
    let shared = ephemeral.agree(&moderation.public_key()).unwrap();
    let sealed = aead::seal(
        Label::ReportKeys,
        Some(&salt),
        shared.key_material(),
        &aad,
        &plaintext,
    );
    // The audit record's hash input: its fixed fields and, per counted
    // message, the reporter's user id and the commitment.
    let record_len =
        200 + builder.content().messages.len() * (4 + inbox.reporter.user.as_str().len() + 4 + 32);
    Fixture {
        builder,
        moderator,
        inbox,
        plaintext,
        salt,
        aad,
        moderation,
        ephemeral,
        sealed,
        record_len,
    }
}

impl Fixture {
    /// Sealing's floor: a fresh ephemeral key (secret and public), one
    /// agreement, and the committing AEAD (one HKDF, AES-256-GCM) over a
    /// plaintext of the report's length.
    pub fn seal_floor(&self, rng: &mut ChaCha20Rng, key: &ModerationPublicKey) {
        let ephemeral = AgreementSecret::generate(rng);
        let shared = ephemeral.agree(&key.key).unwrap();
        black_box(aead::seal(
            Label::ReportKeys,
            Some(&self.salt),
            shared.key_material(),
            &self.aad,
            &self.plaintext,
        ));
    }

    /// Opening's floor: one agreement, the committing AEAD's open, and per
    /// message the commitment HMAC and the stamp HMAC; once per report the
    /// conversation id and the audit record's hash (two SHA-256), the latter
    /// over an input of the record's real length.
    pub fn open_floor(&self) {
        let shared = self.moderation.agree(&self.ephemeral.public_key()).unwrap();
        let opened = aead::open(
            Label::ReportKeys,
            Some(&self.salt),
            shared.key_material(),
            &self.aad,
            &self.sealed,
        )
        .unwrap();
        let messages = &self.builder.content().messages;
        let conversation =
            ConversationId::direct(&self.inbox.reporter.user, &messages[0].sender.user);
        for message in messages {
            let franked = FrankedMessage {
                sender: &message.sender,
                conversation: &conversation,
                message_id: &message.message_id,
                content_type: message.content_type,
                body: message.body.as_bytes(),
            };
            franking::verify(
                message.franking_key.as_bytes(),
                &franked,
                &message.commitment,
            )
            .unwrap();
            let input = franking_stamp_input(
                &message.commitment,
                &message.sender,
                &message.recipient,
                message.server_time_ms,
                &message.server_message_id,
                message.stamp_key_id,
            );
            assert!(verify_hmac_sha256(&STAMP_KEY, &input, &message.stamp.0));
        }
        let record = Framer::new(Label::AuditRecord.as_bytes())
            .field(&vec![0u8; self.record_len])
            .finish();
        black_box((opened, sha256(&[&record])));
    }
}
