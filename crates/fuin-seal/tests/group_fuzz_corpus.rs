#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Replays every checked-in corpus file of the `group_open` fuzz target
//! through the check the target makes (`fuzz/checks/group_checks.rs`, which
//! the target includes too), so a crash found once stays fixed without
//! running the fuzzer. A missing or empty corpus folder fails, never skips.

use std::path::Path;

mod group_checks {
    include!("../../../fuzz/checks/group_checks.rs");
}

#[test]
fn group_open_corpus_returns_and_leaves_the_state_unchanged() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/group_open");
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("fuzz corpus {} is missing: {err}", dir.display()));
    let mut count = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        if let Err(violation) = group_checks::group_open(&bytes) {
            panic!("{}: {violation}", path.display());
        }
        count += 1;
    }
    assert!(count > 0, "fuzz corpus {} is empty", dir.display());
}

#[test]
fn genuine_group_messages_pass_through_the_check() {
    let fixture = group_checks::group_fixture();
    for index in 0..fixture.genuine.len() {
        assert!(group_checks::group_open(&fixture.genuine_input(index)).unwrap());
    }
    // The same bytes under another sender, content kind or commitment do
    // not open.
    let input = fixture.genuine_input(0);
    for selector in [1u8, 3, 4, 1 << 3, 2 << 3, 3 << 3] {
        let mut changed = input.clone();
        changed[0] ^= selector;
        assert!(
            !group_checks::group_open(&changed).unwrap(),
            "selector {selector:#x}"
        );
    }
}

#[test]
fn every_byte_of_a_genuine_group_envelope_is_authenticated() {
    let fixture = group_checks::group_fixture();
    for (which, (_, envelope)) in fixture.genuine.iter().enumerate() {
        let len = fuin_wire::FrameBody::to_bytes(envelope).unwrap().len();
        for position in 0..u16::try_from(len).unwrap() {
            for mask in [0x01, 0x80] {
                let [low, high] = position.to_le_bytes();
                let input = [0, u8::try_from(which).unwrap(), low, high, mask];
                if let Err(violation) = group_checks::group_open(&input) {
                    panic!("{violation}");
                }
            }
        }
    }
}
