//! Decodes arbitrary bytes as a sender key request (the plaintext of a 1:1
//! message any peer with a session can send): it must return, never panic,
//! and what decodes must re-encode to the same bytes.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(violation) = fuin_wire::fuzzing::sender_key_request_violation(data) {
        panic!("{violation}");
    }
});
