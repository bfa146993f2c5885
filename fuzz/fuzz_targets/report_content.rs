//! Decodes arbitrary bytes as a report plaintext (what the moderation tool
//! reads after opening a sealed report, written by a possibly malicious
//! reporter): it must return, never panic, and what decodes must re-encode
//! to the same bytes.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(violation) = fuin_report::fuzzing::content_violation(data) {
        panic!("{violation}");
    }
});
