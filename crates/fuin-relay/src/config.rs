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
    /// The most bytes of stored records one mailbox may hold; a send that
    /// would go over it is refused whole (507 `mailbox_bytes_full`).
    pub max_mailbox_bytes: u64,
    /// The most bytes one send or group send may store, all its stored
    /// records together; a larger one is refused before anything is stored
    /// (413 `send_too_large`).
    pub max_send_stored_bytes: u64,
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
    /// SHA-256 of the admin tool's 32-byte credential. Without it the
    /// admin API refuses everything (404); with it, it is served on its own
    /// listener ([`crate::api::admin_router`]), never on the public one.
    pub admin_credential_hash: Option<[u8; 32]>,
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
    /// Whether the per-request log event names the client's IP address
    /// (off by default: a relay should not keep who talked to it).
    pub log_client_addresses: bool,
    /// How long a request's body may take to arrive, counted from when the
    /// relay starts reading it; a slower one is answered 408
    /// `body_timeout` and its connection closed. A blob upload gets this
    /// long per started 4 MiB of its declared length.
    pub body_read_timeout: Duration,
    /// How long a client may take to send a request's head: on a fresh
    /// connection, and between requests on a kept-alive one (an idle
    /// connection is closed after this long).
    pub request_head_timeout: Duration,
    /// The most connections open at once; one more is closed as soon as it
    /// is accepted. Keep it below the process's open-file limit.
    pub max_connections: usize,
    /// The most connections open at once from one client address (an IPv4
    /// address or an IPv6 /64). Connections from a trusted proxy count
    /// only against `max_connections`.
    pub max_connections_per_address: usize,
    /// The most WebSocket streams one device may have open; a new one
    /// beyond it closes the device's oldest (close code 1008, reason
    /// `stream_replaced`).
    pub max_streams_per_device: usize,
    /// Requests all devices of one account together may make per second,
    /// on average (each device also has its own `requests_per_second`).
    pub account_requests_per_second: u32,
    /// Requests all devices of one account together may make in a burst.
    pub account_request_burst: u32,
    /// Proxies whose `X-Forwarded-For` names the client: only for a
    /// connection from one of these is the client address taken from that
    /// header (the rightmost address in it that is not itself a trusted
    /// proxy); from anyone else the header is ignored.
    pub trusted_proxies: Vec<crate::forwarded::TrustedProxy>,
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
            max_mailbox_bytes: 256 * 1024 * 1024,
            max_send_stored_bytes: 16 * 1024 * 1024,
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
            admin_credential_hash: None,
            registration: RegistrationPolicy::Open,
            origins: Vec::new(),
            max_link_messages: 10_000,
            link_message_lifetime: Duration::from_secs(10 * 60),
            log_client_addresses: false,
            body_read_timeout: Duration::from_secs(30),
            request_head_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_connections_per_address: 64,
            max_streams_per_device: 4,
            account_requests_per_second: 100,
            account_request_burst: 400,
            trusted_proxies: Vec::new(),
        }
    }
}
