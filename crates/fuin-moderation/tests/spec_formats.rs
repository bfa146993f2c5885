#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! A second implementation of the moderation service's stored formats, written
//! from `spec/report.md` §13.2 (sealed values) and §13.3 (audit records) and
//! `spec/protocol.md` §1.1 (framing), §2 (the labels) and §3 (the key-committing AEAD) alone,
//! directly on the RustCrypto crates, without reading the crate's sources.
//!
//! It makes the vectors in `test-vectors/moderation/` (run with
//! `FUIN_REGENERATE_VECTORS=1` to write them again), checks that the files on
//! disk are exactly what it computes and that every vector says what it
//! claims, and then checks the crate against them: its record hashes, its
//! chain verification (the place and reason of every break) and its vault
//! (every positive vector opens to its plaintext, every negative one does not).

use std::path::PathBuf;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------
// The reference implementation.
// ---------------------------------------------------------------------------

/// protocol.md §1.1: every field preceded by its length as BE32.
fn framed(fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields {
        let len = u32::try_from(field.len()).unwrap();
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

const AUDIT_LABEL: &str = "fuin/v1/moderation-audit";
const VAULT_AD_LABEL: &str = "fuin/v1/moderation-vault";
const VAULT_AEAD_LABEL: &str = "fuin/v1/moderation-vault-keys";
/// §13.2: the format's version, the first byte of a sealed value and a field
/// of its associated data.
const VAULT_VERSION: u8 = 0x01;
const SALT_LEN: usize = 32;
const COMMITMENT_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// One audit record with every field of §13.3.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    seq: u64,
    time_ms: u64,
    actor: String,
    action: String,
    case: String,
    detail: String,
    prev: [u8; 32],
    hash: [u8; 32],
}

/// The string §13.3 hashes: the label, then the seven fields, framed.
fn record_hash_input(
    seq: u64,
    time_ms: u64,
    actor: &str,
    action: &str,
    case: &str,
    detail: &str,
    prev: &[u8; 32],
) -> Vec<u8> {
    framed(&[
        AUDIT_LABEL.as_bytes(),
        &seq.to_be_bytes(),
        &time_ms.to_be_bytes(),
        actor.as_bytes(),
        action.as_bytes(),
        case.as_bytes(),
        detail.as_bytes(),
        prev,
    ])
}

fn reference_record_hash(r: &Record) -> [u8; 32] {
    let input = record_hash_input(
        r.seq, r.time_ms, &r.actor, &r.action, &r.case, &r.detail, &r.prev,
    );
    Sha256::digest(&input).into()
}

/// §13.3's verification: in the order given, the record at place `p`, counted
/// from one, must have `seq == p`, `prev` equal to the hash of the record
/// before (32 zero bytes for the first) and `hash` equal to what its fields
/// give; the checks are made in that order, so a record that fails several is
/// named by the first. Returns the head `(records, hash)` or the first break.
fn reference_verify(records: &[Record]) -> Result<(u64, [u8; 32]), (u64, &'static str)> {
    let mut before = [0u8; 32];
    for (index, record) in records.iter().enumerate() {
        let place = u64::try_from(index).unwrap() + 1;
        if record.seq != place {
            return Err((place, "seq"));
        }
        if record.prev != before {
            return Err((place, "prev"));
        }
        if reference_record_hash(record) != record.hash {
            return Err((place, "hash"));
        }
        before = record.hash;
    }
    Ok((u64::try_from(records.len()).unwrap(), before))
}

/// The next record of a chain: `seq + 1`, the last hash as `prev`.
fn append(
    chain: &mut Vec<Record>,
    time_ms: u64,
    actor: &str,
    action: &str,
    case: &str,
    detail: &str,
) {
    let (seq, prev) = match chain.last() {
        Some(last) => (last.seq + 1, last.hash),
        None => (1, [0u8; 32]),
    };
    let mut record = Record {
        seq,
        time_ms,
        actor: actor.to_owned(),
        action: action.to_owned(),
        case: case.to_owned(),
        detail: detail.to_owned(),
        prev,
        hash: [0u8; 32],
    };
    record.hash = reference_record_hash(&record);
    chain.push(record);
}

/// §13.2's associated data: the label, the version byte, the case id, the field.
fn vault_aad(case: &str, field: &str) -> Vec<u8> {
    framed(&[
        VAULT_AD_LABEL.as_bytes(),
        &[VAULT_VERSION],
        case.as_bytes(),
        field.as_bytes(),
    ])
}

/// The shortest value that may open: version, salt, commitment and tag.
const MIN_SEALED_LEN: usize = 1 + SALT_LEN + COMMITMENT_LEN + TAG_LEN;

/// protocol.md §3: one HKDF call gives the GCM key, the nonce and the
/// commitment; the label is the HKDF `info`, the salt the HKDF salt.
struct Derived {
    gcm_key: [u8; 32],
    nonce: [u8; 12],
    commitment: [u8; 32],
}

fn derive(salt: &[u8], key_material: &[u8]) -> Derived {
    let mut okm = [0u8; 76];
    hkdf::Hkdf::<Sha256>::new(Some(salt), key_material)
        .expand(VAULT_AEAD_LABEL.as_bytes(), &mut okm)
        .unwrap();
    Derived {
        gcm_key: okm[..32].try_into().unwrap(),
        nonce: okm[32..44].try_into().unwrap(),
        commitment: okm[44..76].try_into().unwrap(),
    }
}

/// Comparison without an early exit, as §3 asks for the commitment.
fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `sealed = 0x01 || salt || commitment || GCM ciphertext || tag`.
fn reference_seal(
    key: &[u8; 32],
    salt: &[u8; SALT_LEN],
    case: &str,
    field: &str,
    plaintext: &[u8],
) -> Vec<u8> {
    let d = derive(salt, key);
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::try_from(&d.gcm_key[..]).unwrap());
    let body = cipher
        .encrypt(
            &Nonce::try_from(&d.nonce[..]).unwrap(),
            Payload {
                msg: plaintext,
                aad: &vault_aad(case, field),
            },
        )
        .unwrap();
    let mut sealed = vec![VAULT_VERSION];
    sealed.extend_from_slice(salt);
    sealed.extend_from_slice(&d.commitment);
    sealed.extend_from_slice(&body);
    sealed
}

