//! The account vectors (`test-vectors/accounts/`), computed two ways: by the
//! reference computations of `account_reference.rs` (spec/accounts.md on the
//! crypto crates, encodings by hand), and checked against fuin-seal and
//! fuin-wire (`AccountKey`, `VerifiedDeviceList`, `LinkCode`, `LinkKeys`,
//! `SafetyNumber::for_accounts`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rand_core::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::account_reference as a;
use super::reference::{self as r, Bytes32};
use super::scenario::ScriptedRng;
use fuin_seal::link::{GRANT_ENCAPSULATION_LEN, LinkCode, LinkDirection, LinkKeys};
use fuin_seal::primitives::aead;
use fuin_seal::primitives::hybrid_kem::{HybridPublicKey, HybridSecretKey};
use fuin_seal::primitives::kdf::Label;
use fuin_seal::safety_number::SafetyNumber;
use fuin_seal::{AccountKey, DeviceIdentity, VerifiedDeviceList};
use fuin_wire::account::{
    AccountDevice, AccountRegistration, AccountSecret, DeviceListContent, DeviceName, InviteCode,
    LinkGrant, LinkMessage, LinkRequest, SignedDeviceList,
};
use fuin_wire::{
    DeviceAddress, DeviceId, Ed25519PublicKey, Ed25519Signature, FrameBody, PublicIdentity, UserId,
    X25519PublicKey,
};

pub const SEED: u64 = 0x6163_636f_756e_7473;
pub const NOW: u64 = 1_795_000_000_000;
pub const USER: &str = "alice";

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

/// Every random value the vectors use, drawn in this order.
pub struct Inputs {
    pub account_seed: Bytes32,
    pub other_account_seed: Bytes32,
    pub phone: r::Identity,
    pub laptop: r::Identity,
    pub ghost: r::Identity,
    pub invite: Bytes32,
    pub link_secret: [u8; 16],
    pub request_salt: Bytes32,
    pub bob_account_seed: Bytes32,
    pub kobayashi_account_seed: Bytes32,
    pub carol_account_seeds: [Bytes32; 2],
    /// The new device's grant key: its X25519 private key, then its
    /// ML-KEM-768 seed `d || z`.
    pub grant_key_x25519: Bytes32,
    pub grant_key_ml_kem_seed: [u8; 64],
    /// The grant's encapsulation randomness: the ephemeral X25519 key, then
    /// the ML-KEM randomness `m`.
    pub grant_ephemeral: Bytes32,
    pub grant_kem_randomness: Bytes32,
}

fn draw<const N: usize>(rng: &mut rand_chacha::ChaCha20Rng) -> [u8; N] {
    let mut out = [0u8; N];
    rng.fill_bytes(&mut out);
    out
}

fn identity(rng: &mut rand_chacha::ChaCha20Rng) -> r::Identity {
    r::Identity {
        signing_seed: draw(rng),
        agreement_secret: draw(rng),
    }
}

impl Inputs {
    pub fn draw(seed: u64) -> Self {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        Self {
            account_seed: draw(&mut rng),
            other_account_seed: draw(&mut rng),
            phone: identity(&mut rng),
            laptop: identity(&mut rng),
            ghost: identity(&mut rng),
            invite: draw(&mut rng),
            link_secret: draw(&mut rng),
            request_salt: draw(&mut rng),
            // Drawn and dropped: the grant's random salt of protocol version
            // 2, kept in the sequence so that the later draws do not move.
            bob_account_seed: {
                let _grant_salt_before_v3: Bytes32 = draw(&mut rng);
                draw(&mut rng)
            },
            kobayashi_account_seed: draw(&mut rng),
            carol_account_seeds: [draw(&mut rng), draw(&mut rng)],
            grant_key_x25519: draw(&mut rng),
            grant_key_ml_kem_seed: draw(&mut rng),
            grant_ephemeral: draw(&mut rng),
            grant_kem_randomness: draw(&mut rng),
        }
    }

    /// Reads the inputs back from the three files.
    pub fn from_files(lists: &Value, link: &Value, numbers: &Value) -> Self {
        let ids = &lists["identities"];
        let pair = &numbers["pairs"];
        Self {
            account_seed: bytes(&lists["account_seed"]),
            other_account_seed: bytes(&lists["other_account_seed"]),
            phone: identity_from(&ids["phone"]),
            laptop: identity_from(&ids["laptop"]),
            ghost: identity_from(&ids["ghost"]),
            invite: bytes(&lists["registrations"][1]["invite"]),
            link_secret: bytes(&link["link_secret"]),
            request_salt: bytes(&link["request"]["salt"]),
            grant_key_x25519: bytes(&link["grant_key"]["x25519_secret"]),
            grant_key_ml_kem_seed: bytes(&link["grant_key"]["ml_kem_seed"]),
            grant_ephemeral: bytes(&link["grant"]["ephemeral_secret"]),
            grant_kem_randomness: bytes(&link["grant"]["kem_randomness"]),
            bob_account_seed: bytes(&pair[0]["b"]["account_seed"]),
            kobayashi_account_seed: bytes(&pair[1]["a"]["account_seed"]),
            carol_account_seeds: [
                bytes(&pair[2]["a"]["account_seed"]),
                bytes(&pair[2]["b"]["account_seed"]),
            ],
        }
    }
}

