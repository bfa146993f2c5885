//! Writes seed inputs for the report fuzz targets into `fuzz/corpus/`:
//! valid and nearly valid report plaintexts (`report_content`), and audit
//! logs and key files (`moderation_files`). File names are the first 20
//! bytes of each seed's SHA-256, in hex.
//!
//! Run `cargo run -p fuin-report --example fuzz_seeds -- fuzz/corpus`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::{Path, PathBuf};

use fuin_report::{
    AuditLog, FrankingKeyBytes, ModerationSecretKey, Moderator, ReportBuilder, fuzzing,
};
use fuin_wire::relay::{InboxEntry, InboxSealedReport, ReportId};
use fuin_wire::{FrameBody, HybridSealedReport};
use rand_core::SeedableRng;

fn write(dir: &Path, seed: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    let name = hex::encode(&fuin_seal::primitives::sha256(&[seed])[..20]);
    std::fs::write(dir.join(name), seed).unwrap();
}

fn main() {
    let root: PathBuf = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into())
        .into();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let (reporter, identity, peer, messages, stamp_keys) = fuzzing::doc_example(&mut rng).unwrap();
    let stamp_key = [0x5a; 32];

    // report_content
    let content_dir = root.join("report_content");
    let one = ReportBuilder::new(
        reporter.clone(),
        identity.clone(),
        peer.clone(),
        "spam",
        1_795_000_000_000,
        messages.clone(),
    )
    .unwrap();
    let one_bytes = one.content().to_bytes().unwrap();
    write(&content_dir, &one_bytes);
    let mut three = messages.clone();
    for (len, body) in [(31, &b"short key"[..]), (64, "multi-byte é 𝔣".as_bytes())] {
        let mut message = fuzzing::franked_message(
            &mut rng,
            &three[0].sender,
            &reporter,
            body,
            &stamp_key,
            fuin_wire::StampKeyId(1),
            1_794_999_999_000,
        );
        message.franking_key = FrankingKeyBytes::new(&vec![0x33; len]);
        three.push(message);
    }
    let three = ReportBuilder::new(
        reporter.clone(),
        identity,
        peer,
        "several\nlines\tof reason",
        u64::MAX,
        three,
    )
    .unwrap();
    let three_bytes = three.content().to_bytes().unwrap();
    write(&content_dir, &three_bytes);
    write(&content_dir, &[]);
    write(&content_dir, &[1]);
    let mut other_version = one_bytes.to_vec();
    other_version[0] = 2;
    write(&content_dir, &other_version);
    write(&content_dir, &one_bytes[..one_bytes.len() / 2]);

    // moderation_files
    let files_dir = root.join("moderation_files");
    let key = ModerationSecretKey::generate(&mut rng, 3);
    write(&files_dir, &key.to_bytes());
    write(&files_dir, key.public_key().unwrap().to_text().as_bytes());
    let moderator = Moderator::new(key, stamp_keys);
    let mut audit = AuditLog::in_memory();
    let frame = one
        .seal(&mut rng, &moderator.public_key().unwrap())
        .unwrap();
    let inbox = InboxEntry {
        report_id: ReportId([9; 16]),
        reporter: reporter.clone(),
        received_at_ms: 1_795_000_001_000,
        report: InboxSealedReport::Hybrid(HybridSealedReport::from_bytes(&frame).unwrap()),
    };
    moderator.open(&mut audit, "mo", &inbox, 1).unwrap();
    moderator
        .open(&mut audit, "another moderator", &inbox, 2)
        .unwrap();
    let mut tampered = inbox.clone();
    if let InboxSealedReport::Hybrid(report) = &mut tampered.report {
        report.moderation_key_id = 4;
    }
    let _ = moderator.open(&mut audit, "mo", &tampered, 3);
    let log = audit.memory().to_vec();
    write(&files_dir, &log);
    let first_line = log.iter().position(|&b| b == b'\n').unwrap() + 1;
    write(&files_dir, &log[..first_line]);
    write(&files_dir, &log[first_line..]);
    write(&files_dir, &[]);
    println!("wrote seeds under {}", root.display());
}
