//! Group conversations: signed sender keys and membership epochs
//! (`spec/groups.md`).
//!
//! - Every member device sends from its own **sender chain** (a symmetric
//!   ratchet) with an Ed25519 key per chain, and hands the chain to every
//!   other member over 1:1 sessions ([`fuin_wire::SenderKeyDistribution`]).
//!   A message is sealed once for the whole group and signed by the chain,
//!   so no member can speak as another.
//! - Every change of membership is a **control message** signed by the
//!   acting member's chain, and starts a new **epoch** in which every member
//!   sends from a fresh chain: a removed member cannot read what follows, a
//!   new one cannot read what came before, and the relay, which holds no
//!   chain, can change nothing.
//! - Each member's **view** of an epoch (which chain it holds for whom) is
//!   hashed and carried by its messages, so that a member that gave
//!   different members different keys is noticed
//!   ([`SealError::SplitView`](crate::SealError::SplitView)).
//!
//! [`GroupState`] is one device's state in one group; everything here is
//! sans-I/O like the rest of the crate.

mod chain;
mod control;
mod membership;
mod message;
mod saved;
mod sender_chain;
mod skipped;
mod state;
mod view;
mod welcome;

pub use membership::{Membership, membership_hash};
pub use message::verify_group_message_signature;
pub use skipped::{MAX_GROUP_SKIP, MAX_GROUP_SKIPPED_KEYS};
pub use state::{
    ChangeRequest, ChangeSent, ControlApplied, ControlOutcome, Created, DistributionAccepted,
    GroupOpened, GroupSealed, GroupState, MemberStatus,
};
pub use view::ViewStatus;
