//! The fuin relay: a store-and-forward server that carries sealed envelopes
//! between devices without being able to read them.
//!
//! It depends on `fuin-wire` only; it does not link the code that opens
//! messages (`fuin-seal`, `fuin-report`), which a test checks.
//!
//! Present: [`store`], the storage behind one trait, with an SQLite backend
//! (the embedded default) and a PostgreSQL backend (for several relay
//! processes on one database); [`blobs`], where blob bytes live (a
//! directory, or an S3-compatible bucket), outside the database; [`api`], the HTTP API for devices
//! (registration, authentication, prekeys, send with franking stamps,
//! long-poll fetch, WebSocket push, acknowledgement, the blob store for
//! sealed attachments, the report inbox and the moderation tool's pull)
//! with request limits per device, per account and per client address
//! (behind trusted proxies, [`forwarded`]), bodies read only after
//! authentication and under a deadline, streams capped per device and ended
//! with their token, and quotas on mailboxes, prekey pools and challenges; [`server`], serving it over
//! plain HTTP or TLS ([`tls`]) with caps on connections in all and per
//! client address, and a bounded graceful shutdown; [`cli`],
//! the relay command's options and start-up, run by the `fuin-relay` binary
//! and by `fuin relay`. The `fuin-relay-load` load tool is a crate of its own
//! (`crates/fuin-relay-load`).
//! A send through one relay node wakes the waiters of the others when the
//! store is shared (PostgreSQL `LISTEN`/`NOTIFY`, see [`store::wake`]).
#![forbid(unsafe_code)]

pub mod api;
pub mod blobs;
pub mod cli;
pub mod config;
mod connection_limits;
pub mod error;
pub mod forwarded;
pub mod franking;
pub mod metrics;
pub mod observe;
pub mod option_layers;
pub mod rate;
pub mod server;
pub mod store;
#[cfg(feature = "test-clock")]
pub mod test_clock;
pub mod tls;
mod waiters;

pub use api::{Relay, router};
pub use config::{RegistrationPolicy, RelayConfig};
pub use error::ApiError;
pub use server::{serve, serve_with};
