//! Decoding hostile attachment reference bodies of up to 1 MiB never panics
//! and allocates at most [`BOUND`] bytes, whatever the input: text is
//! borrowed, an input over the limit is refused before it is read, and the
//! only allocation is the re-encoding that checks the input is canonical
//! (under [`MAX_REFERENCE_LEN`] bytes, grown by doubling). This file holds a
//! single test so that the counting allocator sees no other test's
//! allocations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;

use cap::Cap;
use fuin_wire::attachment::*;
use fuin_wire::{BlobId, DeviceAddress, DeviceId, UserId};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// The most one decode may allocate: the re-encoding's growth (doublings
/// from 8 bytes up to twice the limit, counted in full at each growth).
const BOUND: usize = 4 * MAX_REFERENCE_LEN;

/// xorshift64*: deterministic, dependency-free input generation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn decoding_hostile_references_allocates_a_bounded_amount() {
    let object = SealedObjectRef {
        object_id: ObjectId([1; 16]),
        key: AttachmentKey([2; 32]),
        blob_id: BlobId([3; 32]),
        sealed_len: 1 << 40,
    };
    let valid = AttachmentReference {
        owner: DeviceAddress::new(UserId::new("u".repeat(64)).unwrap(), DeviceId(u32::MAX)),
        conversation: ConversationDigest([4; 32]),
        content_type: MediaType::new("video/mp4").unwrap(),
        object: object.clone(),
        thumbnail: Some(ThumbnailReference {
            content_type: MediaType::new("image/webp").unwrap(),
            object,
        }),
        file_name: Some(FileName::new("n".repeat(MAX_FILE_NAME_LEN)).unwrap()),
    }
    .to_bytes()
    .unwrap()
    .to_vec();

    let mut rng = Rng(0x5eed);
    let mut inputs = vec![
        valid.clone(),
        vec![1u8; 1 << 20],
        vec![1u8; MAX_REFERENCE_LEN],
    ];
    for _ in 0..20_000 {
        let mut input = valid.clone();
        match rng.below(4) {
            0 => {
                let at = rng.below(input.len());
                input[at] = rng.next() as u8;
            }
            1 => input.truncate(rng.below(input.len())),
            2 => {
                let at = rng.below(input.len());
                // A length prefix claiming far more than the input holds.
                input.splice(at..at, [0xff, 0xff, 0xff, 0xff, 0x0f]);
            }
            _ => {
                input = (0..rng.below(2 * MAX_REFERENCE_LEN))
                    .map(|_| rng.next() as u8)
                    .collect()
            }
        }
        inputs.push(input);
    }

    let mut decoded = 0;
    let mut worst = 0;
    for input in &inputs {
        let before = ALLOCATOR.total_allocated();
        let result = AttachmentReference::from_bytes(input);
        let allocated = ALLOCATOR.total_allocated() - before;
        decoded += usize::from(result.is_ok());
        drop(result);
        assert!(
            allocated <= BOUND,
            "decoding {} bytes allocated {allocated} bytes",
            input.len()
        );
        worst = worst.max(allocated);
    }
    assert!(decoded > 0, "no input decoded");
    assert!(worst > 0, "the re-encoding is counted");
}
