//! Checks `test-vectors/seal/reject.json`: the reference computes every
//! altered message from the stated vectors, and fuin-seal refuses each one
//! with the error the spec names, unchanged, and then opens the real one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod vectors;

use fuin_seal::{Session, VerifiedBundle};
use fuin_wire::{
    ContentKind, DeliveredRecord, FrameBody, FrankingCommitment, Opaque, PrekeyBundle,
};
use serde_json::Value;
use vectors::scenario::{self, Receiver};
use vectors::{group_scenario, reject};

fn load(path: &str) -> Value {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-vectors/");
    let text = std::fs::read_to_string(format!("{dir}{path}"))
        .unwrap_or_else(|err| panic!("test vector {dir}{path} is missing: {err}"));
    serde_json::from_str(&text).unwrap()
}

fn without_description(mut value: Value) -> Value {
    value.as_object_mut().unwrap().remove("description");
    value
}

/// The record as the case alters it: content kind, commitment, sealed body.
fn altered(record: &DeliveredRecord<'static>, case: &Value) -> DeliveredRecord<'static> {
    let mut record = record.clone();
    record.envelope.content_kind = match case["content_kind"].as_str().unwrap() {
        "Message" => ContentKind::Message,
        "PrekeyMessage" => ContentKind::PrekeyMessage,
        "GroupMessage" => ContentKind::GroupMessage,
        other => panic!("unknown content kind {other}"),
    };
    let bytes = |value: &Value| hex::decode(value.as_str().unwrap()).unwrap();
    record.envelope.franking_commitment =
        FrankingCommitment(bytes(&case["franking_commitment"]).try_into().unwrap());
    record.envelope.sealed_body = Opaque::from(bytes(&case["sealed_body"]));
    record
}

fn assert_refused(case: &Value, error: &impl std::fmt::Debug) {
    let (expected, got) = (case["error"].as_str().unwrap(), format!("{error:?}"));
    assert!(
        reject::error_matches(expected, &got),
        "{}: expected {expected}, got {got}",
        case["name"]
    );
}

#[test]
fn reject_vectors_follow_from_the_spec() {
    let computed = reject::run_reference(
        &load("seal/session.json"),
        &load("group/group-session.json"),
    );
    assert_eq!(computed, without_description(load("seal/reject.json")));
}

#[test]
fn fuin_seal_refuses_each_altered_one_to_one_message_and_keeps_its_state() {
    let file = load("seal/reject.json");
    let cases = file["one_to_one"].as_array().unwrap();
    let session = load("seal/session.json");
    let mut rng =
        scenario::ScriptedRng::replaying(scenario::draws_from_json(&session["random_draws"]));
    let mut refused = 0;
    scenario::run_implementation_observed(&mut rng, true, &mut |index, mut receiver, record| {
        let now = scenario::NOW + index as u64;
        for case in cases.iter().filter(|case| case["message"] == index) {
            let record = altered(record, case);
            match &mut receiver {
                Receiver::Responder {
                    identity,
                    address,
                    prekeys,
                } => {
                    assert_eq!(case["opened_by"], "responder");
                    let before = prekeys.to_bytes().unwrap().to_vec();
                    let error =
                        Session::respond(identity, (*address).clone(), prekeys, None, &record, now)
                            .map(|_| ())
                            .expect_err(case["name"].as_str().unwrap());
                    assert_refused(case, &error);
                    assert_eq!(
                        prekeys.to_bytes().unwrap().to_vec(),
                        before,
                        "{}: the prekey store changed",
                        case["name"]
                    );
                }
                Receiver::Session(session) => {
                    assert_eq!(case["opened_by"], "session");
                    let before = session.to_bytes().unwrap().to_vec();
                    let error = session
                        .open(&record, now)
                        .map(|_| ())
                        .expect_err(case["name"].as_str().unwrap());
                    assert_refused(case, &error);
                    assert_eq!(
                        session.to_bytes().unwrap().to_vec(),
                        before,
                        "{}: the session changed",
                        case["name"]
                    );
                }
            }
            refused += 1;
        }
    });
    // Every case was presented, and the real messages opened after them.
    assert_eq!(refused, cases.len());
}

#[test]
fn fuin_seal_refuses_each_altered_bundle() {
    let file = load("seal/reject.json");
    let cases = file["bundle"].as_array().unwrap();
    assert!(!cases.is_empty());
    let session = load("seal/session.json");
    let genuine = hex::decode(session["bob"]["bundle"].as_str().unwrap()).unwrap();
    let bob = scenario::address("bob");
    let genuine = PrekeyBundle::from_bytes(&genuine).unwrap();
    assert!(VerifiedBundle::verify(&genuine, &bob, None).is_ok());
    for case in cases {
        assert_eq!(case["verified_for"]["user"], "bob");
        // Every alteration is well formed on the wire: the protocol
        // refuses it, by name.
        let bytes = hex::decode(case["bundle"].as_str().unwrap()).unwrap();
        let bundle = PrekeyBundle::from_bytes(&bytes).unwrap();
        let error = VerifiedBundle::verify(&bundle, &bob, None)
            .map(|_| ())
            .expect_err(case["name"].as_str().unwrap());
        assert_refused(case, &error);
    }
}

#[test]
fn fuin_seal_refuses_each_altered_group_message_and_keeps_its_state() {
    let file = load("seal/reject.json");
    let cases = file["group"].as_array().unwrap();
    let group = load("group/group-session.json");
    let mut rng =
        scenario::ScriptedRng::replaying(scenario::draws_from_json(&group["random_draws"]));
    let mut refused = 0;
    group_scenario::run_implementation_observed(&mut rng, &mut |index, name, state, record| {
        for case in cases
            .iter()
            .filter(|case| case["message"] == index && case["recipient"] == name)
        {
            let before = state.to_bytes().unwrap().to_vec();
            let error = state
                .open(&altered(record, case), group_scenario::NOW)
                .map(|_| ())
                .expect_err(case["name"].as_str().unwrap());
            assert_refused(case, &error);
            assert_eq!(
                state.to_bytes().unwrap().to_vec(),
                before,
                "{}: the group state changed",
                case["name"]
            );
            refused += 1;
        }
    });
    assert_eq!(refused, cases.len());
}
