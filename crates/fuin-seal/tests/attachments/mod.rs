//! Helpers for the attachment tests: devices, sealing and opening on every
//! path (and checking the paths agree), and cutting a blob into its chunks.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fuin_seal::ConversationId;
use fuin_seal::attachment::*;
use fuin_wire::attachment::{AttachmentKey, MediaType, SealedObjectRef};
use fuin_wire::{BlobId, DeviceAddress, DeviceId, UserId};
pub use rand_chacha::ChaCha20Rng;
pub use rand_core::SeedableRng;

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn address(user: &str, device: u32) -> DeviceAddress<'static> {
    DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(device))
}

pub fn media(text: &'static str) -> MediaType<'static> {
    MediaType::new(text).unwrap()
}

pub fn chunk(size: u32) -> ChunkSize {
    ChunkSize::new(size).unwrap()
}

/// A sealer for an object `owner` shares with user `peer`.
pub fn sealer(
    seed: u64,
    owner: &DeviceAddress<'static>,
    peer: &str,
    content_type: &'static str,
    chunk_size: ChunkSize,
) -> ObjectSealer {
    let conversation = ConversationId::direct(&owner.user, &UserId::new(peer.to_owned()).unwrap());
    ObjectSealer::new(
        &mut rng(seed),
        owner,
        conversation,
        media(content_type),
        chunk_size,
    )
}

/// A byte pattern of any length that differs from chunk to chunk.
pub fn plaintext(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt) ^ (i >> 8) as u8)
        .collect()
}

/// A reader that hands out at most `step` bytes per read, to exercise
/// chunk boundaries that do not line up with reads.
pub struct Dribble<'a> {
    pub bytes: &'a [u8],
    pub step: usize,
}

impl std::io::Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

/// Seals `data` on every path from sealers made with the same seed, checks
/// that all give the same bytes and the same reference, and returns them.
pub fn seal_everywhere(
    seed: u64,
    owner: &DeviceAddress<'static>,
    peer: &str,
    content_type: &'static str,
    chunk_size: ChunkSize,
    data: &[u8],
    window: usize,
) -> (Vec<u8>, SealedObject) {
    let make = || sealer(seed, owner, peer, content_type, chunk_size);
    let (in_memory, object) = make().seal(data).unwrap();
    let (parallel, parallel_object) = make().seal_parallel(data, window).unwrap();
    let mut streamed = Vec::new();
    let streamed_object = make()
        .seal_stream(
            Dribble {
                bytes: data,
                step: 7,
            },
            &mut streamed,
        )
        .unwrap();
    let mut streamed_parallel = Vec::new();
    let streamed_parallel_object = make()
        .seal_stream_parallel(data, &mut streamed_parallel, window)
        .unwrap();
    let mut writer = make().parallel_writer(Vec::new(), window);
    for piece in data.chunks(13) {
        std::io::Write::write_all(&mut writer, piece).unwrap();
    }
    let (written, written_object) = writer.finish().unwrap();
    for (name, bytes, sealed) in [
        ("parallel", &parallel, &parallel_object),
        ("streamed", &streamed, &streamed_object),
        (
            "streamed in parallel",
            &streamed_parallel,
            &streamed_parallel_object,
        ),
        ("written in pieces", &written, &written_object),
    ] {
        assert_eq!(bytes, &in_memory, "{name} sealing gives other bytes");
        assert_eq!(sealed, &object, "{name} sealing gives another reference");
    }
    assert_eq!(object.object.sealed_len, in_memory.len() as u64);
    assert_eq!(object.plaintext_len, data.len() as u64);
    (in_memory, object)
}

/// What one opening path gave: the result, and what the streaming paths
/// had written before the result.
#[derive(Debug)]
pub struct Opened {
    pub path: &'static str,
    pub result: Result<Vec<u8>, AttachmentError>,
    pub written: Vec<u8>,
}

