//! The relay command: its options and what it does with them, shared by the
//! `fuin-relay` binary and the `fuin relay` subcommand so that both take
//! exactly the same options and run exactly the same server.
//!
//! [`run`] checks the options, opens the storage and the key files, listens,
//! tells the caller the address it listens on, and serves until SIGTERM or
//! Ctrl-C. It prints nothing itself: the caller reports to the operator, in
//! text (`fuin-relay listening on ADDR`, [`listening_line`]) or otherwise.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fuin_wire::StampKeyId;
use fuin_wire::relay::relay_origin;
use zeroize::{Zeroize, Zeroizing};

use crate::blobs::{BlobStore, FsBlobStore, S3BlobStore, S3Settings};
use crate::franking::StampKeys;
pub use crate::observe::LogFormat;
use crate::option_layers::{SecretText, conninfo_has_password, parse_secret, read_secret_file};
use crate::store::Store;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::{RegistrationPolicy, Relay, RelayConfig};

mod admin;

pub use admin::{AdminAction, AdminAnswer, AdminArgs, run_admin};

/// The longest lifetime an option accepts: ten years, in seconds.
const MAX_LIFETIME_SECS: u64 = 10 * 365 * 24 * 60 * 60;

/// The relay's options, as `fuin-relay` and `fuin relay` take them
/// (`spec/relay-operations.md` §9 describes each).
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("storage").required(true).args(["data", "postgres"])))]
#[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
pub struct RelayArgs {
    /// Something else than serving.
    #[command(subcommand)]
    command: Option<RelayCommand>,
    /// A TOML file of options: each key is an option's long name with `_`
    /// for `-` (`max_mailbox_envelopes = 5000`); flags, then environment
    /// variables, take precedence over it (`spec/relay-operations.md` §9.1).
    #[arg(long, value_name = "PATH", global = true)]
    config: Option<PathBuf>,
    /// The SQLite database (created if missing).
    #[arg(long)]
    data: Option<PathBuf>,
    /// A PostgreSQL database shared with other relays (libpq connection
    /// string or URL), instead of `--data`.
    #[arg(long, requires = "stamp_key_file")]
    postgres: Option<String>,
    /// A file holding the PostgreSQL password (mode 0600; a final line
    /// break is not part of it).
    #[arg(long, value_name = "PATH", conflicts_with = "postgres_password")]
    postgres_password_file: Option<PathBuf>,
    /// The PostgreSQL password, from the environment or the config file
    /// only: never as a flag. Without it or a password file, `PGPASSWORD`.
    #[arg(long, value_name = "PASSWORD", hide_env_values = true, value_parser = parse_secret)]
    postgres_password: Option<SecretText>,
    /// Where to listen. Without TLS only a loopback address is accepted,
    /// unless `--insecure-plain-http` is given.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Serve TLS with this certificate chain (PEM, the relay's certificate
    /// first); needs `--tls-key`.
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of `--tls-cert` (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (for a relay behind a
    /// TLS-terminating proxy on a private network; tokens then cross it in
    /// the clear).
    #[arg(long, conflicts_with = "tls_cert")]
    insecure_plain_http: bool,
    /// The current franking stamp key file: 32 bytes, created (mode 0600)
    /// if missing. Defaults to the database path with `.stamp-key` appended;
    /// required with `--postgres` (every relay on the database must use the
    /// same key).
    #[arg(long, value_name = "PATH")]
    stamp_key_file: Option<PathBuf>,
    /// The id stamps made with the current key carry.
    #[arg(long, default_value_t = 1)]
    stamp_key_id: u32,
    /// An older stamp key kept after a rotation, as `ID=PATH` (the file
    /// must exist, 32 bytes, mode 0600). Repeatable.
    #[arg(long, value_name = "ID=PATH", value_parser = parse_old_key)]
    old_stamp_key: Vec<(u32, PathBuf)>,
    /// How long a challenge may be answered, in seconds (default 60).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_LIFETIME_SECS))]
    challenge_lifetime_secs: Option<u64>,
    /// How long a bearer token is valid, in seconds (default 86400, a day).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_LIFETIME_SECS))]
    token_lifetime_secs: Option<u64>,
    /// How long an unacknowledged envelope is kept, in seconds (default
    /// 2592000, 30 days).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_LIFETIME_SECS))]
    envelope_lifetime_secs: Option<u64>,
    /// The longest a mailbox fetch waits, in seconds (default 30).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=3600))]
    max_long_poll_secs: Option<u64>,
    /// Below this many one-time prekeys a device is told to upload more
    /// (default 10).
    #[arg(long)]
    prekey_low_watermark: Option<u32>,
    /// Requests an authenticated device may make per second, on average
    /// (default 50).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    requests_per_second: Option<u32>,
    /// Requests an authenticated device may make in a burst (default 200).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    request_burst: Option<u32>,
    /// Requests without a token (register, challenge, token) one client
    /// address may make per second, on average (default 10).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    anonymous_requests_per_second: Option<u32>,
    /// Requests without a token one client address may make in a burst
    /// (default 100).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    anonymous_request_burst: Option<u32>,
    /// The most envelopes one mailbox may hold (default 10000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_mailbox_envelopes: Option<u64>,
    /// The most bytes of stored records one mailbox may hold (default
    /// 268435456, 256 MiB).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_mailbox_bytes: Option<u64>,
    /// The most bytes one send or group send may store, all its records
    /// together (default 16777216, 16 MiB).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_send_stored_bytes: Option<u64>,
    /// Start even though the stamp key file existed before while the
    /// database is new or empty: only to begin again on purpose (every
    /// device then registers anew).
    #[arg(long)]
    new_database: bool,
    /// The most one-time prekeys one device may have (default 1000).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    max_prekey_pool: Option<u32>,
    /// The most challenges one device may have outstanding; a new one
    /// replaces the oldest (default 8).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    max_outstanding_challenges: Option<u32>,
    /// On SIGTERM or Ctrl-C, how long connections may take to finish before
    /// they are dropped, in seconds (default 10).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=3600))]
    shutdown_grace_secs: Option<u64>,
    /// SHA-256 of the moderation tool's 32-byte credential, as 64 hex
    /// digits; without it the moderation endpoints do not exist.
    #[arg(long, value_name = "HEX", value_parser = parse_credential_hash)]
    moderation_credential_hash: Option<[u8; 32]>,
    /// SHA-256 of the admin tool's 32-byte credential, as 64 hex digits
    /// (`fuin-relay admin keygen` prints it); with it the relay serves the
    /// admin API on `--admin-listen`, without it there is no admin API.
    #[arg(long, value_name = "HEX", value_parser = parse_credential_hash)]
    admin_credential_hash: Option<[u8; 32]>,
    /// Where the admin API listens (plain HTTP, only with
    /// `--admin-credential-hash`): a loopback address, unless
    /// `--insecure-plain-http` is given.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    admin_listen: String,
    /// The longest blob (sealed attachment) the relay stores, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    max_blob_len: usize,
    /// Who may create an account: anyone (`open`), or whoever has an
    /// invite code made by `invite` (`invite`).
    #[arg(long, value_enum, default_value_t = Registration::Open)]
    registration: Registration,
    /// The URL devices reach this relay at (`https://relay.example`); a
    /// login must be signed for it. Repeatable. Default: `http://` (with
    /// TLS `https://`) and the address the relay listens on.
    #[arg(long = "origin", value_name = "URL", value_parser = parse_origin)]
    origins: Vec<String>,
    /// How the log on stderr is written: `text` for people, `json` (one
    /// object a line) for log collectors.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// What the log shows: a level (`error`, `warn`, `info`, `debug`,
    /// `trace`) or `tracing` filter directives. Default: `RUST_LOG` if set,
    /// else `info`.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Name the client's IP address in each request's log event (off by
    /// default: the log then holds no address of anyone).
    #[arg(long)]
    log_client_addresses: bool,
    /// Serve `/metrics` (Prometheus text), `/healthz` and `/readyz` on this
    /// address, apart from the API. Without it no metrics are served (the
    /// API still answers `/healthz` and `/readyz`). Give a loopback or
    /// private address: metrics are not for the public.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// How long a request's body may take to arrive, in seconds (default
    /// 30); a slower one is answered 408 and its connection closed.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=3600))]
    body_read_timeout_secs: Option<u64>,
    /// How long a client may take to send a request's head, and how long an
    /// idle connection is kept, in seconds (default 10).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_head_timeout_secs: Option<u64>,
    /// The most connections open at once (default 4096); keep it below the
    /// open-file limit.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    max_connections: Option<u64>,
    /// The most connections open at once from one client address, an IPv4
    /// address or an IPv6 /64 (default 64); trusted proxies are exempt.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    max_connections_per_address: Option<u64>,
    /// The most WebSocket streams one device may have open; a new one
    /// closes the oldest (default 4).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1000))]
    max_streams_per_device: Option<u64>,
    /// Requests all devices of one account together may make per second,
    /// on average (default 100).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    account_requests_per_second: Option<u32>,
    /// Requests all devices of one account together may make in a burst
    /// (default 400).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    account_request_burst: Option<u32>,
    /// A proxy (address or CIDR network, like 10.0.0.0/8) whose
    /// X-Forwarded-For names the client; from anyone else the header is
    /// ignored. Repeatable.
    #[arg(long = "trusted-proxy", value_name = "ADDRESS[/PREFIX]")]
    trusted_proxies: Vec<crate::forwarded::TrustedProxy>,
    /// The directory blob bytes are kept in (created mode 0700 if missing).
    /// Defaults to the database path with `.blobs` appended; with
    /// `--postgres`, give it or `--blob-s3-bucket`.
    #[arg(long, value_name = "PATH", conflicts_with = "blob_s3_bucket")]
    blob_dir: Option<PathBuf>,
    /// Keep blob bytes in this S3-compatible bucket instead of a directory;
    /// the credentials come from `FUIN_RELAY_S3_ACCESS_KEY_ID` and
    /// `FUIN_RELAY_S3_SECRET_ACCESS_KEY` or `--blob-s3-credentials-file`.
    #[arg(long, value_name = "NAME", requires = "blob_s3_endpoint")]
    blob_s3_bucket: Option<String>,
    /// The S3 endpoint URL (`https://s3.example`).
    #[arg(long, value_name = "URL", requires = "blob_s3_bucket")]
    blob_s3_endpoint: Option<String>,
    /// The region S3 requests are signed for.
    #[arg(long, value_name = "NAME", default_value = "us-east-1")]
    blob_s3_region: String,
    /// Prepended to the name of every object (`relay/`), to share a bucket.
    #[arg(long, value_name = "PREFIX", default_value = "")]
    blob_s3_prefix: String,
    /// A file (mode 0600) with the S3 access key id on its first line and
    /// the secret access key on its second, instead of the environment.
    #[arg(long, value_name = "PATH", requires = "blob_s3_bucket")]
    blob_s3_credentials_file: Option<PathBuf>,
    /// How long an object in the blob store may lack a record before the
    /// sweep deletes it, in seconds (default 3600).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=MAX_LIFETIME_SECS))]
    blob_orphan_grace_secs: Option<u64>,
    /// Send blobs without checking them against their records first
    /// (length and SHA-256): saves hashing every download, and clients
    /// check every blob themselves.
    #[arg(long)]
    no_blob_read_check: bool,
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
    data: Option<PathBuf>,
    /// The relay's PostgreSQL database (libpq connection string or URL).
    #[arg(long)]
    postgres: Option<String>,
    /// A file holding the PostgreSQL password (mode 0600).
    #[arg(long, value_name = "PATH", conflicts_with = "postgres_password")]
    postgres_password_file: Option<PathBuf>,
    /// The PostgreSQL password, from the environment or the config file
    /// only: never as a flag. Without it or a password file, `PGPASSWORD`.
    #[arg(long, value_name = "PASSWORD", hide_env_values = true, value_parser = parse_secret)]
    postgres_password: Option<SecretText>,
    /// How many codes to make.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    count: u32,
}

/// `--registration`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Registration {
    Open,
    Invite,
}

fn parse_origin(text: &str) -> Result<String, String> {
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

/// Makes `args.count` invite codes of 32 random bytes, stores their SHA-256
/// in the relay's database in one write, and returns the codes as 64 lowercase
/// hex digits each: the only copy of them.
pub async fn make_invites(args: &InviteArgs) -> Result<Vec<String>, RunError> {
    let (codes, hashes) = crate::api::new_invites(args.count);
    let stored = if let Some(conninfo) = &args.postgres {
        let password = postgres_password(
            conninfo,
            args.postgres_password_file.as_deref(),
            args.postgres_password.as_ref(),
        )
        .map_err(RunError::Storage)?;
        let store = PostgresStore::connect_with_password(
            conninfo,
            password
                .as_ref()
                .map(|password| password.expose().as_bytes()),
        )
        .await
        .map_err(|err| RunError::Storage(format!("cannot use the PostgreSQL database: {err}")))?;
        let stored = store.add_invites(&hashes).await;
        store.close();
        stored
    } else if let Some(data) = &args.data {
        let store = SqliteStore::open(data)
            .map_err(|err| RunError::Storage(format!("cannot open {}: {err}", data.display())))?;
        store.add_invites(&hashes).await
    } else {
        return Err(RunError::Storage("give --data or --postgres".into()));
    };
    stored.map_err(|err| RunError::Storage(format!("cannot store the invites: {err}")))?;
    Ok(codes)
}

/// The PostgreSQL password: from `file`, `value` (the environment or the
/// config file) or, failing both, `PGPASSWORD`; none if the connection
/// string carries it (it cannot have come from the command line, see
/// [`crate::option_layers`]). Two of them are an error, not a choice.
fn postgres_password(
    conninfo: &str,
    file: Option<&Path>,
    value: Option<&SecretText>,
) -> Result<Option<SecretText>, String> {
    let given = match (file, value) {
        (Some(path), _) => Some(
            read_secret_file(path)
                .map_err(|why| format!("cannot use the PostgreSQL password file: {why}"))?,
        ),
        (None, Some(value)) => Some(value.clone()),
        (None, None) => None,
    };
    if conninfo_has_password(conninfo) {
        if given.is_some() {
            return Err(
                "the PostgreSQL password is given twice: in the connection string \
                        and apart from it"
                    .into(),
            );
        }
        return Ok(None);
    }
    Ok(given.or_else(|| {
        std::env::var("PGPASSWORD")
            .ok()
            .and_then(|text| parse_secret(&text).ok())
    }))
}

fn parse_credential_hash(text: &str) -> Result<[u8; 32], String> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut hash)
        .map_err(|_| "expected 64 hex digits (a SHA-256)".to_owned())?;
    Ok(hash)
}

