//! Writes the attachment test vectors in `test-vectors/attachments/`:
//! `cargo run -p fuin-seal --example attachment_vectors -- test-vectors/attachments`.
//!
//! Every value is computed by the reference of
//! `tests/attachment_spec/reference.rs` (spec/attachments.md written
//! directly on sha2, hkdf and aes-gcm); the generator refuses to write the
//! file unless fuin-seal, given the same object id and key, seals exactly
//! the same bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

#[path = "../tests/attachment_spec/mod.rs"]
mod attachment_spec;

use std::path::PathBuf;

use attachment_spec::scenario;
use serde_json::{Value, json};

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "test-vectors/attachments".into()),
    );
    std::fs::create_dir_all(&dir).unwrap();
    let objects: Vec<Value> = scenario::cases().iter().map(scenario::vector).collect();
    let file = json!({
        "description": "Sealed attachment objects (spec/attachments.md) with every intermediate \
                        value: the context and its id, the HKDF info and output, the header, each \
                        chunk's nonce, plaintext, ciphertext and tag, the sealed object and its \
                        SHA-256 (the relay's blob id), the reference body (spec/wire.md §8), and \
                        the errors that altered copies give. Byte strings are hex. Keys are byte \
                        patterns, not secrets. The associated data of every chunk is the header.",
        "objects": objects,
    });
    let path = dir.join("objects.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap() + "\n").unwrap();
    println!("wrote {}", path.display());
}
