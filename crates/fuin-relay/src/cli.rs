//! The relay command: its options and what it does with them, shared by the
//! `fuin-relay` binary and the `fuin relay` subcommand so that both take
//! exactly the same options and run exactly the same server.
//!
//! [`run`] checks the options, opens the storage and the key files, listens,
//! tells the caller the address it listens on, and serves until SIGTERM or
//! Ctrl-C. It prints nothing itself: the caller reports to the operator, in
//! text (`fuin-relay listening on ADDR`, [`listening_line`]) or otherwise.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use fuin_wire::relay::relay_origin;

use crate::blobs::BlobStore;
pub use crate::observe::LogFormat;
use crate::store::Store;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::{Relay, RelayConfig};

mod admin;
mod args;
mod blob_store;
mod keys;

pub use admin::{AdminAction, AdminAnswer, AdminArgs, run_admin};
use args::*;
pub use args::{InviteArgs, RelayArgs, RelayCommand};
use blob_store::*;
pub use blob_store::{S3_ACCESS_KEY_ID_ENV, S3_SECRET_ACCESS_KEY_ENV};
use keys::*;

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
    // The blob store's settings are checked before the database is opened,
    // and the store itself opened once the database is known to belong with
    // the stamp key (which the database then records, so the key stays).
    if let Some(conninfo) = &args.postgres {
        let password = postgres_password(
            conninfo,
            args.postgres_password_file.as_deref(),
            args.postgres_password.as_ref(),
        )
        .map_err(RunError::Storage)?;
        check_blob_settings(&args)?;
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
        let blobs = match blob_store(&args) {
            Ok(blobs) => blobs,
            Err(err) => {
                store.close();
                return Err(err);
            }
        };
        return serve(store, "postgres", blobs, listeners, tls, config, listening).await;
    }
    let Some(data) = &args.data else {
        return Err(RunError::Storage("give --data or --postgres".into()));
    };
    check_blob_settings(&args)?;
    let store = SqliteStore::open(data)
        .map_err(|err| RunError::Storage(format!("cannot open {}: {err}", data.display())))?;
    let database = format!("SQLite {}", data.display());
    origin.check(&store, &config.stamp_keys, &database).await?;
    new_key.keep();
    let blobs = blob_store(&args)?;
    serve(store, "sqlite", blobs, listeners, tls, config, listening).await
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
