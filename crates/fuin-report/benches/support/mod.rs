//! The report benchmark's fixture and primitive floors, shared by
//! `benches/report.rs` (criterion, wall clock) and
//! `examples/report_costs.rs` (instruction counts), so that both measure
//! exactly the same work.

use std::hint::black_box;

use fuin_report::{ModerationPublicKey, ModerationSecretKey, Moderator, ReportBuilder, fuzzing};
use fuin_seal::ConversationId;
use fuin_seal::primitives::framing::Framer;
use fuin_seal::primitives::franking::{self, FrankedMessage, verify_hmac_sha256};
use fuin_seal::primitives::hybrid_kem::{HybridEncapsulation, HybridSecretKey};
use fuin_seal::primitives::kdf::Label;
use fuin_seal::primitives::x25519::AgreementSecret;
use fuin_seal::primitives::{aead, kem, sha256};
use fuin_wire::relay::{InboxEntry, InboxSealedReport, ReportId};
use fuin_wire::{FrameBody, HybridSealedReport, StampKeyId, franking_stamp_input};
use rand_chacha::ChaCha20Rng;

/// A chat-sized body.
const BODY_LEN: usize = 140;
const STAMP_KEY: [u8; 32] = [0x5a; 32];
/// Lengths of the hybrid report's HKDF salt (its transcript) and
/// associated data (`spec/report.md` §4.2).
const SALT_LEN: usize = 2396;
const AAD_LEN: usize = 1164;

/// A report of `count` messages, sealed and waiting in the inbox, and what
/// the floors need.
pub struct Fixture {
    pub builder: ReportBuilder,
    pub moderator: Moderator,
    pub inbox: InboxEntry<'static>,
    plaintext: Vec<u8>,
    salt: Vec<u8>,
    aad: Vec<u8>,
    moderation: HybridSecretKey,
    encapsulation: HybridEncapsulation,
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
    let frame = builder.seal(rng, &moderator.public_key().unwrap()).unwrap();
    let inbox = InboxEntry {
        report_id: ReportId([1; 16]),
        reporter,
        received_at_ms: 1_795_000_001_000,
        report: InboxSealedReport::Hybrid(
            HybridSealedReport::from_bytes(&frame).unwrap().into_owned(),
        ),
    };
    let plaintext = builder.content().to_bytes().unwrap().to_vec();
    let salt = vec![0u8; SALT_LEN];
    let aad = vec![0u8; AAD_LEN];
    let moderation = HybridSecretKey::generate(rng);
    let (encapsulation, km) =
        fuin_seal::primitives::hybrid_kem::encapsulate(rng, &moderation.public_key()).unwrap();
    let sealed = aead::seal(
        Label::HybridReportKeys,
        Some(&salt),
        km.as_slice(),
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
        encapsulation,
        sealed,
        record_len,
    }
}

impl Fixture {
    /// Sealing's floor: a fresh ephemeral key (secret and public), one
    /// agreement, one ML-KEM-768 encapsulation (with its key check), and the
    /// committing AEAD (one HKDF, AES-256-GCM) over a plaintext of the
    /// report's length.
    pub fn seal_floor(&self, rng: &mut ChaCha20Rng, key: &ModerationPublicKey) {
        let ephemeral = AgreementSecret::generate(rng);
        black_box(ephemeral.public_key());
        let shared = ephemeral.agree(&key.key.x25519).unwrap();
        let (ciphertext, secret) = kem::encapsulate(rng, &key.key.ml_kem).unwrap();
        black_box(&ciphertext);
        let mut km = [0u8; 64];
        km[..32].copy_from_slice(secret.expose());
        km[32..].copy_from_slice(shared.key_material());
        black_box(aead::seal(
            Label::HybridReportKeys,
            Some(&self.salt),
            &km,
            &self.aad,
            &self.plaintext,
        ));
    }

    /// Opening's floor: one agreement, the committing AEAD's open, and per
    /// message the commitment HMAC and the stamp HMAC; once per report the
    /// conversation id and the audit record's hash (two SHA-256), the latter
    /// over an input of the record's real length.
    pub fn open_floor(&self) {
        let km = self.moderation.decapsulate(&self.encapsulation).unwrap();
        let opened = aead::open(
            Label::HybridReportKeys,
            Some(&self.salt),
            km.as_slice(),
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
