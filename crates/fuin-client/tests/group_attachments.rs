//! Attachments in groups through a real relay on loopback: a member shares
//! a photo with its thumbnail and every other member device fetches the
//! same bytes; a group blob swapped in the relay's store for the same
//! sender's blob of a 1:1 conversation or of another group is refused with
//! a context mismatch; a removed member never gets the share of the next
//! epoch, not even from a relay that hands it a copy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::media::{blob_id_hex, noisy_png, replace_blob, sha256_hex, stored_blob};
use common::moderation::{moderated_relay, moderator, pull};
use common::{Devices, NO_WAIT, TestRelay, drain};
use fuin_client::{Client, ClientError, Event, SendFileOptions};
use fuin_relay::store::{NewDelivery, Store};
use fuin_seal::attachment::AttachmentError;
use fuin_wire::{ContentKind, ContentType, DeliveredRecord, FrameBody};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The local id of the newest attachment of a group's history.
async fn last_group_attachment(client: &Client, group: &str) -> Option<i64> {
    client
        .group_history(group, 100)
        .await
        .unwrap()
        .iter()
        .rev()
        .find(|entry| entry.content_type == ContentType::Attachment)
        .map(|entry| entry.local_id)
}

/// Creates a group of `owner` with `users`, and lets everyone join and
/// hand out sender keys.
async fn group_of(owner: &Client, users: &[&str], everyone: &[&Client]) -> String {
    let id = owner.create_group(users).await.unwrap().id;
    for _ in 0..2 {
        for member in everyone {
            member.sync(NO_WAIT).await.unwrap();
        }
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_photo_and_its_thumbnail_reach_every_member_device_intact() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let bob_phone = devices.link(&relay, &bob, "bob", 2, "laptop").await;
    let carol = devices.create(&relay, "carol", 1).await;
    let everyone = [&alice, &bob, &bob_phone, &carol];
    let id = group_of(&alice, &["bob", "carol"], &everyone).await;

    let files = tempfile::tempdir().unwrap();
    let photo = noisy_png(files.path(), "party.png", 240, 180, 11);
    let original = std::fs::read(&photo).unwrap();
    let options = SendFileOptions {
        chunk_size: Some(16 * 1024),
        ..SendFileOptions::default()
    };
    let sent = alice.send_group_file(&id, &photo, &options).await.unwrap();
    // One fan-out to the three other member devices.
    assert_eq!(sent.message.devices, 3);
    assert_eq!(sent.sha256, sha256_hex(&original));
    let thumbnail = sent.attachment.thumbnail.clone().expect("a thumbnail");
    // The relay holds ciphertext only.
    let stored = stored_blob(&relay, &sent.attachment.blob_id);
    // Sealed in format version 2: named by the BLAKE3 hash of those bytes.
    assert_eq!(stored[0], 2);
    assert_eq!(blob_id_hex(&stored), sent.attachment.blob_id);
    assert!(!stored.windows(64).any(|w| original[2000..2064] == *w));

    let own = alice.group_history(&id, 10).await.unwrap();
    let mine = own.last().unwrap();
    assert_eq!(mine.content_type, ContentType::Attachment);
    assert!(mine.text.contains("party.png"), "{}", mine.text);
    let info = alice.group_attachment(mine.local_id).await.unwrap();
    assert_eq!(info, sent.attachment);

    for (n, member) in [&bob, &bob_phone, &carol].into_iter().enumerate() {
        member.sync(NO_WAIT).await.unwrap();
        let local = last_group_attachment(member, &id)
            .await
            .expect("the share arrived");
        let info = member.group_attachment(local).await.unwrap();
        assert_eq!(info, sent.attachment);
        assert_eq!(info.owner, *alice.address());
        let out = files.path().join(format!("got-{n}.png"));
        let fetched = member.fetch_group_attachment(local, &out).await.unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), original);
        assert_eq!(fetched.sha256, sha256_hex(&original));
        assert_eq!(fetched.blob_id, sent.attachment.blob_id);
        let preview = member
            .fetch_group_thumbnail(local)
            .await
            .unwrap()
            .expect("a thumbnail");
        assert_eq!(preview.content_type, thumbnail.content_type);
        assert_eq!(Some(preview.dimensions), sent.thumbnail_dimensions);
        let decoded = image::load_from_memory(&preview.bytes).unwrap();
        assert_eq!(decoded.width(), fuin_client::MAX_THUMBNAIL_SIDE);
        // A group local id is not a 1:1 one: the 1:1 fetch does not take it
        // for the attachment.
        assert!(member.attachment(local).await.is_err());
    }
    // The sender can fetch its own share too.
    let out = files.path().join("own.png");
    alice
        .fetch_group_attachment(mine.local_id, &out)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), original);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_blob_swapped_for_a_direct_or_another_groups_blob_is_a_context_mismatch() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let carol = devices.create(&relay, "carol", 1).await;
    let everyone = [&alice, &bob, &carol];
    let first = group_of(&alice, &["bob", "carol"], &everyone).await;
    let second = group_of(&alice, &["bob"], &everyone).await;
    assert_ne!(first, second);

    let files = tempfile::tempdir().unwrap();
    let options = SendFileOptions::default();
    // Three photos by the same sender: in the first group, to Bob alone,
    // and in the second group.
    let in_group = noisy_png(files.path(), "group.png", 120, 90, 1);
    let direct = noisy_png(files.path(), "direct.png", 120, 90, 2);
    let other = noisy_png(files.path(), "other.png", 120, 90, 3);
    let sent_group = alice
        .send_group_file(&first, &in_group, &options)
        .await
        .unwrap();
    let sent_direct = alice.send_file("bob", &direct, &options).await.unwrap();
    let sent_other = alice
        .send_group_file(&second, &other, &options)
        .await
        .unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    carol.sync(NO_WAIT).await.unwrap();
    let bobs = last_group_attachment(&bob, &first).await.unwrap();
    let carols = last_group_attachment(&carol, &first).await.unwrap();

    // The relay's store puts the 1:1 photo, then the second group's, in
    // place of the group's photo and thumbnail.
    let group_blob = sent_group.attachment.blob_id.clone();
    let group_thumb = sent_group.attachment.thumbnail.clone().unwrap().blob_id;
    for swapped in [&sent_direct, &sent_other] {
        let thumb = swapped.attachment.thumbnail.clone().unwrap().blob_id;
        replace_blob(
            &relay,
            &group_blob,
            &stored_blob(&relay, &swapped.attachment.blob_id),
        );
        replace_blob(&relay, &group_thumb, &stored_blob(&relay, &thumb));
        for (n, (member, local)) in [(&bob, bobs), (&carol, carols)].into_iter().enumerate() {
            let out = files.path().join(format!("swapped-{n}.png"));
            let err = member
                .fetch_group_attachment(local, &out)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    ClientError::Attachment(AttachmentError::ContextMismatch)
                ),
                "{err:?}"
            );
            assert!(!out.exists(), "nothing written out");
            let err = member.fetch_group_thumbnail(local).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    ClientError::Attachment(AttachmentError::ContextMismatch)
                ),
                "{err:?}"
            );
        }
    }
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_never_gets_the_share_of_the_next_epoch() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let carol = devices.create(&relay, "carol", 1).await;
    let everyone = [&alice, &bob, &carol];
    let id = group_of(&alice, &["bob", "carol"], &everyone).await;
    let files = tempfile::tempdir().unwrap();

    // Before the removal Carol gets the photo.
    let before = noisy_png(files.path(), "before.png", 64, 64, 5);
    alice
        .send_group_file(&id, &before, &SendFileOptions::default())
        .await
        .unwrap();
    carol.sync(NO_WAIT).await.unwrap();
    assert!(last_group_attachment(&carol, &id).await.is_some());

    alice.remove_group_members(&id, &["carol"]).await.unwrap();
    for member in everyone {
        member.sync(NO_WAIT).await.unwrap();
    }
    // Carol can no longer send a file there, and nothing is uploaded.
    let err = carol
        .send_group_file(&id, &before, &SendFileOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::InvalidArgument(_)), "{err:?}");
    bob.sync(NO_WAIT).await.unwrap();
    let mut carol_events = carol.events();

    let after = noisy_png(files.path(), "after.png", 64, 64, 6);
    let sent = alice
        .send_group_file(&id, &after, &SendFileOptions::default())
        .await
        .unwrap();
    assert_eq!(sent.message.devices, 1, "only Bob is left");
    // What the relay stored for Bob, kept by a relay that hands Carol a
    // copy of the share's group message anyway.
    let stored = relay
        .relay
        .store()
        .fetch(bob.address(), 100, now())
        .await
        .unwrap();
    let mut record = stored
        .iter()
        .map(|s| DeliveredRecord::from_bytes(&s.record).unwrap().into_owned())
        .rfind(|r| r.envelope.content_kind == ContentKind::GroupMessage)
        .expect("the share's group message");
    bob.sync(NO_WAIT).await.unwrap();
    let bobs = last_group_attachment(&bob, &id).await.unwrap();
    bob.fetch_group_attachment(bobs, &files.path().join("bob.png"))
        .await
        .unwrap();

    record.envelope.recipient = carol.address().clone();
    let message_id = fuin_wire::MessageId(rand::random());
    record.server_message_id = message_id;
    relay
        .relay
        .store()
        .deliver(vec![NewDelivery {
            message_id,
            recipient: carol.address().clone(),
            record: record.to_bytes().unwrap(),
            expires_at_ms: now() + 60_000,
        }])
        .await
        .unwrap();
    carol.sync(NO_WAIT).await.unwrap();
    let history = carol.group_history(&id, 100).await.unwrap();
    let shares: Vec<_> = history
        .iter()
        .filter(|entry| entry.content_type == ContentType::Attachment)
        .collect();
    assert_eq!(shares.len(), 1, "only the photo from before the removal");
    assert!(shares[0].text.contains("before.png"));
    assert!(
        drain(&mut carol_events).iter().any(
            |e| matches!(e, Event::MessageDropped { reason, .. } if reason.contains("member"))
        ),
        "the copy is dropped with a reason"
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_attachment_is_reported_and_its_franking_verifies() {
    use fuin_client::report::attachment::{
        AttachmentCheckError, check_reported_blob, check_reported_thumbnail, reported_share,
    };
    use fuin_client::report::{AuditLog, Verdict};

    let relay = moderated_relay().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let id = group_of(&alice, &["bob"], &[&alice, &bob]).await;
    let files = tempfile::tempdir().unwrap();
    let photo = noisy_png(files.path(), "bad.png", 300, 200, 9);
    let sent = alice
        .send_group_file(&id, &photo, &SendFileOptions::default())
        .await
        .unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let local = last_group_attachment(&bob, &id).await.unwrap();
    let seen = bob
        .fetch_group_attachment(local, &files.path().join("seen.png"))
        .await
        .unwrap();
    let preview = bob.fetch_group_thumbnail(local).await.unwrap().unwrap();
    let builder = bob.report_group("abuse", &[local]).await.unwrap();
    let moderator = moderator();
    bob.submit_group_report(&builder, &moderator.public_key().unwrap())
        .await
        .unwrap();
    let batch = pull(&relay).await;
    let report = moderator
        .open(
            &mut AuditLog::in_memory(),
            "moderator",
            &batch.reports.as_slice()[0],
            now(),
        )
        .unwrap();
    assert_eq!(hex::encode(report.group.unwrap().0), id);
    // The commitment covers the content type: the share is reported as an
    // attachment, and verifies.
    assert_eq!(report.messages[0].verdict, Verdict::Verified);
    assert_eq!(report.messages[0].content_type, ContentType::Attachment);
    assert_eq!(report.messages[0].sender, *alice.address());

    // Moderation re-fetches the photo and its thumbnail with a device of its
    // own: both are the ciphertexts alice committed to, in the group's
    // conversation, and open to what bob was shown.
    let moderation = devices.create(&relay, "moderation", 1).await;
    let share = reported_share(&report, &report.messages[0]).unwrap();
    let thumbnail = share.reference.thumbnail.as_ref().unwrap();
    let photo_id = share.reference.object.blob_id;
    let thumbnail_id = thumbnail.object.blob_id;
    let fetch = |blob_id, capability| {
        let moderation = &moderation;
        async move {
            let mut blob = Vec::new();
            moderation
                .fetch_blob(&blob_id, capability, 1 << 26, &mut blob)
                .await
                .unwrap();
            blob
        }
    };
    let blob = fetch(photo_id, &share.capability).await;
    let checked = check_reported_blob(&share, &blob[..]).unwrap();
    assert_eq!(hex::encode(checked.blob_id.0), sent.attachment.blob_id);
    assert_eq!(hex::encode(checked.plaintext_sha256), seen.sha256);
    let thumbnail_capability = share.thumbnail_capability.as_ref().unwrap();
    let thumbnail_blob = fetch(thumbnail_id, thumbnail_capability).await;
    let checked = check_reported_thumbnail(&share, &thumbnail_blob[..]).unwrap();
    assert_eq!(checked.blob_id, thumbnail_id);
    assert_eq!(
        hex::encode(checked.plaintext_sha256),
        sha256_hex(&preview.bytes)
    );
    assert_eq!(checked.content_type, preview.content_type);
    // The thumbnail is not the photo, nor the photo the thumbnail.
    assert_eq!(
        check_reported_thumbnail(&share, &blob[..]),
        Err(AttachmentCheckError::Blob(AttachmentError::ContextMismatch))
    );
    assert_eq!(
        check_reported_blob(&share, &thumbnail_blob[..]),
        Err(AttachmentCheckError::Blob(AttachmentError::ContextMismatch))
    );

    // The relay's stored thumbnail is replaced by another of alice's group
    // thumbnails: moderation sees it is not the one bob was shown.
    let other = noisy_png(files.path(), "other.png", 300, 200, 10);
    let other = alice
        .send_group_file(&id, &other, &SendFileOptions::default())
        .await
        .unwrap();
    let other_thumbnail = other.attachment.thumbnail.unwrap().blob_id;
    let original = stored_blob(&relay, &hex::encode(thumbnail_id.0));
    replace_blob(
        &relay,
        &hex::encode(thumbnail_id.0),
        &stored_blob(&relay, &other_thumbnail),
    );
    let swapped = fetch(thumbnail_id, thumbnail_capability).await;
    assert_ne!(swapped, original);
    assert_eq!(
        check_reported_thumbnail(&share, &swapped[..]),
        Err(AttachmentCheckError::Blob(AttachmentError::ContextMismatch))
    );

    // Checked as if it were a one-to-one report, the reference does not fit.
    let mut direct = report.clone();
    direct.group = None;
    assert_eq!(
        reported_share(&direct, &direct.messages[0]).err(),
        Some(AttachmentCheckError::ReferenceMismatch)
    );
    relay.stop().await;
}