fn reference_open(key: &[u8; 32], case: &str, field: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    // §13.2: a first byte other than 0x01, fewer than 1 + 32 + 48 bytes and
    // any failure of the AEAD are one and the same refusal.
    if sealed.len() < MIN_SEALED_LEN || sealed[0] != VAULT_VERSION {
        return None;
    }
    let (salt, rest) = sealed[1..].split_at(SALT_LEN);
    let (commitment, body) = rest.split_at(COMMITMENT_LEN);
    let d = derive(salt, key);
    if !equal_in_constant_time(commitment, &d.commitment) {
        return None;
    }
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::try_from(&d.gcm_key[..]).unwrap());
    cipher
        .decrypt(
            &Nonce::try_from(&d.nonce[..]).unwrap(),
            Payload {
                msg: body,
                aad: &vault_aad(case, field),
            },
        )
        .ok()
}

// ---------------------------------------------------------------------------
// Making the vectors. Every "random" value is a SHA-256 of a name, so the
// files come out the same each time.
// ---------------------------------------------------------------------------

fn fixed_bytes<const N: usize>(name: &str) -> [u8; N] {
    let digest: [u8; 32] = Sha256::digest(format!("fuin moderation vectors: {name}")).into();
    let mut out = [0u8; N];
    let n = N.min(32);
    out[..n].copy_from_slice(&digest[..n]);
    out
}

const CASE_A: &str = "3f9c0d5e7a1b2c4d6e8f00112233aabb";
const CASE_B: &str = "00000000000000000000000000000001";

fn the_chain() -> Vec<Record> {
    let mut chain = Vec::new();
    // Every action of §13.3, once; actors are account names or `@service`;
    // `case` empty where a record concerns no case.
    let steps: [(u64, &str, &str, &str, &str); 15] = [
        (
            1_796_000_000_000,
            "lead.ana",
            "account_created",
            "",
            r#"{"account":"mod-1_b","role":"moderator"}"#,
        ),
        (1_796_000_060_123, "mod-1_b", "login_failed", "", "{}"),
        (1_796_000_061_000, "mod-1_b", "login", "", "{}"),
        (
            1_796_000_100_000,
            "@service",
            "report_opened",
            CASE_A,
            r#"{"duplicate":1,"messages":4,"rejected":0,"verified":3}"#,
        ),
        (
            1_796_000_100_001,
            "@service",
            "report_refused",
            "",
            r#"{"code":"decryption_failed","report":"ffeeddccbbaa99887766554433221100"}"#,
        ),
        (1_796_000_200_000, "mod-1_b", "case_viewed", CASE_A, "{}"),
        (
            1_796_000_200_500,
            "mod-1_b",
            "attachment_viewed",
            CASE_A,
            r#"{"message":2}"#,
        ),
        (
            1_796_000_201_000,
            "mod-1_b",
            "case_assigned",
            CASE_A,
            r#"{"assignee":"mod-1_b"}"#,
        ),
        (
            1_796_000_202_000,
            "mod-1_b",
            "note_added",
            CASE_A,
            r#"{"note":1}"#,
        ),
        (
            1_796_000_203_000,
            "mod-1_b",
            "forbidden",
            CASE_A,
            r#"{"attempt":"action","role":"moderator"}"#,
        ),
        (
            1_796_000_300_000,
            "lead.ana",
            "action_taken",
            CASE_A,
            r#"{"action":"suspend_account","result":"done"}"#,
        ),
        (
            1_796_000_300_001,
            "lead.ana",
            "case_resolved",
            CASE_A,
            r#"{"outcome":"actioned"}"#,
        ),
        (
            1_796_000_400_000,
            "lead.ana",
            "feedback_sent",
            CASE_A,
            r#"{"outcome":"actioned"}"#,
        ),
        (
            1_796_000_500_000,
            "x",
            "locked_out",
            "",
            r#"{"failures":5}"#,
        ),
        (1_796_000_600_000, "mod-1_b", "logout", "", "{}"),
    ];
    for (time_ms, actor, action, case, detail) in steps {
        append(&mut chain, time_ms, actor, action, case, detail);
    }
    chain
}

fn hex32(bytes: &[u8; 32]) -> String {
    hex::encode(bytes)
}

fn record_json(r: &Record) -> Value {
    json!({
        "seq": r.seq,
        "time_ms": r.time_ms,
        "actor": r.actor,
        "action": r.action,
        "case": r.case,
        "detail": r.detail,
        "prev": hex32(&r.prev),
        "hash": hex32(&r.hash),
    })
}

/// §13.3: the head written `RECORDS:HASH`, decimal then 64 lowercase hex digits.
fn head_text(records: u64, hash: &[u8; 32]) -> String {
    format!("{records}:{}", hex32(hash))
}

fn records_json(records: &[Record]) -> Value {
    Value::Array(records.iter().map(record_json).collect())
}

