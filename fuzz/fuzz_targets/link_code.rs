//! Reads arbitrary bytes as a link code (what a user types on the existing
//! device, or what a QR code carries) and as a sealed link message: both
//! must return, never panic, and a code that reads must read back the same
//! from its digits and its text.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod seal_checks {
    include!("../checks/seal_checks.rs");
}

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = seal_checks::link_code(data) {
        panic!("{violation}");
    }
});
