//! Delivers arbitrary bytes to Bob as the sealed body of a group message, with
//! several content kinds, commitments and senders: opening must return, never
//! panic, and an error must leave the group state unchanged. A genuine
//! envelope with one byte changed must not open, and the genuine one must
//! open afterwards. The input's layout is described at
//! `group_checks::group_open`.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod group_checks {
    include!("../checks/group_checks.rs");
}

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = group_checks::group_open(data) {
        panic!("{violation}");
    }
});
