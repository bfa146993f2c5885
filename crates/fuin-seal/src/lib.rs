//! The fuin protocol for one-to-one conversations between devices.
//!
//! A sans-I/O library: it reads and writes no files or sockets and reads no
//! clock. The caller passes in randomness and the current time, and stores
//! the state this crate hands back (serialized with `to_bytes`, encrypted with
//! [`state::seal_with_storage_key`]).
//!
//! - [`primitives`]: the only module that touches the crypto crates: X25519
//!   that refuses small-order keys, HKDF with one label table, a
//!   key-committing AES-256-GCM, Ed25519 under labels, franking commitments.
//! - [`DeviceIdentity`] and [`PrekeyStore`]: a device's keys and its public
//!   [`PrekeyBundle`](fuin_wire::PrekeyBundle).
//! - [`Session`]: the X3DH-style handshake and the Double Ratchet, sealing
//!   [`Outgoing`] messages into routing envelopes and opening delivered
//!   records into [`Opened`] messages.
//! - [`safety_number`]: the fingerprint two users compare out of band.
//!
//! The computations are specified in `spec/protocol.md`.
#![forbid(unsafe_code)]

mod conversation;
mod error;
mod identity;
mod prekeys;
pub mod primitives;
mod ratchet;
pub mod safety_number;
mod session;
pub mod state;

pub use conversation::ConversationId;
pub use error::SealError;
pub use identity::{DeviceIdentity, TrustedIdentity};
pub use prekeys::{PrekeyStore, VerifiedBundle};
pub use ratchet::{MAX_SKIP, MAX_SKIPPED_KEYS, SKIPPED_KEY_LIFETIME_MS};
pub use session::{FrankingOpening, Gap, Opened, Outgoing, Sealed, Session};

/// The protocol version bound into every message's associated data.
pub const PROTOCOL_VERSION: u8 = 1;