fn parse_old_key(value: &str) -> Result<(u32, PathBuf), String> {
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

/// Reads a stamp key: the file's first 32 bytes. A missing file is created
/// with a fresh random key if `create`, and is an error otherwise. A file
/// that others than its owner may read or write is refused.
fn stamp_key(path: &Path, create: bool) -> Result<[u8; 32], String> {
    let mut key = [0u8; 32];
    match OpenOptions::new().read(true).open(path) {
        Ok(mut file) => {
            let mode = file
                .metadata()
                .map_err(|err| err.to_string())?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(format!(
                    "its mode is {:04o}: others than its owner may use it (chmod 600)",
                    mode & 0o7777
                ));
            }
            if let Err(err) = file.read_exact(&mut key) {
                key.zeroize();
                return Err(if err.kind() == std::io::ErrorKind::UnexpectedEof {
                    "it is shorter than 32 bytes".to_owned()
                } else {
                    err.to_string()
                });
            }
        }
        Err(err) if create && err.kind() == std::io::ErrorKind::NotFound => {
            rand::fill(&mut key);
            let written = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .and_then(|mut file| {
                    file.write_all(&key)?;
                    file.sync_all()
                });
            if let Err(err) = written {
                key.zeroize();
                return Err(err.to_string());
            }
        }
        Err(err) => return Err(err.to_string()),
    }
    Ok(key)
}

