//! Reports of group messages (`spec/report.md` §12): plaintext version 2.
//!
//! A group message is sealed once for the group and signed by its sender's
//! chain; each member receives its own stamped copy. A group report carries,
//! for each message, what a 1:1 report carries (content, franking key, the
//! relay's stamp and what it covers) and also the sealed `GroupMessage`
//! frame as delivered, the epoch's membership hash and the sender chain's
//! signing key, so that moderation can check the chain signature
//! ([`fuin_seal::group::verify_group_message_signature`]).

use std::borrow::Cow;
use std::collections::HashSet;

use fuin_wire::limits::MAX_SEALED_BODY_LEN;
use fuin_wire::{
    DeviceAddress, Ed25519PublicKey, FrameBody, GroupId, MembershipHash, Opaque, PublicIdentity,
};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::content::{check_address, check_len, check_reason};
use crate::sealing::seal_plaintext;
use crate::{ModerationPublicKey, PreviewMessage, ReportError, ReportedMessage};

/// The version byte of a group report plaintext.
pub const GROUP_REPORT_VERSION: u8 = 2;

/// Most messages in one group report: each carries its body and its sealed
/// frame, and 25 at their limits still fit in one sealed report.
pub const MAX_GROUP_REPORTED_MESSAGES: usize = 25;

/// One reported group message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupReportedMessage<'a> {
    /// Content, franking key and the relay's stamp, as for a 1:1 message.
    #[serde(borrow)]
    pub message: ReportedMessage<'a>,
    /// The `GroupMessage` frame as the relay delivered it (the envelope's
    /// sealed body).
    #[serde(borrow)]
    pub sealed_body: Opaque<'a>,
    /// The membership hash of the message's epoch, as the reporter held it.
    pub membership_hash: MembershipHash,
    /// The sender chain's signing key, as the reporter held it.
    pub chain_signing_key: Ed25519PublicKey,
}

impl GroupReportedMessage<'_> {
    /// Copies borrowed parts.
    pub fn into_owned(self) -> GroupReportedMessage<'static> {
        GroupReportedMessage {
            message: self.message.into_owned(),
            sealed_body: self.sealed_body.into_owned(),
            membership_hash: self.membership_hash,
            chain_signing_key: self.chain_signing_key,
        }
    }

    fn validate(&self) -> Result<(), ReportError> {
        self.message.validate()?;
        check_len("sealed_body", self.sealed_body.len(), MAX_SEALED_BODY_LEN)
    }
}

/// The plaintext of a group report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupReportContent<'a> {
    /// The reporting device, by its own account.
    #[serde(borrow)]
    pub reporter: DeviceAddress<'a>,
    /// The reporting device's public identity (informational).
    pub reporter_identity: PublicIdentity,
    /// The reported group.
    pub group_id: GroupId,
    /// Why the user reports (the rules of a 1:1 report's reason).
    #[serde(borrow)]
    pub reason: Cow<'a, str>,
    /// When the device built the report (its clock).
    pub created_at_ms: u64,
    /// The selected messages: 1 to [`MAX_GROUP_REPORTED_MESSAGES`].
    #[serde(borrow)]
    pub messages: Vec<GroupReportedMessage<'a>>,
}

impl<'a> GroupReportContent<'a> {
    /// Encodes: the version byte 2, then the postcard encoding. The result
    /// holds franking keys and is wiped on drop.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, ReportError> {
        self.validate()?;
        let failed = |_| ReportError::Malformed {
            reason: "the report does not encode",
        };
        let body = Zeroizing::new(postcard::to_allocvec(self).map_err(failed)?);
        let mut out = Zeroizing::new(Vec::with_capacity(1 + body.len()));
        out.push(GROUP_REPORT_VERSION);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decodes a group report plaintext; refuses what is not its canonical
    /// encoding.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, ReportError> {
        let (&version, rest) = bytes.split_first().ok_or(ReportError::Malformed {
            reason: "the report is empty",
        })?;
        if version != GROUP_REPORT_VERSION {
            return Err(ReportError::UnknownVersion { version });
        }
        let (content, trailing): (Self, _) =
            postcard::take_from_bytes(rest).map_err(|_| ReportError::Malformed {
                reason: "the report does not decode",
            })?;
        if !trailing.is_empty() {
            return Err(ReportError::Malformed {
                reason: "bytes follow the report",
            });
        }
        content.validate()?;
        if *content.to_bytes()? != *bytes {
            return Err(ReportError::Malformed {
                reason: "the report is not canonically encoded",
            });
        }
        Ok(content)
    }

    fn validate(&self) -> Result<(), ReportError> {
        check_address(&self.reporter)?;
        check_reason(&self.reason)?;
        if self.messages.is_empty() {
            return Err(ReportError::NoMessages);
        }
        check_len("messages", self.messages.len(), MAX_GROUP_REPORTED_MESSAGES)?;
        self.messages
            .iter()
            .try_for_each(GroupReportedMessage::validate)
    }
}

