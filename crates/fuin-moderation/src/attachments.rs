//! Reported attachments, re-fetched and checked with moderation's own
//! device (`spec/report.md` §6.1): the blob of each verified attachment
//! message (and its thumbnail) is fetched from the relay again and opened
//! as the reference its sender committed to, so a blob swapped or
//! re-sealed after the message was sent is caught. The service keeps the
//! outcome with the case (the plaintext sealed by the vault when it
//! verified and is at most [`MAX_STORED_ATTACHMENT`] bytes);
//! `fuin moderate open --fetch-attachments` prints it.

use std::io::{Seek, Write};
use std::path::Path;

use fuin_client::Client;
use fuin_report::attachment::{
    AttachmentCheckError, ReportedAttachment, check_reported_thumbnail, open_reported_blob,
    reported_share_in,
};
use fuin_report::{CheckedMessage, Inspected};
use fuin_wire::ContentType;
use fuin_wire::attachment::AttachmentShare;
use zeroize::Zeroizing;

use crate::model::{CaseAttachment, CaseId};
use crate::service::Service;
use crate::store::{ModerationStore, StoreError};

/// The largest blob re-fetched (the relay's default blob limit).
pub const MAX_BLOB: u64 = 64 * 1024 * 1024;

/// The largest attachment whose plaintext the service keeps (sealed).
pub const MAX_STORED_ATTACHMENT: u64 = 16 * 1024 * 1024;

/// A message's text for a moderator: an attachment is described by its
/// reference (name, type, blob, size), not shown as the raw share.
pub fn message_text(message: &CheckedMessage) -> String {
    if message.content_type != ContentType::Attachment {
        return message.text();
    }
    match AttachmentShare::from_bytes(message.body.as_bytes()) {
        Ok(share) => {
            let reference = &share.reference;
            format!(
                "[attachment {}: {}, blob {}, {} bytes sealed]",
                reference
                    .file_name
                    .as_ref()
                    .map_or("(no name)", |n| n.as_str()),
                reference.content_type.as_str(),
                hex::encode(reference.object.blob_id.0),
                reference.object.sealed_len
            )
        }
        Err(_) => "[an unreadable attachment]".to_owned(),
    }
}

/// Why moderation's device could not be opened.
#[derive(Debug)]
pub enum DeviceError {
    /// No device store at the path.
    NoStore,
    /// The SDK could not open it.
    Client(fuin_client::ClientError),
}

impl std::fmt::Display for DeviceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoStore => f.write_str("there is no device store there"),
            Self::Client(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for DeviceError {}

/// Opens moderation's device (a store made with `fuin init`), trusting
/// `relay_certificate` (PEM) for the relay's TLS besides the system's roots.
pub async fn open_device(
    store: &Path,
    relay_certificate: Option<Vec<u8>>,
) -> Result<Client, DeviceError> {
    if !store.exists() {
        return Err(DeviceError::NoStore);
    }
    let options = fuin_client::ClientOptions {
        relay_certificate,
        ..fuin_client::ClientOptions::default()
    };
    Client::open(store, options)
        .await
        .map_err(DeviceError::Client)
}

/// Which sealed object of a share is re-fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The attachment itself.
    Attachment,
    /// Its thumbnail.
    Thumbnail,
}

impl Part {
    /// `attachment` or `thumbnail`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Attachment => "attachment",
            Self::Thumbnail => "thumbnail",
        }
    }
}

/// Why a part was not verified.
#[derive(Debug)]
pub enum FetchError {
    /// The share carries no capability for the part.
    NoCapability,
    /// No temporary file could be made to fetch into.
    TemporaryFile(std::io::Error),
    /// The relay did not hand out the blob.
    Fetch(fuin_client::ClientError),
    /// The blob is not the one the sender shared (or the share does not
    /// fit its message).
    Check(AttachmentCheckError),
}

