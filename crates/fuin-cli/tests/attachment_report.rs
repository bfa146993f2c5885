//! A reported attachment with `fuin` processes: `fuin moderate open
//! --fetch-attachments` re-fetches the blob from the relay and verifies it
//! is the ciphertext the sender committed to, with the plaintext hash the
//! reporter saw, and the thumbnail as well; a blob changed at the relay
//! after sending is detected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ffi::OsStr;

use common::{RelayProcess, Stores, fuin, json, noisy_png};
use serde_json::Value;

fn run_json(args: &[&OsStr]) -> (bool, Value) {
    let output = fuin().arg("--json").args(args).output().unwrap();
    let value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "not JSON: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), value)
}

fn os<S: AsRef<OsStr> + ?Sized>(s: &S) -> &OsStr {
    s.as_ref()
}

#[test]
fn moderation_refetches_a_reported_attachment_and_detects_a_changed_blob() {
    let moderation = tempfile::tempdir().unwrap();
    let keys = moderation.path().join("keys");
    let (ok, made) = run_json(&[os("moderate"), os("keygen"), os("--out"), keys.as_os_str()]);
    assert!(ok, "{made}");
    let hash = made["credential_hash"].as_str().unwrap().to_owned();
    // Serving blobs unchecked, so that the changed blob below reaches the
    // moderation tool.
    let relay = RelayProcess::start_with(
        tempfile::tempdir().unwrap(),
        &[
            os("--moderation-credential-hash"),
            os(&hash),
            os("--no-blob-read-check"),
        ],
        "http",
    );
    let stamp_keys = moderation.path().join("stamp-keys.json");
    std::fs::write(
        &stamp_keys,
        format!(
            r#"{{"stamp_keys": [{{"id": 1, "file": "{}", "not_after_ms": null}}]}}"#,
            relay.dir.path().join("relay.db.stamp-key").display()
        ),
    )
    .unwrap();

    let stores = Stores::new();
    let alice = stores.init(&relay.url, "alice", "alice", 1);
    let bob = stores.init(&relay.url, "bob", "bob", 1);
    let moderation_device = stores.init(&relay.url, "moderation", "moderation", 1);
    let files = tempfile::tempdir().unwrap();
    let threat = files.path().join("threat.txt");
    let content = "I know where you live. ".repeat(5000);
    std::fs::write(&threat, &content).unwrap();
    let sent = json("send-file", &alice, &["bob", threat.to_str().unwrap()]);
    // And a photo, which has a thumbnail of its own to check.
    let photo = files.path().join("photo.png");
    noisy_png(&photo, 200, 100, 777);
    let sent_photo = json("send-file", &alice, &["bob", photo.to_str().unwrap()]);

    json("sync", &bob, &[]);
    let history = json("history", &bob, &["alice"]);
    let local_id = |name: &str| {
        history["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["text"].as_str().unwrap().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {history}"))["local_id"]
            .to_string()
    };
    let id = local_id("[threat.txt");
    let photo_id = local_id("[photo.png");
    let seen = json(
        "fetch",
        &bob,
        &[&id, files.path().join("seen.txt").to_str().unwrap()],
    );
    let output = fuin()
        .args(["report", "--store"])
        .arg(&bob)
        .args(["--message", &id, "--message", &photo_id])
        .args(["--reason", "threats", "--moderation-key"])
        .arg(keys.join("moderation.pub"))
        .arg("--yes")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The preview names the attachment, not the raw share (which holds keys).
    let shown = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(shown.contains("[threat.txt: text/plain, "), "{shown}");

    let inbox = moderation.path().join("inbox");
    let (ok, pulled) = run_json(&[
        os("moderate"),
        os("pull"),
        os("--relay"),
        os(&relay.url),
        os("--credential-file"),
        keys.join("inbox.credential").as_os_str(),
        os("--inbox"),
        inbox.as_os_str(),
    ]);
    assert!(ok, "{pulled}");
    let report = pulled["reports"][0]["file"].as_str().unwrap().to_owned();
    let open = || {
        run_json(&[
            os("moderate"),
            os("open"),
            os("--key"),
            keys.join("moderation.key").as_os_str(),
            os("--stamp-keys"),
            stamp_keys.as_os_str(),
            os("--audit-log"),
            moderation.path().join("audit.log").as_os_str(),
            os("--moderator"),
            os("mo"),
            os("--fetch-attachments"),
            moderation_device.as_os_str(),
            os(&report),
        ])
    };
    let (ok, opened) = open();
    assert!(ok, "{opened}");
    let message = &opened["reports"][0]["messages"][0];
    assert_eq!(message["verdict"], "verified");
    assert!(
        message["text"]
            .as_str()
            .unwrap()
            .starts_with("[attachment threat.txt: text/plain, blob "),
        "{message}"
    );
    let checked = &opened["attachments"][0];
    assert_eq!(checked["verified"], true, "{opened}");
    assert_eq!(checked["blob_id"], sent["blob_id"]);
    assert_eq!(checked["plaintext_sha256"], seen["sha256"]);
    assert_eq!(checked["plaintext_len"], content.len() as u64);
    assert_eq!(checked["part"], "attachment");
    // The photo, then its thumbnail, each re-fetched and verified.
    let photo_checked = &opened["attachments"][1];
    assert_eq!(photo_checked["part"], "attachment", "{opened}");
    assert_eq!(photo_checked["verified"], true, "{opened}");
    assert_eq!(photo_checked["blob_id"], sent_photo["blob_id"]);
    assert_eq!(photo_checked["plaintext_sha256"], sent_photo["sha256"]);
    let thumbnail_checked = &opened["attachments"][2];
    assert_eq!(thumbnail_checked["part"], "thumbnail", "{opened}");
    assert_eq!(thumbnail_checked["verified"], true, "{opened}");
    assert_eq!(
        thumbnail_checked["blob_id"],
        sent_photo["thumbnail"]["blob_id"]
    );
    assert_eq!(opened["attachments"].as_array().unwrap().len(), 3);

    // The stored blob changes after sending: its last byte flips.
    let file = relay
        .dir
        .path()
        .join("relay.db.blobs")
        .join(sent["blob_id"].as_str().unwrap());
    let mut blob = std::fs::read(&file).unwrap();
    *blob.last_mut().unwrap() ^= 1;
    std::fs::write(&file, blob).unwrap();
    let (ok, opened) = open();
    assert!(ok, "{opened}");
    // The message itself still verifies (its commitment names the blob);
    // the blob does not.
    assert_eq!(opened["reports"][0]["messages"][0]["verdict"], "duplicate");
    let checked = &opened["attachments"][0];
    assert_eq!(checked["verified"], false, "{opened}");
    // The photo was not touched: still verified.
    assert_eq!(opened["attachments"][1]["verified"], true, "{opened}");
    assert_eq!(opened["attachments"][2]["verified"], true, "{opened}");
    assert!(
        checked["error"]
            .as_str()
            .unwrap()
            .contains("did not authenticate"),
        "{checked}"
    );
}
