//! `fuin send-file` and `fuin fetch` through a `fuin relay` process: a file
//! and an image's thumbnail arrive intact; a blob swapped in the relay's
//! blob store is refused with a clear error and no file appears.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{RelayProcess, Stores, fuin, json, noisy_png};
use sha2::{Digest, Sha256};

/// The local id of the newest attachment in `history --json` output.
fn attachment_id(history: &serde_json::Value) -> String {
    let message = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| {
            m["text"]
                .as_str()
                .unwrap()
                .starts_with("[photo.png: image/png")
        })
        .unwrap_or_else(|| panic!("no attachment in {history}"));
    format!("#{}", message["local_id"])
}

#[test]
fn a_file_and_a_thumbnail_are_sent_fetched_and_checked() {
    // A relay that serves what its blob store holds unchecked, so that the
    // swap below reaches the client.
    let relay = RelayProcess::start_with(
        tempfile::tempdir().unwrap(),
        &[std::ffi::OsStr::new("--no-blob-read-check")],
        "http",
    );
    let stores = Stores::new();
    let alice = stores.init(&relay.url, "alice", "alice", 1);
    let bob = stores.init(&relay.url, "bob", "bob", 1);
    let files = tempfile::tempdir().unwrap();

    // A PNG of 200 × 100 pixels, large enough for several chunks.
    let photo = files.path().join("photo.png");
    noisy_png(&photo, 200, 100, 12345);
    let original = std::fs::read(&photo).unwrap();
    let original_hash = hex::encode(Sha256::digest(&original));

    let sent = json("send-file", &alice, &["bob", photo.to_str().unwrap()]);
    assert_eq!(sent["status"], "sent");
    assert_eq!(sent["content_type"], "image/png");
    assert_eq!(sent["file_name"], "photo.png");
    assert_eq!(sent["size"], original.len() as u64);
    assert_eq!(sent["sha256"], original_hash);
    assert_eq!(sent["thumbnail"]["width"], 160);
    assert_eq!(sent["thumbnail"]["height"], 80);

    json("sync", &bob, &[]);
    let history = json("history", &bob, &["alice"]);
    let id = attachment_id(&history);
    let out = files.path().join("received.png");
    let fetched = json("fetch", &bob, &[&id, out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), original);
    assert_eq!(fetched["sha256"], original_hash);
    assert_eq!(fetched["blob_id"], sent["blob_id"]);

    let thumb = files.path().join("thumb.png");
    let fetched = json(
        "fetch",
        &bob,
        &[&id, thumb.to_str().unwrap(), "--thumbnail"],
    );
    assert_eq!(fetched["width"], 160);
    let decoded = image::open(&thumb).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (160, 80));

    // The relay's store hands bob another blob under this id: refused, and
    // no file appears.
    let blobs = relay.dir.path().join("relay.db.blobs");
    let main = blobs.join(sent["blob_id"].as_str().unwrap());
    let other = blobs.join(sent["thumbnail"]["blob_id"].as_str().unwrap());
    std::fs::copy(other, &main).unwrap();
    let again = files.path().join("again.png");
    let output = fuin()
        .args(["--json", "fetch", "--store"])
        .arg(&bob)
        .args([id.as_str(), again.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["error"]["code"], "attachment", "{answer}");
    assert_eq!(answer["error"]["kind"], "ContextMismatch", "{answer}");
    assert!(!again.exists());

    // Without --json: one line on stderr saying what failed.
    let output = fuin()
        .args(["fetch", "--store"])
        .arg(&bob)
        .args([id.as_str(), again.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("sealed for another owner"), "{stderr}");
    assert!(!again.exists());
}

#[test]
fn a_large_file_on_a_pipe_gets_no_progress_bar_and_the_same_answer() {
    let relay = RelayProcess::start();
    let stores = Stores::new();
    let alice = stores.init(&relay.url, "alice", "alice", 1);
    let bob = stores.init(&relay.url, "bob", "bob", 1);
    let files = tempfile::tempdir().unwrap();
    // Over the 4 MiB from which a terminal shows a bar.
    let big = files.path().join("big.bin");
    let content: Vec<u8> = (0..5 * 1024 * 1024 + 7u64)
        .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8)
        .collect();
    std::fs::write(&big, &content).unwrap();
    let hash = hex::encode(Sha256::digest(&content));

    let output = fuin()
        .args(["send-file", "--store"])
        .arg(&alice)
        .args(["bob", big.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.starts_with(&format!(
            "sent big.bin to bob (application/octet-stream, {} bytes, SHA-256 {hash})",
            content.len()
        )),
        "{stdout}"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    for phase in ["sealing", "uploading", "%", "MiB"] {
        assert!(!stderr.contains(phase), "a bar on a pipe: {stderr}");
    }

    json("sync", &bob, &[]);
    let history = json("history", &bob, &["alice"]);
    let local_id = history["messages"][0]["local_id"].clone();
    let out = files.path().join("big-received.bin");
    let output = fuin()
        .args(["fetch", "--store"])
        .arg(&bob)
        .args([format!("#{local_id}").as_str(), out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout.trim_end(),
        format!(
            "wrote big.bin to {} (application/octet-stream, {} bytes, SHA-256 {hash}, verified)",
            out.display(),
            content.len()
        )
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    for phase in ["downloading", "%", "MiB"] {
        assert!(!stderr.contains(phase), "a bar on a pipe: {stderr}");
    }
    assert!(std::fs::read(&out).unwrap() == content);
}
