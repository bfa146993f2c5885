//! Decodes arbitrary bytes as a frame: it must return, never panic, and (with
//! libFuzzer's `-malloc_limit_mb`) never allocate beyond the limit.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fuin_wire::fuzzing::decode_any(data);
});
