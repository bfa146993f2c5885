//! `fuin`: the fuin command.
//!
//! - `fuin demo` runs a relay and three users in this process and shows,
//!   step by step, what each device sees and what the relay's database
//!   holds ([`demo`]).
//! - `fuin relay` serves a relay; it takes exactly the options of the
//!   `fuin-relay` binary and runs the same code ([`fuin_relay::cli`]).
//! - `fuin init`, `link`, `devices`, `send`, `sync`, `history`,
//!   `conversations`, `read`, `safety-number` and `accept-identity` are a
//!   client, one device per store, enough to chat between two terminals
//!   ([`commands`]). `init` creates an account and its first device; `link`
//!   makes a new device of an account, approved on an existing one with
//!   `devices approve` (`spec/accounts.md`).
//! - `fuin group create | add | remove | leave | send | list | history`
//!   are group conversations ([`group`]).
//! - `fuin report` reports received messages to moderation, after showing
//!   exactly what will leave the device ([`report`]).
//! - `fuin moderate keygen | pull | open | audit verify` is the moderation
//!   tool ([`moderate`]).
//!
//! Every command takes `--json`. A failure is one line and a hint on
//! stderr (or `{"error": {"code", "message", "hint"}}` on stdout with
//! `--json`) and exit status 1; a command line that does not parse exits
//! with 2 (code `usage`). The codes are stable: the SDK's errors are
//! `relay_refused` (with the relay's `status` and `relay_code`),
//! `unreachable`, `relay_misbehaved`, `identity_changed` (with `user`),
//! `unknown_user` (with `user`), `invalid_argument`, `storage`, `key_file`
//! and `protocol`; the command's own are `no_store`, `store_exists`,
//! `relay_cert`, `demo_dir`, `demo_relay`, `relay_database`, `runtime`, the
//! moderation tool's `moderation_files`, `moderation_key`, `credential`,
//! `stamp_keys`, `moderation_relay`, `inbox`, `audit_log`,
//! `audit_log_broken` (with `record`) and `report_refused`, and for
//! `fuin relay` those of [`fuin_relay::cli::RunError::code`].
#![forbid(unsafe_code)]

mod commands;
mod demo;
mod files;
mod group;
mod identifier;
mod moderate;
mod output;
mod progress;
mod report;
mod views;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::json;

use crate::commands::{CrashStep, StoreArgs};
use crate::output::{Answer, EXIT_USAGE, Failure, Output};

