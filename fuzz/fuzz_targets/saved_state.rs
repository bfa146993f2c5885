//! Feeds arbitrary bytes to the four saved-state decoders (`Session`,
//! `DeviceIdentity`, `PrekeyStore`, `GroupState`): they must return, never panic, and any
//! state one accepts must serialize, decode and serialize again to the same
//! bytes.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod seal_checks {
    include!("../checks/seal_checks.rs");
}

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = seal_checks::saved_state(data) {
        panic!("{violation}");
    }
});
