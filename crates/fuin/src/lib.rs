//! fuin for apps: end-to-end encrypted messaging in one crate.
//!
//! This crate is what a chat app depends on. It re-exports the client SDK
//! (`fuin-client`) whole, and every type from the protocol crates that the
//! SDK's methods take or return, so that an app names `fuin::DeviceAddress`
//! or `fuin::StorageKey` without depending on `fuin-wire` or `fuin-seal`
//! itself. The app brings its own async runtime: the SDK runs on tokio.
//!
//! A [`Client`] is one device of one user: [`Client::create`] makes and
//! registers it, [`Client::open`] opens it again, [`Client::send_text`]
//! sends, [`Client::sync`] fetches what arrived, [`Client::events`] reports
//! everything as it happens, and [`Client::history`] is what the app shows.
//!
//! # Example
//!
//! Two users on a relay (here one started in the same process; an app
//! passes its relay's `https://` address):
//!
//! ```
//! # use std::sync::Arc;
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let relay_url = format!("http://{}", listener.local_addr()?);
//! # let mut config = fuin_relay::RelayConfig::new(fuin_relay::franking::StampKeys::new(
//! #     fuin::StampKeyId(1),
//! #     [7; 32],
//! # ));
//! # config.origins = vec![relay_url.clone()];
//! # let store = fuin_relay::store::sqlite::SqliteStore::open(&dir.path().join("relay.db"))?;
//! # let relay = fuin_relay::Relay::new(store, config, fuin_relay::api::system_clock());
//! # tokio::spawn(fuin_relay::serve(listener, relay, std::future::pending::<()>()));
//! use std::time::Duration;
//! use fuin::{Client, ClientOptions, Event, EventStreamItem, MessageStatus};
//!
//! // Each device keeps its state in an encrypted SQLite store (and its key
//! // in a file beside it).
//! let alice = Client::create(dir.path().join("alice.db"), &relay_url, "alice", 1,
//!     ClientOptions::default()).await?;
//! let bob = Client::create(dir.path().join("bob.db"), &relay_url, "bob", 1,
//!     ClientOptions::default()).await?;
//! let mut bob_events = bob.events();
//!
//! let sent = alice.send_text("bob", "hello bob").await?;
//! assert_eq!(sent.status, MessageStatus::Sent);
//!
//! // Fetch, open, store, acknowledge; then the event stream says what came.
//! let report = bob.sync(Duration::from_secs(5)).await?;
//! assert_eq!(report.messages, 1);
//! let local_id = loop {
//!     match bob_events.next().await {
//!         Some(EventStreamItem::Event(Event::MessageReceived { conversation, local_id, .. }))
//!             if conversation == "alice" => break local_id,
//!         Some(_) => continue, // other events: prekeys replenished, ...
//!         None => return Err("the event stream ended".into()),
//!     }
//! };
//! let history = bob.history("alice", 50).await?;
//! assert_eq!(history.last().map(|m| (m.local_id, m.text.as_str())),
//!     Some((local_id, "hello bob")));
//! # Ok(())
//! # }
//! ```
//!
//! # What is here
//!
//! - Everything public of `fuin-client`: [`Client`], [`ClientOptions`],
//!   [`Event`], [`Message`], [`ClientError`], the [`receipt`] and
//!   [`report`] modules, [`keyfile`], ...
//! - The protocol types the SDK's API names: addresses ([`UserId`],
//!   [`DeviceId`], [`DeviceAddress`]), identities ([`PublicIdentity`]),
//!   message ids and kinds ([`ClientMessageId`], [`ContentType`]), the
//!   storage key of [`Client::open_with_key`] ([`StorageKey`]), the errors
//!   inside [`ClientError`] ([`SealError`], [`AttachmentError`],
//!   [`WireError`]), the moderation service's key
//!   ([`ModerationPublicKey`]), and what a report or a stored franking
//!   opening holds.
//! - The protocol crates whole, as [`wire`] and [`seal`], for what goes
//!   beyond a chat app (checking a vector, building a tool).
//!
//! # Platforms
//!
//! The SDK builds wherever its dependencies do (Linux, macOS, Windows,
//! Android, iOS). On Unix the storage key file is created with mode 0600
//! and refused if others may read it; elsewhere it gets the platform's
//! default access control, and an app should keep the key in the platform's
//! keystore and open the store with [`Client::open_with_key`] (see
//! [`keyfile`]).
#![forbid(unsafe_code)]

// The SDK, whole: what other parts add to it appears here without an edit.
pub use fuin_client::*;

// The protocol crates, for what goes beyond the SDK's API.
/// The protocol (`fuin-seal`).
pub use fuin_seal as seal;
/// The wire types and codec (`fuin-wire`).
pub use fuin_wire as wire;

// Types the SDK's methods, fields and events name, from the crates below it.
pub use fuin_report::{GroupReportBuilder, GroupReportPreview};
pub use fuin_seal::SealError;
pub use fuin_seal::attachment::AttachmentError;
pub use fuin_seal::state::StorageKey;
pub use fuin_wire::account::InviteCode;
pub use fuin_wire::relay::{BlobCapability, ReportAccepted, ReportId};
pub use fuin_wire::{
    BlobId, ClientMessageId, ContentType, DeviceAddress, DeviceId, FrankingCommitment, FrankingKey,
    FrankingStamp, GroupId, MessageId, PublicIdentity, StampKeyId, UserId, WireError,
};
pub use zeroize::Zeroizing;

/// The README's examples, compiled as doctests so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
