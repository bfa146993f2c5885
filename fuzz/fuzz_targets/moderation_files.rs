//! Reads arbitrary bytes as the moderation tool's files: an audit log, a
//! secret key file and a public key text. Each reader must return, never
//! panic; a log that verifies must render back to the same chain, and a key
//! that reads must write back to what reads the same.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(violation) = fuin_report::fuzzing::files_violation(data) {
        panic!("{violation}");
    }
});
