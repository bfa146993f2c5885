//! Any bytes that decode must re-encode to exactly themselves and decode again
//! to the same frame.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(violation) = fuin_wire::fuzzing::round_trip_violation(data) {
        panic!("{violation}");
    }
});