pub fn h(bytes: &[u8]) -> Value {
    Value::String(hex::encode(bytes))
}

pub fn bytes<const N: usize>(value: &Value) -> [u8; N] {
    hex_of(value)
        .try_into()
        .unwrap_or_else(|_| panic!("not {N} bytes: {value}"))
}

pub fn hex_of(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap_or_else(|| panic!("not hex: {value}"))).unwrap()
}

fn identity_from(value: &Value) -> r::Identity {
    r::Identity {
        signing_seed: bytes(&value["signing_seed"]),
        agreement_secret: bytes(&value["agreement_secret"]),
    }
}

fn identity_json(identity: &r::Identity) -> Value {
    json!({
        "signing_seed": h(&identity.signing_seed),
        "agreement_secret": h(&identity.agreement_secret),
        "signing_key": h(&identity.signing_key()),
        "agreement_key": h(&identity.agreement_key()),
        "identity": h(&a::identity_body(identity)),
    })
}

// ---------------------------------------------------------------------------
// The reference side
// ---------------------------------------------------------------------------

fn device(id: u32, identity: [u8; 128], name: &str, added_at_ms: u64) -> a::Device {
    a::Device {
        id,
        identity,
        name: name.into(),
        added_at_ms,
    }
}

fn content(
    user: &str,
    account_key: Bytes32,
    version: u64,
    created_at_ms: u64,
    devices: Vec<a::Device>,
) -> a::Content {
    a::Content {
        user: user.into(),
        account_key,
        version,
        created_at_ms,
        devices,
    }
}

/// The three lists of alice's account: the phone alone; the laptop linked;
/// the phone removed.
pub fn account_lists(inputs: &Inputs) -> [a::Content; 3] {
    let key = r::ed25519_public(&inputs.account_seed);
    let phone = device(1, a::identity_body(&inputs.phone), "téléphone", NOW);
    let laptop = device(2, a::identity_body(&inputs.laptop), "laptop", NOW + 60_000);
    [
        content(USER, key, 1, NOW, vec![phone.clone()]),
        content(USER, key, 2, NOW + 60_000, vec![phone, laptop.clone()]),
        content(USER, key, 3, NOW + 120_000, vec![laptop]),
    ]
}

fn list_json(content: &a::Content, seed: &Bytes32) -> Value {
    let signature = a::sign_list(seed, content);
    json!({
        "version": content.version,
        "created_at_ms": content.created_at_ms,
        "devices": content.devices.iter().map(|d| json!({
            "device": d.id,
            "identity": h(&d.identity),
            "name": d.name,
            "added_at_ms": d.added_at_ms,
        })).collect::<Vec<_>>(),
        "content": h(&a::encode_content(content)),
        "signed_string": h(&a::signed_string(content)),
        "signature": h(&signature),
        "frame": h(&a::list_frame(content, &signature)),
    })
}

fn verification(
    case: &str,
    frame: &[u8],
    user: &str,
    trusted: Option<&Bytes32>,
    newest: Option<u64>,
) -> Value {
    let result = match a::verify_list_frame(frame, user, trusted, newest) {
        Ok(()) => "ok".to_owned(),
        Err(error) => error,
    };
    json!({
        "case": case,
        "frame": h(frame),
        "user": user,
        "trusted_key": trusted.map(|key| h(key)),
        "newest_seen": newest,
        "result": result,
    })
}

