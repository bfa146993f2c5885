//! The reject vectors (`test-vectors/attachments/reject.json`): altered
//! objects and references, each with the step of spec/attachments.md §7
//! that refuses it and the error that step names, computed by the reference
//! opener.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use super::opening::{Opening, open_reference};
use super::reference::{self as r, OpenError};
use super::scenario::{self, Case};

/// One altered object or reference.
pub struct Reject {
    pub name: String,
    pub base: String,
    pub opening: Opening,
    pub blob: Vec<u8>,
}

/// An object the rejects alter: its name in the file, the case it seals and
/// its format version.
pub struct Base {
    pub name: &'static str,
    pub case: Case,
    pub version: u8,
}

pub fn bases() -> Vec<Base> {
    let mut cases = scenario::cases();
    let empty = cases.remove(1);
    let three_chunks = cases.remove(0);
    vec![
        Base {
            name: "three chunks, version 2",
            case: three_chunks,
            version: r::VERSION_BLAKE3,
        },
        Base {
            name: "three chunks, version 1",
            case: scenario::cases().remove(0),
            version: r::VERSION_SHA256,
        },
        Base {
            name: "empty, version 2",
            case: empty,
            version: r::VERSION_BLAKE3,
        },
    ]
}

fn flipped(blob: &[u8], at: usize) -> Vec<u8> {
    let mut out = blob.to_vec();
    out[at] ^= 0x01;
    out
}

fn with_bytes(blob: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut out = blob.to_vec();
    out[at..at + bytes.len()].copy_from_slice(bytes);
    out
}

/// The sealed length of an object of `chunks` chunks of `unit` bytes but a
/// last one of `last` bytes.
fn sealed_len_of(chunks: u64, unit: u64, last: u64) -> u64 {
    r::HEADER_LEN as u64 + (chunks - 1) * unit + last
}

/// Every reject vector, in the file's order.
pub fn rejects() -> Vec<Reject> {
    let mut out = Vec::new();
    for base in bases() {
        let sealed = scenario::seal_reference(&base.case, base.version);
        let intact = scenario::opening(&base.case, &sealed);
        let mut push = |name: String, opening: &Opening, blob: Vec<u8>| {
            out.push(Reject {
                name,
                base: base.name.to_owned(),
                opening: opening.clone(),
                blob,
            });
        };
        if base.case.plaintext.is_empty() {
            empty_object(&sealed, &intact, &mut push);
        } else {
            let other = scenario::seal_reference(&scenario::other_object(), base.version);
            header_fields(&sealed, &intact, &mut push);
            order_of_checks(&sealed, &intact, &mut push);
            truncations(&sealed, &intact, base.case.chunk_size, &mut push);
            trailing(&sealed, &intact, base.case.chunk_size, &mut push);
            chunks(&sealed, &other, &intact, base.case.chunk_size, &mut push);
            keys_and_contexts(&sealed, &intact, &mut push);
            blob_ids(&sealed, &intact, &mut push);
            sealed_lens(&sealed, &intact, base.case.chunk_size, &mut push);
        }
    }
    out
}

type Push<'a> = dyn FnMut(String, &Opening, Vec<u8>) + 'a;

/// §7 steps 2-5: each field of the header, altered.
fn header_fields(sealed: &[u8], intact: &Opening, push: &mut Push<'_>) {
    for version in [0x00u8, 0x03, 0xff] {
        push(
            format!("version byte {version:#04x}"),
            intact,
            with_bytes(sealed, 0, &[version]),
        );
    }
    let other_version = if sealed[0] == r::VERSION_BLAKE3 {
        r::VERSION_SHA256
    } else {
        r::VERSION_BLAKE3
    };
    push(
        format!(
            "version relabelled {:#04x} -> {other_version:#04x} (chunk 0 was sealed under the other header)",
            sealed[0]
        ),
        intact,
        with_bytes(sealed, 0, &[other_version]),
    );
    push(
        format!(
            "version relabelled {:#04x} -> {other_version:#04x}, the reference naming the other version's hash",
            sealed[0]
        ),
        &Opening {
            blob_id: r::blob_id(other_version, &with_bytes(sealed, 0, &[other_version])).unwrap(),
            ..intact.clone()
        },
        with_bytes(sealed, 0, &[other_version]),
    );
    for size in [0u32, 15, 1_048_577, u32::MAX] {
        push(
            format!("chunk size {size} (out of bounds)"),
            intact,
            with_bytes(sealed, 1, &size.to_be_bytes()),
        );
    }
    for size in [17u32, 32, 65_536, 1_048_576] {
        push(
            format!("chunk size {size} (within bounds; the commitment covers it)"),
            intact,
            with_bytes(sealed, 1, &size.to_be_bytes()),
        );
    }
    push(
        "chunk size's first byte flipped".to_owned(),
        intact,
        flipped(sealed, 1),
    );
    push(
        "context id's first byte flipped".to_owned(),
        intact,
        flipped(sealed, 5),
    );
    push(
        "context id's last byte flipped".to_owned(),
        intact,
        flipped(sealed, 36),
    );
    push(
        "commitment's first byte flipped".to_owned(),
        intact,
        flipped(sealed, 37),
    );
    push(
        "commitment's last byte flipped".to_owned(),
        intact,
        flipped(sealed, 68),
    );
}

