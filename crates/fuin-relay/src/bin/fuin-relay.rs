//! `fuin-relay`: the relay server. `fuin-relay --data ./relay.db` needs
//! nothing else: it creates the database and a stamp key file beside it, and
//! serves plain HTTP on loopback. With `--tls-cert` and `--tls-key` it serves
//! TLS, and may then listen on any address. Several relays can share one
//! PostgreSQL database instead (`--postgres CONNINFO --stamp-key-file PATH`,
//! the same key files for all). Every option can also be set in the
//! environment (`FUIN_RELAY_DATA`) or a TOML file (`--config relay.toml`).
//! `spec/relay-api.md` §9 lists every option.
//!
//! The options and the server live in the library ([`fuin_relay::cli`]), so
//! that `fuin relay` takes the same options and runs the same code.
#![forbid(unsafe_code)]
// A command reports to its operator on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use fuin_relay::cli::{LogFormat, RelayArgs, listening_line, make_invites, run};

/// The fuin relay: carries sealed envelopes between devices.
#[derive(clap::Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    relay: RelayArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    // Flags, then `FUIN_RELAY_*` variables, then `--config FILE`.
    let cli: Cli = fuin_relay::option_layers::parse(&[]);
    if let Err(err) = cli.relay.install_logging() {
        eprintln!("fuin-relay: {err}");
        return ExitCode::from(2);
    }
    let json_log = cli.relay.log_format() == LogFormat::Json;
    if let Some(invite) = cli.relay.invite() {
        return match make_invites(invite).await {
            Ok(codes) => {
                for code in codes {
                    println!("{code}");
                }
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("fuin-relay: {err}");
                ExitCode::FAILURE
            }
        };
    }
    match run(cli.relay, |address| println!("{}", listening_line(address))).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if json_log => {
            // A log collector reads stderr as JSON lines: say it as one.
            tracing::error!(code = err.code(), error = %err, "fuin-relay stopped");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("fuin-relay: {err}");
            ExitCode::FAILURE
        }
    }
}
