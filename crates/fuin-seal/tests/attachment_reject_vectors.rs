//! Checks `test-vectors/attachments/reject.json`: every altered object or
//! reference in it is refused, at the step of spec/attachments.md §7 and
//! with the error the file states, by the reference opener (written on the
//! crypto crates directly) and by every opening path of fuin-seal, in
//! memory and streaming.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attachment_spec;

use std::collections::BTreeSet;

use attachment_spec::opening::{Opening, check_fuin_agrees, open_fuin, open_reference};
use attachment_spec::rejects;
use serde_json::Value;

fn load() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../test-vectors/attachments/reject.json"
    );
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("test vector {path} is missing: {err}"));
    serde_json::from_str(&text).unwrap()
}

fn bytes(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

fn rejects_of(file: &Value) -> impl Iterator<Item = (String, Opening, Vec<u8>, &Value)> {
    file["rejects"].as_array().unwrap().iter().map(|stated| {
        let name = format!(
            "{}: {}",
            stated["base"].as_str().unwrap(),
            stated["name"].as_str().unwrap()
        );
        (
            name,
            Opening::from_json(&stated["opening"]),
            bytes(&stated["blob"]),
            stated,
        )
    })
}

#[test]
fn the_file_is_what_the_reference_makes_of_the_spec() {
    let stated = load();
    let computed = rejects::file();
    assert_eq!(stated["description"], computed["description"]);
    assert_eq!(stated["bases"], computed["bases"]);
    let (stated, computed) = (
        stated["rejects"].as_array().unwrap(),
        computed["rejects"].as_array().unwrap(),
    );
    assert_eq!(stated.len(), computed.len());
    for (stated, computed) in stated.iter().zip(computed) {
        assert_eq!(
            stated, computed,
            "{}: {}",
            computed["base"], computed["name"]
        );
    }
}

#[test]
fn the_reference_opener_refuses_each_reject_at_the_stated_step() {
    let file = load();
    for (name, opening, blob, stated) in rejects_of(&file) {
        let (step, error) = open_reference(&opening, &blob)
            .err()
            .unwrap_or_else(|| panic!("{name}: opened"));
        let (kind, fields) = rejects::error_json(&error);
        assert_eq!(u64::from(step), stated["step"].as_u64().unwrap(), "{name}");
        assert_eq!(kind, stated["error"].as_str().unwrap(), "{name}");
        assert_eq!(fields, stated["fields"], "{name}");
        assert_eq!(
            format!("{error:?}"),
            stated["printed"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn fuin_seal_refuses_each_reject_with_the_stated_error_on_every_path() {
    let file = load();
    for (name, opening, blob, stated) in rejects_of(&file) {
        for (path, answer) in open_fuin(&opening, &blob) {
            let error = answer
                .err()
                .unwrap_or_else(|| panic!("{name}: fuin-seal, {path}: opened"));
            assert_eq!(
                format!("{error:?}"),
                stated["printed"].as_str().unwrap(),
                "{name}: fuin-seal, {path}"
            );
        }
    }
}

#[test]
fn the_intact_objects_open_on_every_path() {
    let file = load();
    let bases = file["bases"].as_array().unwrap();
    assert_eq!(bases.len(), rejects::bases().len());
    for base in bases {
        let name = base["name"].as_str().unwrap();
        let opening = Opening::from_json(&base["opening"]);
        let sealed = bytes(&base["sealed"]);
        assert_eq!(
            u64::from(sealed[0]),
            base["version"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            open_reference(&opening, &sealed).unwrap(),
            bytes(&base["plaintext"]),
            "{name}"
        );
        check_fuin_agrees(name, &opening, &sealed);
    }
}

/// A reject file that left a step or an error out would let an opener
/// that gets it wrong pass.
#[test]
fn the_rejects_reach_every_step_and_every_error() {
    let file = load();
    let rejects = file["rejects"].as_array().unwrap();
    let steps: BTreeSet<u64> = rejects
        .iter()
        .map(|reject| reject["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, (1..=9).collect());
    let errors: BTreeSet<(u64, &str)> = rejects
        .iter()
        .map(|reject| {
            (
                reject["step"].as_u64().unwrap(),
                reject["error"].as_str().unwrap(),
            )
        })
        .collect();
    let expected: BTreeSet<(u64, &str)> = [
        (1, "Truncated"),
        (2, "UnsupportedVersion"),
        (3, "InvalidChunkSize"),
        (4, "ContextMismatch"),
        (5, "WrongKey"),
        (6, "SizeMismatch"),
        (7, "ChunkFailed"),
        (8, "Truncated"),
        (8, "TrailingData"),
        (9, "HashMismatch"),
    ]
    .into_iter()
    .collect();
    assert_eq!(errors, expected);
    for base in file["bases"].as_array().unwrap() {
        let name = base["name"].as_str().unwrap();
        assert!(
            rejects.iter().any(|reject| reject["base"] == name),
            "no reject of {name}"
        );
    }
}
