//! `fuin moderate serve` and `fuin moderate account add`: the moderation
//! service (crate `fuin-moderation`, `spec/report.md` §13) and its
//! accounts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fuin_moderation::accounts::{CreateAccountError, create_account};
use fuin_moderation::config::{ServiceFiles, read_secret};
use fuin_moderation::ingest::{InboxError, Ingest, RelayInbox};
use fuin_moderation::messenger::ClientMessenger;
use fuin_moderation::model::{AccountName, LockoutPolicy, Role, SERVICE_ACTOR};
use fuin_moderation::relay_admin::HttpRelayAdmin;
use fuin_moderation::service::{Messenger, Service, system_clock};
use fuin_moderation::store::postgres::PgStore;
use fuin_moderation::store::sqlite::SqliteStore;
use fuin_moderation::store::{ModerationStore, StoreError};
use serde_json::json;
use zeroize::Zeroizing;

use super::files::config_failure;
use crate::output::{self, Answer, Failure};

/// `fuin moderate serve`'s options.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Where the console listens (plain HTTP: put it behind a TLS proxy, or
    /// keep it on loopback).
    #[arg(long, default_value = "127.0.0.1:8470")]
    pub listen: SocketAddr,
    /// The service's database: sqlite:PATH (one instance) or
    /// postgres:CONNINFO (several instances may share it).
    #[arg(long, value_name = "sqlite:PATH | postgres:CONNINFO")]
    pub database: String,
    /// Moderation's secret key (moderation.key, mode 0600).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The stamp-key set (spec/report.md §9); its key files mode 0600.
    #[arg(long, value_name = "FILE")]
    pub stamp_keys: PathBuf,
    /// The relay's URL (its report inbox).
    #[arg(long, value_name = "URL")]
    pub relay: String,
    /// The relay inbox credential (mode 0600).
    #[arg(long, value_name = "FILE")]
    pub inbox_credential: PathBuf,
    /// The relay's admin API (its --admin-listen address), for suspending
    /// users and removing devices.
    #[arg(long, value_name = "URL")]
    pub admin_url: String,
    /// The relay's admin credential (mode 0600).
    #[arg(long, value_name = "FILE")]
    pub admin_credential: PathBuf,
    /// The key sealing report content in the database (32 bytes, mode
    /// 0600); made if the file does not exist.
    #[arg(long, value_name = "FILE")]
    pub vault_key: PathBuf,
    /// Moderation's own device (a store made with fuin init): re-fetches
    /// reported attachments and sends feedback and warnings end to end.
    /// Without it, neither is done.
    #[arg(long, value_name = "STORE")]
    pub device: Option<PathBuf>,
    /// Trust this PEM certificate for the relay's TLS.
    #[arg(long, value_name = "PEM")]
    pub relay_cert: Option<PathBuf>,
    /// Seconds between two pulls of the relay's inbox.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub pull_interval_secs: u64,
    /// Session cookies without the Secure flag, for a console served over
    /// plain HTTP on loopback only (refused on any other address).
    #[arg(long)]
    pub insecure_cookies: bool,
    /// The log's format on stderr (as the relay's).
    #[arg(long, value_enum, default_value_t = fuin_relay::observe::LogFormat::Text)]
    pub log_format: fuin_relay::observe::LogFormat,
    /// The log's level or filter (default info, or RUST_LOG).
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// `fuin moderate account add`'s options.
#[derive(clap::Args)]
pub struct AccountAddArgs {
    /// The service's database: sqlite:PATH or postgres:CONNINFO.
    #[arg(long, value_name = "sqlite:PATH | postgres:CONNINFO")]
    pub database: String,
    /// The account's name (1 to 64 of a-z, 0-9, '.', '_', '-').
    #[arg(long)]
    pub name: String,
    /// What it may do.
    #[arg(long, value_parser = ["moderator", "lead"])]
    pub role: String,
    /// Read the password from this file (mode 0600) instead of stdin.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// Which database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection string.
    Postgres(String),
}

/// Reads `--database`.
pub fn database(text: &str) -> Result<Database, Failure> {
    if let Some(path) = text.strip_prefix("sqlite:")
        && !path.is_empty()
    {
        return Ok(Database::Sqlite(PathBuf::from(path)));
    }
    if let Some(conninfo) = text.strip_prefix("postgres:")
        && !conninfo.is_empty()
    {
        return Ok(Database::Postgres(conninfo.to_owned()));
    }
    Err(Failure::new(
        "invalid_argument",
        "--database is sqlite:PATH or postgres:CONNINFO",
        "such as --database sqlite:/var/lib/fuin-moderation/cases.db",
    ))
}

