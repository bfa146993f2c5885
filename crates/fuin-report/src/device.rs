//! The reporter's side: a report of exactly the messages the user selected.
//!
//! [`ReportBuilder::new`] takes the reason and an explicit list of
//! messages; it never looks for messages itself, and there is no default
//! selection. [`ReportBuilder::preview`] is what the app shows before the
//! user confirms: every message that will leave the device, with what it
//! says. [`ReportBuilder::seal`] seals exactly that to moderation.

use std::borrow::Cow;
use std::collections::HashSet;

use fuin_wire::{ContentType, DeviceAddress, PublicIdentity, UserId};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::content::check_reason;
use crate::sealing::seal_plaintext;
use crate::{
    MAX_REPORTED_MESSAGES, ModerationPublicKey, ReportContent, ReportError, ReportedMessage,
};
use fuin_wire::FrameBody;

/// A report being prepared on the reporter's device. It cannot change once
/// made: what [`ReportBuilder::preview`] shows is what
/// [`ReportBuilder::seal`] seals.
#[derive(Clone)]
pub struct ReportBuilder {
    content: ReportContent<'static>,
    /// The encoded plaintext (it holds the franking keys: wiped on drop).
    plaintext: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ReportBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportBuilder")
            .field("content", &self.content)
            .finish_non_exhaustive()
    }
}

impl ReportBuilder {
    /// A report by device `reporter` (with its public identity) about its
    /// one-to-one conversation with `peer`, for `reason`, made at
    /// `created_at_ms` (the device's clock), of exactly `messages`.
    ///
    /// Refused: no messages ([`ReportError::NoMessages`]), more than
    /// [`MAX_REPORTED_MESSAGES`] ([`ReportError::LimitExceeded`]), a reason
    /// that is empty, too long or holds control characters, a message
    /// delivered to another device than `reporter`
    /// ([`ReportError::NotAddressedToReporter`]), a message whose sender is
    /// neither `peer` nor the reporter's own user
    /// ([`ReportError::NotInConversation`]), and a message listed twice.
    pub fn new(
        reporter: DeviceAddress<'static>,
        reporter_identity: PublicIdentity,
        peer: UserId<'static>,
        reason: &str,
        created_at_ms: u64,
        messages: Vec<ReportedMessage<'static>>,
    ) -> Result<Self, ReportError> {
        check_reason(reason)?;
        if messages.is_empty() {
            return Err(ReportError::NoMessages);
        }
        if messages.len() > MAX_REPORTED_MESSAGES {
            return Err(ReportError::LimitExceeded {
                field: "messages",
                len: messages.len(),
                max: MAX_REPORTED_MESSAGES,
            });
        }
        let mut seen = HashSet::new();
        for (index, message) in messages.iter().enumerate() {
            if message.recipient != reporter {
                return Err(ReportError::NotAddressedToReporter { index });
            }
            if message.sender.user != peer && message.sender.user != reporter.user {
                return Err(ReportError::NotInConversation { index });
            }
            if !seen.insert((message.sender.clone(), message.message_id)) {
                return Err(ReportError::ListedTwice { index });
            }
            // The user's identifier secret never leaves the user's devices.
            if message.content_type == ContentType::IdentifierSecret {
                return Err(ReportError::NotReportable { index });
            }
        }
        let content = ReportContent {
            reporter,
            reporter_identity,
            peer,
            reason: Cow::Owned(reason.to_owned()),
            created_at_ms,
            messages,
        };
        // The same limits the moderation side's decoder applies.
        let plaintext = content.to_bytes()?;
        Ok(Self { content, plaintext })
    }

    /// Exactly what will leave the device, for the app to show.
    pub fn preview(&self) -> ReportPreview {
        ReportPreview {
            reporter: self.content.reporter.clone(),
            conversation_with: self.content.peer.clone(),
            reason: self.content.reason.to_string(),
            created_at_ms: self.content.created_at_ms,
            messages: self
                .content
                .messages
                .iter()
                .map(|message| PreviewMessage {
                    sender: message.sender.clone(),
                    content_type: message.content_type,
                    body: message.body.as_bytes().to_vec(),
                    server_time_ms: message.server_time_ms,
                })
                .collect(),
        }
    }

    /// The report's plaintext.
    pub fn content(&self) -> &ReportContent<'static> {
        &self.content
    }

    /// Seals the report to `moderation_key` with a fresh ephemeral key and
    /// returns the `SealedReport` frame (wire tag 5) that the relay's
    /// report inbox accepts (`POST /v1/reports`).
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

/// What a report discloses, in a form an app can show: who reports, about
/// which conversation, why, and each selected message with what it says.
///
/// With each message the report also carries what lets moderation check it
/// and nothing else: the message's franking key and commitment, the sender's
/// message id, and the relay's stamp with its key id, time, message id and
/// the sending and receiving devices. No other message, contact or key of
/// the device is in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPreview {
    /// The reporting device.
    pub reporter: DeviceAddress<'static>,
    /// The other user of the reported conversation.
    pub conversation_with: UserId<'static>,
    /// The reason, as given.
    pub reason: String,
    /// When the report was made (the device's clock).
    pub created_at_ms: u64,
    /// Every message that will be disclosed, in the order selected.
    pub messages: Vec<PreviewMessage>,
}

/// One message of a [`ReportPreview`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewMessage {
    /// Who sent it.
    pub sender: DeviceAddress<'static>,
    /// What the body is.
    pub content_type: ContentType,
    /// The body, byte for byte as it will be disclosed.
    pub body: Vec<u8>,
    /// When the relay accepted it.
    pub server_time_ms: u64,
}

impl PreviewMessage {
    /// The body as text (invalid UTF-8 shown with replacement characters).
    /// Typed content is shown as its type's name and what it says.
    pub fn text(&self) -> String {
        if self.content_type == fuin_wire::ContentType::Typed {
            return crate::typed::describe_typed(&self.body);
        }
        String::from_utf8_lossy(&self.body).into_owned()
    }
}
