//! `/readyz` says the relay cannot serve when it cannot: once shutdown has
//! begun, and when its store stops answering (a PostgreSQL server that
//! stalls, behind a proxy the test controls). `/healthz` answers all along.
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

/// A TCP proxy to PostgreSQL that can stall: once stalled, it keeps every
/// connection (old and new) open and forwards nothing more, as a server
/// that hangs would.
struct StallingProxy {
    port: u16,
    stalled: watch::Sender<bool>,
}

impl StallingProxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stalled = watch::Sender::new(false);
        let stall = stalled.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(forward(client, target, stall.subscribe()));
            }
        });
        Self { port, stalled }
    }

    fn stall(&self) {
        self.stalled.send_replace(true);
    }
}

async fn forward(client: TcpStream, target: SocketAddr, mut stalled: watch::Receiver<bool>) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    if !*stalled.borrow() {
        tokio::select! {
            _ = tokio::io::copy(&mut client_read, &mut server_write) => return,
            _ = tokio::io::copy(&mut server_read, &mut client_write) => return,
            _ = stalled.wait_for(|stalled| *stalled) => {}
        }
    }
    // Stalled: both sockets stay open, and nothing crosses.
    let _open = (client_read, client_write, server_read, server_write);
    std::future::pending::<()>().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_when_postgres_stops_answering() {
    let Some(database) = database() else { return };
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

    let proxy = StallingProxy::start(target).await;
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
    assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);
    // A write in a transaction is timed in the metrics (this test is the
    // only one of this binary on PostgreSQL, so the count is its own).
    let commits = || postgres_commits(&fuin_relay::metrics::encode());
    let before = commits();
    let device = DeviceAddress::new(UserId::new("alice".to_owned()).unwrap(), DeviceId(1));
    relay
        .store()
        .put_challenge_bounded(&device, [7; 32], harness::START + 60_000, 2)
        .await
        .unwrap();
    assert_eq!(commits(), before + 1);

    proxy.stall();
    let asked = Instant::now();
    let (status, body) = get(&app, "/readyz").await;
    let waited = asked.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], "storage_unavailable");
    // It answered after its timeout, not after the store's own (much longer)
    // connection and pool timeouts.
    assert!(
        waited >= READY_TIMEOUT && waited < READY_TIMEOUT + Duration::from_secs(5),
        "answered after {waited:?}"
    );
    let (status, _) = get(&app, "/healthz").await;
    assert_eq!(status, StatusCode::OK);

    relay.store().close();
    execute(&database, &format!("DROP SCHEMA {schema} CASCADE")).await;
}
