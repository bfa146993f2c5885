//! The one error type of the report crate.

use std::fmt;

use fuin_wire::WireError;

/// Why building, sealing, opening or recording a report failed. No variant
/// carries report content, franking keys or key bytes, so every error is
/// safe to show and to log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportError {
    /// A report must hold at least one message.
    NoMessages,
    /// A field is over its limit (the messages of a report, a reason, a
    /// body, a franking key field, the sealed report).
    LimitExceeded {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The reason is empty or holds control characters.
    InvalidReason {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A selected message (by its index in the list) was delivered to
    /// another device than the reporting one.
    NotAddressedToReporter {
        /// Its index.
        index: usize,
    },
    /// A selected message is from someone outside the reported conversation.
    NotInConversation {
        /// Its index.
        index: usize,
    },
    /// A message is selected twice.
    ListedTwice {
        /// The index of the second listing.
        index: usize,
    },
    /// A selected message is of a content type that is never reported (an
    /// identifier secret between one user's own devices).
    NotReportable {
        /// Its index.
        index: usize,
    },
    /// An X25519 key of small order: moderation's public key, or a sealed
    /// report's ephemeral key.
    WeakPublicKey,
    /// A key's stored or text form is malformed.
    InvalidKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A moderation public key of before protocol version 3 (X25519 only):
    /// reports are no longer sealed to such a key. Moderation must publish
    /// a hybrid key (`fuin moderate keygen`).
    OutdatedModerationKey,
    /// A stamp key id is given twice.
    DuplicateStampKeyId {
        /// The id.
        id: u32,
    },
    /// A frame (the sealed report, a stored report) is malformed.
    Wire(WireError),
    /// The report is sealed to a moderation key id this tool does not hold.
    UnknownModerationKey {
        /// The key id the report names.
        id: u32,
    },
    /// The report did not open: sealed to another key, or changed after
    /// sealing. One error for every such cause.
    DecryptionFailed,
    /// The report's plaintext has a version this tool cannot read.
    UnknownVersion {
        /// The version byte.
        version: u8,
    },
    /// The report's plaintext is malformed.
    Malformed {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The report names another reporter than the device the relay
    /// authenticated when it was submitted.
    ReporterMismatch,
    /// A moderator's name must be 1 to 64 bytes without control characters.
    InvalidModeratorName,
    /// The audit log could not be read or written (the path and the
    /// system's reason).
    Audit(String),
    /// The audit log's chain is broken at a record: it was edited, or a
    /// record was removed, inserted or moved.
    AuditBroken {
        /// The first bad record (its line number, from 1).
        record: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl ReportError {
    /// A stable code, for output, logs and the audit log's refusals.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoMessages => "no_messages",
            Self::LimitExceeded { .. } => "limit_exceeded",
            Self::InvalidReason { .. } => "invalid_reason",
            Self::NotAddressedToReporter { .. } => "not_addressed_to_reporter",
            Self::NotInConversation { .. } => "not_in_conversation",
            Self::ListedTwice { .. } => "listed_twice",
            Self::NotReportable { .. } => "not_reportable",
            Self::WeakPublicKey => "weak_public_key",
            Self::InvalidKey { .. } => "invalid_key",
            Self::OutdatedModerationKey => "outdated_moderation_key",
            Self::DuplicateStampKeyId { .. } => "duplicate_stamp_key_id",
            Self::Wire(_) => "malformed_frame",
            Self::UnknownModerationKey { .. } => "unknown_moderation_key",
            Self::DecryptionFailed => "decryption_failed",
            Self::UnknownVersion { .. } => "unknown_version",
            Self::Malformed { .. } => "malformed_report",
            Self::ReporterMismatch => "reporter_mismatch",
            Self::InvalidModeratorName => "invalid_moderator_name",
            Self::Audit(_) => "audit_log",
            Self::AuditBroken { .. } => "audit_log_broken",
        }
    }
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoMessages => f.write_str("a report needs at least one message"),
            Self::LimitExceeded { field, len, max } => {
                write!(f, "{field} is {len} long, more than the limit of {max}")
            }
            Self::InvalidReason { reason } => write!(f, "the reason is not acceptable: {reason}"),
            Self::NotAddressedToReporter { index } => write!(
                f,
                "message {} of the report was not delivered to the reporting device",
                index + 1
            ),
            Self::NotInConversation { index } => write!(
                f,
                "message {} of the report is not from the reported conversation",
                index + 1
            ),
            Self::ListedTwice { index } => {
                write!(f, "message {} of the report is listed twice", index + 1)
            }
            Self::NotReportable { index } => write!(
                f,
                "message {} of the report is of a kind that is never reported",
                index + 1
            ),
            Self::WeakPublicKey => f.write_str("an X25519 key has small order"),
            Self::InvalidKey { reason } => write!(f, "the key is not usable: {reason}"),
            Self::OutdatedModerationKey => f.write_str(
                "this moderation public key is X25519 only, from before protocol version 3; \
                 ask the moderation service to publish a new hybrid key (fuin moderate keygen)",
            ),
            Self::DuplicateStampKeyId { id } => write!(f, "stamp key id {id} is given twice"),
            Self::Wire(err) => write!(f, "malformed frame: {err}"),
            Self::UnknownModerationKey { id } => {
                write!(
                    f,
                    "the report is sealed to moderation key {id}, which is not held"
                )
            }
            Self::DecryptionFailed => f.write_str(
                "the report does not open: sealed to another key, or changed after sealing",
            ),
            Self::UnknownVersion { version } => {
                write!(f, "the report's version {version} is unknown")
            }
            Self::Malformed { reason } => write!(f, "the report is malformed: {reason}"),
            Self::ReporterMismatch => {
                f.write_str("the report names another reporter than the device that submitted it")
            }
            Self::InvalidModeratorName => {
                f.write_str("a moderator's name must be 1 to 64 bytes without control characters")
            }
            Self::Audit(why) => write!(f, "audit log: {why}"),
            Self::AuditBroken { record, reason } => {
                write!(f, "the audit log is broken at record {record}: {reason}")
            }
        }
    }
}

impl std::error::Error for ReportError {}
