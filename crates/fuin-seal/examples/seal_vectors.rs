//! Writes the protocol test vectors in `test-vectors/seal/`:
//! `cargo run -p fuin-seal --example seal_vectors -- test-vectors/seal`.
//!
//! The randomness comes from a ChaCha20 seeded with a constant, drawn in
//! the order spec/protocol.md §15 gives and recorded with the purpose of each
//! draw. The reference computations (`tests/vectors/reference.rs`, written
//! from spec/protocol.md directly on the crypto crates) compute every
//! intermediate value from those draws; the generator refuses to write
//! anything unless fuin-seal's sessions, replaying the same draws, produce
//! exactly the same bytes (`--reference-only` skips that check).
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
use vectors::{primitives, reject, scenario};

const SEED: u64 = 0xf0_1e_5e_a1;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "test-vectors/seal".into()));
    // `--reference-only`: write what the reference computes without asking
    // fuin-seal to reproduce it (while the implementation catches up with a
    // spec change; the vector tests then show where it differs).
    let reference_only = args.any(|arg| arg == "--reference-only");
    std::fs::create_dir_all(&dir).unwrap();

    // The randomness is drawn in the order the spec gives, without fuin-seal.
    let draws = scenario::reference_draws(SEED);
    for (with_one_time, name) in [
        (true, "session.json"),
        (false, "session-without-one-time-prekey.json"),
    ] {
        let mut session = scenario::run_reference(&draws, with_one_time);
        if !reference_only {
            let mut rng = scenario::ScriptedRng::replaying(draws.clone());
            let run = scenario::run_implementation(&mut rng, with_one_time);
            assert!(
                rng.finished(),
                "fuin-seal drew less randomness than the spec"
            );
            assert_eq!(
                hex::encode(&run.bundle),
                session["bob"]["bundle"].as_str().unwrap(),
                "bob's bundle (tag 41)"
            );
            assert_eq!(run.post_quantum, (true, true), "hybrid sessions");
            let messages = session["messages"].as_array().unwrap();
            for (record, expected) in run.records.iter().zip(messages) {
                scenario::check_record(record, expected);
            }
            for (opened, expected) in run.opened_bodies.iter().zip(messages) {
                assert_eq!(opened, expected["body"].as_str().unwrap());
            }
        }
        session["description"] = json!(format!(
            "A hybrid handshake {} and the first 20 messages of a one-to-one session (10 \
             each way) in protocol version 3, with every random value (the KEM prekeys' \
             seeds, the encapsulation randomness m and each message's header salt included) \
             and intermediate key. random_draws lists the randomness in the order \
             spec/protocol.md §15 gives; see test-vectors/seal/README.md.",
            if with_one_time {
                "with a one-time prekey and a one-time KEM prekey"
            } else {
                "without a one-time prekey, with the last-resort KEM prekey"
            }
        ));
        session["random_draws"] = scenario::draws_to_json(&draws);
        write(&dir, name, &session);
    }

    // saved-state-v1.json is pinned: its state and record were written once
    // by protocol version 1 and are never regenerated. Only what version 3
    // makes of them is computed again, from the inputs the file states.
    let pinned_path = dir.join("saved-state-v1.json");
    let mut pinned: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&pinned_path).unwrap()).unwrap();
    pinned["description"] = json!(
        "State saved by state version 1 under protocol version 1 (alice's session after 19 \
         messages of the version 1 session.json, her identity, bob's prekey store). It must \
         keep loading. The version 1 message it holds (next_record, message 19 from bob, a \
         tag 6 frame) must be refused with next_record_error and leave the session unchanged. \
         protocol_version_3 gives that message sealed again under protocol version 3 (a salt, \
         version byte 3 in the associated data), which the loaded session must open, and \
         alice's next message, which it must seal to exactly the bytes given, from the \
         randomness given. The session was made without the KEM term, so it is not \
         post-quantum (spec/protocol.md §6.8); written again, session and prekey store are \
         state version 2."
    );
    pinned["next_record_error"] = json!(scenario::RETIRED_RATCHET_MESSAGE);
    pinned["protocol_version_3"]["expected"] =
        scenario::continuation_reference(&pinned["protocol_version_3"]["inputs"]);
    if !reference_only {
        scenario::check_saved_state_continuation(&pinned);
    }
    write(&dir, "saved-state-v1.json", &pinned);

    // reject.json alters messages of session.json and of the group vectors
    // (`test-vectors/group/group-session.json`, written first).
    let group_path = dir.join("../group/group-session.json");
    let group: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&group_path).unwrap()).unwrap();
    let session = scenario::run_reference(&draws, true);
    let mut reject = reject::run_reference(&session, &group);
    reject["description"] = json!(
        "Messages of session.json (one_to_one) and of ../group/group-session.json (group) \
         altered one field at a time, each with the error its recipient must answer \
         (spec/protocol.md §6.5, §6.6, §7.3, §8, §9.2; spec/groups.md §6.3), written as the \
         error's Debug form; a number in a newtype counts as the number, and `{ .. }` \
         stands for any fields. Each is presented to the recipient just before it opens \
         the real message, which must still open. See test-vectors/seal/README.md."
    );
    write(&dir, "reject.json", &reject);

    let mut primitives = primitives::run_reference();
    primitives["description"] = json!(
        "Single computations of spec/protocol.md on fixed inputs: ratchet root and chain steps, \
         the key-committing AEAD for a message key with its header salt, storage encryption, \
         franking commitments with conversation ids, and safety numbers."
    );
    write(&dir, "primitives.json", &primitives);
}

fn write(dir: &std::path::Path, name: &str, value: &serde_json::Value) {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap() + "\n").unwrap();
    println!("wrote {}", path.display());
}