/// fuin: end-to-end encrypted messaging through a relay that cannot read it.
#[derive(Parser)]
#[command(name = "fuin", version)]
struct Cli {
    /// Print machine-readable JSON on stdout instead of text (failures too).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a relay and three users in this process, and show what the relay holds.
    Demo(demo::DemoArgs),
    /// Serve a relay (the options of `fuin-relay`).
    Relay(Box<fuin_relay::cli::RelayArgs>),
    /// Create a new account and its first device at a relay (a new device
    /// of an existing account joins with `fuin link` instead).
    Init {
        #[command(flatten)]
        store: StoreArgs,
        /// The relay's URL, such as http://127.0.0.1:8080.
        #[arg(long)]
        relay: String,
        /// The new account's user id.
        #[arg(long)]
        user: String,
        /// The device's number among the user's devices.
        #[arg(long, default_value_t = 1)]
        device: u32,
        /// The device's name, shown to your contacts ("phone"; `device N`
        /// if not given).
        #[arg(long)]
        name: Option<String>,
        /// An invite code from the relay's operator (64 hex digits), for a
        /// relay that creates accounts by invitation only.
        #[arg(long, value_name = "HEX", env = "FUIN_INVITE", hide_env_values = true)]
        invite: Option<String>,
    },
    /// Make this store a new device of your account: shows a link code (a QR
    /// code and 60 digits) to approve on one of your devices with `fuin
    /// devices approve`, and waits for it.
    Link {
        #[command(flatten)]
        store: StoreArgs,
        /// The relay's URL (the one your other devices use).
        #[arg(long)]
        relay: String,
        /// Your user id: a device of any other user cannot approve the code.
        #[arg(long)]
        user: Option<String>,
        /// This device's name, shown to your contacts ("laptop").
        #[arg(long)]
        name: String,
        /// Wait this many seconds for the approval (the code works for 10 minutes).
        #[arg(long, default_value_t = 600, value_name = "SECS",
              value_parser = clap::value_parser!(u64).range(1..=600))]
        wait: u64,
    },
    /// List this account's devices; approve a new one's link code; remove one.
    Devices(DevicesArgs),
    /// Send a text message to a user (all their devices, and your other ones).
    Send {
        #[command(flatten)]
        store: StoreArgs,
        /// Who to send to.
        user: String,
        /// What to say.
        text: String,
        /// Abort the process at this step (for crash tests).
        #[arg(long, hide = true, value_enum)]
        crash_at: Option<CrashStep>,
    },
    /// Fetch what arrived, show it, and acknowledge it at the relay.
    Sync {
        #[command(flatten)]
        store: StoreArgs,
        /// Wait up to this many seconds for something to arrive.
        #[arg(long, default_value_t = 0, value_name = "SECS",
              value_parser = clap::value_parser!(u64).range(0..=3600))]
        wait: u64,
        /// Abort the process at this step (for crash tests, see
        /// `crates/fuin-cli/tests/crash.rs`).
        #[arg(long, hide = true, value_enum)]
        crash_at: Option<CrashStep>,
    },
    /// Show the last messages with a user (times are UTC).
    History {
        #[command(flatten)]
        store: StoreArgs,
        /// The other user.
        user: String,
        /// How many messages, the latest.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// List conversations, the most recent first.
    Conversations {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Mark a conversation read and send read receipts.
    Read {
        #[command(flatten)]
        store: StoreArgs,
        /// The other user.
        user: String,
    },
    /// Show the safety number to compare with a user (from your two account keys).
    SafetyNumber {
        #[command(flatten)]
        store: StoreArgs,
        /// The other user.
        user: String,
    },
    /// Accept a user's new account key, after comparing the new safety number.
    AcceptIdentity {
        #[command(flatten)]
        store: StoreArgs,
        /// The user.
        user: String,
    },
    /// Send a file: sealed on this device (with a thumbnail for images), shared end to end.
    SendFile(files::SendFileArgs),
    /// Download, check and write out a received attachment (or its thumbnail).
    Fetch(files::FetchArgs),
    /// Group conversations: create, add, remove, leave, send, list, history.
    Group {
        #[command(subcommand)]
        command: group::GroupCommand,
    },
    /// The identifier to hand an outside audience (a mini-app, a bot): for
    /// yourself, or for a conversation (per audience and per user), or a
    /// group's shared one (only once a member shared a consent).
    Identifier(identifier::IdentifierArgs),
    /// Report received messages to moderation (shows them and asks first).
    Report(report::ReportArgs),
    /// The moderation tool: keys, the relay's report inbox, opening reports, the audit log.
    Moderate {
        #[command(subcommand)]
        command: moderate::ModerateCommand,
    },
}

/// `fuin devices`: the list, or one of its subcommands. The store's
/// options are global to them, so they may come before or after the
/// subcommand.
#[derive(clap::Args)]
struct DevicesArgs {
    /// The device's local store (its storage key file is beside it, PATH.key).
    #[arg(
        long,
        env = "FUIN_STORE",
        default_value = "./fuin.db",
        value_name = "PATH",
        global = true
    )]
    store: std::path::PathBuf,
    /// Trust this PEM certificate for the relay's TLS (a relay with a
    /// self-signed certificate).
    #[arg(long, value_name = "PEM", global = true)]
    relay_cert: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Option<DevicesCommand>,
}

#[derive(Subcommand)]
enum DevicesCommand {
    /// Link the new device that shows this code (`fuin link` on it).
    Approve {
        /// The code: its 60 digits (with or without spaces) or its
        /// `fuin-link:` text.
        #[arg(required = true, num_args = 1.., value_name = "CODE")]
        code: Vec<String>,
    },
    /// Remove a device from the account (a lost or sold one): no one seals
    /// to it any more, and the relay revokes it.
    Remove {
        /// The device's number (or USER/NUMBER), as `fuin devices` lists it.
        device: String,
    },
}

fn main() -> ExitCode {
    let json_requested = std::env::args_os().skip(1).any(|arg| arg == "--json");
    // `fuin relay` takes its options in layers, as `fuin-relay` does.
    let cli =
        match fuin_relay::option_layers::try_parse_from::<Cli>(std::env::args_os(), &["relay"]) {
            Ok(cli) => cli,
            Err(err) => return usage_error(&err, json_requested),
        };
    let out = Output { json: cli.json };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            return failed(
                out,
                &Failure::new(
                    "runtime",
                    format!("cannot start: {err}"),
                    "the system is short of threads or memory",
                ),
            );
        }
    };
    let result = runtime.block_on(run(cli.command, out));
    match result {
        Ok(answer) => {
            out.answer(&answer);
            ExitCode::SUCCESS
        }
        Err(failure) => failed(out, &failure),
    }
}

