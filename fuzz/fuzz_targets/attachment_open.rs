//! Opens arbitrary bytes as a sealed attachment (a blob the relay serves):
//! it must return, never panic; every opening path must give the same
//! result; and nothing but the object's own bytes may open.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod attachment_checks {
    include!("../checks/attachment_checks.rs");
}

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = attachment_checks::attachment_open(data) {
        panic!("{violation}");
    }
});
