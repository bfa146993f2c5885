//! The moderation side: open a report, check every message, record the
//! opening (`spec/report.md` §5-§6).
//!
//! [`Moderator::open`] opens a report for the file [`AuditLog`], and
//! appends a record to it whatever the outcome: a report that cannot be
//! opened is recorded as refused. Each message gets a [`Verdict`]: verified,
//! a duplicate (verified, but counted before), or rejected with the reason.
//!
//! [`Moderator::inspect`] is the one checking path under it: it opens and
//! checks without recording and without counting, for a caller that keeps
//! its own record of openings (the moderation service records each opening
//! in its database, in the transaction that stores the case, and its store
//! decides which messages were counted before).

use fuin_seal::ConversationId;
use fuin_seal::primitives::franking::{self, FrankedMessage, verify_hmac_sha256};
use fuin_wire::relay::{InboxBatch, InboxEntry, InboxSealedReport, ReportBatch, ReportId};
use fuin_wire::{
    ClientMessageId, ContentType, DeviceAddress, FrameBody, FrankingCommitment, MessageId, Opaque,
    PublicIdentity, StampKeyId, UserId, franking_stamp_input,
};

use crate::audit::{AuditEntry, AuditLog, AuditOutcome, AuditRecord, CountedMessage};
use crate::group::{GROUP_REPORT_VERSION, GroupReportContent, GroupReportedMessage};
use fuin_seal::group::verify_group_message_signature;
use fuin_wire::{GroupId, GroupMessage};

/// What a verified report says besides its messages.
struct Header {
    reporter_identity: PublicIdentity,
    peer: UserId<'static>,
    group: Option<GroupId>,
    reason: String,
    created_at_ms: u64,
}
use crate::sealing::open_sealed;
use crate::{
    ModerationPublicKey, ModerationSecretKey, ReportContent, ReportError, ReportedMessage,
    StampKeySet,
};

/// Why a reported message failed verification. In the order the checks are
/// made; the first that fails is the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The relay delivered it to another device than the one that reported
    /// it (the stamped recipient is not the relay-attested reporter).
    NotAddressedToReporter,
    /// Its sender is neither the reported conversation's other user nor the
    /// reporter's own user.
    NotInConversation,
    /// Its franking key is not 32 bytes long.
    FrankingKeyLength {
        /// The length given.
        len: usize,
    },
    /// The franking key does not open the commitment for this sender,
    /// conversation, message id, content type and body: the content is not
    /// what the sender committed to.
    CommitmentMismatch,
    /// The stamp names a relay key moderation does not hold.
    UnknownStampKey {
        /// The key id.
        id: u32,
    },
    /// The stamp's relay key had expired when the relay received the report.
    ExpiredStampKey {
        /// The key id.
        id: u32,
    },
    /// The relay did not stamp this commitment for this sender, recipient,
    /// time and message id under this key.
    StampMismatch,
    /// In a group report: the sealed body is not a group message of the
    /// reported group.
    NotInGroup,
    /// In a group report: the sender chain's signature does not verify over
    /// the sealed body, the sender, the commitment and the membership hash.
    ChainSignatureMismatch,
}

impl Rejection {
    /// A stable code, for output and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotAddressedToReporter => "not_addressed_to_reporter",
            Self::NotInConversation => "not_in_conversation",
            Self::FrankingKeyLength { .. } => "franking_key_length",
            Self::CommitmentMismatch => "commitment_mismatch",
            Self::UnknownStampKey { .. } => "unknown_stamp_key",
            Self::ExpiredStampKey { .. } => "expired_stamp_key",
            Self::StampMismatch => "stamp_mismatch",
            Self::NotInGroup => "not_in_group",
            Self::ChainSignatureMismatch => "chain_signature_mismatch",
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAddressedToReporter => {
                f.write_str("it was not delivered to the device that reports it")
            }
            Self::NotInConversation => {
                f.write_str("its sender is not in the reported conversation")
            }
            Self::FrankingKeyLength { len } => {
                write!(f, "its franking key is {len} bytes, not 32")
            }
            Self::CommitmentMismatch => {
                f.write_str("its content is not what the sender committed to")
            }
            Self::UnknownStampKey { id } => write!(f, "its stamp names an unknown relay key {id}"),
            Self::ExpiredStampKey { id } => write!(f, "its stamp's relay key {id} has expired"),
            Self::StampMismatch => f.write_str("the relay did not stamp it so"),
            Self::NotInGroup => f.write_str("it is not a message of the reported group"),
            Self::ChainSignatureMismatch => {
                f.write_str("its sender chain's signature does not verify")
            }
        }
    }
}

