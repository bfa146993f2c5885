//! Reports of attachments through the SDK and a real relay: moderation
//! re-fetches the reported blob from the relay and checks it is the exact
//! ciphertext the sender committed to, and computes the plaintext hash the
//! reporter saw; a blob the sender re-sealed (or swapped) after sending is
//! detected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;

use common::media::{replace_blob, stored_blob};
use common::moderation::{moderated_relay, moderator, pull};
use common::{Devices, NO_WAIT, TestRelay};
use fuin_client::report::attachment::{AttachmentCheckError, check_reported_blob, reported_share};
use fuin_client::report::{AuditLog, Verdict};
use fuin_client::{Client, SendFileOptions};
use fuin_seal::ConversationId;
use fuin_seal::attachment::{AttachmentError, ChunkSize, ObjectSealer};
use fuin_wire::attachment::MediaType;
use fuin_wire::{ContentType, UserId};
use rand::{TryCryptoRng, TryRng};
use sha2::{Digest, Sha256};

/// Hands out fixed bytes: lets the test seal with a key it already knows,
/// as a sender holding the key can.
struct FixedBytes(Vec<u8>);

impl TryRng for FixedBytes {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let taken: Vec<u8> = self.0.drain(..dst.len()).collect();
        dst.copy_from_slice(&taken);
        Ok(())
    }
}

impl TryCryptoRng for FixedBytes {}

/// Moderation's own device, used only to fetch reported blobs.
async fn moderation_device(devices: &Devices, relay: &TestRelay) -> Client {
    devices.create(relay, "moderation", 1).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reported_attachment_verifies_and_a_blob_resealed_after_sending_is_detected() {
    let relay = moderated_relay().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("threat.txt");
    let content: Vec<u8> = b"a threatening picture, as bytes. "
        .iter()
        .copied()
        .cycle()
        .take(150_000)
        .collect();
    std::fs::write(&path, &content).unwrap();
    let sent = alice
        .send_file("bob", &path, &SendFileOptions::default())
        .await
        .unwrap();

    // bob opens it: what he saw has this hash.
    bob.sync(NO_WAIT).await.unwrap();
    let local = bob
        .history("alice", 10)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.content_type == ContentType::Attachment)
        .unwrap()
        .local_id;
    let seen = bob
        .fetch_attachment(local, &files.path().join("seen.txt"))
        .await
        .unwrap();
    assert_eq!(seen.sha256, hex::encode(Sha256::digest(&content)));

    let report = bob.report("threat", &[local]).await.unwrap();
    let moderator = moderator();
    bob.submit_report(&report, &moderator.public_key().unwrap())
        .await
        .unwrap();
    let batch = pull(&relay).await;
    let mut audit = AuditLog::in_memory();
    let opened = moderator
        .open(&mut audit, "mo", &batch.reports.as_slice()[0], 0)
        .unwrap();
    let message = &opened.messages[0];
    assert_eq!(message.verdict, Verdict::Verified);

    // Moderation takes the reference from the verified message and fetches
    // the blob from the relay itself.
    let share = reported_share(&opened, message).unwrap();
    assert_eq!(
        hex::encode(share.reference.object.blob_id.0),
        sent.attachment.blob_id
    );
    let moderation = moderation_device(&devices, &relay).await;
    let blob_id = share.reference.object.blob_id;
    let mut blob = Vec::new();
    moderation
        .fetch_blob(&blob_id, &share.capability, 1 << 26, &mut blob)
        .await
        .unwrap();
    let checked = check_reported_blob(&share, &blob[..]).unwrap();
    assert_eq!(checked.blob_id, blob_id);
    assert_eq!(checked.plaintext_len, content.len() as u64);
    assert_eq!(hex::encode(checked.plaintext_sha256), seen.sha256);

    // alice holds the key: she seals other content under the same key, id
    // and context, and has the relay's stored blob replaced by it.
    let mut seed = share.reference.object.object_id.0.to_vec();
    seed.extend_from_slice(&share.reference.object.key.0);
    let conversation =
        ConversationId::direct(&UserId::new("alice").unwrap(), &UserId::new("bob").unwrap());
    let innocent: Vec<u8> = b"a harmless picture, as bytes!!!!! "
        .iter()
        .copied()
        .cycle()
        .take(content.len())
        .collect();
    let (resealed, object) = ObjectSealer::new(
        &mut FixedBytes(seed),
        alice.address(),
        conversation,
        MediaType::new("text/plain").unwrap(),
        ChunkSize::DEFAULT,
    )
    .seal(&innocent)
    .unwrap();
    // Same key, same id, same length: only the ciphertext differs.
    assert_eq!(object.object.key, share.reference.object.key);
    assert_eq!(object.object.sealed_len, share.reference.object.sealed_len);
    assert_ne!(object.object.blob_id, blob_id);
    let original = stored_blob(&relay, &hex::encode(blob_id.0));
    replace_blob(&relay, &hex::encode(blob_id.0), &resealed);

    let mut blob = Vec::new();
    moderation
        .fetch_blob(&blob_id, &share.capability, 1 << 26, &mut blob)
        .await
        .unwrap();
    assert_eq!(blob, resealed);
    assert_eq!(
        check_reported_blob(&share, &blob[..]),
        Err(AttachmentCheckError::Blob(AttachmentError::HashMismatch))
    );

    // Another object's blob in its place: refused as well.
    let mut other = original.clone();
    other[5..37].copy_from_slice(&[0x42; 32]);
    replace_blob(&relay, &hex::encode(blob_id.0), &other);
    let mut blob = Vec::new();
    moderation
        .fetch_blob(&blob_id, &share.capability, 1 << 26, &mut blob)
        .await
        .unwrap();
    assert_eq!(
        check_reported_blob(&share, &blob[..]),
        Err(AttachmentCheckError::Blob(AttachmentError::ContextMismatch))
    );

    // Put back, it verifies again.
    replace_blob(&relay, &hex::encode(blob_id.0), &original);
    let mut blob = Vec::new();
    moderation
        .fetch_blob(&blob_id, &share.capability, 1 << 26, &mut blob)
        .await
        .unwrap();
    assert!(check_reported_blob(&share, &blob[..]).is_ok());
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_message_is_not_an_attachment_to_check() {
    let relay = moderated_relay().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    alice.send_text("bob", "just text").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let local = bob.history("alice", 10).await.unwrap()[0].local_id;
    let report = bob.report("spam", &[local]).await.unwrap();
    let moderator = moderator();
    bob.submit_report(&report, &moderator.public_key().unwrap())
        .await
        .unwrap();
    let batch = pull(&relay).await;
    let opened = moderator
        .open(
            &mut AuditLog::in_memory(),
            "mo",
            &batch.reports.as_slice()[0],
            0,
        )
        .unwrap();
    assert_eq!(
        reported_share(&opened, &opened.messages[0]).unwrap_err(),
        AttachmentCheckError::NotAnAttachment
    );
    relay.stop().await;
}
