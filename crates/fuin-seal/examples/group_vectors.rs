//! Writes the group test vectors in `test-vectors/group/`:
//! `cargo run -p fuin-seal --example group_vectors -- test-vectors/group`.
//!
//! The randomness comes from a ChaCha20 seeded with a constant, drawn in
//! the order spec/groups.md gives and recorded with the purpose of each
//! draw. The reference computations (`tests/vectors/group_reference.rs`,
//! written from spec/groups.md and spec/identifiers.md directly on the
//! crypto crates) compute every value from those draws; the generator
//! refuses to write anything unless fuin-seal's `GroupState`, replaying the
//! same draws, produces exactly the same bytes (`--reference-only` skips
//! that check).
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
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "test-vectors/group".into()));
    // `--reference-only`: write what the reference computes without asking
    // fuin-seal to reproduce it (see examples/seal_vectors.rs).
    let reference_only = args.any(|arg| arg == "--reference-only");
    std::fs::create_dir_all(&dir).unwrap();

    // The randomness is drawn in the order the spec gives, without fuin-seal.
    let draws = group_scenario::reference_draws(SEED);
    let mut file = group_scenario::run_reference(&draws);
    if !reference_only {
        let mut rng = scenario::ScriptedRng::replaying(draws.clone());
        let run = group_scenario::run_implementation(&mut rng);
        assert!(
            rng.finished(),
            "fuin-seal drew less randomness than the spec"
        );
        group_scenario::check_implementation(&run, &file);
    }
    file["description"] = json!(
        "A group conversation of four devices through five epochs, protocol version 2: \
         creation, a member added, an audience consent shared, a member leaving, a member \
         removed; with every random value, membership, sender chain (key, signing key, \
         fingerprint, distribution frame), view, welcome, control message (signed string, \
         signature, frame) and message (salt, chain and message keys, AEAD key, nonce, \
         commitment, franking, plaintext, associated data, ciphertext, signed string, \
         signature, sealed body). random_draws lists the randomness in the order \
         spec/groups.md gives; see test-vectors/group/README.md."
    );
    file["random_draws"] = scenario::draws_to_json(&draws);
    write(&dir, "group-session.json", &file);

    let mut primitives = group_scenario::primitives_reference();
    group_scenario::check_primitives(&primitives);
    primitives["description"] = json!(
        "Single computations of spec/groups.md and spec/identifiers.md on fixed inputs: a \
         sender chain's first six steps with their AEAD keys, two membership hashes, the group \
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
