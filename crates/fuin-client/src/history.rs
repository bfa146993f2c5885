//! What the app shows: conversations, messages and their status.

use fuin_wire::content::MessageRef;
use fuin_wire::{ClientMessageId, ContentType, DeviceAddress};

use crate::ClientError;

/// Where a message stands. Outgoing messages go Queued → Sent → Delivered
/// → Read (a status never moves back); incoming ones are Unread, then Read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageStatus {
    /// Sealed and stored, not yet accepted by the relay (it is retried).
    Queued,
    /// The relay accepted it.
    Sent,
    /// A device of the peer confirmed it arrived (an end-to-end receipt).
    Delivered,
    /// Read: by the peer (outgoing) or by this user (incoming).
    Read,
    /// Received, not yet read by this user.
    Unread,
    /// The relay refused it for good (it is not retried).
    Failed,
}

impl MessageStatus {
    pub(crate) fn code(self) -> i64 {
        match self {
            Self::Queued => 0,
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::Read => 3,
            Self::Unread => 4,
            Self::Failed => 5,
        }
    }

    pub(crate) fn from_code(code: i64) -> Result<Self, ClientError> {
        Ok(match code {
            0 => Self::Queued,
            1 => Self::Sent,
            2 => Self::Delivered,
            3 => Self::Read,
            4 => Self::Unread,
            5 => Self::Failed,
            _ => {
                return Err(ClientError::Storage(
                    "a stored message status is unknown".into(),
                ));
            }
        })
    }

    /// The status as a lowercase word, for output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Unread => "unread",
            Self::Failed => "failed",
        }
    }
}

/// One message of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The local id, used to refer to the message in this store (reports,
    /// receipts).
    pub local_id: i64,
    /// The other user of the conversation.
    pub conversation: String,
    /// The device that sent it (this user's for outgoing messages).
    pub sender: DeviceAddress<'static>,
    /// The sender's id for the message, the same on every device.
    pub id: ClientMessageId,
    /// Whether this user sent it (from this device or another of its own).
    pub outgoing: bool,
    /// The content type.
    pub content_type: ContentType,
    /// What the message is: text, an attachment, a reply, a timer change,
    /// an app's typed content, or a message its author deleted.
    pub kind: MessageKind,
    /// The text as shown (invalid UTF-8 with replacement characters): the
    /// newest edit's text if the author edited it, empty once deleted. For
    /// an attachment, a one-line description (name, media type, size);
    /// [`Client::attachment`](crate::Client::attachment) gives the details.
    /// For a timer change, a description; for an app's content, empty.
    pub text: String,
    /// When the author last edited it (the edit's sender clock), if ever;
    /// [`Client::edits`](crate::Client::edits) lists the edits.
    pub edited_at_ms: Option<u64>,
    /// Each user's current reaction, by user.
    pub reactions: Vec<ReactionRecord>,
    /// When this device deletes it (a disappearing message), if ever.
    pub expires_at_ms: Option<u64>,
    /// The sender's clock when it sealed the message.
    pub sent_at_ms: u64,
    /// The sender's counter in its session with this device.
    pub sequence: u64,
    /// When the relay accepted it, once known.
    pub server_time_ms: Option<u64>,
    /// Where it stands.
    pub status: MessageStatus,
    /// When this device stored it.
    pub received_at_ms: u64,
}

/// What a message of the history is (`spec/client.md` §14).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageKind {
    /// Text.
    Text,
    /// A shared attachment.
    Attachment,
    /// A text reply quoting another message of the conversation
    /// ([`Client::reply`](crate::Client::reply)).
    Reply {
        /// The quoted message: its author and id (it may not be stored here,
        /// or be gone).
        quote: MessageRef<'static>,
        /// The quoted message's local id, if it is stored here.
        quote_local_id: Option<i64>,
    },
    /// The conversation's disappearing-message timer was set (0: off).
    Timer {
        /// Seconds after storing that a message disappears.
        seconds: u32,
    },
    /// Typed content of an app (or a built-in type of a newer version):
    /// kept as it arrived, shown as the app decides.
    App {
        /// The type's name (reverse-DNS).
        type_name: String,
        /// The payload, in the type's own encoding.
        payload: Vec<u8>,
    },
    /// Deleted for everyone by its author: its content is gone.
    Deleted,
}

/// One user's reaction to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionRecord {
    /// The user who reacted.
    pub user: String,
    /// The reaction (an emoji sequence).
    pub reaction: String,
    /// The reacting device's clock when it sent the reaction.
    pub at_ms: u64,
}

/// One conversation of the conversation list.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// A receipt a message received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRecord {
    /// The device that sent the receipt.
    pub by: DeviceAddress<'static>,
    /// Delivered or read.
    pub kind: crate::receipt::ReceiptKind,
    /// When this device stored it.
    pub at_ms: u64,
}

/// Where a page of history starts (`spec/client.md` §16.1). A message is
/// named by its local id ([`Message::local_id`], [`GroupEntry::local_id`](crate::GroupEntry::local_id)),
/// which is unique in its history; the sender's [`ClientMessageId`] is
/// not accepted, as it is unique only together with its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HistoryCursor {
    /// The newest messages.
    Latest,
    /// The oldest messages.
    Oldest,
    /// The messages just before this one (older), not including it.
    Before(i64),
    /// The messages just after this one (newer), not including it.
    After(i64),
}

/// One page of a history, oldest first, in the history's order (the
/// sender's clock, then the sender's counter, then the local id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage<T> {
    /// The messages of the page, oldest first.
    pub messages: Vec<T>,
    /// Whether older messages than the page's exist (page on with
    /// [`HistoryCursor::Before`] the first message).
    pub has_older: bool,
    /// Whether newer messages than the page's exist (page on with
    /// [`HistoryCursor::After`] the last message).
    pub has_newer: bool,
}