/// Refuses `--insecure-cookies` off loopback.
pub fn check_cookies(listen: &SocketAddr, insecure_cookies: bool) -> Result<(), Failure> {
    if insecure_cookies && !listen.ip().is_loopback() {
        return Err(Failure::new(
            "invalid_argument",
            format!(
                "--insecure-cookies is only allowed on a loopback address, not {listen}: \
                 session cookies without Secure would cross the network in the clear"
            ),
            "listen on 127.0.0.1 (or ::1), or serve the console over TLS without --insecure-cookies",
        ));
    }
    Ok(())
}

fn read_file(path: &Path, code: &'static str, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|err| {
        Failure::new(
            code,
            format!("cannot read {what} {}: {err}", path.display()),
            "give a readable file",
        )
    })
}

/// Everything `serve` needs besides the store, checked before the store is
/// opened.
pub struct Prepared {
    ingest: Ingest,
    admin: HttpRelayAdmin,
    vault: fuin_moderation::vault::Vault,
    messenger: Option<Arc<dyn Messenger>>,
    listener: tokio::net::TcpListener,
}

/// Loads the files, opens the device, binds the listener.
pub async fn prepare(args: &ServeArgs) -> Result<Prepared, Failure> {
    check_cookies(&args.listen, args.insecure_cookies)?;
    // The relay's log setup: routes, statuses, accounts and codes, never
    // report content (the service logs none).
    fuin_relay::observe::install_logging(args.log_format, args.log_level.as_deref())
        .map_err(|err| Failure::new("invalid_argument", err, "see fuin moderate serve --help"))?;
    let files = ServiceFiles {
        key: args.key.clone(),
        stamp_keys: args.stamp_keys.clone(),
        inbox_credential: args.inbox_credential.clone(),
        admin_credential: args.admin_credential.clone(),
        vault_key: args.vault_key.clone(),
    };
    let secrets = files.load().map_err(config_failure)?;
    let certificate = match &args.relay_cert {
        Some(path) => Some(read_file(path, "relay_cert", "the certificate")?),
        None => None,
    };
    let inbox = RelayInbox::new(
        &args.relay,
        secrets.inbox_credential,
        certificate.as_deref(),
    )
    .map_err(|err| match err {
        InboxError::Certificate(_) => Failure::new(
            "relay_cert",
            err.to_string(),
            "give the relay's certificate as a PEM file",
        ),
        _ => Failure::new(
            "invalid_argument",
            err.to_string(),
            "give the relay's URL, such as https://relay.example",
        ),
    })?;
    let admin = HttpRelayAdmin::new(&args.admin_url, secrets.admin_credential).map_err(|err| {
        Failure::new(
            "invalid_argument",
            err.to_string(),
            "give the relay's --admin-listen address, such as http://127.0.0.1:8081",
        )
    })?;
    let device = match &args.device {
        Some(store) => Some(super::attachments::device(store, certificate.clone()).await?),
        None => None,
    };
    let messenger = device
        .clone()
        .map(|client| Arc::new(ClientMessenger::new(client)) as Arc<dyn Messenger>);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|err| {
            Failure::new(
                "listen",
                format!("cannot listen on {}: {err}", args.listen),
                "give --listen a free address",
            )
        })?;
    Ok(Prepared {
        ingest: Ingest {
            inbox,
            moderator: secrets.moderator,
            device,
        },
        admin,
        vault: secrets.vault,
        messenger,
        listener,
    })
}

/// Serves with `store` until SIGINT or SIGTERM.
pub async fn serve_with<S: ModerationStore>(
    store: S,
    prepared: Prepared,
    args: &ServeArgs,
) -> Result<Answer, Failure> {
    let Prepared {
        ingest,
        admin,
        vault,
        messenger,
        listener,
    } = prepared;
    let service = Arc::new(Service {
        store,
        vault,
        admin: Arc::new(admin),
        messenger,
        clock: system_clock(),
        lockout: LockoutPolicy::default(),
        secure_cookies: !args.insecure_cookies,
    });
    let at = listener.local_addr().map_err(|err| {
        Failure::new("listen", format!("the listener failed: {err}"), "try again")
    })?;
    output::stdout_line(&format!(
        "fuin moderate serve: the console is at http://{at}/ (pulling {} every {}s)",
        args.relay, args.pull_interval_secs
    ));
    fuin_moderation::serve::serve(
        service,
        Arc::new(ingest),
        listener,
        Duration::from_secs(args.pull_interval_secs),
        fuin_moderation::serve::shutdown_signal(),
    )
    .await
    .map_err(|err| {
        Failure::new(
            "serve",
            format!("the console stopped: {err}"),
            "see the log above",
        )
    })?;
    Ok(Answer {
        text: "fuin moderate serve: stopped".to_owned(),
        json: json!({ "stopped": true, "listening": at.to_string() }),
    })
}

