//! Replays the checked-in corpora of the report fuzz targets through the
//! same checks the targets make, so a crash found once stays fixed without
//! running the fuzzer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("fuzz corpus {} is missing: {err}", dir.display()));
    let files: Vec<_> = entries
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    assert!(!files.is_empty(), "fuzz corpus {} is empty", dir.display());
    files
}

#[test]
fn report_content_corpus_holds_the_round_trip_property() {
    let files = corpus("report_content");
    let mut decoded = 0;
    for (path, bytes) in &files {
        if let Some(violation) = fuin_report::fuzzing::content_violation(bytes) {
            panic!("{}: {violation}", path.display());
        }
        decoded += usize::from(fuin_report::ReportContent::from_bytes(bytes).is_ok());
    }
    // The seeds include valid reports.
    assert!(decoded > 0, "no corpus input decodes");
}

#[test]
fn moderation_files_corpus_holds_its_properties() {
    let files = corpus("moderation_files");
    let (mut logs, mut keys) = (0, 0);
    for (path, bytes) in &files {
        if let Some(violation) = fuin_report::fuzzing::files_violation(bytes) {
            panic!("{}: {violation}", path.display());
        }
        logs +=
            usize::from(fuin_report::verify_log(bytes).is_ok_and(|records| !records.is_empty()));
        keys += usize::from(fuin_report::ModerationSecretKey::from_bytes(bytes).is_ok());
    }
    // The seeds include an intact log with records and a key file.
    assert!(logs > 0 && keys > 0, "logs {logs}, keys {keys}");
}