/// A chain altered one way, and where §13.3's verification must stop.
struct Tampered {
    name: &'static str,
    description: &'static str,
    records: Vec<Record>,
    expect: Result<(u64, [u8; 32]), (u64, &'static str)>,
}

fn tampered_chains(chain: &[Record]) -> Vec<Tampered> {
    let mut out = Vec::new();
    let rehash = |r: &mut Record| r.hash = reference_record_hash(r);

    let mut records = chain.to_vec();
    records[2].detail = r#"{"account":"mod-1_b","role":"lead"}"#.to_owned();
    out.push(Tampered {
        name: "edited_detail",
        description: "record 3's detail changed, its hash left as it was",
        records,
        expect: Err((3, "hash")),
    });

    let mut records = chain.to_vec();
    records[5].actor = "lead.ana".to_owned();
    out.push(Tampered {
        name: "edited_actor",
        description: "record 6's actor changed to another account",
        records,
        expect: Err((6, "hash")),
    });

    let mut records = chain.to_vec();
    records[6].time_ms += 1;
    out.push(Tampered {
        name: "edited_time",
        description: "record 7's time one millisecond later",
        records,
        expect: Err((7, "hash")),
    });

    let mut records = chain.to_vec();
    records[7].action = "case_viewed".to_owned();
    out.push(Tampered {
        name: "edited_action",
        description: "record 8's action changed",
        records,
        expect: Err((8, "hash")),
    });

    let mut records = chain.to_vec();
    records[8].case = CASE_B.to_owned();
    out.push(Tampered {
        name: "edited_case",
        description: "record 9 moved to another case",
        records,
        expect: Err((9, "hash")),
    });

    let mut records = chain.to_vec();
    records[1].case = CASE_A.to_owned();
    out.push(Tampered {
        name: "edited_empty_case",
        description: "record 2's empty case filled in",
        records,
        expect: Err((2, "hash")),
    });

    let mut records = chain.to_vec();
    records[9].hash[31] ^= 0x01;
    out.push(Tampered {
        name: "edited_hash",
        description: "the last bit of record 10's hash flipped",
        records,
        expect: Err((10, "hash")),
    });

    let mut records = chain.to_vec();
    records[3].prev[0] ^= 0x80;
    out.push(Tampered {
        name: "edited_prev",
        description: "the first bit of record 4's prev flipped, its hash left as it was",
        records,
        expect: Err((4, "prev")),
    });

    let mut records = chain.to_vec();
    records[2].detail = r#"{"from":"elsewhere"}"#.to_owned();
    rehash(&mut records[2]);
    out.push(Tampered {
        name: "rehashed_after_edit",
        description: "record 3's detail changed and its hash computed again: record 3 is \
                      consistent, record 4's prev no longer matches",
        records,
        expect: Err((4, "prev")),
    });

    let mut records = chain.to_vec();
    records[0].prev = [0xff; 32];
    rehash(&mut records[0]);
    out.push(Tampered {
        name: "first_prev_not_zero",
        description: "record 1 with a prev other than 32 zero bytes, its hash computed again",
        records,
        expect: Err((1, "prev")),
    });

    let mut records = chain.to_vec();
    records.remove(3);
    out.push(Tampered {
        name: "removed",
        description: "record 4 removed: place 4 holds seq 5",
        records,
        expect: Err((4, "seq")),
    });

    let mut records = chain.to_vec();
    records.remove(0);
    out.push(Tampered {
        name: "removed_first",
        description: "record 1 removed: place 1 holds seq 2",
        records,
        expect: Err((1, "seq")),
    });

    let mut records = chain.to_vec();
    records.remove(3);
    for r in records.iter_mut().skip(3) {
        r.seq -= 1;
    }
    out.push(Tampered {
        name: "removed_and_renumbered",
        description: "record 4 removed and the later records renumbered (hashes left): \
                      place 4 has the right seq but its prev is record 4's hash, not record 3's",
        records,
        expect: Err((4, "prev")),
    });

    let mut records = chain.to_vec();
    records.remove(3);
    for i in 3..records.len() {
        records[i].seq -= 1;
        records[i].prev = records[i - 1].hash;
        rehash(&mut records[i]);
    }
    let head = (
        u64::try_from(records.len()).unwrap(),
        records.last().unwrap().hash,
    );
    out.push(Tampered {
        name: "removed_and_rewritten",
        description: "record 4 removed and every later record renumbered and hashed again: \
                      the chain verifies, only the head (14 records, another hash) shows it; \
                      keep a copy of the head elsewhere",
        records,
        expect: Ok(head),
    });

    let mut records = chain.to_vec();
    records.pop();
    let head = (
        u64::try_from(records.len()).unwrap(),
        records.last().unwrap().hash,
    );
    out.push(Tampered {
        name: "cut_from_the_end",
        description: "the last record removed: the chain verifies with head 14 records and \
                      record 14's hash; only a copy of the head kept elsewhere shows it",
        records,
        expect: Ok(head),
    });

    let mut records = chain.to_vec();
    let mut forged = Record {
        seq: 4,
        time_ms: records[2].time_ms + 1,
        actor: "mod-1_b".to_owned(),
        action: "case_viewed".to_owned(),
        case: CASE_A.to_owned(),
        detail: "{}".to_owned(),
        prev: records[2].hash,
        hash: [0; 32],
    };
    rehash(&mut forged);
    records.insert(3, forged);
    out.push(Tampered {
        name: "inserted",
        description: "a well-formed record (seq 4, prev = record 3's hash, its own hash right) \
                      inserted after record 3: place 5 holds seq 4",
        records,
        expect: Err((5, "seq")),
    });

    let mut records = chain.to_vec();
    let copy = records[2].clone();
    records.insert(3, copy);
    out.push(Tampered {
        name: "inserted_copy",
        description: "record 3 repeated right after itself: place 4 holds seq 3",
        records,
        expect: Err((4, "seq")),
    });

    let mut records = chain.to_vec();
    records.swap(4, 5);
    out.push(Tampered {
        name: "moved",
        description: "records 5 and 6 swapped: place 5 holds seq 6",
        records,
        expect: Err((5, "seq")),
    });

    let mut records = chain.to_vec();
    let last = records.remove(14);
    records.insert(0, last);
    out.push(Tampered {
        name: "moved_to_front",
        description: "record 15 moved to the front: place 1 holds seq 15",
        records,
        expect: Err((1, "seq")),
    });

    let mut records = chain.to_vec();
    records[3].detail =
        r#"{"duplicate": 1, "messages": 4, "rejected": 0, "verified": 3}"#.to_owned();
    out.push(Tampered {
        name: "detail_respaced",
        description: "record 4's detail re-spaced (the same JSON object, other bytes), its hash \
                      left as it was: detail is hashed byte for byte",
        records,
        expect: Err((4, "hash")),
    });

    let mut records = chain.to_vec();
    records[3].detail = r#"{"verified":3,"rejected":0,"messages":4,"duplicate":1}"#.to_owned();
    out.push(Tampered {
        name: "detail_reordered",
        description: "record 4's detail with its keys in another order (the same JSON object, \
                      other bytes), its hash left as it was",
        records,
        expect: Err((4, "hash")),
    });

    let mut records = chain.to_vec();
    let (a, b) = (records[4].clone(), records[5].clone());
    records[4] = Record { seq: 5, ..b };
    records[5] = Record { seq: 6, ..a };
    out.push(Tampered {
        name: "moved_renumbered",
        description: "records 5 and 6 swapped and each given the other's seq (as a store read \
                      in ascending seq shows a move): place 5 has seq 5 but record 6's prev",
        records,
        expect: Err((5, "prev")),
    });

    let mut records = chain.to_vec();
    records[6].seq = 70;
    records[6].prev = [0x11; 32];
    records[6].detail = r#"{"message":3}"#.to_owned();
    out.push(Tampered {
        name: "first_check_named",
        description: "record 7 with its seq, prev and detail all changed, hash left: the first \
                      check, seq, is named",
        records,
        expect: Err((7, "seq")),
    });

    let mut records = chain.to_vec();
    records[6].prev = [0x11; 32];
    records[6].detail = r#"{"message":3}"#.to_owned();
    out.push(Tampered {
        name: "prev_before_hash",
        description: "record 7 with its prev and detail changed, hash left: prev is named \
                      before hash",
        records,
        expect: Err((7, "prev")),
    });

    let mut records = chain.to_vec();
    append(
        &mut records,
        1_796_000_700_000,
        "lead.ana",
        "case_reopened",
        CASE_A,
        r#"{"reason":"appeal"}"#,
    );
    let head = (
        u64::try_from(records.len()).unwrap(),
        records.last().unwrap().hash,
    );
    out.push(Tampered {
        name: "unknown_action_appended",
        description: "a well-chained record with an action this service does not know \
                      (case_reopened, as a newer service might write) appended: verification \
                      checks the chain, not the forms, so it verifies with head 16",
        records,
        expect: Ok(head),
    });

    let mut records = chain.to_vec();
    records[4].seq = 50;
    rehash(&mut records[4]);
    out.push(Tampered {
        name: "edited_seq",
        description: "record 5's seq set to 50 and its hash computed again",
        records,
        expect: Err((5, "seq")),
    });

    out
}

fn audit_vectors() -> Value {
    let chain = the_chain();
    let (records, head) = reference_verify(&chain).unwrap();
    let positive: Vec<Value> = chain
        .iter()
        .map(|r| {
            let mut v = record_json(r);
            v["hash_input"] = Value::String(hex::encode(record_hash_input(
                r.seq, r.time_ms, &r.actor, &r.action, &r.case, &r.detail, &r.prev,
            )));
            v
        })
        .collect();
    let negatives: Vec<Value> = tampered_chains(&chain)
        .into_iter()
        .map(|t| {
            assert_eq!(
                reference_verify(&t.records),
                t.expect,
                "the reference disagrees with the vector {}",
                t.name
            );
            let expected = match t.expect {
                Ok((records, hash)) => json!({ "verifies": true, "head": { "records": records, "hash": hex32(&hash), "text": head_text(records, &hash) } }),
                Err((position, why)) => json!({ "verifies": false, "position": position, "why": why }),
            };
            json!({
                "name": t.name,
                "description": t.description,
                "records": records_json(&t.records),
                "expected": expected,
            })
        })
        .collect();
    json!({
        "description": "Audit records of the moderation service (spec/report.md §13.3). hash = SHA256(framed(label, BE64(seq), BE64(time_ms), actor, action, case, detail, prev)); hash_input is the framed string. Byte strings are lowercase hex; actor, action, case and detail are the text that enters as UTF-8. 'chain' verifies with 'head' (its number of records and the last record's hash, written RECORDS:HASH in 'text'; 0 and 32 zero bytes for no records). detail is hashed byte for byte: the same JSON object spaced or ordered otherwise is another record. Each of 'tampered' is a chain altered one way: verification walks the records in the order given and names the first bad one by its place (from 1) and why: 'seq' (seq other than its place), then 'prev' (other than the hash of the record before, 32 zero bytes for the first), then 'hash' (other than its fields give), checked in that order; a tampered chain that still verifies (verification checks the chain, not the forms of the fields) gives its head instead. 'empty' is the chain of no records. Made by crates/fuin-moderation/tests/spec_formats.rs (FUIN_REGENERATE_VECTORS=1).",
        "label": AUDIT_LABEL,
        "chain": positive,
        "head": { "records": records, "hash": hex32(&head), "text": head_text(records, &head) },
        "empty": { "records": [], "head": { "records": 0, "hash": hex32(&[0u8; 32]), "text": head_text(0, &[0u8; 32]) } },
        "tampered": negatives,
    })
}

/// Notes' fields, `note/AUTHOR/TIME_MS`: two notes of one case.
const NOTE_1: &str = "note/mod-1_b/1796000202000";
const NOTE_2: &str = "note/lead.ana/1796000300500";

/// One positive vault vector's inputs.
struct VaultCase {
    key_name: &'static str,
    case: &'static str,
    field: &'static str,
    salt_name: &'static str,
    plaintext: Vec<u8>,
}

fn vault_cases() -> Vec<VaultCase> {
    // A small PNG-like binary for an attachment: its signature, then bytes 0-255.
    let mut attachment = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    attachment.extend(0u8..=255);
    vec![
        VaultCase {
            key_name: "vault key 1",
            case: CASE_A,
            field: "reason",
            salt_name: "salt reason",
            plaintext: "harassment: threats in three messages".as_bytes().to_vec(),
        },
        VaultCase {
            key_name: "vault key 1",
            case: CASE_A,
            field: "message/0/text",
            salt_name: "salt message 0 text",
            plaintext: "Ich weiß, wo du wohnst. 🔪".as_bytes().to_vec(),
        },
        VaultCase {
            key_name: "vault key 1",
            case: CASE_A,
            field: "message/1/text",
            salt_name: "salt message 1 text",
            plaintext: Vec::new(),
        },
        VaultCase {
            key_name: "vault key 1",
            case: CASE_A,
            field: "message/12/file-name",
            salt_name: "salt message 12 file name",
            plaintext: "photo 2026-12-07.png".as_bytes().to_vec(),
        },
        VaultCase {
            key_name: "vault key 1",
            case: CASE_A,
            field: "message/12/attachment",
            salt_name: "salt message 12 attachment",
            plaintext: attachment,
        },
        VaultCase {
            key_name: "vault key 1",
            case: CASE_B,
            field: NOTE_1,
            salt_name: "salt note 1",
            plaintext: "Asked the reporter for context; see case 3f9c."
                .as_bytes()
                .to_vec(),
        },
        VaultCase {
            key_name: "vault key 1",
            case: CASE_B,
            field: NOTE_2,
            salt_name: "salt note 2",
            plaintext: "Context received; suspending.".as_bytes().to_vec(),
        },
        VaultCase {
            key_name: "vault key 2",
            case: CASE_A,
            field: "reason",
            salt_name: "salt reason",
            plaintext: "harassment: threats in three messages".as_bytes().to_vec(),
        },
    ]
}

/// A value that must not open: name, description, key, case, field, bytes.
type Refusal = (
    &'static str,
    &'static str,
    [u8; 32],
    &'static str,
    &'static str,
    Vec<u8>,
);

fn vault_vectors() -> Value {
    let mut positive = Vec::new();
    for c in vault_cases() {
        let key: [u8; 32] = fixed_bytes(c.key_name);
        let salt: [u8; SALT_LEN] = fixed_bytes(c.salt_name);
        let d = derive(&salt, &key);
        let sealed = reference_seal(&key, &salt, c.case, c.field, &c.plaintext);
        assert_eq!(
            reference_open(&key, c.case, c.field, &sealed).as_deref(),
            Some(&c.plaintext[..])
        );
        positive.push(json!({
            "key": hex::encode(key),
            "case": c.case,
            "field": c.field,
            "salt": hex::encode(salt),
            "plaintext": hex::encode(&c.plaintext),
            "aad": hex::encode(vault_aad(c.case, c.field)),
            "gcm_key": hex::encode(d.gcm_key),
            "nonce": hex::encode(d.nonce),
            "commitment": hex::encode(d.commitment),
            "sealed": hex::encode(&sealed),
        }));
    }

    // The negatives alter the first positive vector (key 1, CASE_A, reason)
    // and the attachment one.
    let cases = vault_cases();
    let key1: [u8; 32] = fixed_bytes("vault key 1");
    let key2: [u8; 32] = fixed_bytes("vault key 2");
    let reason = reference_seal(
        &key1,
        &fixed_bytes(cases[0].salt_name),
        cases[0].case,
        cases[0].field,
        &cases[0].plaintext,
    );
    let text0 = reference_seal(
        &key1,
        &fixed_bytes(cases[1].salt_name),
        cases[1].case,
        cases[1].field,
        &cases[1].plaintext,
    );
    let note1 = reference_seal(
        &key1,
        &fixed_bytes(cases[5].salt_name),
        cases[5].case,
        cases[5].field,
        &cases[5].plaintext,
    );
    assert_eq!(cases[5].field, NOTE_1);
    let flip = |sealed: &[u8], at: usize| {
        let mut out = sealed.to_vec();
        out[at] ^= 0x01;
        out
    };
    let with_version = |sealed: &[u8], version: u8| {
        let mut out = sealed.to_vec();
        out[0] = version;
        out
    };
    let n = reason.len();
    let mut negative: Vec<Refusal> = vec![
        (
            "other_case",
            "the reason opened as another case's",
            key1,
            CASE_B,
            "reason",
            reason.clone(),
        ),
        (
            "other_case_upper_hex",
            "the reason opened with its case id in upper-case hex digits",
            key1,
            "3F9C0D5E7A1B2C4D6E8F00112233AABB",
            "reason",
            reason.clone(),
        ),
        (
            "other_field",
            "the reason opened as a note",
            key1,
            CASE_A,
            NOTE_1,
            reason.clone(),
        ),
        (
            "other_message",
            "message 0's text opened as message 1's",
            key1,
            CASE_A,
            "message/1/text",
            text0.clone(),
        ),
        (
            "other_message_spelling",
            "message 0's text opened with the place written 00",
            key1,
            CASE_A,
            "message/00/text",
            text0.clone(),
        ),
        (
            "other_kind_of_field",
            "message 0's text opened as its file name",
            key1,
            CASE_A,
            "message/0/file-name",
            text0,
        ),
        (
            "note_moved_to_other_note",
            "note 1's text opened as the case's other note (another author and time)",
            key1,
            CASE_B,
            NOTE_2,
            note1.clone(),
        ),
        (
            "note_other_author",
            "note 1's text opened with the same time but another author",
            key1,
            CASE_B,
            "note/lead.ana/1796000202000",
            note1.clone(),
        ),
        (
            "note_other_time",
            "note 1's text opened with the same author and a time 1 ms later",
            key1,
            CASE_B,
            "note/mod-1_b/1796000202001",
            note1.clone(),
        ),
        (
            "note_without_author_and_time",
            "note 1's text opened as the bare field note",
            key1,
            CASE_B,
            "note",
            note1.clone(),
        ),
        (
            "note_other_case",
            "note 1's text opened, same author and time, as a note of another case",
            key1,
            CASE_A,
            NOTE_1,
            note1,
        ),
        (
            "other_key",
            "the reason opened with another vault key",
            key2,
            CASE_A,
            "reason",
            reason.clone(),
        ),
        (
            "version_0x02",
            "the version byte changed to 0x02, everything else as sealed",
            key1,
            CASE_A,
            "reason",
            with_version(&reason, 0x02),
        ),
        (
            "version_0x00",
            "the version byte changed to 0x00, everything else as sealed",
            key1,
            CASE_A,
            "reason",
            with_version(&reason, 0x00),
        ),
        (
            "no_version_byte",
            "the version byte removed: salt || commitment || ciphertext || tag",
            key1,
            CASE_A,
            "reason",
            reason[1..].to_vec(),
        ),
        (
            "version_byte_twice",
            "a second version byte 0x01 in front",
            key1,
            CASE_A,
            "reason",
            [&[VAULT_VERSION][..], &reason].concat(),
        ),
        (
            "flipped_salt",
            "a bit of the salt flipped",
            key1,
            CASE_A,
            "reason",
            flip(&reason, 1),
        ),
        (
            "flipped_salt_last",
            "the last bit of the salt's 32nd byte flipped",
            key1,
            CASE_A,
            "reason",
            flip(&reason, SALT_LEN),
        ),
        (
            "flipped_commitment",
            "a bit of the commitment flipped",
            key1,
            CASE_A,
            "reason",
            flip(&reason, 1 + SALT_LEN + 5),
        ),
        (
            "flipped_ciphertext",
            "a bit of the ciphertext flipped",
            key1,
            CASE_A,
            "reason",
            flip(&reason, 1 + SALT_LEN + COMMITMENT_LEN),
        ),
        (
            "flipped_tag",
            "the last bit of the tag flipped",
            key1,
            CASE_A,
            "reason",
            flip(&reason, n - 1),
        ),
        (
            "tag_cut",
            "the last byte of the tag removed",
            key1,
            CASE_A,
            "reason",
            reason[..n - 1].to_vec(),
        ),
        (
            "cut_to_minimum",
            "cut to 81 bytes (the minimum length; the tag is not the tag)",
            key1,
            CASE_A,
            "reason",
            reason[..MIN_SEALED_LEN].to_vec(),
        ),
        (
            "too_short",
            "80 bytes: one less than version, salt, commitment and tag",
            key1,
            CASE_A,
            "reason",
            reason[..MIN_SEALED_LEN - 1].to_vec(),
        ),
        (
            "too_short_old_rule",
            "64 bytes: the old minimum (16-byte salt, commitment, tag)",
            key1,
            CASE_A,
            "reason",
            reason[..64].to_vec(),
        ),
        (
            "version_and_salt_only",
            "the version byte and the salt alone",
            key1,
            CASE_A,
            "reason",
            reason[..1 + SALT_LEN].to_vec(),
        ),
        (
            "version_only",
            "the version byte alone",
            key1,
            CASE_A,
            "reason",
            vec![VAULT_VERSION],
        ),
        (
            "empty",
            "no bytes at all",
            key1,
            CASE_A,
            "reason",
            Vec::new(),
        ),
    ];
    // Values sealed with the right key, case and field but other associated
    // data: not framed, or framed without the version byte (the format
    // before the version was bound), must not open.
    let seal_with_aad = |salt_name: &str, aad: &[u8]| {
        let salt: [u8; SALT_LEN] = fixed_bytes(salt_name);
        let d = derive(&salt, &key1);
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::try_from(&d.gcm_key[..]).unwrap());
        let body = cipher
            .encrypt(
                &Nonce::try_from(&d.nonce[..]).unwrap(),
                Payload {
                    msg: &cases[0].plaintext[..],
                    aad,
                },
            )
            .unwrap();
        [&[VAULT_VERSION][..], &salt, &d.commitment, &body].concat()
    };
    negative.push((
        "unframed_aad",
        "sealed with the associated data case id || \"/reason\" instead of the framed one",
        key1,
        CASE_A,
        "reason",
        seal_with_aad("salt unframed", format!("{CASE_A}/reason").as_bytes()),
    ));
    negative.push((
        "aad_without_version",
        "sealed with framed(\"fuin/v1/moderation-vault\", case id, field), the version byte \
         left out of the associated data",
        key1,
        CASE_A,
        "reason",
        seal_with_aad(
            "salt aad without version",
            &framed(&[VAULT_AD_LABEL.as_bytes(), CASE_A.as_bytes(), b"reason"]),
        ),
    ));
    negative.push((
        "aad_other_version",
        "version byte 0x02 both in front and in the associated data, sealed consistently: \
         refused for its first byte",
        key1,
        CASE_A,
        "reason",
        with_version(
            &seal_with_aad(
                "salt version 2",
                &framed(&[
                    VAULT_AD_LABEL.as_bytes(),
                    &[0x02],
                    CASE_A.as_bytes(),
                    b"reason",
                ]),
            ),
            0x02,
        ),
    ));
    // The same value sealed under the label of protocol.md §12.2 (the one
    // this format used before it had its own) must not open.
    let old_label = {
        let salt: [u8; SALT_LEN] = fixed_bytes("salt state-encryption label");
        let mut okm = [0u8; 76];
        hkdf::Hkdf::<Sha256>::new(Some(&salt), &key1)
            .expand(b"fuin/v1/state-encryption", &mut okm)
            .unwrap();
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::try_from(&okm[..32]).unwrap());
        let body = cipher
            .encrypt(
                &Nonce::try_from(&okm[32..44]).unwrap(),
                Payload {
                    msg: &cases[0].plaintext[..],
                    aad: &vault_aad(CASE_A, "reason"),
                },
            )
            .unwrap();
        [&[VAULT_VERSION][..], &salt, &okm[44..76], &body].concat()
    };
    negative.push((
        "other_label",
        "sealed with HKDF info fuin/v1/state-encryption instead of fuin/v1/moderation-vault-keys",
        key1,
        CASE_A,
        "reason",
        old_label,
    ));

    let negative: Vec<Value> = negative
        .into_iter()
        .map(|(name, description, key, case, field, sealed)| {
            assert!(
                reference_open(&key, case, field, &sealed).is_none(),
                "the reference opens the negative vector {name}"
            );
            json!({
                "name": name,
                "description": description,
                "key": hex::encode(key),
                "case": case,
                "field": field,
                "sealed": hex::encode(&sealed),
            })
        })
        .collect();

    json!({
        "description": "Values sealed at rest by the moderation service (spec/report.md §13.2): sealed = 0x01 (the version) || salt (32) || commitment (32) || AES-256-GCM ciphertext || tag (16), where the key-committing AEAD of spec/protocol.md §3 runs with label fuin/v1/moderation-vault-keys (the HKDF info), the 32-byte salt as HKDF salt, the 32-byte vault key as key material, and aad = framed(\"fuin/v1/moderation-vault\", [0x01], case id as 32 lowercase hex digits, field). Fields: reason, message/I/text, message/I/file-name, message/I/attachment (I from 0, decimal, no leading zeros), note/AUTHOR/TIME_MS. Opening refuses, as one error, a first byte other than 0x01, fewer than 81 bytes, and any AEAD failure; an empty plaintext (81 bytes sealed) opens. Byte strings are lowercase hex; case and field are text. Each of 'sealed' opens, with its key, case and field, to its plaintext; each of 'refused' must not open with the key, case and field it gives. Made by crates/fuin-moderation/tests/spec_formats.rs (FUIN_REGENERATE_VECTORS=1).",
        "aead_label": VAULT_AEAD_LABEL,
        "version": VAULT_VERSION,
        "min_sealed_len": MIN_SEALED_LEN,
        "aad_label": VAULT_AD_LABEL,
        "sealed": positive,
        "refused": negative,
    })
}

