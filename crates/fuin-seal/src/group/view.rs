//! A member's view of an epoch: which sender chain it holds for every member.
//! Two members whose views differ were given different keys by someone, and
//! messages carry their sender's view so that receivers notice.

use fuin_wire::ViewHash;

use super::membership::Membership;
use crate::primitives::framing::Framer;
use crate::primitives::kdf::Label;
use crate::primitives::sha256;

/// `SHA-256(framed("fuin/v1/group-view", group id, BE64(epoch), membership
/// hash, BE32(n), then per member in canonical order: user id, BE32(device),
/// chain fingerprint))`. `fingerprint_of(i)` gives member `i`'s chain
/// fingerprint; the view exists only when it gives one for every member.
pub(crate) fn view_hash(
    membership: &Membership,
    fingerprint_of: impl Fn(usize) -> Option<[u8; 32]>,
) -> Option<ViewHash> {
    let mut framer = Framer::new(Label::GroupView.as_bytes());
    framer
        .field(membership.group_id().as_bytes())
        .u64(membership.epoch())
        .field(membership.hash().as_bytes())
        // At most MAX_GROUP_MEMBERS.
        .u32(membership.len() as u32);
    for (index, member) in membership.members().iter().enumerate() {
        framer
            .address(&member.address)
            .field(&fingerprint_of(index)?);
    }
    Some(ViewHash(sha256(&[&framer.finish()])))
}

/// Whether a view is complete, and if so whether it agrees with what the
/// members' messages claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewStatus {
    /// Some member's chain is not held yet.
    Incomplete {
        /// How many members' chains are missing.
        missing: usize,
    },
    /// Every chain is held, and no message claimed another view.
    Complete(ViewHash),
    /// Every chain is held, and a member's message claimed another view (or
    /// two messages claimed different ones): someone gave members different
    /// keys. [`crate::SealError::SplitView`] refuses such messages.
    Split,
}
