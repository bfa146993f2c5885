//! Attachments: files sealed on the device, stored as blobs at the relay,
//! shared by an end-to-end message (`spec/client.md` §11,
//! `spec/attachments.md`).
//!
//! Sending seals the file in chunks into a temporary file of ciphertext
//! (bounded memory whatever the file's size: a streaming sealer on one core
//! for small files, on all cores for large ones), uploads it streamed, and
//! does the same in memory for a thumbnail made here from images. The
//! message that shares them is an [`AttachmentShare`]: the reference (ids,
//! keys, blob hashes, lengths, context) and the relay capabilities.
//!
//! Fetching first checks that the reference fits the message that carried
//! it (owner = the authenticated sending device, the message's
//! conversation), then streams the blob through the opener into a
//! temporary file beside the destination, and moves it into place only when
//! the opener's `finish` succeeded: commitment first, every chunk, the
//! length and the blob's SHA-256 last. On any failure the temporary file is
//! removed and nothing is written out.
//!
//! The conversation is an argument of the sealing and checking steps, not a
//! property of a user: a group's attachments are sealed and checked with
//! the group's conversation id (`ConversationId::group`) and shared in a
//! group message, whose body every member device opens.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use fuin_seal::ConversationId;
use fuin_seal::attachment::{
    AttachmentError, ChunkSize, DEFAULT_WINDOW_CHUNKS, ObjectContext, ObjectOpener, ObjectSealer,
    SealedObject, attachment_reference, check_reference_fits_message,
};
use fuin_wire::attachment::{AttachmentShare, FileName, MediaType};
use fuin_wire::relay::BlobReceipt;
use fuin_wire::{BlobId, ContentType, DeviceAddress, UserId};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Client, ClientError, Message, SentMessage};

mod image_limits;
pub use image_limits::{ImageLimits, ImageRefusal, PEER_THUMBNAIL_LIMITS, THUMBNAIL_SOURCE_LIMITS};

/// The longest side of a thumbnail, in pixels.
pub const MAX_THUMBNAIL_SIDE: u32 = 160;

/// Files larger than this are sealed on all cores.
const PARALLEL_FROM: u64 = 4 * 1024 * 1024;

/// The largest sealed thumbnail a device downloads (they are made at most
/// 160 × 160 pixels, a PNG of which is far smaller).
const MAX_THUMBNAIL_SEALED: u64 = 1024 * 1024;

/// How a file is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFileOptions {
    /// Its media type (`type/subtype`); guessed from the file name's
    /// extension when not given, `application/octet-stream` otherwise.
    pub content_type: Option<String>,
    /// The name shown to the recipients; the path's last component when not
    /// given (or none if that is not a valid file name).
    pub file_name: Option<String>,
    /// Make a thumbnail of PNG and JPEG images (on this device).
    pub thumbnail: bool,
    /// The chunk size to seal with (16 B to 1 MiB); 64 KiB when not given.
    pub chunk_size: Option<u32>,
}

impl Default for SendFileOptions {
    fn default() -> Self {
        Self {
            content_type: None,
            file_name: None,
            thumbnail: true,
            chunk_size: None,
        }
    }
}

/// What a shared attachment is, from its reference (nothing is downloaded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentInfo {
    /// The device that sealed it.
    pub owner: DeviceAddress<'static>,
    /// Its media type.
    pub content_type: String,
    /// Its display name, if it has one.
    pub file_name: Option<String>,
    /// The sealed blob's id (SHA-256 of the ciphertext), hex.
    pub blob_id: String,
    /// The sealed blob's length in bytes.
    pub sealed_len: u64,
    /// Its thumbnail, if the sender made one.
    pub thumbnail: Option<ThumbnailInfo>,
}

/// A thumbnail's reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbnailInfo {
    /// Its media type.
    pub content_type: String,
    /// Its sealed blob's id, hex.
    pub blob_id: String,
    /// Its sealed blob's length in bytes.
    pub sealed_len: u64,
}

/// The outcome of [`Client::send_file`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentFile {
    /// The message that shares the file.
    pub message: SentMessage,
    /// What was shared.
    pub attachment: AttachmentInfo,
    /// Bytes of plaintext sealed.
    pub size: u64,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
    /// The thumbnail's width and height in pixels, if one was made.
    pub thumbnail_dimensions: Option<(u32, u32)>,
}

/// A file written out by [`Client::fetch_attachment`]: it verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedFile {
    /// Where it was written.
    pub path: PathBuf,
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
}