pub fn device_lists_reference(inputs: &Inputs) -> Value {
    let key = r::ed25519_public(&inputs.account_seed);
    let other_key = r::ed25519_public(&inputs.other_account_seed);
    let lists = account_lists(inputs);
    let signed: Vec<(Vec<u8>, [u8; 64])> = lists
        .iter()
        .map(|list| {
            let signature = a::sign_list(&inputs.account_seed, list);
            (a::list_frame(list, &signature), signature)
        })
        .collect();
    let ghost = device(3, a::identity_body(&inputs.ghost), "ghost", NOW);
    let phone = a::identity_body(&inputs.phone);
    let laptop = a::identity_body(&inputs.laptop);

    // Lists only a forger (or a broken client) would make, each signed.
    let signed_by =
        |seed: &Bytes32, content: &a::Content| a::list_frame(content, &a::sign_list(seed, content));
    let mut with_ghost = lists[0].clone();
    with_ghost.devices.push(ghost.clone());
    let added_after_signing = a::list_frame(&with_ghost, &signed[0].1);
    let forged = content(
        USER,
        other_key,
        4,
        NOW + 180_000,
        vec![device(1, phone, "téléphone", NOW), ghost.clone()],
    );
    let mut forged_rollback = lists[1].clone();
    forged_rollback.devices[1].name = "laptop (forged)".into();
    let forged_rollback = a::list_frame(&forged_rollback, &signed[1].1);
    let empty = content(USER, key, 4, NOW + 180_000, vec![]);
    let shared = content(
        USER,
        key,
        4,
        NOW + 180_000,
        vec![
            device(2, laptop, "laptop", NOW),
            device(3, laptop, "laptop again", NOW),
        ],
    );
    // Entry 2 of the blocklist (the u-coordinate 1) with its top bit set.
    let mut weak_identity = a::identity_body(&inputs.ghost);
    weak_identity[32..64].copy_from_slice(&[0; 32]);
    weak_identity[32] = 1;
    weak_identity[63] = 0x80;
    let weak = content(
        USER,
        key,
        4,
        NOW + 180_000,
        vec![
            device(2, laptop, "laptop", NOW),
            device(3, weak_identity, "weak", NOW),
        ],
    );
    // Device 1's identity signature is broken, and devices 2 and 3 share an
    // identity: the first device that fails decides (BadSignature).
    let mut broken_identity = phone;
    broken_identity[127] ^= 0x01;
    let in_order = content(
        USER,
        key,
        4,
        NOW + 180_000,
        vec![
            device(1, broken_identity, "téléphone", NOW),
            device(2, laptop, "laptop", NOW),
            device(3, laptop, "laptop again", NOW),
        ],
    );

    let verifications = vec![
        verification(
            "version 1 at a first contact",
            &signed[0].0,
            USER,
            None,
            None,
        ),
        verification("version 2 after 1", &signed[1].0, USER, Some(&key), Some(1)),
        verification("version 3 after 2", &signed[2].0, USER, Some(&key), Some(2)),
        verification(
            "version 3 again (the same version is not a rollback)",
            &signed[2].0,
            USER,
            Some(&key),
            Some(3),
        ),
        verification(
            "rollback: version 2 offered after 3",
            &signed[1].0,
            USER,
            Some(&key),
            Some(3),
        ),
        verification(
            "a device added after signing",
            &added_after_signing,
            USER,
            Some(&key),
            Some(1),
        ),
        verification(
            "a device added after signing, at a first contact",
            &added_after_signing,
            USER,
            None,
            None,
        ),
        verification(
            "a list signed by another key",
            &signed_by(&inputs.other_account_seed, &forged),
            USER,
            Some(&key),
            Some(3),
        ),
        verification(
            "a list signed by another key, at a first contact (trusted on first use)",
            &signed_by(&inputs.other_account_seed, &forged),
            USER,
            None,
            None,
        ),
        verification(
            "a list of another user",
            &signed[2].0,
            "bob",
            Some(&key),
            None,
        ),
        verification(
            "an altered old list: the signature is checked before the version",
            &forged_rollback,
            USER,
            Some(&key),
            Some(3),
        ),
        verification(
            "a list that names no device",
            &signed_by(&inputs.account_seed, &empty),
            USER,
            Some(&key),
            Some(3),
        ),
        verification(
            "two devices with one identity",
            &signed_by(&inputs.account_seed, &shared),
            USER,
            Some(&key),
            Some(3),
        ),
        verification(
            "an identity with a small-order agreement key",
            &signed_by(&inputs.account_seed, &weak),
            USER,
            Some(&key),
            Some(3),
        ),
        verification(
            "a broken identity before a repeated one: devices are checked in order",
            &signed_by(&inputs.account_seed, &in_order),
            USER,
            Some(&key),
            Some(3),
        ),
    ];

    let v1_body = a::list_body(&lists[0], &signed[0].1);
    json!({
        "user": USER,
        "account_seed": h(&inputs.account_seed),
        "account_key": h(&key),
        "other_account_seed": h(&inputs.other_account_seed),
        "other_account_key": h(&other_key),
        "identities": {
            "phone": identity_json(&inputs.phone),
            "laptop": identity_json(&inputs.laptop),
            "ghost": identity_json(&inputs.ghost),
        },
        "lists": lists.iter().map(|list| list_json(list, &inputs.account_seed)).collect::<Vec<_>>(),
        "registrations": [
            {"invite": null, "frame": h(&a::account_registration_frame(&v1_body, None))},
            {"invite": h(&inputs.invite), "frame": h(&a::account_registration_frame(&v1_body, Some(&inputs.invite)))},
        ],
        "verifications": verifications,
    })
}

fn sealed_json(
    label: &[u8],
    key: &Bytes32,
    channel: &[u8; 16],
    salt: &Bytes32,
    frame: &[u8],
) -> Value {
    let (aead_key, nonce, commitment) = r::aead_keys(a::LINK_SEAL_LABEL, Some(salt), key);
    let sealed = a::link_seal(label, key, channel, salt, frame);
    json!({
        "frame": h(frame),
        "associated_data": h(&a::link_ad(label, channel)),
        "salt": h(salt),
        "aead_key": h(&aead_key),
        "nonce": h(&nonce),
        "commitment": h(&commitment),
        "sealed": h(&sealed),
        "link_message": h(&a::link_message_frame(&sealed)),
    })
}

