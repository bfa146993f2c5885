//! Attachments: each attack on a sealed object is performed here and shown
//! to fail with the error that names it, on every opening path, without
//! showing a byte of anyone else's plaintext.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attachments;

use std::collections::HashMap;

use attachments::*;
use fuin_seal::ConversationId;
use fuin_seal::attachment::*;
use fuin_wire::BlobId;
use fuin_wire::attachment::{AttachmentKey, AttachmentReference, FileName, SealedObjectRef};

const SMALL: u32 = 64;

/// A user's photo and its thumbnail, sealed and referenced, as the sender
/// hands them to the relay and to the recipient.
struct Shared {
    reference: AttachmentReference<'static>,
    photo: Vec<u8>,
    photo_blob: Vec<u8>,
    thumbnail: Vec<u8>,
    thumbnail_blob: Vec<u8>,
}

fn share(seed: u64, owner: &str, peer: &str, salt: u8) -> Shared {
    let owner = address(owner, 1);
    // Same sizes and media types for every user: the blobs have the same
    // structure and only the bytes differ.
    let photo = plaintext(5 * SMALL as usize + 10, salt);
    let thumbnail = plaintext(SMALL as usize + 3, salt ^ 0x55);
    let (photo_blob, photo_object) = sealer(seed * 10, &owner, peer, "image/jpeg", chunk(SMALL))
        .seal(&photo)
        .unwrap();
    let (thumbnail_blob, thumbnail_object) =
        sealer(seed * 10 + 1, &owner, peer, "image/jpeg", chunk(SMALL))
            .seal(&thumbnail)
            .unwrap();
    let reference = attachment_reference(
        &photo_object,
        Some(&thumbnail_object),
        Some(FileName::new("photo.jpg").unwrap()),
    )
    .unwrap();
    // The reference travels as bytes inside a message.
    let reference = AttachmentReference::from_bytes(&reference.to_bytes().unwrap())
        .unwrap()
        .into_owned();
    Shared {
        reference,
        photo,
        photo_blob,
        thumbnail,
        thumbnail_blob,
    }
}

fn main_object(reference: &AttachmentReference<'_>) -> (SealedObjectRef, ObjectContext<'static>) {
    (
        reference.object.clone(),
        ObjectContext::of_reference(reference).into_owned(),
    )
}

fn thumbnail_object(
    reference: &AttachmentReference<'_>,
) -> (SealedObjectRef, ObjectContext<'static>) {
    (
        reference.thumbnail.clone().unwrap().object,
        ObjectContext::of_thumbnail(reference).unwrap().into_owned(),
    )
}

