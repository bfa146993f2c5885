//! The relay command's options (`RelayArgs`), the `invite` subcommand's, and
//! how they become a [`RelayConfig`].

use crate::franking::StampKeys;
use crate::observe::LogFormat;
use crate::option_layers::{SecretText, parse_secret};
use crate::{RegistrationPolicy, RelayConfig};
use fuin_wire::relay::relay_origin;
use std::path::PathBuf;
use std::time::Duration;

use super::*;

/// The longest lifetime an option accepts: ten years, in seconds.
pub(super) const MAX_LIFETIME_SECS: u64 = 10 * 365 * 24 * 60 * 60;

/// The relay's options, as `fuin-relay` and `fuin relay` take them
/// (`spec/relay-operations.md` §9 describes each).
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("storage").required(true).args(["data", "postgres"])))]
#[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
pub struct RelayArgs {
    /// Something else than serving.
    #[command(subcommand)]
    pub(super) command: Option<RelayCommand>,
    /// A TOML file of options: each key is an option's long name with `_`
    /// for `-` (`max_mailbox_envelopes = 5000`); flags, then environment
    /// variables, take precedence over it (`spec/relay-operations.md` §9.1).
    #[arg(long, value_name = "PATH", global = true)]
    pub(super) config: Option<PathBuf>,
    /// The SQLite database (created if missing).
    #[arg(long)]
    pub(super) data: Option<PathBuf>,
    /// A PostgreSQL database shared with other relays (libpq connection
    /// string or URL), instead of `--data`.
    #[arg(long, requires = "stamp_key_file")]
    pub(super) postgres: Option<String>,
    /// A file holding the PostgreSQL password (mode 0600; a final line
    /// break is not part of it).
    #[arg(long, value_name = "PATH", conflicts_with = "postgres_password")]
    pub(super) postgres_password_file: Option<PathBuf>,
    /// The PostgreSQL password, from the environment or the config file
    /// only: never as a flag. Without it or a password file, `PGPASSWORD`.
    #[arg(long, value_name = "PASSWORD", hide_env_values = true, value_parser = parse_secret)]
    pub(super) postgres_password: Option<SecretText>,
    /// Where to listen. Without TLS only a loopback address is accepted,
    /// unless `--insecure-plain-http` is given.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(super) listen: String,
    /// Serve TLS with this certificate chain (PEM, the relay's certificate
    /// first); needs `--tls-key`.
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    pub(super) tls_cert: Option<PathBuf>,
    /// The private key of `--tls-cert` (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub(super) tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (for a relay behind a
    /// TLS-terminating proxy on a private network; tokens then cross it in
    /// the clear).
    #[arg(long, conflicts_with = "tls_cert")]
    pub(super) insecure_plain_http: bool,
    /// The current franking stamp key file: 32 bytes, created (mode 0600)
    /// if missing. Defaults to the database path with `.stamp-key` appended;
    /// required with `--postgres` (every relay on the database must use the
    /// same key).
    #[arg(long, value_name = "PATH")]
    pub(super) stamp_key_file: Option<PathBuf>,
    /// The id stamps made with the current key carry.
    #[arg(long, default_value_t = 1)]
    pub(super) stamp_key_id: u32,
    /// An older stamp key kept after a rotation, as `ID=PATH` (the file
    /// must exist, 32 bytes, mode 0600). Repeatable.
    #[arg(long, value_name = "ID=PATH", value_parser = parse_old_key)]
    pub(super) old_stamp_key: Vec<(u32, PathBuf)>,
    /// How long a challenge may be answered, in seconds (default 60).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_LIFETIME_SECS))]
    pub(super) challenge_lifetime_secs: Option<u64>,
    /// How long a bearer token is valid, in seconds (default 86400, a day).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_LIFETIME_SECS))]
    pub(super) token_lifetime_secs: Option<u64>,
    /// How long an unacknowledged envelope is kept, in seconds (default
    /// 2592000, 30 days).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_LIFETIME_SECS))]
    pub(super) envelope_lifetime_secs: Option<u64>,
    /// The longest a mailbox fetch waits, in seconds (default 30).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub(super) max_long_poll_secs: Option<u64>,
    /// Below this many one-time prekeys a device is told to upload more
    /// (default 10).
    #[arg(long)]
    pub(super) prekey_low_watermark: Option<u32>,
    /// Requests an authenticated device may make per second, on average
    /// (default 50).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) requests_per_second: Option<u32>,
    /// Requests an authenticated device may make in a burst (default 200).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) request_burst: Option<u32>,
    /// Requests without a token (register, challenge, token) one client
    /// address may make per second, on average (default 10).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) anonymous_requests_per_second: Option<u32>,
    /// Requests without a token one client address may make in a burst
    /// (default 100).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) anonymous_request_burst: Option<u32>,
    /// The most envelopes one mailbox may hold (default 10000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) max_mailbox_envelopes: Option<u64>,
    /// The most bytes of stored records one mailbox may hold (default
    /// 268435456, 256 MiB).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) max_mailbox_bytes: Option<u64>,
    /// The most bytes one send or group send may store, all its records
    /// together (default 16777216, 16 MiB).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) max_send_stored_bytes: Option<u64>,
    /// Start even though the stamp key file existed before while the
    /// database is new or empty: only to begin again on purpose (every
    /// device then registers anew).
    #[arg(long)]
    pub(super) new_database: bool,
    /// The most one-time prekeys one device may have (default 1000).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) max_prekey_pool: Option<u32>,
    /// The most challenges one device may have outstanding; a new one
    /// replaces the oldest (default 8).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(super) max_outstanding_challenges: Option<u32>,
    /// On SIGTERM or Ctrl-C, how long connections may take to finish before
    /// they are dropped, in seconds (default 10).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub(super) shutdown_grace_secs: Option<u64>,
    /// SHA-256 of the moderation tool's 32-byte credential, as 64 hex
    /// digits; without it the moderation endpoints do not exist.
    #[arg(long, value_name = "HEX", value_parser = parse_credential_hash)]
    pub(super) moderation_credential_hash: Option<[u8; 32]>,
    /// SHA-256 of the admin tool's 32-byte credential, as 64 hex digits
    /// (`fuin-relay admin keygen` prints it); with it the relay serves the
    /// admin API on `--admin-listen`, without it there is no admin API.
    #[arg(long, value_name = "HEX", value_parser = parse_credential_hash)]
    pub(super) admin_credential_hash: Option<[u8; 32]>,
    /// Where the admin API listens (plain HTTP, only with
    /// `--admin-credential-hash`): a loopback address, unless
    /// `--insecure-plain-http` is given.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    pub(super) admin_listen: String,
    /// The longest blob (sealed attachment) the relay stores, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    pub(super) max_blob_len: usize,
    /// Who may create an account: anyone (`open`), or whoever has an
    /// invite code made by `invite` (`invite`).
    #[arg(long, value_enum, default_value_t = Registration::Open)]
    pub(super) registration: Registration,
    /// The URL devices reach this relay at (`https://relay.example`); a
    /// login must be signed for it. Repeatable. Default: `http://` (with
    /// TLS `https://`) and the address the relay listens on.
    #[arg(long = "origin", value_name = "URL", value_parser = parse_origin)]
    pub(super) origins: Vec<String>,
    /// How the log on stderr is written: `text` for people, `json` (one
    /// object a line) for log collectors.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub(super) log_format: LogFormat,
    /// What the log shows: a level (`error`, `warn`, `info`, `debug`,
    /// `trace`) or `tracing` filter directives. Default: `RUST_LOG` if set,
    /// else `info`.
    #[arg(long, value_name = "LEVEL")]
    pub(super) log_level: Option<String>,
    /// Name the client's IP address in each request's log event (off by
    /// default: the log then holds no address of anyone).
    #[arg(long)]
    pub(super) log_client_addresses: bool,
    /// Serve `/metrics` (Prometheus text), `/healthz` and `/readyz` on this
    /// address, apart from the API. Without it no metrics are served (the
    /// API still answers `/healthz` and `/readyz`). Give a loopback or
    /// private address: metrics are not for the public.
    #[arg(long, value_name = "ADDR")]
    pub(super) metrics_listen: Option<String>,
    /// How long a request's body may take to arrive, in seconds (default
    /// 30); a slower one is answered 408 and its connection closed.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(super) body_read_timeout_secs: Option<u64>,
    /// How long a client may take to send a request's head, and how long an
    /// idle connection is kept, in seconds (default 10).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(super) request_head_timeout_secs: Option<u64>,
    /// The most connections open at once (default 4096); keep it below the
    /// open-file limit.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub(super) max_connections: Option<u64>,
    /// The most connections open at once from one client address, an IPv4
    /// address or an IPv6 /64 (default 64); trusted proxies are exempt.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub(super) max_connections_per_address: Option<u64>,
    /// The most WebSocket streams one device may have open; a new one
    /// closes the oldest (default 4).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub(super) max_streams_per_device: Option<u64>,
    /// Requests all devices of one account together may make per second,
    /// on average (default 100).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) account_requests_per_second: Option<u32>,
    /// Requests all devices of one account together may make in a burst
    /// (default 400).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) account_request_burst: Option<u32>,
    /// A proxy (address or CIDR network, like 10.0.0.0/8) whose
    /// X-Forwarded-For names the client; from anyone else the header is
    /// ignored. Repeatable.
    #[arg(long = "trusted-proxy", value_name = "ADDRESS[/PREFIX]")]
    pub(super) trusted_proxies: Vec<crate::forwarded::TrustedProxy>,
    /// The directory blob bytes are kept in (created mode 0700 if missing).
    /// Defaults to the database path with `.blobs` appended; with
    /// `--postgres`, give it or `--blob-s3-bucket`.
    #[arg(long, value_name = "PATH", conflicts_with = "blob_s3_bucket")]
    pub(super) blob_dir: Option<PathBuf>,
    /// Keep blob bytes in this S3-compatible bucket instead of a directory;
    /// the credentials come from `FUIN_RELAY_S3_ACCESS_KEY_ID` and
    /// `FUIN_RELAY_S3_SECRET_ACCESS_KEY` or `--blob-s3-credentials-file`.
    #[arg(long, value_name = "NAME", requires = "blob_s3_endpoint")]
    pub(super) blob_s3_bucket: Option<String>,
    /// The S3 endpoint URL (`https://s3.example`).
    #[arg(long, value_name = "URL", requires = "blob_s3_bucket")]
    pub(super) blob_s3_endpoint: Option<String>,
    /// The region S3 requests are signed for.
    #[arg(long, value_name = "NAME", default_value = "us-east-1")]
    pub(super) blob_s3_region: String,
    /// Prepended to the name of every object (`relay/`), to share a bucket.
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub(super) blob_s3_prefix: String,
    /// A file (mode 0600) with the S3 access key id on its first line and
    /// the secret access key on its second, instead of the environment.
    #[arg(long, value_name = "PATH", requires = "blob_s3_bucket")]
    pub(super) blob_s3_credentials_file: Option<PathBuf>,
    /// How long an object in the blob store may lack a record before the
    /// sweep deletes it, in seconds (default 3600).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=MAX_LIFETIME_SECS))]
    pub(super) blob_orphan_grace_secs: Option<u64>,
    /// Send blobs without checking them against their records first
    /// (length and SHA-256): saves hashing every download, and clients
    /// check every blob themselves.
    #[arg(long)]
    pub(super) no_blob_read_check: bool,
}