// ---------------------------------------------------------------------------
// The files.
// ---------------------------------------------------------------------------

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test-vectors/moderation")
}

/// Writes the file when `FUIN_REGENERATE_VECTORS=1`, otherwise checks that
/// the file holds exactly what the reference computes; returns the file's
/// contents, parsed.
fn vector_file(name: &str, computed: &Value) -> Value {
    // The tests run in parallel: one at a time writes or reads a file.
    static FILES: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = FILES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = vectors_dir().join(name);
    let text = serde_json::to_string_pretty(computed).unwrap() + "\n";
    if std::env::var("FUIN_REGENERATE_VECTORS").as_deref() == Ok("1") {
        std::fs::create_dir_all(vectors_dir()).unwrap();
        std::fs::write(&path, &text).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} ({e}); run with FUIN_REGENERATE_VECTORS=1",
            path.display()
        )
    });
    assert!(
        on_disk == text,
        "{} is not what the reference computes; run with FUIN_REGENERATE_VECTORS=1 if the spec changed",
        path.display()
    );
    serde_json::from_str(&on_disk).unwrap()
}

fn audit_file() -> Value {
    vector_file("audit_chain.json", &audit_vectors())
}

fn vault_file() -> Value {
    vector_file("vault.json", &vault_vectors())
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn unhex32(v: &Value) -> [u8; 32] {
    unhex(v).try_into().unwrap()
}

fn text(v: &Value) -> String {
    v.as_str().unwrap().to_owned()
}

fn parse_record(v: &Value) -> Record {
    Record {
        seq: v["seq"].as_u64().unwrap(),
        time_ms: v["time_ms"].as_u64().unwrap(),
        actor: text(&v["actor"]),
        action: text(&v["action"]),
        case: text(&v["case"]),
        detail: text(&v["detail"]),
        prev: unhex32(&v["prev"]),
        hash: unhex32(&v["hash"]),
    }
}

fn parse_records(v: &Value) -> Vec<Record> {
    v.as_array().unwrap().iter().map(parse_record).collect()
}

// ---------------------------------------------------------------------------
// The vectors say what they claim (checked by the reference, from the file).
// ---------------------------------------------------------------------------

#[test]
fn framing_matches_the_example_of_protocol_md() {
    // spec/protocol.md §1.1's example, copied from the spec's text.
    let expected = "0000001b 6675696e2f76312f6469726563742d636f6e766572736174696f6e \
                    00000005 616c696365 00000003 626f62"
        .replace(' ', "");
    assert_eq!(
        hex::encode(framed(&[b"fuin/v1/direct-conversation", b"alice", b"bob"])),
        expected
    );
    assert_eq!(framed(&[b""]), [0, 0, 0, 0]);
}

#[test]
fn audit_vectors_are_current_and_consistent() {
    let file = audit_file();
    let chain = parse_records(&file["chain"]);
    assert!(chain.len() >= 6);
    // Every action of §13.3 appears, an empty case and `@service` too.
    for action in [
        "account_created",
        "login",
        "login_failed",
        "locked_out",
        "logout",
        "report_opened",
        "report_refused",
        "case_viewed",
        "attachment_viewed",
        "case_assigned",
        "note_added",
        "action_taken",
        "case_resolved",
        "feedback_sent",
        "forbidden",
    ] {
        assert!(chain.iter().any(|r| r.action == action), "{action} missing");
    }
    assert!(chain.iter().any(|r| r.case.is_empty()));
    assert!(chain.iter().any(|r| r.actor == "@service"));
    for (v, r) in file["chain"].as_array().unwrap().iter().zip(&chain) {
        // The framed input, taken apart by hand: label, then seven fields.
        let input = unhex(&v["hash_input"]);
        let mut fields = Vec::new();
        let mut rest = &input[..];
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            fields.push(rest[4..4 + len].to_vec());
            rest = &rest[4 + len..];
        }
        assert_eq!(fields.len(), 8);
        assert_eq!(fields[0], AUDIT_LABEL.as_bytes());
        assert_eq!(fields[1], r.seq.to_be_bytes());
        assert_eq!(fields[2], r.time_ms.to_be_bytes());
        assert_eq!(fields[3], r.actor.as_bytes());
        assert_eq!(fields[4], r.action.as_bytes());
        assert_eq!(fields[5], r.case.as_bytes());
        assert_eq!(fields[6], r.detail.as_bytes());
        assert_eq!(fields[7], r.prev);
        let digest: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(digest, r.hash);
    }
    assert_eq!(
        reference_verify(&chain),
        Ok((
            file["head"]["records"].as_u64().unwrap(),
            unhex32(&file["head"]["hash"])
        ))
    );
    assert_eq!(reference_verify(&[]), Ok((0, [0u8; 32])));
    for head in [&file["head"], &file["empty"]["head"]] {
        let text = head["text"].as_str().unwrap();
        let (records, hash) = text.split_once(':').unwrap();
        assert_eq!(records, head["records"].as_u64().unwrap().to_string());
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, hash.to_lowercase());
        assert_eq!(hash, head["hash"].as_str().unwrap());
    }
    assert_eq!(
        file["empty"]["head"]["text"],
        format!("0:{}", "0".repeat(64))
    );
    for t in file["tampered"].as_array().unwrap() {
        let records = parse_records(&t["records"]);
        let got = reference_verify(&records);
        let e = &t["expected"];
        if e["verifies"].as_bool().unwrap() {
            let head = (
                e["head"]["records"].as_u64().unwrap(),
                unhex32(&e["head"]["hash"]),
            );
            assert_eq!(got, Ok(head), "{}", t["name"]);
            assert_ne!(head.1, unhex32(&file["head"]["hash"]), "{}", t["name"]);
        } else {
            let position = e["position"].as_u64().unwrap();
            let why = e["why"].as_str().unwrap();
            assert_eq!(
                got.map_err(|(p, w)| (p, w.to_owned())),
                Err((position, why.to_owned())),
                "{}",
                t["name"]
            );
        }
    }
}

