//! Fetching an attachment: the reference checked against its message, the
//! blob streamed through the opener, and nothing written out before the
//! whole object verified.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use fuin_seal::ConversationId;
use fuin_seal::attachment::{
    AttachmentError, ObjectContext, ObjectOpener, OpenedObject, check_reference_fits_message,
};
use fuin_wire::attachment::AttachmentShare;
use fuin_wire::{BlobId, ContentType, UserId};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::image_limits::{self, PEER_THUMBNAIL_LIMITS};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::transfer::{PhaseProgress, Transfer, TransferPhase, plaintext_len_of};
use super::{AttachmentInfo, FetchedFile, FetchedThumbnail, TempFile, file_error, info};
use crate::{Client, ClientError, Message};

/// Bytes downloaded between two turns given to the runtime.
const YIELD_EVERY: u64 = 1024 * 1024;

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
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn attachment(&self, local_id: i64) -> Result<AttachmentInfo, ClientError> {
        let (_, body) = self.stored_share(local_id).await?;
        Ok(info(&AttachmentShare::from_bytes(&body)?))
    }

    /// Downloads the attachment of message `local_id`, checks it and writes
    /// its plaintext to `out`, which must not exist. The blob streams
    /// through the opener into a temporary file beside `out`, which becomes
    /// `out` only once the whole object verified (its context, key
    /// commitment, every chunk, its length and blob id); on any failure the
    /// temporary file is removed and `out` is not created. A blob that is
    /// another object's (another user's, or this object's thumbnail) is
    /// [`AttachmentError::ContextMismatch`].
    pub async fn fetch_attachment(
        &self,
        local_id: i64,
        out: &Path,
    ) -> Result<FetchedFile, ClientError> {
        let fetched = self
            .fetch_attachment_to(local_id, AttachmentSink::Path(out), &Transfer::default())
            .await?;
        Ok(fetched.into_file(out))
    }

    /// [`Client::fetch_attachment`] into any [`AttachmentSink`] (a path,
    /// memory, or an `AsyncWrite`), with progress and cancellation. Nothing
    /// of the plaintext reaches the sink before the whole object verified;
    /// a cancelled fetch (or a dropped future) before that leaves nothing
    /// (no file, no bytes, nothing written to the writer).
    pub async fn fetch_attachment_to(
        &self,
        local_id: i64,
        sink: AttachmentSink<'_>,
        transfer: &Transfer,
    ) -> Result<FetchedAttachment, ClientError> {
        let (_, body) = self.stored_share(local_id).await?;
        self.fetch_checked(&body, sink, transfer).await
    }

    /// Fetches the object of a share already checked against its message.
    async fn fetch_checked(
        &self,
        body: &[u8],
        sink: AttachmentSink<'_>,
        transfer: &Transfer,
    ) -> Result<FetchedAttachment, ClientError> {
        let share = AttachmentShare::from_bytes(body)?;
        let reference = &share.reference;
        let described = |opened: OpenedObject, sha256: [u8; 32]| FetchedAttachment {
            size: opened.plaintext_len,
            sha256: hex::encode(sha256),
            blob_id: hex::encode(opened.blob_id.0),
            content_type: reference.content_type.as_str().to_owned(),
            file_name: reference.file_name.as_ref().map(|n| n.as_str().to_owned()),
            bytes: None,
        };
        match sink {
            AttachmentSink::Path(out) => {
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
                let plaintext = BufWriter::with_capacity(256 * 1024, file);
                let (plaintext, opened, sha256) = self
                    .download_and_open(&share, plaintext, None, transfer)
                    .await?;
                let file = plaintext
                    .into_inner()
                    .map_err(|err| ClientError::File(format!("writing: {}", err.error())))?;
                file.sync_all().map_err(file_error("writing", &temp.path))?;
                drop(file);
                // The last chance to stop: after the link, the file is out.
                transfer.check()?;
                // A hard link does not replace an existing file, unlike a rename.
                std::fs::hard_link(&temp.path, out).map_err(file_error("creating", out))?;
                drop(temp);
                Ok(described(opened, sha256))
            }
            AttachmentSink::Memory => {
                let max = self.attachment_limits().max_blob_len;
                let sealed_len = reference.object.sealed_len;
                if sealed_len > max {
                    return Err(ClientError::AttachmentTooLarge {
                        size: Some(sealed_len),
                        max,
                    });
                }
                // Reserved up front (the plaintext is shorter than the
                // sealed object), so growing never leaves a copy behind.
                let capacity = usize::try_from(sealed_len).unwrap_or(usize::MAX);
                let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
                let (_, opened, sha256) = self
                    .download_and_open(&share, &mut *bytes, None, transfer)
                    .await?;
                transfer.check()?;
                let mut fetched = described(opened, sha256);
                fetched.bytes = Some(bytes);
                Ok(fetched)
            }
            AttachmentSink::Writer(writer) => {
                // Only ciphertext is kept on disk: the blob is opened once
                // to verify it (the plaintext dropped), and once more from
                // the verified copy into the writer.
                let (temp, mut file) = TempFile::create(&std::env::temp_dir(), "fuin-fetched-")?;
                let (_, opened, sha256) = self
                    .download_and_open(&share, std::io::sink(), Some(&mut file), transfer)
                    .await?;
                drop(file);
                write_verified(&temp.path, &share, opened.plaintext_len, writer, transfer).await?;
                drop(temp);
                Ok(described(opened, sha256))
            }
        }
    }

    /// Streams the share's blob from the relay through the opener into
    /// `plaintext` (and its ciphertext into `ciphertext` if given); returns
    /// them with what was opened and the plaintext's SHA-256 once the whole
    /// object verified. Progress: the bytes downloaded, and the plaintext
    /// bytes whose chunks authenticated.
    async fn download_and_open<W: Write>(
        &self,
        share: &AttachmentShare<'_>,
        plaintext: W,
        mut ciphertext: Option<&mut std::fs::File>,
        transfer: &Transfer,
    ) -> Result<(W, OpenedObject, [u8; 32]), ClientError> {
        transfer.check()?;
        let sealed_len = share.reference.object.sealed_len;
        let downloading = transfer.phase(TransferPhase::Downloading, Some(sealed_len));
        let mut head = Vec::with_capacity(5);
        let opening_progress = Arc::new(OnceLock::new());
        let mut writer = ObjectOpener::for_reference(&share.reference).writer(OpenedSink {
            inner: plaintext,
            hasher: Sha256::new(),
            written: 0,
            progress: opening_progress.clone(),
        });
        let relay = self.relay();
        let blob_id = share.reference.object.blob_id;
        let capability = &share.capability;
        let request =
            self.authed(|token| async move { relay.get_blob(&token, &blob_id, capability).await });
        let mut response = tokio::select! {
            biased;
            () = transfer.cancellation().cancelled() => return Err(ClientError::Cancelled),
            response = request => response?,
        };
        let mut received = 0u64;
        loop {
            let chunk = tokio::select! {
                biased;
                () = transfer.cancellation().cancelled() => return Err(ClientError::Cancelled),
                chunk = response.chunk() => chunk.map_err(|err| {
                    ClientError::Unreachable(format!("downloading the blob: {err}"))
                })?,
            };
            let Some(chunk) = chunk else { break };
            if let Some(file) = ciphertext.as_deref_mut() {
                file.write_all(&chunk)
                    .map_err(|err| ClientError::File(format!("writing the blob: {err}")))?;
            }
            received += chunk.len() as u64;
            downloading.report(received);
            // A body already buffered is ready at every poll: give the
            // runtime (and a caller racing this future) a turn now and then.
            if received / YIELD_EVERY != (received - chunk.len() as u64) / YIELD_EVERY {
                tokio::task::yield_now().await;
            }
            if opening_progress.get().is_none() {
                // The plaintext length follows from the header's chunk size.
                let wanted = 5usize.saturating_sub(head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..wanted]);
                if head.len() == 5 {
                    let total = plaintext_len_of(&head, sealed_len);
                    let phase = transfer.phase(TransferPhase::Opening, total);
                    let _ = opening_progress.set(phase);
                }
            }
            writer.write_all(&chunk).map_err(AttachmentError::from)?;
        }
        let (sink, opened) = writer.finish()?;
        Ok((sink.inner, opened, sink.hasher.finalize().into()))
    }

    /// Downloads, checks and opens the thumbnail of attachment message
    /// `local_id`; `None` if it has none. Opened in memory (a thumbnail's
    /// sealed length is at most 1 MiB) and returned only once it verified;
    /// a thumbnail blob swapped for another is
    /// [`AttachmentError::ContextMismatch`].
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
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
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
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
        let fetched = self
            .fetch_group_attachment_to(local_id, AttachmentSink::Path(out), &Transfer::default())
            .await?;
        Ok(fetched.into_file(out))
    }

    /// [`Client::fetch_attachment_to`] for the group attachment message
    /// `local_id`.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn fetch_group_attachment_to(
        &self,
        local_id: i64,
        sink: AttachmentSink<'_>,
        transfer: &Transfer,
    ) -> Result<FetchedAttachment, ClientError> {
        let body = self.stored_group_share(local_id).await?;
        self.fetch_checked(&body, sink, transfer).await
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
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
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

/// Where a fetched attachment's plaintext goes, once all of it verified.
pub enum AttachmentSink<'a> {
    /// A new file at this path (which must not exist), made from a
    /// temporary file beside it.
    Path(&'a Path),
    /// Memory: [`FetchedAttachment::bytes`], in a buffer that zeroes itself.
    /// For objects up to the relay's blob limit.
    Memory,
    /// Any writer. The blob's ciphertext is kept in a temporary file while
    /// it is verified; the plaintext is written only after that, opened
    /// again from the verified ciphertext. Cancelling while it is written
    /// leaves the writer with a verified prefix of the plaintext (never an
    /// unverified byte).
    Writer(&'a mut (dyn AsyncWrite + Send + Unpin)),
}

impl std::fmt::Debug for AttachmentSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(path) => f.debug_tuple("Path").field(path).finish(),
            Self::Memory => f.write_str("Memory"),
            Self::Writer(_) => f.write_str("Writer"),
        }
    }
}

