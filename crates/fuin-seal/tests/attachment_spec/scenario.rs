//! The objects the attachment vectors pin, computed by the reference (in
//! format version 2, or 1 for `objects-v1.json`), and sealed and opened by
//! fuin-seal from the same random values.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};
use serde_json::{Value, json};

use super::opening::Opening;
use super::reference as r;
use fuin_seal::ConversationId;
use fuin_seal::attachment::{
    AttachmentError, ChunkSize, ObjectOpener, ObjectSealer, attachment_reference,
};
use fuin_wire::attachment::{FileName, MediaType};
use fuin_wire::{DeviceAddress, DeviceId, UserId};

pub struct Case {
    pub name: &'static str,
    pub owner_user: &'static str,
    pub owner_device: u32,
    pub peer: &'static str,
    pub content_type: &'static str,
    pub chunk_size: u32,
    pub plaintext: &'static [u8],
    pub file_name: Option<&'static str>,
    pub object_id: [u8; 16],
    pub key: [u8; 32],
}

fn pattern<const N: usize>(start: u8) -> [u8; N] {
    std::array::from_fn(|i| start.wrapping_add(i as u8))
}

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "three chunks of a 16-byte chunk size: two full, one of 8 bytes",
            owner_user: "alice",
            owner_device: 1,
            peer: "bob",
            content_type: "image/jpeg",
            chunk_size: 16,
            plaintext: b"A photo, sealed on the device, in chunks",
            file_name: Some("photo.jpg"),
            object_id: pattern(0x10),
            key: pattern(0x40),
        },
        Case {
            name: "an empty object: one empty final chunk, default chunk size",
            owner_user: "小林",
            owner_device: 300,
            peer: "alice",
            content_type: "text/plain",
            chunk_size: 64 * 1024,
            plaintext: b"",
            file_name: None,
            object_id: pattern(0x80),
            key: pattern(0xc0),
        },
    ]
}

/// Another object of the first case's owner, conversation, media type,
/// chunk size and plaintext length, under its own id and key: the reject
/// vectors splice its chunks into the first case's object.
pub fn other_object() -> Case {
    Case {
        name: "another object of alice's, the same shape as the three-chunk one",
        object_id: pattern(0x20),
        key: pattern(0x60),
        plaintext: b"Another photo, as long as the first one.",
        ..cases().remove(0)
    }
}

fn h(bytes: &[u8]) -> Value {
    Value::String(hex::encode(bytes))
}

/// Every value of a case in the format version a sealer writes, computed
/// by the reference.
pub fn run_reference(case: &Case) -> Value {
    run_reference_in(case, r::VERSION_BLAKE3)
}

/// Every value of a case sealed in format `version`, computed by the
/// reference.
pub fn run_reference_in(case: &Case, version: u8) -> Value {
    let conversation = r::direct_conversation(case.owner_user, case.peer);
    let (framed_context, context_id) = r::context(
        case.owner_user,
        case.owner_device,
        &conversation,
        &case.object_id,
        case.content_type,
    );
    let keys = r::keys(&case.key, &context_id, case.chunk_size);
    let header = r::header(version, case.chunk_size, &context_id, &keys.commitment);
    let pieces = r::split(case.plaintext, case.chunk_size);
    let mut sealed = header.clone();
    let chunks: Vec<Value> = pieces
        .iter()
        .enumerate()
        .map(|(index, plaintext)| {
            let last = index + 1 == pieces.len();
            let nonce = r::nonce(&keys.nonce_prefix, index as u32, last);
            let (ciphertext, tag) = r::gcm_seal(&keys.gcm_key, &nonce, &header, plaintext);
            sealed.extend_from_slice(&ciphertext);
            sealed.extend_from_slice(&tag);
            json!({
                "index": index,
                "last": last,
                "nonce": h(&nonce),
                "plaintext": h(plaintext),
                "ciphertext": h(&ciphertext),
                "tag": h(&tag),
            })
        })
        .collect();
    json!({
        "name": case.name,
        "inputs": {
            "owner": {"user": case.owner_user, "device": case.owner_device},
            "conversation_users": [case.owner_user, case.peer],
            "content_type": case.content_type,
            "chunk_size": case.chunk_size,
            "plaintext": h(case.plaintext),
            "file_name": case.file_name,
            "object_id": h(&case.object_id),
            "key": h(&case.key),
        },
        "conversation_id": h(&conversation),
        "framed_context": h(&framed_context),
        "context_id": h(&context_id),
        "hkdf_info": h(&keys.info),
        "gcm_key": h(&keys.gcm_key),
        "nonce_prefix": h(&keys.nonce_prefix),
        "commitment": h(&keys.commitment),
        "header": h(&header),
        "associated_data": h(&header),
        "chunks": chunks,
        "sealed": h(&sealed),
        "sealed_len": sealed.len(),
        "plaintext_len": case.plaintext.len(),
        "blob_id": h(&r::blob_id(version, &sealed).unwrap()),
    })
}

/// The object of a case sealed in format `version` by the reference.
pub fn seal_reference(case: &Case, version: u8) -> Vec<u8> {
    let (_, context_id) = r::context(
        case.owner_user,
        case.owner_device,
        &r::direct_conversation(case.owner_user, case.peer),
        &case.object_id,
        case.content_type,
    );
    r::seal(
        version,
        &case.key,
        &context_id,
        case.chunk_size,
        case.plaintext,
    )
}

