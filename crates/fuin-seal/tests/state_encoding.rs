//! Encoding secret state leaves no unwiped copy behind (issue 15, item 8):
//! the encoder computes the size first and writes into one buffer of exactly
//! that size, wiped on drop, instead of growing a vector (every growth copies
//! the secret bytes so far and frees the old buffer unwiped).
//!
//! Checked with a counting allocator: while a state is encoded, the bytes
//! allocated in all (counting every growth of a buffer at its new size) stay
//! below one and a half times the encoding's length. A growing vector
//! allocates at least twice the length: its doublings add up to more than
//! the length, and the result is copied once more. This file holds one test
//! so that nothing else allocates while it counts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::alloc::System;

use cap::Cap;
use zeroize::Zeroizing;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// One state's encoding, run once.
type Encoder<'a> = dyn FnOnce() -> Zeroizing<Vec<u8>> + 'a;

/// Bytes allocated while `encode` runs, and what it returned.
fn allocated_while(encode: impl FnOnce() -> Zeroizing<Vec<u8>>) -> (usize, Zeroizing<Vec<u8>>) {
    let before = ALLOCATOR.total_allocated();
    let encoded = encode();
    (ALLOCATOR.total_allocated() - before, encoded)
}

/// The identity's and the session's saved forms hold almost nothing on the
/// heap besides the encoding (two short user ids), so what the encoder
/// allocates is what the count measures. The prekey store and the group
/// state use the same encoder (`state::encode`).
#[test]
fn saved_state_is_encoded_into_one_buffer_of_its_final_size() {
    let mut pair = common::Pair::new(0xe4c0);
    let cases: [(&str, Box<Encoder<'_>>); 2] = [
        (
            "identity",
            Box::new(|| pair.bob.identity.to_bytes().unwrap()),
        ),
        ("session", Box::new(|| pair.bob_session.to_bytes().unwrap())),
    ];
    for (name, encode) in cases {
        let (allocated, encoded) = allocated_while(encode);
        assert_eq!(encoded.capacity(), encoded.len(), "{name}");
        assert!(
            allocated >= encoded.len(),
            "{name}: the counter missed the output ({allocated} < {})",
            encoded.len()
        );
        assert!(
            allocated < encoded.len() * 3 / 2,
            "{name}: {allocated} bytes allocated to encode {} bytes",
            encoded.len()
        );
    }
    let _ = pair.alice_sends("still usable");
}