/// Two faults at once: the earlier step of §7 names the error.
fn order_of_checks(sealed: &[u8], intact: &Opening, push: &mut Push<'_>) {
    let three = with_bytes(sealed, 0, &[0x03]);
    push(
        "10 bytes, version byte 0x03: too short before the version is read".to_owned(),
        intact,
        three[..10].to_vec(),
    );
    push(
        "40 bytes under a sealed_len forged to 10: too short is checked before the length"
            .to_owned(),
        &Opening {
            sealed_len: 10,
            ..intact.clone()
        },
        sealed[..40].to_vec(),
    );
    push(
        "version byte 0x03 and chunk size 0".to_owned(),
        intact,
        with_bytes(&three, 1, &0u32.to_be_bytes()),
    );
    push(
        "chunk size 0 and context id altered".to_owned(),
        intact,
        flipped(&with_bytes(sealed, 1, &0u32.to_be_bytes()), 5),
    );
    push(
        "context id altered, opened with key 00..00".to_owned(),
        &Opening {
            key: [0; 32],
            ..intact.clone()
        },
        flipped(sealed, 5),
    );
    push(
        "opened with key 00..00 under a sealed_len with no layout".to_owned(),
        &Opening {
            key: [0; 32],
            sealed_len: intact.sealed_len - 1 - 16,
            ..intact.clone()
        },
        sealed.to_vec(),
    );
    push(
        "sealed_len with no layout, chunk 0 altered".to_owned(),
        &Opening {
            sealed_len: 80,
            ..intact.clone()
        },
        flipped(sealed, r::HEADER_LEN),
    );
    push(
        "chunk 1 altered and a byte appended".to_owned(),
        intact,
        [&flipped(sealed, r::HEADER_LEN + 40)[..], &[0]].concat(),
    );
    push(
        "a byte appended, the reference naming the hash of the longer blob".to_owned(),
        &Opening {
            blob_id: r::blob_id(sealed[0], &[sealed, &[0]].concat()).unwrap(),
            ..intact.clone()
        },
        [sealed, &[0]].concat(),
    );
}

/// §7 steps 1, 6, 7 and 8: the object cut at every kind of boundary, under
/// the reference's length or a length forged to match.
fn truncations(sealed: &[u8], intact: &Opening, chunk_size: u32, push: &mut Push<'_>) {
    let unit = chunk_size as usize + 16;
    let h = r::HEADER_LEN;
    let cuts = [
        (0, "nothing arrived"),
        (1, "only the version byte"),
        (h - 1, "the header's last byte missing"),
        (h, "the header alone"),
        (h + 1, "one byte of chunk 0"),
        (h + unit - 1, "chunk 0's last byte missing"),
        (h + unit, "cut at the boundary of chunks 0 and 1"),
        (h + unit + 20, "cut inside chunk 1"),
        (
            h + 2 * unit,
            "cut at the boundary of chunks 1 and 2 (last chunk dropped)",
        ),
        (sealed.len() - 1, "the last byte missing"),
    ];
    for (len, what) in cuts {
        push(
            format!("{what}: {len} of {} bytes", sealed.len()),
            intact,
            sealed[..len].to_vec(),
        );
    }
    let altered_last = flipped(sealed, h + 2 * unit);
    push(
        "the last chunk altered, then cut inside it".to_owned(),
        intact,
        altered_last[..sealed.len() - 4].to_vec(),
    );
    push(
        "chunk 0 altered, then the last chunk dropped".to_owned(),
        intact,
        flipped(sealed, h)[..h + 2 * unit].to_vec(),
    );
    let forged = [
        (h + unit, "cut at the boundary of chunks 0 and 1"),
        (h + 2 * unit, "cut at the boundary of chunks 1 and 2"),
        (
            h + unit + 20,
            "cut inside chunk 1, the rest a chunk of 20 bytes",
        ),
        (
            h + 2 * unit + 17,
            "cut inside chunk 2, the rest a chunk of 17 bytes",
        ),
        (
            h + unit + 10,
            "cut inside chunk 1, the rest 10 bytes, shorter than a tag",
        ),
        (h + 2 * unit + 16, "cut inside chunk 2, the rest only a tag"),
        (h + 15, "cut inside chunk 0, the rest shorter than a tag"),
    ];
    for (len, what) in forged {
        push(
            format!("{what}, sealed_len forged to {len}"),
            &Opening {
                sealed_len: len as u64,
                ..intact.clone()
            },
            sealed[..len].to_vec(),
        );
    }
}