/// A thumbnail opened by [`Client::fetch_thumbnail`]: it verified.
#[derive(Clone, PartialEq, Eq)]
pub struct FetchedThumbnail {
    /// Its media type.
    pub content_type: String,
    /// The image file's bytes.
    pub bytes: Zeroizing<Vec<u8>>,
    /// Its width and height in pixels.
    pub dimensions: (u32, u32),
}

impl std::fmt::Debug for FetchedThumbnail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchedThumbnail")
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .field("dimensions", &self.dimensions)
            .finish()
    }
}

/// Checks a received share against the message that carried it, before it
/// is stored: it decodes, and its reference's owner is the authenticated
/// sending device and its conversation the message's. The reason in words
/// otherwise.
pub(crate) fn check_incoming(
    body: &[u8],
    sender: &DeviceAddress<'_>,
    conversation: &ConversationId,
) -> Result<(), String> {
    let share = AttachmentShare::from_bytes(body)
        .map_err(|err| format!("an unreadable attachment share: {err}"))?;
    check_reference_fits_message(&share.reference, sender, conversation).map_err(|_| {
        "an attachment whose reference names another owner or conversation than its message"
            .to_owned()
    })
}

/// A one-line description of an attachment share (a message body of
/// content type `Attachment`): its name, media type and sealed size, as the
/// history and a report preview show it.
pub fn describe_attachment(body: &[u8]) -> String {
    describe(body)
}

/// The history's one-line description of a stored share.
pub(crate) fn describe(body: &[u8]) -> String {
    match AttachmentShare::from_bytes(body) {
        Ok(share) => {
            let reference = &share.reference;
            let name = reference
                .file_name
                .as_ref()
                .map_or("attachment", |name| name.as_str());
            let thumbnail = if reference.thumbnail.is_some() {
                ", with thumbnail"
            } else {
                ""
            };
            format!(
                "[{name}: {}, {} bytes sealed{thumbnail}]",
                reference.content_type.as_str(),
                reference.object.sealed_len
            )
        }
        Err(_) => "[an unreadable attachment]".to_owned(),
    }
}

fn info(share: &AttachmentShare<'_>) -> AttachmentInfo {
    let reference = &share.reference;
    AttachmentInfo {
        owner: reference.owner.clone().into_owned(),
        content_type: reference.content_type.as_str().to_owned(),
        file_name: reference.file_name.as_ref().map(|n| n.as_str().to_owned()),
        blob_id: hex::encode(reference.object.blob_id.0),
        sealed_len: reference.object.sealed_len,
        thumbnail: reference.thumbnail.as_ref().map(|t| ThumbnailInfo {
            content_type: t.content_type.as_str().to_owned(),
            blob_id: hex::encode(t.object.blob_id.0),
            sealed_len: t.object.sealed_len,
        }),
    }
}

/// The media type for a file name's extension.
fn guess_media_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("txt") => "text/plain",
        Some("pdf") => "application/pdf",
        Some("mp4") => "video/mp4",
        _ => "application/octet-stream",
    }
}

fn file_error(what: &str, path: &Path) -> impl Fn(std::io::Error) -> ClientError {
    let what = format!("{what} {}", path.display());
    move |err| ClientError::File(format!("{what}: {err}"))
}

