//! Checks `test-vectors/attachments/` two ways: the reference computations
//! of spec/attachments.md (on the crypto crates directly) reproduce every
//! value in the file, and fuin-seal, given the same object id and key, seals
//! the same bytes, writes the same reference and fails the same alterations
//! with the same errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attachment_spec;

use attachment_spec::scenario;
use fuin_wire::attachment::AttachmentReference;
use serde_json::Value;

fn load() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../test-vectors/attachments/objects.json"
    );
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("test vector {path} is missing: {err}"));
    serde_json::from_str(&text).unwrap()
}

fn bytes(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

#[test]
fn the_vectors_follow_from_the_spec() {
    let file = load();
    let objects = file["objects"].as_array().unwrap();
    let cases = scenario::cases();
    assert_eq!(objects.len(), cases.len());
    for (stated, case) in objects.iter().zip(&cases) {
        let inputs = &stated["inputs"];
        assert_eq!(bytes(&inputs["key"]), case.key);
        assert_eq!(bytes(&inputs["object_id"]), case.object_id);
        assert_eq!(bytes(&inputs["plaintext"]), case.plaintext);
        let computed = scenario::run_reference(case);
        for (field, value) in computed.as_object().unwrap() {
            assert_eq!(&stated[field], value, "{}: {field}", case.name);
        }
    }
    let three_chunks = &objects[0];
    assert_eq!(three_chunks["chunks"].as_array().unwrap().len(), 3);
}

#[test]
fn fuin_seal_reproduces_the_vectors() {
    let file = load();
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

#[test]
fn the_reference_body_names_the_sealed_object() {
    for stated in load()["objects"].as_array().unwrap() {
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
