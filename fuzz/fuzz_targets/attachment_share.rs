//! Decodes arbitrary bytes as an attachment share body (the plaintext of a
//! message of content type `Attachment`, chosen by a peer): it must return,
//! never panic, and what decodes must re-encode to the same bytes.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(violation) = fuin_wire::fuzzing::attachment_share_violation(data) {
        panic!("{violation}");
    }
});
