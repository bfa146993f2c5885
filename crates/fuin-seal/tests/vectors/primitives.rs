//! The primitive-level vectors: franking commitments, conversation ids,
//! safety numbers, key-committing AEAD and storage encryption, computed by
//! the reference on fixed inputs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::reference as r;

fn h(bytes: &[u8]) -> Value {
    Value::String(hex::encode(bytes))
}

fn pattern<const N: usize>(start: u8) -> [u8; N] {
    std::array::from_fn(|i| start.wrapping_add(i as u8))
}

pub fn run_reference() -> Value {
    let franking_cases = [
        ("alice", 1u32, "alice", "bob", 0u32, "hello"),
        ("bob", 7, "alice", "bob", 1, "read"),
        // Moving a byte between user ids changes the conversation id and the commitment.
        ("ab", 1, "ab", "c", 0, "x"),
        ("a", 1, "a", "bc", 0, "x"),
    ];
    let franking: Vec<Value> = franking_cases
        .iter()
        .enumerate()
        .map(|(i, (user, device, a, b, content_type, body))| {
            let key: [u8; 32] = pattern(0x20 + i as u8);
            let message_id: [u8; 16] = pattern(0x40 + i as u8);
            let conversation = r::direct_conversation(a, b);
            let commitment = r::franking_commitment(
                &key,
                &r::Address {
                    user,
                    device: *device,
                },
                &conversation,
                &message_id,
                *content_type,
                body.as_bytes(),
            );
            json!({
                "franking_key": h(&key),
                "sender": {"user": user, "device": device},
                "conversation_users": [a, b],
                "conversation_id": h(&conversation),
                "message_id": h(&message_id),
                "content_type": content_type,
                "body": body,
                "commitment": h(&commitment),
            })
        })
        .collect();

    let identity = |seed: u8| r::Identity {
        signing_seed: pattern(seed),
        agreement_secret: pattern(seed.wrapping_add(0x80)),
    };
    let safety: Vec<Value> = [("alice", 0x01, "bob", 0x02), ("bob", 0x02, "alice", 0x01), ("carol", 0x03, "carol", 0x04)]
        .iter()
        .map(|(a, seed_a, b, seed_b)| {
            let (ia, ib) = (identity(*seed_a), identity(*seed_b));
            let number = r::safety_number(
                (a, &ia.signing_key(), &ia.agreement_key()),
                (b, &ib.signing_key(), &ib.agreement_key()),
            );
            json!({
                "a": {"user": a, "signing_key": h(&ia.signing_key()), "agreement_key": h(&ia.agreement_key()), "signature": h(&ia.signature())},
                "b": {"user": b, "signing_key": h(&ib.signing_key()), "agreement_key": h(&ib.agreement_key()), "signature": h(&ib.signature())},
                "digits": number,
            })
        })
        .collect();

    let message_key: [u8; 32] = pattern(0x90);
    let message_salt: [u8; 16] = pattern(0x70);
    let ad = b"associated data".to_vec();
    let plaintext = b"a message".to_vec();
    let keys = r::message_keys(&message_salt, &message_key);
    let sealed = r::aead_seal(&keys, &ad, &plaintext);

    let storage_key: [u8; 32] = pattern(0xa0);
    let salt: [u8; 32] = pattern(0xb0);
    let context = b"session:alice/1".to_vec();
    let state = b"saved state bytes".to_vec();
    let storage_keys = r::aead_keys(b"fuin/v1/state-encryption", Some(&salt), &storage_key);
    let mut stored = vec![1u8];
    stored.extend_from_slice(&salt);
    stored.extend_from_slice(&r::aead_seal(&storage_keys, &context, &state));

    let root: [u8; 32] = pattern(0xc0);
    let dh: [u8; 32] = pattern(0xd0);
    let (next_root, chain) = r::root_step(&root, &dh);
    let (step_message_key, next_chain) = r::chain_step(&chain);

    json!({
        "root_step": {"root_key": h(&root), "dh": h(&dh), "next_root_key": h(&next_root), "chain_key": h(&chain)},
        "chain_step": {"chain_key": h(&chain), "message_key": h(&step_message_key), "next_chain_key": h(&next_chain)},
        "message_aead": {
            "message_key": h(&message_key),
            "salt": h(&message_salt),
            "aead_key": h(&keys.0), "nonce": h(&keys.1), "key_commitment": h(&keys.2),
            "associated_data": h(&ad), "plaintext": h(&plaintext), "sealed": h(&sealed),
        },
        "storage": {
            "storage_key": h(&storage_key), "salt": h(&salt), "context": h(&context),
            "plaintext": h(&state), "aead_key": h(&storage_keys.0), "nonce": h(&storage_keys.1),
            "key_commitment": h(&storage_keys.2), "stored": h(&stored),
        },
        "franking": franking,
        "safety_numbers": safety,
    })
}
