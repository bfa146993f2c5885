//! The top-level frame: version byte, tag, body; and its codec.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::account::{AccountRegistration, LinkGrant, LinkMessage, LinkRequest, SignedDeviceList};
use crate::limits::MAX_FRAME_LEN;
use crate::relay::{
    Acknowledgement, AuthChallenge, AuthToken, BlobReceipt, BundleSet, ChallengeRequest,
    ChallengeResponse, DeviceList, DeviceRegistration, InboxBatch, MailboxBatch, PrekeyCount,
    PrekeyUpload, ReportAccepted, ReportAcknowledgement, ReportBatch, SendAccepted, SendBatch,
};
use crate::{
    BlobId, DeliveredRecord, GroupContent, GroupControl, GroupMessage, GroupSend, GroupWelcome,
    HybridSealedReport, MessageContent, PrekeyBundle, PrekeyMessage, PublicIdentity,
    RatchetMessage, RoutingEnvelope, SealedReport, SenderKeyDistribution, WireError, varint,
};

/// The wire version this codec reads and writes: the first byte of every frame.
pub const WIRE_VERSION: u8 = 1;

/// Every frame fuin sends.
///
/// In postcard an enum value is its variant index as a varint followed by the
/// variant's body, so the variant order below *is* the wire tag. New frames
/// are appended at the end and existing ones never move, so old frames keep
/// their encoding and an old decoder meets a new frame as
/// [`WireError::UnknownVariant`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Frame<'a> {
    /// Tag 0: a device's public identity.
    Identity(PublicIdentity),
    /// Tag 1: retired, a prekey bundle of protocol version 2 (no KEM
    /// prekey). Never decoded: [`WireError::RetiredFrame`].
    RetiredPrekeyBundle(Retired),
    /// Tag 2: a routing envelope, from a sender to the relay.
    Envelope(#[serde(borrow)] RoutingEnvelope<'a>),
    /// Tag 3: a delivered record, from the relay to a recipient.
    Delivered(#[serde(borrow)] DeliveredRecord<'a>),
    /// Tag 4: the id of a sealed attachment blob.
    BlobId(BlobId),
    /// Tag 5: a report sealed before protocol version 3 (X25519 only).
    /// Decoded, so that stored reports open; the relay refuses new ones.
    SealedReport(#[serde(borrow)] SealedReport<'a>),
    /// Tag 6: retired, a Double Ratchet message of protocol version 1.
    /// Never decoded: [`WireError::RetiredFrame`].
    RetiredRatchetMessage(Retired),
    /// Tag 7: retired, a session's first message of protocol version 1.
    /// Never decoded: [`WireError::RetiredFrame`].
    RetiredPrekeyMessage(Retired),
    /// Tag 8: a message's plaintext (inside a ratchet message's ciphertext).
    MessageContent(#[serde(borrow)] MessageContent<'a>),
    /// Tag 9: register a device (device to relay).
    DeviceRegistration(#[serde(borrow)] DeviceRegistration<'a>),
    /// Tag 10: ask for an authentication challenge.
    ChallengeRequest(#[serde(borrow)] ChallengeRequest<'a>),
    /// Tag 11: an authentication challenge (relay to device).
    AuthChallenge(AuthChallenge),
    /// Tag 12: a signed challenge (device to relay).
    ChallengeResponse(#[serde(borrow)] ChallengeResponse<'a>),
    /// Tag 13: a bearer token (relay to device).
    AuthToken(AuthToken),
    /// Tag 14: retired, a prekey upload of protocol version 2.
    /// Never decoded: [`WireError::RetiredFrame`].
    RetiredPrekeyUpload(Retired),
    /// Tag 15: retired, a prekey count of protocol version 2.
    /// Never decoded: [`WireError::RetiredFrame`].
    RetiredPrekeyCount(Retired),
    /// Tag 16: retired, a bundle set of protocol version 2.
    /// Never decoded: [`WireError::RetiredFrame`].
    RetiredBundleSet(Retired),
    /// Tag 17: the envelopes of one message.
    SendBatch(#[serde(borrow)] SendBatch<'a>),
    /// Tag 18: a send stored durably.
    SendAccepted(SendAccepted),
    /// Tag 19: waiting envelopes (relay to device).
    MailboxBatch(#[serde(borrow)] MailboxBatch<'a>),
    /// Tag 20: envelopes the device stored.
    Acknowledgement(Acknowledgement),
    /// Tag 21: a blob stored, and a capability to read it (relay to device).
    BlobReceipt(BlobReceipt),
    /// Tag 22: a report stored in the inbox (relay to device).
    ReportAccepted(ReportAccepted),
    /// Tag 23: waiting reports before protocol version 3 (a moderation
    /// tool's stored files); relays now answer with tag 46.
    ReportBatch(#[serde(borrow)] ReportBatch<'a>),
    /// Tag 24: reports the moderation tool took.
    ReportAcknowledgement(ReportAcknowledgement),
    /// Tag 25: the registered devices of a user and their identities.
    DeviceList(DeviceList),
    /// Tag 26: a member's sender chain for one epoch (over a 1:1 session).
    SenderKeyDistribution(#[serde(borrow)] SenderKeyDistribution<'a>),
    /// Tag 27: retired, a group message of protocol version 1.
    /// Never decoded: [`WireError::RetiredFrame`].
    RetiredGroupMessage(Retired),
    /// Tag 28: a group message's plaintext (inside its ciphertext).
    GroupContent(#[serde(borrow)] GroupContent<'a>),
    /// Tag 29: a signed group control message (inside a group message).
    GroupControl(#[serde(borrow)] GroupControl<'a>),
    /// Tag 30: a page of a group's member list for a joiner (over a 1:1 session).
    GroupWelcome(#[serde(borrow)] GroupWelcome<'a>),
    /// Tag 31: one group message for the relay to fan out.
    GroupSend(#[serde(borrow)] GroupSend<'a>),
    /// Tag 32: a user's device list, signed by the account key.
    SignedDeviceList(#[serde(borrow)] SignedDeviceList<'a>),
    /// Tag 33: create an account with its first device list.
    AccountRegistration(#[serde(borrow)] AccountRegistration<'a>),
    /// Tag 34: one sealed message of a link exchange.
    LinkMessage(#[serde(borrow)] LinkMessage<'a>),
    /// Tag 35: retired, a link request of protocol version 2 (no grant
    /// key). Never decoded: [`WireError::RetiredFrame`].
    RetiredLinkRequest(Retired),
    /// Tag 36: an existing device links a new one (inside a link message).
    LinkGrant(#[serde(borrow)] LinkGrant<'a>),
    /// Tag 37: a Double Ratchet message (inside an envelope's sealed body).
    RatchetMessage(#[serde(borrow)] RatchetMessage<'a>),
    /// Tag 38: retired, a session's first message of protocol version 2
    /// (no KEM ciphertext). Never decoded: [`WireError::RetiredFrame`].
    RetiredPrekeyMessageV2(Retired),
    /// Tag 39: a group message (inside an envelope's sealed body).
    GroupMessage(#[serde(borrow)] GroupMessage<'a>),
    /// Tag 40: a session's first message (inside an envelope's sealed body).
    PrekeyMessage(#[serde(borrow)] PrekeyMessage<'a>),
    /// Tag 41: a prekey bundle for one device.
    PrekeyBundle(#[serde(borrow)] PrekeyBundle<'a>),
    /// Tag 42: publish prekeys.
    PrekeyUpload(PrekeyUpload),
    /// Tag 43: one-time prekeys left.
    PrekeyCount(PrekeyCount),
    /// Tag 44: the bundles of a user's devices.
    BundleSet(#[serde(borrow)] BundleSet<'a>),
    /// Tag 45: a report sealed with the hybrid KEM for the report inbox.
    HybridSealedReport(#[serde(borrow)] HybridSealedReport<'a>),
    /// Tag 46: waiting reports, each in the form it was sealed in (relay to
    /// moderation tool).
    InboxBatch(#[serde(borrow)] InboxBatch<'a>),
    /// Tag 47: reserved, names no frame. Never decoded:
    /// [`WireError::UnknownVariant`].
    Reserved47(Retired),
    /// Tag 48: a new device asks to be linked, with the key its grant is
    /// sealed to (inside a link message).
    LinkRequest(#[serde(borrow)] LinkRequest<'a>),
}

/// The body of a retired frame tag: a type with no values, so a retired
/// frame can be neither built nor decoded (the decoder refuses its tag
/// before reading a body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Retired {}

/// The retired frame tags and the protocol version whose messages they
/// carried (`spec/wire.md` §4).
pub const RETIRED_TAGS: [(u32, u8); 9] = [
    (1, 2),
    (6, 1),
    (7, 1),
    (14, 2),
    (15, 2),
    (16, 2),
    (27, 1),
    (35, 2),
    (38, 2),
];

/// The kind of a [`Frame`], without its body. Its discriminant is the wire tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameKind {
    /// See [`Frame::Identity`].
    Identity = 0,
    /// See [`Frame::PrekeyBundle`].
    PrekeyBundle = 41,
    /// See [`Frame::Envelope`].
    Envelope = 2,
    /// See [`Frame::Delivered`].
    Delivered = 3,
    /// See [`Frame::BlobId`].
    BlobId = 4,
    /// See [`Frame::SealedReport`].
    SealedReport = 5,
    /// See [`Frame::MessageContent`].
    MessageContent = 8,
    /// See [`Frame::DeviceRegistration`].
    DeviceRegistration = 9,
    /// See [`Frame::ChallengeRequest`].
    ChallengeRequest = 10,
    /// See [`Frame::AuthChallenge`].
    AuthChallenge = 11,
    /// See [`Frame::ChallengeResponse`].
    ChallengeResponse = 12,
    /// See [`Frame::AuthToken`].
    AuthToken = 13,
    /// See [`Frame::PrekeyUpload`].
    PrekeyUpload = 42,
    /// See [`Frame::PrekeyCount`].
    PrekeyCount = 43,
    /// See [`Frame::BundleSet`].
    BundleSet = 44,
    /// See [`Frame::SendBatch`].
    SendBatch = 17,
    /// See [`Frame::SendAccepted`].
    SendAccepted = 18,
    /// See [`Frame::MailboxBatch`].
    MailboxBatch = 19,
    /// See [`Frame::Acknowledgement`].
    Acknowledgement = 20,
    /// See [`Frame::BlobReceipt`].
    BlobReceipt = 21,
    /// See [`Frame::ReportAccepted`].
    ReportAccepted = 22,
    /// See [`Frame::ReportBatch`].
    ReportBatch = 23,
    /// See [`Frame::ReportAcknowledgement`].
    ReportAcknowledgement = 24,
    /// See [`Frame::DeviceList`].
    DeviceList = 25,
    /// See [`Frame::SenderKeyDistribution`].
    SenderKeyDistribution = 26,
    /// See [`Frame::GroupContent`].
    GroupContent = 28,
    /// See [`Frame::GroupControl`].
    GroupControl = 29,
    /// See [`Frame::GroupWelcome`].
    GroupWelcome = 30,
    /// See [`Frame::GroupSend`].
    GroupSend = 31,
    /// See [`Frame::SignedDeviceList`].
    SignedDeviceList = 32,
    /// See [`Frame::AccountRegistration`].
    AccountRegistration = 33,
    /// See [`Frame::LinkMessage`].
    LinkMessage = 34,
    /// See [`Frame::LinkRequest`].
    LinkRequest = 48,
    /// See [`Frame::HybridSealedReport`].
    HybridSealedReport = 45,
    /// See [`Frame::InboxBatch`].
    InboxBatch = 46,
    /// See [`Frame::LinkGrant`].
    LinkGrant = 36,
    /// See [`Frame::RatchetMessage`].
    RatchetMessage = 37,
    /// See [`Frame::PrekeyMessage`].
    PrekeyMessage = 40,
    /// See [`Frame::GroupMessage`].
    GroupMessage = 39,
}

impl FrameKind {
    /// Every kind, in tag order. The retired tags ([`RETIRED_TAGS`]) have
    /// no kind.
    pub const ALL: [FrameKind; 39] = [
        Self::Identity,
        Self::Envelope,
        Self::Delivered,
        Self::BlobId,
        Self::SealedReport,
        Self::MessageContent,
        Self::DeviceRegistration,
        Self::ChallengeRequest,
        Self::AuthChallenge,
        Self::ChallengeResponse,
        Self::AuthToken,
        Self::SendBatch,
        Self::SendAccepted,
        Self::MailboxBatch,
        Self::Acknowledgement,
        Self::BlobReceipt,
        Self::ReportAccepted,
        Self::ReportBatch,
        Self::ReportAcknowledgement,
        Self::DeviceList,
        Self::SenderKeyDistribution,
        Self::GroupContent,
        Self::GroupControl,
        Self::GroupWelcome,
        Self::GroupSend,
        Self::SignedDeviceList,
        Self::AccountRegistration,
        Self::LinkMessage,
        Self::LinkGrant,
        Self::RatchetMessage,
        Self::GroupMessage,
        Self::PrekeyMessage,
        Self::PrekeyBundle,
        Self::PrekeyUpload,
        Self::PrekeyCount,
        Self::BundleSet,
        Self::HybridSealedReport,
        Self::InboxBatch,
        Self::LinkRequest,
    ];

    /// The wire tag of this kind.
    pub fn tag(self) -> u32 {
        self as u32
    }

    /// The kind with wire tag `tag`, if this codec knows one.
    pub fn from_tag(tag: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.tag() == tag)
    }

    /// The kind's name as used in `spec/wire.md` and the test vectors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::PrekeyBundle => "prekey_bundle",
            Self::Envelope => "envelope",
            Self::Delivered => "delivered",
            Self::BlobId => "blob_id",
            Self::SealedReport => "sealed_report",
            Self::RatchetMessage => "ratchet_message",
            Self::PrekeyMessage => "prekey_message",
            Self::MessageContent => "message_content",
            Self::DeviceRegistration => "device_registration",
            Self::ChallengeRequest => "challenge_request",
            Self::AuthChallenge => "auth_challenge",
            Self::ChallengeResponse => "challenge_response",
            Self::AuthToken => "auth_token",
            Self::PrekeyUpload => "prekey_upload",
            Self::PrekeyCount => "prekey_count",
            Self::BundleSet => "bundle_set",
            Self::SendBatch => "send_batch",
            Self::SendAccepted => "send_accepted",
            Self::MailboxBatch => "mailbox_batch",
            Self::Acknowledgement => "acknowledgement",
            Self::BlobReceipt => "blob_receipt",
            Self::ReportAccepted => "report_accepted",
            Self::ReportBatch => "report_batch",
            Self::ReportAcknowledgement => "report_acknowledgement",
            Self::DeviceList => "device_list",
            Self::SenderKeyDistribution => "sender_key_distribution",
            Self::GroupMessage => "group_message",
            Self::GroupContent => "group_content",
            Self::GroupControl => "group_control",
            Self::GroupWelcome => "group_welcome",
            Self::GroupSend => "group_send",
            Self::SignedDeviceList => "signed_device_list",
            Self::AccountRegistration => "account_registration",
            Self::LinkMessage => "link_message",
            Self::LinkRequest => "link_request",
            Self::LinkGrant => "link_grant",
            Self::HybridSealedReport => "hybrid_sealed_report",
            Self::InboxBatch => "inbox_batch",
        }
    }
}

impl fmt::Display for FrameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl<'a> Frame<'a> {
    /// Decodes one frame that fills all of `bytes`.
    ///
    /// Checks, in order: the frame size limit, the version, the tag, the body,
    /// the field limits, that the encoding is canonical, and that nothing
    /// trails. Sealed payloads are borrowed from `bytes`; the only allocation
    /// made is a list's storage, at most its maximum number of elements
    /// whatever count the input claims.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_FRAME_LEN {
            return Err(WireError::FrameTooLarge {
                len: bytes.len(),
                max: MAX_FRAME_LEN,
            });
        }
        let (&version, body) = bytes.split_first().ok_or(WireError::Truncated)?;
        if version != WIRE_VERSION {
            return Err(WireError::UnknownVersion { version });
        }
        let tag = varint::read_u32(body)?;
        if let Some(&(_, protocol_version)) = RETIRED_TAGS.iter().find(|(old, _)| *old == tag) {
            return Err(WireError::RetiredFrame {
                tag,
                protocol_version,
            });
        }
        if FrameKind::from_tag(tag).is_none() {
            return Err(WireError::UnknownVariant { tag });
        }
        let (frame, rest) =
            postcard::take_from_bytes::<Frame<'a>>(body).map_err(WireError::from_postcard)?;
        if !rest.is_empty() {
            return Err(WireError::TrailingBytes { count: rest.len() });
        }
        frame.validate()?;
        // Every field is either fixed-size, length-prefixed or a varint, so the
        // input is canonical exactly when re-encoding it gives as many bytes.
        if 1 + encoded_len(&frame)? != bytes.len() {
            return Err(WireError::NonCanonical);
        }
        Ok(frame)
    }

    /// Encodes the frame, refusing values that break a field limit or the
    /// frame limit.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        self.validate()?;
        write_frame(None, self)
    }

    /// The frame's kind.
    pub fn kind(&self) -> FrameKind {
        match self {
            Self::Identity(_) => FrameKind::Identity,
            Self::PrekeyBundle(_) => FrameKind::PrekeyBundle,
            Self::Envelope(_) => FrameKind::Envelope,
            Self::Delivered(_) => FrameKind::Delivered,
            Self::BlobId(_) => FrameKind::BlobId,
            Self::SealedReport(_) => FrameKind::SealedReport,
            Self::RetiredRatchetMessage(never)
            | Self::RetiredPrekeyMessage(never)
            | Self::RetiredGroupMessage(never)
            | Self::RetiredPrekeyBundle(never)
            | Self::RetiredPrekeyUpload(never)
            | Self::RetiredPrekeyCount(never)
            | Self::RetiredBundleSet(never)
            | Self::RetiredPrekeyMessageV2(never)
            | Self::RetiredLinkRequest(never)
            | Self::Reserved47(never) => match *never {},
            Self::RatchetMessage(_) => FrameKind::RatchetMessage,
            Self::PrekeyMessage(_) => FrameKind::PrekeyMessage,
            Self::MessageContent(_) => FrameKind::MessageContent,
            Self::DeviceRegistration(_) => FrameKind::DeviceRegistration,
            Self::ChallengeRequest(_) => FrameKind::ChallengeRequest,
            Self::AuthChallenge(_) => FrameKind::AuthChallenge,
            Self::ChallengeResponse(_) => FrameKind::ChallengeResponse,
            Self::AuthToken(_) => FrameKind::AuthToken,
            Self::PrekeyUpload(_) => FrameKind::PrekeyUpload,
            Self::PrekeyCount(_) => FrameKind::PrekeyCount,
            Self::BundleSet(_) => FrameKind::BundleSet,
            Self::SendBatch(_) => FrameKind::SendBatch,
            Self::SendAccepted(_) => FrameKind::SendAccepted,
            Self::MailboxBatch(_) => FrameKind::MailboxBatch,
            Self::Acknowledgement(_) => FrameKind::Acknowledgement,
            Self::BlobReceipt(_) => FrameKind::BlobReceipt,
            Self::ReportAccepted(_) => FrameKind::ReportAccepted,
            Self::ReportBatch(_) => FrameKind::ReportBatch,
            Self::ReportAcknowledgement(_) => FrameKind::ReportAcknowledgement,
            Self::DeviceList(_) => FrameKind::DeviceList,
            Self::SenderKeyDistribution(_) => FrameKind::SenderKeyDistribution,
            Self::GroupMessage(_) => FrameKind::GroupMessage,
            Self::GroupContent(_) => FrameKind::GroupContent,
            Self::GroupControl(_) => FrameKind::GroupControl,
            Self::GroupWelcome(_) => FrameKind::GroupWelcome,
            Self::GroupSend(_) => FrameKind::GroupSend,
            Self::SignedDeviceList(_) => FrameKind::SignedDeviceList,
            Self::AccountRegistration(_) => FrameKind::AccountRegistration,
            Self::LinkMessage(_) => FrameKind::LinkMessage,
            Self::LinkRequest(_) => FrameKind::LinkRequest,
            Self::LinkGrant(_) => FrameKind::LinkGrant,
            Self::HybridSealedReport(_) => FrameKind::HybridSealedReport,
            Self::InboxBatch(_) => FrameKind::InboxBatch,
        }
    }

    /// Copies every borrowed part, detaching the frame from its input.
    pub fn into_owned(self) -> Frame<'static> {
        match self {
            Self::Identity(identity) => Frame::Identity(identity),
            Self::PrekeyBundle(bundle) => Frame::PrekeyBundle(bundle.into_owned()),
            Self::Envelope(envelope) => Frame::Envelope(envelope.into_owned()),
            Self::Delivered(record) => Frame::Delivered(record.into_owned()),
            Self::BlobId(id) => Frame::BlobId(id),
            Self::SealedReport(report) => Frame::SealedReport(report.into_owned()),
            Self::RetiredRatchetMessage(never)
            | Self::RetiredPrekeyMessage(never)
            | Self::RetiredGroupMessage(never)
            | Self::RetiredPrekeyBundle(never)
            | Self::RetiredPrekeyUpload(never)
            | Self::RetiredPrekeyCount(never)
            | Self::RetiredBundleSet(never)
            | Self::RetiredPrekeyMessageV2(never)
            | Self::RetiredLinkRequest(never)
            | Self::Reserved47(never) => match never {},
            Self::RatchetMessage(message) => Frame::RatchetMessage(message.into_owned()),
            Self::PrekeyMessage(message) => Frame::PrekeyMessage(message.into_owned()),
            Self::MessageContent(content) => Frame::MessageContent(content.into_owned()),
            Self::DeviceRegistration(body) => Frame::DeviceRegistration(body.into_owned()),
            Self::ChallengeRequest(body) => Frame::ChallengeRequest(body.into_owned()),
            Self::AuthChallenge(body) => Frame::AuthChallenge(body),
            Self::ChallengeResponse(body) => Frame::ChallengeResponse(body.into_owned()),
            Self::AuthToken(body) => Frame::AuthToken(body),
            Self::PrekeyUpload(body) => Frame::PrekeyUpload(body),
            Self::PrekeyCount(body) => Frame::PrekeyCount(body),
            Self::BundleSet(body) => Frame::BundleSet(body.into_owned()),
            Self::SendBatch(body) => Frame::SendBatch(body.into_owned()),
            Self::SendAccepted(body) => Frame::SendAccepted(body),
            Self::MailboxBatch(body) => Frame::MailboxBatch(body.into_owned()),
            Self::Acknowledgement(body) => Frame::Acknowledgement(body),
            Self::BlobReceipt(body) => Frame::BlobReceipt(body),
            Self::ReportAccepted(body) => Frame::ReportAccepted(body),
            Self::ReportBatch(body) => Frame::ReportBatch(body.into_owned()),
            Self::ReportAcknowledgement(body) => Frame::ReportAcknowledgement(body),
            Self::DeviceList(body) => Frame::DeviceList(body),
            Self::SenderKeyDistribution(body) => Frame::SenderKeyDistribution(body.into_owned()),
            Self::GroupMessage(body) => Frame::GroupMessage(body.into_owned()),
            Self::GroupContent(body) => Frame::GroupContent(body.into_owned()),
            Self::GroupControl(body) => Frame::GroupControl(body.into_owned()),
            Self::GroupWelcome(body) => Frame::GroupWelcome(body.into_owned()),
            Self::GroupSend(body) => Frame::GroupSend(body.into_owned()),
            Self::SignedDeviceList(body) => Frame::SignedDeviceList(body.into_owned()),
            Self::AccountRegistration(body) => Frame::AccountRegistration(body.into_owned()),
            Self::LinkMessage(body) => Frame::LinkMessage(body.into_owned()),
            Self::LinkRequest(body) => Frame::LinkRequest(body.into_owned()),
            Self::LinkGrant(body) => Frame::LinkGrant(body.into_owned()),
            Self::HybridSealedReport(body) => Frame::HybridSealedReport(body.into_owned()),
            Self::InboxBatch(body) => Frame::InboxBatch(body.into_owned()),
        }
    }

    fn validate(&self) -> Result<(), WireError> {
        match self {
            Self::Identity(_) | Self::BlobId(_) => Ok(()),
            Self::PrekeyBundle(bundle) => bundle.validate(),
            Self::Envelope(envelope) => envelope.validate(),
            Self::Delivered(record) => record.validate(),
            Self::SealedReport(report) => report.validate(),
            Self::RetiredRatchetMessage(never)
            | Self::RetiredPrekeyMessage(never)
            | Self::RetiredGroupMessage(never)
            | Self::RetiredPrekeyBundle(never)
            | Self::RetiredPrekeyUpload(never)
            | Self::RetiredPrekeyCount(never)
            | Self::RetiredBundleSet(never)
            | Self::RetiredPrekeyMessageV2(never)
            | Self::RetiredLinkRequest(never)
            | Self::Reserved47(never) => match *never {},
            Self::RatchetMessage(message) => message.validate(),
            Self::PrekeyMessage(message) => message.validate(),
            Self::MessageContent(content) => content.validate(),
            Self::DeviceRegistration(body) => body.validate(),
            Self::ChallengeRequest(body) => body.validate(),
            Self::ChallengeResponse(body) => body.validate(),
            Self::PrekeyUpload(body) => body.validate(),
            Self::BundleSet(body) => body.validate(),
            Self::SendBatch(body) => body.validate(),
            Self::SendAccepted(body) => body.validate(),
            Self::MailboxBatch(body) => body.validate(),
            Self::Acknowledgement(body) => body.validate(),
            Self::DeviceList(body) => body.validate(),
            Self::AuthChallenge(_) => Ok(()),
            Self::AuthToken(_) => Ok(()),
            Self::PrekeyCount(_) => Ok(()),
            Self::BlobReceipt(_) | Self::ReportAccepted(_) => Ok(()),
            Self::ReportBatch(body) => body.validate(),
            Self::ReportAcknowledgement(body) => body.validate(),
            Self::SenderKeyDistribution(body) => body.validate(),
            Self::GroupMessage(body) => body.validate(),
            Self::GroupContent(body) => body.validate(),
            Self::GroupControl(body) => body.validate(),
            Self::GroupWelcome(body) => body.validate(),
            Self::GroupSend(body) => body.validate(),
            Self::SignedDeviceList(body) => body.validate(),
            Self::AccountRegistration(body) => body.validate(),
            Self::LinkMessage(body) => body.validate(),
            Self::LinkRequest(body) => body.validate(),
            Self::LinkGrant(body) => body.validate(),
            Self::HybridSealedReport(body) => body.validate(),
            Self::InboxBatch(body) => body.validate(),
        }
    }
}

/// Writes the version byte, then `tag` if the value does not write its own
/// (a body rather than a whole [`Frame`]), then the value.
///
/// Refuses a frame longer than [`MAX_FRAME_LEN`] with the error a decoder
/// would give it: every field may be within its limit and the whole still
/// too long (a `SendBatch` of 64 envelopes whose sealed bodies are all at
/// their limit).
fn write_frame<T: Serialize + ?Sized>(tag: Option<u32>, value: &T) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(1 + 5);
    out.push(WIRE_VERSION);
    if let Some(tag) = tag {
        varint::write_u32(&mut out, tag);
    }
    let len = out.len() + encoded_len(value)?;
    if len > MAX_FRAME_LEN {
        return Err(WireError::FrameTooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    out.reserve_exact(len - out.len());
    postcard::to_extend(value, out).map_err(unencodable)
}

/// Number of bytes postcard writes for `value`, computed without allocating.
fn encoded_len<T: Serialize + ?Sized>(value: &T) -> Result<usize, WireError> {
    #[derive(Default)]
    struct Counter(usize);
    impl Extend<u8> for Counter {
        fn extend<I: IntoIterator<Item = u8>>(&mut self, bytes: I) {
            self.0 += bytes.into_iter().count();
        }
    }
    postcard::to_extend(value, Counter::default())
        .map(|counter| counter.0)
        .map_err(unencodable)
}

/// Postcard fails to serialize only on sequences of unknown length and on
/// custom serializer errors, neither of which the wire types produce.
fn unencodable(_: postcard::Error) -> WireError {
    WireError::Malformed {
        reason: "value cannot be encoded",
    }
}

/// A type that travels as the body of one kind of frame, with typed
/// encode and decode.
pub trait FrameBody<'a>: Sized + Serialize + Into<Frame<'a>> {
    /// The frame kind that carries this type.
    const KIND: FrameKind;

    /// Takes the body out of `frame` if the frame is of kind [`Self::KIND`].
    fn from_frame(frame: Frame<'a>) -> Option<Self>;

    /// Decodes a frame of kind [`Self::KIND`] that fills all of `bytes`.
    fn from_bytes(bytes: &'a [u8]) -> Result<Self, WireError> {
        let frame = Frame::decode(bytes)?;
        let found = frame.kind();
        Self::from_frame(frame).ok_or(WireError::UnexpectedFrame {
            expected: Self::KIND,
            found,
        })
    }

    /// Encodes `self` as a frame of kind [`Self::KIND`], byte for byte what
    /// encoding the corresponding [`Frame`] gives, without cloning the body.
    fn to_bytes(&self) -> Result<Vec<u8>, WireError>;
}

/// Implements [`FrameBody`] for the body type of one frame variant.
macro_rules! frame_body {
    ($body:ty, $variant:ident, $validate:expr) => {
        impl<'a> From<$body> for Frame<'a> {
            fn from(body: $body) -> Self {
                Frame::$variant(body)
            }
        }

        impl<'a> FrameBody<'a> for $body {
            const KIND: FrameKind = FrameKind::$variant;

            fn from_frame(frame: Frame<'a>) -> Option<Self> {
                match frame {
                    Frame::$variant(body) => Some(body),
                    _ => None,
                }
            }

            fn to_bytes(&self) -> Result<Vec<u8>, WireError> {
                let validate: fn(&Self) -> Result<(), WireError> = $validate;
                validate(self)?;
                write_frame(Some(Self::KIND.tag()), self)
            }
        }
    };
}

frame_body!(PublicIdentity, Identity, |_| Ok(()));
frame_body!(PrekeyBundle<'a>, PrekeyBundle, PrekeyBundle::validate);
frame_body!(RoutingEnvelope<'a>, Envelope, RoutingEnvelope::validate);
frame_body!(DeliveredRecord<'a>, Delivered, DeliveredRecord::validate);
frame_body!(BlobId, BlobId, |_| Ok(()));
frame_body!(SealedReport<'a>, SealedReport, SealedReport::validate);
frame_body!(RatchetMessage<'a>, RatchetMessage, RatchetMessage::validate);
frame_body!(PrekeyMessage<'a>, PrekeyMessage, PrekeyMessage::validate);
frame_body!(MessageContent<'a>, MessageContent, MessageContent::validate);
frame_body!(
    DeviceRegistration<'a>,
    DeviceRegistration,
    DeviceRegistration::validate
);
frame_body!(
    ChallengeRequest<'a>,
    ChallengeRequest,
    ChallengeRequest::validate
);
frame_body!(AuthChallenge, AuthChallenge, |_| Ok(()));
frame_body!(
    ChallengeResponse<'a>,
    ChallengeResponse,
    ChallengeResponse::validate
);
frame_body!(AuthToken, AuthToken, |_| Ok(()));
frame_body!(PrekeyUpload, PrekeyUpload, PrekeyUpload::validate);
frame_body!(PrekeyCount, PrekeyCount, |_| Ok(()));
frame_body!(BundleSet<'a>, BundleSet, BundleSet::validate);
frame_body!(SendBatch<'a>, SendBatch, SendBatch::validate);
frame_body!(SendAccepted, SendAccepted, SendAccepted::validate);
frame_body!(MailboxBatch<'a>, MailboxBatch, MailboxBatch::validate);
frame_body!(Acknowledgement, Acknowledgement, Acknowledgement::validate);
frame_body!(BlobReceipt, BlobReceipt, |_| Ok(()));
frame_body!(ReportAccepted, ReportAccepted, |_| Ok(()));
frame_body!(ReportBatch<'a>, ReportBatch, ReportBatch::validate);
frame_body!(
    ReportAcknowledgement,
    ReportAcknowledgement,
    ReportAcknowledgement::validate
);
frame_body!(DeviceList, DeviceList, DeviceList::validate);
frame_body!(
    SenderKeyDistribution<'a>,
    SenderKeyDistribution,
    SenderKeyDistribution::validate
);
frame_body!(GroupMessage<'a>, GroupMessage, GroupMessage::validate);
frame_body!(GroupContent<'a>, GroupContent, GroupContent::validate);
frame_body!(GroupControl<'a>, GroupControl, GroupControl::validate);
frame_body!(GroupWelcome<'a>, GroupWelcome, GroupWelcome::validate);
frame_body!(GroupSend<'a>, GroupSend, GroupSend::validate);
frame_body!(
    SignedDeviceList<'a>,
    SignedDeviceList,
    SignedDeviceList::validate
);
frame_body!(
    AccountRegistration<'a>,
    AccountRegistration,
    AccountRegistration::validate
);
frame_body!(LinkMessage<'a>, LinkMessage, LinkMessage::validate);
frame_body!(LinkRequest<'a>, LinkRequest, LinkRequest::validate);
frame_body!(LinkGrant<'a>, LinkGrant, LinkGrant::validate);
frame_body!(
    HybridSealedReport<'a>,
    HybridSealedReport,
    HybridSealedReport::validate
);
frame_body!(InboxBatch<'a>, InboxBatch, InboxBatch::validate);
