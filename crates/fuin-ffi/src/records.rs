//! The records the bindings hand over: plain values, copied out of the
//! SDK's types. Device addresses are text (`user/device`), ids hex.

use fuin as sdk;

/// How a client is set up (the SDK's `ClientOptions`, minus the Rust-only
/// step hook).
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct ClientConfig {
    /// Do not send delivery receipts automatically when messages arrive.
    #[uniffi(default = false)]
    pub no_delivery_receipts: bool,
    /// A PEM certificate to trust for the relay's TLS besides the
    /// platform's roots (a relay with a self-signed certificate).
    #[uniffi(default = None)]
    pub relay_certificate_pem: Option<Vec<u8>>,
    /// The name of a new device, shown to contacts.
    #[uniffi(default = None)]
    pub device_name: Option<String>,
    /// An operator's invitation (64 hex digits), for a relay that creates
    /// accounts by invitation only. It crosses the boundary as text: the
    /// app got it as text from the operator; the SDK's copy is wiped.
    #[uniffi(default = None)]
    pub invite: Option<String>,
}

/// Where a message stands: outgoing Queued → Sent → Delivered → Read,
/// incoming Unread → Read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum MessageStatus {
    /// Sealed and stored, not yet accepted by the relay (it is retried).
    Queued,
    /// The relay accepted it.
    Sent,
    /// A device of the peer confirmed it arrived.
    Delivered,
    /// Read: by the peer (outgoing) or by this user (incoming).
    Read,
    /// Received, not yet read by this user.
    Unread,
    /// The relay refused it for good.
    Failed,
}

impl From<sdk::MessageStatus> for MessageStatus {
    fn from(status: sdk::MessageStatus) -> Self {
        match status {
            sdk::MessageStatus::Queued => Self::Queued,
            sdk::MessageStatus::Sent => Self::Sent,
            sdk::MessageStatus::Delivered => Self::Delivered,
            sdk::MessageStatus::Read => Self::Read,
            sdk::MessageStatus::Unread => Self::Unread,
            sdk::MessageStatus::Failed => Self::Failed,
        }
    }
}

/// One message of a conversation's history.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Message {
    /// The local id: how this device's store names the message (reports,
    /// attachments).
    pub local_id: i64,
    /// The other user of the conversation.
    pub conversation: String,
    /// The sending device, `user/device`.
    pub sender: String,
    /// The sender's id for the message, the same on every device (hex).
    pub message_id: String,
    /// Whether this user sent it.
    pub outgoing: bool,
    /// The content type's number on the wire (`spec/protocol.md`).
    pub content_type: u32,
    /// Whether it shares an attachment ([`crate::FuinClient::fetch_attachment`]).
    pub is_attachment: bool,
    /// The text; for an attachment, a one-line description.
    pub text: String,
    /// The sender's clock when it sealed the message (ms since the epoch).
    pub sent_at_ms: u64,
    /// When the relay accepted it, once known.
    pub server_time_ms: Option<u64>,
    /// Where it stands.
    pub status: MessageStatus,
    /// When this device stored it.
    pub received_at_ms: u64,
    /// What it is: `text`, `attachment`, `reply`, `timer`, `app` or
    /// `deleted` (`spec/client.md` §14).
    pub kind: String,
    /// For a reply, the local id of the quoted message if stored here.
    pub quote_local_id: Option<i64>,
    /// For an app's content, its type name and payload.
    pub app_type: Option<String>,
    /// For an app's content, its payload.
    pub app_payload: Option<Vec<u8>>,
    /// When its author last edited it, if ever.
    pub edited_at_ms: Option<u64>,
    /// Each user's current reaction.
    pub reactions: Vec<Reaction>,
    /// When this device deletes it (a disappearing message).
    pub expires_at_ms: Option<u64>,
}

/// One user's reaction to a message.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Reaction {
    /// The user.
    pub user: String,
    /// The reaction.
    pub reaction: String,
}

