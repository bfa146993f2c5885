//! `fuin moderate serve`: the console on a listener and the report puller
//! beside it, until a shutdown future (a signal) resolves; then the
//! console stops taking connections, finishes the requests in flight, and
//! the puller stops (between two reports, or in the middle of one: a report
//! is acknowledged only after what records it is committed, so one cut
//! short is handled again at the next start).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::ingest::{Ingest, run_puller};
use crate::service::Service;
use crate::store::ModerationStore;

/// Serves the console for `service` on `listener` and pulls the relay's
/// inbox every `pull_interval`, until `shutdown` resolves.
pub async fn serve<S: ModerationStore>(
    service: Arc<Service<S>>,
    ingest: Arc<Ingest>,
    listener: tokio::net::TcpListener,
    pull_interval: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let puller = tokio::spawn(run_puller(
        service.clone(),
        ingest,
        pull_interval,
        async move {
            let mut stopped = stopped;
            let _ = stopped.wait_for(|stop| *stop).await;
        },
    ));
    let served = axum::serve(listener, crate::web::router(service))
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop.send(true);
    if let Err(err) = puller.await {
        tracing::warn!(error = %err, "the report puller ended abnormally");
    }
    served
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
