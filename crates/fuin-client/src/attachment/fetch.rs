//! Fetching an attachment: the reference checked against its message, the
//! blob streamed through the opener, and nothing written out before the
//! whole object verified.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use fuin_seal::ConversationId;
use fuin_seal::attachment::{
    AttachmentError, ObjectContext, ObjectOpener, check_reference_fits_message,
};
use fuin_wire::attachment::AttachmentShare;
use fuin_wire::{BlobId, ContentType, UserId};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::image_limits::{self, PEER_THUMBNAIL_LIMITS};
use super::{AttachmentInfo, FetchedFile, FetchedThumbnail, Hashing, TempFile, file_error, info};
use crate::{Client, ClientError, Message};

/// The largest sealed thumbnail a device downloads (they are made at most
/// 160 × 160 pixels, a PNG of which is far smaller).
const MAX_THUMBNAIL_SEALED: u64 = 1024 * 1024;

/// The dimensions of a peer's thumbnail, decoded within
/// [`PEER_THUMBNAIL_LIMITS`] (so a decompression bomb is refused, naming the
/// limit, before it is decoded); the decoded pixels are wiped.
pub(super) fn thumbnail_dimensions(bytes: &[u8]) -> Result<(u32, u32), ClientError> {
    let image = image_limits::decode_bytes_within(bytes, &PEER_THUMBNAIL_LIMITS)
        .map_err(ClientError::ImageRefused)?;
    let dimensions = (image.width(), image.height());
    drop(Zeroizing::new(image.into_bytes()));
    Ok(dimensions)
}

impl Client {
    /// The share a stored attachment message carries, checked against the
    /// message: the reference's owner is the device that sent the message,
    /// its conversation the message's.
    async fn stored_share(
        &self,
        local_id: i64,
    ) -> Result<(Message, Zeroizing<Vec<u8>>), ClientError> {
        let unknown = || ClientError::InvalidArgument(format!("there is no message {local_id}"));
        let (message, body) = self
            .message_with_body(local_id)
            .await?
            .ok_or_else(unknown)?;
        if message.content_type != ContentType::Attachment {
            return Err(ClientError::InvalidArgument(format!(
                "message {local_id} is not an attachment"
            )));
        }
        let peer = UserId::new(message.conversation.clone())
            .map_err(|err| ClientError::Storage(format!("a stored conversation: {err}")))?;
        let conversation = ConversationId::direct(&self.address().user, &peer);
        let share = AttachmentShare::from_bytes(&body)?;
        check_reference_fits_message(&share.reference, &message.sender, &conversation)?;
        Ok((message, body))
    }

    /// What the attachment message `local_id` shares (nothing is
    /// downloaded).
    pub async fn attachment(&self, local_id: i64) -> Result<AttachmentInfo, ClientError> {
        let (_, body) = self.stored_share(local_id).await?;
        Ok(info(&AttachmentShare::from_bytes(&body)?))
    }

    /// Downloads the attachment of message `local_id`, checks it and writes
    /// its plaintext to `out`, which must not exist. The blob streams
    /// through the opener into a temporary file beside `out`, which becomes
    /// `out` only once the whole object verified (its context, key
    /// commitment, every chunk, its length and SHA-256); on any failure the
    /// temporary file is removed and `out` is not created. A blob that is
    /// another object's (another user's, or this object's thumbnail) is
    /// [`AttachmentError::ContextMismatch`].
    pub async fn fetch_attachment(
        &self,
        local_id: i64,
        out: &Path,
    ) -> Result<FetchedFile, ClientError> {
        let (_, body) = self.stored_share(local_id).await?;
        self.fetch_checked(&body, out).await
    }

