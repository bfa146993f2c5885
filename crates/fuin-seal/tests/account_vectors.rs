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
    // The request.
    let opened = a::link_open(
        a::LINK_REQUEST_LABEL,
        &s::bytes(&link["k_request"]),
        &channel,
        &s::hex_of(&link["request"]["sealed"]),
    )
    .unwrap();
    assert_eq!(opened, s::hex_of(&link["request"]["frame"]));
    // The hybrid grant (accounts.md §5.3), with the grant key's secret halves
    // as the file records them: the reference decapsulates and opens it.
    let k_grant: [u8; 32] = s::bytes(&link["k_grant"]);
    let grant_secret = a::GrantSecret {
        x25519: s::bytes(&link["grant_key"]["x25519_secret"]),
        ml_kem_seed: s::bytes(&link["grant_key"]["ml_kem_seed"]),
    };
    let grant_sealed = s::hex_of(&link["grant"]["sealed"]);
    let opened = a::open_grant(&k_grant, &channel, &grant_secret, &grant_sealed).unwrap();
    assert_eq!(opened, s::hex_of(&link["grant"]["frame"]));
    // The request's grant key is the one the grant was sealed to.
    let request_frame = s::hex_of(&link["request"]["frame"]);
    let grant_key = grant_secret.public_key();
    assert_eq!(
        request_frame[request_frame.len() - 32 - 1184..],
        [&grant_key.x25519[..], &grant_key.ml_kem[..]].concat()
    );
    // The transcript salt has the size accounts.md §5.3 states: 2,405 bytes.
    let transcript = a::grant_transcript(
        &channel,
        &grant_key,
        &grant_sealed[..32].try_into().unwrap(),
        &grant_sealed[32..a::GRANT_ENCAPSULATION_LEN],
    );
    assert_eq!(transcript.len(), 2405);
    assert_eq!(transcript, s::hex_of(&link["grant"]["transcript"]));
    // A flipped KEM ciphertext byte decapsulates to another secret (implicit
    // rejection) and the grant does not open; nor does it with k_grant alone
    // of another code.
    let mut altered = grant_sealed.clone();
    altered[32 + 17] ^= 0x80;
    assert_eq!(
        a::open_grant(&k_grant, &channel, &grant_secret, &altered),
        Err("DecryptionFailed")
    );
    let mut other_k_grant = k_grant;
    other_k_grant[0] ^= 1;
    assert_eq!(
        a::open_grant(&other_k_grant, &channel, &grant_secret, &grant_sealed),
        Err("DecryptionFailed")
    );
    // An ephemeral key of small order is refused before anything is opened.
    let mut weak = grant_sealed.clone();
    weak[..32].copy_from_slice(&[0; 32]);
    assert_eq!(
        a::open_grant(&k_grant, &channel, &grant_secret, &weak),
        Err("WeakPublicKey")
    );
    // The code's digits read back to the code.
    assert_eq!(
        hex::encode(a::parse_code(link["code_digits"].as_str().unwrap()).unwrap()),
        link["code"].as_str().unwrap()
    );
}

#[test]
fn the_reference_refuses_to_seal_a_grant_to_a_weak_or_invalid_grant_key() {
    let link = load("link.json");
    let channel: [u8; 16] = s::bytes(&link["channel"]);
    let k_grant: [u8; 32] = s::bytes(&link["k_grant"]);
    let frame = s::hex_of(&link["grant"]["frame"]);
    let key = a::GrantKey {
        x25519: s::bytes(&link["grant_key"]["x25519_public"]),
        ml_kem: s::hex_of(&link["grant_key"]["ml_kem_public"]),
    };
    let seal = |key: &a::GrantKey| {
        a::seal_grant(&k_grant, &channel, key, &[0x11; 32], &[0x22; 32], &frame)
            .map(|grant| grant.sealed)
    };
    assert!(seal(&key).is_ok());
    // A relay that swaps in a small-order X25519 half.
    let mut weak = key.clone();
    weak.x25519 = [0; 32];
    assert_eq!(seal(&weak).err(), Some("WeakPublicKey"));
    // An ML-KEM half with a coefficient of q = 3329, or a byte short.
    let mut invalid = key.clone();
    invalid.ml_kem[0] = 0x01;
    invalid.ml_kem[1] = (invalid.ml_kem[1] & 0xf0) | 0x0d;
    assert_eq!(seal(&invalid).err(), Some("InvalidKemKey"));
    let mut short = key;
    short.ml_kem.pop();
    assert_eq!(seal(&short).err(), Some("InvalidKemKey"));
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