/// Opens the database `--database` names.
fn open_sqlite(path: &Path) -> Result<SqliteStore, Failure> {
    SqliteStore::open(path).map_err(|err| {
        Failure::new(
            "database",
            format!("cannot use the database {}: {err}", path.display()),
            "give --database sqlite:PATH a writable place (the file is made with mode 0600)",
        )
    })
}

/// Connects to the PostgreSQL database `--database` names.
async fn connect_postgres(conninfo: &str) -> Result<PgStore, Failure> {
    // The connection string may hold a password: the failure names only
    // the store's own message.
    PgStore::connect(conninfo).await.map_err(|err| {
        Failure::new(
            "database",
            format!("cannot use the PostgreSQL database: {err}"),
            "check --database postgres:CONNINFO (host, user, dbname) and that the server runs",
        )
    })
}

/// `fuin moderate serve`.
pub async fn serve(args: &ServeArgs) -> Result<Answer, Failure> {
    let database = database(&args.database)?;
    let prepared = prepare(args).await?;
    match database {
        Database::Sqlite(path) => serve_with(open_sqlite(&path)?, prepared, args).await,
        Database::Postgres(conninfo) => {
            serve_with(connect_postgres(&conninfo).await?, prepared, args).await
        }
    }
}

/// The password: the first line of stdin, or of `--password-file` (mode
/// 0600).
fn read_password(file: Option<&Path>) -> Result<Zeroizing<String>, Failure> {
    let bytes = match file {
        Some(path) => {
            read_secret(path, "password_file", "the password file").map_err(config_failure)?
        }
        None => {
            let mut line = Zeroizing::new(String::new());
            std::io::stdin().read_line(&mut line).map_err(|err| {
                Failure::new(
                    "password",
                    format!("cannot read the password from stdin: {err}"),
                    "give the password on stdin, or --password-file FILE",
                )
            })?;
            Zeroizing::new(line.as_bytes().to_vec())
        }
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Failure::new(
            "password",
            "the password is not UTF-8",
            "give the password as text",
        )
    })?;
    let first = text.split(['\n', '\r']).next().unwrap_or("");
    Ok(Zeroizing::new(first.to_owned()))
}

/// Makes the account in `store`, recorded as done by the service.
async fn add_to<S: ModerationStore>(
    store: &S,
    name: &AccountName,
    role: Role,
    password: &str,
) -> Result<(), CreateAccountError> {
    create_account(store, name, role, password, SERVICE_ACTOR, super::now_ms()).await
}

/// `fuin moderate account add`.
pub async fn account_add(args: &AccountAddArgs) -> Result<Answer, Failure> {
    let database = database(&args.database)?;
    let name = AccountName::new(&args.name).map_err(|err| {
        Failure::new(
            "invalid_argument",
            err.to_string(),
            "give --name such as alex",
        )
    })?;
    let role = Role::parse(&args.role).ok_or_else(|| {
        Failure::new(
            "invalid_argument",
            "--role is moderator or lead",
            "give --role moderator or --role lead",
        )
    })?;
    let password = read_password(args.password_file.as_deref())?;
    let made = match database {
        Database::Sqlite(path) => add_to(&open_sqlite(&path)?, &name, role, &password).await,
        Database::Postgres(conninfo) => {
            add_to(&connect_postgres(&conninfo).await?, &name, role, &password).await
        }
    };
    made.map_err(|err| match err {
        CreateAccountError::Password(_) => Failure::new(
            "password",
            err.to_string(),
            "choose a longer password (a passphrase of several words)",
        ),
        CreateAccountError::Store(StoreError::AccountExists) => Failure::new(
            "account_exists",
            format!("an account named {name} exists"),
            "choose another name",
        ),
        CreateAccountError::Store(_) => {
            Failure::new("database", err.to_string(), "check the database")
        }
    })?;
    Ok(Answer {
        text: format!("account {name} ({}) made", role.as_str()),
        json: json!({ "account": name.as_str(), "role": role.as_str() }),
    })
}