    /// Fetches the object of a share already checked against its message.
    async fn fetch_checked(&self, body: &[u8], out: &Path) -> Result<FetchedFile, ClientError> {
        let share = AttachmentShare::from_bytes(body)?;
        if std::fs::symlink_metadata(out).is_ok() {
            return Err(ClientError::InvalidArgument(format!(
                "{} exists already",
                out.display()
            )));
        }
        let dir = match out.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        let (temp, file) = TempFile::create(&dir, ".fuin-fetch-")?;
        let opener = ObjectOpener::for_reference(&share.reference);
        let mut writer = opener.writer(Hashing {
            inner: BufWriter::with_capacity(256 * 1024, file),
            hasher: Sha256::new(),
            written: 0,
        });
        let relay = self.relay();
        let blob_id = share.reference.object.blob_id;
        let capability = &share.capability;
        let mut response = self
            .authed(|token| async move { relay.get_blob(&token, &blob_id, capability).await })
            .await?;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| ClientError::Unreachable(format!("downloading the blob: {err}")))?
        {
            writer.write_all(&chunk).map_err(AttachmentError::from)?;
        }
        let (hashing, opened) = writer.finish()?;
        let file = hashing
            .inner
            .into_inner()
            .map_err(|err| ClientError::File(format!("writing: {}", err.error())))?;
        file.sync_all().map_err(file_error("writing", &temp.path))?;
        drop(file);
        // A hard link does not replace an existing file, unlike a rename.
        std::fs::hard_link(&temp.path, out).map_err(file_error("creating", out))?;
        drop(temp);
        let reference = &share.reference;
        Ok(FetchedFile {
            path: out.to_owned(),
            size: opened.plaintext_len,
            sha256: hex::encode(hashing.hasher.finalize()),
            blob_id: hex::encode(opened.blob_id.0),
            content_type: reference.content_type.as_str().to_owned(),
            file_name: reference.file_name.as_ref().map(|n| n.as_str().to_owned()),
        })
    }

    /// Downloads, checks and opens the thumbnail of attachment message
    /// `local_id`; `None` if it has none. Opened in memory (a thumbnail's
    /// sealed length is at most 1 MiB) and returned only once it verified;
    /// a thumbnail blob swapped for another is
    /// [`AttachmentError::ContextMismatch`].
    pub async fn fetch_thumbnail(
        &self,
        local_id: i64,
    ) -> Result<Option<FetchedThumbnail>, ClientError> {
        let (_, body) = self.stored_share(local_id).await?;
        self.thumbnail_checked(&body).await
    }

    /// Fetches the thumbnail of a share already checked against its message.
    async fn thumbnail_checked(
        &self,
        body: &[u8],
    ) -> Result<Option<FetchedThumbnail>, ClientError> {
        let share = AttachmentShare::from_bytes(body)?;
        let (Some(thumbnail), Some(capability)) =
            (&share.reference.thumbnail, &share.thumbnail_capability)
        else {
            return Ok(None);
        };
        if thumbnail.object.sealed_len > MAX_THUMBNAIL_SEALED {
            return Err(ClientError::InvalidArgument(format!(
                "the thumbnail's sealed length of {} bytes is over the {MAX_THUMBNAIL_SEALED} \
                 a device fetches",
                thumbnail.object.sealed_len
            )));
        }
        let Some(context) = ObjectContext::of_thumbnail(&share.reference) else {
            return Ok(None);
        };
        let opener = ObjectOpener::new(&thumbnail.object, &context);
        let relay = self.relay();
        let blob_id = thumbnail.object.blob_id;
        let mut response = self
            .authed(|token| async move { relay.get_blob(&token, &blob_id, capability).await })
            .await?;
        let mut sealed = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| ClientError::Unreachable(format!("downloading the blob: {err}")))?
        {
            sealed.extend_from_slice(&chunk);
            // One byte more than the reference names is enough to say it is
            // too long.
            if sealed.len() as u64 > thumbnail.object.sealed_len {
                break;
            }
        }
        let bytes = opener.open(&sealed)?;
        let dimensions = thumbnail_dimensions(&bytes)?;
        Ok(Some(FetchedThumbnail {
            content_type: thumbnail.content_type.as_str().to_owned(),
            bytes,
            dimensions,
        }))
    }
}

impl Client {
    /// The share a stored group attachment message carries, checked
    /// against the message: the reference's owner is the device that sent
    /// it, its conversation the group's.
    async fn stored_group_share(&self, local_id: i64) -> Result<Vec<u8>, ClientError> {
        let source = self.group_message_source(local_id).await?.ok_or_else(|| {
            ClientError::InvalidArgument(format!("there is no group message {local_id}"))
        })?;
        if source.content_type != ContentType::Attachment {
            return Err(ClientError::InvalidArgument(format!(
                "group message {local_id} is not an attachment"
            )));
        }
        let share = AttachmentShare::from_bytes(&source.body)?;
        check_reference_fits_message(
            &share.reference,
            &source.sender,
            &ConversationId::group(&source.group),
        )?;
        Ok(source.body)
    }

    /// What the group attachment message `local_id` shares (nothing is
    /// downloaded).
    pub async fn group_attachment(&self, local_id: i64) -> Result<AttachmentInfo, ClientError> {
        let body = self.stored_group_share(local_id).await?;
        Ok(info(&AttachmentShare::from_bytes(&body)?))
    }

    /// [`Client::fetch_attachment`] for the group attachment message
    /// `local_id` (a local id of [`Client::group_history`]): the same
    /// checks, with the group's conversation id.
    pub async fn fetch_group_attachment(
        &self,
        local_id: i64,
        out: &Path,
    ) -> Result<FetchedFile, ClientError> {
        let body = self.stored_group_share(local_id).await?;
        self.fetch_checked(&body, out).await
    }

    /// [`Client::fetch_thumbnail`] for the group attachment message
    /// `local_id`.
    pub async fn fetch_group_thumbnail(
        &self,
        local_id: i64,
    ) -> Result<Option<FetchedThumbnail>, ClientError> {
        let body = self.stored_group_share(local_id).await?;
        self.thumbnail_checked(&body).await
    }

    /// Downloads the raw sealed blob `blob_id` with `capability` into
    /// `out`, streamed, and returns its length. Nothing is checked: this is
    /// for a tool that checks the blob itself, such as moderation
    /// re-fetching a reported attachment
    /// ([`report::attachment::check_reported_blob`](crate::report::attachment::check_reported_blob)).
    /// At most `max_len` bytes are accepted.
    pub async fn fetch_blob(
        &self,
        blob_id: &BlobId,
        capability: &fuin_wire::relay::BlobCapability,
        max_len: u64,
        mut out: impl Write,
    ) -> Result<u64, ClientError> {
        self.ensure_registered().await?;
        let relay = self.relay();
        let mut response = self
            .authed(|token| async move { relay.get_blob(&token, blob_id, capability).await })
            .await?;
        let mut written = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| ClientError::Unreachable(format!("downloading the blob: {err}")))?
        {
            written += chunk.len() as u64;
            if written > max_len {
                return Err(ClientError::RelayMisbehaved(format!(
                    "the blob is longer than {max_len} bytes"
                )));
            }
            out.write_all(&chunk)
                .map_err(|err| ClientError::File(format!("writing the blob: {err}")))?;
        }
        Ok(written)
    }
}