/// What moderation concludes about one reported message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Sent by its sender to the reporter, as reported; counted.
    Verified,
    /// Verified, but this reporter's user reported it before (in an earlier
    /// opening or earlier in this report); not counted again.
    Duplicate,
    /// Not verified.
    Rejected(Rejection),
}

impl Verdict {
    /// Whether the message is shown to have been sent as reported.
    pub fn is_verified(&self) -> bool {
        matches!(self, Self::Verified | Self::Duplicate)
    }
}

/// One reported message, checked. For a rejected message every field is
/// only the reporter's claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedMessage {
    /// The sending device.
    pub sender: DeviceAddress<'static>,
    /// The receiving device.
    pub recipient: DeviceAddress<'static>,
    /// The sender's message id.
    pub message_id: ClientMessageId,
    /// What the body is.
    pub content_type: ContentType,
    /// The body (`Debug` shows only its length, so that a log of the tool
    /// never holds reported content).
    pub body: Opaque<'static>,
    /// The franking commitment.
    pub commitment: FrankingCommitment,
    /// When the relay accepted it.
    pub server_time_ms: u64,
    /// The relay's id for the delivery.
    pub server_message_id: MessageId,
    /// The relay key of the stamp.
    pub stamp_key_id: StampKeyId,
    /// The conclusion.
    pub verdict: Verdict,
}

impl CheckedMessage {
    /// The body as text (invalid UTF-8 shown with replacement characters).
    /// Typed content is shown as its type's name and what it says.
    pub fn text(&self) -> String {
        if self.content_type == fuin_wire::ContentType::Typed {
            return crate::typed::describe_typed(self.body.as_bytes());
        }
        String::from_utf8_lossy(self.body.as_bytes()).into_owned()
    }
}

/// An opened report with a verdict on every message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReport {
    /// The relay's id of the report.
    pub report_id: ReportId,
    /// The reporting device, as the relay authenticated it (and as the
    /// report itself says: they must agree).
    pub reporter: DeviceAddress<'static>,
    /// The reporting device's identity, as the report says.
    pub reporter_identity: PublicIdentity,
    /// The other user of the reported conversation; for a group report,
    /// the reporter's own user (the group is in `group`).
    pub conversation_with: UserId<'static>,
    /// The reported group, for a group report (`spec/report.md` §12).
    pub group: Option<GroupId>,
    /// The reporter's reason.
    pub reason: String,
    /// When the reporter's device made it (its clock; not checked).
    pub created_at_ms: u64,
    /// When the relay received it (its clock).
    pub received_at_ms: u64,
    /// Whether it was sealed with the hybrid KEM (X25519 + ML-KEM-768);
    /// false for a report sealed before protocol version 3, whose secrecy
    /// while stored rested on X25519 alone (`spec/report.md` §5.2).
    pub post_quantum: bool,
    /// The messages, in the report's order.
    pub messages: Vec<CheckedMessage>,
    /// The audit record of this opening.
    pub audit_record: AuditRecord,
}

/// A report opened and checked by [`Moderator::inspect`], not recorded:
/// every message is [`Verdict::Verified`] or [`Verdict::Rejected`] (whether
/// a verified message was reported before is for the caller's record of
/// openings to say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// The relay's id of the report.
    pub report_id: ReportId,
    /// The reporting device, as the relay authenticated it (and as the
    /// report itself says: they must agree).
    pub reporter: DeviceAddress<'static>,
    /// The reporting device's identity, as the report says.
    pub reporter_identity: PublicIdentity,
    /// The other user of the reported conversation; for a group report,
    /// the reporter's own user (the group is in `group`).
    pub conversation_with: UserId<'static>,
    /// The reported group, for a group report.
    pub group: Option<GroupId>,
    /// The reporter's reason.
    pub reason: String,
    /// When the reporter's device made it (its clock; not checked).
    pub created_at_ms: u64,
    /// When the relay received it (its clock).
    pub received_at_ms: u64,
    /// Whether it was sealed with the hybrid KEM.
    pub post_quantum: bool,
    /// The messages, in the report's order.
    pub messages: Vec<CheckedMessage>,
}

impl Inspected {
    /// The reported conversation: the group's, or the 1:1 conversation of
    /// the reporter and `conversation_with`.
    pub fn conversation(&self) -> ConversationId {
        conversation_of(&self.group, &self.reporter, &self.conversation_with)
    }
}