/// The relay command's subcommands.
#[derive(clap::Subcommand)]
pub enum RelayCommand {
    /// Make invite codes for `--registration invite`, print each as 64 hex
    /// digits, and keep only their SHA-256 in the database.
    Invite(InviteArgs),
    /// Administer a running relay through its admin API (stats, suspend and
    /// restore a user, remove a device, revoke tokens, invite codes, purge).
    Admin(AdminArgs),
}

/// The options of `invite`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("storage").required(true).args(["data", "postgres"])))]
pub struct InviteArgs {
    /// The SQLite database of the relay (created if missing).
    #[arg(long)]
    pub(super) data: Option<PathBuf>,
    /// The relay's PostgreSQL database (libpq connection string or URL).
    #[arg(long)]
    pub(super) postgres: Option<String>,
    /// A file holding the PostgreSQL password (mode 0600).
    #[arg(long, value_name = "PATH", conflicts_with = "postgres_password")]
    pub(super) postgres_password_file: Option<PathBuf>,
    /// The PostgreSQL password, from the environment or the config file
    /// only: never as a flag. Without it or a password file, `PGPASSWORD`.
    #[arg(long, value_name = "PASSWORD", hide_env_values = true, value_parser = parse_secret)]
    pub(super) postgres_password: Option<SecretText>,
    /// How many codes to make.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(super) count: u32,
}

