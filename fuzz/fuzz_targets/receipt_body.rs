//! Decodes arbitrary bytes as a receipt body (the plaintext of a receipt
//! message, chosen by a peer): it must return, never panic, and what decodes
//! must re-encode to the same bytes.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(violation) = fuin_wire::fuzzing::receipt_violation(data) {
        panic!("{violation}");
    }
});
