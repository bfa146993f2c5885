//! The frames of the relay's HTTP API: registration, authentication,
//! prekeys, sending, fetching and acknowledging, blob receipts, and the
//! report inbox. `spec/relay-api.md` says which endpoint takes and returns
//! which.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::bounded::BoundedVec;
use crate::bytes::fixed_bytes;
use crate::{
    BlobId, DeliveredRecord, DeviceAddress, DeviceId, Ed25519Signature, HybridSealedReport,
    KemPrekey, MessageId, OneTimePrekey, PrekeyBundle, PublicIdentity, RoutingEnvelope,
    SealedReport, SignedPrekey, WireError,
};

/// Most one-time prekeys in one upload.
pub const MAX_PREKEY_UPLOAD: usize = 100;
/// Most devices a user may have (and so bundles in one answer).
pub const MAX_DEVICES_PER_USER: usize = 16;
/// The most one-time KEM prekeys one upload may carry (each is 1,252 bytes
/// on the wire).
pub const MAX_KEM_PREKEY_UPLOAD: usize = 100;
/// Most envelopes in one send: one message to every device of a user and of
/// the sender's own user, with room to spare.
pub const MAX_ENVELOPES_PER_SEND: usize = 64;

/// Most message ids one `SendAccepted` names: one per envelope of the largest
/// send, which is a group send to every member of a full group
/// ([`crate::group::MAX_GROUP_MEMBERS`]), not a `SendBatch`.
pub const MAX_ACCEPTED_IDS: usize = crate::group::MAX_GROUP_MEMBERS;
/// Most records in one mailbox batch (at most 32 × 64 KiB bodies, within the
/// frame limit).
pub const MAX_RECORDS_PER_BATCH: usize = 32;
/// Most ids in one acknowledgement.
pub const MAX_ACKNOWLEDGED: usize = 256;
/// Most reports in one report batch. Large reports make the frame limit bind
/// first: a report at its size limit fills a batch alone.
pub const MAX_REPORTS_PER_BATCH: usize = 32;
/// Most ids in one report acknowledgement.
pub const MAX_ACKNOWLEDGED_REPORTS: usize = 256;

fixed_bytes!(
    /// A relay-issued authentication challenge (random, single use).
    Nonce,
    32
);

/// A bearer token (32 random bytes). Whoever holds it acts as its device
/// until it expires or is revoked: `Debug` shows no bytes and the bytes are
/// wiped on drop. (The relay never compares tokens, only their SHA-256.)
#[derive(
    Clone, PartialEq, Eq, Serialize, Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop,
)]
pub struct BearerToken(#[serde(with = "token_bytes")] pub [u8; 32]);

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// The capability to read one stored blob (32 random bytes), handed out by
/// the relay to the uploader, who passes it on inside end-to-end messages.
/// Whoever holds it (and any device token) can download the blob, so it is a
/// secret: `Debug` shows no bytes and the bytes are wiped on drop. (The
/// relay keeps only its SHA-256.)
#[derive(
    Clone, PartialEq, Eq, Serialize, Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop,
)]
pub struct BlobCapability(#[serde(with = "token_bytes")] pub [u8; 32]);

impl fmt::Debug for BlobCapability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlobCapability(<redacted>)")
    }
}

fixed_bytes!(
    /// The relay's id for a report in its inbox (random).
    ReportId,
    16
);

mod token_bytes {
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        crate::bytes::serialize_fixed(bytes, s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        crate::bytes::deserialize_fixed(d)
    }
}

/// Tag 9: register a device and its identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRegistration<'a> {
    /// The device.
    #[serde(borrow)]
    pub address: DeviceAddress<'a>,
    /// Its public identity.
    pub identity: PublicIdentity,
}

/// Tag 10: ask for an authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeRequest<'a> {
    /// The device that wants to authenticate.
    #[serde(borrow)]
    pub address: DeviceAddress<'a>,
}

/// Tag 11: the relay's challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthChallenge {
    /// What to sign.
    pub nonce: Nonce,
    /// When it stops being accepted, ms since the Unix epoch.
    pub expires_at_ms: u64,
}