/// `--registration`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(super) enum Registration {
    Open,
    Invite,
}

pub(super) fn parse_origin(text: &str) -> Result<String, String> {
    relay_origin(text).ok_or_else(|| "expected an http:// or https:// URL with a host".to_owned())
}

impl RelayArgs {
    /// The settings these options give the relay, with `stamp_keys` (the
    /// key files are read by [`run`]).
    pub fn relay_config(&self, stamp_keys: StampKeys) -> RelayConfig {
        config(self, stamp_keys)
    }

    /// The `invite` subcommand's options, if that is what was asked for
    /// (then [`make_invites`] runs it, and [`run`] refuses).
    pub fn invite(&self) -> Option<&InviteArgs> {
        match &self.command {
            Some(RelayCommand::Invite(args)) => Some(args),
            _ => None,
        }
    }

    /// The `admin` subcommand's options, if that is what was asked for
    /// (then [`run_admin`] runs it, and [`run`] refuses).
    pub fn admin(&self) -> Option<&AdminArgs> {
        match &self.command {
            Some(RelayCommand::Admin(args)) => Some(args),
            _ => None,
        }
    }

    /// The log format asked for (`--log-format`).
    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }

    /// Installs the log subscriber these options ask for (`--log-format`,
    /// `--log-level`, `RUST_LOG`), writing to stderr: what the relay
    /// commands do first. See [`crate::observe::install_logging`].
    pub fn install_logging(&self) -> Result<(), String> {
        crate::observe::install_logging(self.log_format, self.log_level.as_deref())
    }
}

