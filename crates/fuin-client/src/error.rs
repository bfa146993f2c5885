//! The one error type of the client SDK.

use std::fmt;

use fuin_seal::SealError;
use fuin_wire::WireError;

/// Why a client operation failed. No variant carries key bytes, tokens or
/// message text, so every error is safe to show and to log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The relay refused the request. `code` is the relay's stable error code
    /// (`spec/relay-api.md` §5), `message` its sentence for people.
    Relay {
        /// The HTTP status.
        status: u16,
        /// The relay's stable code, such as `unknown_recipient`.
        code: String,
        /// The relay's explanation.
        message: String,
    },
    /// The relay could not be reached, or its answer could not be read.
    /// Messages being sent stay queued and go out on a later `send` or `sync`.
    Unreachable(String),
    /// The relay's answer was not the frame the API promises.
    RelayMisbehaved(String),
    /// The user's account key is not the one trusted for them (their device
    /// list is signed by another key). Nothing is sent to the user, and
    /// nothing from the new key's devices is shown, until the app calls
    /// [`Client::accept_identity_change`](crate::Client::accept_identity_change).
    IdentityChanged {
        /// The user.
        user: String,
    },
    /// The user has no device with published prekeys at the relay.
    UnknownUser {
        /// The user id.
        user: String,
    },
    /// An argument was not acceptable (a user id, an empty message, ...).
    InvalidArgument(String),
    /// The local state store failed or holds something this version cannot
    /// read. The message names the operation, never data.
    Storage(String),
    /// The storage key file is missing, unreadable, or has the wrong form.
    KeyFile(String),
    /// A protocol operation failed.
    Protocol(SealError),
    /// A sealed attachment did not open, or could not be sealed: the error
    /// names the kind of failure (for a blob swapped for another object's,
    /// `ContextMismatch`). Nothing of it was shown or written out.
    Attachment(fuin_seal::attachment::AttachmentError),
    /// A local file could not be read or written. The message names the
    /// operation and the I/O error, never file contents.
    File(String),
    /// An image (a peer's thumbnail) was not decoded: it breaks a limit of
    /// `spec/attachments.md` §13 (a decompression bomb claiming more pixels
    /// than allowed, for one) or is not a readable PNG or JPEG. The
    /// refusal names the limit; nothing of the image was shown.
    ImageRefused(crate::ImageRefusal),
    /// An attachment is larger than the relay takes
    /// ([`Client::attachment_limits`](crate::Client::attachment_limits)).
    /// Refused before anything was uploaded: a declared size before any
    /// byte was sealed, a stream as soon as it passed the limit.
    AttachmentTooLarge {
        /// The plaintext's size, when it was declared or known.
        size: Option<u64>,
        /// The largest plaintext the relay takes at this chunk size.
        max: u64,
    },
    /// The app cancelled the transfer (attachments, `spec/client.md` §11):
    /// nothing was shared and no unverified plaintext was written out.
    Cancelled,
}

impl ClientError {
    /// Whether retrying later may succeed (the relay was unreachable or its
    /// store unavailable, or the request was rate limited).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable(_) => true,
            Self::Relay { status, .. } => *status == 429 || *status == 503,
            _ => false,
        }
    }

    /// A short hint for a person on what to do about the error.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Relay { status: 401, .. } => "the device could not log in to the relay",
            Self::Relay { status: 429, .. } => "wait a moment and try again",
            Self::Relay { .. } => "the relay refused the request; see its code",
            Self::Unreachable(_) => "check that the relay is running and its address is right",
            Self::RelayMisbehaved(_) => "the relay is not a fuin relay, or is faulty",
            Self::IdentityChanged { .. } => {
                "compare the new safety number with the contact, then accept the new account key"
            }
            Self::UnknownUser { .. } => "check the user id; the user must have registered",
            Self::InvalidArgument(_) => "check the arguments",
            Self::Storage(_) => "the local store is damaged or in use by another program",
            Self::KeyFile(_) => "the storage key file must be beside the store, readable, 32 bytes",
            Self::Protocol(_) => "a protocol check failed",
            Self::Attachment(_) => {
                "the attachment is not the one the message shared; do not trust it"
            }
            Self::File(_) => "check the file's path and permissions",
            Self::ImageRefused(_) => {
                "the image is larger than this device decodes, or damaged; it was not shown"
            }
            Self::AttachmentTooLarge { .. } => "send a smaller file, or split it",
            Self::Cancelled => "the transfer was cancelled; start it again to retry",
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Relay {
                status,
                code,
                message,
            } => write!(
                f,
                "the relay refused the request ({status} {code}): {message}"
            ),
            Self::Unreachable(why) => write!(f, "the relay could not be reached: {why}"),
            Self::RelayMisbehaved(why) => write!(f, "the relay answered wrongly: {why}"),
            Self::IdentityChanged { user } => write!(
                f,
                "the account key of {user} changed; it must be accepted before messages flow"
            ),
            Self::UnknownUser { user } => write!(f, "user {user:?} has no device at the relay"),
            Self::InvalidArgument(why) => write!(f, "invalid argument: {why}"),
            Self::Storage(why) => write!(f, "local storage failed: {why}"),
            Self::KeyFile(why) => write!(f, "storage key file: {why}"),
            Self::Protocol(err) => write!(f, "protocol error: {err}"),
            Self::Attachment(err) => write!(f, "attachment: {err}"),
            Self::File(why) => write!(f, "file: {why}"),
            Self::ImageRefused(why) => write!(f, "image refused: {why}"),
            Self::AttachmentTooLarge {
                size: Some(size),
                max,
            } => write!(
                f,
                "the attachment's {size} bytes are over the {max} bytes the relay takes"
            ),
            Self::AttachmentTooLarge { size: None, max } => {
                write!(f, "the attachment is over the {max} bytes the relay takes")
            }
            Self::Cancelled => write!(f, "the transfer was cancelled"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<SealError> for ClientError {
    fn from(err: SealError) -> Self {
        Self::Protocol(err)
    }
}

impl From<fuin_seal::attachment::AttachmentError> for ClientError {
    fn from(err: fuin_seal::attachment::AttachmentError) -> Self {
        Self::Attachment(err)
    }
}

impl From<WireError> for ClientError {
    fn from(err: WireError) -> Self {
        Self::Protocol(SealError::Wire(err))
    }
}

impl From<fuin_wire::receipt::ReceiptError> for ClientError {
    fn from(err: fuin_wire::receipt::ReceiptError) -> Self {
        Self::InvalidArgument(err.to_string())
    }
}

impl From<rusqlite::Error> for ClientError {
    fn from(err: rusqlite::Error) -> Self {
        // rusqlite's messages name the failing statement's problem, not the
        // values bound to it.
        Self::Storage(err.to_string())
    }
}
