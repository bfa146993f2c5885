//! Sending an attachment: sealing in bounded memory into a temporary file,
//! the thumbnail, the uploads, and the message that shares them, with
//! progress, cancellation and the size limit checked first.

use std::io::{BufRead, BufWriter, Read, Seek};
use std::path::Path;

use fuin_seal::ConversationId;
use fuin_seal::attachment::{
    ChunkSize, DEFAULT_WINDOW_CHUNKS, ObjectSealer, SealedObject, attachment_reference,
};
use fuin_wire::attachment::{AttachmentShare, FileName, MediaType};
use fuin_wire::relay::BlobReceipt;
use fuin_wire::{BlobId, ContentType, DeviceAddress, UserId};
use sha2::{Digest, Sha256};
use tokio_stream::StreamExt;
use tokio_util::io::ReaderStream;
use zeroize::Zeroizing;

use super::image_limits::{self, THUMBNAIL_SOURCE_LIMITS};
use super::transfer::{AttachmentLimits, PhaseProgress, Transfer, TransferPhase};
use super::{
    AttachmentSource, MAX_THUMBNAIL_SIDE, SendFileOptions, SentFile, TempFile, blocking,
    file_error, guess_media_type, info,
};
use crate::{Client, ClientError};

/// Files larger than this are sealed on all cores.
const PARALLEL_FROM: u64 = 4 * 1024 * 1024;

/// Why a source stopped being read before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Cancelled,
    /// More than the limit arrived.
    TooLarge,
    /// More than the declared length arrived.
    LongerThanDeclared,
}

/// The reader sealing takes its plaintext from: it hashes and counts what
/// passes, reports progress, and stops (with an I/O error the sealer passes
/// on, and the reason kept here) when the transfer is cancelled or the
/// source goes past the limit or its declared length.
struct SourceReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
    max: u64,
    declared: Option<u64>,
    transfer: Transfer,
    progress: PhaseProgress,
    stopped: Option<Stop>,
}

impl<R: Read> SourceReader<R> {
    fn stop(&mut self, why: Stop) -> std::io::Error {
        self.stopped = Some(why);
        std::io::Error::other("attachment source stopped")
    }
}

impl<R: Read> Read for SourceReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.transfer.is_cancelled() {
            return Err(self.stop(Stop::Cancelled));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.max {
            return Err(self.stop(Stop::TooLarge));
        }
        if self.declared.is_some_and(|declared| self.read > declared) {
            return Err(self.stop(Stop::LongerThanDeclared));
        }
        self.hasher.update(&buf[..n]);
        self.progress.report(self.read);
        Ok(n)
    }
}

/// A sealed object waiting in a temporary file.
struct SealedFile {
    file: TempFile,
    sealed: SealedObject,
    plaintext_sha256: [u8; 32],
}

/// What sealing needs besides the plaintext.
struct SealJob {
    owner: DeviceAddress<'static>,
    conversation: ConversationId,
    content_type: MediaType<'static>,
    chunk_size: ChunkSize,
    /// The largest plaintext the relay takes at this chunk size.
    max: u64,
}

/// Seals `input` into a temporary file (blocking; bounded memory), stopping
/// as soon as it is cancelled or passes the limit or its declared length.
fn seal_source(
    input: Box<dyn Read + Send>,
    declared: Option<u64>,
    job: SealJob,
    transfer: Transfer,
) -> Result<SealedFile, ClientError> {
    let (temp, output) = TempFile::create(&std::env::temp_dir(), "fuin-sealed-")?;
    let mut output = BufWriter::with_capacity(256 * 1024, output);
    let sealer = ObjectSealer::new(
        &mut rand::rng(),
        &job.owner,
        job.conversation,
        job.content_type,
        job.chunk_size,
    );
    let progress = transfer.phase(TransferPhase::Sealing, declared);
    let mut reader = SourceReader {
        inner: input,
        hasher: Sha256::new(),
        read: 0,
        max: job.max,
        declared,
        transfer,
        progress,
        stopped: None,
    };
    let sealed = if declared.is_some_and(|len| len >= PARALLEL_FROM) {
        sealer.seal_stream_parallel(&mut reader, &mut output, DEFAULT_WINDOW_CHUNKS)
    } else {
        sealer.seal_stream(&mut reader, &mut output)
    };
    let sealed = match (sealed, reader.stopped) {
        (_, Some(Stop::Cancelled)) => return Err(ClientError::Cancelled),
        (_, Some(Stop::TooLarge)) => {
            return Err(ClientError::AttachmentTooLarge {
                size: declared,
                max: job.max,
            });
        }
        (_, Some(Stop::LongerThanDeclared)) | (Ok(_), None)
            if declared.is_some_and(|len| len != reader.read) =>
        {
            return Err(ClientError::InvalidArgument(format!(
                "the attachment's stream did not give the {} bytes declared",
                declared.unwrap_or_default()
            )));
        }
        (sealed, _) => sealed?,
    };
    let file = output
        .into_inner()
        .map_err(|err| ClientError::File(format!("writing the sealed file: {}", err.error())))?;
    file.sync_all().map_err(file_error("writing", &temp.path))?;
    Ok(SealedFile {
        file: temp,
        sealed,
        plaintext_sha256: reader.hasher.finalize().into(),
    })
}