/// Tag 12: the device's answer: its signature over [`relay_auth_input`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeResponse<'a> {
    /// The device.
    #[serde(borrow)]
    pub address: DeviceAddress<'a>,
    /// The challenge answered.
    pub nonce: Nonce,
    /// The identity's Ed25519 signature over `relay_auth_input(address, nonce)`.
    pub signature: Ed25519Signature,
}

/// Tag 13: a bearer token for the authenticated device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthToken {
    /// The token.
    pub token: BearerToken,
    /// When it expires, ms since the Unix epoch.
    pub expires_at_ms: u64,
}

/// Tag 14: publish prekeys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrekeyUpload {
    /// A new signed prekey, if it rotated.
    pub signed_prekey: Option<SignedPrekey>,
    /// One-time prekeys to add, at most [`MAX_PREKEY_UPLOAD`].
    pub one_time_prekeys: BoundedVec<OneTimePrekey, MAX_PREKEY_UPLOAD>,
    /// A new last-resort KEM prekey, if it rotated.
    pub last_resort_kem_prekey: Option<KemPrekey>,
    /// One-time KEM prekeys to add, at most [`MAX_KEM_PREKEY_UPLOAD`].
    pub one_time_kem_prekeys: BoundedVec<KemPrekey, MAX_KEM_PREKEY_UPLOAD>,
}

/// Tag 15: how many one-time prekeys a device has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrekeyCount {
    /// Unused one-time prekeys at the relay.
    pub one_time_prekeys: u32,
    /// Whether the relay asks the device to upload more.
    pub low: bool,
    /// Unused one-time KEM prekeys at the relay.
    pub one_time_kem_prekeys: u32,
    /// Whether the relay asks the device to upload more one-time KEM
    /// prekeys (or a last-resort KEM prekey, when it has none).
    pub kem_low: bool,
}

/// Tag 16: the bundles of a user's devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleSet<'a> {
    /// One bundle per device with a signed prekey, at most
    /// [`MAX_DEVICES_PER_USER`].
    #[serde(borrow)]
    pub bundles: BoundedVec<PrekeyBundle<'a>, MAX_DEVICES_PER_USER>,
}

/// Tag 17: the envelopes of one message, one per recipient device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendBatch<'a> {
    /// At most [`MAX_ENVELOPES_PER_SEND`].
    #[serde(borrow)]
    pub envelopes: BoundedVec<RoutingEnvelope<'a>, MAX_ENVELOPES_PER_SEND>,
}

/// Tag 18: the relay stored a send durably.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendAccepted {
    /// The relay's time of acceptance, ms since the Unix epoch.
    pub server_time_ms: u64,
    /// The relay's id for each envelope, in the order sent: at most
    /// [`MAX_ACCEPTED_IDS`], enough for a group send to every member.
    pub message_ids: BoundedVec<MessageId, MAX_ACCEPTED_IDS>,
}

/// Tag 19: envelopes waiting in a device's mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxBatch<'a> {
    /// Oldest first, at most [`MAX_RECORDS_PER_BATCH`].
    #[serde(borrow)]
    pub records: BoundedVec<DeliveredRecord<'a>, MAX_RECORDS_PER_BATCH>,
    /// Whether the device's one-time prekey pool is running low.
    pub prekeys_low: bool,
}

/// Tag 20: envelopes the device has stored and the relay may delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// At most [`MAX_ACKNOWLEDGED`].
    pub message_ids: BoundedVec<MessageId, MAX_ACKNOWLEDGED>,
}

/// Tag 21: the relay stored a blob; how to read it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobReceipt {
    /// The blob's id: the hash of its bytes (BLAKE3 if the first byte is
    /// `0x02`, else SHA-256; `spec/relay-api.md` §4.12).
    pub blob_id: BlobId,
    /// A new capability to read it, for this upload only.
    pub capability: BlobCapability,
    /// The blob's length in bytes.
    pub size: u64,
    /// When the capability expires (and, unless uploaded again, the blob),
    /// ms since the Unix epoch.
    pub expires_at_ms: u64,
}

/// Tag 22: the relay stored a report in its inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportAccepted {
    /// The relay's id for the report.
    pub report_id: ReportId,
    /// When the relay received it, ms since the Unix epoch.
    pub received_at_ms: u64,
}