impl VerifiedReport {
    /// The reported conversation, as [`Inspected::conversation`].
    pub fn conversation(&self) -> ConversationId {
        conversation_of(&self.group, &self.reporter, &self.conversation_with)
    }
}

fn conversation_of(
    group: &Option<GroupId>,
    reporter: &DeviceAddress<'_>,
    with: &UserId<'_>,
) -> ConversationId {
    match group {
        Some(group) => ConversationId::group(group),
        None => ConversationId::direct(&reporter.user, with),
    }
}

/// The moderation tool's keys: its secret key (reports are sealed to its
/// public half) and its copy of the relay's stamp keys.
#[derive(Debug)]
pub struct Moderator {
    key: ModerationSecretKey,
    stamp_keys: StampKeySet,
}

impl Moderator {
    /// A moderator with these keys.
    pub fn new(key: ModerationSecretKey, stamp_keys: StampKeySet) -> Self {
        Self { key, stamp_keys }
    }

    /// The public key reports are to be sealed to; `None` when the key
    /// held is one of before protocol version 3 (X25519 only), to which
    /// nothing may be sealed any more.
    pub fn public_key(&self) -> Option<ModerationPublicKey> {
        self.key.public_key()
    }

    /// Opens `report` as pulled from the relay's inbox, checks every
    /// message, and appends the opening to `audit` as done by `moderator`
    /// at `now_ms`. The record is written (and synced) before the report is
    /// returned; if it cannot be written, the report is not returned.
    ///
    /// Refused as a whole (and recorded as refused): a report sealed to
    /// another key id ([`ReportError::UnknownModerationKey`]), with a
    /// small-order ephemeral key, that does not open
    /// ([`ReportError::DecryptionFailed`]: wrong key, tampering), whose
    /// plaintext is malformed, or that claims another reporter than the
    /// device the relay authenticated ([`ReportError::ReporterMismatch`]).
    pub fn open(
        &self,
        audit: &mut AuditLog,
        moderator: &str,
        report: &InboxEntry<'_>,
        now_ms: u64,
    ) -> Result<VerifiedReport, ReportError> {
        crate::audit::check_moderator(moderator)?;
        // Locked from the duplicate check to the record, so that two
        // moderators opening at once neither fork the log nor both count
        // one message.
        let mut audit = audit.hold()?;
        match self.inspect(report) {
            Ok(mut inspected) => {
                // The duplicates: counted by an earlier opening, or earlier
                // in this report.
                let mut counted_here = std::collections::HashSet::new();
                for message in &mut inspected.messages {
                    if message.verdict != Verdict::Verified {
                        continue;
                    }
                    let key = CountedMessage {
                        reporter: report.reporter.user.clone().into_owned(),
                        commitment: message.commitment,
                    };
                    if audit.was_counted(&key) || !counted_here.insert(key) {
                        message.verdict = Verdict::Duplicate;
                    }
                }
                let messages = inspected.messages;
                let count = |kind: fn(&Verdict) -> bool| {
                    u32::try_from(messages.iter().filter(|m| kind(&m.verdict)).count())
                        .unwrap_or(u32::MAX)
                };
                let counted = messages
                    .iter()
                    .filter(|m| m.verdict == Verdict::Verified)
                    .map(|m| CountedMessage {
                        reporter: report.reporter.user.clone().into_owned(),
                        commitment: m.commitment,
                    })
                    .collect();
                let outcome = AuditOutcome::Opened {
                    verified: count(|v| *v == Verdict::Verified),
                    duplicates: count(|v| *v == Verdict::Duplicate),
                    rejected: count(|v| matches!(v, Verdict::Rejected(_))),
                };
                let audit_record = audit.append(
                    moderator,
                    AuditEntry {
                        report_id: report.report_id,
                        reporter: &report.reporter,
                        outcome,
                        counted,
                    },
                    now_ms,
                )?;
                Ok(VerifiedReport {
                    report_id: inspected.report_id,
                    reporter: inspected.reporter,
                    reporter_identity: inspected.reporter_identity,
                    conversation_with: inspected.conversation_with,
                    group: inspected.group,
                    reason: inspected.reason,
                    created_at_ms: inspected.created_at_ms,
                    received_at_ms: inspected.received_at_ms,
                    post_quantum: inspected.post_quantum,
                    messages,
                    audit_record,
                })
            }
            Err(err) => {
                audit.append(
                    moderator,
                    AuditEntry {
                        report_id: report.report_id,
                        reporter: &report.reporter,
                        outcome: AuditOutcome::Refused {
                            reason: err.code().to_owned(),
                        },
                        counted: Vec::new(),
                    },
                    now_ms,
                )?;
                Err(err)
            }
        }
    }