/// The current key and the older ones, each checked.
fn stamp_keys(args: &RelayArgs, current: &Path) -> Result<StampKeys, String> {
    let mut key = stamp_key(current, true).map_err(|err| {
        format!(
            "cannot read or create the stamp key {}: {err}",
            current.display()
        )
    })?;
    let mut keys = StampKeys::new(StampKeyId(args.stamp_key_id), key);
    // `StampKeys` holds (and wipes) its own copy.
    key.zeroize();
    for (id, path) in &args.old_stamp_key {
        let mut key = stamp_key(path, false)
            .map_err(|err| format!("cannot read the stamp key {}: {err}", path.display()))?;
        let added = keys.add_older(StampKeyId(*id), key);
        key.zeroize();
        if !added {
            return Err(format!("the stamp key id {id} is given twice"));
        }
    }
    Ok(keys)
}

fn config(args: &RelayArgs, stamp_keys: StampKeys) -> RelayConfig {
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
const RESERVED_DESCRIPTORS: u64 = 64;

/// Raises the process's soft open-file limit to its hard limit, and lowers
/// `max_connections` to fit under it. A relay out of descriptors accepts no
/// one: that is how, under a limit of 256, a few hundred stalled request
/// heads made every other client's request wait until they timed out.
fn fit_open_files(config: &mut RelayConfig) {
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
fn network_limits(args: &RelayArgs, config: &mut RelayConfig) {
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

/// Completes on SIGTERM or SIGINT (Ctrl-C). The handlers are installed when
/// this is called, not when it is first polled, so that a signal sent as
/// soon as the relay has said it listens is not missed (and does not kill
/// the process outright).
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).ok();
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    async move {
        tokio::select! {
            () = next_signal(terminate.as_mut()) => {}
            () = next_signal(interrupt.as_mut()) => {}
        }
    }
}

/// Waits for the next delivery of `signal`; forever if it has no handler.
async fn next_signal(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Why the relay did not start, or stopped serving. The text names the file,
/// address or option at fault, never key bytes or a connection string.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// A stamp key file cannot be read or created, or is unsafe.
    StampKey(String),
    /// The TLS certificate or key cannot be used.
    Tls(crate::tls::TlsError),
    /// The address cannot be listened on.
    Listen {
        /// The address given.
        address: String,
        /// Why.
        reason: std::io::Error,
    },
    /// Plain HTTP was asked for on an address that is not loopback.
    PlainHttpRefused {
        /// The address given.
        address: String,
    },
    /// The database cannot be opened or used.
    Storage(String),
    /// The blob store cannot be opened or used, or its settings are
    /// incomplete.
    BlobStore(String),
    /// Serving failed after the relay had started.
    Serve(std::io::Error),
    /// [`run`] was given a subcommand (`invite`, `admin`), which it does not run.
    NotServing,
    /// The admin API was asked to listen on an address that is not
    /// loopback, without `--insecure-plain-http`.
    AdminNotLoopback {
        /// The address given.
        address: String,
    },
    /// `fuin-relay admin`: the credential file cannot be read, made or
    /// used.
    AdminCredential(String),
    /// `fuin-relay admin`: the admin API cannot be reached, or its answer
    /// cannot be read.
    AdminUnreachable(String),
    /// `fuin-relay admin`: the admin API refused the request.
    AdminRefused {
        /// The HTTP status.
        status: u16,
        /// The relay's stable error code (`spec/relay-api.md` §5).
        code: String,
        /// The relay's sentence.
        message: String,
    },
}

impl RunError {
    /// A stable word for the kind of failure, for machine-readable output.
    pub fn code(&self) -> &'static str {
        match self {
            Self::StampKey(_) => "stamp_key",
            Self::Tls(_) => "tls",
            Self::Listen { .. } => "listen",
            Self::PlainHttpRefused { .. } => "plain_http_refused",
            Self::Storage(_) => "storage",
            Self::BlobStore(_) => "blob_store",
            Self::Serve(_) => "serve",
            Self::NotServing => "usage",
            Self::AdminNotLoopback { .. } => "admin_not_loopback",
            Self::AdminCredential(_) => "admin_credential",
            Self::AdminUnreachable(_) => "admin_unreachable",
            Self::AdminRefused { .. } => "admin_refused",
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StampKey(why) | Self::Storage(why) | Self::BlobStore(why) => f.write_str(why),
            Self::Tls(err) => write!(f, "{err}"),
            Self::Listen { address, reason } => write!(f, "cannot listen on {address}: {reason}"),
            Self::PlainHttpRefused { address } => write!(
                f,
                "refusing to serve plain HTTP on {address}, which is not a loopback address: \
                 give --tls-cert and --tls-key, or --insecure-plain-http"
            ),
            Self::Serve(err) => write!(f, "{err}"),
            Self::NotServing => f.write_str("a subcommand was given; it does not serve"),
            Self::AdminNotLoopback { address } => write!(
                f,
                "refusing to serve the admin API on {address}, which is not a loopback \
                 address: give a loopback --admin-listen (and reach it through SSH), or \
                 --insecure-plain-http"
            ),
            Self::AdminCredential(why) | Self::AdminUnreachable(why) => f.write_str(why),
            Self::AdminRefused {
                status,
                code,
                message,
            } => write!(f, "the relay refused: {message} ({status} {code})"),
        }
    }
}

