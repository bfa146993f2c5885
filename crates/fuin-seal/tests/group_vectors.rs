//! Checks `test-vectors/group/` two ways: the reference computations of the
//! spec (on the crypto crates directly) reproduce every value in the files,
//! and fuin-seal, given the same randomness, produces the same bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod vectors;

use serde_json::Value;
use vectors::{group_scenario, scenario};

fn load(name: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test-vectors/group/");
    let text = std::fs::read_to_string(format!("{path}{name}"))
        .unwrap_or_else(|err| panic!("test vector {path}{name} is missing: {err}"));
    serde_json::from_str(&text).unwrap()
}

fn without(mut value: Value, keys: &[&str]) -> Value {
    for key in keys {
        value.as_object_mut().unwrap().remove(*key);
    }
    value
}

#[test]
fn group_session_vectors_follow_from_the_spec() {
    let file = load("group-session.json");
    let draws = scenario::draws_from_json(&file["random_draws"]);
    let computed = group_scenario::run_reference(&draws);
    let stated = without(file, &["description", "random_draws"]);
    assert_eq!(stated["messages"].as_array().unwrap().len(), 12);
    for (computed, stated) in computed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .zip(stated["messages"].as_array().unwrap())
    {
        assert_eq!(computed, stated, "message {}", stated["index"]);
    }
    let keys = |value: &Value| {
        value
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&computed), keys(&stated));
    for key in keys(&stated) {
        assert_eq!(computed[&key], stated[&key], "{key}");
    }
}

#[test]
fn fuin_seal_reproduces_the_group_session_vectors() {
    let file = load("group-session.json");
    let mut rng =
        scenario::ScriptedRng::replaying(scenario::draws_from_json(&file["random_draws"]));
    let run = group_scenario::run_implementation(&mut rng);
    assert!(
        rng.finished(),
        "fuin-seal drew less randomness than recorded"
    );
    group_scenario::check_implementation(&run, &file);
}

#[test]
fn group_primitive_vectors_follow_from_the_spec() {
    let file = load("group-primitives.json");
    assert_eq!(
        group_scenario::primitives_reference(),
        without(file, &["description"])
    );
}

#[test]
fn fuin_seal_reproduces_the_group_primitive_vectors() {
    group_scenario::check_primitives(&load("group-primitives.json"));
}