/// §7 steps 7 and 8: bytes after the object.
fn trailing(sealed: &[u8], intact: &Opening, chunk_size: u32, push: &mut Push<'_>) {
    let unit = chunk_size as usize + 16;
    let h = r::HEADER_LEN;
    let one_more = [sealed, &[0]].concat();
    push("one byte appended".to_owned(), intact, one_more.clone());
    push(
        "one byte appended, sealed_len forged to match".to_owned(),
        &Opening {
            sealed_len: one_more.len() as u64,
            ..intact.clone()
        },
        one_more,
    );
    let chunk_again = [sealed, &sealed[h + unit..h + 2 * unit]].concat();
    push(
        "chunk 1 appended again".to_owned(),
        intact,
        chunk_again.clone(),
    );
    push(
        "chunk 1 appended again, sealed_len forged to match".to_owned(),
        &Opening {
            sealed_len: chunk_again.len() as u64,
            ..intact.clone()
        },
        chunk_again,
    );
}

/// §7 step 7: chunks moved, repeated, altered or taken from another object.
fn chunks(sealed: &[u8], other: &[u8], intact: &Opening, chunk_size: u32, push: &mut Push<'_>) {
    let unit = chunk_size as usize + 16;
    let h = r::HEADER_LEN;
    let chunk = |blob: &[u8], index: usize| -> Vec<u8> {
        blob[h + index * unit..(h + (index + 1) * unit).min(blob.len())].to_vec()
    };
    let build = |parts: &[Vec<u8>]| -> Vec<u8> { [&sealed[..h], &parts.concat()[..]].concat() };
    let (c0, c1, c2) = (chunk(sealed, 0), chunk(sealed, 1), chunk(sealed, 2));
    push(
        "chunks 0 and 1 swapped".to_owned(),
        intact,
        build(&[c1.clone(), c0.clone(), c2.clone()]),
    );
    push(
        "chunk 0 in the place of chunk 1".to_owned(),
        intact,
        build(&[c0.clone(), c0.clone(), c2.clone()]),
    );
    push(
        "chunk 1 in the place of chunk 0".to_owned(),
        intact,
        build(&[c1.clone(), c1.clone(), c2.clone()]),
    );
    push(
        "chunk 1 repeated in the place of the last chunk, cut to its length".to_owned(),
        intact,
        build(&[c0.clone(), c1.clone(), c1[..c2.len()].to_vec()]),
    );
    push(
        "chunk 0 from another object of the same owner, conversation and shape".to_owned(),
        intact,
        build(&[chunk(other, 0), c1.clone(), c2.clone()]),
    );
    push(
        "chunk 1 from another object".to_owned(),
        intact,
        build(&[c0.clone(), chunk(other, 1), c2.clone()]),
    );
    push(
        "the last chunk from another object".to_owned(),
        intact,
        build(&[c0.clone(), c1.clone(), chunk(other, 2)]),
    );
    push(
        "another object's chunks under this object's header".to_owned(),
        intact,
        build(&[chunk(other, 0), chunk(other, 1), chunk(other, 2)]),
    );
    push(
        "another object, whole, under this object's reference".to_owned(),
        intact,
        other.to_vec(),
    );
    let tag_end = |index: usize| h + index * unit + c0.len() - 1;
    push(
        "chunk 0's first ciphertext byte flipped".to_owned(),
        intact,
        flipped(sealed, h),
    );
    push(
        "chunk 1's last tag byte flipped".to_owned(),
        intact,
        flipped(sealed, tag_end(1)),
    );
    push(
        "the last chunk's first ciphertext byte flipped".to_owned(),
        intact,
        flipped(sealed, h + 2 * unit),
    );
    push(
        "the last byte of the last tag flipped".to_owned(),
        intact,
        flipped(sealed, sealed.len() - 1),
    );
}