/// A group report being made: exactly the messages the user selected.
#[derive(Clone)]
pub struct GroupReportBuilder {
    content: GroupReportContent<'static>,
    plaintext: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for GroupReportBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupReportBuilder")
            .field("group_id", &self.content.group_id)
            .field("messages", &self.content.messages.len())
            .finish_non_exhaustive()
    }
}

/// What a group report will disclose, for the app to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupReportPreview {
    /// The reporting device.
    pub reporter: DeviceAddress<'static>,
    /// The group.
    pub group_id: GroupId,
    /// The reason.
    pub reason: String,
    /// When the report was made.
    pub created_at_ms: u64,
    /// Every message that will leave the device.
    pub messages: Vec<PreviewMessage>,
}

impl GroupReportBuilder {
    /// A report of `messages` (explicitly selected, in this order) of group
    /// `group_id`, for `reason`. Refuses an empty or too long list, a
    /// message listed twice, one not delivered to `reporter`, one whose
    /// sealed body is not a group message of `group_id`, and a bad reason.
    pub fn new(
        reporter: DeviceAddress<'static>,
        reporter_identity: PublicIdentity,
        group_id: GroupId,
        reason: &str,
        created_at_ms: u64,
        messages: Vec<GroupReportedMessage<'static>>,
    ) -> Result<Self, ReportError> {
        check_reason(reason)?;
        if messages.is_empty() {
            return Err(ReportError::NoMessages);
        }
        check_len("messages", messages.len(), MAX_GROUP_REPORTED_MESSAGES)?;
        let mut seen = HashSet::new();
        for (index, reported) in messages.iter().enumerate() {
            let message = &reported.message;
            if message.recipient != reporter {
                return Err(ReportError::NotAddressedToReporter { index });
            }
            let in_group = fuin_wire::GroupMessage::from_bytes(reported.sealed_body.as_bytes())
                .is_ok_and(|frame| frame.group_id == group_id);
            if !in_group {
                return Err(ReportError::NotInConversation { index });
            }
            if !seen.insert((message.sender.clone(), message.message_id)) {
                return Err(ReportError::ListedTwice { index });
            }
        }
        let content = GroupReportContent {
            reporter,
            reporter_identity,
            group_id,
            reason: Cow::Owned(reason.to_owned()),
            created_at_ms,
            messages,
        };
        let plaintext = content.to_bytes()?;
        Ok(Self { content, plaintext })
    }

    /// Exactly what will be disclosed.
    pub fn preview(&self) -> GroupReportPreview {
        GroupReportPreview {
            reporter: self.content.reporter.clone(),
            group_id: self.content.group_id,
            reason: self.content.reason.to_string(),
            created_at_ms: self.content.created_at_ms,
            messages: self
                .content
                .messages
                .iter()
                .map(|reported| PreviewMessage {
                    sender: reported.message.sender.clone(),
                    content_type: reported.message.content_type,
                    body: reported.message.body.as_bytes().to_vec(),
                    server_time_ms: reported.message.server_time_ms,
                })
                .collect(),
        }
    }

    /// The plaintext's content.
    pub fn content(&self) -> &GroupReportContent<'static> {
        &self.content
    }

    /// Seals the report to moderation: the `SealedReport` frame to submit.
    pub fn seal<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        moderation_key: &ModerationPublicKey,
    ) -> Result<Vec<u8>, ReportError> {
        seal_plaintext(rng, moderation_key, &self.plaintext)?
            .to_bytes()
            .map_err(ReportError::Wire)
    }
}

/// Seals any group report content to moderation, without the builder's
/// checks (as any reporter could): the `SealedReport` frame.
pub fn seal_group_content<R: CryptoRng + ?Sized>(
    rng: &mut R,
    moderation_key: &ModerationPublicKey,
    content: &GroupReportContent<'_>,
) -> Result<Vec<u8>, ReportError> {
    seal_plaintext(rng, moderation_key, &content.to_bytes()?)?
        .to_bytes()
        .map_err(ReportError::Wire)
}
