//! One attempt to open a blob: what the opener is given (key, context,
//! blob id, sealed length) and the bytes, run through the reference opener
//! and through every opening path fuin-seal has.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;

use serde_json::{Value, json};

use super::reference as r;
use fuin_seal::ConversationId;
use fuin_seal::attachment::{AttachmentError, ObjectContext, ObjectOpener};
use fuin_wire::attachment::{AttachmentKey, MediaType, ObjectId, SealedObjectRef};
use fuin_wire::{BlobId, DeviceAddress, DeviceId, UserId};

/// What §7 gives an opener: the object's key, its expected context and the
/// reference's blob id and sealed length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opening {
    pub key: [u8; 32],
    pub owner_user: String,
    pub owner_device: u32,
    pub conversation: [u8; 32],
    pub object_id: [u8; 16],
    pub content_type: String,
    pub blob_id: [u8; 32],
    pub sealed_len: u64,
}

impl Opening {
    pub fn context_id(&self) -> [u8; 32] {
        r::context(
            &self.owner_user,
            self.owner_device,
            &self.conversation,
            &self.object_id,
            &self.content_type,
        )
        .1
    }

    pub fn expected(&self) -> r::Expected {
        r::Expected {
            key: self.key,
            context_id: self.context_id(),
            blob_id: self.blob_id,
            sealed_len: self.sealed_len,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "key": hex::encode(self.key),
            "owner": {"user": self.owner_user, "device": self.owner_device},
            "conversation_id": hex::encode(self.conversation),
            "object_id": hex::encode(self.object_id),
            "content_type": self.content_type,
            "context_id": hex::encode(self.context_id()),
            "blob_id": hex::encode(self.blob_id),
            "sealed_len": self.sealed_len,
        })
    }

    pub fn from_json(value: &Value) -> Self {
        fn array<const N: usize>(value: &Value) -> [u8; N] {
            hex::decode(value.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        }
        let opening = Self {
            key: array(&value["key"]),
            owner_user: value["owner"]["user"].as_str().unwrap().to_owned(),
            owner_device: value["owner"]["device"].as_u64().unwrap() as u32,
            conversation: array(&value["conversation_id"]),
            object_id: array(&value["object_id"]),
            content_type: value["content_type"].as_str().unwrap().to_owned(),
            blob_id: array(&value["blob_id"]),
            sealed_len: value["sealed_len"].as_u64().unwrap(),
        };
        assert_eq!(
            hex::encode(opening.context_id()),
            value["context_id"].as_str().unwrap(),
            "the stated context id is the context's"
        );
        opening
    }

    /// fuin-seal's opener for these inputs.
    pub fn fuin_opener(&self) -> ObjectOpener {
        let context = ObjectContext {
            owner: DeviceAddress::new(
                UserId::new(&self.owner_user).unwrap(),
                DeviceId(self.owner_device),
            ),
            conversation: ConversationId(self.conversation),
            object_id: ObjectId(self.object_id),
            content_type: MediaType::new(&self.content_type).unwrap(),
        };
        let object = SealedObjectRef {
            object_id: ObjectId(self.object_id),
            key: AttachmentKey(self.key),
            blob_id: BlobId(self.blob_id),
            sealed_len: self.sealed_len,
        };
        ObjectOpener::new(&object, &context)
    }
}

/// The reference opener's answer: the plaintext, or the step of §7 that
/// failed and its error.
pub fn open_reference(opening: &Opening, blob: &[u8]) -> Result<Vec<u8>, (u8, r::OpenError)> {
    r::open_with_step(&opening.expected(), blob)
}

/// Writes `blob` to a streaming opener `pieces` bytes at a time, stopping
/// at the first refused write, and ends it.
fn feed<W: Write>(
    mut writer: fuin_seal::attachment::OpeningWriter<W>,
    blob: &[u8],
    pieces: usize,
) -> Result<W, AttachmentError> {
    for piece in blob.chunks(pieces) {
        if writer.write_all(piece).is_err() {
            break;
        }
    }
    writer.finish().map(|(out, _)| out)
}

/// fuin-seal's answer on each of its opening paths, named: in memory (one
/// core, all cores), from a reader, and through a writer fed whole or a
/// byte at a time. §7: every path gives the same answer for the same bytes.
pub fn open_fuin(
    opening: &Opening,
    blob: &[u8],
) -> Vec<(&'static str, Result<Vec<u8>, AttachmentError>)> {
    let mut answers = Vec::new();
    answers.push((
        "in memory",
        opening.fuin_opener().open(blob).map(|plain| plain.to_vec()),
    ));
    for (path, window) in [
        ("in memory, all cores, window 1", 1),
        ("in memory, all cores, window 2", 2),
    ] {
        answers.push((
            path,
            opening
                .fuin_opener()
                .open_parallel(blob, window)
                .map(|plain| plain.to_vec()),
        ));
    }
    let mut out = Vec::new();
    answers.push((
        "from a reader",
        opening
            .fuin_opener()
            .open_stream(blob, &mut out)
            .map(|_| out.clone()),
    ));
    let mut out = Vec::new();
    answers.push((
        "from a reader, all cores, window 2",
        opening
            .fuin_opener()
            .open_stream_parallel(blob, &mut out, 2)
            .map(|_| out.clone()),
    ));
    let whole = blob.len().max(1);
    answers.push((
        "through a writer, whole",
        feed(opening.fuin_opener().writer(Vec::new()), blob, whole),
    ));
    answers.push((
        "through a writer, a byte at a time",
        feed(opening.fuin_opener().writer(Vec::new()), blob, 1),
    ));
    answers.push((
        "through a writer, all cores, window 2, a byte at a time",
        feed(
            opening.fuin_opener().parallel_writer(Vec::new(), 2),
            blob,
            1,
        ),
    ));
    answers
}

/// Fails unless every fuin-seal path gives what the reference opener
/// gives: the same plaintext, or an error printed the same way.
pub fn check_fuin_agrees(name: &str, opening: &Opening, blob: &[u8]) {
    let expected = open_reference(opening, blob).map_err(|(_, error)| format!("{error:?}"));
    for (path, answer) in open_fuin(opening, blob) {
        let answer = answer.map_err(|error| format!("{error:?}"));
        assert_eq!(answer, expected, "{name}: fuin-seal, {path}");
    }
}
