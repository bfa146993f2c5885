//! Checks `test-vectors/accounts/` two ways: the reference computations of
//! spec/accounts.md (on the crypto crates directly, encodings by hand)
//! reproduce every value and every expected error in the files from the
//! inputs the files state, and fuin-seal and fuin-wire (`AccountKey`,
//! `VerifiedDeviceList::verify`, `LinkCode`, `LinkKeys`,
//! `SafetyNumber::for_accounts`) produce the same bytes and errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod vectors;

use serde_json::Value;
use vectors::account_reference as a;
use vectors::account_scenario as s;

fn load(name: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-vectors/accounts/");
    let text = std::fs::read_to_string(format!("{path}{name}"))
        .unwrap_or_else(|err| panic!("test vector {path}{name} is missing: {err}"));
    serde_json::from_str(&text).unwrap()
}

struct Files {
    lists: Value,
    link: Value,
    numbers: Value,
}

fn files() -> Files {
    Files {
        lists: load("device_lists.json"),
        link: load("link.json"),
        numbers: load("safety_number.json"),
    }
}

fn inputs(files: &Files) -> s::Inputs {
    s::Inputs::from_files(&files.lists, &files.link, &files.numbers)
}

/// Compares key by key, so a failure names the value that differs.
fn assert_same(computed: &Value, stated: &Value, path: &str) {
    match (computed, stated) {
        (Value::Object(computed), Value::Object(stated)) => {
            let keys = |map: &serde_json::Map<String, Value>| {
                map.keys()
                    .filter(|key| *key != "description")
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(keys(computed), keys(stated), "{path}: fields");
            for key in keys(stated) {
                assert_same(&computed[&key], &stated[&key], &format!("{path}.{key}"));
            }
        }
        (Value::Array(computed), Value::Array(stated)) => {
            assert_eq!(computed.len(), stated.len(), "{path}: length");
            for (index, (computed, stated)) in computed.iter().zip(stated).enumerate() {
                assert_same(computed, stated, &format!("{path}[{index}]"));
            }
        }
        _ => assert_eq!(computed, stated, "{path}"),
    }
}

#[test]
fn device_list_vectors_follow_from_the_spec() {
    let files = files();
    let computed = s::device_lists_reference(&inputs(&files));
    assert_same(&computed, &files.lists, "device_lists");
}

#[test]
fn link_vectors_follow_from_the_spec() {
    let files = files();
    let computed = s::link_reference(&inputs(&files));
    assert_same(&computed, &files.link, "link");
}

#[test]
fn safety_number_vectors_follow_from_the_spec() {
    let files = files();
    let computed = s::safety_number_reference(&inputs(&files));
    assert_same(&computed, &files.numbers, "safety_number");
}

#[test]
fn the_reference_opens_the_exchange_it_seals() {
    let link = load("link.json");
    let channel: [u8; 16] = s::bytes(&link["channel"]);
    // The request; the hybrid grant (accounts.md §5.3) is not yet covered by
    // the reference: its ML-KEM steps need a second implementation.
    let opened = a::link_open(
        a::LINK_REQUEST_LABEL,
        &s::bytes(&link["k_request"]),
        &channel,
        &s::hex_of(&link["request"]["sealed"]),
    )
    .unwrap();
    assert_eq!(opened, s::hex_of(&link["request"]["frame"]));
    // The code's digits read back to the code.
    assert_eq!(
        hex::encode(a::parse_code(link["code_digits"].as_str().unwrap()).unwrap()),
        link["code"].as_str().unwrap()
    );
}

#[test]
fn the_expected_errors_are_the_ones_the_spec_names() {
    let lists = load("device_lists.json");
    let result = |case: &str| {
        lists["verifications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["case"] == case)
            .unwrap_or_else(|| panic!("no case {case}"))["result"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        result("rollback: version 2 offered after 3"),
        "DeviceListRollback { version: 2, newest: 3 }"
    );
    assert_eq!(result("a device added after signing"), "BadSignature");
    assert_eq!(result("a list signed by another key"), "AccountKeyMismatch");
    assert_eq!(
        result("a list of another user"),
        "InvalidDeviceList { reason: \"the list is of another user\" }"
    );
}

#[test]
fn fuin_seal_reproduces_the_device_list_vectors() {
    s::check_device_lists(&load("device_lists.json"));
}

#[test]
fn fuin_seal_reproduces_the_link_vectors() {
    s::check_link(&load("link.json"));
}

#[test]
fn fuin_seal_reproduces_the_safety_number_vectors() {
    s::check_safety_numbers(&load("safety_number.json"));
}
