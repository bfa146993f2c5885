//! Opens arbitrary bytes as a value encrypted at rest (fixed key and
//! context): it must return, never panic. Sealing the bytes must give a value
//! that opens back to them, and only with the same context and unchanged.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod seal_checks {
    include!("../checks/seal_checks.rs");
}

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = seal_checks::storage_open(data) {
        panic!("{violation}");
    }
});