pub(super) fn parse_credential_hash(text: &str) -> Result<[u8; 32], String> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut hash)
        .map_err(|_| "expected 64 hex digits (a SHA-256)".to_owned())?;
    Ok(hash)
}

pub(super) fn parse_old_key(value: &str) -> Result<(u32, PathBuf), String> {
    let (id, path) = value
        .split_once('=')
        .ok_or_else(|| "expected ID=PATH".to_owned())?;
    let id = id
        .parse()
        .map_err(|_| format!("the key id {id:?} is not a number from 0 to {}", u32::MAX))?;
    if path.is_empty() {
        return Err("expected ID=PATH, with a path".to_owned());
    }
    Ok((id, PathBuf::from(path)))
}

pub(super) fn config(args: &RelayArgs, stamp_keys: StampKeys) -> RelayConfig {
    let mut config = RelayConfig::new(stamp_keys);
    config.moderation_credential_hash = args.moderation_credential_hash;
    config.admin_credential_hash = args.admin_credential_hash;
    config.max_blob_len = args.max_blob_len;
    config.registration = match args.registration {
        Registration::Open => RegistrationPolicy::Open,
        Registration::Invite => RegistrationPolicy::Invite,
    };
    config.origins.clone_from(&args.origins);
    config.log_client_addresses = args.log_client_addresses;
    let seconds = Duration::from_secs;
    if let Some(secs) = args.challenge_lifetime_secs {
        config.challenge_lifetime = seconds(secs);
    }
    if let Some(secs) = args.token_lifetime_secs {
        config.token_lifetime = seconds(secs);
    }
    if let Some(secs) = args.envelope_lifetime_secs {
        config.envelope_lifetime = seconds(secs);
    }
    if let Some(secs) = args.max_long_poll_secs {
        config.max_long_poll = seconds(secs);
    }
    if let Some(secs) = args.shutdown_grace_secs {
        config.shutdown_grace = seconds(secs);
    }
    if let Some(secs) = args.blob_orphan_grace_secs {
        config.blob_orphan_grace = seconds(secs);
    }
    config.check_blob_reads = !args.no_blob_read_check;
    let set = |target: &mut u32, value: Option<u32>| {
        if let Some(value) = value {
            *target = value;
        }
    };
    set(&mut config.prekey_low_watermark, args.prekey_low_watermark);
    set(&mut config.requests_per_second, args.requests_per_second);
    set(&mut config.request_burst, args.request_burst);
    set(
        &mut config.anonymous_requests_per_second,
        args.anonymous_requests_per_second,
    );
    set(
        &mut config.anonymous_request_burst,
        args.anonymous_request_burst,
    );
    set(&mut config.max_prekey_pool, args.max_prekey_pool);
    set(
        &mut config.max_outstanding_challenges,
        args.max_outstanding_challenges,
    );
    if let Some(max) = args.max_mailbox_envelopes {
        config.max_mailbox_envelopes = max;
    }
    if let Some(max) = args.max_mailbox_bytes {
        config.max_mailbox_bytes = max;
    }
    if let Some(max) = args.max_send_stored_bytes {
        config.max_send_stored_bytes = max;
    }
    network_limits(args, &mut config);
    config
}