/// The hybrid grant of accounts.md §5.3 with every intermediate value, from
/// the recorded encapsulation randomness, computed by the reference
/// (account_reference.rs, on x25519-dalek, ml-kem, hkdf and aes-gcm).
fn hybrid_grant_json(
    inputs: &Inputs,
    keys: &a::LinkKeys,
    grant_key: &a::GrantKey,
    frame: &[u8],
) -> Value {
    let grant = a::seal_grant(
        &keys.k_grant,
        &keys.channel,
        grant_key,
        &inputs.grant_ephemeral,
        &inputs.grant_kem_randomness,
        frame,
    )
    .unwrap();
    let encapsulation = &grant.encapsulation;
    json!({
        "frame": h(frame),
        "associated_data": h(&grant.associated_data),
        "ephemeral_secret": h(&inputs.grant_ephemeral),
        "ephemeral_public": h(&encapsulation.ephemeral_public),
        "kem_randomness": h(&inputs.grant_kem_randomness),
        "kem_ciphertext": h(&encapsulation.kem_ciphertext),
        "kem_shared_secret": h(&encapsulation.kem_shared_secret),
        "dh_output": h(&encapsulation.dh),
        "key_material": h(&grant.key_material),
        "transcript": h(&grant.transcript),
        "aead_key": h(&grant.keys.0),
        "nonce": h(&grant.keys.1),
        "commitment": h(&grant.keys.2),
        "sealed": h(&grant.sealed),
        "link_message": h(&a::link_message_frame(&grant.sealed)),
    })
}

