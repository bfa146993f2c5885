//! Checks `test-vectors/attachments/` two ways: the reference computations
//! of spec/attachments.md (on the crypto crates directly) reproduce every
//! value in the files, and fuin-seal, given the same object id and key,
//! seals the same bytes, writes the same reference and fails the same
//! alterations with the same errors. `objects.json` is format version 2,
//! what fuin-seal seals; `objects-v1.json` is version 1, which fuin-seal
//! no longer seals but must still open.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attachment_spec;

use attachment_spec::opening::{check_fuin_agrees, open_reference};
use attachment_spec::reference as r;
use attachment_spec::scenario;
use fuin_wire::attachment::AttachmentReference;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/../../test-vectors/attachments/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("test vector {path} is missing: {err}"));
    serde_json::from_str(&text).unwrap()
}

fn bytes(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

/// Every value the reference computes for the cases in `version` is the
/// file's.
fn check_reference_reproduces(file: &Value, version: u8) {
    let objects = file["objects"].as_array().unwrap();
    let cases = scenario::cases();
    assert_eq!(objects.len(), cases.len());
    for (stated, case) in objects.iter().zip(&cases) {
        let inputs = &stated["inputs"];
        assert_eq!(bytes(&inputs["key"]), case.key);
        assert_eq!(bytes(&inputs["object_id"]), case.object_id);
        assert_eq!(bytes(&inputs["plaintext"]), case.plaintext);
        let computed = scenario::run_reference_in(case, version);
        for (field, value) in computed.as_object().unwrap() {
            assert_eq!(&stated[field], value, "{}: {field}", case.name);
        }
        assert_eq!(bytes(&stated["sealed"])[0], version, "{}", case.name);
    }
    let three_chunks = &objects[0];
    assert_eq!(three_chunks["chunks"].as_array().unwrap().len(), 3);
}

#[test]
fn the_vectors_follow_from_the_spec() {
    check_reference_reproduces(&load("objects.json"), r::VERSION_BLAKE3);
}

#[test]
fn the_version_1_vectors_follow_from_the_spec() {
    check_reference_reproduces(&load("objects-v1.json"), r::VERSION_SHA256);
}

#[test]
fn the_two_versions_differ_in_the_version_byte_and_the_blob_id_only() {
    let v2 = load("objects.json");
    let v1 = load("objects-v1.json");
    for (new, old) in v2["objects"]
        .as_array()
        .unwrap()
        .iter()
        .zip(v1["objects"].as_array().unwrap())
    {
        for (field, value) in new.as_object().unwrap() {
            match field.as_str() {
                // The version byte is in the header, the associated data of
                // every chunk: so every ciphertext and tag differs too.
                "header" | "associated_data" | "chunks" | "sealed" | "blob_id"
                | "reference_body" => assert_ne!(&old[field], value, "{field}"),
                _ => assert_eq!(&old[field], value, "{field}"),
            }
        }
        let (new_header, old_header) = (bytes(&new["header"]), bytes(&old["header"]));
        assert_eq!(new_header[1..], old_header[1..]);
        assert_eq!(
            (new_header[0], old_header[0]),
            (r::VERSION_BLAKE3, r::VERSION_SHA256)
        );
        assert_eq!(
            bytes(&new["blob_id"]),
            r::blake3(&bytes(&new["sealed"])).to_vec()
        );
        assert_eq!(
            bytes(&old["blob_id"]),
            r::sha256(&bytes(&old["sealed"])).to_vec()
        );
    }
}

#[test]
fn fuin_seal_reproduces_the_vectors() {
    let file = load("objects.json");
    for (stated, case) in file["objects"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&scenario::cases())
    {
        let implementation = scenario::run_implementation(case);
        scenario::check(stated, &implementation);
        assert_eq!(
            bytes(&stated["reference_body"]),
            implementation.reference_body,
            "{}",
            case.name
        );
        let stated_alterations = stated["alterations"].as_array().unwrap();
        assert_eq!(stated_alterations.len(), implementation.alterations.len());
        for (stated, (name, error)) in stated_alterations.iter().zip(&implementation.alterations) {
            assert_eq!(stated["alteration"].as_str().unwrap(), name);
            assert_eq!(
                stated["error"].as_str().unwrap(),
                format!("{error:?}"),
                "{name}"
            );
        }
    }
}

/// Opens each object of a file as its reference body names it, on every
/// path of fuin-seal and with the reference opener, and fails its
/// alterations (made again from the stated bytes) with the stated errors.
fn check_objects_open(file: &Value) {
    for (stated, case) in file["objects"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&scenario::cases())
    {
        let sealed = bytes(&stated["sealed"]);
        let body = bytes(&stated["reference_body"]);
        let reference = AttachmentReference::from_bytes(&body).unwrap();
        let opening = scenario::opening(case, &sealed);
        assert_eq!(reference.object.blob_id.0, opening.blob_id, "{}", case.name);
        assert_eq!(reference.object.sealed_len, opening.sealed_len);
        assert_eq!(open_reference(&opening, &sealed).unwrap(), case.plaintext);
        check_fuin_agrees(case.name, &opening, &sealed);
        let opened = fuin_seal::attachment::ObjectOpener::for_reference(&reference)
            .open(&sealed)
            .unwrap();
        assert_eq!(&opened[..], case.plaintext, "{}", case.name);

        let stated_alterations = stated["alterations"].as_array().unwrap();
        let alterations = scenario::alterations(case, &sealed);
        assert_eq!(stated_alterations.len(), alterations.len());
        for (stated, (name, opening, blob)) in stated_alterations.iter().zip(&alterations) {
            assert_eq!(stated["alteration"].as_str().unwrap(), name);
            let (_, error) = open_reference(opening, blob).unwrap_err();
            assert_eq!(
                stated["error"].as_str().unwrap(),
                format!("{error:?}"),
                "{name}"
            );
            check_fuin_agrees(name, opening, blob);
        }
    }
}

#[test]
fn the_objects_open_and_their_alterations_fail_as_stated() {
    check_objects_open(&load("objects.json"));
}

#[test]
fn version_1_objects_still_open_and_their_alterations_fail_as_stated() {
    check_objects_open(&load("objects-v1.json"));
}

fn check_reference_bodies(file: &Value) {
    for stated in file["objects"].as_array().unwrap() {
        let body = bytes(&stated["reference_body"]);
        let reference = AttachmentReference::from_bytes(&body).unwrap();
        let inputs = &stated["inputs"];
        assert_eq!(
            reference.owner.user.as_str(),
            inputs["owner"]["user"].as_str().unwrap()
        );
        assert_eq!(
            u64::from(reference.owner.device.0),
            inputs["owner"]["device"].as_u64().unwrap()
        );
        assert_eq!(
            reference.conversation.0.to_vec(),
            bytes(&stated["conversation_id"])
        );
        assert_eq!(
            reference.content_type.as_str(),
            inputs["content_type"].as_str().unwrap()
        );
        assert_eq!(
            reference.object.object_id.0.to_vec(),
            bytes(&inputs["object_id"])
        );
        assert_eq!(reference.object.key.0.to_vec(), bytes(&inputs["key"]));
        assert_eq!(
            reference.object.blob_id.0.to_vec(),
            bytes(&stated["blob_id"])
        );
        assert_eq!(
            reference.object.sealed_len,
            stated["sealed_len"].as_u64().unwrap()
        );
        assert_eq!(
            reference.file_name.as_ref().map(|name| name.as_str()),
            inputs["file_name"].as_str()
        );
    }
}

#[test]
fn the_reference_body_names_the_sealed_object() {
    check_reference_bodies(&load("objects.json"));
    check_reference_bodies(&load("objects-v1.json"));
}
