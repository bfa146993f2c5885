//! `fuin-relay-load`: a load tool for the relay.
//!
//! Simulated devices on loopback: `--senders` senders each send their share of
//! `--messages` envelopes of `--size` bytes, one request at a time, to
//! `--senders` recipients (sender `i`'s `k`-th envelope goes to recipient
//! `(i + k) mod n`), while every recipient long-polls its mailbox
//! (`--wait-ms`) and acknowledges what it fetched. With no `--relay` the tool
//! starts a relay in process on a temporary SQLite file (request limits
//! raised out of the way), or with `--postgres CONNINFO --nodes N` that many
//! relays in process, each with its own `PostgresStore` and port, on one
//! PostgreSQL database; with `--relay host:port` (up to four times) it loads
//! those (several nodes must share one database). With several nodes,
//! recipient `r` fetches from node `r mod nodes` and every envelope to it is
//! sent through node `(r + 1) mod nodes`: each delivery crosses nodes, so it
//! reaches a waiting recipient only through the cross-node wake-up.
//!
//! Each sealed body starts with a header naming the run, sender, recipient,
//! sequence number and send time, followed by pseudo-random bytes derived from
//! them, so the tool can tell, per envelope: lost (the relay answered 200 but
//! the recipient never got it, after a final drain of every mailbox),
//! duplicated, misdelivered (to another device than its header names, or from
//! another run) and corrupted (bytes or claimed sender changed). All must be
//! 0, the run must complete within `--timeout-secs`, and no request may fail;
//! otherwise the exit code is 1 (2 if the run could not be set up).
//!
//! `--baseline` also measures, on the same disk and before the load, raw
//! rusqlite inserts and deletes of rows like the relay's mailbox rows, with
//! the relay's pragmas: one transaction per insert and per delete, and batched
//! as the relay's group commit batches at best.
#![forbid(unsafe_code)]
// A command reports its results on stdout and its progress on stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod baseline;
mod body;
mod client;
mod commits;
mod ledger;
mod recipients;
mod relays;
mod report;
mod run;
mod senders;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rand::Rng;

use crate::report::print_report;
use crate::run::run;

/// Load a fuin relay with simulated devices on loopback and check that every
/// envelope the relay accepted arrives exactly once, at its addressee.
///
/// Exit code: 0 if the run completed with nothing lost, duplicated,
/// misdelivered or corrupted and no request failed; 1 otherwise (including a
/// run stopped by --timeout-secs); 2 if it could not be set up.
#[derive(Parser, Debug)]
// The name and short about it has printed (`--version`, `-h`) since it was a
// binary of the fuin-relay package, kept as they were.
#[command(
    name = "fuin-relay",
    version,
    about = "The fuin relay: an opaque store-and-forward server for sealed envelopes"
)]
pub(crate) struct Args {
    /// A relay to load (host:port) instead of one started in process. Give
    /// up to four, nodes sharing one database: each envelope is sent through
    /// another node than the one its recipient fetches from.
    #[arg(long = "relay", value_name = "ADDR", conflicts_with_all = ["postgres", "nodes"])]
    pub(crate) relays: Vec<String>,
    /// Start the in-process relays on this PostgreSQL database (libpq
    /// connection string or URL) instead of a temporary SQLite file. The
    /// run's devices (fresh names every run) stay registered in it.
    #[arg(long, value_name = "CONNINFO", conflicts_with = "baseline")]
    pub(crate) postgres: Option<String>,
    /// How many relays to start in process (1 to 4; more than 1 needs
    /// --postgres), sharing the database and a stamp key.
    #[arg(long, default_value_t = 1)]
    pub(crate) nodes: usize,
    /// How long each recipient's fetch waits for an envelope, in ms.
    #[arg(long, default_value_t = 1000)]
    pub(crate) wait_ms: u64,
    /// Concurrent senders (and as many recipients).
    #[arg(long, default_value_t = 64)]
    pub(crate) senders: usize,
    /// Envelopes to send in all.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) messages: usize,
    /// Bytes in each sealed body (at least the 32-byte header).
    #[arg(long, default_value_t = 1024)]
    pub(crate) size: usize,
    /// Stop after this many seconds (setup included) and report what there is.
    #[arg(long, default_value_t = 120)]
    pub(crate) timeout_secs: u64,
    /// Also measure the raw rusqlite baseline, before the load, on the same disk.
    #[arg(long)]
    pub(crate) baseline: bool,
    /// The longest each of the two baseline measurements runs.
    #[arg(long, default_value_t = 20)]
    pub(crate) baseline_secs: u64,
    /// Where to make the temporary directory (default: the system's).
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `N` random bytes: keys, the run's id, message ids.
pub(crate) fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let json = args.json;
    match run(args).await {
        Ok(report) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(err) => {
                        eprintln!("fuin-relay-load: {err}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                print_report(&report);
            }
            if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("fuin-relay-load: {err}");
            ExitCode::from(2)
        }
    }
}
