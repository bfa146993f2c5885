//! Decodes arbitrary bytes as a typed body (the plaintext of a 1:1 message
//! any peer with a session can send) and its payload as every built-in
//! type: it must return, never panic, and what decodes must re-encode to
//! the same bytes.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(violation) = fuin_wire::fuzzing::typed_content_violation(data) {
        panic!("{violation}");
    }
});
