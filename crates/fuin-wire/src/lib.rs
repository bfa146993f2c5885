//! Wire types and codec of fuin.
//!
//! Everything that crosses the network between devices and the relay is a
//! **frame**: one version byte followed by a postcard-encoded [`Frame`]. The
//! relay routes frames without being able to read the sealed parts; this crate
//! therefore holds no secret-key code at all.
//!
//! - [`Frame::decode`] checks the size limit, the version, the variant tag,
//!   every field limit, that the encoding is canonical and that no bytes
//!   trail. Sealed payloads are borrowed from the input, never copied.
//! - [`FrameBody`] gives each frame body typed `to_bytes`/`from_bytes`.
//! - [`franking_stamp_input`] is the single definition of the byte string a
//!   relay stamps, so that the relay and the moderation tool cannot disagree.
//!
//! The byte layout of every frame is specified in `spec/wire.md`.
//!
//! ```
//! use fuin_wire::*;
//!
//! let envelope = RoutingEnvelope {
//!     recipient: DeviceAddress::new(UserId::new("bob")?, DeviceId(1)),
//!     content_kind: ContentKind::Message,
//!     franking_commitment: FrankingCommitment([0; 32]),
//!     sealed_body: Opaque::borrowed(b"sealed bytes"),
//! };
//! let bytes = envelope.to_bytes()?;
//!
//! // The relay decodes without copying the sealed body.
//! let routed = RoutingEnvelope::from_bytes(&bytes)?;
//! assert!(routed.sealed_body.is_borrowed());
//! assert_eq!(routed, envelope);
//!
//! // Anything after the frame is an error, never ignored.
//! let mut longer = bytes.clone();
//! longer.push(0);
//! assert_eq!(Frame::decode(&longer), Err(WireError::TrailingBytes { count: 1 }));
//! # Ok::<(), WireError>(())
//! ```
#![forbid(unsafe_code)]

pub mod account;
mod address;
pub mod attachment;
mod blob;
mod bounded;
mod bytes;
pub mod content;
mod envelope;
mod error;
mod frame;
mod franking;
pub mod group;
pub mod identifier;
pub mod key_request;
mod keys;
pub mod limits;
mod protocol;
pub mod receipt;
pub mod relay;
pub mod text;
mod varint;

pub use address::{DeviceAddress, DeviceId, UserId};
pub use blob::{BlobId, HybridSealedReport, SealedReport};
pub use bounded::BoundedVec;
pub use bytes::{Opaque, SecretBytes};
pub use envelope::{
    ContentKind, DeliveredRecord, FrankingCommitment, FrankingStamp, MessageId, RoutingEnvelope,
    StampKeyId,
};
pub use error::WireError;
pub use frame::{Frame, FrameBody, FrameKind, RETIRED_TAGS, Retired, WIRE_VERSION};
pub use franking::{FRANKING_STAMP_LABEL, franking_stamp_input};
pub use group::{
    GroupAction, GroupConsent, GroupContent, GroupControl, GroupId, GroupMember, GroupMessage,
    GroupSend, GroupWelcome, MembershipHash, SenderChainKey, SenderKeyDistribution, ViewHash,
};
pub use keys::{
    Ed25519PublicKey, Ed25519Signature, KemPrekey, MlKemCiphertext, MlKemPublicKey, OneTimePrekey,
    PrekeyBundle, PrekeyId, PublicIdentity, SignedPrekey, X25519PublicKey,
};
pub use protocol::{
    ClientMessageId, ContentType, ConversationRef, FrankingKey, KemEncapsulation,
    MESSAGE_PROTOCOL_VERSION, MessageContent, MessageSalt, PrekeyMessage, RatchetHeader,
    RatchetMessage,
};

/// The properties the fuzz targets check. Only with the `fuzzing` feature,
/// which `fuzz/` and this crate's own tests enable and release builds do
/// not: fixtures stay out of the public API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