impl std::error::Error for RunError {}

/// The line the relay commands print on stdout once they listen; tests and
/// scripts read the address from it.
pub fn listening_line(address: SocketAddr) -> String {
    format!("fuin-relay listening on {address}")
}

/// The line the relay commands print after [`listening_line`] when the
/// admin API is served.
pub fn admin_listening_line(address: SocketAddr) -> String {
    format!("fuin-relay admin API listening on {address}")
}

/// Where a started relay listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    /// The API for devices.
    pub api: SocketAddr,
    /// The admin API, if served (`--admin-credential-hash`).
    pub admin: Option<SocketAddr>,
}

/// Runs the relay with `args`: calls `listening` with the address once it
/// listens, and returns when it has shut down (on SIGTERM or Ctrl-C, after
/// the bounded graceful shutdown of [`crate::serve_with`]).
pub async fn run(args: RelayArgs, listening: impl FnOnce(SocketAddr)) -> Result<(), RunError> {
    run_with(args, |at: Listening| listening(at.api)).await
}

/// [`run`], telling `listening` the admin API's address too.
pub async fn run_with(args: RelayArgs, listening: impl FnOnce(Listening)) -> Result<(), RunError> {
    if args.command.is_some() {
        return Err(RunError::NotServing);
    }
    let key_path = match (&args.stamp_key_file, &args.data) {
        (Some(path), _) => path.clone(),
        (None, Some(data)) => {
            let mut path = data.clone().into_os_string();
            path.push(".stamp-key");
            PathBuf::from(path)
        }
        (None, None) => {
            return Err(RunError::StampKey(
                "--postgres needs --stamp-key-file".into(),
            ));
        }
    };
    // A key file that is already there says this relay has run before (it
    // is made at the first start), so its database should not be new.
    let key_existed = key_path.exists();
    // A key made now is removed again if the start fails before a database
    // has recorded it (also when an older key given with it is refused), so
    // that the next start does not take it for a relay that ran.
    let mut new_key = NewKeyFile {
        path: (!key_existed).then(|| key_path.clone()),
    };
    let stamp_keys = stamp_keys(&args, &key_path).map_err(RunError::StampKey)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(crate::tls::server_config(cert, key).map_err(RunError::Tls)?)
        }
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|reason| RunError::Listen {
            address: args.listen.clone(),
            reason,
        })?;
    let address = listener.local_addr().map_err(|reason| RunError::Listen {
        address: args.listen.clone(),
        reason,
    })?;
    if tls.is_none() && !address.ip().to_canonical().is_loopback() && !args.insecure_plain_http {
        return Err(RunError::PlainHttpRefused {
            address: args.listen.clone(),
        });
    }
    let admin = match args.admin_credential_hash {
        Some(_) => Some(admin_listener(&args).await?),
        None => None,
    };
    let metrics_listener = match &args.metrics_listen {
        Some(metrics_address) => Some(
            tokio::net::TcpListener::bind(metrics_address)
                .await
                .map_err(|reason| RunError::Listen {
                    address: metrics_address.clone(),
                    reason,
                })?,
        ),
        None => None,
    };
    let listeners = Listeners {
        api: listener,
        address,
        metrics: metrics_listener,
        admin,
    };
    let mut config = config(&args, stamp_keys);
    fit_open_files(&mut config);
    if config.origins.is_empty() {
        // Where it listens, as bound (so `--listen 127.0.0.1:0` works).
        let scheme = if tls.is_some() { "https" } else { "http" };
        config
            .origins
            .extend(relay_origin(&format!("{scheme}://{address}")));
    }
    let origin = StoreOrigin {
        key_path: &key_path,
        key_existed,
        new_database: args.new_database,
    };
    let blobs = blob_store(&args)?;
    if let Some(conninfo) = &args.postgres {
        let password = postgres_password(
            conninfo,
            args.postgres_password_file.as_deref(),
            args.postgres_password.as_ref(),
        )
        .map_err(RunError::Storage)?;
        let store = PostgresStore::connect_with_password(
            conninfo,
            password
                .as_ref()
                .map(|password| password.expose().as_bytes()),
        )
        .await
        .map_err(|err| RunError::Storage(format!("cannot use the PostgreSQL database: {err}")))?;
        if let Err(err) = origin.check(&store, &config.stamp_keys, "PostgreSQL").await {
            store.close();
            return Err(err);
        }
        new_key.keep();
        return serve(store, "postgres", blobs, listeners, tls, config, listening).await;
    }
    let Some(data) = &args.data else {
        return Err(RunError::Storage("give --data or --postgres".into()));
    };
    let store = SqliteStore::open(data)
        .map_err(|err| RunError::Storage(format!("cannot open {}: {err}", data.display())))?;
    let database = format!("SQLite {}", data.display());
    origin.check(&store, &config.stamp_keys, &database).await?;
    new_key.keep();
    serve(store, "sqlite", blobs, listeners, tls, config, listening).await
}