    /// Opens `report` as pulled from the relay's inbox and checks every
    /// message, **without recording anything**: the checks of
    /// [`Moderator::open`] (which calls this), refusing the same reports
    /// with the same errors. Each message is [`Verdict::Verified`] or
    /// [`Verdict::Rejected`]; none is a duplicate, as no record of earlier
    /// openings is consulted.
    ///
    /// The caller must record the opening (or the refusal) itself before it
    /// acts on the result or acknowledges the report, and must decide which
    /// verified messages were counted before: the moderation service does
    /// both in the database transaction that stores the case.
    pub fn inspect(&self, report: &InboxEntry<'_>) -> Result<Inspected, ReportError> {
        let (header, messages) = self.check(report)?;
        Ok(Inspected {
            report_id: report.report_id,
            reporter: report.reporter.clone().into_owned(),
            reporter_identity: header.reporter_identity,
            conversation_with: header.peer,
            group: header.group,
            reason: header.reason,
            created_at_ms: header.created_at_ms,
            received_at_ms: report.received_at_ms,
            post_quantum: matches!(report.report, InboxSealedReport::Hybrid(_)),
            messages,
        })
    }

    /// [`Moderator::open`] for a report stored as `fuin moderate pull`
    /// stores it: an `InboxBatch` frame (wire tag 46) holding that one
    /// entry, or, for a file stored before protocol version 3, a
    /// `ReportBatch` frame (tag 23) holding one report. Bytes that are not
    /// such a frame are refused before any opening, and are not recorded
    /// (there is no report to name).
    pub fn open_stored(
        &self,
        audit: &mut AuditLog,
        moderator: &str,
        stored: &[u8],
        now_ms: u64,
    ) -> Result<VerifiedReport, ReportError> {
        let one = || ReportError::Malformed {
            reason: "a stored report holds exactly one report",
        };
        let entry = match InboxBatch::from_bytes(stored) {
            Ok(batch) => match batch.reports.into_vec().as_slice() {
                [entry] => entry.clone(),
                _ => return Err(one()),
            },
            Err(fuin_wire::WireError::UnexpectedFrame {
                found: fuin_wire::FrameKind::ReportBatch,
                ..
            }) => {
                let batch = ReportBatch::from_bytes(stored).map_err(ReportError::Wire)?;
                match batch.reports.into_vec().as_slice() {
                    [report] => InboxEntry::from(report.clone()),
                    _ => return Err(one()),
                }
            }
            Err(err) => return Err(ReportError::Wire(err)),
        };
        self.open(audit, moderator, &entry, now_ms)
    }

    /// Opens and checks, without recording or counting.
    fn check(&self, report: &InboxEntry<'_>) -> Result<(Header, Vec<CheckedMessage>), ReportError> {
        let plaintext = open_sealed(&self.key, &report.report)?;
        if plaintext.first() == Some(&GROUP_REPORT_VERSION) {
            return self.check_group(report, &plaintext);
        }
        let content = ReportContent::from_bytes(&plaintext)?;
        if content.reporter != report.reporter {
            return Err(ReportError::ReporterMismatch);
        }
        let conversation = ConversationId::direct(&report.reporter.user, &content.peer);
        let messages = content
            .messages
            .iter()
            .map(|message| {
                let verdict = match self.check_message(
                    message,
                    &report.reporter,
                    &content.peer,
                    &conversation,
                    report.received_at_ms,
                ) {
                    Err(rejection) => Verdict::Rejected(rejection),
                    Ok(()) => Verdict::Verified,
                };
                CheckedMessage {
                    sender: message.sender.clone().into_owned(),
                    recipient: message.recipient.clone().into_owned(),
                    message_id: message.message_id,
                    content_type: message.content_type,
                    body: message.body.clone().into_owned(),
                    commitment: message.commitment,
                    server_time_ms: message.server_time_ms,
                    server_message_id: message.server_message_id,
                    stamp_key_id: message.stamp_key_id,
                    verdict,
                }
            })
            .collect();
        // The messages were copied out; the content keeps no franking keys.
        let ReportContent {
            reporter,
            reporter_identity,
            peer,
            reason,
            created_at_ms,
            ..
        } = content;
        drop(reporter);
        let header = Header {
            reporter_identity,
            peer: peer.into_owned(),
            group: None,
            reason: reason.into_owned(),
            created_at_ms,
        };
        Ok((header, messages))
    }

