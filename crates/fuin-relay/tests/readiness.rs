//! `/readyz` says the relay cannot serve when it cannot: once shutdown has
//! begun, and when its store stops answering (a PostgreSQL server that
//! stalls or goes away, behind a proxy the test controls). `/healthz`
//! answers all along.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "harness/mod.rs"]
mod harness;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use fuin_relay::api::{Clock, READY_TIMEOUT};
use fuin_relay::store::Store;
use fuin_relay::store::postgres::PostgresStore;
use fuin_relay::{Relay, router};
use fuin_wire::{DeviceAddress, DeviceId, UserId};
use harness::{Harness, default_config};
use http_body_util::BodyExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// `GET path` on `app`: the status and the JSON body.
async fn get(app: &Router, path: &str) -> (StatusCode, serde_json::Value) {
    let response = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn readiness_fails_once_shutdown_begins() {
    let h = Harness::new();
    assert_eq!(get(&h.app, "/readyz").await.0, StatusCode::OK);
    h.relay.begin_shutdown();
    let (status, body) = get(&h.app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], "shutting_down");
    // The process still answers.
    let (status, body) = get(&h.app, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}

/// What the proxy in front of PostgreSQL does to the relay's connections.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Forwards both ways.
    None,
    /// Keeps every connection (old and new) open and forwards nothing
    /// more, as a server that hangs would.
    Stall,
    /// Closes every connection and refuses new ones, as a stopped server.
    Gone,
}

/// A TCP proxy to PostgreSQL that the test can make fail.
struct FaultyProxy {
    port: u16,
    fault: watch::Sender<Fault>,
}

impl FaultyProxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let fault = watch::Sender::new(Fault::None);
        let mut gone = fault.subscribe();
        let faults = fault.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else { return };
                        tokio::spawn(forward(client, target, faults.subscribe()));
                    }
                    // Dropping the listener refuses new connections.
                    _ = gone.wait_for(|fault| *fault == Fault::Gone) => return,
                }
            }
        });
        Self { port, fault }
    }

    fn fail(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }
}

async fn forward(client: TcpStream, target: SocketAddr, mut fault: watch::Receiver<Fault>) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    if *fault.borrow() == Fault::None {
        tokio::select! {
            _ = tokio::io::copy(&mut client_read, &mut server_write) => return,
            _ = tokio::io::copy(&mut server_read, &mut client_write) => return,
            _ = fault.wait_for(|fault| *fault != Fault::None) => {}
        }
    }
    if *fault.borrow() == Fault::Gone {
        return;
    }
    // Stalled: both sockets stay open, and nothing crosses, until the
    // server is gone.
    let _open = (client_read, client_write, server_read, server_write);
    let _ = fault.wait_for(|fault| *fault == Fault::Gone).await;
}

/// How many PostgreSQL commits the metrics have timed.
fn postgres_commits(exposition: &str) -> u64 {
    exposition
        .lines()
        .find_map(|line| {
            line.strip_prefix(
                "fuin_relay_store_commit_duration_seconds_count{backend=\"postgres\"} ",
            )
        })
        .map_or(0, |count| count.parse().unwrap())
}

const VARIABLE: &str = "FUIN_TEST_POSTGRES";

/// The test database, or `None` to skip (failing under CI, as the store
/// tests do).
fn database() -> Option<String> {
    if let Some(config) = std::env::var(VARIABLE)
        .ok()
        .filter(|c| !c.trim().is_empty())
    {
        return Some(config);
    }
    if std::env::var("CI").is_ok_and(|ci| !ci.is_empty()) {
        panic!("CI is set but {VARIABLE} is not: .ci/run must start PostgreSQL");
    }
    let _ = writeln!(
        std::io::stderr(),
        "note: {VARIABLE} is not set: the PostgreSQL readiness test is skipped"
    );
    None
}

async fn execute(database: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(database, tokio_postgres::NoTls)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
    drop(client);
    connection.await.unwrap().unwrap();
}

/// A relay on a fresh schema of the test database, reached through a
/// [`FaultyProxy`]; `None` if the PostgreSQL tests are skipped.
struct BehindProxy {
    database: String,
    schema: String,
    proxy: FaultyProxy,
    relay: Arc<Relay<PostgresStore>>,
    app: Router,
}

impl BehindProxy {
    async fn start() -> Option<Self> {
        let database = database()?;
        let config: tokio_postgres::Config = database.parse().unwrap();
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => panic!("{VARIABLE} must name a TCP host for this test"),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let target = tokio::net::lookup_host((host.as_str(), port))
            .await
            .unwrap()
            .next()
            .unwrap();
        let schema = format!("fuin_test_{}", hex::encode(rand::random::<[u8; 8]>()));
        execute(&database, &format!("CREATE SCHEMA {schema}")).await;

        let proxy = FaultyProxy::start(target).await;
        let mut through_proxy = format!(
            "host=127.0.0.1 port={} user={} dbname={} options='-c search_path={schema}'",
            proxy.port,
            config.get_user().unwrap_or("postgres"),
            config.get_dbname().unwrap_or("postgres"),
        );
        if let Some(password) = config.get_password() {
            through_proxy.push_str(&format!(
                " password='{}'",
                String::from_utf8_lossy(password)
                    .replace('\\', "\\\\")
                    .replace('\'', "\\'")
            ));
        }
        let store = PostgresStore::connect_with_pool_size(&through_proxy, 2)
            .await
            .unwrap();
        let clock: Clock = Arc::new(|| harness::START);
        let relay = Relay::new(store, default_config(), clock);
        let app = router(relay.clone());
        Some(Self {
            database,
            schema,
            proxy,
            relay,
            app,
        })
    }

    async fn drop_schema(self) {
        self.relay.store().close();
        execute(
            &self.database,
            &format!("DROP SCHEMA {} CASCADE", self.schema),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_when_postgres_stops_answering() {
    let Some(setup) = BehindProxy::start().await else {
        return;
    };
    let (app, relay) = (&setup.app, &setup.relay);
    assert_eq!(get(app, "/readyz").await.0, StatusCode::OK);
    // A write in a transaction is timed in the metrics (this test is the
    // only one of this binary that commits on PostgreSQL, so the count is
    // its own).
    let commits = || postgres_commits(&fuin_relay::metrics::encode());
    let before = commits();
    let device = DeviceAddress::new(UserId::new("alice".to_owned()).unwrap(), DeviceId(1));
    relay
        .store()
        .put_challenge_bounded(&device, [7; 32], harness::START + 60_000, 2)
        .await
        .unwrap();
    assert_eq!(commits(), before + 1);

    setup.proxy.fail(Fault::Stall);
    let asked = Instant::now();
    let (status, body) = get(app, "/readyz").await;
    let waited = asked.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], "storage_unavailable");
    // It answered after its timeout, not after the store's own (much longer)
    // connection and pool timeouts.
    assert!(
        waited >= READY_TIMEOUT && waited < READY_TIMEOUT + Duration::from_secs(5),
        "answered after {waited:?}"
    );
    let (status, _) = get(app, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    setup.proxy.fail(Fault::Gone);
    setup.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_when_the_postgres_server_is_gone() {
    let Some(setup) = BehindProxy::start().await else {
        return;
    };
    assert_eq!(get(&setup.app, "/readyz").await.0, StatusCode::OK);
    setup.proxy.fail(Fault::Gone);
    let (status, body) = get(&setup.app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], "storage_unavailable");
    // Still not ready on the next probe (a new connection is refused).
    let (status, _) = get(&setup.app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get(&setup.app, "/healthz").await.0, StatusCode::OK);
    setup.drop_schema().await;
}
