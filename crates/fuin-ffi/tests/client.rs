//! `FuinClient` called from Rust as the foreign side calls it: what it
//! leaves on disk, and how failures cross.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::TestRelay;
use fuin_ffi::records::ClientConfig;
use fuin_ffi::{FuinClient, FuinError, FuinEvent};

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_sent_as_a_file_leave_no_plaintext_beside_the_store() {
    let relay = TestRelay::start().await;
    let alice_dir = tempfile::tempdir().unwrap();
    let bob_dir = tempfile::tempdir().unwrap();
    let alice = FuinClient::create(
        path(alice_dir.path(), "alice.db"),
        relay.url.clone(),
        "alice".into(),
        1,
        None,
    )
    .await
    .unwrap();
    let bob = FuinClient::create(
        path(bob_dir.path(), "bob.db"),
        relay.url.clone(),
        "bob".into(),
        1,
        None,
    )
    .await
    .unwrap();

    let notes = b"the plaintext of bob's notes, which no file of bob's may hold\n".repeat(40);
    let sent = bob
        .send_file_bytes("alice".into(), notes.clone(), "notes.txt".into(), None)
        .await
        .unwrap();
    assert_eq!(sent.size, notes.len() as u64);
    // The media type is guessed from the name given, as for a path.
    assert_eq!(sent.attachment.content_type, "text/plain");
    assert_eq!(sent.attachment.file_name.as_deref(), Some("notes.txt"));

    // Sealed from memory: no file beside bob's store holds the
    // plaintext (the store keeps only the encrypted share).
    for entry in std::fs::read_dir(bob_dir.path()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with(".fuin-outgoing-"), "{name} was left");
        let bytes = std::fs::read(entry.path()).unwrap();
        assert!(
            !contains(&bytes, &notes[..64]),
            "{name} holds the plaintext"
        );
    }

    alice.sync(0).await.unwrap();
    let events = alice.pending_events().await;
    assert!(
        events.iter().any(|event| matches!(
            event,
            FuinEvent::MessageReceived { conversation, sender, .. }
                if conversation == "bob" && sender == "bob/1"
        )),
        "{events:?}"
    );
    let history = alice.history("bob".into(), 10).await.unwrap();
    let [message] = history.as_slice() else {
        panic!("{history:?}")
    };
    assert!(message.is_attachment);
    let out = path(alice_dir.path(), "notes.txt");
    let fetched = alice
        .fetch_attachment(message.local_id, out.clone())
        .await
        .unwrap();
    assert_eq!(fetched.sha256, sent.sha256);
    assert_eq!(std::fs::read(&out).unwrap(), notes);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_cross_as_one_error_with_the_sdks_hint() {
    let relay = TestRelay::start().await;
    let dir = tempfile::tempdir().unwrap();

    // A malformed invitation is refused before anything is made.
    let config = ClientConfig {
        invite: Some("not hex".into()),
        ..ClientConfig::default()
    };
    let store = path(dir.path(), "alice.db");
    let refused = FuinClient::create(
        store.clone(),
        relay.url.clone(),
        "alice".into(),
        1,
        Some(config),
    )
    .await
    .unwrap_err();
    let FuinError::InvalidArgument { detail, hint } = &refused else {
        panic!("{refused:?}")
    };
    assert!(detail.contains("64 hex digits"), "{detail}");
    assert_eq!(hint, "check the arguments");
    assert!(!Path::new(&store).exists());

    let alice = FuinClient::create(store, relay.url.clone(), "alice".into(), 1, None)
        .await
        .unwrap();
    let unknown = alice
        .send_text("nobody".into(), "hello?".into())
        .await
        .unwrap_err();
    let FuinError::UnknownUser { user, hint, .. } = &unknown else {
        panic!("{unknown:?}")
    };
    assert_eq!(user, "nobody");
    assert_eq!(hint, "check the user id; the user must have registered");
    // What the foreign side shows: the detail, then the hint.
    assert!(
        unknown
            .to_string()
            .ends_with("(check the user id; the user must have registered)")
    );

    // Reporting something that is not a received message is refused, and
    // so is submitting to a moderation key that is not one.
    let refused = alice.report("spam".into(), vec![9999]).await.unwrap_err();
    assert!(
        matches!(&refused, FuinError::InvalidArgument { detail, .. } if detail.contains("9999")),
        "{refused:?}"
    );
    let bob = FuinClient::create(
        path(dir.path(), "bob.db"),
        relay.url.clone(),
        "bob".into(),
        1,
        None,
    )
    .await
    .unwrap();
    bob.send_text("alice".into(), "spam, spam, spam".into())
        .await
        .unwrap();
    alice.sync(0).await.unwrap();
    let received = alice.history("bob".into(), 10).await.unwrap();
    let report = alice
        .report("spam".into(), vec![received[0].local_id])
        .await
        .unwrap();
    assert_eq!(report.preview().messages[0].text, "spam, spam, spam");
    let refused = alice
        .submit_report(report, "not a moderation key".into())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, FuinError::InvalidArgument { detail, .. } if detail.contains("moderation key")),
        "{refused:?}"
    );
    relay.stop().await;
}