    /// [`Moderator::check`] for a group report (`spec/report.md` §12).
    fn check_group(
        &self,
        report: &InboxEntry<'_>,
        plaintext: &[u8],
    ) -> Result<(Header, Vec<CheckedMessage>), ReportError> {
        let content = GroupReportContent::from_bytes(plaintext)?;
        if content.reporter != report.reporter {
            return Err(ReportError::ReporterMismatch);
        }
        let conversation = ConversationId::group(&content.group_id);
        let messages = content
            .messages
            .iter()
            .map(|reported| {
                let message = &reported.message;
                let verdict = match self.check_group_message(
                    reported,
                    &report.reporter,
                    &content.group_id,
                    &conversation,
                    report.received_at_ms,
                ) {
                    Err(rejection) => Verdict::Rejected(rejection),
                    Ok(()) => Verdict::Verified,
                };
                CheckedMessage {
                    sender: message.sender.clone().into_owned(),
                    recipient: message.recipient.clone().into_owned(),
                    message_id: message.message_id,
                    content_type: message.content_type,
                    body: message.body.clone().into_owned(),
                    commitment: message.commitment,
                    server_time_ms: message.server_time_ms,
                    server_message_id: message.server_message_id,
                    stamp_key_id: message.stamp_key_id,
                    verdict,
                }
            })
            .collect();
        let header = Header {
            reporter_identity: content.reporter_identity.clone(),
            peer: report.reporter.user.clone().into_owned(),
            group: Some(content.group_id),
            reason: content.reason.to_string(),
            created_at_ms: content.created_at_ms,
        };
        Ok((header, messages))
    }

    /// The checks of one group message, in order (`spec/report.md` §12):
    /// the recipient, the group, then those of a 1:1 message on the group's
    /// conversation id, then the chain signature.
    fn check_group_message(
        &self,
        reported: &GroupReportedMessage<'_>,
        reporter: &DeviceAddress<'_>,
        group_id: &GroupId,
        conversation: &ConversationId,
        received_at_ms: u64,
    ) -> Result<(), Rejection> {
        let message = &reported.message;
        if message.recipient != *reporter {
            return Err(Rejection::NotAddressedToReporter);
        }
        let in_group = GroupMessage::from_bytes(reported.sealed_body.as_bytes())
            .is_ok_and(|frame| frame.group_id == *group_id);
        if !in_group {
            return Err(Rejection::NotInGroup);
        }
        self.check_franking(message, conversation, received_at_ms)?;
        verify_group_message_signature(
            reported.sealed_body.as_bytes(),
            &message.sender,
            &message.commitment,
            &reported.membership_hash,
            &reported.chain_signing_key,
        )
        .map_err(|_| Rejection::ChainSignatureMismatch)
    }

    /// The checks of one message, in order (`spec/report.md` §6).
    fn check_message(
        &self,
        message: &ReportedMessage<'_>,
        reporter: &DeviceAddress<'_>,
        peer: &UserId<'_>,
        conversation: &ConversationId,
        received_at_ms: u64,
    ) -> Result<(), Rejection> {
        if message.recipient != *reporter {
            return Err(Rejection::NotAddressedToReporter);
        }
        if message.sender.user != *peer && message.sender.user != reporter.user {
            return Err(Rejection::NotInConversation);
        }
        self.check_franking(message, conversation, received_at_ms)
    }

    /// Checks 3 to 6: the franking key, the commitment on `conversation`,
    /// the stamp key and the stamp.
    fn check_franking(
        &self,
        message: &ReportedMessage<'_>,
        conversation: &ConversationId,
        received_at_ms: u64,
    ) -> Result<(), Rejection> {
        let key = message.franking_key.as_bytes();
        if key.len() != franking::FRANKING_KEY_LEN {
            return Err(Rejection::FrankingKeyLength { len: key.len() });
        }
        let franked = FrankedMessage {
            sender: &message.sender,
            conversation,
            message_id: &message.message_id,
            content_type: message.content_type,
            body: message.body.as_bytes(),
        };
        franking::verify(key, &franked, &message.commitment)
            .map_err(|_| Rejection::CommitmentMismatch)?;
        let stamp_key = self
            .stamp_keys
            .usable(message.stamp_key_id, received_at_ms)?;
        let input = franking_stamp_input(
            &message.commitment,
            &message.sender,
            &message.recipient,
            message.server_time_ms,
            &message.server_message_id,
            message.stamp_key_id,
        );
        if !verify_hmac_sha256(stamp_key, &input, &message.stamp.0) {
            return Err(Rejection::StampMismatch);
        }
        Ok(())
    }
}