/// One report of a tag 23 batch: the inbox entry of before protocol
/// version 3, whose report is always X25519-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxReport<'a> {
    /// The relay's id for it.
    pub report_id: ReportId,
    /// The device that submitted it, as the relay authenticated it.
    #[serde(borrow)]
    pub reporter: DeviceAddress<'a>,
    /// When the relay received it, ms since the Unix epoch.
    pub received_at_ms: u64,
    /// The sealed report, as submitted.
    #[serde(borrow)]
    pub report: SealedReport<'a>,
}

/// Tag 23: reports waiting in the inbox, relay to moderation tool, before
/// protocol version 3. Still decoded: a moderation tool stored each pulled
/// report as one of these. Relays now answer with [`InboxBatch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportBatch<'a> {
    /// Oldest first, at most [`MAX_REPORTS_PER_BATCH`].
    #[serde(borrow)]
    pub reports: BoundedVec<InboxReport<'a>, MAX_REPORTS_PER_BATCH>,
}

/// A sealed report in the inbox, in the form it was sealed in.
// The hybrid form carries its 1,088-byte KEM ciphertext inline; at most 32
// of these exist at once (one batch), so boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InboxSealedReport<'a> {
    /// Index 0: sealed to an X25519-only key before protocol version 3
    /// (stored by the relay before its upgrade).
    X25519Only(#[serde(borrow)] SealedReport<'a>),
    /// Index 1: sealed to a hybrid key (X25519 + ML-KEM-768).
    Hybrid(#[serde(borrow)] HybridSealedReport<'a>),
}

/// One report of the inbox, as the moderation tool pulls it from a relay
/// of protocol version 3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEntry<'a> {
    /// The relay's id for it.
    pub report_id: ReportId,
    /// The device that submitted it, as the relay authenticated it.
    #[serde(borrow)]
    pub reporter: DeviceAddress<'a>,
    /// When the relay received it, ms since the Unix epoch.
    pub received_at_ms: u64,
    /// The sealed report, as submitted.
    #[serde(borrow)]
    pub report: InboxSealedReport<'a>,
}

/// Tag 46: reports waiting in the inbox, relay to moderation tool; each in
/// the form it was sealed in. Replaces tag 23, which stays decodable for the
/// files a moderation tool stored before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxBatch<'a> {
    /// Oldest first, at most [`MAX_REPORTS_PER_BATCH`].
    #[serde(borrow)]
    pub reports: BoundedVec<InboxEntry<'a>, MAX_REPORTS_PER_BATCH>,
}

/// Tag 24: reports the moderation tool has taken; the relay deletes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportAcknowledgement {
    /// At most [`MAX_ACKNOWLEDGED_REPORTS`].
    pub report_ids: BoundedVec<ReportId, MAX_ACKNOWLEDGED_REPORTS>,
}

/// One registered device in a [`DeviceList`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedDevice {
    /// The device's id within its user.
    pub device: DeviceId,
    /// The identity it registered.
    pub identity: PublicIdentity,
}

/// Tag 25: the registered devices of one user, ascending by device id, with
/// the identities they registered. Fetching it hands out no prekeys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    /// At most [`MAX_DEVICES_PER_USER`].
    pub devices: BoundedVec<ListedDevice, MAX_DEVICES_PER_USER>,
}

impl DeviceList {
    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.devices.check_len("devices")
    }
}

/// Domain-separation label of the string a device signs to authenticate.
pub const RELAY_AUTH_LABEL: &[u8] = b"fuin/v1/relay-auth";