impl From<sdk::Message> for Message {
    fn from(message: sdk::Message) -> Self {
        Self {
            local_id: message.local_id,
            conversation: message.conversation,
            sender: message.sender.to_string(),
            message_id: hex::encode(message.id.0),
            outgoing: message.outgoing,
            content_type: message.content_type.code(),
            is_attachment: message.content_type == sdk::ContentType::Attachment,
            text: message.text,
            sent_at_ms: message.sent_at_ms,
            server_time_ms: message.server_time_ms,
            status: message.status.into(),
            received_at_ms: message.received_at_ms,
            kind: match &message.kind {
                sdk::MessageKind::Text => "text",
                sdk::MessageKind::Attachment => "attachment",
                sdk::MessageKind::Reply { .. } => "reply",
                sdk::MessageKind::Timer { .. } => "timer",
                sdk::MessageKind::App { .. } => "app",
                sdk::MessageKind::Deleted => "deleted",
                _ => "other",
            }
            .to_owned(),
            quote_local_id: match &message.kind {
                sdk::MessageKind::Reply { quote_local_id, .. } => *quote_local_id,
                _ => None,
            },
            app_type: match &message.kind {
                sdk::MessageKind::App { type_name, .. } => Some(type_name.clone()),
                _ => None,
            },
            app_payload: match &message.kind {
                sdk::MessageKind::App { payload, .. } => Some(payload.clone()),
                _ => None,
            },
            edited_at_ms: message.edited_at_ms,
            reactions: message
                .reactions
                .into_iter()
                .map(|reaction| Reaction {
                    user: reaction.user,
                    reaction: reaction.reaction,
                })
                .collect(),
            expires_at_ms: message.expires_at_ms,
        }
    }
}

/// One conversation of the list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Conversation {
    /// The other user.
    pub peer: String,
    /// Messages stored.
    pub messages: u64,
    /// Incoming messages not yet read.
    pub unread: u64,
    /// The sender's clock of the latest message.
    pub last_message_ms: u64,
}

impl From<sdk::Conversation> for Conversation {
    fn from(conversation: sdk::Conversation) -> Self {
        Self {
            peer: conversation.peer,
            messages: conversation.messages,
            unread: conversation.unread,
            last_message_ms: conversation.last_message_ms,
        }
    }
}

/// The outcome of a send.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SentMessage {
    /// The message's local id.
    pub local_id: i64,
    /// `Sent`, or `Queued` if the relay could not be reached (retried by
    /// the next send or sync).
    pub status: MessageStatus,
    /// How many devices it was sealed for.
    pub devices: u64,
}

impl From<sdk::SentMessage> for SentMessage {
    fn from(sent: sdk::SentMessage) -> Self {
        Self {
            local_id: sent.local_id,
            status: sent.status.into(),
            devices: count(sent.devices),
        }
    }
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Messages stored.
    pub messages: u64,
    /// Receipts applied.
    pub receipts: u64,
    /// Deliveries dropped because they failed a check.
    pub dropped: u64,
    /// Deliveries held back because their device's identity changed.
    pub held: u64,
    /// Deliveries acknowledged at the relay.
    pub acknowledged: u64,
}

impl From<sdk::SyncReport> for SyncReport {
    fn from(report: sdk::SyncReport) -> Self {
        Self {
            messages: count(report.messages),
            receipts: count(report.receipts),
            dropped: count(report.dropped),
            held: count(report.held),
            acknowledged: count(report.acknowledged),
        }
    }
}

/// How a file is sent.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct SendFileOptions {
    /// Its media type (`type/subtype`); guessed from the file name when
    /// absent.
    #[uniffi(default = None)]
    pub content_type: Option<String>,
    /// The name shown to the recipient; the path's last component when
    /// absent.
    #[uniffi(default = None)]
    pub file_name: Option<String>,
    /// Do not make a thumbnail of a PNG or JPEG image.
    #[uniffi(default = false)]
    pub no_thumbnail: bool,
}

impl From<SendFileOptions> for sdk::SendFileOptions {
    fn from(options: SendFileOptions) -> Self {
        Self {
            content_type: options.content_type,
            file_name: options.file_name,
            thumbnail: !options.no_thumbnail,
            ..Self::default()
        }
    }
}

/// What a shared attachment is (from its reference; nothing downloaded).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AttachmentInfo {
    /// The device that sealed it, `user/device`.
    pub owner: String,
    /// Its media type.
    pub content_type: String,
    /// Its display name, if it has one.
    pub file_name: Option<String>,
    /// The sealed blob's id (BLAKE3 of the ciphertext; SHA-256 for a
    /// version 1 object), hex.
    pub blob_id: String,
    /// The sealed blob's length in bytes.
    pub sealed_len: u64,
    /// Whether the sender made a thumbnail.
    pub has_thumbnail: bool,
}

