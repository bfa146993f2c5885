//! Delivers arbitrary bytes to Bob as a sealed body from Alice, with whom he
//! has an established session (`Session::open`) and as a first message
//! (`Session::respond`): both must return, never panic, and an error must
//! leave the session and the prekeys unchanged. A genuine envelope with one
//! byte changed must not open, and the genuine one must open afterwards. The
//! input's layout is described at `seal_checks::session_open`.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod seal_checks {
    include!("../checks/seal_checks.rs");
}

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = seal_checks::session_open(data) {
        panic!("{violation}");
    }
});
