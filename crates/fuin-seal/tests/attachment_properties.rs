//! Property tests of attachment sealing: any plaintext with any chunk size
//! and window round-trips, every sealing path writes the same bytes, and any
//! alteration of a sealed object fails, with the same error on every path;
//! the same for version 1 objects (blob id = SHA-256), which still open.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attachments;

use attachments::*;
use fuin_seal::attachment::{AttachmentError, HEADER_LEN, MIN_CHUNK_SIZE};
use proptest::collection::vec;
use proptest::prelude::*;

/// Chunk sizes from the minimum up, biased to small ones so that objects
/// have many chunks.
fn chunk_size() -> impl Strategy<Value = u32> {
    prop_oneof![MIN_CHUNK_SIZE..=64u32, 65u32..=1024, Just(64 * 1024)]
}

#[derive(Debug, Clone)]
enum Alteration {
    Flip { at: usize, bits: u8 },
    Truncate { to: usize },
    Append { bytes: Vec<u8> },
    SwapChunks { a: usize, b: usize },
    DuplicateChunk { from: usize, to: usize },
}

fn alteration() -> impl Strategy<Value = Alteration> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, bits)| Alteration::Flip { at, bits }),
        any::<usize>().prop_map(|to| Alteration::Truncate { to }),
        vec(any::<u8>(), 1..40).prop_map(|bytes| Alteration::Append { bytes }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Alteration::SwapChunks { a, b }),
        (any::<usize>(), any::<usize>())
            .prop_map(|(from, to)| Alteration::DuplicateChunk { from, to }),
    ]
}

fn alter(blob: &[u8], chunk_size: u32, alteration: &Alteration) -> Vec<u8> {
    let mut pieces = Pieces::of(blob, chunk(chunk_size));
    let count = pieces.chunks.len();
    match alteration {
        Alteration::Flip { at, bits } => {
            let mut out = blob.to_vec();
            out[at % blob.len()] ^= bits;
            out
        }
        Alteration::Truncate { to } => blob[..to % blob.len()].to_vec(),
        Alteration::Append { bytes } => [blob, bytes].concat(),
        Alteration::SwapChunks { a, b } => {
            pieces.chunks.swap(a % count, b % count);
            pieces.join()
        }
        Alteration::DuplicateChunk { from, to } => {
            let copy = pieces.chunks[from % count].clone();
            pieces.chunks[to % count] = copy;
            pieces.join()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_plaintext_with_any_chunk_size_round_trips_on_every_path(
        data in vec(any::<u8>(), 0..3000),
        size in chunk_size(),
        window in 1usize..6,
        seed in any::<u64>(),
    ) {
        let owner = address("alice", 1);
        // `seal_everywhere` checks that every sealing path gives these bytes.
        let (blob, sealed) =
            seal_everywhere(seed, &owner, "bob", "application/octet-stream", chunk(size), &data, window);
        prop_assert_eq!(blob.len() as u64, chunk(size).sealed_len(data.len() as u64).unwrap());
        for opened in open_everywhere(&sealed.object, &sealed.context, &blob, window) {
            prop_assert_eq!(opened.result.as_deref(), Ok(&data[..]), "{}", opened.path);
        }
    }

    #[test]
    fn any_alteration_fails_with_one_error_on_every_path(
        data in vec(any::<u8>(), 0..800),
        size in MIN_CHUNK_SIZE..=128u32,
        alteration in alteration(),
        window in 1usize..5,
    ) {
        let owner = address("alice", 1);
        let (blob, sealed) = sealer(3, &owner, "bob", "image/gif", chunk(size)).seal(&data).unwrap();
        let altered = alter(&blob, size, &alteration);
        prop_assume!(altered != blob);
        // `open_everywhere` checks that every path gives the same result.
        let results = open_everywhere(&sealed.object, &sealed.context, &altered, window);
        let result = &results[0].result;
        prop_assert!(result.is_err(), "{:?} opened", alteration);
        if let (Alteration::Flip { at, .. }, Err(err)) = (&alteration, result) {
            let at = at % blob.len();
            if at >= HEADER_LEN {
                let index = ((at - HEADER_LEN) / (size as usize + 16)) as u32;
                prop_assert_eq!(err, &AttachmentError::ChunkFailed { index });
            }
        }
        for opened in &results {
            prop_assert!(data.starts_with(&opened.written), "{} wrote other bytes", opened.path);
        }
    }

    #[test]
    fn any_alteration_of_a_version_1_object_fails_with_one_error_on_every_path(
        data in vec(any::<u8>(), 0..800),
        size in MIN_CHUNK_SIZE..=128u32,
        alteration in alteration(),
        window in 1usize..5,
    ) {
        let owner = address("alice", 1);
        let (_, sealed) = sealer(4, &owner, "bob", "image/gif", chunk(size)).seal(&data).unwrap();
        let (blob, object) =
            seal_as_version(1, &sealed.object.key, &sealed.context, chunk(size), &data);
        for opened in open_everywhere(&object, &sealed.context, &blob, window) {
            prop_assert_eq!(opened.result.as_deref(), Ok(&data[..]), "{}", opened.path);
        }
        let altered = alter(&blob, size, &alteration);
        prop_assume!(altered != blob);
        let results = open_everywhere(&object, &sealed.context, &altered, window);
        prop_assert!(results[0].result.is_err(), "{:?} opened", alteration);
        for opened in &results {
            prop_assert!(data.starts_with(&opened.written), "{} wrote other bytes", opened.path);
        }
    }
}
