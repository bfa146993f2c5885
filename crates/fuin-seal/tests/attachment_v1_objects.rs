//! Objects sealed in format version 1 (blob id = SHA-256) still open, with
//! the checks and errors they always had, now that fuin-seal seals version 2
//! (blob id = BLAKE3, `spec/attachments.md` §4.1); and an object opens only
//! under the version, and so the hash, its sealer used.
//!
//! The version 1 objects are those of `test-vectors/attachments/objects-v1.json`
//! (the vectors of version 1, kept as they were) and, for sizes the vectors do
//! not cover, objects made by `seal_as_version` on the chunk primitives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attachments;

use attachments::*;
use fuin_seal::attachment::{
    AttachmentError, ChunkSize, FormatVersion, HEADER_LEN, ObjectContext, ObjectOpener,
};
use fuin_wire::attachment::{AttachmentKey, AttachmentReference, SealedObjectRef};
use serde_json::Value;

fn load_v1() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../test-vectors/attachments/objects-v1.json"
    );
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("test vector {path} is missing: {err}"));
    serde_json::from_str(&text).unwrap()
}

fn bytes(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

/// One version 1 object of the vectors: its sealed bytes, the reference its
/// sender wrote, and its plaintext.
struct V1Object {
    name: String,
    blob: Vec<u8>,
    object: SealedObjectRef,
    context: ObjectContext<'static>,
    chunk_size: ChunkSize,
    plaintext: Vec<u8>,
    alterations: Vec<(String, String)>,
}

fn v1_objects() -> Vec<V1Object> {
    load_v1()["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stated| {
            let body = bytes(&stated["reference_body"]);
            let reference = AttachmentReference::from_bytes(&body).unwrap();
            let context = ObjectContext::of_reference(&reference).into_owned();
            V1Object {
                name: stated["name"].as_str().unwrap().to_owned(),
                blob: bytes(&stated["sealed"]),
                object: reference.object.clone(),
                context,
                chunk_size: chunk(stated["inputs"]["chunk_size"].as_u64().unwrap() as u32),
                plaintext: bytes(&stated["inputs"]["plaintext"]),
                alterations: stated["alterations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| {
                        (
                            a["alteration"].as_str().unwrap().to_owned(),
                            a["error"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

#[test]
fn the_version_1_vectors_are_version_1_objects_named_by_sha256() {
    let objects = v1_objects();
    assert_eq!(objects.len(), 2);
    for v1 in &objects {
        assert_eq!(v1.blob[0], 1, "{}", v1.name);
        assert_eq!(v1.object.blob_id, sha256_of(&v1.blob), "{}", v1.name);
        assert_eq!(v1.object.sealed_len, v1.blob.len() as u64, "{}", v1.name);
    }
}

#[test]
fn every_version_1_vector_opens_on_every_path() {
    for v1 in v1_objects() {
        for opened in open_everywhere(&v1.object, &v1.context, &v1.blob, 2) {
            assert_eq!(
                opened.result.as_deref(),
                Ok(&v1.plaintext[..]),
                "{}: {}",
                v1.name,
                opened.path
            );
        }
        let opened = ObjectOpener::new(&v1.object, &v1.context)
            .open_stream(&v1.blob[..], std::io::sink())
            .unwrap();
        assert_eq!(opened.version, FormatVersion::V1);
        assert_eq!(opened.blob_id, v1.object.blob_id);
    }
}

/// The altered copy, key or context each named alteration of the vectors
/// stands for.
fn alter(v1: &V1Object, name: &str) -> (SealedObjectRef, ObjectContext<'static>, Vec<u8>) {
    let mut object = v1.object.clone();
    let mut context = v1.context.clone();
    let mut pieces = Pieces::of(&v1.blob, v1.chunk_size);
    let blob = match name {
        "chunks 0 and 1 swapped" => {
            pieces.chunks.swap(0, 1);
            pieces.join()
        }
        "last chunk dropped" => {
            pieces.chunks.pop();
            pieces.join()
        }
        "last byte of the last tag flipped" => {
            let mut blob = v1.blob.clone();
            *blob.last_mut().unwrap() ^= 1;
            blob
        }
        "opened with key 00..00" => {
            object.key = AttachmentKey([0; 32]);
            v1.blob.clone()
        }
        "opened as an object of mallory/1" => {
            context.owner = address("mallory", 1);
            v1.blob.clone()
        }
        "one byte appended" => [&v1.blob[..], &[0]].concat(),
        other => panic!("no alteration named {other}"),
    };
    (object, context, blob)
}

#[test]
fn every_version_1_alteration_fails_as_the_vectors_say_on_every_path() {
    let mut checked = 0;
    for v1 in v1_objects() {
        for (name, error) in &v1.alterations {
            let (object, context, blob) = alter(&v1, name);
            let results = open_everywhere(&object, &context, &blob, 2);
            let got = results[0].result.as_ref().unwrap_err();
            assert_eq!(&format!("{got:?}"), error, "{}: {name}", v1.name);
            checked += 1;
        }
    }
    assert_eq!(checked, 10);
}

/// A version 2 object sealed by fuin-seal, and the same plaintext under the
/// same key and context as a version 1 object.
fn both_versions(
    len: usize,
) -> (
    (Vec<u8>, SealedObjectRef),
    (Vec<u8>, SealedObjectRef),
    Vec<u8>,
) {
    let owner = address("alice", 1);
    let data = plaintext(len, 5);
    let (v2_blob, sealed) = sealer(21, &owner, "bob", "image/png", chunk(64))
        .seal(&data)
        .unwrap();
    let v1 = seal_as_version(1, &sealed.object.key, &sealed.context, chunk(64), &data);
    ((v2_blob, sealed.object), v1, data)
}

fn context_of(object: &SealedObjectRef) -> ObjectContext<'static> {
    let owner = address("alice", 1);
    let conversation = fuin_seal::ConversationId::direct(
        &owner.user,
        &fuin_wire::UserId::new("bob".to_owned()).unwrap(),
    );
    ObjectContext {
        owner,
        conversation,
        object_id: object.object_id,
        content_type: media("image/png"),
    }
}

fn assert_every_path_fails(
    object: &SealedObjectRef,
    blob: &[u8],
    expected: &AttachmentError,
    what: &str,
) {
    for opened in open_everywhere(object, &context_of(object), blob, 2) {
        assert_eq!(
            opened.result.as_ref(),
            Err(expected),
            "{what}: {}",
            opened.path
        );
    }
}

#[test]
fn the_test_sealer_of_any_version_matches_fuin_seal_on_version_2() {
    // So that the version 1 objects below differ from what fuin-seal seals
    // in the version byte and the hash only.
    for len in [0, 1, 63, 64, 65, 300] {
        let ((v2_blob, v2), (v1_blob, v1), data) = both_versions(len);
        let context = context_of(&v2);
        assert_eq!(
            seal_as_version(2, &v2.key, &context, chunk(64), &data),
            (v2_blob.clone(), v2.clone())
        );
        assert_eq!(v1_blob[0], 1);
        assert_eq!(v1_blob.len(), v2_blob.len());
        assert_eq!(v1_blob[1..HEADER_LEN], v2_blob[1..HEADER_LEN]);
        assert_eq!(v1.blob_id, sha256_of(&v1_blob));
    }
}

#[test]
fn a_version_2_object_labelled_version_1_fails_at_its_first_chunk() {
    let ((mut blob, object), _, _) = both_versions(200);
    blob[0] = 1;
    // Even under a reference that names the relabelled bytes' SHA-256.
    let mut renamed = object.clone();
    renamed.blob_id = sha256_of(&blob);
    for object in [&object, &renamed] {
        assert_every_path_fails(
            object,
            &blob,
            &AttachmentError::ChunkFailed { index: 0 },
            "v2 labelled 1",
        );
    }
}

#[test]
fn a_version_1_object_labelled_version_2_fails_at_its_first_chunk() {
    let (_, (mut blob, object), _) = both_versions(200);
    blob[0] = 2;
    let mut renamed = object.clone();
    renamed.blob_id = blake3_of(&blob);
    for object in [&object, &renamed] {
        assert_every_path_fails(
            object,
            &blob,
            &AttachmentError::ChunkFailed { index: 0 },
            "v1 labelled 2",
        );
    }
}

#[test]
fn a_reference_naming_the_other_versions_hash_fails_with_a_hash_mismatch() {
    let ((v2_blob, v2), (v1_blob, v1), _) = both_versions(200);
    // A version 2 object named by its SHA-256 (as a version 1 sealer would).
    let mut by_sha256 = v2.clone();
    by_sha256.blob_id = sha256_of(&v2_blob);
    assert_every_path_fails(
        &by_sha256,
        &v2_blob,
        &AttachmentError::HashMismatch,
        "v2 named by SHA-256",
    );
    // A version 1 object named by its BLAKE3 hash.
    let mut by_blake3 = v1.clone();
    by_blake3.blob_id = blake3_of(&v1_blob);
    assert_every_path_fails(
        &by_blake3,
        &v1_blob,
        &AttachmentError::HashMismatch,
        "v1 named by BLAKE3",
    );
    // And the honest names open.
    for (object, blob) in [(&v2, &v2_blob), (&v1, &v1_blob)] {
        for opened in open_everywhere(object, &context_of(object), blob, 2) {
            assert!(opened.result.is_ok(), "{}", opened.path);
        }
    }
}

#[test]
fn an_unknown_version_is_refused_before_anything_else() {
    let ((v2_blob, v2), (v1_blob, v1), _) = both_versions(200);
    for (object, blob) in [(&v2, &v2_blob), (&v1, &v1_blob)] {
        for version in [0u8, 3, 0xff] {
            // Labelled and named consistently: only the version is wrong.
            let (relabelled, mut named) = seal_as_version(
                version,
                &object.key,
                &context_of(object),
                chunk(64),
                &plaintext(200, 5),
            );
            named.blob_id = blake3_of(&relabelled);
            let mut altered = blob.clone();
            altered[0] = version;
            for bytes in [&relabelled, &altered] {
                assert_every_path_fails(
                    &named,
                    bytes,
                    &AttachmentError::UnsupportedVersion { version },
                    "unknown version",
                );
            }
        }
    }
}

#[test]
fn version_1_objects_of_any_size_open_on_every_path_with_any_window() {
    let owner = address("alice", 1);
    for size in [16u32, 17, 1000] {
        let c = size as usize;
        for len in [0, 1, c - 1, c, c + 1, 3 * c + 5, 10 * c + 1] {
            let data = plaintext(len, len as u8);
            let (_, sealed) = sealer(9, &owner, "bob", "video/mp4", chunk(size))
                .seal(&data)
                .unwrap();
            let (blob, object) =
                seal_as_version(1, &sealed.object.key, &sealed.context, chunk(size), &data);
            for window in [1, 2, 3, 16] {
                for opened in open_everywhere(&object, &sealed.context, &blob, window) {
                    assert_eq!(
                        opened.result.as_deref(),
                        Ok(&data[..]),
                        "{size}/{len}/{window}: {}",
                        opened.path
                    );
                }
            }
        }
    }
}
