//! Writes the group test vectors in `test-vectors/group/`:
//! `cargo run -p fuin-seal --example group_vectors -- test-vectors/group`.
//!
//! The randomness comes from a ChaCha20 seeded with a constant and is
//! recorded with the purpose of each draw. The reference computations
//! (`tests/vectors/group_reference.rs`, written from spec/groups.md and
//! spec/identifiers.md directly on the crypto crates) compute every value
//! from those draws; the generator refuses to write anything unless
//! fuin-seal's `GroupState` produces exactly the same bytes.
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
use vectors::{group_scenario, scenario};

const SEED: u64 = 0x6772_6f75_7073;

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "test-vectors/group".into()),
    );
    std::fs::create_dir_all(&dir).unwrap();

    let mut rng = scenario::ScriptedRng::recording(SEED);
    let run = group_scenario::run_implementation(&mut rng);
    let mut file = group_scenario::run_reference(&rng.draws);
    group_scenario::check_implementation(&run, &file);
    file["description"] = json!(
        "A group conversation of four devices through five epochs: creation, a member added, \
         an audience consent shared, a member leaving, a member removed; with every random \
         value, membership, sender chain (key, signing key, fingerprint, distribution frame), \
         view, welcome, control message (signed string, signature, frame) and message (chain \
         and message keys, salt, AEAD key, nonce, commitment, franking, plaintext, associated data, \
         ciphertext, signed string, signature, sealed body). random_draws lists the randomness \
         in the order fuin-seal consumes it; see test-vectors/group/README.md."
    );
    file["random_draws"] = scenario::draws_to_json(&rng.draws);
    write(&dir, "group-session.json", &file);

    let mut primitives = group_scenario::primitives_reference();
    group_scenario::check_primitives(&primitives);
    primitives["description"] = json!(
        "Single computations of spec/groups.md and spec/identifiers.md on fixed inputs: a \
         sender chain's first six steps with their salts and AEAD keys, two membership hashes, the group \
         conversation id, chain fingerprints and a view, and per-audience identifiers of two \
         users and a consented shared one."
    );
    write(&dir, "group-primitives.json", &primitives);
}

fn write(dir: &std::path::Path, name: &str, value: &serde_json::Value) {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap() + "\n").unwrap();
    println!("wrote {}", path.display());
}