/// The string a device's identity key signs to answer a challenge: each field
/// as a 4-byte big-endian length and its bytes: the label, the relay's
/// origin (the URL the device was set up with, as
/// [`relay_origin`] normalizes it), the user id, the device id (4 bytes,
/// big-endian), the nonce. Binding the origin means a challenge one relay
/// relays from another cannot be answered for it.
pub fn relay_auth_input(origin: &str, address: &DeviceAddress<'_>, nonce: &Nonce) -> Vec<u8> {
    let fields: [&[u8]; 5] = [
        RELAY_AUTH_LABEL,
        origin.as_bytes(),
        address.user.as_str().as_bytes(),
        &address.device.0.to_be_bytes(),
        nonce.as_bytes(),
    ];
    let mut out = Vec::with_capacity(fields.iter().map(|f| 4 + f.len()).sum());
    for field in fields {
        // Each field is bounded far below 4 GiB (a label, a URL, a user id of
        // at most 64 bytes, 4 and 32 bytes); saturating keeps the cast honest.
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

/// A relay's origin as devices and the relay write it in
/// [`relay_auth_input`]: the scheme and authority of its URL, in lowercase,
/// with no path, no trailing slash and no default port (`http://host:80`
/// and `https://host:443` lose their port). Returns `None` for a URL that is
/// not `http://` or `https://` with a host.
pub fn relay_origin(url: &str) -> Option<String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    let (scheme, rest, default_port) = if let Some(rest) = lower.strip_prefix("https://") {
        ("https", rest, ":443")
    } else if let Some(rest) = lower.strip_prefix("http://") {
        ("http", rest, ":80")
    } else {
        return None;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or("");
    let authority = authority.strip_suffix(default_port).unwrap_or(authority);
    if authority.is_empty() || authority.starts_with(':') {
        return None;
    }
    Some(format!("{scheme}://{authority}"))
}

impl DeviceRegistration<'_> {
    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.address.validate()
    }

    /// Copies borrowed parts.
    pub fn into_owned(self) -> DeviceRegistration<'static> {
        DeviceRegistration {
            address: self.address.into_owned(),
            identity: self.identity,
        }
    }
}

impl ChallengeRequest<'_> {
    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.address.validate()
    }

    /// Copies borrowed parts.
    pub fn into_owned(self) -> ChallengeRequest<'static> {
        ChallengeRequest {
            address: self.address.into_owned(),
        }
    }
}

impl ChallengeResponse<'_> {
    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.address.validate()
    }

    /// Copies borrowed parts.
    pub fn into_owned(self) -> ChallengeResponse<'static> {
        ChallengeResponse {
            address: self.address.into_owned(),
            nonce: self.nonce,
            signature: self.signature,
        }
    }
}

impl PrekeyUpload {
    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.one_time_prekeys.check_len("one_time_prekeys")?;
        self.one_time_kem_prekeys.check_len("one_time_kem_prekeys")
    }
}

impl BundleSet<'_> {
    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.bundles.check_len("bundles")?;
        self.bundles
            .as_slice()
            .iter()
            .try_for_each(PrekeyBundle::validate)
    }

    /// Copies borrowed parts.
    pub fn into_owned(self) -> BundleSet<'static> {
        BundleSet {
            bundles: self.bundles.map(PrekeyBundle::into_owned),
        }
    }
}

impl SendBatch<'_> {
    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.envelopes.check_len("envelopes")?;
        self.envelopes
            .as_slice()
            .iter()
            .try_for_each(RoutingEnvelope::validate)
    }

    /// Copies borrowed parts.
    pub fn into_owned(self) -> SendBatch<'static> {
        SendBatch {
            envelopes: self.envelopes.map(RoutingEnvelope::into_owned),
        }
    }
}

impl SendAccepted {
    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.message_ids.check_len("message_ids")
    }
}

impl MailboxBatch<'_> {
    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.records.check_len("records")?;
        self.records
            .as_slice()
            .iter()
            .try_for_each(DeliveredRecord::validate)
    }

    /// Copies borrowed parts.
    pub fn into_owned(self) -> MailboxBatch<'static> {
        MailboxBatch {
            records: self.records.map(DeliveredRecord::into_owned),
            prekeys_low: self.prekeys_low,
        }
    }
}

impl Acknowledgement {
    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.message_ids.check_len("message_ids")
    }
}

impl InboxReport<'_> {
    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.reporter.validate()?;
        self.report.validate()
    }

    /// Copies borrowed parts.
    pub fn into_owned(self) -> InboxReport<'static> {
        InboxReport {
            report_id: self.report_id,
            reporter: self.reporter.into_owned(),
            received_at_ms: self.received_at_ms,
            report: self.report.into_owned(),
        }
    }
}

impl ReportBatch<'_> {
    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.reports.check_len("reports")?;
        self.reports
            .as_slice()
            .iter()
            .try_for_each(InboxReport::validate)
    }

    /// Copies borrowed parts.
    pub fn into_owned(self) -> ReportBatch<'static> {
        ReportBatch {
            reports: self.reports.map(InboxReport::into_owned),
        }
    }
}