/// An attachment fetched by [`Client::fetch_attachment_to`]: it verified.
#[derive(Clone, PartialEq, Eq)]
pub struct FetchedAttachment {
    /// Bytes of plaintext.
    pub size: u64,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
    /// The blob id that was checked, hex.
    pub blob_id: String,
    /// Its media type.
    pub content_type: String,
    /// Its display name, if it has one.
    pub file_name: Option<String>,
    /// The plaintext, for [`AttachmentSink::Memory`].
    pub bytes: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for FetchedAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchedAttachment")
            .field("size", &self.size)
            .field("sha256", &self.sha256)
            .field("blob_id", &self.blob_id)
            .field("content_type", &self.content_type)
            .field("file_name", &self.file_name)
            .field("bytes", &self.bytes.as_ref().map(|bytes| bytes.len()))
            .finish()
    }
}

impl FetchedAttachment {
    fn into_file(self, path: &Path) -> FetchedFile {
        FetchedFile {
            path: path.to_owned(),
            size: self.size,
            sha256: self.sha256,
            blob_id: self.blob_id,
            content_type: self.content_type,
            file_name: self.file_name,
        }
    }
}

/// The opener's output: hashes and counts the plaintext of authenticated
/// chunks on its way to `inner`, and reports it once the phase is known.
struct OpenedSink<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
    progress: Arc<OnceLock<PhaseProgress>>,
}