#[test]
fn vault_vectors_are_current_and_consistent() {
    let file = vault_file();
    assert_eq!(file["aead_label"], VAULT_AEAD_LABEL);
    assert_eq!(file["aad_label"], VAULT_AD_LABEL);
    assert_eq!(MIN_SEALED_LEN, 81);
    let sealed_fields: Vec<String> = file["sealed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| text(&v["field"]))
        .collect();
    // Every form of field of §13.2, and an empty plaintext at the minimum length.
    for prefix in ["reason", "message/", "note/"] {
        assert!(sealed_fields.iter().any(|f| f.starts_with(prefix)));
    }
    for suffix in ["/text", "/file-name", "/attachment"] {
        assert!(sealed_fields.iter().any(|f| f.ends_with(suffix)));
    }
    assert!(
        file["sealed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| unhex(&v["sealed"]).len() == MIN_SEALED_LEN)
    );
    for v in file["sealed"].as_array().unwrap() {
        let key = unhex32(&v["key"]);
        let (case, field) = (text(&v["case"]), text(&v["field"]));
        let salt = unhex(&v["salt"]);
        let sealed = unhex(&v["sealed"]);
        let plaintext = unhex(&v["plaintext"]);
        assert_eq!(salt.len(), SALT_LEN);
        assert_eq!(case.len(), 32);
        assert_eq!(sealed[0], VAULT_VERSION);
        assert_eq!(&sealed[1..=SALT_LEN], &salt[..]);
        assert_eq!(
            &sealed[1 + SALT_LEN..1 + SALT_LEN + COMMITMENT_LEN],
            &unhex(&v["commitment"])[..]
        );
        assert_eq!(sealed.len(), MIN_SEALED_LEN + plaintext.len());
        let aad = unhex(&v["aad"]);
        assert_eq!(aad, vault_aad(&case, &field));
        let d = derive(&salt, &key);
        assert_eq!(d.gcm_key.to_vec(), unhex(&v["gcm_key"]));
        assert_eq!(d.nonce.to_vec(), unhex(&v["nonce"]));
        assert_eq!(
            reference_open(&key, &case, &field, &sealed),
            Some(plaintext)
        );
    }
    let refused = file["refused"].as_array().unwrap();
    assert!(refused.len() >= 5);
    for v in refused {
        let key = unhex32(&v["key"]);
        let sealed = unhex(&v["sealed"]);
        assert_eq!(
            reference_open(&key, &text(&v["case"]), &text(&v["field"]), &sealed),
            None,
            "{}",
            v["name"]
        );
    }
}

// ---------------------------------------------------------------------------
// The crate against the vectors.
// ---------------------------------------------------------------------------

fn crate_record(r: &Record) -> fuin_moderation::audit::AuditRecord {
    fuin_moderation::audit::AuditRecord {
        seq: r.seq,
        time_ms: r.time_ms,
        actor: r.actor.clone(),
        action: r.action.clone(),
        case: r.case.clone(),
        detail: r.detail.clone(),
        prev: r.prev,
        hash: r.hash,
    }
}

/// The crate's verdict on a chain, in the reference's terms.
fn crate_verify(records: &[Record]) -> Result<(u64, [u8; 32]), (u64, String)> {
    let records: Vec<_> = records.iter().map(crate_record).collect();
    match fuin_moderation::audit::verify_chain(&records) {
        Ok(head) => Ok((head.records, head.hash)),
        Err(b) => Err((b.position, b.why.to_owned())),
    }
}

#[test]
fn crate_hashes_every_record_as_the_vectors() {
    let file = audit_file();
    for r in parse_records(&file["chain"]) {
        let hash = fuin_moderation::audit::record_hash(
            r.seq, r.time_ms, &r.actor, &r.action, &r.case, &r.detail, &r.prev,
        );
        assert_eq!(hex32(&hash), hex32(&r.hash), "record {}", r.seq);
    }
}

#[test]
fn crate_verifies_the_chain_to_its_head() {
    let file = audit_file();
    let chain = parse_records(&file["chain"]);
    let head = (
        file["head"]["records"].as_u64().unwrap(),
        unhex32(&file["head"]["hash"]),
    );
    assert_eq!(crate_verify(&chain), Ok(head));
    // Every prefix is a chain too, with the last record as its head.
    for n in 1..chain.len() {
        assert_eq!(
            crate_verify(&chain[..n]),
            Ok((u64::try_from(n).unwrap(), chain[n - 1].hash))
        );
    }
}

#[test]
fn crate_verifies_the_empty_chain() {
    let file = audit_file();
    let head = &file["empty"]["head"];
    assert_eq!(
        crate_verify(&[]),
        Ok((head["records"].as_u64().unwrap(), unhex32(&head["hash"])))
    );
}

#[test]
fn crate_names_the_place_and_reason_of_every_break() {
    let file = audit_file();
    let mut failures = Vec::new();
    for t in file["tampered"].as_array().unwrap() {
        let records = parse_records(&t["records"]);
        let e = &t["expected"];
        let expected = if e["verifies"].as_bool().unwrap() {
            Ok((
                e["head"]["records"].as_u64().unwrap(),
                unhex32(&e["head"]["hash"]),
            ))
        } else {
            Err((e["position"].as_u64().unwrap(), text(&e["why"])))
        };
        let got = crate_verify(&records);
        if got != expected {
            failures.push(format!(
                "{}: expected {expected:?}, crate gave {got:?}",
                t["name"]
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn crate_vault_opens_every_sealed_vector() {
    use fuin_moderation::model::{CaseId, Sealed};
    let file = vault_file();
    for v in file["sealed"].as_array().unwrap() {
        let vault = fuin_moderation::vault::Vault::new(unhex32(&v["key"]));
        let case = CaseId(text(&v["case"]));
        let field = text(&v["field"]);
        let opened = vault.open(&case, &field, &Sealed(unhex(&v["sealed"])));
        match opened {
            Ok(plaintext) => assert_eq!(
                hex::encode(&plaintext[..]),
                text(&v["plaintext"]),
                "{} {field}",
                case.0
            ),
            Err(_) => panic!("the crate's vault refuses {} {field}", case.0),
        }
    }
}

#[test]
fn crate_vault_refuses_every_altered_vector() {
    use fuin_moderation::model::{CaseId, Sealed};
    let file = vault_file();
    let mut opened = Vec::new();
    for v in file["refused"].as_array().unwrap() {
        let vault = fuin_moderation::vault::Vault::new(unhex32(&v["key"]));
        let result = vault.open(
            &CaseId(text(&v["case"])),
            &text(&v["field"]),
            &Sealed(unhex(&v["sealed"])),
        );
        if result.is_ok() {
            opened.push(text(&v["name"]));
        }
    }
    assert!(opened.is_empty(), "the crate's vault opens {opened:?}");
}