impl InboxSealedReport<'_> {
    pub(crate) fn validate(&self) -> Result<(), WireError> {
        match self {
            Self::X25519Only(report) => report.validate(),
            Self::Hybrid(report) => report.validate(),
        }
    }

    /// Copies borrowed parts.
    pub fn into_owned(self) -> InboxSealedReport<'static> {
        match self {
            Self::X25519Only(report) => InboxSealedReport::X25519Only(report.into_owned()),
            Self::Hybrid(report) => InboxSealedReport::Hybrid(report.into_owned()),
        }
    }
}

impl InboxEntry<'_> {
    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.reporter.validate()?;
        self.report.validate()
    }

    /// Copies borrowed parts.
    pub fn into_owned(self) -> InboxEntry<'static> {
        InboxEntry {
            report_id: self.report_id,
            reporter: self.reporter.into_owned(),
            received_at_ms: self.received_at_ms,
            report: self.report.into_owned(),
        }
    }
}

/// An entry of a tag 23 batch (stored before protocol version 3) is an
/// entry with an X25519-only report.
impl<'a> From<InboxReport<'a>> for InboxEntry<'a> {
    fn from(report: InboxReport<'a>) -> Self {
        InboxEntry {
            report_id: report.report_id,
            reporter: report.reporter,
            received_at_ms: report.received_at_ms,
            report: InboxSealedReport::X25519Only(report.report),
        }
    }
}

impl InboxBatch<'_> {
    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.reports.check_len("reports")?;
        self.reports
            .as_slice()
            .iter()
            .try_for_each(InboxEntry::validate)
    }

    /// Copies borrowed parts.
    pub fn into_owned(self) -> InboxBatch<'static> {
        InboxBatch {
            reports: self.reports.map(InboxEntry::into_owned),
        }
    }
}

impl ReportAcknowledgement {
    pub(crate) fn validate(&self) -> Result<(), WireError> {
        self.report_ids.check_len("report_ids")
    }
}

#[cfg(test)]
mod inbox_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{
        DeviceId, Frame, FrameBody, MlKemCiphertext, Opaque, UserId, WIRE_VERSION, X25519PublicKey,
    };

    fn entry(report: InboxSealedReport<'static>) -> InboxEntry<'static> {
        InboxEntry {
            report_id: ReportId([1; 16]),
            reporter: DeviceAddress::new(UserId::new("bob").unwrap(), DeviceId(1)),
            received_at_ms: 5,
            report,
        }
    }

    fn both_forms() -> InboxBatch<'static> {
        InboxBatch {
            reports: vec![
                entry(InboxSealedReport::X25519Only(SealedReport {
                    moderation_key_id: 7,
                    ephemeral_key: X25519PublicKey([2; 32]),
                    ciphertext: Opaque::from(vec![3; 60]),
                })),
                entry(InboxSealedReport::Hybrid(HybridSealedReport {
                    moderation_key_id: 7,
                    ephemeral_key: X25519PublicKey([2; 32]),
                    kem_ciphertext: MlKemCiphertext([4; MlKemCiphertext::LEN]),
                    ciphertext: Opaque::from(vec![3; 60]),
                })),
            ]
            .into(),
        }
    }

    #[test]
    fn an_inbox_batch_carries_reports_of_both_forms() {
        let batch = both_forms();
        let bytes = batch.to_bytes().unwrap();
        assert_eq!(bytes[..2], [WIRE_VERSION, 46]);
        assert_eq!(InboxBatch::from_bytes(&bytes).unwrap(), batch);
    }

    #[test]
    fn an_unknown_report_form_is_malformed() {
        let batch = both_forms();
        let mut bytes = batch.to_bytes().unwrap();
        // The first entry's form index follows its id (16), address (1 + 3
        // + 1) and time (1), after the version, tag and count.
        let form = 3 + 16 + 5 + 1;
        assert_eq!(bytes[form], 0);
        bytes[form] = 2;
        assert!(matches!(
            InboxBatch::from_bytes(&bytes),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn the_retired_link_request_and_the_reserved_tag_are_refused_by_number() {
        assert_eq!(
            Frame::decode(&[WIRE_VERSION, 35, 0]),
            Err(WireError::RetiredFrame {
                tag: 35,
                protocol_version: 2
            })
        );
        assert_eq!(
            Frame::decode(&[WIRE_VERSION, 47, 0]),
            Err(WireError::UnknownVariant { tag: 47 })
        );
    }
}
