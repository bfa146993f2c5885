//! Attachments: files sealed on the device, stored as blobs at the relay,
//! shared by an end-to-end message (`spec/client.md` §11,
//! `spec/attachments.md`).
//!
//! Sending (`send`) reads a file, bytes or a stream (`source`) once and
//! seals it in chunks into a temporary file of ciphertext (bounded memory
//! whatever its size: a streaming sealer on one core for small files, on
//! all cores for large ones), uploads it streamed, and does the same in
//! memory for a thumbnail made here from images. The message that shares
//! them is an [`AttachmentShare`]: the reference (ids, keys, blob hashes,
//! lengths, context) and the relay capabilities.
//!
//! Fetching (`fetch`) first checks that the reference fits the message
//! that carried it (owner = the authenticated sending device, the
//! message's conversation), then streams the blob through the opener, and
//! hands the plaintext to its sink (a path, memory, a writer) only when the
//! opener's `finish` succeeded: commitment first, every chunk, the length
//! and the blob's hash (its blob id) last. On any failure nothing is written out.
//!
//! Both report progress and stop when cancelled (`transfer`), and a send
//! over the relay's limit is refused before anything is uploaded.
//!
//! The conversation is an argument of the sealing and checking steps, not a
//! property of a user: a group's attachments are sealed and checked with
//! the group's conversation id (`ConversationId::group`) and shared in a
//! group message, whose body every member device opens.

use std::fs::File;
use std::path::{Path, PathBuf};

use fuin_seal::ConversationId;
use fuin_seal::attachment::check_reference_fits_message;
use fuin_wire::DeviceAddress;
use fuin_wire::attachment::AttachmentShare;
use zeroize::Zeroizing;

use crate::{ClientError, SentMessage};

mod fetch;
mod image_limits;
mod send;
mod source;
mod transfer;
pub use fetch::{AttachmentSink, FetchedAttachment};
pub use image_limits::{ImageLimits, ImageRefusal, PEER_THUMBNAIL_LIMITS, THUMBNAIL_SOURCE_LIMITS};
pub use source::AttachmentSource;
pub use transfer::{
    AttachmentLimits, DEFAULT_MAX_BLOB_LEN, ProgressHook, Transfer, TransferPhase, TransferProgress,
};

/// The longest side of a thumbnail, in pixels.
pub const MAX_THUMBNAIL_SIDE: u32 = 160;

/// How a file is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFileOptions {
    /// Its media type (`type/subtype`); guessed from the file name's
    /// extension when not given (the path's, or `file_name` for bytes and
    /// streams), `application/octet-stream` otherwise.
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
    /// The sealed blob's id (BLAKE3 of the ciphertext; SHA-256 for a
    /// version 1 object), hex.
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

/// Runs blocking work (file I/O, sealing) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ClientError> + Send + 'static,
) -> Result<T, ClientError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ClientError::File("a sealing task stopped".into()))?
}
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::fetch::thumbnail_dimensions;
    use super::send::make_thumbnail;
    use super::*;
    use fuin_wire::attachment::{
        AttachmentKey, AttachmentReference, FileName, MediaType, ObjectId, SealedObjectRef,
    };
    use fuin_wire::relay::BlobCapability;
    use fuin_wire::{BlobId, UserId};
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