/// A thumbnail's PNG bytes and its dimensions.
type MadeThumbnail = (Zeroizing<Vec<u8>>, (u32, u32));

/// A PNG thumbnail of the image at `source`, at most
/// [`MAX_THUMBNAIL_SIDE`] on its longer side, and its dimensions; `None`
/// if the file is not an image this device reads within
/// [`THUMBNAIL_SOURCE_LIMITS`] (blocking; the file is still sent). The decoded
/// pixels are zeroed before they are freed, and the PNG is returned in a
/// buffer that zeroes itself (written into capacity reserved up front, so
/// the encoder's growth leaves no copies behind in the usual case).
pub(super) fn make_thumbnail(source: &Path) -> Option<MadeThumbnail> {
    let file = std::fs::File::open(source).ok()?;
    let len = file.metadata().ok()?.len();
    thumbnail_of(std::io::BufReader::new(file), len)
}

/// [`make_thumbnail`] of an image read from `image` (`len` bytes).
fn thumbnail_of(image: impl BufRead + Seek, len: u64) -> Option<MadeThumbnail> {
    let image = image_limits::decode_within(image, len, &THUMBNAIL_SOURCE_LIMITS).ok()?;
    let thumbnail = image.thumbnail(MAX_THUMBNAIL_SIDE, MAX_THUMBNAIL_SIDE);
    drop(Zeroizing::new(image.into_bytes()));
    let dimensions = (thumbnail.width(), thumbnail.height());
    // An uncompressed RGBA image of that size, with room for the PNG framing.
    let room = (dimensions.0 as usize * dimensions.1 as usize + dimensions.1 as usize) * 4 + 4096;
    let mut png = Zeroizing::new(Vec::with_capacity(room));
    let written = thumbnail.write_to(
        &mut std::io::Cursor::new(&mut *png),
        image::ImageFormat::Png,
    );
    drop(Zeroizing::new(thumbnail.into_bytes()));
    written.ok()?;
    Some((png, dimensions))
}

impl Client {
    /// The largest attachment the relay takes. The relay does not
    /// advertise its blob limit (`spec/relay-api.md` §6): it is the one
    /// this client was configured with ([`ClientOptions::max_blob_len`](crate::ClientOptions::max_blob_len)),
    /// the relay's default of 64 MiB otherwise. A send over it fails with
    /// [`ClientError::AttachmentTooLarge`] before anything is uploaded.
    pub fn attachment_limits(&self) -> AttachmentLimits {
        AttachmentLimits::for_blob_limit(self.max_blob_len())
    }