/// Opens on every path, checks that every path fails with `expected`, and
/// that no path wrote a byte that is not plaintext of `own` (the object the
/// reference names) in its place.
fn assert_fails(
    (object, context): &(SealedObjectRef, ObjectContext<'static>),
    blob: &[u8],
    expected: AttachmentError,
    own: &[u8],
) {
    for opened in open_everywhere(object, context, blob, 2) {
        assert_eq!(opened.result, Err(expected.clone()), "{}", opened.path);
        assert!(
            own.starts_with(&opened.written),
            "{} wrote bytes that are not the referenced plaintext",
            opened.path
        );
    }
}

#[test]
fn sealed_objects_open_on_every_path_and_every_path_seals_the_same_bytes() {
    let owner = address("alice", 1);
    for size in [16u32, 17, 64, 1000] {
        let c = size as usize;
        for len in [0, 1, c - 1, c, c + 1, 3 * c, 3 * c + 5, 10 * c + 1] {
            let data = plaintext(len, len as u8);
            for window in [1, 2, 3, 16] {
                let (blob, sealed) =
                    seal_everywhere(7, &owner, "bob", "video/mp4", chunk(size), &data, window);
                for opened in open_everywhere(&sealed.object, &sealed.context, &blob, window) {
                    assert_eq!(opened.result.as_deref(), Ok(&data[..]), "{}", opened.path);
                }
            }
        }
    }
}

#[test]
fn an_empty_object_is_one_empty_final_chunk() {
    let owner = address("alice", 1);
    let (blob, sealed) =
        seal_everywhere(1, &owner, "bob", "text/plain", ChunkSize::DEFAULT, b"", 4);
    assert_eq!(blob.len(), HEADER_LEN + 16);
    assert_eq!(
        open_result(&sealed.object, &sealed.context, &blob),
        Ok(Vec::new())
    );
}

#[test]
fn the_blob_id_is_the_blake3_hash_of_the_sealed_bytes_and_the_version_is_2() {
    let shared = share(1, "alice", "bob", 1);
    assert_eq!(shared.photo_blob[0], 2);
    assert_eq!(FORMAT_VERSION, 2);
    assert_eq!(
        shared.reference.object.blob_id,
        blake3_of(&shared.photo_blob)
    );
    assert_eq!(
        shared.reference.object.sealed_len,
        shared.photo_blob.len() as u64
    );
}

/// The relay's blob store, holding blobs by id, as the relay would (the
/// relay is the adversary here).
fn blob_store(shared: &[&Shared]) -> HashMap<BlobId, Vec<u8>> {
    let mut store = HashMap::new();
    for user in shared {
        store.insert(user.reference.object.blob_id, user.photo_blob.clone());
        let thumbnail = user.reference.thumbnail.as_ref().unwrap();
        store.insert(thumbnail.object.blob_id, user.thumbnail_blob.clone());
    }
    store
}

#[test]
fn two_users_blobs_swapped_in_the_relay_fail_with_a_context_mismatch() {
    // Alice shares a photo with Bob, Carol one with Dave, at the same time,
    // with the same structure. A batch job on the relay mixes up the blobs:
    // each id now holds the other user's bytes, thumbnails included.
    let alice = share(10, "alice", "bob", 0xa0);
    let carol = share(20, "carol", "dave", 0xc0);
    let mut store = blob_store(&[&alice, &carol]);
    let swap = |store: &mut HashMap<BlobId, Vec<u8>>, a: BlobId, b: BlobId| {
        let first = store.remove(&a).unwrap();
        let second = store.remove(&b).unwrap();
        store.insert(a, second);
        store.insert(b, first);
    };
    let thumb_id = |user: &Shared| user.reference.thumbnail.as_ref().unwrap().object.blob_id;
    swap(
        &mut store,
        alice.reference.object.blob_id,
        carol.reference.object.blob_id,
    );
    swap(&mut store, thumb_id(&alice), thumb_id(&carol));

    for (recipient_sees, own) in [(&alice, &carol), (&carol, &alice)] {
        let reference = &recipient_sees.reference;
        let served = &store[&reference.object.blob_id];
        assert_eq!(served, &own.photo_blob, "the swap happened");
        assert_fails(
            &main_object(reference),
            served,
            AttachmentError::ContextMismatch,
            &recipient_sees.photo,
        );
        let served_thumbnail = &store[&thumb_id(recipient_sees)];
        assert_eq!(served_thumbnail, &own.thumbnail_blob);
        assert_fails(
            &thumbnail_object(reference),
            served_thumbnail,
            AttachmentError::ContextMismatch,
            &recipient_sees.thumbnail,
        );
        // Nothing at all was written: the header is checked first.
        for opened in open_everywhere(
            &reference.object,
            &ObjectContext::of_reference(reference),
            served,
            2,
        ) {
            assert!(opened.written.is_empty(), "{}", opened.path);
        }
    }
}

#[test]
fn a_users_photo_and_its_own_thumbnail_swapped_fail_with_a_context_mismatch() {
    let alice = share(30, "alice", "bob", 1);
    assert_fails(
        &main_object(&alice.reference),
        &alice.thumbnail_blob,
        AttachmentError::ContextMismatch,
        &alice.photo,
    );
    assert_fails(
        &thumbnail_object(&alice.reference),
        &alice.photo_blob,
        AttachmentError::ContextMismatch,
        &alice.thumbnail,
    );
}

#[test]
fn an_object_opened_under_a_relabelled_context_fails() {
    // The same blob and key, with any part of the context changed (as a
    // reference re-labelled by whoever could alter it would ask for).
    let alice = share(40, "alice", "bob", 2);
    let (object, context) = main_object(&alice.reference);
    let mut contexts = Vec::new();
    let mut other = context.clone();
    other.owner = address("mallory", 1);
    contexts.push(other);
    let mut other = context.clone();
    other.owner = address("alice", 2);
    contexts.push(other);
    let mut other = context.clone();
    other.conversation = ConversationId([0; 32]);
    contexts.push(other);
    let mut other = context.clone();
    other.object_id.0[0] ^= 1;
    contexts.push(other);
    let mut other = context.clone();
    other.content_type = media("image/png");
    contexts.push(other);
    for context in contexts {
        assert_fails(
            &(object.clone(), context),
            &alice.photo_blob,
            AttachmentError::ContextMismatch,
            &alice.photo,
        );
    }
}

#[test]
fn another_objects_header_on_these_chunks_fails_at_the_first_chunk() {
    // A relay that knows both blobs puts Carol's header (so the context
    // check passes for Carol's reference) in front of Alice's chunks.
    let alice = share(50, "alice", "bob", 3);
    let carol = share(60, "carol", "dave", 4);
    let mut forged = Pieces::of(&alice.photo_blob, chunk(SMALL));
    forged.header = Pieces::of(&carol.photo_blob, chunk(SMALL)).header;
    assert_fails(
        &main_object(&carol.reference),
        &forged.join(),
        AttachmentError::ChunkFailed { index: 0 },
        &carol.photo,
    );
}

#[test]
fn a_truncated_blob_fails_whether_cut_at_a_chunk_or_inside_one() {
    let alice = share(70, "alice", "bob", 5);
    let blob = &alice.photo_blob;
    let expected = blob.len() as u64;
    let pieces = Pieces::of(blob, chunk(SMALL));
    assert_eq!(pieces.chunks.len(), 6);
    let mut without_last = pieces.clone();
    without_last.chunks.pop();
    let without_last = without_last.join();
    let object = main_object(&alice.reference);
    for cut in [
        without_last.len(),               // the last chunk dropped
        blob.len() - 1,                   // one byte short
        HEADER_LEN + SMALL as usize + 20, // inside the second chunk
        HEADER_LEN,                       // header only
        HEADER_LEN - 1,                   // inside the header
        0,
    ] {
        assert_fails(
            &object,
            &blob[..cut],
            AttachmentError::Truncated {
                expected,
                received: cut as u64,
            },
            &alice.photo,
        );
    }
}

#[test]
fn a_truncated_blob_fails_even_under_a_reference_that_names_the_cut_length() {
    // Were the length and hash also replaced (say by a sender who wants one
    // recipient to see less), the next-to-last chunk, sealed as not final,
    // does not open as the last one: the last-chunk flag in its nonce.
    let alice = share(80, "alice", "bob", 6);
    let mut pieces = Pieces::of(&alice.photo_blob, chunk(SMALL));
    pieces.chunks.pop();
    let cut = pieces.join();
    let (mut object, context) = main_object(&alice.reference);
    object.sealed_len = cut.len() as u64;
    object.blob_id = blake3_of(&cut);
    assert_fails(
        &(object, context),
        &cut,
        AttachmentError::ChunkFailed { index: 4 },
        &alice.photo,
    );
}

#[test]
fn a_chunk_moved_duplicated_or_taken_from_another_object_fails_at_its_position() {
    let alice = share(90, "alice", "bob", 7);
    let other = share(91, "alice", "bob", 8);
    let pieces = Pieces::of(&alice.photo_blob, chunk(SMALL));
    let other_pieces = Pieces::of(&other.photo_blob, chunk(SMALL));
    let object = main_object(&alice.reference);

    let mut reordered = pieces.clone();
    reordered.chunks.swap(1, 2);
    let mut replaced_by_copy = pieces.clone();
    replaced_by_copy.chunks[3] = pieces.chunks[2].clone();
    let mut copy_inserted = pieces.clone();
    copy_inserted.chunks.insert(2, pieces.chunks[1].clone());
    let mut spliced = pieces.clone();
    spliced.chunks[4] = other_pieces.chunks[4].clone();
    let mut last_moved_up = pieces.clone();
    let last = last_moved_up.chunks.pop().unwrap();
    last_moved_up.chunks.insert(0, last);

    for (name, blob, index) in [
        ("reordered", reordered.join(), 1),
        (
            "replaced by a copy of its predecessor",
            replaced_by_copy.join(),
            3,
        ),
        ("a copy inserted", copy_inserted.join(), 2),
        (
            "spliced from another object of the same sender",
            spliced.join(),
            4,
        ),
        ("last chunk moved to the front", last_moved_up.join(), 0),
    ] {
        for opened in open_everywhere(&object.0, &object.1, &blob, 2) {
            assert_eq!(
                opened.result,
                Err(AttachmentError::ChunkFailed { index }),
                "{name}: {}",
                opened.path
            );
        }
    }
}

#[test]
fn a_streaming_opener_writes_only_chunks_that_authenticated() {
    let alice = share(100, "alice", "bob", 9);
    let mut pieces = Pieces::of(&alice.photo_blob, chunk(SMALL));
    pieces.chunks[3][5] ^= 0x01;
    let (object, context) = main_object(&alice.reference);
    let results = open_everywhere(&object, &context, &pieces.join(), 2);
    for opened in &results {
        assert_eq!(
            opened.result,
            Err(AttachmentError::ChunkFailed { index: 3 })
        );
    }
    let streamed = results.iter().find(|o| o.path == "streamed").unwrap();
    assert_eq!(streamed.written, alice.photo[..3 * SMALL as usize]);
    // In windows of two, the window with the bad chunk writes nothing.
    let windowed = results
        .iter()
        .find(|o| o.path == "streamed in parallel")
        .unwrap();
    assert_eq!(windowed.written, alice.photo[..2 * SMALL as usize]);
}

#[test]
fn trailing_bytes_after_the_object_fail() {
    let alice = share(110, "alice", "bob", 10);
    let mut longer = alice.photo_blob.clone();
    longer.push(0);
    assert_fails(
        &main_object(&alice.reference),
        &longer,
        AttachmentError::TrailingData {
            expected: alice.photo_blob.len() as u64,
        },
        &alice.photo,
    );
}

#[test]
fn a_wrong_key_fails_before_any_chunk_is_opened() {
    let alice = share(120, "alice", "bob", 11);
    let (mut object, context) = main_object(&alice.reference);
    object.key = AttachmentKey([0x42; 32]);
    let results = open_everywhere(&object, &context, &alice.photo_blob, 2);
    for opened in results {
        assert_eq!(
            opened.result,
            Err(AttachmentError::WrongKey),
            "{}",
            opened.path
        );
        assert!(opened.written.is_empty());
    }
    // The other object's key, under this object's context.
    let carol = share(121, "alice", "bob", 12);
    let (mut object, context) = main_object(&alice.reference);
    object.key = carol.reference.object.key.clone();
    assert_fails(
        &(object, context),
        &alice.photo_blob,
        AttachmentError::WrongKey,
        &alice.photo,
    );
}

#[test]
fn an_altered_header_fails_with_the_error_for_its_field() {
    let alice = share(130, "alice", "bob", 13);
    let object = main_object(&alice.reference);
    let altered = |at: usize, value: u8| {
        let mut blob = alice.photo_blob.clone();
        blob[at] = value;
        blob
    };
    let chunk_size_at = |size: u32| {
        let mut blob = alice.photo_blob.clone();
        blob[1..5].copy_from_slice(&size.to_be_bytes());
        blob
    };
    for (name, blob, expected) in [
        (
            "version",
            altered(0, 3),
            AttachmentError::UnsupportedVersion { version: 3 },
        ),
        // Version 1 is known, but the header is every chunk's associated
        // data (tests/attachment_v1_objects.rs has the other crossings).
        (
            "version 1",
            altered(0, 1),
            AttachmentError::ChunkFailed { index: 0 },
        ),
        (
            "chunk size below the minimum",
            chunk_size_at(8),
            AttachmentError::InvalidChunkSize { size: 8 },
        ),
        // The commitment binds the chunk size too.
        ("chunk size", chunk_size_at(32), AttachmentError::WrongKey),
        (
            "context id",
            altered(5, alice.photo_blob[5] ^ 1),
            AttachmentError::ContextMismatch,
        ),
        (
            "commitment",
            altered(40, alice.photo_blob[40] ^ 1),
            AttachmentError::WrongKey,
        ),
    ] {
        for opened in open_everywhere(&object.0, &object.1, &blob, 2) {
            assert_eq!(
                opened.result,
                Err(expected.clone()),
                "{name}: {}",
                opened.path
            );
        }
    }
}

#[test]
fn a_ciphertext_swapped_by_its_sender_is_caught_by_the_hash() {
    // The sender seals two different plaintexts under one key and context
    // (here by replaying its randomness), references the first and serves
    // the second. Every chunk authenticates, so a streaming opener writes
    // plaintext, but the object does not verify: a client that waits for
    // the finish shows nothing.
    let owner = address("alice", 1);
    let honest = plaintext(3 * SMALL as usize, 1);
    let swapped = plaintext(3 * SMALL as usize, 2);
    let (_, object) = sealer(140, &owner, "bob", "image/jpeg", chunk(SMALL))
        .seal(&honest)
        .unwrap();
    let (swapped_blob, swapped_object) = sealer(140, &owner, "bob", "image/jpeg", chunk(SMALL))
        .seal(&swapped)
        .unwrap();
    assert_eq!(swapped_object.object.key, object.object.key);
    assert_ne!(swapped_object.object.blob_id, object.object.blob_id);
    let results = open_everywhere(&object.object, &object.context, &swapped_blob, 2);
    for opened in &results {
        assert_eq!(
            opened.result,
            Err(AttachmentError::HashMismatch),
            "{}",
            opened.path
        );
    }
    let streamed = results.iter().find(|o| o.path == "streamed").unwrap();
    assert_eq!(
        streamed.written, swapped,
        "chunks authenticated and were written"
    );
}

#[test]
fn a_reference_that_does_not_fit_its_message_is_refused() {
    let alice = share(150, "alice", "bob", 14);
    let reference = &alice.reference;
    let sender = address("alice", 1);
    let conversation = ConversationId(reference.conversation.0);
    assert_eq!(
        check_reference_fits_message(reference, &sender, &conversation),
        Ok(())
    );
    // Mallory forwards Alice's reference as if it were hers, or into another
    // conversation.
    for (sender, conversation) in [
        (address("mallory", 1), conversation),
        (address("alice", 2), conversation),
        (sender.clone(), ConversationId([1; 32])),
    ] {
        assert_eq!(
            check_reference_fits_message(reference, &sender, &conversation),
            Err(AttachmentError::ContextMismatch)
        );
    }
}

#[test]
fn a_thumbnail_from_another_conversation_cannot_be_referenced() {
    let owner = address("alice", 1);
    let (_, photo) = sealer(160, &owner, "bob", "image/jpeg", chunk(SMALL))
        .seal(b"photo")
        .unwrap();
    let (_, thumbnail) = sealer(161, &owner, "carol", "image/jpeg", chunk(SMALL))
        .seal(b"thumb")
        .unwrap();
    assert_eq!(
        attachment_reference(&photo, Some(&thumbnail), None),
        Err(AttachmentError::ContextMismatch)
    );
}

#[test]
fn a_reference_whose_size_does_not_fit_the_chunk_size_is_refused() {
    let alice = share(170, "alice", "bob", 15);
    let (mut object, context) = main_object(&alice.reference);
    // HEADER + 6 full units + 16 bytes: a last chunk that is only a tag.
    object.sealed_len = (HEADER_LEN + 6 * (SMALL as usize + 16) + 16) as u64;
    for opened in open_everywhere(&object, &context, &alice.photo_blob, 2) {
        assert_eq!(
            opened.result,
            Err(AttachmentError::SizeMismatch {
                sealed_len: object.sealed_len
            }),
            "{}",
            opened.path
        );
    }
}

#[test]
fn io_errors_of_the_callers_reader_and_writer_are_reported() {
    struct Broken;
    impl std::io::Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::ConnectionReset.into())
        }
    }
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::StorageFull.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let owner = address("alice", 1);
    let make = || sealer(180, &owner, "bob", "image/jpeg", chunk(SMALL));
    assert_eq!(
        make().seal_stream(Broken, Vec::new()).unwrap_err(),
        AttachmentError::Io {
            kind: std::io::ErrorKind::ConnectionReset
        }
    );
    assert_eq!(
        make().seal_stream(&[1u8; 500][..], Broken).unwrap_err(),
        AttachmentError::Io {
            kind: std::io::ErrorKind::StorageFull
        }
    );
    let (blob, sealed) = make().seal(&[1u8; 500]).unwrap();
    let opener = || ObjectOpener::new(&sealed.object, &sealed.context);
    assert_eq!(
        opener().open_stream(&blob[..], Broken).unwrap_err(),
        AttachmentError::Io {
            kind: std::io::ErrorKind::StorageFull
        }
    );
    // Through `std::io::copy` the attachment error comes back intact.
    let mut tampered = blob.clone();
    tampered[HEADER_LEN] ^= 1;
    let mut writer = opener().writer(Vec::new());
    let err = std::io::copy(&mut &tampered[..], &mut writer).unwrap_err();
    assert_eq!(
        AttachmentError::from(err),
        AttachmentError::ChunkFailed { index: 0 }
    );
    assert_eq!(
        writer.finish().unwrap_err(),
        AttachmentError::ChunkFailed { index: 0 }
    );
}

#[test]
fn debug_output_shows_no_key() {
    let owner = address("alice", 1);
    let object_sealer = sealer(190, &owner, "bob", "image/jpeg", chunk(SMALL));
    let sealer_shown = format!("{object_sealer:?}");
    let (_, sealed) = object_sealer.seal(b"a photo").unwrap();
    let reference = attachment_reference(&sealed, None, None).unwrap();
    let opener = ObjectOpener::for_reference(&reference);
    let key_hex = hex::encode(sealed.object.key.0);
    let key_list = format!("{:?}", sealed.object.key.0);
    for shown in [
        sealer_shown,
        format!("{reference:?}"),
        format!("{opener:?}"),
        format!("{sealed:?}"),
        format!("{:?}", opener.writer(Vec::new())),
    ] {
        assert!(
            shown.contains("Object") || shown.contains("Writer"),
            "{shown}"
        );
        assert!(!shown.contains(&key_hex), "{shown}");
        assert!(!shown.contains(&key_list[1..20]), "{shown}");
    }
}
