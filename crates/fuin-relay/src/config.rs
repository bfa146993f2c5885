//! What an operator can set, with defaults a small deployment can use as is.

use std::time::Duration;

use crate::franking::StampKeys;

/// The relay's settings.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// How long a challenge may be answered.
    pub challenge_lifetime: Duration,
    /// How long a bearer token is valid.
    pub token_lifetime: Duration,
    /// How long an unacknowledged envelope is kept.
    pub envelope_lifetime: Duration,
    /// The longest a mailbox fetch waits for something to arrive.
    pub max_long_poll: Duration,
    /// Below this many one-time prekeys a device is told to upload more.
    pub prekey_low_watermark: u32,
    /// The relay's franking stamp keys.
    pub stamp_keys: StampKeys,
    /// Requests an authenticated device may make per second, on average.
    pub requests_per_second: u32,
    /// Requests an authenticated device may make in a burst.
    pub request_burst: u32,
}

impl RelayConfig {
    /// Defaults, with the given stamp keys.
    pub fn new(stamp_keys: StampKeys) -> Self {
        Self {
            challenge_lifetime: Duration::from_secs(60),
            token_lifetime: Duration::from_secs(24 * 60 * 60),
            envelope_lifetime: Duration::from_secs(30 * 24 * 60 * 60),
            max_long_poll: Duration::from_secs(30),
            prekey_low_watermark: 10,
            stamp_keys,
            requests_per_second: 50,
            request_burst: 200,
        }
    }
}