    /// Seals the file at `path` on this device and shares it with `user`:
    /// uploaded to the relay's blob store (with a thumbnail made here for
    /// PNG and JPEG images, sealed as an object of its own), then shared in
    /// an end-to-end message of content type `Attachment`, stored in the
    /// history like a text. The file is read and sealed in bounded memory
    /// whatever its size; only ciphertext leaves the device.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn send_file(
        &self,
        user: &str,
        path: &Path,
        options: &SendFileOptions,
    ) -> Result<SentFile, ClientError> {
        self.send_attachment(
            user,
            AttachmentSource::path(path),
            options,
            &Transfer::default(),
        )
        .await
    }

    /// [`Client::send_file`] from any source (a file, bytes in memory, a
    /// stream of known or unknown length), with progress and cancellation.
    /// A source over [`Client::attachment_limits`] is refused before
    /// anything is uploaded (a declared size before the first byte is
    /// sealed). Until the share is handed to the sending step, cancelling
    /// `transfer` or dropping the future leaves nothing shared: no message
    /// is sent and nothing enters the history (an uploaded blob stays
    /// unreadable at the relay, its capability unknown to anyone, until it
    /// expires); once the message is being sent, the send completes.
    pub async fn send_attachment(
        &self,
        user: &str,
        source: AttachmentSource,
        options: &SendFileOptions,
        transfer: &Transfer,
    ) -> Result<SentFile, ClientError> {
        let peer = UserId::new(user.to_owned())
            .map_err(|err| ClientError::InvalidArgument(format!("user id {user:?}: {err}")))?;
        let conversation = ConversationId::direct(&self.address().user, &peer);
        let share = self
            .seal_and_upload(conversation, source, options, transfer)
            .await?;
        let body = share.share.to_bytes()?;
        transfer.check()?;
        let message = self
            .send_in_history(&peer, ContentType::Attachment, &body)
            .await?;
        Ok(share.sent(message))
    }

    /// Seals and uploads an attachment (and its thumbnail) for
    /// `conversation`; the share to send. Any conversation id, one-to-one
    /// or group.
    async fn seal_and_upload(
        &self,
        conversation: ConversationId,
        source: AttachmentSource,
        options: &SendFileOptions,
        transfer: &Transfer,
    ) -> Result<UploadedShare, ClientError> {
        let path = source.file_path().map(Path::to_owned);
        // Guessed from the file's name: the path's, or the name given for
        // bytes and streams.
        let named = path
            .clone()
            .or_else(|| options.file_name.as_deref().map(std::path::PathBuf::from));
        let content_type = MediaType::new(options.content_type.clone().unwrap_or_else(|| {
            named
                .as_deref()
                .map_or("application/octet-stream", guess_media_type)
                .to_owned()
        }))
        .map_err(|err| ClientError::InvalidArgument(format!("media type: {err}")))?;
        let file_name = match &options.file_name {
            Some(name) => Some(
                FileName::new(name.clone())
                    .map_err(|err| ClientError::InvalidArgument(format!("file name: {err}")))?,
            ),
            None => path
                .as_deref()
                .and_then(Path::file_name)
                .and_then(|n| n.to_str())
                .and_then(|n| FileName::new(n.to_owned()).ok()),
        };
        let chunk_size = match options.chunk_size {
            Some(size) => ChunkSize::new(size)
                .map_err(|err| ClientError::InvalidArgument(format!("chunk size: {err}")))?,
            None => ChunkSize::DEFAULT,
        };
        let max = self.attachment_limits().max_file_len_for(chunk_size);
        let wants_thumbnail =
            options.thumbnail && matches!(content_type.as_str(), "image/png" | "image/jpeg");
        let thumbnail_source = match (&source, wants_thumbnail) {
            (AttachmentSource::Path(path), true) => Some(ThumbnailSource::Path(path.clone())),
            (AttachmentSource::Bytes(bytes), true) => Some(ThumbnailSource::Bytes(bytes.clone())),
            _ => None,
        };
        let (input, declared) = source.open()?;
        // Refused before a byte is sealed or uploaded.
        if let Some(size) = declared.filter(|size| *size > max) {
            return Err(ClientError::AttachmentTooLarge {
                size: Some(size),
                max,
            });
        }
        transfer.check()?;
        self.ensure_registered().await?;

        // Dropping this future cancels the sealing thread too.
        let sealing = transfer
            .clone()
            .with_cancellation(transfer.cancellation().child_token());
        let _stop_sealing_on_drop = sealing.cancellation().clone().drop_guard();
        let job = SealJob {
            owner: self.address().clone(),
            conversation,
            content_type: content_type.clone(),
            chunk_size,
            max,
        };
        let sealed = blocking(move || seal_source(input, declared, job, sealing)).await?;
        transfer.check()?;
        let thumbnail = match thumbnail_source {
            Some(source) => {
                let owner = self.address().clone();
                blocking(move || {
                    let made = match &source {
                        ThumbnailSource::Path(path) => make_thumbnail(path),
                        ThumbnailSource::Bytes(bytes) => {
                            thumbnail_of(std::io::Cursor::new(&bytes[..]), bytes.len() as u64)
                        }
                    };
                    let Some((png, dimensions)) = made else {
                        return Ok(None);
                    };
                    let sealer = ObjectSealer::new(
                        &mut rand::rng(),
                        &owner,
                        conversation,
                        MediaType::new("image/png")?,
                        ChunkSize::DEFAULT,
                    );
                    let (blob, object) = sealer.seal(&png)?;
                    Ok(Some((blob, object, dimensions)))
                })
                .await?
            }
            None => None,
        };

        let receipt = self
            .upload_file(&sealed.file.path, &sealed.sealed.object.blob_id, transfer)
            .await?;
        let (thumbnail_object, thumbnail_capability, thumbnail_dimensions) = match thumbnail {
            Some((blob, object, dimensions)) => {
                transfer.check()?;
                let receipt = self.upload_bytes(blob, &object.object.blob_id).await?;
                (Some(object), Some(receipt.capability), Some(dimensions))
            }
            None => (None, None, None),
        };
        let reference = attachment_reference(&sealed.sealed, thumbnail_object.as_ref(), file_name)?;
        Ok(UploadedShare {
            share: AttachmentShare {
                reference,
                capability: receipt.capability,
                thumbnail_capability,
            },
            size: sealed.sealed.plaintext_len,
            sha256: sealed.plaintext_sha256,
            thumbnail_dimensions,
        })
    }

    /// Uploads the sealed file streamed, reporting the bytes sent; a
    /// cancelled transfer stops the body at its next block, so the relay
    /// never gets the whole blob and stores nothing.
    async fn upload_file(
        &self,
        path: &Path,
        blob_id: &BlobId,
        transfer: &Transfer,
    ) -> Result<BlobReceipt, ClientError> {
        let relay = self.relay();
        let len = std::fs::metadata(path)
            .map_err(file_error("reading", path))?
            .len();
        let progress = transfer.phase(TransferPhase::Uploading, Some(len));
        let upload = self.authed(|token| {
            let progress = progress.clone();
            let transfer = transfer.clone();
            async move {
                let file = tokio::fs::File::open(path)
                    .await
                    .map_err(file_error("opening", path))?;
                let mut sent = 0u64;
                let body = ReaderStream::with_capacity(file, 64 * 1024).map(move |block| {
                    let block = block?;
                    if transfer.is_cancelled() {
                        return Err(std::io::Error::other("the upload was cancelled"));
                    }
                    sent += block.len() as u64;
                    progress.report(sent);
                    Ok(block)
                });
                relay
                    .put_blob(&token, blob_id, reqwest::Body::wrap_stream(body), len)
                    .await
            }
        });
        let receipt = tokio::select! {
            biased;
            () = transfer.cancellation().cancelled() => return Err(ClientError::Cancelled),
            receipt = upload => receipt,
        };
        // A body stopped by a cancellation fails as a request error.
        transfer.check()?;
        let receipt = receipt?;
        check_receipt(&receipt, blob_id)?;
        Ok(receipt)
    }

    async fn upload_bytes(
        &self,
        blob: Vec<u8>,
        blob_id: &BlobId,
    ) -> Result<BlobReceipt, ClientError> {
        let relay = self.relay();
        let blob = bytes::Bytes::from(blob);
        let receipt = self
            .authed(|token| {
                let blob = blob.clone();
                async move {
                    let len = blob.len() as u64;
                    relay
                        .put_blob(&token, blob_id, reqwest::Body::from(blob), len)
                        .await
                }
            })
            .await?;
        check_receipt(&receipt, blob_id)?;
        Ok(receipt)
    }
}

