// The property the `attachment_open` fuzz target checks, shared with the
// unit test that replays its checked-in corpus
// (crates/fuin-seal/tests/attachment_fuzz_corpus.rs includes this file as
// `../../../fuzz/checks/attachment_checks.rs`; the target as
// `../checks/attachment_checks.rs`). Same conventions as seal_checks.rs:
// `//` comments only, violations returned as `Err(description)`. The
// includer must depend on fuin-seal, fuin-wire, rand_chacha and rand_core.

use std::sync::OnceLock;

use fuin_seal::ConversationId;
use fuin_seal::attachment::{
    AttachmentError, ChunkSize, ObjectContext, ObjectOpener, ObjectSealer, SealedObject,
};
use fuin_seal::primitives::chunked::{BlobHash, BlobHasher, ObjectKeys};
use fuin_wire::BlobId;
use fuin_wire::attachment::{MediaType, SealedObjectRef};
use fuin_wire::{DeviceAddress, DeviceId, UserId};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The fixture's plaintext: 40 bytes, three chunks of a 16-byte chunk size.
pub const FIXTURE_PLAINTEXT: &[u8] = b"A photo, sealed on the device, in chunks";

/// One object sealed by alice/1 for her conversation with bob, and its bytes.
pub fn fixture() -> &'static (SealedObject, Vec<u8>) {
    &fixtures().0
}

/// The fixture's plaintext sealed under its key and context in format
/// version 1 (blob id SHA-256), which fuin-seal still opens: the one other
/// byte string that may open under a reference naming its own hash.
pub fn fixture_v1_twin() -> &'static [u8] {
    &fixtures().1
}

fn fixtures() -> &'static ((SealedObject, Vec<u8>), Vec<u8>) {
    static FIXTURES: OnceLock<((SealedObject, Vec<u8>), Vec<u8>)> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let (object, blob) = seal_fixture();
        let chunk_size = 16u32;
        let keys = ObjectKeys::derive(&object.object.key.0, &object.context.id(), chunk_size);
        let mut twin = blob[..69].to_vec();
        twin[0] = 1;
        let header = twin.clone();
        let pieces: Vec<&[u8]> = FIXTURE_PLAINTEXT.chunks(chunk_size as usize).collect();
        for (index, piece) in pieces.iter().enumerate() {
            let mut sealed = vec![0u8; piece.len()];
            let last = index + 1 == pieces.len();
            let tag = keys.seal_chunk(index as u32, last, &header, piece, &mut sealed);
            twin.extend_from_slice(&sealed);
            twin.extend_from_slice(&tag);
        }
        ((object, blob), twin)
    })
}

fn seal_fixture() -> (SealedObject, Vec<u8>) {
    let owner = DeviceAddress::new(UserId::new("alice").unwrap(), DeviceId(1));
    let bob = UserId::new("bob").unwrap();
    let sealer = ObjectSealer::new(
        &mut ChaCha20Rng::seed_from_u64(0xa77ac4),
        &owner,
        ConversationId::direct(&owner.user, &bob),
        MediaType::new("image/jpeg").unwrap(),
        ChunkSize::new(16).unwrap(),
    );
    let (blob, object) = sealer.seal(FIXTURE_PLAINTEXT).unwrap();
    (object, blob)
}

/// Opens `data` on every path (in memory, in memory on all cores, and
/// written in pieces to a streaming opener, one chunk and three chunks at a
/// time) under `object` and `context`; they must agree. Returns the result.
fn open_everywhere(
    object: &SealedObjectRef,
    context: &ObjectContext<'_>,
    data: &[u8],
) -> Result<Result<Vec<u8>, AttachmentError>, String> {
    let opener = || ObjectOpener::new(object, context);
    let in_memory = opener().open(data).map(|p| p.to_vec());
    let parallel = opener().open_parallel(data, 2).map(|p| p.to_vec());
    let mut results = vec![("in memory on all cores", parallel)];
    for (name, window) in [("streaming", 1), ("streaming in windows of three", 3)] {
        let mut writer = if window == 1 {
            opener().writer(Vec::new())
        } else {
            opener().parallel_writer(Vec::new(), window)
        };
        let mut write_error = None;
        for piece in data.chunks(7) {
            if let Err(err) = std::io::Write::write_all(&mut writer, piece) {
                write_error = Some(AttachmentError::from(err));
                break;
            }
        }
        let finished = writer.finish().map(|(written, _)| written);
        if let (Some(err), Err(finished_err)) = (&write_error, &finished)
            && err != finished_err
        {
            return Err(format!(
                "{name}: finish says {finished_err:?} after {err:?}"
            ));
        }
        results.push((name, finished));
    }
    for (name, result) in results {
        if result != in_memory {
            return Err(format!("{name} gives {result:?}, in memory {in_memory:?}"));
        }
    }
    Ok(in_memory)
}

/// Opens arbitrary bytes as the fixture's object, under its reference and
/// under a reference that names the bytes' own length and hash, the hash
/// their first byte names as a version would (SHA-256 for 1, BLAKE3
/// otherwise), so that every length reaches the chunk checks. Every path
/// must agree; only the fixture's own bytes may open under its reference,
/// and only they or their version 1 twin under the self-naming one, to the
/// fixture's plaintext. Returns whether `data` opened under the fixture's
/// reference.
pub fn attachment_open(data: &[u8]) -> Result<bool, String> {
    let (object, blob) = fixture();
    let honest = open_everywhere(&object.object, &object.context, data)?;
    let mut named = object.object.clone();
    named.sealed_len = data.len() as u64;
    let hash = match data.first() {
        Some(1) => BlobHash::Sha256,
        _ => BlobHash::Blake3,
    };
    let mut hasher = BlobHasher::new(hash);
    hasher.update(data);
    named.blob_id = BlobId(hasher.finish());
    let self_named = open_everywhere(&named, &object.context, data)?;
    if honest.is_ok() && data != blob.as_slice() {
        return Err("bytes other than the sealed object opened".to_owned());
    }
    if self_named.is_ok() && data != blob.as_slice() && data != fixture_v1_twin() {
        return Err("bytes other than the object or its version 1 twin opened".to_owned());
    }
    for plaintext in [&honest, &self_named].into_iter().flatten() {
        if plaintext != FIXTURE_PLAINTEXT {
            return Err("the sealed object opened to another plaintext".to_owned());
        }
    }
    Ok(honest.is_ok())
}
