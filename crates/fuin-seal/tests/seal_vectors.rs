//! Checks `test-vectors/seal/` two ways: the reference computations of the
//! spec (on the crypto crates directly) reproduce every value in the files,
//! and fuin-seal, given the same randomness, produces the same bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod vectors;

use fuin_seal::primitives::aead;
use fuin_seal::primitives::franking::{self, FrankedMessage};
use fuin_seal::primitives::kdf::Label;
use fuin_seal::safety_number::SafetyNumber;
use fuin_seal::state::{StorageKey, open_with_storage_key, seal_with_storage_key};
use fuin_seal::{ConversationId, DeviceIdentity, PrekeyStore};
use fuin_wire::*;
use serde_json::Value;
use vectors::{primitives, scenario};

fn load(name: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-vectors/seal/");
    let text = std::fs::read_to_string(format!("{path}{name}"))
        .unwrap_or_else(|err| panic!("test vector {path}{name} is missing: {err}"));
    serde_json::from_str(&text).unwrap()
}

fn bytes(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

fn without(mut value: Value, keys: &[&str]) -> Value {
    for key in keys {
        value.as_object_mut().unwrap().remove(*key);
    }
    value
}

const SESSION_FILES: [(&str, bool); 2] = [
    ("session.json", true),
    ("session-without-one-time-prekey.json", false),
];

#[test]
fn session_vectors_follow_from_the_spec() {
    for (name, with_one_time) in SESSION_FILES {
        check_session_file_against_reference(name, with_one_time);
    }
}

fn check_session_file_against_reference(name: &str, with_one_time: bool) {
    let file = load(name);
    assert_eq!(file["handshake"]["one_time_prekey_used"], with_one_time);
    let draws = scenario::draws_from_json(&file["random_draws"]);
    let computed = scenario::run_reference(&draws, with_one_time);
    let stated = without(file, &["description", "random_draws"]);
    assert_eq!(computed["handshake"], stated["handshake"]);
    assert_eq!(computed["alice"], stated["alice"]);
    assert_eq!(computed["bob"], stated["bob"]);
    let (computed, stated) = (
        computed["messages"].as_array().unwrap(),
        stated["messages"].as_array().unwrap(),
    );
    assert_eq!(stated.len(), 20);
    for (computed, stated) in computed.iter().zip(stated) {
        assert_eq!(computed, stated, "{name}: message {}", stated["index"]);
    }
}

#[test]
fn fuin_seal_reproduces_the_session_vectors() {
    for (name, with_one_time) in SESSION_FILES {
        check_implementation_against_session_file(name, with_one_time);
    }
}

fn check_implementation_against_session_file(name: &str, with_one_time: bool) {
    let file = load(name);
    let mut rng =
        scenario::ScriptedRng::replaying(scenario::draws_from_json(&file["random_draws"]));
    let run = scenario::run_implementation(&mut rng, with_one_time);
    assert!(
        rng.finished(),
        "fuin-seal drew less randomness than recorded"
    );
    assert_eq!(
        hex::encode(&run.bundle),
        file["bob"]["bundle"].as_str().unwrap(),
        "{name}: bob's bundle (tag 41)"
    );
    assert_eq!(run.post_quantum, (true, true), "{name}: hybrid sessions");
    // §6.5 step 13: completing the handshake consumed the one-time prekey
    // and the one-time KEM prekey it used, and never the last-resort one.
    let prekeys = PrekeyStore::from_bytes(&run.bob_prekeys).unwrap();
    let remaining = if with_one_time { (0, 0) } else { (1, 1) };
    assert_eq!(prekeys.one_time_count(), remaining.0, "{name}");
    let debug = format!("{prekeys:?}");
    assert!(
        debug.contains(&format!(
            "last_resort_kem_prekeys: 1, one_time_kem_prekeys: {}",
            remaining.1
        )),
        "{name}: {debug}"
    );
    let messages = file["messages"].as_array().unwrap();
    assert_eq!(run.records.len(), messages.len());
    for ((record, opened), expected) in run.records.iter().zip(&run.opened_bodies).zip(messages) {
        scenario::check_record(record, expected);
        assert_eq!(opened, expected["body"].as_str().unwrap());
    }
}

#[test]
fn saved_state_continuation_follows_from_the_spec() {
    let file = load("saved-state-v1.json");
    let continuation = &file["protocol_version_3"];
    assert_eq!(
        scenario::continuation_reference(&continuation["inputs"]),
        continuation["expected"]
    );
    assert_eq!(file["next_record_error"], scenario::RETIRED_RATCHET_MESSAGE);
}

#[test]
fn state_saved_by_version_1_still_loads_and_works() {
    let file = load("saved-state-v1.json");
    assert_eq!(file["state_version"], 1);
    // Loads; refuses its version 1 message; opens and seals version 3.
    scenario::check_saved_state_continuation(&file);

    let session_file = load("session.json");
    let identity = DeviceIdentity::from_bytes(&bytes(&file["alice_identity"])).unwrap();
    assert_eq!(
        hex::encode(identity.public().signing_key.0),
        session_file["alice"]["public"]["signing_key"]
            .as_str()
            .unwrap()
    );
    let pinned_prekeys = bytes(&file["bob_prekeys"]);
    assert_eq!(
        pinned_prekeys[0], 1,
        "the pinned store is of state version 1"
    );
    let prekeys = PrekeyStore::from_bytes(&pinned_prekeys).unwrap();
    // Written again, it is state version 2 and loads back to the same bytes.
    let saved = prekeys.to_bytes().unwrap();
    assert_eq!(saved[0], 2, "prekey stores are written as state version 2");
    assert_eq!(
        PrekeyStore::from_bytes(&saved)
            .unwrap()
            .to_bytes()
            .unwrap()
            .as_slice(),
        saved.as_slice()
    );
    // The one-time prekey was used by the handshake, and a store of
    // version 1 holds no KEM prekeys (§12.1): its owner makes them.
    assert_eq!(prekeys.one_time_count(), 0);
    let debug = format!("{prekeys:?}");
    assert!(
        debug.contains("last_resort_kem_prekeys: 0, one_time_kem_prekeys: 0"),
        "{debug}"
    );
}

#[test]
fn primitive_vectors_follow_from_the_spec() {
    let file = load("primitives.json");
    assert_eq!(primitives::run_reference(), without(file, &["description"]));
}

#[test]
fn fuin_seal_reproduces_the_primitive_vectors() {
    let file = load("primitives.json");

    let aead_case = &file["message_aead"];
    let sealed = aead::seal(
        Label::MessageKeys,
        Some(&bytes(&aead_case["salt"])),
        &bytes(&aead_case["message_key"]),
        &bytes(&aead_case["associated_data"]),
        &bytes(&aead_case["plaintext"]),
    );
    assert_eq!(sealed, bytes(&aead_case["sealed"]));

    let storage = &file["storage"];
    let key = StorageKey::from_secret_bytes(bytes(&storage["storage_key"]).try_into().unwrap());
    let context = bytes(&storage["context"]);
    let stored = bytes(&storage["stored"]);
    assert_eq!(
        open_with_storage_key(&key, &context, &stored)
            .unwrap()
            .as_slice(),
        bytes(&storage["plaintext"]).as_slice()
    );
    let mut salt = scenario::ScriptedRng::replaying(vec![(String::new(), bytes(&storage["salt"]))]);
    assert_eq!(
        seal_with_storage_key(&mut salt, &key, &context, &bytes(&storage["plaintext"])),
        stored
    );

    for case in file["franking"].as_array().unwrap() {
        let users = case["conversation_users"].as_array().unwrap();
        let user = |value: &Value| UserId::new(value.as_str().unwrap().to_owned()).unwrap();
        let conversation = ConversationId::direct(&user(&users[0]), &user(&users[1]));
        assert_eq!(conversation.0.to_vec(), bytes(&case["conversation_id"]));
        let sender = DeviceAddress::new(
            user(&case["sender"]["user"]),
            DeviceId(case["sender"]["device"].as_u64().unwrap() as u32),
        );
        let content_type = match case["content_type"].as_u64().unwrap() {
            0 => ContentType::Text,
            _ => ContentType::Receipt,
        };
        let message_id = ClientMessageId(bytes(&case["message_id"]).try_into().unwrap());
        let body = case["body"].as_str().unwrap().as_bytes();
        let commitment = franking::commit(
            &bytes(&case["franking_key"]),
            &FrankedMessage {
                sender: &sender,
                conversation: &conversation,
                message_id: &message_id,
                content_type,
                body,
            },
        )
        .unwrap();
        assert_eq!(commitment.0.to_vec(), bytes(&case["commitment"]));
    }

    for case in file["safety_numbers"].as_array().unwrap() {
        let side = |value: &Value| {
            (
                UserId::new(value["user"].as_str().unwrap().to_owned()).unwrap(),
                PublicIdentity {
                    signing_key: Ed25519PublicKey(bytes(&value["signing_key"]).try_into().unwrap()),
                    agreement_key: X25519PublicKey(
                        bytes(&value["agreement_key"]).try_into().unwrap(),
                    ),
                    signature: Ed25519Signature(bytes(&value["signature"]).try_into().unwrap()),
                },
            )
        };
        let (a, b) = (side(&case["a"]), side(&case["b"]));
        let number = SafetyNumber::new((&a.0, &a.1), (&b.0, &b.1));
        assert_eq!(number.digits(), case["digits"].as_str().unwrap());
    }
}