pub fn link_reference(inputs: &Inputs) -> Value {
    let key = r::ed25519_public(&inputs.account_seed);
    let lists = account_lists(inputs);
    let laptop = &inputs.laptop;
    let fingerprint_input = r::framed(&[
        a::LINK_FINGERPRINT_LABEL,
        &laptop.signing_key(),
        &laptop.agreement_key(),
    ]);
    let fingerprint = a::link_fingerprint(&laptop.signing_key(), &laptop.agreement_key());
    let code = a::link_code(&inputs.link_secret, &fingerprint);
    let keys = a::link_keys(&inputs.link_secret, &fingerprint);
    let mut info = a::LINK_KEYS_LABEL.to_vec();
    info.extend_from_slice(&fingerprint);

    let grant_secret = a::GrantSecret {
        x25519: inputs.grant_key_x25519,
        ml_kem_seed: inputs.grant_key_ml_kem_seed,
    };
    let grant_key = grant_secret.public_key();
    let request = a::link_request_frame(
        &a::identity_body(laptop),
        "laptop",
        NOW + 30_000,
        &grant_key.x25519,
        &grant_key.ml_kem,
    );
    let new_list = &lists[1];
    let new_signature = a::sign_list(&inputs.account_seed, new_list);
    let grant = a::link_grant_frame(
        USER,
        2,
        &inputs.account_seed,
        &a::list_body(new_list, &new_signature),
    );
    let request_sealed = a::link_seal(
        a::LINK_REQUEST_LABEL,
        &keys.k_request,
        &keys.channel,
        &inputs.request_salt,
        &request,
    );

    // Codes as a user might type them, and how they read.
    let digits = a::code_digits(&code);
    let text = a::code_text(&code);
    let mut out_of_range = digits.clone();
    out_of_range.replace_range(0..5, "65536");
    let readings: Vec<String> = vec![
        digits.clone(),
        digits.replace(' ', ""),
        digits.replace(' ', "-"),
        format!("  {digits}\n"),
        text.clone(),
        format!("fuin-link:{}", hex::encode_upper(code)),
        out_of_range,
        digits[..digits.len() - 1].to_owned(),
        format!("{digits}0"),
        digits.replacen('0', "o", 1),
        text[..text.len() - 2].to_owned(),
        "FUIN-LINK:".to_owned() + &text["fuin-link:".len()..],
    ];
    let code_readings: Vec<Value> = readings
        .iter()
        .map(|input| {
            json!({
                "input": input,
                "result": match a::parse_code(input) {
                    Ok(code) => hex::encode(code),
                    Err(error) => error.to_owned(),
                },
            })
        })
        .collect();

    // Messages that must not open.
    let mut altered = request_sealed.clone();
    altered[32 + 32] ^= 0x01;
    let mut other_fingerprint_code = code;
    other_fingerprint_code[16..].copy_from_slice(&a::link_fingerprint(
        &inputs.ghost.signing_key(),
        &inputs.ghost.agreement_key(),
    ));
    // The grant, sealed to the grant key (accounts.md §5.3) by the reference.
    let grant_json = hybrid_grant_json(inputs, &keys, &grant_key, &grant);
    let grant_sealed = hex_of(&grant_json["sealed"]);
    let mut other_seed = inputs.grant_key_ml_kem_seed;
    other_seed.reverse();
    let other_grant_key = a::GrantSecret {
        x25519: inputs.grant_ephemeral,
        ml_kem_seed: other_seed,
    };
    let flipped = |index: usize| {
        let mut out = grant_sealed.clone();
        out[index] ^= 0x01;
        out
    };
    let grant_refusals: Vec<(&str, Vec<u8>, &a::GrantSecret)> = vec![
        (
            "the request opened as a grant",
            request_sealed.clone(),
            &grant_secret,
        ),
        (
            "a byte of the grant's ephemeral key altered",
            flipped(5),
            &grant_secret,
        ),
        (
            "a byte of the grant's KEM ciphertext altered",
            flipped(32 + 600),
            &grant_secret,
        ),
        (
            "the grant's last KEM ciphertext byte altered",
            flipped(a::GRANT_ENCAPSULATION_LEN - 1),
            &grant_secret,
        ),
        (
            "a byte of the grant's AEAD output altered",
            flipped(a::GRANT_ENCAPSULATION_LEN + 40),
            &grant_secret,
        ),
        (
            "the grant opened with another request's grant key",
            grant_sealed.clone(),
            &other_grant_key,
        ),
        (
            "1,167 bytes: shorter than the encapsulation and the AEAD's 48 bytes",
            grant_sealed[..a::GRANT_ENCAPSULATION_LEN + 47].to_vec(),
            &grant_secret,
        ),
    ];
    let mut grant_openings: Vec<Value> = grant_refusals
        .iter()
        .map(|(case, sealed, secret)| {
            json!({
                "case": case,
                "code": hex::encode(code),
                "direction": "grant",
                "grant_key": {
                    "x25519_secret": h(&secret.x25519),
                    "ml_kem_seed": h(&secret.ml_kem_seed),
                },
                "sealed": h(sealed),
                "result": a::open_grant(&keys.k_grant, &keys.channel, secret, sealed)
                    .err()
                    .unwrap_or("opened"),
            })
        })
        .collect();
    // What the code alone gives: k_grant, opening the recorded grant as a
    // grant of protocol version 2 was opened (no grant key).
    grant_openings.push(json!({
        "case": "the recorded grant opened with the code alone (k_grant, no grant key)",
        "code": hex::encode(code),
        "direction": "grant_with_code_only",
        "sealed": h(&grant_sealed),
        "result": a::link_open(a::LINK_GRANT_LABEL, &keys.k_grant, &keys.channel, &grant_sealed)
            .err()
            .unwrap_or("opened"),
    }));
    let refused = [
        (
            "the request under a code with another fingerprint",
            other_fingerprint_code,
            "request",
            request_sealed.clone(),
        ),
        ("a ciphertext byte altered", code, "request", altered),
        (
            "79 bytes: shorter than the salt and the AEAD's 48 bytes",
            code,
            "request",
            request_sealed[..79].to_vec(),
        ),
        (
            "the salt alone",
            code,
            "request",
            request_sealed[..32].to_vec(),
        ),
    ];
    let mut refused_openings: Vec<Value> = refused
        .iter()
        .map(|(case, code, direction, sealed)| {
            let keys = a::link_keys(code[..16].try_into().unwrap(), code[16..].try_into().unwrap());
            let (label, key) = (a::LINK_REQUEST_LABEL, keys.k_request);
            json!({
                "case": case,
                "code": hex::encode(code),
                "direction": direction,
                "sealed": h(sealed),
                "result": a::link_open(label, &key, &keys.channel, sealed).err().unwrap_or("opened"),
            })
        })
        .collect();
    refused_openings.extend(grant_openings);

    json!({
        "user": USER,
        "account_seed": h(&inputs.account_seed),
        "account_key": h(&key),
        "existing_device": {"device": 1, "name": "téléphone", "keys": identity_json(&inputs.phone)},
        "new_device": {"name": "laptop", "keys": identity_json(laptop)},
        "current_list": list_json(&lists[0], &inputs.account_seed),
        "link_secret": h(&inputs.link_secret),
        "fingerprint_input": h(&fingerprint_input),
        "fingerprint": h(&fingerprint),
        "code": h(&code),
        "code_digits": digits,
        "code_text": text,
        "hkdf_info": h(&info),
        "okm": h(&keys.okm),
        "channel": h(&keys.channel),
        "k_request": h(&keys.k_request),
        "k_grant": h(&keys.k_grant),
        "grant_key": {
            "x25519_secret": h(&inputs.grant_key_x25519),
            "ml_kem_seed": h(&inputs.grant_key_ml_kem_seed),
            "x25519_public": h(&grant_key.x25519),
            "ml_kem_public": h(&grant_key.ml_kem),
        },
        "request": with_field(
            sealed_json(a::LINK_REQUEST_LABEL, &keys.k_request, &keys.channel, &inputs.request_salt, &request),
            "created_at_ms",
            json!(NOW + 30_000),
        ),
        "new_list": list_json(new_list, &inputs.account_seed),
        "grant": with_field(grant_json, "address", json!({"user": USER, "device": 2})),
        "code_readings": code_readings,
        "refused_openings": refused_openings,
    })
}

fn with_field(mut value: Value, key: &str, field: Value) -> Value {
    value.as_object_mut().unwrap().insert(key.into(), field);
    value
}

