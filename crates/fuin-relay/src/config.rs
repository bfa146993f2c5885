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
    /// Requests to the endpoints without a token (registration, challenge,
    /// token) that one client address may make per second, on average.
    pub anonymous_requests_per_second: u32,
    /// Requests without a token that one client address may make in a burst.
    pub anonymous_request_burst: u32,
    /// How many client addresses, and how many devices, get a rate bucket
    /// of their own; beyond that, new ones share one bucket.
    pub max_rate_buckets: usize,
    /// The most envelopes one mailbox may hold; a send that would go over
    /// it is refused whole.
    pub max_mailbox_envelopes: u64,
    /// The most one-time prekeys one device may have in its pool; an upload
    /// that would go over it is refused whole.
    pub max_prekey_pool: u32,
    /// The most challenges one device may have outstanding; a new one
    /// beyond it replaces the oldest.
    pub max_outstanding_challenges: u32,
    /// On shutdown, how long connections still open may take to finish
    /// before they are dropped.
    pub shutdown_grace: Duration,
    /// The longest blob the relay stores, in bytes. An upload or download
    /// holds the whole blob in memory (see `max_blob_transfers`).
    pub max_blob_len: usize,
    /// How long a blob capability is valid (and the blob kept, from its
    /// latest upload).
    pub blob_lifetime: Duration,
    /// How many blob uploads and downloads run at once; each holds up to
    /// `max_blob_len` bytes in memory, further ones wait their turn.
    pub max_blob_transfers: usize,
    /// How long an object in the blob store may lack a record before the
    /// sweep deletes it: longer than an upload takes from writing its
    /// object to committing its record, and than the clocks of relays and
    /// an S3 server differ.
    pub blob_orphan_grace: Duration,
    /// Whether a download checks the blob's object against its record
    /// (length and SHA-256) before sending it, and refuses a damaged one.
    /// Off saves hashing every download; clients check every blob they
    /// fetch themselves.
    pub check_blob_reads: bool,
    /// How long an unacknowledged report waits in the inbox.
    pub report_lifetime: Duration,
    /// SHA-256 of the moderation tool's 32-byte credential. Without it the
    /// moderation endpoints do not exist (404).
    pub moderation_credential_hash: Option<[u8; 32]>,
    /// Who may create an account (`POST /v1/accounts`).
    pub registration: RegistrationPolicy,
    /// The relay's origins (`https://relay.example`), normalised by
    /// [`fuin_wire::relay::relay_origin`]: a login signature is accepted if
    /// it verifies over the relay authentication input of any of them.
    /// Left empty, [`crate::serve_with`] sets it to the origin of the
    /// address it serves on; a relay with no origin accepts no login.
    pub origins: Vec<String>,
    /// The most link messages waiting at the rendezvous at once, all
    /// channels together; beyond it a new one is refused (503
    /// `link_capacity`).
    pub max_link_messages: u64,
    /// How long a link message waits to be taken.
    pub link_message_lifetime: Duration,
}

/// Who may create an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegistrationPolicy {
    /// Anyone.
    #[default]
    Open,
    /// Whoever presents an unspent invite code the operator made
    /// (`fuin-relay invite`); the registration spends it.
    Invite,
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
            anonymous_requests_per_second: 10,
            anonymous_request_burst: 100,
            max_rate_buckets: 100_000,
            max_mailbox_envelopes: 10_000,
            max_prekey_pool: 1_000,
            max_outstanding_challenges: 8,
            shutdown_grace: Duration::from_secs(10),
            max_blob_len: 64 * 1024 * 1024,
            blob_lifetime: Duration::from_secs(30 * 24 * 60 * 60),
            max_blob_transfers: 8,
            blob_orphan_grace: Duration::from_secs(60 * 60),
            check_blob_reads: true,
            report_lifetime: Duration::from_secs(30 * 24 * 60 * 60),
            moderation_credential_hash: None,
            registration: RegistrationPolicy::Open,
            origins: Vec::new(),
            max_link_messages: 10_000,
            link_message_lifetime: Duration::from_secs(10 * 60),
        }
    }
}
