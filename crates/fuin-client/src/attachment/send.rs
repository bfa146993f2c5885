//! Sending an attachment: sealing in bounded memory into a temporary file,
//! the thumbnail, the uploads, and the message that shares them.

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::Path;

use fuin_seal::ConversationId;
use fuin_seal::attachment::{
    ChunkSize, DEFAULT_WINDOW_CHUNKS, ObjectSealer, SealedObject, attachment_reference,
};
use fuin_wire::attachment::{AttachmentShare, FileName, MediaType};
use fuin_wire::relay::BlobReceipt;
use fuin_wire::{BlobId, ContentType, DeviceAddress, UserId};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::image_limits::{self, THUMBNAIL_SOURCE_LIMITS};
use super::{
    MAX_THUMBNAIL_SIDE, SendFileOptions, SentFile, TempFile, blocking, file_error,
    guess_media_type, info,
};
use crate::{Client, ClientError};

/// Files larger than this are sealed on all cores.
const PARALLEL_FROM: u64 = 4 * 1024 * 1024;

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A sealed object waiting in a temporary file.
struct SealedFile {
    file: TempFile,
    sealed: SealedObject,
    plaintext_sha256: [u8; 32],
}

/// Seals `source` into a temporary file (blocking; bounded memory).
fn seal_file(
    source: &Path,
    owner: &DeviceAddress<'static>,
    conversation: ConversationId,
    content_type: MediaType<'static>,
    chunk_size: ChunkSize,
) -> Result<SealedFile, ClientError> {
    let input = File::open(source).map_err(file_error("opening", source))?;
    let len = input
        .metadata()
        .map_err(file_error("reading", source))?
        .len();
    let (temp, output) = TempFile::create(&std::env::temp_dir(), "fuin-sealed-")?;
    let mut output = BufWriter::with_capacity(256 * 1024, output);
    let sealer = ObjectSealer::new(
        &mut rand::rng(),
        owner,
        conversation,
        content_type,
        chunk_size,
    );
    let mut reader = HashingReader {
        inner: input,
        hasher: Sha256::new(),
    };
    let sealed = if len >= PARALLEL_FROM {
        sealer.seal_stream_parallel(&mut reader, &mut output, DEFAULT_WINDOW_CHUNKS)?
    } else {
        sealer.seal_stream(&mut reader, &mut output)?
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
    let file = File::open(source).ok()?;
    let len = file.metadata().ok()?.len();
    let image =
        image_limits::decode_within(std::io::BufReader::new(file), len, &THUMBNAIL_SOURCE_LIMITS)
            .ok()?;
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
    /// Seals the file at `path` on this device and shares it with `user`:
    /// uploaded to the relay's blob store (with a thumbnail made here for
    /// PNG and JPEG images, sealed as an object of its own), then shared in
    /// an end-to-end message of content type `Attachment`, stored in the
    /// history like a text. The file is read and sealed in bounded memory
    /// whatever its size; only ciphertext leaves the device.
    pub async fn send_file(
        &self,
        user: &str,
        path: &Path,
        options: &SendFileOptions,
    ) -> Result<SentFile, ClientError> {
        let peer = UserId::new(user.to_owned())
            .map_err(|err| ClientError::InvalidArgument(format!("user id {user:?}: {err}")))?;
        let conversation = ConversationId::direct(&self.address().user, &peer);
        let share = self.seal_and_upload(conversation, path, options).await?;
        let body = share.share.to_bytes()?;
        let message = self
            .send_in_history(&peer, ContentType::Attachment, &body)
            .await?;
        Ok(SentFile {
            message,
            attachment: info(&share.share),
            size: share.size,
            sha256: hex::encode(share.sha256),
            thumbnail_dimensions: share.thumbnail_dimensions,
        })
    }

    /// Seals and uploads a file (and its thumbnail) for `conversation`;
    /// the share to send. Any conversation id, one-to-one or group.
    async fn seal_and_upload(
        &self,
        conversation: ConversationId,
        path: &Path,
        options: &SendFileOptions,
    ) -> Result<UploadedShare, ClientError> {
        let content_type = MediaType::new(
            options
                .content_type
                .clone()
                .unwrap_or_else(|| guess_media_type(path).to_owned()),
        )
        .map_err(|err| ClientError::InvalidArgument(format!("media type: {err}")))?;
        let file_name = match &options.file_name {
            Some(name) => Some(
                FileName::new(name.clone())
                    .map_err(|err| ClientError::InvalidArgument(format!("file name: {err}")))?,
            ),
            None => path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| FileName::new(n.to_owned()).ok()),
        };
        let chunk_size = match options.chunk_size {
            Some(size) => ChunkSize::new(size)
                .map_err(|err| ClientError::InvalidArgument(format!("chunk size: {err}")))?,
            None => ChunkSize::DEFAULT,
        };
        let wants_thumbnail =
            options.thumbnail && matches!(content_type.as_str(), "image/png" | "image/jpeg");
        self.ensure_registered().await?;

        let owner = self.address().clone();
        let source = path.to_owned();
        let media = content_type.clone();
        let sealed =
            blocking(move || seal_file(&source, &owner, conversation, media, chunk_size)).await?;
        let thumbnail = if wants_thumbnail {
            let source = path.to_owned();
            let owner = self.address().clone();
            blocking(move || {
                let Some((png, dimensions)) = make_thumbnail(&source) else {
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
        } else {
            None
        };

        let receipt = self
            .upload_file(&sealed.file.path, &sealed.sealed.object.blob_id)
            .await?;
        let (thumbnail_object, thumbnail_capability, thumbnail_dimensions) = match thumbnail {
            Some((blob, object, dimensions)) => {
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

    async fn upload_file(&self, path: &Path, blob_id: &BlobId) -> Result<BlobReceipt, ClientError> {
        let relay = self.relay();
        let receipt = self
            .authed(|token| async move {
                let file = tokio::fs::File::open(path)
                    .await
                    .map_err(file_error("opening", path))?;
                let len = file
                    .metadata()
                    .await
                    .map_err(file_error("reading", path))?
                    .len();
                relay
                    .put_blob(&token, blob_id, reqwest::Body::from(file), len)
                    .await
            })
            .await?;
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
    pub async fn send_group_file(
        &self,
        group: &str,
        path: &Path,
        options: &SendFileOptions,
    ) -> Result<SentFile, ClientError> {
        let id = crate::group::parse_group_id(group)?;
        // Refused before anything is sealed or uploaded.
        self.check_group_member(&id).await?;
        let share = self
            .seal_and_upload(ConversationId::group(&id), path, options)
            .await?;
        let body = share.share.to_bytes()?;
        let message = self
            .send_group_content(&id, ContentType::Attachment, &body)
            .await?;
        Ok(SentFile {
            message,
            attachment: info(&share.share),
            size: share.size,
            sha256: hex::encode(share.sha256),
            thumbnail_dimensions: share.thumbnail_dimensions,
        })
    }
}

/// A share ready to send, and what the sender shows of it.
struct UploadedShare {
    share: AttachmentShare<'static>,
    size: u64,
    sha256: [u8; 32],
    thumbnail_dimensions: Option<(u32, u32)>,
}

fn check_receipt(receipt: &BlobReceipt, blob_id: &BlobId) -> Result<(), ClientError> {
    if receipt.blob_id != *blob_id {
        return Err(ClientError::RelayMisbehaved(
            "the blob receipt names another blob".into(),
        ));
    }
    Ok(())
}
