//! Writes the attachment test vectors in `test-vectors/attachments/`:
//! `cargo run -p fuin-seal --example attachment_vectors -- test-vectors/attachments`.
//!
//! Every value is computed by the reference of `tests/attachment_spec/`
//! (spec/attachments.md written directly on sha2, hkdf, aes-gcm and
//! blake3). The generator refuses to write unless fuin-seal, given the same
//! object id and key, seals exactly the same bytes, and refuses every
//! reject vector with the error the reference gives, on every opening path.
//! It writes `objects.json` (format version 2) and `reject.json`;
//! `objects-v1.json` (version 1, the objects sealed before version 2) is
//! kept as it was written and never regenerated.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

#[path = "../tests/attachment_spec/mod.rs"]
mod attachment_spec;

use std::path::PathBuf;

use attachment_spec::{opening, rejects, scenario};
use serde_json::{Value, json};

fn write(path: PathBuf, value: &Value) {
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap() + "\n").unwrap();
    println!("wrote {}", path.display());
}

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "test-vectors/attachments".into()),
    );
    std::fs::create_dir_all(&dir).unwrap();
    let objects: Vec<Value> = scenario::cases().iter().map(scenario::vector).collect();
    let file = json!({
        "description": "Sealed attachment objects (spec/attachments.md), format version 2, with \
                        every intermediate value: the context and its id, the HKDF info and \
                        output, the header, each chunk's nonce, plaintext, ciphertext and tag, \
                        the sealed object and its BLAKE3 hash (the blob id, the relay's name \
                        for it), the reference body (spec/wire.md §8), and the errors that \
                        altered copies give. Byte strings are hex. Keys are byte patterns, not \
                        secrets. The associated data of every chunk is the header. \
                        objects-v1.json holds the same objects in format version 1.",
        "objects": objects,
    });
    for reject in rejects::rejects() {
        let name = format!("{}: {}", reject.base, reject.name);
        opening::check_fuin_agrees(&name, &reject.opening, &reject.blob);
    }
    let reject = rejects::file();
    write(dir.join("objects.json"), &file);
    write(dir.join("reject.json"), &reject);
}