/// A stamp key file this start made, removed on drop unless kept.
struct NewKeyFile {
    path: Option<PathBuf>,
}

impl NewKeyFile {
    /// A database has recorded the key: it stays.
    fn keep(&mut self) {
        self.path = None;
    }
}

impl Drop for NewKeyFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            // Best effort: a key left behind only makes the next start ask
            // for --new-database.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// What the relay knows at start about where its database came from.
struct StoreOrigin<'a> {
    /// The current stamp key file.
    key_path: &'a Path,
    /// Whether it existed before this start.
    key_existed: bool,
    /// `--new-database`.
    new_database: bool,
}

impl StoreOrigin<'_> {
    /// Refuses a database made with another stamp key than the current or
    /// an older one given (a foreign key file or a foreign database), and a
    /// new database where the key file says there was one (a deleted,
    /// emptied or replaced data file, unless `--new-database`); then
    /// records the current key's check value in the database.
    async fn check<S: Store>(
        &self,
        store: &S,
        keys: &StampKeys,
        database: &str,
    ) -> Result<(), RunError> {
        use subtle::ConstantTimeEq;
        let storage = |err: crate::store::StoreError| {
            RunError::Storage(format!("cannot use the {database} database: {err}"))
        };
        let recorded = store.stamp_key_check().await.map_err(storage)?;
        match &recorded {
            Some(check) => {
                let known = keys
                    .checks()
                    .iter()
                    .any(|key| bool::from(key.as_slice().ct_eq(check)));
                if !known {
                    return Err(RunError::Storage(format!(
                        "the {database} database was made with another stamp key than {} \
                         (or any --old-stamp-key given): the key file or the database belongs \
                         to another relay; give the key file the database was made with",
                        self.key_path.display()
                    )));
                }
            }
            // Nothing recorded: a database from before the check value
            // (then it holds devices), or one that holds nothing. A refused
            // start records nothing, so it is refused again next time.
            None if self.key_existed
                && !self.new_database
                && !store.has_devices().await.map_err(storage)? =>
            {
                let state = if store.was_new() {
                    "is new or empty"
                } else {
                    "holds no registered device"
                };
                return Err(RunError::Storage(format!(
                    "the stamp key {} existed before this start, but the {database} database \
                     {state} (deleted, emptied or replaced?): every device address could be \
                     claimed again; restore the database, or give --new-database once for a \
                     first start with a key made beforehand or to start an empty relay on \
                     purpose",
                    self.key_path.display()
                )));
            }
            None => {}
        }
        let current = keys.current_check();
        if recorded.as_deref() != Some(current.as_slice()) {
            store.set_stamp_key_check(current).await.map_err(storage)?;
        }
        Ok(())
    }
}

