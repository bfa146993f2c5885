//! Replays every checked-in fuzz corpus file through the same checks the fuzz
//! targets make, so a crash found once stays fixed without running the fuzzer.
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
fn decode_frame_corpus_replays_without_panic() {
    let files = corpus("decode_frame");
    let decoded = files
        .iter()
        .filter(|(_, bytes)| fuin_wire::fuzzing::decode_any(bytes))
        .count();
    // The seeds include every golden frame, so some inputs must decode.
    assert!(decoded > 0, "no corpus input decodes");
}

#[test]
fn round_trip_corpus_holds_the_round_trip_property() {
    for (path, bytes) in corpus("round_trip") {
        if let Some(violation) = fuin_wire::fuzzing::round_trip_violation(&bytes) {
            panic!("{}: {violation}", path.display());
        }
    }
}

#[test]
fn decode_frame_corpus_also_holds_the_round_trip_property() {
    for (path, bytes) in corpus("decode_frame") {
        assert_eq!(
            fuin_wire::fuzzing::round_trip_violation(&bytes),
            None,
            "{}",
            path.display()
        );
    }
}

#[test]
fn receipt_body_corpus_holds_the_round_trip_property() {
    let files = corpus("receipt_body");
    let mut decoded = 0;
    for (path, bytes) in &files {
        if let Some(violation) = fuin_wire::fuzzing::receipt_violation(bytes) {
            panic!("{}: {violation}", path.display());
        }
        decoded += usize::from(fuin_wire::receipt::ReceiptBody::from_bytes(bytes).is_ok());
    }
    // The seeds include valid receipts.
    assert!(decoded > 0, "no corpus input decodes");
}

#[test]
fn attachment_reference_corpus_holds_the_round_trip_property() {
    let files = corpus("attachment_reference");
    let mut decoded = 0;
    for (path, bytes) in &files {
        if let Some(violation) = fuin_wire::fuzzing::attachment_reference_violation(bytes) {
            panic!("{}: {violation}", path.display());
        }
        decoded +=
            usize::from(fuin_wire::attachment::AttachmentReference::from_bytes(bytes).is_ok());
    }
    // The seeds include the golden references.
    assert!(decoded >= 2, "the golden references do not decode");
}

#[test]
fn attachment_share_corpus_holds_the_round_trip_property() {
    let files = corpus("attachment_share");
    let mut decoded = 0;
    for (path, bytes) in &files {
        if let Some(violation) = fuin_wire::fuzzing::attachment_share_violation(bytes) {
            panic!("{}: {violation}", path.display());
        }
        decoded += usize::from(fuin_wire::attachment::AttachmentShare::from_bytes(bytes).is_ok());
    }
    assert!(decoded >= 2, "the corpus holds valid shares");
}

#[test]
fn identifier_share_corpus_holds_the_round_trip_property() {
    let files = corpus("identifier_share");
    let mut decoded = 0;
    for (path, bytes) in &files {
        if let Some(violation) = fuin_wire::fuzzing::identifier_share_violation(bytes) {
            panic!("{}: {violation}", path.display());
        }
        decoded +=
            usize::from(fuin_wire::identifier::IdentifierSecretShare::from_bytes(bytes).is_ok());
    }
    // The seeds include valid shares (the smallest and the largest).
    assert!(decoded >= 2, "the corpus holds valid shares");
}

#[test]
fn sender_key_request_corpus_holds_the_round_trip_property() {
    let files = corpus("sender_key_request");
    let mut decoded = 0;
    for (path, bytes) in &files {
        if let Some(violation) = fuin_wire::fuzzing::sender_key_request_violation(bytes) {
            panic!("{}: {violation}", path.display());
        }
        decoded += usize::from(fuin_wire::key_request::SenderKeyRequest::from_bytes(bytes).is_ok());
    }
    // The seeds include valid requests (the smallest and the largest epoch).
    assert!(decoded >= 2, "the corpus holds valid requests");
}

#[test]
fn typed_content_corpus_holds_the_round_trip_property() {
    let files = corpus("typed_content");
    let mut decoded = 0;
    for (path, bytes) in &files {
        if let Some(violation) = fuin_wire::fuzzing::typed_content_violation(bytes) {
            panic!("{}: {violation}", path.display());
        }
        decoded += usize::from(fuin_wire::content::TypedContent::from_bytes(bytes).is_ok());
    }
    // The seeds include a valid body of every built-in type and an app's.
    assert!(decoded >= 10, "the corpus holds valid typed bodies");
}
