//! Reported attachments: a reported message of content type `Attachment`
//! carries the attachment share (the reference and the relay capabilities)
//! in its body, which the sender's franking commitment covers. Moderation
//! checks that the reference fits the verified message, fetches the blob
//! from the relay itself, and opens it: the opener checks the context, the
//! key commitment, every chunk, the length and that the ciphertext's hash
//! (BLAKE3; SHA-256 for a version 1 object) is the blob id the sender
//! committed to. So a blob that was
//! swapped or re-sealed after the message was sent is detected, and the
//! plaintext hash moderation computes is that of the one plaintext the
//! reporter could have opened (`spec/report.md` §6.1). The thumbnail is
//! checked the same way, against its own context. For a group report the
//! reference must name the group's conversation.

use std::io::{Read, Write};

use fuin_seal::ConversationId;
use fuin_seal::attachment::{AttachmentError, ObjectOpener, check_reference_fits_message};
use fuin_wire::attachment::AttachmentShare;
use fuin_wire::{BlobId, ContentType, WireError};
use sha2::{Digest, Sha256};

use crate::{CheckedMessage, VerifiedReport};

/// Why a reported attachment could not be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttachmentCheckError {
    /// The message is not of content type `Attachment`.
    NotAnAttachment,
    /// The message itself did not verify, so its reference is only the
    /// reporter's claim.
    MessageNotVerified,
    /// The body is not an attachment share.
    UnreadableShare(WireError),
    /// The reference names another owner than the message's verified sender,
    /// or another conversation than the report's.
    ReferenceMismatch,
    /// A thumbnail was asked for, but the reference has none.
    NoThumbnail,
    /// The blob did not open as the referenced object: the kind says why
    /// (`HashMismatch` for a ciphertext other than the one committed to,
    /// `ContextMismatch` for another object's blob, ...).
    Blob(AttachmentError),
}

impl std::fmt::Display for AttachmentCheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAnAttachment => f.write_str("the message is not an attachment"),
            Self::MessageNotVerified => f.write_str("the message did not verify"),
            Self::UnreadableShare(err) => write!(f, "the attachment share is unreadable: {err}"),
            Self::NoThumbnail => f.write_str("the attachment has no thumbnail"),
            Self::ReferenceMismatch => f.write_str(
                "the attachment's reference names another owner or conversation than its message",
            ),
            Self::Blob(err) => write!(f, "the blob is not the one the sender shared: {err}"),
        }
    }
}

impl std::error::Error for AttachmentCheckError {}

/// A reported attachment whose blob verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedAttachment {
    /// The media type the sender gave.
    pub content_type: String,
    /// The display name the sender gave.
    pub file_name: Option<String>,
    /// The blob id checked: the hash of the exact ciphertext (BLAKE3;
    /// SHA-256 for a version 1 object).
    pub blob_id: BlobId,
    /// The blob's length.
    pub sealed_len: u64,
    /// Bytes of plaintext.
    pub plaintext_len: u64,
    /// SHA-256 of the plaintext.
    pub plaintext_sha256: [u8; 32],
}

/// The share a verified attachment message of `report` carries, checked
/// against the message: its owner is the message's sender and its
/// conversation the report's conversation (the group's, for a group report;
/// else the one-to-one conversation of reporter and `conversation_with`).
/// The share holds the capabilities with which to fetch the blob
/// (`share.capability`) and its thumbnail (`share.thumbnail_capability`).
pub fn reported_share<'m>(
    report: &VerifiedReport,
    message: &'m CheckedMessage,
) -> Result<AttachmentShare<'m>, AttachmentCheckError> {
    reported_share_in(&report.conversation(), message)
}

/// [`reported_share`] for a message of the reported conversation
/// `conversation` (as [`crate::Inspected::conversation`] gives it), for a
/// caller that records openings itself.
pub fn reported_share_in<'m>(
    conversation: &ConversationId,
    message: &'m CheckedMessage,
) -> Result<AttachmentShare<'m>, AttachmentCheckError> {
    if message.content_type != ContentType::Attachment {
        return Err(AttachmentCheckError::NotAnAttachment);
    }
    if !message.verdict.is_verified() {
        return Err(AttachmentCheckError::MessageNotVerified);
    }
    let share = AttachmentShare::from_bytes(message.body.as_bytes())
        .map_err(AttachmentCheckError::UnreadableShare)?;
    check_reference_fits_message(&share.reference, &message.sender, conversation)
        .map_err(|_| AttachmentCheckError::ReferenceMismatch)?;
    Ok(share)
}

struct HashingSink<W> {
    hasher: Sha256,
    out: W,
}

impl<W: Write> Write for HashingSink<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write_all(buf)?;
        self.hasher.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Opens the blob `blob` yields (fetched from the relay) as the object
/// `share` references, in bounded memory, hashing the plaintext and keeping
/// none of it.
pub fn check_reported_blob(
    share: &AttachmentShare<'_>,
    blob: impl Read,
) -> Result<ReportedAttachment, AttachmentCheckError> {
    open_reported_blob(share, blob, std::io::sink())
}

/// [`check_reported_blob`], also writing the plaintext to `out` as it is
/// opened. What `out` received is only the attachment once this returns
/// `Ok`: on an error, discard it (a chunk may have been written before a
/// later one failed).
pub fn open_reported_blob(
    share: &AttachmentShare<'_>,
    blob: impl Read,
    out: impl Write,
) -> Result<ReportedAttachment, AttachmentCheckError> {
    let reference = &share.reference;
    let (blob_id, plaintext_len, plaintext_sha256) =
        open_hashing(ObjectOpener::for_reference(reference), blob, out)?;
    Ok(ReportedAttachment {
        content_type: reference.content_type.as_str().to_owned(),
        file_name: reference.file_name.as_ref().map(|n| n.as_str().to_owned()),
        blob_id,
        sealed_len: reference.object.sealed_len,
        plaintext_len,
        plaintext_sha256,
    })
}

/// Opens the blob `blob` yields as the thumbnail `share` references, as
/// [`check_reported_blob`] does for the object itself: the thumbnail the
/// reporter was shown is the one its sender committed to, or the error
/// says why not. `NoThumbnail` when the reference has none.
pub fn check_reported_thumbnail(
    share: &AttachmentShare<'_>,
    blob: impl Read,
) -> Result<ReportedAttachment, AttachmentCheckError> {
    let reference = &share.reference;
    let (Some(thumbnail), Some(opener)) = (
        reference.thumbnail.as_ref(),
        ObjectOpener::for_thumbnail(reference),
    ) else {
        return Err(AttachmentCheckError::NoThumbnail);
    };
    let (blob_id, plaintext_len, plaintext_sha256) = open_hashing(opener, blob, std::io::sink())?;
    Ok(ReportedAttachment {
        content_type: thumbnail.content_type.as_str().to_owned(),
        file_name: None,
        blob_id,
        sealed_len: thumbnail.object.sealed_len,
        plaintext_len,
        plaintext_sha256,
    })
}

/// Opens `blob` with `opener` in bounded memory: the blob id checked, the
/// plaintext's length and SHA-256; the plaintext goes to `out` only.
fn open_hashing(
    opener: ObjectOpener,
    blob: impl Read,
    out: impl Write,
) -> Result<(BlobId, u64, [u8; 32]), AttachmentCheckError> {
    let mut sink = HashingSink {
        hasher: Sha256::new(),
        out,
    };
    let opened = opener
        .open_stream(blob, &mut sink)
        .map_err(AttachmentCheckError::Blob)?;
    Ok((
        opened.blob_id,
        opened.plaintext_len,
        sink.hasher.finalize().into(),
    ))
}