/// The admin API's listener, on a loopback address unless
/// `--insecure-plain-http`.
async fn admin_listener(args: &RelayArgs) -> Result<tokio::net::TcpListener, RunError> {
    let listen_error = |reason| RunError::Listen {
        address: args.admin_listen.clone(),
        reason,
    };
    let listener = tokio::net::TcpListener::bind(&args.admin_listen)
        .await
        .map_err(listen_error)?;
    let address = listener.local_addr().map_err(listen_error)?;
    if !address.ip().to_canonical().is_loopback() && !args.insecure_plain_http {
        return Err(RunError::AdminNotLoopback {
            address: args.admin_listen.clone(),
        });
    }
    Ok(listener)
}

/// The blob store the options name: an S3 bucket, `--blob-dir`, or the
/// directory next to the SQLite database.
fn blob_store(args: &RelayArgs) -> Result<Arc<dyn BlobStore>, RunError> {
    if let (Some(bucket), Some(endpoint)) = (&args.blob_s3_bucket, &args.blob_s3_endpoint) {
        let (access_key_id, secret_access_key) = s3_credentials(args)?;
        let settings = S3Settings {
            endpoint: endpoint.clone(),
            bucket: bucket.clone(),
            region: args.blob_s3_region.clone(),
            prefix: args.blob_s3_prefix.clone(),
            access_key_id,
            secret_access_key,
        };
        let store = S3BlobStore::new(&settings)
            .map_err(|err| RunError::BlobStore(format!("cannot use the S3 bucket: {err}")))?;
        return Ok(Arc::new(store));
    }
    let dir = match (&args.blob_dir, &args.data) {
        (Some(dir), _) => dir.clone(),
        (None, Some(data)) => {
            let mut dir = data.clone().into_os_string();
            dir.push(".blobs");
            PathBuf::from(dir)
        }
        (None, None) => {
            return Err(RunError::BlobStore(
                "--postgres needs --blob-dir or --blob-s3-bucket (every relay on the \
                 database must see the same blobs)"
                    .into(),
            ));
        }
    };
    FsBlobStore::open(&dir)
        .map(|store| Arc::new(store) as Arc<dyn BlobStore>)
        .map_err(|err| RunError::BlobStore(err.to_string()))
}

