//! The fuin protocol: one-to-one sessions and group conversations between
//! devices.
//!
//! A sans-I/O library: it reads and writes no files or sockets and reads no
//! clock. The caller passes in randomness and the current time, and stores
//! the state this crate hands back (serialized with `to_bytes`, encrypted with
//! [`state::seal_with_storage_key`]).
//!
//! - [`primitives`]: the only module that touches the crypto crates: X25519
//!   that refuses small-order keys, HKDF with one label table, a
//!   key-committing AES-256-GCM, Ed25519 under labels, franking commitments,
//!   the chunk AEAD of attachments.
//! - [`DeviceIdentity`] and [`PrekeyStore`]: a device's keys and its public
//!   [`PrekeyBundle`](fuin_wire::PrekeyBundle).
//! - [`Session`]: the X3DH-style handshake and the Double Ratchet, sealing
//!   [`Outgoing`] messages into routing envelopes and opening delivered
//!   records into [`Opened`] messages.
//! - [`account`]: a user's account key and the device list it signs; a
//!   device seals only to devices a verified list names. [`link`]: the
//!   link code and the sealed exchange through which a device joins.
//! - [`safety_number`]: the fingerprint two users compare out of band.
//! - [`group`]: group conversations: signed sender chains, membership
//!   epochs and split-view detection, sealed once for every member.
//! - [`identifiers`]: identifiers for outside audiences, per audience and
//!   per user unless a group consented to a shared one.
//! - [`attachment`]: objects sealed in context-bound chunks for the relay's
//!   blob store, streaming in bounded memory or on all cores, and the
//!   reference a message carries to share one (`spec/attachments.md`).
//!
//! The computations are specified in `spec/protocol.md` and
//! `spec/attachments.md`.
//!
//! ```
//! use fuin_seal::{DeviceIdentity, Outgoing, PrekeyStore, Session, VerifiedBundle};
//! use fuin_wire::*;
//! # use rand_core::SeedableRng;
//! # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
//! # let now = 1_795_000_000_000;
//! let alice_address = DeviceAddress::new(UserId::new("alice")?, DeviceId(1));
//! let bob_address = DeviceAddress::new(UserId::new("bob")?, DeviceId(1));
//! let alice = DeviceIdentity::generate(&mut rng);
//! let bob = DeviceIdentity::generate(&mut rng);
//!
//! // Bob publishes prekeys; Alice fetches his bundle and checks it.
//! let mut bob_prekeys = PrekeyStore::new();
//! bob_prekeys.rotate_signed_prekey(&bob, &mut rng);
//! bob_prekeys.rotate_last_resort_kem_prekey(&bob, &mut rng);
//! let one_time = bob_prekeys.generate_one_time_prekeys(1, &mut rng).pop();
//! let bundle = bob_prekeys.bundle(bob_address.clone(), &bob, one_time, None).unwrap();
//! let bundle = VerifiedBundle::verify(&bundle, &bob_address, None)?;
//!
//! // Alice starts a session and seals a message.
//! let mut alice_session = Session::initiate(&mut rng, &alice, alice_address.clone(), &bundle)?;
//! let message = Outgoing::new(&mut rng, &alice_address, UserId::new("bob")?, ContentType::Text, b"hi")?;
//! let sealed = alice_session.seal(&mut rng, &message, now)?;
//!
//! // The relay delivers it with its stamp; Bob completes the handshake.
//! let record = DeliveredRecord {
//!     envelope: sealed.envelope,
//!     sender: alice_address,
//!     server_time_ms: now,
//!     server_message_id: MessageId([0; 16]),
//!     franking_stamp: FrankingStamp([0; 32]),
//!     stamp_key_id: StampKeyId(1),
//! };
//! let (mut bob_session, opened) =
//!     Session::respond(&bob, bob_address, &mut bob_prekeys, None, &record, now)?;
//! assert_eq!(opened.content.body.as_bytes(), b"hi");
//!
//! // A replay fails: the message key is gone.
//! assert_eq!(bob_session.open(&record, now).unwrap_err(), fuin_seal::SealError::DuplicateMessage);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod account;
pub mod attachment;
mod conversation;
mod error;
pub mod group;
pub mod identifiers;
mod identity;
pub mod link;
mod prekeys;
pub mod primitives;
mod ratchet;
pub mod safety_number;
mod session;
#[cfg(test)]
mod session_tests;
pub mod state;

pub use account::{AccountKey, VerifiedDeviceList};
pub use conversation::ConversationId;
pub use error::SealError;
pub use identity::{DeviceIdentity, TrustedIdentity};
pub use prekeys::{LAST_RESORT_KEM_PREKEYS_KEPT, PrekeyStore, SIGNED_PREKEYS_KEPT, VerifiedBundle};
pub use ratchet::{MAX_SKIP, MAX_SKIPPED_KEYS, SKIPPED_KEY_LIFETIME_MS};
pub use session::{FrankingOpening, Gap, Opened, Outgoing, Sealed, Session};

/// The protocol version bound into every one-to-one message's associated
/// data (`spec/protocol.md` §8, §16): version 2 carries a fresh salt in every
/// message header and binds a prekey message's handshake fields; version 3
/// makes the handshake hybrid (X25519 and ML-KEM-768) and binds the KEM
/// fields of a prekey message.
pub const PROTOCOL_VERSION: u8 = fuin_wire::MESSAGE_PROTOCOL_VERSION;

/// The version byte bound into every group message's associated data
/// (`spec/groups.md` §6.1). Group messages did not change in protocol
/// version 3, so they keep version 2's byte.
pub const GROUP_PROTOCOL_VERSION: u8 = 2;
