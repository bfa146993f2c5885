//! The reference that shares an object inside an end-to-end message: made
//! from sealed objects by the sender, checked against its message by the
//! recipient.

use fuin_wire::DeviceAddress;
use fuin_wire::attachment::{AttachmentReference, FileName, ThumbnailReference};

use super::{AttachmentError, SealedObject};
use crate::ConversationId;

/// The reference to `object`, with `thumbnail` (sealed as an object of its
/// own) and a file name if given. The thumbnail must have the same owner and
/// conversation as the object, else [`AttachmentError::ContextMismatch`].
pub fn attachment_reference(
    object: &SealedObject,
    thumbnail: Option<&SealedObject>,
    file_name: Option<FileName<'_>>,
) -> Result<AttachmentReference<'static>, AttachmentError> {
    let thumbnail = match thumbnail {
        Some(thumbnail) => {
            if thumbnail.context.owner != object.context.owner
                || thumbnail.context.conversation != object.context.conversation
            {
                return Err(AttachmentError::ContextMismatch);
            }
            Some(ThumbnailReference {
                content_type: thumbnail.context.content_type.clone(),
                object: thumbnail.object.clone(),
            })
        }
        None => None,
    };
    Ok(AttachmentReference {
        owner: object.context.owner.clone(),
        conversation: object.context.conversation_digest(),
        content_type: object.context.content_type.clone(),
        object: object.object.clone(),
        thumbnail,
        file_name: file_name.map(FileName::into_owned),
    })
}

/// Checks that a received reference belongs to the message that carried it:
/// its owner is the message's (authenticated) sending device and its
/// conversation the message's conversation. A reference that fails this is
/// [`AttachmentError::ContextMismatch`] and must not be opened as that
/// message's attachment (a client that supports forwarding shows a
/// forwarded object as such, naming its owner).
pub fn check_reference_fits_message(
    reference: &AttachmentReference<'_>,
    sender: &DeviceAddress<'_>,
    conversation: &ConversationId,
) -> Result<(), AttachmentError> {
    if reference.owner != *sender || reference.conversation.0 != conversation.0 {
        return Err(AttachmentError::ContextMismatch);
    }
    Ok(())
}