/// The environment variable with the S3 access key id.
pub const S3_ACCESS_KEY_ID_ENV: &str = "FUIN_RELAY_S3_ACCESS_KEY_ID";
/// The environment variable with the S3 secret access key.
pub const S3_SECRET_ACCESS_KEY_ENV: &str = "FUIN_RELAY_S3_SECRET_ACCESS_KEY";

/// The S3 credentials: from `--blob-s3-credentials-file` if given, else
/// from the environment. Never from the command line, where other users
/// of the machine see them.
fn s3_credentials(args: &RelayArgs) -> Result<(Zeroizing<String>, Zeroizing<String>), RunError> {
    if let Some(path) = &args.blob_s3_credentials_file {
        return s3_credentials_file(path).map_err(|why| {
            RunError::BlobStore(format!(
                "cannot read the S3 credentials file {}: {why}",
                path.display()
            ))
        });
    }
    let variable = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|value| Zeroizing::new(value.trim().to_owned()))
            .filter(|value| !value.is_empty())
            .ok_or_else(|| {
                RunError::BlobStore(format!(
                    "the S3 blob store needs {name} (or --blob-s3-credentials-file)"
                ))
            })
    };
    Ok((
        variable(S3_ACCESS_KEY_ID_ENV)?,
        variable(S3_SECRET_ACCESS_KEY_ENV)?,
    ))
}