impl<W: Write> Write for OpenedSink<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        if let Some(progress) = self.progress.get() {
            progress.report(self.written);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A writer whose bytes are taken out after each write, to go on to an
/// async writer; the buffer zeroes itself.
#[derive(Clone, Default)]
struct Handover(Arc<Mutex<Zeroizing<Vec<u8>>>>);

impl Handover {
    fn take(&self) -> Zeroizing<Vec<u8>> {
        match self.0.lock() {
            Ok(mut buffer) => std::mem::take(&mut *buffer),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

impl Write for Handover {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("the handover buffer is poisoned"))?;
        buffer.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Opens the verified ciphertext at `path` again and writes its plaintext
/// to `writer`, each block as it authenticates. The ciphertext verified
/// whole already, so every byte written belongs to the verified object
/// (were the temporary file altered meanwhile, the opener still refuses the
/// altered chunk and what follows it).
async fn write_verified(
    path: &Path,
    share: &AttachmentShare<'_>,
    plaintext_len: u64,
    writer: &mut (dyn AsyncWrite + Send + Unpin),
    transfer: &Transfer,
) -> Result<(), ClientError> {
    let progress = transfer.phase(TransferPhase::Writing, Some(plaintext_len));
    let handover = Handover::default();
    let mut opener = ObjectOpener::for_reference(&share.reference).writer(handover.clone());
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(file_error("opening", path))?;
    let mut block = vec![0u8; 256 * 1024];
    let mut written = 0u64;
    let write_err = |err: std::io::Error| ClientError::File(format!("writing out: {err}"));
    loop {
        transfer.check()?;
        let n = file
            .read(&mut block)
            .await
            .map_err(file_error("reading", path))?;
        if n == 0 {
            break;
        }
        opener
            .write_all(&block[..n])
            .map_err(AttachmentError::from)?;
        let plaintext = handover.take();
        writer.write_all(&plaintext).await.map_err(write_err)?;
        written += plaintext.len() as u64;
        progress.report(written);
        // A writer into memory is always ready (see `download_and_open`).
        tokio::task::yield_now().await;
    }
    opener.finish()?;
    let plaintext = handover.take();
    writer.write_all(&plaintext).await.map_err(write_err)?;
    writer.flush().await.map_err(write_err)?;
    written += plaintext.len() as u64;
    progress.report(written);
    Ok(())
}
