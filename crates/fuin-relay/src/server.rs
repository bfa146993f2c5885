//! Serving the API: an accept loop over plain TCP or TLS, one hyper
//! HTTP/1.1 connection per client (with upgrades, for the WebSocket stream),
//! the periodic sweep, and a bounded graceful shutdown.
//!
//! On shutdown the listener closes, waiting long polls answer at once, open
//! streams close with code 1001, and every connection finishes the request
//! it is in and closes. Whatever is still open after the relay's
//! `shutdown_grace` is dropped. A request dropped that way had not been
//! answered, so nothing it wrote had been acknowledged: a write is answered
//! only once it is durable.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::api::{Relay, router};
use crate::connection_limits::ConnectionPermit;
use crate::store::Store;

/// How long a client may take for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait after a failed accept (such as too many open files).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// The most connections the admin listener holds at once.
const ADMIN_MAX_CONNECTIONS: usize = 16;
/// How often the expiry sweep runs.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Serves the API over plain HTTP on `listener` until `shutdown` completes;
/// see [`serve_with`].
pub async fn serve<S: Store>(
    listener: TcpListener,
    relay: Arc<Relay<S>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, relay, None, shutdown).await
}

/// Serves the API on `listener`, over TLS if `tls` is given, until
/// `shutdown` completes. A relay configured with no origin gets the
/// origin of the address it listens on (`http://127.0.0.1:8080`, or
/// `https://…` with TLS) as the one a login must name. Then it stops
/// accepting, wakes long polls, closes streams, lets requests in flight finish for at most the relay's
/// `shutdown_grace` and drops what is left, and finally sweeps once more
/// (which makes deletions final on disk). Every minute meanwhile, expired
/// envelopes, challenges and tokens are deleted and acknowledged envelopes'
/// old pages overwritten.
pub async fn serve_with<S: Store>(
    listener: TcpListener,
    relay: Arc<Relay<S>>,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(address) = listener.local_addr() {
        let scheme = if tls.is_some() { "https" } else { "http" };
        relay.default_origin(&format!("{scheme}://{address}"));
    }
    let sweeper = {
        let relay = relay.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            loop {
                tick.tick().await;
                // A failed sweep is retried at the next tick.
                let _ = swept(relay.sweep().await);
            }
        })
    };
    let app = router(relay.clone());
    let acceptor = tls.map(TlsAcceptor::from);
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Over the caps, the connection is closed at once: it
                    // holds no descriptor and no task while others wait.
                    let proxy = relay.is_trusted_proxy(peer.ip());
                    if let Some(permit) = relay.connections.admit(peer.ip(), proxy) {
                        connections.spawn(serve_connection(
                            stream,
                            peer,
                            acceptor.clone(),
                            app.clone(),
                            stopping.clone(),
                            relay.config().request_head_timeout,
                            permit,
                        ));
                    } else {
                        crate::metrics::rate_limited("connections");
                    }
                }
                // Usually out of file descriptors: give connections time to end.
                Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
            },
            // Reap finished connections so the set holds live ones only.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }

    drop(listener);
    tracing::info!(
        connections = connections.len(),
        grace_ms = u64::try_from(relay.config().shutdown_grace.as_millis()).unwrap_or(u64::MAX),
        "shutdown begun"
    );
    relay.begin_shutdown();
    stop.send_replace(true);
    let _ = tokio::time::timeout(relay.config().shutdown_grace, async {
        while connections.join_next().await.is_some() {}
        relay.streams_closed().await;
    })
    .await;
    if !connections.is_empty() {
        tracing::warn!(
            dropped = connections.len(),
            "connections still open after the shutdown grace are dropped"
        );
    }
    connections.shutdown().await;
    sweeper.abort();
    swept(relay.sweep().await).map_err(|err| std::io::Error::other(err.to_string()))?;
    tracing::info!("shutdown complete");
    Ok(())
}

/// Logs and counts a sweep's result, and passes it on.
fn swept(result: Result<u64, crate::store::StoreError>) -> Result<u64, crate::store::StoreError> {
    match &result {
        Ok(expired) => {
            tracing::info!(expired_envelopes = expired, "sweep");
            crate::metrics::sweep(Ok(*expired));
        }
        Err(err) => {
            tracing::warn!(error = %err, "sweep failed; retried at the next one");
            crate::metrics::sweep(Err(()));
        }
    }
    result
}

/// Serves the admin API ([`crate::api::admin_router`]) over plain HTTP on a
/// listener of its own until `relay` begins shutting down (as
/// [`serve_with`] does on SIGTERM), then lets requests in flight finish for
/// at most the relay's `shutdown_grace`. Run it beside [`serve_with`].
pub async fn serve_admin<S: Store>(listener: TcpListener, relay: Arc<Relay<S>>) {
    let app = crate::api::admin_router(relay.clone());
    let limits = crate::connection_limits::ConnectionLimits::new(
        ADMIN_MAX_CONNECTIONS,
        ADMIN_MAX_CONNECTIONS,
    );
    let mut shutdown = relay.shutdown.subscribe();
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = async { let _ = shutdown.wait_for(|down| *down).await; } => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // The admin API has caps of its own, so that a flood on
                    // the public listener cannot shut the operator out.
                    if let Some(permit) = limits.admit(peer.ip(), false) {
                        connections.spawn(serve_connection(
                            stream,
                            peer,
                            None,
                            app.clone(),
                            stopping.clone(),
                            relay.config().request_head_timeout,
                            permit,
                        ));
                    }
                }
                Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    stop.send_replace(true);
    let _ = tokio::time::timeout(relay.config().shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.shutdown().await;
}

/// One client connection: the TLS handshake if any, then HTTP until the
/// client closes or shutdown asks the connection to finish.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    app: Router,
    mut stopping: watch::Receiver<bool>,
    head_timeout: Duration,
    _permit: ConnectionPermit,
) {
    // Small frames (challenges, acknowledgements) should not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = tls else {
        return serve_http(stream, peer, app, stopping, head_timeout).await;
    };
    let handshake = tokio::select! {
        handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => handshake,
        () = stopped(&mut stopping) => return,
    };
    // A failed or slow handshake just ends the connection.
    if let Ok(Ok(stream)) = handshake {
        serve_http(stream, peer, app, stopping, head_timeout).await;
    }
}

async fn serve_http<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    mut stopping: watch::Receiver<bool>,
    head_timeout: Duration,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        // The per-address limit of the endpoints without a token reads it.
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut app = app.clone();
        async move {
            let response: Result<_, Infallible> =
                tower_service::Service::call(&mut app, request).await;
            response
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(head_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        // The client closed, or the connection failed: nothing to do.
        _ = connection.as_mut() => return,
        () = stopped(&mut stopping) => connection.as_mut().graceful_shutdown(),
    }
    // Finishes the request in flight, if any, then closes.
    let _ = connection.await;
}

/// Resolves once the server is stopping (or gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}