/// Reads a credentials file: the access key id on the first line, the
/// secret on the second. A file others than its owner may use is refused.
fn s3_credentials_file(path: &Path) -> Result<(Zeroizing<String>, Zeroizing<String>), String> {
    let mut file = OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(|err| err.to_string())?;
    let mode = file
        .metadata()
        .map_err(|err| err.to_string())?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "its mode is {:04o}: others than its owner may use it (chmod 600)",
            mode & 0o7777
        ));
    }
    let mut text = Zeroizing::new(String::new());
    file.read_to_string(&mut text)
        .map_err(|_| "it is not UTF-8 text".to_owned())?;
    let mut lines = text.lines().map(str::trim);
    match (lines.next(), lines.next()) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Ok((
            Zeroizing::new(id.to_owned()),
            Zeroizing::new(secret.to_owned()),
        )),
        _ => Err("expected the access key id and the secret access key on two lines".into()),
    }
}

/// The system clock.
#[cfg(not(feature = "test-clock"))]
fn process_clock() -> crate::api::Clock {
    crate::api::system_clock()
}

/// The system clock, or one a test moves forward (see [`crate::test_clock`]).
#[cfg(feature = "test-clock")]
fn process_clock() -> crate::api::Clock {
    crate::test_clock::process_clock()
}

/// The relay's bound listeners: the API's, and the metrics one if asked for.
struct Listeners {
    api: tokio::net::TcpListener,
    address: SocketAddr,
    metrics: Option<tokio::net::TcpListener>,
    /// The admin API's, if an admin credential is configured.
    admin: Option<tokio::net::TcpListener>,
}

async fn serve<S: crate::store::Store>(
    store: S,
    backend: &'static str,
    blobs: Arc<dyn BlobStore>,
    listeners: Listeners,
    tls: Option<Arc<rustls::ServerConfig>>,
    config: RelayConfig,
    listening: impl FnOnce(Listening),
) -> Result<(), RunError> {
    // Blobs an older relay kept in the database move out before serving.
    crate::blobs::move_database_blobs(&store, blobs.as_ref())
        .await
        .map_err(|err| {
            RunError::BlobStore(format!("cannot move blobs out of the database: {err}"))
        })?;
    let relay = Relay::with_blob_store(store, blobs, config, process_clock());
    let shutdown = shutdown_signal();
    let metrics_server = listeners
        .metrics
        .map(|listener| serve_metrics(listener, relay.clone()));
    tracing::info!(
        address = %listeners.address,
        backend,
        tls = tls.is_some(),
        version = env!("CARGO_PKG_VERSION"),
        "listening"
    );
    let admin_address = listeners
        .admin
        .as_ref()
        .and_then(|admin| admin.local_addr().ok());
    if let Some(admin) = listeners.admin {
        // It stops once the relay begins shutting down.
        tokio::spawn(crate::server::serve_admin(admin, relay.clone()));
    }
    listening(Listening {
        api: listeners.address,
        admin: admin_address,
    });
    let served = crate::serve_with(listeners.api, relay, tls, shutdown)
        .await
        .map_err(RunError::Serve);
    if let Some(server) = metrics_server {
        server.abort();
    }
    served
}

/// Serves [`crate::api::metrics_router`] on `listener` until aborted.
fn serve_metrics<S: crate::store::Store>(
    listener: tokio::net::TcpListener,
    relay: Arc<Relay<S>>,
) -> tokio::task::JoinHandle<()> {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(address = %address, "metrics listening");
    }
    let app = crate::api::metrics_router(relay).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(error = %err, "the metrics listener failed");
        }
    })
}
