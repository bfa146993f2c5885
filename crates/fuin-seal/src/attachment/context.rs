//! An object's context: who sealed it, where it was shared, which object it
//! is and what it is. The key schedule and every chunk bind it, so an object
//! opens only under the context it was sealed for.

use fuin_wire::DeviceAddress;
use fuin_wire::attachment::{AttachmentReference, ConversationDigest, MediaType, ObjectId};

use crate::ConversationId;
use crate::primitives::framing::Framer;
use crate::primitives::kdf::Label;
use crate::primitives::sha256;

/// What a sealed object is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectContext<'a> {
    /// The device that sealed the object.
    pub owner: DeviceAddress<'a>,
    /// The conversation it was shared in.
    pub conversation: ConversationId,
    /// The object's random id.
    pub object_id: ObjectId,
    /// What the object is.
    pub content_type: MediaType<'a>,
}

impl ObjectContext<'_> {
    /// The context id, which the object's header carries:
    /// `SHA256(framed("fuin/v1/attachment-context", owner user, BE32(owner
    /// device), conversation, object id, content type))`. It reveals nothing
    /// to the relay, which never learns the random object id.
    pub fn id(&self) -> [u8; 32] {
        let framed = Framer::new(Label::AttachmentContext.as_bytes())
            .address(&self.owner)
            .field(&self.conversation.0)
            .field(self.object_id.as_bytes())
            .field(self.content_type.as_str().as_bytes())
            .finish();
        sha256(&[&framed])
    }

    /// Copies borrowed parts.
    pub fn into_owned(self) -> ObjectContext<'static> {
        ObjectContext {
            owner: self.owner.into_owned(),
            conversation: self.conversation,
            object_id: self.object_id,
            content_type: self.content_type.into_owned(),
        }
    }

    /// The context a reference names for its main object.
    pub fn of_reference<'r>(reference: &AttachmentReference<'r>) -> ObjectContext<'r> {
        ObjectContext {
            owner: reference.owner.clone(),
            conversation: ConversationId(reference.conversation.0),
            object_id: reference.object.object_id,
            content_type: reference.content_type.clone(),
        }
    }

    /// The context a reference names for its thumbnail, if it has one: the
    /// same owner and conversation, the thumbnail's own id and media type.
    pub fn of_thumbnail<'r>(reference: &AttachmentReference<'r>) -> Option<ObjectContext<'r>> {
        let thumbnail = reference.thumbnail.as_ref()?;
        Some(ObjectContext {
            owner: reference.owner.clone(),
            conversation: ConversationId(reference.conversation.0),
            object_id: thumbnail.object.object_id,
            content_type: thumbnail.content_type.clone(),
        })
    }

    pub(crate) fn conversation_digest(&self) -> ConversationDigest {
        ConversationDigest(self.conversation.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use fuin_wire::{DeviceId, UserId};

    fn context(
        user: &'static str,
        device: u32,
        object: u8,
        media: &'static str,
    ) -> ObjectContext<'static> {
        ObjectContext {
            owner: DeviceAddress::new(UserId::new(user).unwrap(), DeviceId(device)),
            conversation: ConversationId([5; 32]),
            object_id: ObjectId([object; 16]),
            content_type: MediaType::new(media).unwrap(),
        }
    }

    #[test]
    fn every_part_of_the_context_changes_its_id() {
        let base = context("alice", 1, 1, "image/jpeg").id();
        let mut other_conversation = context("alice", 1, 1, "image/jpeg");
        other_conversation.conversation = ConversationId([6; 32]);
        for other in [
            context("bob", 1, 1, "image/jpeg").id(),
            context("alice", 2, 1, "image/jpeg").id(),
            context("alice", 1, 2, "image/jpeg").id(),
            context("alice", 1, 1, "image/png").id(),
            other_conversation.id(),
        ] {
            assert_ne!(other, base);
        }
        assert_eq!(context("alice", 1, 1, "image/jpeg").id(), base);
    }
}
