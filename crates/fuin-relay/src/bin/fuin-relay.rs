//! `fuin-relay`: the relay server. `fuin-relay --data ./relay.db` needs
//! nothing else: it creates the database and a stamp key file beside it.
//! Several relays can share one PostgreSQL database instead
//! (`--postgres CONNINFO --stamp-key-file PATH`, the same key file for all).
#![forbid(unsafe_code)]
// A command reports to its operator on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use fuin_relay::api::system_clock;
use fuin_relay::franking::StampKeys;
use fuin_relay::store::postgres::PostgresStore;
use fuin_relay::store::sqlite::SqliteStore;
use fuin_relay::{Relay, RelayConfig};
use fuin_wire::StampKeyId;

/// The fuin relay: carries sealed envelopes between devices.
#[derive(Parser)]
#[command(version)]
#[command(group(clap::ArgGroup::new("storage").required(true).args(["data", "postgres"])))]
struct Args {
    /// The SQLite database (created if missing).
    #[arg(long)]
    data: Option<PathBuf>,
    /// A PostgreSQL database shared with other relays (libpq connection
    /// string or URL), instead of `--data`.
    #[arg(long, requires = "stamp_key_file")]
    postgres: Option<String>,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// The franking stamp key file: 32 bytes, created (mode 0600) if missing.
    /// Defaults to the database path with `.stamp-key` appended; required
    /// with `--postgres` (every relay on the database must use the same key).
    #[arg(long)]
    stamp_key_file: Option<PathBuf>,
    /// The id stamps made with this key carry.
    #[arg(long, default_value_t = 1)]
    stamp_key_id: u32,
    /// SHA-256 of the moderation tool's 32-byte credential, as 64 hex
    /// digits; without it the moderation endpoints do not exist.
    #[arg(long, value_name = "HEX", value_parser = parse_credential_hash)]
    moderation_credential_hash: Option<[u8; 32]>,
    /// The longest blob (sealed attachment) the relay stores, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    max_blob_len: usize,
}

fn parse_credential_hash(text: &str) -> Result<[u8; 32], String> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut hash)
        .map_err(|_| "expected 64 hex digits (a SHA-256)".to_owned())?;
    Ok(hash)
}

fn stamp_key(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut key = [0u8; 32];
    match OpenOptions::new().read(true).open(path) {
        Ok(mut file) => {
            file.read_exact(&mut key)?;
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            rand::fill(&mut key);
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)?;
            file.write_all(&key)?;
            file.sync_all()?;
        }
        Err(err) => return Err(err),
    }
    Ok(key)
}

async fn shutdown_signal() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match terminate.as_mut() {
                Some(signal) => { signal.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

async fn run<S: fuin_relay::store::Store>(
    store: S,
    listener: tokio::net::TcpListener,
    config: RelayConfig,
) -> ExitCode {
    let relay = Relay::new(store, config, system_clock());
    match listener.local_addr() {
        Ok(address) => println!("fuin-relay listening on {address}"),
        Err(err) => eprintln!("fuin-relay: {err}"),
    }
    if let Err(err) = fuin_relay::serve(listener, relay, shutdown_signal()).await {
        eprintln!("fuin-relay: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let key_path = match (&args.stamp_key_file, &args.data) {
        (Some(path), _) => path.clone(),
        (None, Some(data)) => {
            let mut path = data.clone().into_os_string();
            path.push(".stamp-key");
            PathBuf::from(path)
        }
        (None, None) => {
            eprintln!("fuin-relay: --postgres needs --stamp-key-file");
            return ExitCode::FAILURE;
        }
    };
    let mut key = match stamp_key(&key_path) {
        Ok(key) => key,
        Err(err) => {
            eprintln!(
                "fuin-relay: cannot read or create the stamp key {}: {err}",
                key_path.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("fuin-relay: cannot listen on {}: {err}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let mut config = RelayConfig::new(StampKeys::new(StampKeyId(args.stamp_key_id), key));
    config.moderation_credential_hash = args.moderation_credential_hash;
    config.max_blob_len = args.max_blob_len;
    // The key now lives (and is wiped) inside `StampKeys`; wipe this copy.
    zeroize::Zeroize::zeroize(&mut key);
    if let Some(conninfo) = &args.postgres {
        return match PostgresStore::connect(conninfo).await {
            Ok(store) => run(store, listener, config).await,
            Err(err) => {
                eprintln!("fuin-relay: cannot use the PostgreSQL database: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let Some(data) = &args.data else {
        eprintln!("fuin-relay: give --data or --postgres");
        return ExitCode::FAILURE;
    };
    match SqliteStore::open(data) {
        Ok(store) => run(store, listener, config).await,
        Err(err) => {
            eprintln!("fuin-relay: cannot open {}: {err}", data.display());
            ExitCode::FAILURE
        }
    }
}
