//! `fuin-relay`: the relay server. `fuin-relay --data ./relay.db` needs
//! nothing else: it creates the database and a stamp key file beside it, and
//! serves plain HTTP on loopback. With `--tls-cert` and `--tls-key` it serves
//! TLS, and may then listen on any address. Several relays can share one
//! PostgreSQL database instead (`--postgres CONNINFO --stamp-key-file PATH`,
//! the same key files for all). Every option can also be set in the
//! environment (`FUIN_RELAY_DATA`) or a TOML file (`--config relay.toml`).
//! `spec/relay-operations.md` §9 lists every option.
//!
//! The options and the server live in the library ([`fuin_relay::cli`]), so
//! that `fuin relay` takes the same options and runs the same code.
#![forbid(unsafe_code)]
// A command reports to its operator on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use fuin_relay::cli::{
    LogFormat, RelayArgs, admin_listening_line, listening_line, make_invites, run_admin, run_with,
};

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
    if let Some(admin) = cli.relay.admin() {
        return match run_admin(admin).await {
            Ok(answer) => {
                if admin.json() {
                    println!("{}", answer.json);
                } else if !answer.text.is_empty() {
                    println!("{}", answer.text);
                }
                ExitCode::SUCCESS
            }
            Err(err) => {
                if admin.json() {
                    let failure =
                        serde_json::json!({"error": err.code(), "message": err.to_string()});
                    println!("{failure}");
                }
                eprintln!("fuin-relay admin: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let listening = |at: fuin_relay::cli::Listening| {
        println!("{}", listening_line(at.api));
        if let Some(admin) = at.admin {
            println!("{}", admin_listening_line(admin));
        }
    };
    match run_with(cli.relay, listening).await {
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
