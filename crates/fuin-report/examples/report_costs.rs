//! Runs one operation of the report benchmark a given number of times, for
//! counting instructions with a tool that does not depend on the machine's
//! load (BENCHMARKS.md):
//!
//! ```sh
//! cargo build --release -p fuin-report --example report_costs
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/report_costs open_verify 50 200
//! ```
//!
//! Operations: `seal`, `seal_floor`, `open_verify`, `open_floor` (as in
//! `benches/report.rs`). With 0 iterations it only builds the fixture, whose
//! count is subtracted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::hint::black_box;

use fuin_report::{AuditLog, ModerationSecretKey, Moderator, ReportBuilder, fuzzing};
use fuin_seal::ConversationId;
use fuin_seal::primitives::framing::Framer;
use fuin_seal::primitives::franking::{self, FrankedMessage, verify_hmac_sha256};
use fuin_seal::primitives::kdf::Label;
use fuin_seal::primitives::x25519::AgreementSecret;
use fuin_seal::primitives::{aead, sha256};
use fuin_wire::relay::{InboxReport, ReportId};
use fuin_wire::{FrameBody, SealedReport, StampKeyId, franking_stamp_input};
use rand_core::SeedableRng;

const BODY_LEN: usize = 140;
const STAMP_KEY: [u8; 32] = [0x5a; 32];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let op = args.get(1).map_or("open_verify", String::as_str).to_owned();
    let count: usize = args.get(2).map_or(1, |n| n.parse().unwrap());
    let iterations: usize = args.get(3).map_or(100, |n| n.parse().unwrap());

    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let (reporter, identity, peer, mut messages, stamp_keys) =
        fuzzing::doc_example(&mut rng).unwrap();
    let sender = messages[0].sender.clone();
    messages.clear();
    for i in 0..count {
        let body: Vec<u8> = (0..BODY_LEN).map(|j| b'a' + ((i + j) % 26) as u8).collect();
        messages.push(fuzzing::franked_message(
            &mut rng,
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
    let moderator = Moderator::new(ModerationSecretKey::generate(&mut rng, 1), stamp_keys);
    let key = moderator.public_key();
    let frame = builder.seal(&mut rng, &key).unwrap();
    let inbox = InboxReport {
        report_id: ReportId([1; 16]),
        reporter: reporter.clone(),
        received_at_ms: 1_795_000_001_000,
        report: SealedReport::from_bytes(&frame).unwrap().into_owned(),
    };
    let plaintext = builder.content().to_bytes().unwrap();
    let salt = vec![0u8; 97];
    let aad = vec![0u8; 61];
    let moderation = AgreementSecret::generate(&mut rng);
    let ephemeral = AgreementSecret::generate(&mut rng);
    let shared = ephemeral.agree(&moderation.public_key()).unwrap();
    let sealed = aead::seal(
        Label::ReportKeys,
        Some(&salt),
        shared.key_material(),
        &aad,
        &plaintext,
    );
    let messages = &builder.content().messages;
    let record_len = 200 + messages.len() * (4 + reporter.user.as_str().len() + 4 + 32);

    for _ in 0..iterations {
        match op.as_str() {
            "seal" => {
                black_box(builder.seal(&mut rng, &key).unwrap());
            }
            "seal_floor" => {
                let ephemeral = AgreementSecret::generate(&mut rng);
                let shared = ephemeral.agree(&key.key).unwrap();
                black_box(aead::seal(
                    Label::ReportKeys,
                    Some(&salt),
                    shared.key_material(),
                    &aad,
                    &plaintext,
                ));
            }
            "open_verify" => {
                let mut audit = AuditLog::in_memory();
                black_box(moderator.open(&mut audit, "mo", &inbox, 1).unwrap());
            }
            "open_floor" => {
                let shared = moderation.agree(&ephemeral.public_key()).unwrap();
                let opened = aead::open(
                    Label::ReportKeys,
                    Some(&salt),
                    shared.key_material(),
                    &aad,
                    &sealed,
                )
                .unwrap();
                let conversation = ConversationId::direct(&reporter.user, &messages[0].sender.user);
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
                    .field(&vec![0u8; record_len])
                    .finish();
                black_box((opened, sha256(&[&record])));
            }
            other => panic!("unknown operation {other}"),
        }
    }
    println!("{op} {count} x{iterations}");
}