pub fn safety_number_reference(inputs: &Inputs) -> Value {
    let side = |user: &str, seed: &Bytes32| {
        let key = r::ed25519_public(seed);
        json!({
            "user": user,
            "account_seed": h(seed),
            "account_key": h(&key),
            "half": a::account_safety_half(user, &key),
        })
    };
    let pairs = [
        (
            ("alice", inputs.account_seed),
            ("bob", inputs.bob_account_seed),
        ),
        (
            ("小林", inputs.kobayashi_account_seed),
            ("alice", inputs.account_seed),
        ),
        (
            ("carol", inputs.carol_account_seeds[0]),
            ("carol", inputs.carol_account_seeds[1]),
        ),
    ];
    let pairs: Vec<Value> = pairs
        .iter()
        .map(|((user_a, seed_a), (user_b, seed_b))| {
            let number = a::account_safety_number(
                (user_a, &r::ed25519_public(seed_a)),
                (user_b, &r::ed25519_public(seed_b)),
            );
            json!({
                "a": side(user_a, seed_a),
                "b": side(user_b, seed_b),
                "number": number,
                "display": a::display_groups(&number),
            })
        })
        .collect();
    json!({
        "label": "fuin/v1/account-safety-number",
        "iterations": 5200,
        "pairs": pairs,
    })
}

// ---------------------------------------------------------------------------
// The implementation side
// ---------------------------------------------------------------------------

fn replay(draws: &[&[u8]]) -> ScriptedRng {
    ScriptedRng::replaying(
        draws
            .iter()
            .map(|bytes| (String::new(), bytes.to_vec()))
            .collect(),
    )
}

/// fuin-seal's identity from the two secrets, drawn as `generate` draws them.
pub fn device_identity(identity: &r::Identity) -> DeviceIdentity {
    let mut rng = replay(&[&identity.signing_seed, &identity.agreement_secret]);
    let device = DeviceIdentity::generate(&mut rng);
    assert!(rng.finished(), "DeviceIdentity::generate drew less");
    device
}

pub fn account_key(seed: &Bytes32) -> AccountKey {
    let mut rng = replay(&[seed]);
    let key = AccountKey::generate(&mut rng);
    assert!(rng.finished(), "AccountKey::generate drew less");
    assert_eq!(
        AccountKey::from_secret(&AccountSecret(*seed)).public_key(),
        key.public_key()
    );
    assert_eq!(key.to_secret().0, *seed);
    key
}

pub fn public_identity(bytes: &[u8]) -> PublicIdentity {
    PublicIdentity {
        signing_key: Ed25519PublicKey(bytes[..32].try_into().unwrap()),
        agreement_key: X25519PublicKey(bytes[32..64].try_into().unwrap()),
        signature: Ed25519Signature(bytes[64..128].try_into().unwrap()),
    }
}

fn wire_content(
    list: &Value,
    account_key: Ed25519PublicKey,
    user: &str,
) -> DeviceListContent<'static> {
    DeviceListContent {
        user: UserId::new(user.to_owned()).unwrap(),
        account_key,
        version: list["version"].as_u64().unwrap(),
        created_at_ms: list["created_at_ms"].as_u64().unwrap(),
        devices: list["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|device| AccountDevice {
                device: DeviceId(u32::try_from(device["device"].as_u64().unwrap()).unwrap()),
                identity: public_identity(&hex_of(&device["identity"])),
                name: DeviceName::new(device["name"].as_str().unwrap().to_owned()).unwrap(),
                added_at_ms: device["added_at_ms"].as_u64().unwrap(),
            })
            .collect::<Vec<_>>()
            .into(),
    }
}

/// Signs a list of the file with fuin-seal and checks every stated value.
fn check_signed_list(key: &AccountKey, list: &Value, user: &str) -> SignedDeviceList<'static> {
    let content = wire_content(list, key.public_key(), user);
    assert_eq!(h(&content.signed_string().unwrap()), list["signed_string"]);
    let signed = key.sign_device_list(content).unwrap();
    assert_eq!(h(&signed.signature.0), list["signature"]);
    let frame = signed.to_bytes().unwrap();
    assert_eq!(h(&frame), list["frame"]);
    assert_eq!(h(&frame[2..frame.len() - 64]), list["content"]);
    assert_eq!(SignedDeviceList::from_bytes(&frame).unwrap(), signed);
    signed
}

fn verify_result(frame: &[u8], user: &str, trusted: &Value, newest: &Value) -> String {
    let list = SignedDeviceList::from_bytes(frame).unwrap();
    let trusted = (!trusted.is_null()).then(|| Ed25519PublicKey(bytes(trusted)));
    match VerifiedDeviceList::verify(
        &list,
        &UserId::new(user.to_owned()).unwrap(),
        trusted.as_ref(),
        newest.as_u64(),
    ) {
        Ok(verified) => {
            assert_eq!(verified.list(), &list);
            "ok".to_owned()
        }
        Err(error) => format!("{error:?}"),
    }
}

