//! Attachments through the SDK and a real relay: a multi-chunk image and
//! its thumbnail round-trip; blobs swapped or cut in the relay's own store
//! are refused with the error that names the failure, and nothing is
//! written out or shown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::media::{blob_id_hex, noisy_png, replace_blob, sha256_hex, stored_blob};
use common::{Devices, NO_WAIT, TestRelay};
use fuin_client::{Client, ClientError, SendFileOptions};
use fuin_seal::attachment::AttachmentError;
use fuin_wire::ContentType;

/// The local id of the newest attachment message in `client`'s
/// conversation with `peer`.
async fn last_attachment(client: &Client, peer: &str) -> i64 {
    let history = client.history(peer, 50).await.unwrap();
    let message = history
        .iter()
        .rev()
        .find(|m| m.content_type == ContentType::Attachment)
        .expect("an attachment in the history");
    message.local_id
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_chunk_image_and_its_thumbnail_round_trip() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let files = tempfile::tempdir().unwrap();
    let photo = noisy_png(files.path(), "beach.png", 300, 200, 7);
    let original = std::fs::read(&photo).unwrap();
    assert!(original.len() > 150_000, "the image spans several chunks");

    let options = SendFileOptions {
        chunk_size: Some(16 * 1024),
        ..SendFileOptions::default()
    };
    let sent = alice.send_file("bob", &photo, &options).await.unwrap();
    assert_eq!(sent.size, original.len() as u64);
    assert_eq!(sent.sha256, sha256_hex(&original));
    assert_eq!(sent.attachment.content_type, "image/png");
    assert_eq!(sent.attachment.file_name.as_deref(), Some("beach.png"));
    // 69-byte header, and a 16-byte tag per 16 KiB chunk.
    let chunks = original.len().div_ceil(16 * 1024) as u64;
    assert!(chunks >= 10);
    assert_eq!(
        sent.attachment.sealed_len,
        69 + original.len() as u64 + 16 * chunks
    );
    let thumbnail = sent.attachment.thumbnail.clone().expect("a thumbnail");
    assert_eq!(thumbnail.content_type, "image/png");
    // The relay holds ciphertext: not the image's bytes.
    let stored = stored_blob(&relay, &sent.attachment.blob_id);
    assert_eq!(stored.len() as u64, sent.attachment.sealed_len);
    // Sealed in format version 2: named by the BLAKE3 hash of those bytes.
    assert_eq!(stored[0], 2);
    assert_eq!(blob_id_hex(&stored), sent.attachment.blob_id);
    assert!(!stored.windows(64).any(|w| original[1000..1064] == *w));

    // The sender's history shows it too.
    let own = alice.history("bob", 10).await.unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].content_type, ContentType::Attachment);
    assert!(own[0].text.contains("beach.png"), "{}", own[0].text);

    bob.sync(NO_WAIT).await.unwrap();
    let local = last_attachment(&bob, "alice").await;
    let info = bob.attachment(local).await.unwrap();
    assert_eq!(info, sent.attachment);
    assert_eq!(info.owner, *alice.address());

    let out = files.path().join("received.png");
    let fetched = bob.fetch_attachment(local, &out).await.unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), original);
    assert_eq!(fetched.size, original.len() as u64);
    assert_eq!(fetched.sha256, sha256_hex(&original));
    assert_eq!(fetched.blob_id, sent.attachment.blob_id);
    // Fetching again does not replace the file.
    assert!(matches!(
        bob.fetch_attachment(local, &out).await,
        Err(ClientError::InvalidArgument(_))
    ));

    let preview = bob
        .fetch_thumbnail(local)
        .await
        .unwrap()
        .expect("a thumbnail");
    let decoded = image::load_from_memory(&preview.bytes).unwrap();
    assert_eq!(preview.dimensions, (decoded.width(), decoded.height()));
    // Its longer side is the bound, and it keeps the 3:2 shape.
    assert_eq!(decoded.width(), fuin_client::MAX_THUMBNAIL_SIDE);
    assert!(
        (105..=108).contains(&decoded.height()),
        "{}",
        decoded.height()
    );
    assert_eq!(sent.thumbnail_dimensions, Some(preview.dimensions));
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_blobs_swapped_in_the_relays_store_are_refused_with_context_mismatch() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let carol = devices.create(&relay, "carol", 1).await;
    let dave = devices.create(&relay, "dave", 1).await;
    let files = tempfile::tempdir().unwrap();
    // Same size and type, as in an album whose images a batch job mixed up.
    let alices = noisy_png(files.path(), "alice.png", 120, 80, 1);
    let carols = noisy_png(files.path(), "carol.png", 120, 80, 2);
    let to_bob = alice
        .send_file("bob", &alices, &SendFileOptions::default())
        .await
        .unwrap()
        .attachment;
    let to_dave = carol
        .send_file("dave", &carols, &SendFileOptions::default())
        .await
        .unwrap()
        .attachment;
    assert_eq!(to_bob.sealed_len, to_dave.sealed_len);
    let (bob_thumb, dave_thumb) = (to_bob.thumbnail.unwrap(), to_dave.thumbnail.unwrap());

    // The relay's store swaps both objects and both thumbnails.
    let (a, c) = (
        stored_blob(&relay, &to_bob.blob_id),
        stored_blob(&relay, &to_dave.blob_id),
    );
    replace_blob(&relay, &to_bob.blob_id, &c);
    replace_blob(&relay, &to_dave.blob_id, &a);
    let (at, ct) = (
        stored_blob(&relay, &bob_thumb.blob_id),
        stored_blob(&relay, &dave_thumb.blob_id),
    );
    replace_blob(&relay, &bob_thumb.blob_id, &ct);
    replace_blob(&relay, &dave_thumb.blob_id, &at);

    for (recipient, sender) in [(&bob, "alice"), (&dave, "carol")] {
        recipient.sync(NO_WAIT).await.unwrap();
        let local = last_attachment(recipient, sender).await;
        let out = files.path().join(format!("{sender}-received.png"));
        let before = entries(files.path());
        let err = recipient.fetch_attachment(local, &out).await.unwrap_err();
        assert_eq!(
            err,
            ClientError::Attachment(AttachmentError::ContextMismatch)
        );
        assert!(err.to_string().contains("sealed for another"), "{err}");
        assert!(!out.exists(), "nothing is written out");
        assert_eq!(entries(files.path()), before, "no partial file is left");
        assert_eq!(
            recipient.fetch_thumbnail(local).await.unwrap_err(),
            ClientError::Attachment(AttachmentError::ContextMismatch)
        );
    }
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_swapped_with_its_own_thumbnail_is_refused() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let files = tempfile::tempdir().unwrap();
    let photo = noisy_png(files.path(), "p.png", 200, 200, 3);
    let sent = alice
        .send_file("bob", &photo, &SendFileOptions::default())
        .await
        .unwrap()
        .attachment;
    let thumbnail = sent.thumbnail.unwrap();
    let (object, thumb) = (
        stored_blob(&relay, &sent.blob_id),
        stored_blob(&relay, &thumbnail.blob_id),
    );
    replace_blob(&relay, &sent.blob_id, &thumb);
    replace_blob(&relay, &thumbnail.blob_id, &object);
    bob.sync(NO_WAIT).await.unwrap();
    let local = last_attachment(&bob, "alice").await;
    let out = files.path().join("out.png");
    assert_eq!(
        bob.fetch_attachment(local, &out).await.unwrap_err(),
        ClientError::Attachment(AttachmentError::ContextMismatch)
    );
    assert!(!out.exists());
    assert_eq!(
        bob.fetch_thumbnail(local).await.unwrap_err(),
        ClientError::Attachment(AttachmentError::ContextMismatch)
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_blob_in_the_store_gives_a_clear_error_and_writes_nothing() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let files = tempfile::tempdir().unwrap();
    let data = files.path().join("notes.bin");
    let content: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&data, &content).unwrap();
    let sent = alice
        .send_file(
            "bob",
            &data,
            &SendFileOptions {
                chunk_size: Some(4096),
                ..SendFileOptions::default()
            },
        )
        .await
        .unwrap()
        .attachment;
    assert_eq!(sent.content_type, "application/octet-stream");
    assert!(sent.thumbnail.is_none());
    let stored = stored_blob(&relay, &sent.blob_id);
    // Cut in the middle of the last chunk: every earlier chunk opens, so
    // only the length check can catch it.
    let cut = stored.len() - 100;
    replace_blob(&relay, &sent.blob_id, &stored[..cut]);

    bob.sync(NO_WAIT).await.unwrap();
    let local = last_attachment(&bob, "alice").await;
    let out = files.path().join("notes-received.bin");
    let before = entries(files.path());
    let err = bob.fetch_attachment(local, &out).await.unwrap_err();
    assert_eq!(
        err,
        ClientError::Attachment(AttachmentError::Truncated {
            expected: stored.len() as u64,
            received: cut as u64,
        })
    );
    assert!(err.to_string().contains("ended after"), "{err}");
    assert!(!out.exists(), "nothing is written out");
    assert_eq!(entries(files.path()), before, "no partial file is left");

    // Put back, it opens.
    replace_blob(&relay, &sent.blob_id, &stored);
    let fetched = bob.fetch_attachment(local, &out).await.unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), content);
    assert_eq!(fetched.sha256, sha256_hex(&content));
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_large_enough_for_the_parallel_sealer_round_trips() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let files = tempfile::tempdir().unwrap();
    let data = files.path().join("video.mp4");
    // 6 MiB and a bit, so the last chunk is partial: sealed on all cores.
    let len: usize = 6 * 1024 * 1024 + 12_345;
    let content: Vec<u8> = (0..len as u64)
        .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8)
        .collect();
    std::fs::write(&data, &content).unwrap();
    let sent = alice
        .send_file("bob", &data, &SendFileOptions::default())
        .await
        .unwrap();
    assert_eq!(sent.attachment.content_type, "video/mp4");
    let chunks = len.div_ceil(64 * 1024) as u64;
    assert_eq!(sent.attachment.sealed_len, 69 + len as u64 + 16 * chunks);
    bob.sync(NO_WAIT).await.unwrap();
    let local = last_attachment(&bob, "alice").await;
    let out = files.path().join("received.mp4");
    let fetched = bob.fetch_attachment(local, &out).await.unwrap();
    assert_eq!(fetched.size, len as u64);
    assert_eq!(fetched.sha256, sha256_hex(&content));
    assert!(std::fs::read(&out).unwrap() == content);
    relay.stop().await;
}
