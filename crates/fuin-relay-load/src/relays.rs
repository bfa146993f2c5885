//! Relays started in process for a run, with request limits raised out of
//! the way, and how to stop them.

use std::path::Path;

use fuin_relay::api::system_clock;
use fuin_relay::franking::StampKeys;
use fuin_relay::store::Store;
use fuin_relay::store::postgres::PostgresStore;
use fuin_relay::store::sqlite::SqliteStore;
use fuin_relay::{Relay, RelayConfig};
use fuin_wire::StampKeyId;

use crate::random;

/// A relay started in this process, and how to stop it.
pub(crate) struct InProcess {
    pub(crate) stop: tokio::sync::oneshot::Sender<()>,
    pub(crate) server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Where the in-process relays keep their data.
pub(crate) enum Backend<'a> {
    Sqlite(&'a Path),
    Postgres(&'a str),
}

/// Starts `nodes` relays in process on `backend`, sharing a stamp key.
pub(crate) async fn start_relays(
    backend: Backend<'_>,
    nodes: usize,
) -> Result<(Vec<String>, Vec<InProcess>), String> {
    let stamp_key: [u8; 32] = random();
    let (mut addresses, mut handles) = (Vec::new(), Vec::new());
    for _ in 0..nodes {
        let keys = StampKeys::new(StampKeyId(1), stamp_key);
        let (address, handle) = match backend {
            Backend::Sqlite(path) => {
                let store = SqliteStore::open(path)
                    .map_err(|err| format!("opening the relay store: {err}"))?;
                start_relay(store, keys).await?
            }
            Backend::Postgres(conninfo) => {
                let store = PostgresStore::connect(conninfo)
                    .await
                    .map_err(|err| format!("opening the relay store: {err}"))?;
                start_relay(store, keys).await?
            }
        };
        addresses.push(address);
        handles.push(handle);
    }
    Ok((addresses, handles))
}

async fn start_relay<S: Store>(
    store: S,
    stamp_keys: StampKeys,
) -> Result<(String, InProcess), String> {
    let mut config = RelayConfig::new(stamp_keys);
    // The load is many requests a second per device; the limits are not
    // what is measured.
    config.requests_per_second = 1_000_000;
    config.request_burst = 1_000_000;
    config.anonymous_requests_per_second = 1_000_000;
    config.anonymous_request_burst = 1_000_000;
    config.account_requests_per_second = 1_000_000;
    config.account_request_burst = 1_000_000;
    // Every simulated device connects from loopback: one address for all.
    config.max_connections_per_address = usize::MAX;
    config.max_connections = usize::MAX;
    config.max_mailbox_envelopes = u64::MAX;
    let relay = Relay::new(store, config, system_clock());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|err| format!("listening: {err}"))?;
    let address = listener
        .local_addr()
        .map_err(|err| format!("listening: {err}"))?
        .to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(fuin_relay::serve(listener, relay, async move {
        let _ = stopped.await;
    }));
    Ok((address, InProcess { stop, server }))
}