pub fn check_device_lists(file: &Value) {
    let key = account_key(&bytes(&file["account_seed"]));
    assert_eq!(h(&key.public_key().0), file["account_key"]);
    let other = account_key(&bytes(&file["other_account_seed"]));
    assert_eq!(h(&other.public_key().0), file["other_account_key"]);
    for name in ["phone", "laptop", "ghost"] {
        let stated = &file["identities"][name];
        let device = device_identity(&identity_from(stated));
        assert_eq!(
            h(&device.public().to_bytes().unwrap()[2..]),
            stated["identity"],
            "{name}"
        );
    }
    let user = file["user"].as_str().unwrap();
    let lists: Vec<SignedDeviceList<'static>> = file["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|list| check_signed_list(&key, list, user))
        .collect();
    assert_eq!(lists.len(), 3);
    for registration in file["registrations"].as_array().unwrap() {
        let frame = AccountRegistration {
            device_list: lists[0].clone(),
            invite: (!registration["invite"].is_null())
                .then(|| InviteCode(bytes(&registration["invite"]))),
        }
        .to_bytes()
        .unwrap();
        assert_eq!(h(&frame), registration["frame"]);
    }
    for case in file["verifications"].as_array().unwrap() {
        let frame = hex_of(&case["frame"]);
        assert_eq!(
            SignedDeviceList::from_bytes(&frame)
                .unwrap()
                .to_bytes()
                .unwrap(),
            frame,
            "{}",
            case["case"]
        );
        assert_eq!(
            verify_result(
                &frame,
                case["user"].as_str().unwrap(),
                &case["trusted_key"],
                &case["newest_seen"],
            ),
            case["result"].as_str().unwrap(),
            "{}",
            case["case"]
        );
    }
}

fn grant_secret(value: &Value) -> HybridSecretKey {
    HybridSecretKey::from_parts(bytes(&value["x25519_secret"]), bytes(&value["ml_kem_seed"]))
}

/// Opens `sealed` as a grant of protocol version 2 was opened: a 32-byte
/// salt, then the AEAD under `k_grant` alone.
fn open_with_code_only(keys: &LinkKeys, sealed: &[u8]) -> Result<(), &'static str> {
    if sealed.len() < 80 {
        return Err("DecryptionFailed");
    }
    let (salt, rest) = sealed.split_at(32);
    let ad = fuin_seal::primitives::framing::Framer::new(Label::LinkGrantAssociatedData.as_bytes())
        .field(keys.channel())
        .finish();
    aead::open(
        Label::LinkSeal,
        Some(salt),
        keys.key_material(LinkDirection::Grant),
        &ad,
        rest,
    )
    .map(|_| ())
    .map_err(|_| "DecryptionFailed")
}