async fn run(command: Command, out: Output) -> Result<Answer, Failure> {
    match command {
        Command::Demo(args) => demo::run(args, out).await,
        Command::Relay(args) => relay(*args, out).await,
        Command::Init {
            store,
            relay,
            user,
            device,
            name,
            invite,
        } => {
            let args = commands::InitArgs {
                relay,
                user,
                device,
                name,
                invite,
            };
            commands::init(&store, &args).await
        }
        Command::Link {
            store,
            relay,
            user,
            name,
            wait,
        } => commands::link(&store, &relay, user.as_deref(), &name, wait, out).await,
        Command::Devices(args) => {
            let store = StoreArgs {
                store: args.store,
                relay_cert: args.relay_cert,
            };
            match args.command {
                None => commands::devices(&store).await,
                Some(DevicesCommand::Approve { code }) => commands::approve(&store, &code).await,
                Some(DevicesCommand::Remove { device }) => commands::remove(&store, &device).await,
            }
        }
        Command::Send {
            store,
            user,
            text,
            crash_at,
        } => commands::send(&store, &user, &text, crash_at).await,
        Command::Sync {
            store,
            wait,
            crash_at,
        } => commands::sync(&store, wait, crash_at).await,
        Command::History { store, user, limit } => commands::history(&store, &user, limit).await,
        Command::Conversations { store } => commands::conversations(&store).await,
        Command::Read { store, user } => commands::read(&store, &user).await,
        Command::SafetyNumber { store, user } => commands::safety_number(&store, &user).await,
        Command::AcceptIdentity { store, user } => commands::accept_identity(&store, &user).await,
        Command::SendFile(args) => files::send_file(args).await,
        Command::Fetch(args) => files::fetch(args).await,
        Command::Group { command } => group::run(command).await,
        Command::Identifier(args) => identifier::run(args).await,
        Command::Report(args) => report::run(args, out).await,
        Command::Moderate { command } => moderate::run(command).await,
    }
}

/// `fuin relay`: prints the same first line as `fuin-relay` (or, with
/// `--json`, `{"listening": ADDR}`, with `"admin": ADDR` when the admin API
/// is served, which in text is a second line), then serves until SIGTERM or
/// Ctrl-C. `fuin relay invite` and `fuin relay admin` answer and exit.
async fn relay(args: fuin_relay::cli::RelayArgs, out: Output) -> Result<Answer, Failure> {
    if let Some(invite) = args.invite() {
        // `fuin relay invite`: the codes, one a line (or `{"invites": [...]}`).
        let codes = fuin_relay::cli::make_invites(invite).await.map_err(|err| {
            Failure::new(
                err.code(),
                err.to_string(),
                "see fuin relay invite --help and spec/relay-operations.md §9",
            )
        })?;
        return Ok(Answer {
            text: codes.join("\n"),
            json: json!({ "invites": codes }),
        });
    }
    if let Some(admin) = args.admin() {
        // `fuin relay admin`: one request to the relay's admin API.
        let answer = fuin_relay::cli::run_admin(admin).await.map_err(|err| {
            Failure::new(
                err.code(),
                err.to_string(),
                "see fuin relay admin --help and spec/relay-operations.md §12",
            )
        })?;
        // `--json` given after `admin` asks for JSON as the global one does.
        let text = if admin.json() {
            answer.json.to_string()
        } else {
            answer.text
        };
        return Ok(Answer {
            text,
            json: answer.json,
        });
    }
    // The same log on stderr as `fuin-relay` (`--log-format`, `--log-level`).
    args.install_logging().map_err(|err| {
        Failure::new(
            "usage",
            err,
            "see fuin relay --help and spec/relay-operations.md §9",
        )
    })?;
    fuin_relay::cli::run_with(args, |at| {
        if out.json {
            let mut listening = json!({ "listening": at.api.to_string() });
            if let Some(admin) = at.admin {
                listening["admin"] = json!(admin.to_string());
            }
            output::stdout_line(&listening.to_string());
        } else {
            output::stdout_line(&fuin_relay::cli::listening_line(at.api));
            if let Some(admin) = at.admin {
                output::stdout_line(&fuin_relay::cli::admin_listening_line(admin));
            }
        }
    })
    .await
    .map_err(|err| {
        Failure::new(
            err.code(),
            err.to_string(),
            "see fuin relay --help and spec/relay-operations.md §9",
        )
    })?;
    Ok(Answer {
        text: String::new(),
        json: json!({ "stopped": true }),
    })
}

fn failed(out: Output, failure: &Failure) -> ExitCode {
    out.failure(failure);
    ExitCode::from(failure.exit)
}

/// A command line clap could not parse (or a request for help): clap's own
/// output, or with `--json` the error shape, and exit status 2.
fn usage_error(err: &clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind;
    let informational = matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    );
    if informational || !json {
        let _ = err.print();
        return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(EXIT_USAGE));
    }
    // clap's first paragraph says what is wrong; usage and tips follow.
    let rendered = err.render().to_string();
    let message = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let message = message.trim_start_matches("error: ").to_owned();
    let mut failure = Failure::new("usage", message, "see fuin --help");
    failure.exit = EXIT_USAGE;
    failed(Output { json: true }, &failure)
}
