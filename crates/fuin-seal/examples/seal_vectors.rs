//! Writes the protocol test vectors in `test-vectors/seal/`:
//! `cargo run -p fuin-seal --example seal_vectors -- test-vectors/seal`.
//!
//! The randomness comes from a ChaCha20 seeded with a constant and is
//! recorded with the purpose of each draw. The reference computations
//! (`tests/vectors/reference.rs`, written from spec/protocol.md directly on
//! the crypto crates) compute every intermediate value from those draws; the
//! generator refuses to write anything unless fuin-seal's sessions produce
//! exactly the same bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

#[path = "../tests/vectors/mod.rs"]
mod vectors;

use std::path::PathBuf;

use serde_json::json;
use vectors::{primitives, scenario};

const SEED: u64 = 0xf0_1e_5e_a1;

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "test-vectors/seal".into()),
    );
    std::fs::create_dir_all(&dir).unwrap();

    for (with_one_time, name) in [
        (true, "session.json"),
        (false, "session-without-one-time-prekey.json"),
    ] {
        let mut rng = scenario::ScriptedRng::recording(SEED);
        let this_run = scenario::run_implementation(&mut rng, with_one_time);
        let reference = scenario::run_reference(&rng.draws, with_one_time);
        let messages = reference["messages"].as_array().unwrap();
        for (record, expected) in this_run.records.iter().zip(messages) {
            scenario::check_record(record, expected);
        }
        for (opened, expected) in this_run.opened_bodies.iter().zip(messages) {
            assert_eq!(opened, expected["body"].as_str().unwrap());
        }
        let mut session = reference;
        session["description"] = json!(format!(
            "A handshake {} a one-time prekey and the first 20 messages of a one-to-one \
             session (10 each way), with every random value and intermediate key. \
             random_draws lists the randomness in the order fuin-seal consumes it; see \
             test-vectors/seal/README.md.",
            if with_one_time { "with" } else { "without" }
        ));
        session["random_draws"] = scenario::draws_to_json(&rng.draws);
        write(&dir, name, &session);
    }
    // `saved-state-v1.json` is not written any more: it pins state saved by
    // protocol version 1 (state version 1), which must keep loading as it
    // was checked in. Protocol version 2 writes the same state format; the
    // run's own saved state is checked to load by `tests/seal_vectors.rs`.

    let mut primitives = primitives::run_reference();
    primitives["description"] = json!(
        "Single computations of spec/protocol.md on fixed inputs: ratchet root and chain steps, \
         the key-committing AEAD, storage encryption, franking commitments with conversation \
         ids, and safety numbers."
    );
    write(&dir, "primitives.json", &primitives);
}

fn write(dir: &std::path::Path, name: &str, value: &serde_json::Value) {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap() + "\n").unwrap();
    println!("wrote {}", path.display());
}
