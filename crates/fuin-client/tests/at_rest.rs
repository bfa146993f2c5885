//! What the device's files hold: no message text, no key, no token in the
//! store; a key file readable only by its owner; nothing secret in `Debug`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Devices, NO_WAIT, TestRelay};
use fuin_client::{Client, ClientError, ClientOptions};

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn store_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    for suffix in ["-wal", "-shm"] {
        let mut other = path.as_os_str().to_owned();
        other.push(suffix);
        if let Ok(more) = std::fs::read(&other) {
            bytes.extend(more);
        }
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_holds_no_plaintext_and_no_key_material() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let texts = [
        "the quick brown fox jumps over the lazy dog",
        "meet me at the usual place at nine",
    ];
    alice.send_text("bob", texts[0]).await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    bob.send_text("alice", texts[1]).await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let received = alice.history("bob", 10).await.unwrap();
    let opening = alice
        .franking_opening(received[1].local_id)
        .await
        .unwrap()
        .unwrap();

    for (client, path) in [
        (&alice, devices.path("alice", 1)),
        (&bob, devices.path("bob", 1)),
    ] {
        let bytes = store_bytes(&path);
        for text in texts {
            assert!(
                !contains(&bytes, text.as_bytes()),
                "{text:?} in {}",
                path.display()
            );
        }
        assert!(
            !contains(&bytes, &opening.franking_key.0),
            "franking key in the store"
        );
        let key = std::fs::read(fuin_client::keyfile::key_path(&path)).unwrap();
        assert_eq!(key.len(), 32);
        assert!(!contains(&bytes, &key), "the storage key is in the store");
        let mode = std::fs::metadata(fuin_client::keyfile::key_path(&path))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // What the store is for: the texts are there, sealed.
        let history = client
            .history(
                if client.address().user.as_str() == "alice" {
                    "bob"
                } else {
                    "alice"
                },
                10,
            )
            .await
            .unwrap();
        assert_eq!(history.len(), 2);
    }

    // Debug output of what an app may log names no secret.
    let debug = format!("{alice:?} {opening:?} {:?}", ClientOptions::default());
    assert!(
        debug.contains("alice/1") || debug.contains("alice"),
        "{debug}"
    );
    assert!(!contains(
        debug.as_bytes(),
        hex::encode(opening.franking_key.0).as_bytes()
    ));
    assert!(debug.contains("<redacted>"), "{debug}");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_does_not_open_without_its_key_or_with_another() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    drop(alice);
    let path = devices.path("alice", 1);
    let key_path = fuin_client::keyfile::key_path(&path);
    let saved = std::fs::read(&key_path).unwrap();

    std::fs::remove_file(&key_path).unwrap();
    let err = Client::open(&path, ClientOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::KeyFile(_)), "{err}");

    let mut other = saved.clone();
    other[0] ^= 1;
    std::fs::write(&key_path, &other).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = Client::open(&path, ClientOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Storage(_)), "{err}");
    assert!(!err.to_string().contains(&hex::encode(&other)), "{err}");

    std::fs::write(&key_path, &saved).unwrap();
    let alice = Client::open(&path, ClientOptions::default()).await.unwrap();
    assert_eq!(alice.address().to_string(), "alice/1");

    // Creating over an existing store is refused and changes nothing.
    let err = Client::create(&path, &relay.url, "alice", 1, ClientOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::KeyFile(_) | ClientError::Storage(_)),
        "{err}"
    );
    assert_eq!(std::fs::read(&key_path).unwrap(), saved);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_id_taken_by_another_account_is_refused_and_leaves_no_files() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    devices.create(&relay, "alice", 1).await;
    let others = Devices::new();
    let path = others.path("alice", 1);
    let err = Client::create(&path, &relay.url, "alice", 1, ClientOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Relay { status: 409, code, .. } if code == "account_exists"),
        "{err}"
    );
    assert!(!path.exists());
    assert!(!fuin_client::keyfile::key_path(&path).exists());
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_texts_are_not_in_the_store_in_the_clear() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let id = alice.create_group(&["bob"]).await.unwrap().id;
    bob.sync(NO_WAIT).await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    let texts = [
        "a group secret nobody should find on disk",
        "another group line, also sealed at rest",
    ];
    alice.send_group_text(&id, texts[0]).await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    bob.send_group_text(&id, texts[1]).await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    assert_eq!(alice.group_history(&id, 10).await.unwrap().len(), 2);
    assert_eq!(bob.group_history(&id, 10).await.unwrap().len(), 2);
    for path in [devices.path("alice", 1), devices.path("bob", 1)] {
        let bytes = store_bytes(&path);
        for text in texts {
            assert!(
                !contains(&bytes, text.as_bytes()),
                "{text:?} in {}",
                path.display()
            );
        }
    }
}