pub fn check_link(file: &Value) {
    let user = file["user"].as_str().unwrap();
    let key = account_key(&bytes(&file["account_seed"]));
    let existing = device_identity(&identity_from(&file["existing_device"]["keys"]));
    let new = device_identity(&identity_from(&file["new_device"]["keys"]));
    assert_eq!(
        h(&new.public().to_bytes().unwrap()[2..]),
        file["new_device"]["keys"]["identity"]
    );
    let current = check_signed_list(&key, &file["current_list"], user);
    assert_eq!(
        current.content.devices.as_slice()[0].identity,
        *existing.public()
    );

    // N makes the code.
    let secret: [u8; 16] = bytes(&file["link_secret"]);
    let mut rng = replay(&[&secret]);
    let code = LinkCode::generate(&mut rng, new.public());
    assert!(rng.finished());
    assert_eq!(h(code.fingerprint()), file["fingerprint"]);
    assert_eq!(
        h(&fuin_seal::link::fingerprint(new.public())),
        file["fingerprint"]
    );
    assert_eq!(
        code.digits().as_str(),
        file["code_digits"].as_str().unwrap()
    );
    assert_eq!(code.text().as_str(), file["code_text"].as_str().unwrap());
    assert_eq!(
        code.text().as_str(),
        format!("fuin-link:{}", file["code"].as_str().unwrap())
    );
    let keys = code.keys();
    assert_eq!(h(keys.channel()), file["channel"]);
    assert_eq!(
        h(keys.key_material(LinkDirection::Request)),
        file["k_request"]
    );
    assert_eq!(h(keys.key_material(LinkDirection::Grant)), file["k_grant"]);

    // N makes its grant key and seals its request.
    let grant_key_secret = grant_secret(&file["grant_key"]);
    let grant_key = grant_key_secret.public_key();
    assert_eq!(h(&grant_key.x25519.0), file["grant_key"]["x25519_public"]);
    assert_eq!(
        h(grant_key.ml_kem.as_bytes()),
        file["grant_key"]["ml_kem_public"]
    );
    let stated = &file["request"];
    let request = LinkRequest {
        identity: new.public().clone(),
        name: DeviceName::new(file["new_device"]["name"].as_str().unwrap().to_owned()).unwrap(),
        created_at_ms: stated["created_at_ms"].as_u64().unwrap(),
        grant_key_x25519: grant_key.x25519,
        grant_key_ml_kem: grant_key.ml_kem,
    };
    let request_frame = request.to_bytes().unwrap();
    assert_eq!(h(&request_frame), stated["frame"]);
    let salt: Bytes32 = bytes(&stated["salt"]);
    let mut rng = replay(&[&salt]);
    let sealed = keys.seal_request(&mut rng, &request_frame);
    assert!(rng.finished());
    assert_eq!(h(&sealed), stated["sealed"]);
    assert_eq!(keys.seal_request_with_salt(&salt, &request_frame), sealed);
    let message = LinkMessage {
        sealed: sealed.clone().into(),
    }
    .to_bytes()
    .unwrap();
    assert_eq!(h(&message), stated["link_message"]);

    // E reads the code, opens the request, checks the fingerprint.
    let typed = LinkCode::parse(file["code_digits"].as_str().unwrap()).unwrap();
    assert_eq!(typed, code);
    let e_keys = typed.keys();
    let opened = e_keys.open_request(&sealed).unwrap();
    let opened = LinkRequest::from_bytes(&opened).unwrap().into_owned();
    assert!(typed.matches(&opened.identity));
    let requested_key = HybridPublicKey {
        x25519: opened.grant_key_x25519,
        ml_kem: opened.grant_key_ml_kem,
    };
    requested_key.check().unwrap();

    // E signs the new list and seals the grant.
    let new_list = check_signed_list(&key, &file["new_list"], user);
    assert_eq!(
        new_list.content.devices.as_slice()[1].identity,
        opened.identity
    );
    let stated = &file["grant"];
    let address = DeviceAddress::new(
        UserId::new(stated["address"]["user"].as_str().unwrap().to_owned()).unwrap(),
        DeviceId(u32::try_from(stated["address"]["device"].as_u64().unwrap()).unwrap()),
    );
    let grant = LinkGrant {
        address,
        account_secret: key.to_secret(),
        device_list: new_list.clone(),
    };
    let grant_frame = grant.to_bytes().unwrap();
    assert_eq!(h(&grant_frame), stated["frame"]);
    let ephemeral: Bytes32 = bytes(&stated["ephemeral_secret"]);
    let randomness: Bytes32 = bytes(&stated["kem_randomness"]);
    let mut rng = replay(&[&ephemeral, &randomness]);
    let sealed = e_keys
        .seal_grant(&mut rng, &requested_key, &grant_frame)
        .unwrap();
    assert!(rng.finished());
    assert_eq!(h(&sealed), stated["sealed"]);
    assert_eq!(h(&sealed[..32]), stated["ephemeral_public"]);
    assert_eq!(
        h(&sealed[32..GRANT_ENCAPSULATION_LEN]),
        stated["kem_ciphertext"]
    );
    let message = LinkMessage {
        sealed: sealed.clone().into(),
    }
    .to_bytes()
    .unwrap();
    assert_eq!(h(&message), stated["link_message"]);

    // N opens the grant and verifies the list with the handed-over key.
    let opened = keys.open_grant(&grant_key_secret, &sealed).unwrap();
    let opened = LinkGrant::from_bytes(&opened).unwrap().into_owned();
    let handed = AccountKey::from_secret(&opened.account_secret);
    let verified = VerifiedDeviceList::verify(
        &opened.device_list,
        &opened.address.user,
        Some(&handed.public_key()),
        None,
    )
    .unwrap();
    assert_eq!(
        verified.identity_of(opened.address.device),
        Some(new.public())
    );

    for reading in file["code_readings"].as_array().unwrap() {
        let result = match LinkCode::parse(reading["input"].as_str().unwrap()) {
            Ok(code) => code.text().as_str()["fuin-link:".len()..].to_owned(),
            Err(error) => format!("{error:?}"),
        };
        assert_eq!(
            result,
            reading["result"].as_str().unwrap(),
            "{}",
            reading["input"]
        );
    }
    for case in file["refused_openings"].as_array().unwrap() {
        let code =
            LinkCode::parse(&format!("fuin-link:{}", case["code"].as_str().unwrap())).unwrap();
        let keys = code.keys();
        let sealed = hex_of(&case["sealed"]);
        let result = match case["direction"].as_str().unwrap() {
            "request" => match keys.open_request(&sealed) {
                Ok(_) => "opened".to_owned(),
                Err(error) => format!("{error:?}"),
            },
            "grant" => match keys.open_grant(&grant_secret(&case["grant_key"]), &sealed) {
                Ok(_) => "opened".to_owned(),
                Err(error) => format!("{error:?}"),
            },
            "grant_with_code_only" => open_with_code_only(&keys, &sealed)
                .err()
                .unwrap_or("opened")
                .to_owned(),
            other => panic!("no direction {other}"),
        };
        assert_eq!(result, case["result"].as_str().unwrap(), "{}", case["case"]);
    }
}

pub fn check_safety_numbers(file: &Value) {
    for pair in file["pairs"].as_array().unwrap() {
        let side = |side: &Value| {
            let key = account_key(&bytes(&side["account_seed"])).public_key();
            assert_eq!(h(&key.0), side["account_key"]);
            (
                UserId::new(side["user"].as_str().unwrap().to_owned()).unwrap(),
                key,
            )
        };
        let (a, b) = (side(&pair["a"]), side(&pair["b"]));
        for number in [
            SafetyNumber::for_accounts((&a.0, &a.1), (&b.0, &b.1)),
            SafetyNumber::for_accounts((&b.0, &b.1), (&a.0, &a.1)),
        ] {
            assert_eq!(number.digits(), pair["number"].as_str().unwrap());
            assert_eq!(number.display(), pair["display"].as_str().unwrap());
        }
    }
}
