#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Replays every checked-in corpus file of the fuin-seal fuzz targets
//! (`saved_state`, `storage_open`, `session_open`, `link_code`) through the same checks
//! the targets make, so a crash found once stays fixed without running the
//! fuzzer. The checks live in `fuzz/checks/seal_checks.rs`, which the targets
//! include too; a missing or empty corpus folder fails, never skips.

use std::path::{Path, PathBuf};

mod seal_checks {
    include!("../../../fuzz/checks/seal_checks.rs");
}

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
fn saved_state_corpus_holds_the_round_trip_property() {
    let mut accepted = Vec::new();
    for (path, bytes) in corpus("saved_state") {
        match seal_checks::saved_state(&bytes) {
            Ok(decoders) => accepted.extend(decoders),
            Err(violation) => panic!("{}: {violation}", path.display()),
        }
    }
    // The seeds include a saved state of each kind, and the format is pinned.
    for decoder in ["Session", "DeviceIdentity", "PrekeyStore", "GroupState"] {
        assert!(
            accepted.contains(&decoder),
            "no corpus input decodes as a {decoder}"
        );
    }
}

#[test]
fn storage_open_corpus_returns_and_round_trips() {
    let mut opened = 0;
    for (path, bytes) in corpus("storage_open") {
        match seal_checks::storage_open(&bytes) {
            Ok(true) => opened += 1,
            Ok(false) => {}
            Err(violation) => panic!("{}: {violation}", path.display()),
        }
    }
    // The seeds include values sealed with the target's key and context.
    assert!(opened > 0, "no corpus input opens");
}

#[test]
fn session_open_corpus_returns_and_leaves_the_state_unchanged() {
    // Seeds made from genuine messages open only while the protocol and the
    // fixture's randomness stay as they were, so nothing is asserted about
    // opening here (see the next test).
    for (path, bytes) in corpus("session_open") {
        if let Err(violation) = seal_checks::session_open(&bytes) {
            panic!("{}: {violation}", path.display());
        }
    }
}

#[test]
fn genuine_messages_pass_through_the_session_open_check() {
    let fixture = seal_checks::session_fixture();
    let outcomes: Vec<_> = (0..fixture.genuine.len())
        .map(|index| seal_checks::session_open(&fixture.genuine_input(index)).unwrap())
        .collect();
    let outcome = |opened, responded| seal_checks::SessionOutcome { opened, responded };
    assert_eq!(
        outcomes,
        [
            // The first message, answered already: a replay to the session,
            // but a fresh `respond` with the prekeys from before accepts it.
            outcome(false, true),
            outcome(true, false),
            outcome(true, false),
        ]
    );
}

#[test]
fn every_byte_of_a_genuine_envelope_is_authenticated() {
    let fixture = seal_checks::session_fixture();
    for (which, envelope) in fixture.genuine.iter().enumerate() {
        let len = fuin_wire::FrameBody::to_bytes(envelope).unwrap().len();
        for position in 0..u16::try_from(len).unwrap() {
            for mask in [0x01, 0x80] {
                let [low, high] = position.to_le_bytes();
                let input = [0, u8::try_from(which).unwrap(), low, high, mask];
                if let Err(violation) = seal_checks::session_open(&input) {
                    panic!("{violation}");
                }
            }
        }
    }
}

#[test]
fn link_code_corpus_returns_and_reads_back() {
    let mut codes = 0;
    for (path, bytes) in corpus("link_code") {
        match seal_checks::link_code(&bytes) {
            Ok(true) => codes += 1,
            Ok(false) => {}
            Err(violation) => panic!("{}: {violation}", path.display()),
        }
    }
    // The seeds include codes in both forms, with and without separators.
    assert!(codes >= 4, "only {codes} corpus inputs read as codes");
}