/// What a recipient of a case's reference gives its opener, for the object
/// `sealed` (whose first byte names the hash of its blob id).
pub fn opening(case: &Case, sealed: &[u8]) -> Opening {
    Opening {
        key: case.key,
        owner_user: case.owner_user.to_owned(),
        owner_device: case.owner_device,
        conversation: r::direct_conversation(case.owner_user, case.peer),
        object_id: case.object_id,
        content_type: case.content_type.to_owned(),
        blob_id: r::blob_id(sealed[0], sealed).unwrap(),
        sealed_len: sealed.len() as u64,
    }
}

/// The altered copies each object of the vectors files shows (a short list;
/// `reject.json` has the full one): a name, the opener's inputs and the bytes.
pub fn alterations(case: &Case, sealed: &[u8]) -> Vec<(String, Opening, Vec<u8>)> {
    let intact = opening(case, sealed);
    let unit = case.chunk_size as usize + 16;
    let mut alterations = Vec::new();
    let body = &sealed[r::HEADER_LEN..];
    if body.len() > 2 * unit {
        let mut swapped = sealed[..r::HEADER_LEN].to_vec();
        swapped.extend_from_slice(&body[unit..2 * unit]);
        swapped.extend_from_slice(&body[..unit]);
        swapped.extend_from_slice(&body[2 * unit..]);
        alterations.push(("chunks 0 and 1 swapped".to_owned(), intact.clone(), swapped));
        let without_last = sealed[..r::HEADER_LEN + 2 * unit].to_vec();
        alterations.push((
            "last chunk dropped".to_owned(),
            intact.clone(),
            without_last,
        ));
    }
    let mut flipped = sealed.to_vec();
    *flipped.last_mut().unwrap() ^= 1;
    alterations.push((
        "last byte of the last tag flipped".to_owned(),
        intact.clone(),
        flipped,
    ));
    alterations.push((
        "opened with key 00..00".to_owned(),
        Opening {
            key: [0; 32],
            ..intact.clone()
        },
        sealed.to_vec(),
    ));
    alterations.push((
        "opened as an object of mallory/1".to_owned(),
        Opening {
            owner_user: "mallory".to_owned(),
            owner_device: 1,
            ..intact.clone()
        },
        sealed.to_vec(),
    ));
    alterations.push((
        "one byte appended".to_owned(),
        intact,
        [sealed, &[0]].concat(),
    ));
    alterations
}

/// Hands out the case's object id, then its key: the two draws
/// [`ObjectSealer::new`] makes.
pub struct FixedRng {
    bytes: Vec<u8>,
}

impl FixedRng {
    pub fn new(case: &Case) -> Self {
        Self {
            bytes: [&case.object_id[..], &case.key[..]].concat(),
        }
    }

    pub fn finished(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl TryRng for FixedRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        panic!("the sealer draws bytes only")
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        panic!("the sealer draws bytes only")
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        assert!(
            dst.len() <= self.bytes.len(),
            "more draws than the case has"
        );
        dst.copy_from_slice(&self.bytes[..dst.len()]);
        self.bytes.drain(..dst.len());
        Ok(())
    }
}

impl TryCryptoRng for FixedRng {}

fn owner(case: &Case) -> DeviceAddress<'static> {
    DeviceAddress::new(
        UserId::new(case.owner_user).unwrap(),
        DeviceId(case.owner_device),
    )
}

/// What fuin-seal makes of a case: the sealed object, its blob id and its
/// reference body; and the errors the alterations of §7 give.
pub struct Implementation {
    pub sealed: Vec<u8>,
    pub blob_id: [u8; 32],
    pub reference_body: Vec<u8>,
    pub alterations: Vec<(String, AttachmentError)>,
}

pub fn run_implementation(case: &Case) -> Implementation {
    let owner = owner(case);
    let conversation = ConversationId::direct(&owner.user, &UserId::new(case.peer).unwrap());
    let mut rng = FixedRng::new(case);
    let sealer = ObjectSealer::new(
        &mut rng,
        &owner,
        conversation,
        MediaType::new(case.content_type).unwrap(),
        ChunkSize::new(case.chunk_size).unwrap(),
    );
    assert!(rng.finished(), "the sealer draws the object id and the key");
    let (sealed, object) = sealer.seal(case.plaintext).unwrap();
    let reference = attachment_reference(
        &object,
        None,
        case.file_name.map(|name| FileName::new(name).unwrap()),
    )
    .unwrap();
    let opened = ObjectOpener::for_reference(&reference)
        .open(&sealed)
        .unwrap();
    assert_eq!(&opened[..], case.plaintext);

    let alterations = alterations(case, &sealed)
        .into_iter()
        .map(|(name, opening, blob)| {
            let error = opening.fuin_opener().open(&blob).unwrap_err();
            (name, error)
        })
        .collect();
    Implementation {
        blob_id: reference.object.blob_id.0,
        sealed,
        reference_body: reference.to_bytes().unwrap().to_vec(),
        alterations,
    }
}

/// The case as the vectors file holds it: the reference's values, and the
/// implementation's reference body and alterations (the generator and the
/// test check that the implementation's bytes are the reference's).
pub fn vector(case: &Case) -> Value {
    let mut value = run_reference(case);
    let implementation = run_implementation(case);
    check(&value, &implementation);
    value["reference_body"] = h(&implementation.reference_body);
    value["alterations"] = Value::Array(
        implementation
            .alterations
            .iter()
            .map(|(name, error)| json!({"alteration": name, "error": format!("{error:?}")}))
            .collect(),
    );
    value
}

/// Fails unless fuin-seal's bytes are the reference's.
pub fn check(reference: &Value, implementation: &Implementation) {
    assert_eq!(
        reference["sealed"],
        h(&implementation.sealed),
        "sealed object"
    );
    assert_eq!(reference["blob_id"], h(&implementation.blob_id), "blob id");
}
