//! Images and blobs for attachment tests: made-up photos, and the test
//! relay's stored blobs read and replaced behind its back.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::TestRelay;

/// A PNG of `width` × `height` pixels of pseudo-random colours (so that it
/// does not compress to a few bytes), seeded by `seed`, written to
/// `dir/name`.
pub fn noisy_png(dir: &Path, name: &str, width: u32, height: u32, seed: u32) -> PathBuf {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let image = image::RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [r, g, b, _] = state.to_le_bytes();
        image::Rgb([r, g, b])
    });
    let path = dir.join(name);
    image
        .save_with_format(&path, image::ImageFormat::Png)
        .unwrap();
    path
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The file of a blob (by its hex id) in the relay's blob directory.
fn blob_file(relay: &TestRelay, blob_id: &str) -> PathBuf {
    relay.dir.path().join("relay.db.blobs").join(blob_id)
}

/// The relay's stored bytes of a blob, by its hex id.
pub fn stored_blob(relay: &TestRelay, blob_id: &str) -> Vec<u8> {
    std::fs::read(blob_file(relay, blob_id)).unwrap()
}

/// Replaces the relay's stored bytes of a blob (by its hex id), as a relay
/// or an attacker at its store could.
pub fn replace_blob(relay: &TestRelay, blob_id: &str, content: &[u8]) {
    let file = blob_file(relay, blob_id);
    assert!(file.exists(), "the blob is in the relay's store");
    std::fs::write(file, content).unwrap();
}

/// The blob id of a sealed object of format version 2 (what the client
/// seals): the BLAKE3 hash of its bytes, hex.
pub fn blob_id_hex(sealed: &[u8]) -> String {
    let mut hasher = fuin_seal::primitives::chunked::BlobHasher::new(
        fuin_seal::primitives::chunked::BlobHash::Blake3,
    );
    hasher.update(sealed);
    hex::encode(hasher.finish())
}
