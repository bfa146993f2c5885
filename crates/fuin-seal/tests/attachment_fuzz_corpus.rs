//! Replays the checked-in corpus of the `attachment_open` fuzz target
//! through the check the target makes (`fuzz/checks/attachment_checks.rs`),
//! so that a crash found once stays fixed without running the fuzzer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

mod attachment_checks {
    include!("../../../fuzz/checks/attachment_checks.rs");
}

#[test]
fn attachment_open_corpus_holds_its_properties() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/attachment_open");
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("fuzz corpus {} is missing: {err}", dir.display()));
    let mut opened = 0;
    let mut files = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        files += 1;
        match attachment_checks::attachment_open(&bytes) {
            Ok(true) => opened += 1,
            Ok(false) => {}
            Err(violation) => panic!("{}: {violation}", path.display()),
        }
    }
    assert!(files > 1, "fuzz corpus {} is empty", dir.display());
    // The seeds include the fixture object itself, so they track its format.
    assert_eq!(opened, 1, "exactly the fixture's own bytes open");
}

#[test]
fn the_check_catches_what_it_is_for() {
    let (_, blob) = attachment_checks::fixture();
    assert_eq!(attachment_checks::attachment_open(blob), Ok(true));
    let mut cut = blob.clone();
    cut.truncate(blob.len() - 1);
    assert_eq!(attachment_checks::attachment_open(&cut), Ok(false));
    // The version 1 twin opens only under a reference naming its SHA-256,
    // and relabelled as version 2 not at all.
    let twin = attachment_checks::fixture_v1_twin();
    assert_eq!(attachment_checks::attachment_open(twin), Ok(false));
    let mut relabelled = twin.to_vec();
    relabelled[0] = 2;
    assert_eq!(attachment_checks::attachment_open(&relabelled), Ok(false));
}
