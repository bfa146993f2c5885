//! Decodes arbitrary bytes as an attachment reference body (the plaintext
//! of a message that shares an attachment, chosen by a peer): it must
//! return, never panic, and what decodes must re-encode to the same bytes.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(violation) = fuin_wire::fuzzing::attachment_reference_violation(data) {
        panic!("{violation}");
    }
});
