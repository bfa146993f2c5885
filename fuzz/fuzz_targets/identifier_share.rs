//! Decodes arbitrary bytes as an identifier secret share (the plaintext of
//! an identifier secret message, chosen by one of the user's own devices or
//! by anyone who got a message of that type through): it must return, never
//! panic, and what decodes must re-encode to the same bytes.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(violation) = fuin_wire::fuzzing::identifier_share_violation(data) {
        panic!("{violation}");
    }
});
