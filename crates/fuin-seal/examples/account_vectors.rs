//! Writes the account test vectors in `test-vectors/accounts/`:
//! `cargo run -p fuin-seal --example account_vectors -- test-vectors/accounts`.
//!
//! Every random value (account keys, device identities, the link secret,
//! the salts, an invite code) comes from a ChaCha20 seeded with a constant
//! and is written into the files as an input. The reference computations
//! (`tests/vectors/account_reference.rs`, written from spec/accounts.md
//! directly on the crypto crates, encodings by hand) compute every value
//! from those inputs; the generator refuses to write anything unless
//! fuin-seal and fuin-wire produce exactly the same bytes and errors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

#[path = "../tests/vectors/mod.rs"]
mod vectors;

use std::path::PathBuf;

use serde_json::{Value, json};
use vectors::account_scenario as s;

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "test-vectors/accounts".into()),
    );
    std::fs::create_dir_all(&dir).unwrap();

    let inputs = s::Inputs::draw(s::SEED);
    let lists = s::device_lists_reference(&inputs);
    let link = s::link_reference(&inputs);
    let numbers = s::safety_number_reference(&inputs);
    s::check_device_lists(&lists);
    s::check_link(&link);
    s::check_safety_numbers(&numbers);

    write(
        &dir,
        "device_lists.json",
        described(
            lists,
            "Signed device lists of spec/accounts.md §2-§4 for user alice: the account key's seed \
             and public key, the device identities (seeds, keys, 128-byte identity bodies), lists \
             of versions 1 (the phone), 2 (the laptop linked) and 3 (the phone removed) with the \
             content's encoding, the signed string, the signature and the tag-32 frame of each, \
             the tag-33 AccountRegistration of version 1 with and without an invite code, and \
             verifications (accounts.md §3) of served lists: the frame, the user asked about, the \
             trusted account key (null at a first contact), the newest version seen (null if \
             none) and the result, \"ok\" or the error as fuin-seal's SealError prints it.",
        ),
    );
    write(
        &dir,
        "link.json",
        described(
            link,
            "A complete link exchange (spec/accounts.md §5): alice's phone (device 1, holding \
             list version 1 and the account key) links a laptop. The laptop's identity, the \
             one-time secret, the fingerprint's framed input and value, the code's bytes, digits \
             and text, the HKDF info and output split into channel, k_request and k_grant, the \
             laptop's grant key (X25519 secret and ML-KEM-768 seed as recorded, both public \
             halves), the LinkRequest (tag 48) frame with its associated data, salt, AEAD key, \
             nonce, commitment, sealed bytes and LinkMessage (tag 34) frame, the LinkGrant (tag \
             36) frame sealed to the grant key (§5.3: the recorded ephemeral key and ML-KEM \
             randomness, E, ct, the ML-KEM shared secret, the DH output, the key material \
             k_grant || ss || dh, the transcript salt, AEAD key, nonce, commitment, sealed \
             bytes and LinkMessage frame), and the new list (version 2). code_readings: typed \
             codes and what they read as (the 24 bytes in hex, or the error); \
             refused_openings: sealed messages that must not open under the given code, \
             direction and grant key, among them the grant opened with the code alone.",
        ),
    );
    write(
        &dir,
        "safety_number.json",
        described(
            numbers,
            "Account safety numbers (spec/accounts.md §7) of three pairs of users: each side's \
             user id, account key (and the seed it was made from) and 30-digit half, the \
             60-digit number (the half of the lesser (user id, account key) first) and its \
             display in 12 groups of 5. The third pair has one user id with two account keys \
             (an account key change), so the key decides the order.",
        ),
    );
}

fn described(mut value: Value, description: &str) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("description".into(), json!(description));
    out.append(value.as_object_mut().unwrap());
    Value::Object(out)
}

fn write(dir: &std::path::Path, name: &str, value: Value) {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap() + "\n").unwrap();
    println!("wrote {}", path.display());
}