/// Opens `blob` on every path and checks they agree on the result.
pub fn open_everywhere(
    object: &SealedObjectRef,
    context: &ObjectContext<'_>,
    blob: &[u8],
    window: usize,
) -> Vec<Opened> {
    let make = || ObjectOpener::new(object, context);
    let mut results = Vec::new();
    results.push(Opened {
        path: "in memory",
        result: make().open(blob).map(|p| p.to_vec()),
        written: Vec::new(),
    });
    results.push(Opened {
        path: "in memory, parallel",
        result: make().open_parallel(blob, window).map(|p| p.to_vec()),
        written: Vec::new(),
    });
    let mut written = Vec::new();
    let result = make().open_stream(
        Dribble {
            bytes: blob,
            step: 5,
        },
        &mut written,
    );
    results.push(Opened {
        path: "streamed",
        result: result.map(|_| written.clone()),
        written,
    });
    let mut written = Vec::new();
    let result = make().open_stream_parallel(blob, &mut written, window);
    results.push(Opened {
        path: "streamed in parallel",
        result: result.map(|_| written.clone()),
        written,
    });
    let mut writer = make().writer(Vec::new());
    let mut write_error = None;
    for piece in blob.chunks(11) {
        if let Err(err) = std::io::Write::write_all(&mut writer, piece) {
            write_error = Some(AttachmentError::from(err));
            break;
        }
    }
    let result = writer.finish();
    if let Some(err) = &write_error {
        assert_eq!(
            result.as_ref().err(),
            Some(err),
            "finish repeats the first failure"
        );
    }
    results.push(Opened {
        path: "written in pieces",
        result: result.map(|(written, _)| written),
        written: Vec::new(),
    });
    let first = &results[0].result;
    for other in &results[1..] {
        assert_eq!(
            &other.result, first,
            "{} disagrees with {}",
            other.path, results[0].path
        );
    }
    results
}

/// The one result every path agrees on.
pub fn open_result(
    object: &SealedObjectRef,
    context: &ObjectContext<'_>,
    blob: &[u8],
) -> Result<Vec<u8>, AttachmentError> {
    open_everywhere(object, context, blob, 3).remove(0).result
}

/// A sealed object cut into its header and chunks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pieces {
    pub header: Vec<u8>,
    pub chunks: Vec<Vec<u8>>,
}

impl Pieces {
    pub fn of(blob: &[u8], chunk_size: ChunkSize) -> Self {
        let (header, body) = blob.split_at(HEADER_LEN);
        let unit = chunk_size.get() as usize + 16;
        Self {
            header: header.to_vec(),
            chunks: body.chunks(unit).map(<[u8]>::to_vec).collect(),
        }
    }

    pub fn join(&self) -> Vec<u8> {
        let mut out = self.header.clone();
        for chunk in &self.chunks {
            out.extend_from_slice(chunk);
        }
        out
    }
}

/// Seals `data` under `key` and `context` as an object of format `version`,
/// chunk by chunk on fuin-seal's chunk primitives, and names it by that
/// version's hash (SHA-256 for 1, BLAKE3 otherwise). fuin-seal's sealer
/// writes only version 2; this makes version 1 objects (and objects
/// labelled with any version byte) of any size for the opening tests.
pub fn seal_as_version(
    version: u8,
    key: &AttachmentKey,
    context: &ObjectContext<'_>,
    chunk_size: ChunkSize,
    data: &[u8],
) -> (Vec<u8>, SealedObjectRef) {
    use fuin_seal::primitives::chunked::ObjectKeys;
    let context_id = context.id();
    let keys = ObjectKeys::derive(&key.0, &context_id, chunk_size.get());
    let mut blob = vec![version];
    blob.extend_from_slice(&chunk_size.get().to_be_bytes());
    blob.extend_from_slice(&context_id);
    blob.extend_from_slice(keys.commitment());
    let header = blob.clone();
    let pieces: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(chunk_size.get() as usize).collect()
    };
    for (index, piece) in pieces.iter().enumerate() {
        let mut sealed = vec![0u8; piece.len()];
        let last = index + 1 == pieces.len();
        let tag = keys.seal_chunk(index as u32, last, &header, piece, &mut sealed);
        blob.extend_from_slice(&sealed);
        blob.extend_from_slice(&tag);
    }
    let blob_id = if version == 1 {
        sha256_of(&blob)
    } else {
        blake3_of(&blob)
    };
    let object = SealedObjectRef {
        object_id: context.object_id,
        key: key.clone(),
        blob_id,
        sealed_len: blob.len() as u64,
    };
    (blob, object)
}

/// The blob id of a version 1 object.
pub fn sha256_of(bytes: &[u8]) -> BlobId {
    use sha2::Digest;
    BlobId(sha2::Sha256::digest(bytes).into())
}

/// The blob id of a version 2 object.
pub fn blake3_of(bytes: &[u8]) -> BlobId {
    BlobId(*blake3::hash(bytes).as_bytes())
}