/// A file removed when dropped, unless kept.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl TempFile {
    /// A new empty file at a fresh random name in `dir`.
    fn create(dir: &Path, prefix: &str) -> Result<(Self, File), ClientError> {
        let mut random = [0u8; 12];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut random);
        let path = dir.join(format!("{prefix}{}.part", hex::encode(random)));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(file_error("creating", &path))?;
        Ok((Self { path, keep: false }, file))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

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
fn make_thumbnail(source: &Path) -> Option<MadeThumbnail> {
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

/// The dimensions of a peer's thumbnail, decoded within
/// [`PEER_THUMBNAIL_LIMITS`] (so a decompression bomb is refused, naming the
/// limit, before it is decoded); the decoded pixels are wiped.
fn thumbnail_dimensions(bytes: &[u8]) -> Result<(u32, u32), ClientError> {
    let image = image_limits::decode_bytes_within(bytes, &PEER_THUMBNAIL_LIMITS)
        .map_err(ClientError::ImageRefused)?;
    let dimensions = (image.width(), image.height());
    drop(Zeroizing::new(image.into_bytes()));
    Ok(dimensions)
}

/// Runs blocking work (file I/O, sealing) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ClientError> + Send + 'static,
) -> Result<T, ClientError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ClientError::File("a sealing task stopped".into()))?
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use fuin_wire::attachment::{AttachmentKey, AttachmentReference, ObjectId, SealedObjectRef};
    use fuin_wire::relay::BlobCapability;
    use fuin_wire::{DeviceId, attachment::ConversationDigest};

    fn share(owner: &str, conversation: ConversationId) -> Vec<u8> {
        AttachmentShare {
            reference: AttachmentReference {
                owner: DeviceAddress::new(UserId::new(owner.to_owned()).unwrap(), DeviceId(1)),
                conversation: ConversationDigest(conversation.0),
                content_type: MediaType::new("image/png").unwrap(),
                object: SealedObjectRef {
                    object_id: ObjectId([1; 16]),
                    key: AttachmentKey([2; 32]),
                    blob_id: BlobId([3; 32]),
                    sealed_len: 85,
                },
                thumbnail: None,
                file_name: Some(FileName::new("a.png").unwrap()),
            },
            capability: BlobCapability([4; 32]),
            thumbnail_capability: None,
        }
        .to_bytes()
        .unwrap()
        .to_vec()
    }

    #[test]
    fn a_received_share_must_fit_its_message() {
        let alice = DeviceAddress::new(UserId::new("alice").unwrap(), DeviceId(1));
        let bob = UserId::new("bob").unwrap();
        let carol = UserId::new("carol").unwrap();
        let ours = ConversationId::direct(&alice.user, &bob);
        let theirs = ConversationId::direct(&carol, &bob);
        assert_eq!(check_incoming(&share("alice", ours), &alice, &ours), Ok(()));
        // carol's reference relayed by alice, or one of another conversation.
        assert!(check_incoming(&share("carol", ours), &alice, &ours).is_err());
        assert!(check_incoming(&share("alice", theirs), &alice, &ours).is_err());
        assert!(check_incoming(b"\x01garbage", &alice, &ours).is_err());
    }

    #[test]
    fn a_group_share_must_name_its_group() {
        let alice = DeviceAddress::new(UserId::new("alice").unwrap(), DeviceId(1));
        let bob = UserId::new("bob").unwrap();
        let ours = ConversationId::group(&fuin_wire::GroupId([7; 32]));
        let other = ConversationId::group(&fuin_wire::GroupId([8; 32]));
        let direct = ConversationId::direct(&alice.user, &bob);
        assert_eq!(check_incoming(&share("alice", ours), &alice, &ours), Ok(()));
        // A share of a 1:1 conversation or of another group, sent in this
        // group by its own owner, is not this group's attachment.
        assert!(check_incoming(&share("alice", direct), &alice, &ours).is_err());
        assert!(check_incoming(&share("alice", other), &alice, &ours).is_err());
        assert!(check_incoming(&share("alice", ours), &alice, &direct).is_err());
    }

    #[test]
    fn a_thumbnail_bomb_from_a_peer_is_refused_naming_the_limit() {
        let bomb = image_limits::tests::png_claiming(50_000, 50_000);
        let err = thumbnail_dimensions(&bomb).unwrap_err();
        assert_eq!(
            err,
            ClientError::ImageRefused(ImageRefusal::SideTooLong {
                width: 50_000,
                height: 50_000,
                max_side: PEER_THUMBNAIL_LIMITS.max_side
            })
        );
        assert!(
            err.to_string().contains("limit of 1024 pixels a side"),
            "{err}"
        );
        // A thumbnail as this client makes them still opens.
        let normal = image_limits::tests::png(MAX_THUMBNAIL_SIDE, 120);
        assert_eq!(thumbnail_dimensions(&normal), Ok((MAX_THUMBNAIL_SIDE, 120)));
    }

    #[test]
    fn a_source_image_bomb_gets_no_thumbnail_and_a_photo_gets_one() {
        let dir = std::env::temp_dir().join(format!("fuin-thumb-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bomb = dir.join("bomb.png");
        std::fs::write(&bomb, image_limits::tests::png_claiming(40_000, 40_000)).unwrap();
        assert!(make_thumbnail(&bomb).is_none());
        let photo = dir.join("photo.png");
        std::fs::write(&photo, image_limits::tests::png(640, 480)).unwrap();
        let (_, dimensions) = make_thumbnail(&photo).unwrap();
        assert_eq!(dimensions, (MAX_THUMBNAIL_SIDE, 120));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_description_names_the_file_and_never_the_key() {
        let alice = UserId::new("alice").unwrap();
        let bob = UserId::new("bob").unwrap();
        let text = describe(&share("alice", ConversationId::direct(&alice, &bob)));
        assert_eq!(text, "[a.png: image/png, 85 bytes sealed]");
        assert_eq!(describe(b"nope"), "[an unreadable attachment]");
    }
}
