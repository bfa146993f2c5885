//! Conversation ids: what a franking commitment names as "where" a message
//! was said.

use fuin_wire::{GroupId, UserId};

use crate::primitives::framing::Framer;
use crate::primitives::kdf::Label;
use crate::primitives::sha256;

/// Identifies a conversation (32 bytes). A one-to-one conversation's id
/// depends only on its two users, so every device of either user computes the
/// same one.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConversationId(pub [u8; 32]);

impl ConversationId {
    /// The conversation between users `a` and `b`, in either order.
    pub fn direct(a: &UserId<'_>, b: &UserId<'_>) -> Self {
        let (first, second) = if a.as_str() <= b.as_str() {
            (a, b)
        } else {
            (b, a)
        };
        let framed = Framer::new(Label::DirectConversation.as_bytes())
            .field(first.as_str().as_bytes())
            .field(second.as_str().as_bytes())
            .finish();
        Self(sha256(&[&framed]))
    }

    /// The conversation of group `group` (`spec/groups.md`): the same for
    /// every member and every epoch.
    pub fn group(group: &GroupId) -> Self {
        let framed = Framer::new(Label::GroupConversation.as_bytes())
            .field(group.as_bytes())
            .finish();
        Self(sha256(&[&framed]))
    }
}

impl std::fmt::Debug for ConversationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hex: String = self.0[..8].iter().map(|b| format!("{b:02x}")).collect();
        write!(f, "ConversationId({hex}…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_id_is_symmetric_and_unambiguous() {
        let user = |name: &'static str| UserId::new(name).unwrap();
        assert_eq!(
            ConversationId::direct(&user("alice"), &user("bob")),
            ConversationId::direct(&user("bob"), &user("alice"))
        );
        assert_ne!(
            ConversationId::direct(&user("ab"), &user("c")),
            ConversationId::direct(&user("a"), &user("bc"))
        );
    }

    #[test]
    fn group_ids_name_their_own_conversations() {
        let a = ConversationId::group(&GroupId([1; 32]));
        assert_eq!(a, ConversationId::group(&GroupId([1; 32])));
        assert_ne!(a, ConversationId::group(&GroupId([2; 32])));
    }
}
