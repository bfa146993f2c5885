//! A clock that tests of the relay binary set and move forward (only with
//! the `test-clock` feature, which the relay's own tests enable and release
//! builds do not).
//!
//! If `FUIN_RELAY_TEST_CLOCK_FILE` names a file, the relay's time is the
//! number of milliseconds since the Unix epoch that file holds (decimal, read
//! at every reading of the clock), so it stands still until the test writes
//! a later one. A file that cannot be read or parsed gives the system time.
//! Without the variable the clock is the system clock.

use crate::api::{Clock, system_clock};

/// The variable naming the time file.
pub const TIME_FILE_VARIABLE: &str = "FUIN_RELAY_TEST_CLOCK_FILE";

/// The clock of a relay process: the time file's if the environment names
/// one, else the system clock.
pub fn process_clock() -> Clock {
    let Some(path) = std::env::var_os(TIME_FILE_VARIABLE) else {
        return system_clock();
    };
    let system = system_clock();
    std::sync::Arc::new(move || {
        std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .unwrap_or_else(|| system())
    })
}