impl FetchError {
    /// A stable code, as a case stores it in place of `verified`.
    pub fn code(&self) -> String {
        match self {
            Self::NoCapability => "no_capability".to_owned(),
            Self::TemporaryFile(_) => "temporary_file".to_owned(),
            Self::Fetch(_) => "fetch_failed".to_owned(),
            Self::Check(err) => check_code(err),
        }
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoCapability => f.write_str("the share carries no capability for it"),
            Self::TemporaryFile(err) => write!(f, "cannot make a temporary file: {err}"),
            Self::Fetch(err) => write!(f, "the relay did not hand it out: {err}"),
            Self::Check(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for FetchError {}

/// A stable code for a failed check.
pub fn check_code(err: &AttachmentCheckError) -> String {
    use fuin_seal::attachment::AttachmentError;
    match err {
        AttachmentCheckError::NotAnAttachment => "not_an_attachment".to_owned(),
        AttachmentCheckError::MessageNotVerified => "message_not_verified".to_owned(),
        AttachmentCheckError::UnreadableShare(_) => "unreadable_share".to_owned(),
        AttachmentCheckError::ReferenceMismatch => "reference_mismatch".to_owned(),
        AttachmentCheckError::NoThumbnail => "no_thumbnail".to_owned(),
        AttachmentCheckError::Blob(blob) => match blob {
            AttachmentError::HashMismatch => "hash_mismatch",
            AttachmentError::ContextMismatch => "context_mismatch",
            AttachmentError::WrongKey => "wrong_key",
            AttachmentError::TooLarge => "too_large",
            AttachmentError::Truncated { .. } => "truncated",
            _ => "blob_invalid",
        }
        .to_owned(),
        _ => "check_failed".to_owned(),
    }
}

/// A part that verified.
pub struct Fetched {
    /// What the check found.
    pub checked: ReportedAttachment,
    /// The plaintext, when it was asked for and is at most the limit given.
    pub plaintext: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("checked", &self.checked)
            .field("plaintext", &self.plaintext.as_ref().map(|p| p.len()))
            .finish()
    }
}

/// Keeps what is written up to a limit, then only counts.
struct Capped {
    kept: Zeroizing<Vec<u8>>,
    limit: u64,
    over: bool,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let len = u64::try_from(self.kept.len() + buf.len()).unwrap_or(u64::MAX);
        if self.over || len > self.limit {
            self.over = true;
            self.kept.clear();
        } else {
            self.kept.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Fetches one part of `share` from the relay with `device` into a
/// temporary file and opens it as the reference says. With `keep_up_to`,
/// the attachment's plaintext is returned when it is at most that many
/// bytes (never a thumbnail's).
pub async fn fetch_part(
    device: &Client,
    share: &AttachmentShare<'_>,
    part: Part,
    keep_up_to: Option<u64>,
) -> Result<Fetched, FetchError> {
    let (blob_id, capability) = match (part, &share.reference.thumbnail) {
        (Part::Thumbnail, Some(thumbnail)) => (
            thumbnail.object.blob_id,
            share.thumbnail_capability.as_ref(),
        ),
        (Part::Thumbnail, None) => {
            return Err(FetchError::Check(AttachmentCheckError::NoThumbnail));
        }
        (Part::Attachment, _) => (share.reference.object.blob_id, Some(&share.capability)),
    };
    // A decoded share has a thumbnail capability exactly when its
    // reference has a thumbnail (wire.md §8.2); say so if not.
    let capability = capability.ok_or(FetchError::NoCapability)?;
    let mut file = tempfile::tempfile().map_err(FetchError::TemporaryFile)?;
    device
        .fetch_blob(&blob_id, capability, MAX_BLOB, &mut file)
        .await
        .map_err(FetchError::Fetch)?;
    file.flush()
        .and_then(|()| file.rewind())
        .map_err(FetchError::TemporaryFile)?;
    let blob = std::io::BufReader::new(&mut file);
    match part {
        Part::Attachment => {
            let mut kept = Capped {
                kept: Zeroizing::new(Vec::new()),
                limit: keep_up_to.unwrap_or(0),
                over: keep_up_to.is_none(),
            };
            let checked = open_reported_blob(share, blob, &mut kept).map_err(FetchError::Check)?;
            Ok(Fetched {
                checked,
                plaintext: (!kept.over).then_some(kept.kept),
            })
        }
        Part::Thumbnail => Ok(Fetched {
            checked: check_reported_thumbnail(share, blob).map_err(FetchError::Check)?,
            plaintext: None,
        }),
    }
}

/// Re-fetches and checks each verified attachment of a newly stored case
/// (and its thumbnail), and stores what was found with the message
/// (`set_attachment`): `verified` with the sealed plaintext when the
/// attachment and its thumbnail verified and it is at most
/// [`MAX_STORED_ATTACHMENT`] bytes (`too_large` without it otherwise); the
/// failure's code otherwise (`thumbnail_` and the code for a thumbnail that
/// failed). Returns how many attachments were stored.
pub async fn store_case_attachments<S: ModerationStore>(
    service: &Service<S>,
    device: &Client,
    case: &CaseId,
    inspected: &Inspected,
) -> Result<u32, StoreError> {
    let conversation = inspected.conversation();
    let mut stored = 0;
    for (index, message) in inspected.messages.iter().enumerate() {
        if message.content_type != ContentType::Attachment || !message.verdict.is_verified() {
            continue;
        }
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let share = match reported_share_in(&conversation, message) {
            Ok(share) => share,
            Err(err) => {
                let attachment = CaseAttachment {
                    status: check_code(&err),
                    media_type: String::new(),
                    file_name: service
                        .vault
                        .seal(case, &format!("message/{index}/file-name"), b""),
                    bytes: None,
                    size: 0,
                };
                service
                    .store
                    .set_attachment(case, index, attachment)
                    .await?;
                stored += 1;
                continue;
            }
        };
        let reference = &share.reference;
        let file_name = reference
            .file_name
            .as_ref()
            .map_or("", |name| name.as_str())
            .to_owned();
        let mut status = "verified".to_owned();
        let mut bytes = None;
        let mut size = reference.object.sealed_len;
        match fetch_part(
            device,
            &share,
            Part::Attachment,
            Some(MAX_STORED_ATTACHMENT),
        )
        .await
        {
            Ok(fetched) => {
                size = fetched.checked.plaintext_len;
                match fetched.plaintext {
                    Some(plaintext) => {
                        bytes = Some(service.vault.seal(
                            case,
                            &format!("message/{index}/attachment"),
                            &plaintext,
                        ));
                    }
                    None => status = "too_large".to_owned(),
                }
            }
            Err(err) => status = err.code(),
        }
        if status == "verified"
            && reference.thumbnail.is_some()
            && let Err(err) = fetch_part(device, &share, Part::Thumbnail, None).await
        {
            status = format!("thumbnail_{}", err.code());
            bytes = None;
        }
        tracing::info!(case = %case, message = index, status = %status, "attachment re-fetched");
        let attachment = CaseAttachment {
            status,
            media_type: reference.content_type.as_str().to_owned(),
            file_name: service.vault.seal(
                case,
                &format!("message/{index}/file-name"),
                file_name.as_bytes(),
            ),
            bytes,
            size,
        };
        service
            .store
            .set_attachment(case, index, attachment)
            .await?;
        stored += 1;
    }
    Ok(stored)
}