impl Client {
    /// Seals the file at `path` on this device and shares it with the
    /// group `group` (its id or a unique prefix is resolved by the caller;
    /// here the 64 hex digits): sealed for the group's conversation id,
    /// uploaded like [`Client::send_file`], then shared in one group
    /// message of content type `Attachment` fanned out to every other
    /// member device of the current epoch. The share carries the blob
    /// capabilities, so every member that opens the message can download
    /// the blobs, and no one else learns them.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn send_group_file(
        &self,
        group: &str,
        path: &Path,
        options: &SendFileOptions,
    ) -> Result<SentFile, ClientError> {
        self.send_group_attachment(
            group,
            AttachmentSource::path(path),
            options,
            &Transfer::default(),
        )
        .await
    }

    /// [`Client::send_group_file`] from any source, with progress and
    /// cancellation, as [`Client::send_attachment`].
    pub async fn send_group_attachment(
        &self,
        group: &str,
        source: AttachmentSource,
        options: &SendFileOptions,
        transfer: &Transfer,
    ) -> Result<SentFile, ClientError> {
        let id = crate::group::parse_group_id(group)?;
        // Refused before anything is sealed or uploaded.
        self.check_group_member(&id).await?;
        let share = self
            .seal_and_upload(ConversationId::group(&id), source, options, transfer)
            .await?;
        let body = share.share.to_bytes()?;
        transfer.check()?;
        let message = self
            .send_group_content(&id, ContentType::Attachment, &body)
            .await?;
        Ok(share.sent(message))
    }
}

/// What a thumbnail is made of.
enum ThumbnailSource {
    Path(std::path::PathBuf),
    Bytes(bytes::Bytes),
}

/// A share ready to send, and what the sender shows of it.
struct UploadedShare {
    share: AttachmentShare<'static>,
    size: u64,
    sha256: [u8; 32],
    thumbnail_dimensions: Option<(u32, u32)>,
}

impl UploadedShare {
    fn sent(self, message: crate::SentMessage) -> SentFile {
        SentFile {
            message,
            attachment: info(&self.share),
            size: self.size,
            sha256: hex::encode(self.sha256),
            thumbnail_dimensions: self.thumbnail_dimensions,
        }
    }
}

fn check_receipt(receipt: &BlobReceipt, blob_id: &BlobId) -> Result<(), ClientError> {
    if receipt.blob_id != *blob_id {
        return Err(ClientError::RelayMisbehaved(
            "the blob receipt names another blob".into(),
        ));
    }
    Ok(())
}