/// §7 steps 4 and 5: the right bytes, opened with a wrong key or under a
/// context that differs in one field.
fn keys_and_contexts(sealed: &[u8], intact: &Opening, push: &mut Push<'_>) {
    let blob = sealed.to_vec();
    push(
        "opened with key 00..00".to_owned(),
        &Opening {
            key: [0; 32],
            ..intact.clone()
        },
        blob.clone(),
    );
    let mut key = intact.key;
    key[31] ^= 0x01;
    push(
        "opened with the key's last bit flipped".to_owned(),
        &Opening {
            key,
            ..intact.clone()
        },
        blob.clone(),
    );
    push(
        "context: owner user mallory".to_owned(),
        &Opening {
            owner_user: "mallory".to_owned(),
            ..intact.clone()
        },
        blob.clone(),
    );
    push(
        "context: owner device + 1".to_owned(),
        &Opening {
            owner_device: intact.owner_device + 1,
            ..intact.clone()
        },
        blob.clone(),
    );
    push(
        "context: the owner's direct conversation with carol".to_owned(),
        &Opening {
            conversation: r::direct_conversation(&intact.owner_user, "carol"),
            ..intact.clone()
        },
        blob.clone(),
    );
    let mut object_id = intact.object_id;
    object_id[15] ^= 0x01;
    push(
        "context: the object id's last bit flipped".to_owned(),
        &Opening {
            object_id,
            ..intact.clone()
        },
        blob.clone(),
    );
    push(
        "context: media type image/png".to_owned(),
        &Opening {
            content_type: "image/png".to_owned(),
            ..intact.clone()
        },
        blob,
    );
}

/// §7 step 9: every chunk authenticates, but the reference names another
/// blob id.
fn blob_ids(sealed: &[u8], intact: &Opening, push: &mut Push<'_>) {
    let other_hash = if sealed[0] == r::VERSION_BLAKE3 {
        ("its SHA-256", r::sha256(sealed))
    } else {
        ("its BLAKE3", r::blake3(sealed))
    };
    push(
        format!(
            "the reference names {} (the other version's hash)",
            other_hash.0
        ),
        &Opening {
            blob_id: other_hash.1,
            ..intact.clone()
        },
        sealed.to_vec(),
    );
    let mut blob_id = intact.blob_id;
    blob_id[0] ^= 0x01;
    push(
        "the reference's blob id's first bit flipped".to_owned(),
        &Opening {
            blob_id,
            ..intact.clone()
        },
        sealed.to_vec(),
    );
}

/// §7 steps 6 to 8: the whole object arrived, but the reference gives
/// another length.
fn sealed_lens(sealed: &[u8], intact: &Opening, chunk_size: u32, push: &mut Push<'_>) {
    let unit = u64::from(chunk_size) + 16;
    let full = sealed.len() as u64;
    let cases = [
        (0, "zero"),
        (68, "shorter than a header"),
        (69 + 15, "a body shorter than a tag"),
        (sealed_len_of(3, unit, 7), "a last chunk of 7 bytes"),
        (
            sealed_len_of(3, unit, 16),
            "a last chunk that is only a tag, after other chunks",
        ),
        (
            full - 1,
            "one less than the object's (a layout: the last chunk is cut)",
        ),
        (
            full + 1,
            "one more than the object's (a layout: the last chunk never all arrives)",
        ),
        (
            sealed_len_of(r::MAX_CHUNKS, unit, 17),
            "2^32 chunks, the most there may be",
        ),
        (
            sealed_len_of(r::MAX_CHUNKS + 1, unit, 17),
            "2^32 + 1 chunks",
        ),
        (u64::MAX, "2^64 - 1"),
    ];
    for (sealed_len, what) in cases {
        push(
            format!("sealed_len {sealed_len}: {what}"),
            &Opening {
                sealed_len,
                ..intact.clone()
            },
            sealed.to_vec(),
        );
    }
}