/// File descriptors kept for what is not a client connection: the
/// listener, the database and its journal, PostgreSQL connections, key files.
pub(super) const RESERVED_DESCRIPTORS: u64 = 64;

/// Raises the process's soft open-file limit to its hard limit, and lowers
/// `max_connections` to fit under it. A relay out of descriptors accepts no
/// one: that is how, under a limit of 256, a few hundred stalled request
/// heads made every other client's request wait until they timed out.
pub(super) fn fit_open_files(config: &mut RelayConfig) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum)
        && current < maximum
    {
        let raised = Rlimit {
            current: Some(maximum),
            maximum: Some(maximum),
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit.current = Some(maximum);
        }
    }
    if let Some(current) = limit.current {
        let room = current.saturating_sub(RESERVED_DESCRIPTORS).max(1);
        let room = usize::try_from(room).unwrap_or(usize::MAX);
        config.max_connections = config.max_connections.min(room);
    }
}

/// The options that bound what connections and streams may hold.
pub(super) fn network_limits(args: &RelayArgs, config: &mut RelayConfig) {
    let count = |value: u64| usize::try_from(value).unwrap_or(usize::MAX);
    if let Some(secs) = args.body_read_timeout_secs {
        config.body_read_timeout = Duration::from_secs(secs);
    }
    if let Some(secs) = args.request_head_timeout_secs {
        config.request_head_timeout = Duration::from_secs(secs);
    }
    if let Some(max) = args.max_connections {
        config.max_connections = count(max);
    }
    if let Some(max) = args.max_connections_per_address {
        config.max_connections_per_address = count(max);
    }
    if let Some(max) = args.max_streams_per_device {
        config.max_streams_per_device = count(max);
    }
    if let Some(rate) = args.account_requests_per_second {
        config.account_requests_per_second = rate;
    }
    if let Some(burst) = args.account_request_burst {
        config.account_request_burst = burst;
    }
    config.trusted_proxies.clone_from(&args.trusted_proxies);
}