impl From<sdk::AttachmentInfo> for AttachmentInfo {
    fn from(info: sdk::AttachmentInfo) -> Self {
        Self {
            owner: info.owner.to_string(),
            content_type: info.content_type,
            file_name: info.file_name,
            blob_id: info.blob_id,
            sealed_len: info.sealed_len,
            has_thumbnail: info.thumbnail.is_some(),
        }
    }
}

/// The outcome of sending a file.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SentFile {
    /// The message that shares the file.
    pub message: SentMessage,
    /// What was shared.
    pub attachment: AttachmentInfo,
    /// Bytes of plaintext sealed.
    pub size: u64,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
}

impl From<sdk::SentFile> for SentFile {
    fn from(sent: sdk::SentFile) -> Self {
        Self {
            message: sent.message.into(),
            attachment: sent.attachment.into(),
            size: sent.size,
            sha256: sent.sha256,
        }
    }
}

/// A fetched attachment: it verified, and was written out.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FetchedFile {
    /// Where it was written.
    pub path: String,
    /// Bytes of plaintext.
    pub size: u64,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
    /// Its media type.
    pub content_type: String,
    /// Its display name, if it has one.
    pub file_name: Option<String>,
}

impl From<sdk::FetchedFile> for FetchedFile {
    fn from(fetched: sdk::FetchedFile) -> Self {
        Self {
            path: fetched.path.to_string_lossy().into_owned(),
            size: fetched.size,
            sha256: fetched.sha256,
            content_type: fetched.content_type,
            file_name: fetched.file_name,
        }
    }
}

/// One device of an account, as its signed list names it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LinkedDevice {
    /// The device, `user/device`.
    pub address: String,
    /// The name its user gave it.
    pub name: String,
    /// When it was linked (ms since the epoch, the linking device's clock).
    pub added_at_ms: u64,
}

impl From<sdk::LinkedDevice> for LinkedDevice {
    fn from(device: sdk::LinkedDevice) -> Self {
        Self {
            address: device.address.to_string(),
            name: device.name,
            added_at_ms: device.added_at_ms,
        }
    }
}

/// The safety number of this user and another.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SafetyNumbers {
    /// The number of the account key trusted for the user.
    pub number: String,
    /// While an account key change waits: the new key's number, to
    /// compare before accepting it.
    pub pending: Option<String>,
}

impl From<sdk::SafetyNumbers> for SafetyNumbers {
    fn from(numbers: sdk::SafetyNumbers) -> Self {
        Self {
            number: numbers.number,
            pending: numbers.pending,
        }
    }
}

/// One message of a report preview, exactly as it would be disclosed.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReportedMessage {
    /// Who sent it, `user/device`.
    pub sender: String,
    /// The content type's number on the wire.
    pub content_type: u32,
    /// The body as text (invalid UTF-8 shown with replacement characters).
    pub text: String,
    /// When the relay accepted it.
    pub server_time_ms: u64,
}

/// What a report would disclose: show it to the user before submitting.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReportPreview {
    /// The reporting device, `user/device`.
    pub reporter: String,
    /// The other user of the reported conversation.
    pub conversation_with: String,
    /// The reason, as given.
    pub reason: String,
    /// When the report was made (this device's clock).
    pub created_at_ms: u64,
    /// Every message that would be disclosed, in the order selected.
    pub messages: Vec<ReportedMessage>,
}

impl From<sdk::ReportPreview> for ReportPreview {
    fn from(preview: sdk::ReportPreview) -> Self {
        Self {
            reporter: preview.reporter.to_string(),
            conversation_with: preview.conversation_with.as_str().to_owned(),
            reason: preview.reason,
            created_at_ms: preview.created_at_ms,
            messages: preview
                .messages
                .iter()
                .map(|message| ReportedMessage {
                    sender: message.sender.to_string(),
                    content_type: message.content_type.code(),
                    text: message.text(),
                    server_time_ms: message.server_time_ms,
                })
                .collect(),
        }
    }
}

/// The relay's receipt for a submitted report.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReportReceipt {
    /// The relay's id for the report, hex.
    pub report_id: String,
    /// When the relay received it (ms since the epoch).
    pub received_at_ms: u64,
}

/// A count as the foreign languages' integers hold it.
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