/// The empty object (one chunk that is only a tag, default chunk size).
fn empty_object(sealed: &[u8], intact: &Opening, push: &mut Push<'_>) {
    let h = r::HEADER_LEN;
    push(
        "the tag's last byte flipped".to_owned(),
        intact,
        flipped(sealed, sealed.len() - 1),
    );
    push("the header alone".to_owned(), intact, sealed[..h].to_vec());
    push(
        "the tag's last byte missing".to_owned(),
        intact,
        sealed[..sealed.len() - 1].to_vec(),
    );
    push(
        "the header alone, sealed_len forged to 69".to_owned(),
        &Opening {
            sealed_len: h as u64,
            ..intact.clone()
        },
        sealed[..h].to_vec(),
    );
    push(
        "sealed_len 84: a body shorter than a tag".to_owned(),
        &Opening {
            sealed_len: 84,
            ..intact.clone()
        },
        sealed.to_vec(),
    );
    push(
        "sealed_len 86: a chunk of 17 bytes that never all arrives".to_owned(),
        &Opening {
            sealed_len: 86,
            ..intact.clone()
        },
        sealed.to_vec(),
    );
    push(
        "chunk size 16 (the commitment covers it)".to_owned(),
        intact,
        with_bytes(sealed, 1, &16u32.to_be_bytes()),
    );
    push(
        "one byte appended".to_owned(),
        intact,
        [sealed, &[0]].concat(),
    );
    push(
        "one byte appended, sealed_len forged to match".to_owned(),
        &Opening {
            sealed_len: sealed.len() as u64 + 1,
            ..intact.clone()
        },
        [sealed, &[0]].concat(),
    );
    push(
        "the reference names the other version's hash".to_owned(),
        &Opening {
            blob_id: r::sha256(sealed),
            ..intact.clone()
        },
        sealed.to_vec(),
    );
}

/// The name and fields of an error, as the file gives them.
pub fn error_json(error: &OpenError) -> (&'static str, Value) {
    match error {
        OpenError::Truncated { expected, received } => (
            "Truncated",
            json!({"expected": expected, "received": received}),
        ),
        OpenError::UnsupportedVersion { version } => {
            ("UnsupportedVersion", json!({"version": version}))
        }
        OpenError::InvalidChunkSize { size } => ("InvalidChunkSize", json!({"size": size})),
        OpenError::ContextMismatch => ("ContextMismatch", json!({})),
        OpenError::WrongKey => ("WrongKey", json!({})),
        OpenError::SizeMismatch { sealed_len } => {
            ("SizeMismatch", json!({"sealed_len": sealed_len}))
        }
        OpenError::ChunkFailed { index } => ("ChunkFailed", json!({"index": index})),
        OpenError::TrailingData { expected } => ("TrailingData", json!({"expected": expected})),
        OpenError::HashMismatch => ("HashMismatch", json!({})),
    }
}

/// A reject as the file holds it, with what the reference opener says of
/// it. Panics if the reference opens it: a reject must be refused.
pub fn reject_json(reject: &Reject) -> Value {
    let (step, error) = match open_reference(&reject.opening, &reject.blob) {
        Ok(_) => panic!("{}: {}: the reference opens it", reject.base, reject.name),
        Err(failure) => failure,
    };
    let (kind, fields) = error_json(&error);
    json!({
        "name": reject.name,
        "base": reject.base,
        "opening": reject.opening.to_json(),
        "blob": hex::encode(&reject.blob),
        "step": step,
        "error": kind,
        "fields": fields,
        "printed": format!("{error:?}"),
    })
}

/// The whole `reject.json`.
pub fn file() -> Value {
    let bases: Vec<Value> = bases()
        .iter()
        .map(|base| {
            let sealed = scenario::seal_reference(&base.case, base.version);
            json!({
                "name": base.name,
                "version": base.version,
                "opening": scenario::opening(&base.case, &sealed).to_json(),
                "sealed": hex::encode(&sealed),
                "plaintext": hex::encode(base.case.plaintext),
            })
        })
        .collect();
    let rejects: Vec<Value> = rejects().iter().map(reject_json).collect();
    json!({
        "description": "Altered attachment objects and references that an opener must refuse \
                        (spec/attachments.md §7), each with the step of §7 that refuses it, the \
                        error that step names and its fields. `bases` are the intact objects the \
                        rejects are made from (they open to `plaintext`); each reject gives what \
                        the opener is given (`opening`: key, context, blob id, sealed_len) and \
                        the bytes that arrived (`blob`). `printed` is the error as fuin-seal's \
                        Debug prints it. Byte strings are hex; keys are byte patterns.",
        "bases": bases,
        "rejects": rejects,
    })
}
