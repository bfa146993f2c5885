//! Report sealing, and opening with verification, for 1, 10 and 50 messages,
//! each against the primitive floor: only the cryptographic calls the step
//! must make, through `fuin_seal::primitives`.
//!
//! `cargo bench -p fuin-report --bench report`; results in BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use fuin_report::{AuditLog, ModerationSecretKey, Moderator, ReportBuilder, Verdict, fuzzing};
use fuin_seal::ConversationId;
use fuin_seal::primitives::framing::Framer;
use fuin_seal::primitives::franking::{self, FrankedMessage, verify_hmac_sha256};
use fuin_seal::primitives::kdf::Label;
use fuin_seal::primitives::x25519::AgreementSecret;
use fuin_seal::primitives::{aead, sha256};
use fuin_wire::relay::{InboxReport, ReportId};
use fuin_wire::{FrameBody, SealedReport, StampKeyId, franking_stamp_input};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const SIZES: [usize; 3] = [1, 10, 50];
/// A chat-sized body.
const BODY_LEN: usize = 140;
const STAMP_KEY: [u8; 32] = [0x5a; 32];

struct Fixture {
    builder: ReportBuilder,
    moderator: Moderator,
    inbox: InboxReport<'static>,
    plaintext_len: usize,
}

fn fixture(rng: &mut ChaCha20Rng, count: usize) -> Fixture {
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
    let plaintext_len = builder.content().to_bytes().unwrap().len();
    Fixture {
        builder,
        moderator,
        inbox,
        plaintext_len,
    }
}

fn benches(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let fixtures: Vec<_> = SIZES.iter().map(|&n| (n, fixture(&mut rng, n))).collect();

    let mut group = c.benchmark_group("seal");
    for (n, fx) in &fixtures {
        let key = fx.moderator.public_key();
        group.bench_with_input(BenchmarkId::from_parameter(n), n, |b, _| {
            b.iter(|| black_box(fx.builder.seal(&mut rng, &key).unwrap()));
        });
    }
    group.finish();

    // Sealing's floor: a fresh ephemeral key (secret and public), one
    // agreement, and the committing AEAD (one HKDF, AES-256-GCM) over a
    // plaintext of the report's length.
    let mut group = c.benchmark_group("seal_floor");
    for (n, fx) in &fixtures {
        let key = fx.moderator.public_key();
        let plaintext = vec![0x61u8; fx.plaintext_len];
        let salt = vec![0u8; 97];
        let aad = vec![0u8; 61];
        group.bench_with_input(BenchmarkId::from_parameter(n), n, |b, _| {
            b.iter(|| {
                let ephemeral = AgreementSecret::generate(&mut rng);
                let shared = ephemeral.agree(&key.key).unwrap();
                black_box(aead::seal(
                    Label::ReportKeys,
                    Some(&salt),
                    shared.key_material(),
                    &aad,
                    &plaintext,
                ))
            });
        });
    }
    group.finish();

    // Opening: decrypt, decode, check every message, append the audit
    // record (to a fresh in-memory log each time, made outside the timing).
    let mut group = c.benchmark_group("open_verify");
    for (n, fx) in &fixtures {
        group.bench_with_input(BenchmarkId::from_parameter(n), n, |b, _| {
            b.iter_batched(
                AuditLog::in_memory,
                |mut audit| {
                    let report = fx
                        .moderator
                        .open(&mut audit, "mo", &fx.inbox, 1_795_000_002_000)
                        .unwrap();
                    debug_assert!(
                        report
                            .messages
                            .iter()
                            .all(|m| m.verdict == Verdict::Verified)
                    );
                    black_box(report)
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();

    // Opening's floor: one agreement, the committing AEAD's open, and per
    // message the commitment HMAC and the stamp HMAC; once per report the
    // conversation id and the audit record's hash (two SHA-256), the latter
    // over an input of the record's real length (its fixed fields and, per
    // counted message, the reporter's user id and the commitment).
    let mut group = c.benchmark_group("open_floor");
    for (n, fx) in &fixtures {
        let moderation = AgreementSecret::generate(&mut rng);
        let ephemeral = AgreementSecret::generate(&mut rng);
        let salt = vec![0u8; 97];
        let aad = vec![0u8; 61];
        let shared = ephemeral.agree(&moderation.public_key()).unwrap();
        let plaintext = fx.builder.content().to_bytes().unwrap();
        let sealed = aead::seal(
            Label::ReportKeys,
            Some(&salt),
            shared.key_material(),
            &aad,
            &plaintext,
        );
        let messages = &fx.builder.content().messages;
        let reporter = &fx.inbox.reporter;
        let record_len = 200 + messages.len() * (4 + reporter.user.as_str().len() + 4 + 32);
        group.bench_with_input(BenchmarkId::from_parameter(n), n, |b, _| {
            b.iter(|| {
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
                black_box((opened, sha256(&[&record])))
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = report;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .without_plots();
    targets = benches
}
criterion_main!(report);
