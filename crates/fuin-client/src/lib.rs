//! The fuin client SDK: what a chat app links.
//!
//! A [`Client`] is one device of one user. It keeps its identity, prekeys,
//! sessions and history in a local SQLite store whose secret-bearing values
//! are encrypted with a device storage key kept in a separate file (mode
//! 0600), talks to a fuin relay over HTTP(S), and uses `fuin-seal` for every
//! cryptographic step.
//!
//! - [`Client::create`] makes a new device, registers it and publishes its
//!   prekeys; [`Client::open`] opens it again. One-time prekeys are
//!   replenished when the relay says the pool is low, and the signed prekey
//!   is replaced weekly.
//! - [`Client::send_text`] seals a message for every device of the peer and
//!   every other device of this user, so that all of a user's devices see
//!   the whole conversation. [`Client::sync`] fetches, opens, stores and
//!   only then acknowledges. [`Client::mark_read`] sends read receipts.
//!   Receipts are end-to-end messages ([`receipt`]).
//! - [`Client::conversations`], [`Client::history`]: what the app shows,
//!   ordered by the senders' clocks and counters, never the relay's.
//!   [`Client::history_page`] and [`Client::group_history_page`] page by
//!   cursor; [`Client::unread_count`] counts what is unread;
//!   [`Client::search`] searches the local history through an index kept
//!   in memory only (`spec/client.md` §16).
//! - Accounts (`spec/accounts.md`): a user's devices are those a list
//!   signed by the user's account key names; messages are sealed to them
//!   only, whatever the relay says. [`Client::begin_link`] and
//!   [`Client::approve_link`] link a new device with a link code,
//!   [`Client::remove_device`] removes one, [`Client::devices`] lists them;
//!   a contact's linked or removed device is [`Event::DevicesChanged`].
//! - [`Client::safety_number`], from the two users' account keys; an account
//!   key change is [`Event::IdentityChanged`]: the new key's messages are
//!   held and nothing is sent to its user until the app calls
//!   [`Client::accept_identity_change`].
//! - [`Client::report`] prepares a report of exactly the messages the user
//!   selected, for the app to preview; [`Client::submit_report`] seals it to
//!   the moderation service's key and hands it to the relay's report inbox
//!   ([`report`], `spec/report.md`).
//! - [`Client::send_file`] seals a file on the device (streamed, in bounded
//!   memory) with a thumbnail made on the device for images, uploads the
//!   sealed blobs to the relay and shares them in an end-to-end message;
//!   [`Client::fetch_attachment`] downloads, checks and opens one, writing
//!   the plaintext out only once all of it verified (`spec/attachments.md`).
//! - Groups ([`Client::create_group`], [`Client::send_group_text`],
//!   [`Client::group_history`], ...): sender keys over the 1:1 sessions,
//!   one fan-out per message (`spec/client.md` §12).
//! - Per-audience identifiers ([`Client::audience_identifier`],
//!   [`Client::group_shared_identifier`]): what this user hands a mini-app
//!   or bot, unlinkable across users and audiences (`spec/identifiers.md`).
//! - [`Client::events`]: everything above as a stream of [`Event`]s.
//! - [`Client::start_background`]: a task that keeps the device in touch
//!   with its relay (push stream, long polls as fallback, retries with
//!   backoff), paused and resumed by the app ([`background`]).
//!
//! The behaviour is specified in `spec/client.md`.
#![forbid(unsafe_code)]

mod account;
mod attachment;
pub mod background;
mod client;
mod content;
mod error;
mod event;
mod group;
mod history;
mod identifiers;
pub mod keyfile;
mod relay;
mod search;
mod store;

pub use account::{LinkedDevice, PendingLink, SafetyNumbers};
pub use attachment::{
    AttachmentInfo, FetchedFile, FetchedThumbnail, ImageLimits, ImageRefusal, MAX_THUMBNAIL_SIDE,
    PEER_THUMBNAIL_LIMITS, SendFileOptions, SentFile, THUMBNAIL_SOURCE_LIMITS, ThumbnailInfo,
    describe_attachment,
};
pub use attachment::{
    AttachmentLimits, AttachmentSink, AttachmentSource, DEFAULT_MAX_BLOB_LEN, FetchedAttachment,
    ProgressHook, Transfer, TransferPhase, TransferProgress,
};
pub use background::{BackgroundHandle, BackgroundOptions, Backoff, ConnectionState};
#[cfg(feature = "testing")]
#[doc(hidden)]
pub use client::StepGate;
pub use client::{Client, ClientOptions, SentMessage, SessionSecurity, Step, StepHook, SyncReport};
pub use content::describe_timer;
pub use error::ClientError;
pub use event::{Event, EventStream, EventStreamItem};
/// Reports: the builder and preview the SDK hands out, and the moderation
/// key type.
pub use fuin_report as report;
pub use fuin_report::{ModerationPublicKey, PreviewMessage, ReportBuilder, ReportPreview};
/// Typed content: type names, the built-in types' payloads and message
/// references (`spec/client.md` §14).
pub use fuin_wire::content as content_types;
pub use fuin_wire::content::{MessageRef, TypeName};
/// Receipt bodies (defined with the other wire formats).
pub use fuin_wire::receipt;
pub use group::{GroupChange, GroupEntry, GroupInfo, GroupStatus};
pub use history::{
    Conversation, HistoryCursor, HistoryPage, Message, MessageKind, MessageStatus, ReactionRecord,
    ReceiptRecord,
};
pub use identifiers::AudienceConversation;
pub use search::{SearchHit, SearchScope};
pub use store::StoredFranking;
/// The token that cancels a [`Transfer`] (tokio-util's).
pub use tokio_util::sync::CancellationToken;
