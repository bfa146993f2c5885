//! The fuin relay: a store-and-forward server that carries sealed envelopes
//! between devices without being able to read them.
//!
//! It depends on `fuin-wire` only; it does not link the code that opens
//! messages (`fuin-seal`, `fuin-report`), which a test checks.
//!
//! Present: [`store`], the storage behind one trait, with an SQLite backend
//! (the embedded default) and a PostgreSQL backend (for several relay
//! processes on one database); [`api`], the HTTP API for devices
//! (registration, authentication, prekeys, send with franking stamps,
//! long-poll fetch, WebSocket push, acknowledgement) with per-device request
//! limits; [`serve`] with graceful shutdown; the `fuin-relay` binary; and
//! the `fuin-relay-load` load tool.
//! A send through one relay node wakes the waiters of the others when the
//! store is shared (PostgreSQL `LISTEN`/`NOTIFY`, see [`store::wake`]).
//! Still to come (see `spec/relay-api.md`, "Not yet"): blobs and the report
//! inbox, and TLS.
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod error;
pub mod franking;
pub mod store;
mod waiters;

pub use api::{Relay, router};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Serves the API on `listener` until `shutdown` completes, then stops
/// taking requests, lets those in flight finish, and makes every deletion
/// final on disk. Every minute meanwhile, expired envelopes, challenges and
/// tokens are deleted and acknowledged envelopes' old pages overwritten.
pub async fn serve<S: store::Store>(
    listener: tokio::net::TcpListener,
    relay: Arc<Relay<S>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let expiry = {
        let relay = relay.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                // A failed sweep is retried at the next tick.
                let _ = relay.sweep().await;
            }
        })
    };
    let result = axum::serve(listener, router(relay.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    expiry.abort();
    relay
        .sweep()
        .await
        .map_err(|err| std::io::Error::other(err.to_string()))?;
    result
}
pub use config::RelayConfig;
pub use error::ApiError;
