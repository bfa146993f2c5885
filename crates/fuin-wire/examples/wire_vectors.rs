//! Writes the golden wire encodings in `test-vectors/wire/`.
//!
//! Run `cargo run -p fuin-wire --example wire_vectors -- test-vectors/wire`
//! after a deliberate change of the wire format, review the diff, and update
//! `spec/wire.md` to match. The test `golden_vectors` checks every file
//! against the codec and against an independent encoder written from the spec.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

use std::path::PathBuf;

use fuin_wire::relay::{
    Acknowledgement, AuthChallenge, AuthToken, BearerToken, BlobCapability, BlobReceipt, BundleSet,
    ChallengeRequest, ChallengeResponse, DeviceList, DeviceRegistration, InboxBatch, InboxEntry,
    InboxReport, InboxSealedReport, ListedDevice, MAX_ACKNOWLEDGED, MailboxBatch, Nonce,
    PrekeyCount, PrekeyUpload, ReportAccepted, ReportAcknowledgement, ReportBatch, ReportId,
    SendAccepted, SendBatch, relay_auth_input, relay_origin,
};
use fuin_wire::*;
use serde_json::json;

fn address(user: &'static str, device: u32) -> DeviceAddress<'static> {
    DeviceAddress::new(UserId::new(user).unwrap(), DeviceId(device))
}

/// A byte pattern that makes every field easy to spot in a hex dump.
fn pattern<const N: usize>(start: u8) -> [u8; N] {
    std::array::from_fn(|i| start.wrapping_add(i as u8))
}

fn identity() -> PublicIdentity {
    PublicIdentity {
        signing_key: Ed25519PublicKey(pattern(0x10)),
        agreement_key: X25519PublicKey(pattern(0x30)),
        signature: Ed25519Signature(pattern(0x50)),
    }
}

fn envelope(kind: ContentKind, body: &'static [u8]) -> RoutingEnvelope<'static> {
    RoutingEnvelope {
        recipient: address("bob", 1),
        content_kind: kind,
        franking_commitment: FrankingCommitment(pattern(0xc0)),
        sealed_body: Opaque::borrowed(body),
    }
}

fn ratchet_message(
    previous_chain_length: u32,
    counter: u32,
    ciphertext: &'static [u8],
) -> RatchetMessage<'static> {
    RatchetMessage {
        header: RatchetHeader {
            ratchet_key: X25519PublicKey(pattern(0x20)),
            previous_chain_length,
            counter,
            salt: MessageSalt(pattern(0x30)),
        },
        ciphertext: Opaque::borrowed(ciphertext),
    }
}

fn message_content(
    content_type: ContentType,
    sequence: u64,
    body: &'static [u8],
) -> MessageContent<'static> {
    MessageContent {
        content_type,
        message_id: ClientMessageId(pattern(0x60)),
        sequence,
        sent_at_ms: 1_795_000_000_000,
        conversation: ConversationRef::Direct {
            peer: UserId::new("bob").unwrap(),
        },
        franking_key: FrankingKey(pattern(0xf0)),
        body: SecretBytes::borrowed(body),
    }
}

fn signed_prekey() -> SignedPrekey {
    SignedPrekey {
        id: PrekeyId(7),
        public_key: X25519PublicKey(pattern(0x70)),
        signature: Ed25519Signature(pattern(0x90)),
    }
}

fn one_time_prekey(id: u32) -> OneTimePrekey {
    OneTimePrekey {
        id: PrekeyId(id),
        public_key: X25519PublicKey(pattern(0xe0u8.wrapping_add(id as u8))),
    }
}

/// A signed ML-KEM-768 prekey. The wire checks sizes only, so the key is a
/// byte pattern, not a valid encapsulation key.
fn kem_prekey(id: u32) -> KemPrekey {
    KemPrekey {
        id: PrekeyId(id),
        public_key: MlKemPublicKey(pattern(0x40u8.wrapping_add(id as u8))),
        signature: Ed25519Signature(pattern(0xa0)),
    }
}

fn kem_encapsulation(kem_prekey_id: u32) -> KemEncapsulation {
    KemEncapsulation {
        kem_prekey_id: PrekeyId(kem_prekey_id),
        ciphertext: MlKemCiphertext(pattern(0xc8)),
    }
}

fn bundle(
    user: &'static str,
    device: u32,
    one_time: Option<OneTimePrekey>,
) -> PrekeyBundle<'static> {
    PrekeyBundle {
        address: address(user, device),
        identity: identity(),
        signed_prekey: signed_prekey(),
        one_time_prekey: one_time,
        // The KEM prekey ids come from the same counter as the others.
        kem_prekey: Some(kem_prekey(device + 1000)),
    }
}

fn delivered(body: &'static [u8], message_id: u8) -> DeliveredRecord<'static> {
    DeliveredRecord {
        envelope: envelope(ContentKind::Message, body),
        sender: DeviceAddress::new(UserId::new("小林").unwrap(), DeviceId(2)),
        server_time_ms: 1_795_000_000_000,
        server_message_id: MessageId(pattern(message_id)),
        franking_stamp: FrankingStamp(pattern(0xd0)),
        stamp_key_id: StampKeyId(1),
    }
}

fn sealed_report(ciphertext: &'static [u8]) -> SealedReport<'static> {
    SealedReport {
        moderation_key_id: 3,
        ephemeral_key: X25519PublicKey(pattern(0x40)),
        ciphertext: Opaque::borrowed(ciphertext),
    }
}

fn hybrid_sealed_report(ciphertext: &'static [u8]) -> HybridSealedReport<'static> {
    HybridSealedReport {
        moderation_key_id: 3,
        ephemeral_key: X25519PublicKey(pattern(0x40)),
        kem_ciphertext: MlKemCiphertext(pattern(0x60)),
        ciphertext: Opaque::borrowed(ciphertext),
    }
}

fn inbox_entry(
    report_id: u8,
    reporter: DeviceAddress<'static>,
    report: InboxSealedReport<'static>,
) -> InboxEntry<'static> {
    InboxEntry {
        report_id: ReportId(pattern(report_id)),
        reporter,
        received_at_ms: 1_795_000_000_000,
        report,
    }
}

fn inbox_report(
    report_id: u8,
    reporter: DeviceAddress<'static>,
    ciphertext: &'static [u8],
) -> InboxReport<'static> {
    InboxReport {
        report_id: ReportId(pattern(report_id)),
        reporter,
        received_at_ms: 1_795_000_000_000,
        report: sealed_report(ciphertext),
    }
}

/// Samples of the blob receipt and the report inbox's frames (tags 21-24).
fn inbox_samples() -> Vec<(&'static str, Frame<'static>)> {
    vec![
        (
            "blob receipt, size needing a three-byte varint",
            Frame::BlobReceipt(BlobReceipt {
                blob_id: BlobId(pattern(0x00)),
                capability: BlobCapability(pattern(0xb0)),
                size: 100_000,
                expires_at_ms: 1_797_592_000_000,
            }),
        ),
        (
            "blob receipt of an empty blob",
            Frame::BlobReceipt(BlobReceipt {
                blob_id: BlobId(pattern(0x20)),
                capability: BlobCapability(pattern(0xd0)),
                size: 0,
                expires_at_ms: 1_797_592_000_000,
            }),
        ),
        (
            "report accepted",
            Frame::ReportAccepted(ReportAccepted {
                report_id: ReportId(pattern(0xa0)),
                received_at_ms: 1_795_000_000_000,
            }),
        ),
        (
            "empty report inbox",
            Frame::ReportBatch(ReportBatch {
                reports: BoundedVec::default(),
            }),
        ),
        (
            "report batch of one report",
            Frame::ReportBatch(ReportBatch {
                reports: vec![inbox_report(0xa0, address("alice", 1), b"sealed-report")].into(),
            }),
        ),
        (
            "report batch of two reports, one from a non-ASCII user's device needing a two-byte varint",
            Frame::ReportBatch(ReportBatch {
                reports: vec![
                    inbox_report(0xa0, address("alice", 1), b"sealed-report-1"),
                    inbox_report(
                        0xb0,
                        DeviceAddress::new(UserId::new("小林").unwrap(), DeviceId(300)),
                        b"",
                    ),
                ]
                .into(),
            }),
        ),
        (
            "empty inbox batch",
            Frame::InboxBatch(InboxBatch {
                reports: BoundedVec::default(),
            }),
        ),
        (
            "inbox batch of a hybrid report and one stored before protocol version 3",
            Frame::InboxBatch(InboxBatch {
                reports: vec![
                    inbox_entry(
                        0xa0,
                        address("alice", 1),
                        InboxSealedReport::Hybrid(hybrid_sealed_report(b"sealed-report-1")),
                    ),
                    inbox_entry(
                        0xb0,
                        DeviceAddress::new(UserId::new("小林").unwrap(), DeviceId(300)),
                        InboxSealedReport::X25519Only(sealed_report(b"")),
                    ),
                ]
                .into(),
            }),
        ),
        (
            "empty report acknowledgement",
            Frame::ReportAcknowledgement(ReportAcknowledgement {
                report_ids: BoundedVec::default(),
            }),
        ),
        (
            "acknowledgement of two reports",
            Frame::ReportAcknowledgement(ReportAcknowledgement {
                report_ids: vec![ReportId(pattern(0xa0)), ReportId(pattern(0xb0))].into(),
            }),
        ),
        (
            "empty device list",
            Frame::DeviceList(DeviceList {
                devices: BoundedVec::default(),
            }),
        ),
        (
            "device list of two devices, one id needing a two-byte varint",
            Frame::DeviceList(DeviceList {
                devices: vec![
                    ListedDevice {
                        device: DeviceId(1),
                        identity: identity(),
                    },
                    ListedDevice {
                        device: DeviceId(300),
                        identity: PublicIdentity {
                            signing_key: Ed25519PublicKey(pattern(0x60)),
                            agreement_key: X25519PublicKey(pattern(0x80)),
                            signature: Ed25519Signature(pattern(0xa0)),
                        },
                    },
                ]
                .into(),
            }),
        ),
    ]
}

fn group_member(user: &'static str, device: u32, start: u8) -> GroupMember<'static> {
    GroupMember {
        address: address(user, device),
        identity: PublicIdentity {
            signing_key: Ed25519PublicKey(pattern(start)),
            agreement_key: X25519PublicKey(pattern(start.wrapping_add(0x20))),
            signature: Ed25519Signature(pattern(start.wrapping_add(0x40))),
        },
    }
}

fn group_control(action: GroupAction<'static>) -> GroupControl<'static> {
    GroupControl {
        group_id: GroupId(pattern(0x10)),
        epoch: 3,
        membership_hash: MembershipHash(pattern(0x30)),
        actor: address("alice", 1),
        action,
        new_membership_hash: MembershipHash(pattern(0x50)),
        signature: Ed25519Signature(pattern(0x70)),
    }
}

/// Samples of the group frames (tags 26-31).
/// The account frames (tags 32-36). Keys, signatures and secrets are byte
/// patterns, not real keys: the wire format checks none of them.
fn account_samples() -> Vec<(&'static str, Frame<'static>)> {
    use fuin_wire::account::*;
    let identity_at = |start: u8| PublicIdentity {
        signing_key: Ed25519PublicKey(pattern(start)),
        agreement_key: X25519PublicKey(pattern(start.wrapping_add(0x20))),
        signature: Ed25519Signature(pattern(start.wrapping_add(0x40))),
    };
    let device = |id: u32, start: u8, name: &'static str, added_at_ms: u64| AccountDevice {
        device: DeviceId(id),
        identity: identity_at(start),
        name: DeviceName::new(name).unwrap(),
        added_at_ms,
    };
    let first = SignedDeviceList {
        content: DeviceListContent {
            user: UserId::new("alice").unwrap(),
            account_key: Ed25519PublicKey(pattern(0xa0)),
            version: 1,
            created_at_ms: 1_795_000_000_000,
            devices: vec![device(1, 0x10, "phone", 1_795_000_000_000)].into(),
        },
        signature: Ed25519Signature(pattern(0xc0)),
    };
    let wide = SignedDeviceList {
        content: DeviceListContent {
            user: UserId::new("小林").unwrap(),
            account_key: Ed25519PublicKey(pattern(0xa0)),
            version: 300,
            created_at_ms: 1_795_000_120_000,
            devices: vec![
                device(1, 0x10, "téléphone", 1_795_000_000_000),
                device(2, 0x30, "laptop", 1_795_000_060_000),
                device(300, 0x50, "ノートパソコン", 1_795_000_120_000),
            ]
            .into(),
        },
        signature: Ed25519Signature(pattern(0xc0)),
    };
    let linked = SignedDeviceList {
        content: DeviceListContent {
            user: UserId::new("alice").unwrap(),
            account_key: Ed25519PublicKey(pattern(0xa0)),
            version: 2,
            created_at_ms: 1_795_000_060_000,
            devices: vec![
                device(1, 0x10, "phone", 1_795_000_000_000),
                device(2, 0x30, "laptop", 1_795_000_060_000),
            ]
            .into(),
        },
        signature: Ed25519Signature(pattern(0xc0)),
    };
    let sealed = |len: usize| -> Vec<u8> { (0..len).map(|i| i as u8).collect() };
    vec![
        (
            "a list of one device, version 1",
            Frame::SignedDeviceList(first.clone()),
        ),
        (
            "a list of three devices with non-ASCII names, device id and version needing two-byte varints",
            Frame::SignedDeviceList(wide),
        ),
        (
            "an empty list (well formed on the wire; no signer makes one, no verifier takes one)",
            Frame::SignedDeviceList(SignedDeviceList {
                content: DeviceListContent {
                    devices: BoundedVec::default(),
                    ..first.content.clone()
                },
                signature: Ed25519Signature(pattern(0xc0)),
            }),
        ),
        (
            "an account registration without an invite code",
            Frame::AccountRegistration(AccountRegistration {
                device_list: first.clone(),
                invite: None,
            }),
        ),
        (
            "an account registration with an invite code",
            Frame::AccountRegistration(AccountRegistration {
                device_list: first,
                invite: Some(InviteCode(pattern(0xe0))),
            }),
        ),
        (
            "a link message of 80 sealed bytes (a salt and the AEAD overhead, empty plaintext)",
            Frame::LinkMessage(LinkMessage {
                sealed: sealed(80).into(),
            }),
        ),
        (
            "a link message of 300 sealed bytes, length needing a two-byte varint",
            Frame::LinkMessage(LinkMessage {
                sealed: sealed(300).into(),
            }),
        ),
        (
            "a link request",
            Frame::LinkRequest(LinkRequest {
                identity: identity_at(0x30),
                name: DeviceName::new("laptop").unwrap(),
                created_at_ms: 1_795_000_030_000,
                grant_key_x25519: X25519PublicKey(pattern(0x70)),
                grant_key_ml_kem: MlKemPublicKey(pattern(0x90)),
            }),
        ),
        (
            "a link grant (the account secret is a byte pattern)",
            Frame::LinkGrant(LinkGrant {
                address: address("alice", 2),
                account_secret: AccountSecret(pattern(0x80)),
                device_list: linked,
            }),
        ),
    ]
}

fn group_samples() -> Vec<(&'static str, Frame<'static>)> {
    let distribution = |iteration| SenderKeyDistribution {
        group_id: GroupId(pattern(0x10)),
        epoch: 3,
        membership_hash: MembershipHash(pattern(0x30)),
        sender: address("alice", 300),
        iteration,
        chain_key: SenderChainKey(pattern(0x90)),
        signing_key: Ed25519PublicKey(pattern(0xb0)),
    };
    let message = |view, iteration| GroupMessage {
        group_id: GroupId(pattern(0x10)),
        epoch: 200,
        iteration,
        view,
        salt: MessageSalt(pattern(0x50)),
        ciphertext: Opaque::borrowed(b"group-ciphertext"),
        signature: Ed25519Signature(pattern(0x70)),
    };
    let content = |content_type, body: &'static [u8]| GroupContent {
        content_type,
        message_id: ClientMessageId(pattern(0x60)),
        sent_at_ms: 1_795_000_000_000,
        franking_key: FrankingKey(pattern(0xf0)),
        body: SecretBytes::borrowed(body),
    };
    vec![
        (
            "sender key distribution at iteration 0, sender device id needing a two-byte varint",
            Frame::SenderKeyDistribution(distribution(0)),
        ),
        (
            "sender key distribution at an iteration needing a two-byte varint",
            Frame::SenderKeyDistribution(distribution(300)),
        ),
        (
            "group message carrying the sender's view, epoch needing a two-byte varint",
            Frame::GroupMessage(message(Some(ViewHash(pattern(0x40))), 5)),
        ),
        (
            "group message of a sender whose view is not complete yet",
            Frame::GroupMessage(message(None, 0)),
        ),
        (
            "group content, text",
            Frame::GroupContent(content(ContentType::Text, "hello, 世界".as_bytes())),
        ),
        (
            "group content carrying a control message",
            Frame::GroupContent(content(ContentType::GroupControl, b"control-frame")),
        ),
        (
            "control message adding two devices, one id needing a two-byte varint",
            Frame::GroupControl(group_control(GroupAction::Add {
                members: vec![
                    group_member("carol", 1, 0x00),
                    group_member("dave", 300, 0x80),
                ]
                .into(),
            })),
        ),
        (
            "control message removing one device",
            Frame::GroupControl(group_control(GroupAction::Remove {
                members: vec![address("bob", 2)].into(),
            })),
        ),
        (
            "control message: the actor leaves",
            Frame::GroupControl(group_control(GroupAction::Leave)),
        ),
        (
            "control message sharing an audience consent",
            Frame::GroupControl(group_control(GroupAction::ShareConsent {
                consent: GroupConsent(pattern(0xd0)),
            })),
        ),
        (
            "welcome page 0 of 2, with the group's consent",
            Frame::GroupWelcome(GroupWelcome {
                group_id: GroupId(pattern(0x10)),
                epoch: 4,
                membership_hash: MembershipHash(pattern(0x50)),
                page: 0,
                page_count: 2,
                members: vec![group_member("alice", 1, 0x00), group_member("bob", 2, 0x80)].into(),
                consent: Some(GroupConsent(pattern(0xd0))),
            }),
        ),
        (
            "welcome page 1 of 2, no consent, one member",
            Frame::GroupWelcome(GroupWelcome {
                group_id: GroupId(pattern(0x10)),
                epoch: 4,
                membership_hash: MembershipHash(pattern(0x50)),
                page: 1,
                page_count: 2,
                members: vec![group_member("小林", 300, 0x40)].into(),
                consent: None,
            }),
        ),
        (
            "group send to no one",
            Frame::GroupSend(GroupSend {
                recipients: BoundedVec::default(),
                franking_commitment: FrankingCommitment(pattern(0xc0)),
                sealed_body: Opaque::borrowed(b"group-message-frame"),
            }),
        ),
        (
            "group send to three devices, one id needing a two-byte varint",
            Frame::GroupSend(GroupSend {
                recipients: vec![address("bob", 1), address("bob", 300), address("carol", 1)]
                    .into(),
                franking_commitment: FrankingCommitment(pattern(0xc0)),
                sealed_body: Opaque::borrowed(b"group-message-frame"),
            }),
        ),
    ]
}

/// Samples of the relay API's frames (tags 9-20).
fn relay_samples() -> Vec<(&'static str, Frame<'static>)> {
    let to = |user, device, kind, body| RoutingEnvelope {
        recipient: address(user, device),
        ..envelope(kind, body)
    };
    vec![
        (
            "device registration",
            Frame::DeviceRegistration(DeviceRegistration {
                address: address("alice", 1),
                identity: identity(),
            }),
        ),
        (
            "challenge request, device id needing a two-byte varint",
            Frame::ChallengeRequest(ChallengeRequest {
                address: address("alice", 300),
            }),
        ),
        (
            "authentication challenge",
            Frame::AuthChallenge(AuthChallenge {
                nonce: Nonce(pattern(0x80)),
                expires_at_ms: 1_795_000_060_000,
            }),
        ),
        (
            "challenge response",
            Frame::ChallengeResponse(ChallengeResponse {
                address: address("alice", 1),
                nonce: Nonce(pattern(0x80)),
                signature: Ed25519Signature(pattern(0x50)),
            }),
        ),
        (
            "bearer token",
            Frame::AuthToken(AuthToken {
                token: BearerToken(pattern(0xa0)),
                expires_at_ms: 1_795_086_400_000,
            }),
        ),
        (
            "first prekey upload: a signed prekey, three one-time prekeys (one id needing a two-byte varint), a last-resort KEM prekey and two one-time KEM prekeys",
            Frame::PrekeyUpload(PrekeyUpload {
                signed_prekey: Some(signed_prekey()),
                one_time_prekeys: vec![
                    one_time_prekey(1),
                    one_time_prekey(2),
                    one_time_prekey(128),
                ]
                .into(),
                last_resort_kem_prekey: Some(kem_prekey(129)),
                one_time_kem_prekeys: vec![kem_prekey(130), kem_prekey(131)].into(),
            }),
        ),
        (
            "prekey upload of one one-time prekey, signed prekey unchanged",
            Frame::PrekeyUpload(PrekeyUpload {
                signed_prekey: None,
                one_time_prekeys: vec![one_time_prekey(3)].into(),
                last_resort_kem_prekey: None,
                one_time_kem_prekeys: BoundedVec::default(),
            }),
        ),
        (
            "prekey upload of a new signed prekey only",
            Frame::PrekeyUpload(PrekeyUpload {
                signed_prekey: Some(signed_prekey()),
                one_time_prekeys: BoundedVec::default(),
                last_resort_kem_prekey: None,
                one_time_kem_prekeys: BoundedVec::default(),
            }),
        ),
        (
            "prekey upload of one one-time KEM prekey only",
            Frame::PrekeyUpload(PrekeyUpload {
                signed_prekey: None,
                one_time_prekeys: BoundedVec::default(),
                last_resort_kem_prekey: None,
                one_time_kem_prekeys: vec![kem_prekey(4)].into(),
            }),
        ),
        (
            "prekey upload of a rotated last-resort KEM prekey only",
            Frame::PrekeyUpload(PrekeyUpload {
                signed_prekey: None,
                one_time_prekeys: BoundedVec::default(),
                last_resort_kem_prekey: Some(kem_prekey(5)),
                one_time_kem_prekeys: BoundedVec::default(),
            }),
        ),
        (
            "prekey count, both pools low",
            Frame::PrekeyCount(PrekeyCount {
                one_time_prekeys: 3,
                low: true,
                one_time_kem_prekeys: 2,
                kem_low: true,
            }),
        ),
        (
            "prekey count needing two-byte varints, neither pool low",
            Frame::PrekeyCount(PrekeyCount {
                one_time_prekeys: 200,
                low: false,
                one_time_kem_prekeys: 150,
                kem_low: false,
            }),
        ),
        (
            "prekey count, X25519 pool full and KEM pool empty",
            Frame::PrekeyCount(PrekeyCount {
                one_time_prekeys: 100,
                low: false,
                one_time_kem_prekeys: 0,
                kem_low: true,
            }),
        ),
        (
            "bundle set of a user with no device",
            Frame::BundleSet(BundleSet {
                bundles: BoundedVec::default(),
            }),
        ),
        (
            "bundle set of one device",
            Frame::BundleSet(BundleSet {
                bundles: vec![bundle("bob", 1, Some(one_time_prekey(128)))].into(),
            }),
        ),
        (
            "bundle set of three devices, one with an empty one-time pool",
            Frame::BundleSet(BundleSet {
                bundles: vec![
                    bundle("bob", 1, Some(one_time_prekey(4))),
                    bundle("bob", 2, None),
                    bundle("bob", 300, Some(one_time_prekey(5))),
                ]
                .into(),
            }),
        ),
        (
            "empty send batch",
            Frame::SendBatch(SendBatch {
                envelopes: BoundedVec::default(),
            }),
        ),
        (
            "send batch of one envelope",
            Frame::SendBatch(SendBatch {
                envelopes: vec![to("bob", 1, ContentKind::Message, b"sealed-body")].into(),
            }),
        ),
        (
            "send batch of three envelopes: two recipient devices and the sender's other device",
            Frame::SendBatch(SendBatch {
                envelopes: vec![
                    to("bob", 1, ContentKind::Message, b"sealed-body-1"),
                    to("bob", 2, ContentKind::PrekeyMessage, b"sealed-body-2"),
                    to("alice", 2, ContentKind::Message, b""),
                ]
                .into(),
            }),
        ),
        (
            "send accepted, no envelope",
            Frame::SendAccepted(SendAccepted {
                server_time_ms: 1_795_000_000_000,
                message_ids: BoundedVec::default(),
            }),
        ),
        (
            "send accepted, one envelope",
            Frame::SendAccepted(SendAccepted {
                server_time_ms: 1_795_000_000_000,
                message_ids: vec![MessageId(pattern(0xa0))].into(),
            }),
        ),
        (
            "send accepted, three envelopes",
            Frame::SendAccepted(SendAccepted {
                server_time_ms: 1_795_000_000_000,
                message_ids: vec![
                    MessageId(pattern(0xa0)),
                    MessageId(pattern(0xb0)),
                    MessageId(pattern(0xc0)),
                ]
                .into(),
            }),
        ),
        (
            "empty mailbox, prekey pool low",
            Frame::MailboxBatch(MailboxBatch {
                records: BoundedVec::default(),
                prekeys_low: true,
            }),
        ),
        (
            "mailbox batch of one record",
            Frame::MailboxBatch(MailboxBatch {
                records: vec![delivered(b"sealed-body", 0xa0)].into(),
                prekeys_low: false,
            }),
        ),
        (
            "mailbox batch of three records, prekey pool low",
            Frame::MailboxBatch(MailboxBatch {
                records: vec![
                    delivered(b"sealed-body-1", 0xa0),
                    delivered(b"", 0xb0),
                    delivered(b"sealed-body-3", 0xc0),
                ]
                .into(),
                prekeys_low: true,
            }),
        ),
        (
            "empty acknowledgement",
            Frame::Acknowledgement(Acknowledgement {
                message_ids: BoundedVec::default(),
            }),
        ),
        (
            "acknowledgement of one envelope",
            Frame::Acknowledgement(Acknowledgement {
                message_ids: vec![MessageId(pattern(0xa0))].into(),
            }),
        ),
        (
            "acknowledgement of the most envelopes allowed, count needing a two-byte varint",
            Frame::Acknowledgement(Acknowledgement {
                message_ids: (0..MAX_ACKNOWLEDGED)
                    .map(|i| MessageId(pattern(i as u8)))
                    .collect::<Vec<_>>()
                    .into(),
            }),
        ),
    ]
}

fn samples() -> Vec<(&'static str, Frame<'static>)> {
    let prekey_message = |one_time_prekey_id, kem| PrekeyMessage {
        initiator: identity(),
        base_key: X25519PublicKey(pattern(0xb0)),
        signed_prekey_id: PrekeyId(7),
        one_time_prekey_id,
        kem,
        message: ratchet_message(0, 0, b"first-ciphertext"),
    };
    let bundle = |one_time| bundle("bob", 300, one_time);
    vec![
        ("identity", Frame::Identity(identity())),
        (
            "prekey bundle with a one-time prekey, device id needing a two-byte varint",
            Frame::PrekeyBundle(bundle(Some(OneTimePrekey {
                id: PrekeyId(128),
                public_key: X25519PublicKey(pattern(0xe0)),
            }))),
        ),
        (
            "prekey bundle whose one-time pool is empty (its KEM prekey is then the last-resort one)",
            Frame::PrekeyBundle(bundle(None)),
        ),
        (
            "prekey bundle stripped of its KEM prekey: decodes, and the protocol refuses it (MissingKemPrekey)",
            Frame::PrekeyBundle(PrekeyBundle {
                kem_prekey: None,
                ..bundle(None)
            }),
        ),
        (
            "envelope of an established session",
            Frame::Envelope(envelope(ContentKind::Message, b"sealed-body")),
        ),
        (
            "envelope opening a session, empty body",
            Frame::Envelope(envelope(ContentKind::PrekeyMessage, b"")),
        ),
        (
            "envelope of a group message",
            Frame::Envelope(envelope(ContentKind::GroupMessage, b"group-message-frame")),
        ),
        (
            "delivered record with a non-ASCII sender",
            Frame::Delivered(delivered(b"sealed-body", 0xa0)),
        ),
        ("blob id", Frame::BlobId(BlobId(pattern(0x00)))),
        (
            "sealed report (before protocol version 3)",
            Frame::SealedReport(sealed_report(b"sealed-report")),
        ),
        (
            "hybrid sealed report",
            Frame::HybridSealedReport(hybrid_sealed_report(b"sealed-report")),
        ),
        (
            "ratchet message, counter needing a two-byte varint",
            Frame::RatchetMessage(ratchet_message(3, 200, b"ratchet-ciphertext")),
        ),
        (
            "prekey message with a one-time prekey id and a KEM prekey id needing two-byte varints",
            Frame::PrekeyMessage(prekey_message(
                Some(PrekeyId(128)),
                Some(kem_encapsulation(1300)),
            )),
        ),
        (
            "prekey message made without a one-time prekey, to a last-resort KEM prekey",
            Frame::PrekeyMessage(prekey_message(None, Some(kem_encapsulation(9)))),
        ),
        (
            "prekey message stripped of its KEM ciphertext: decodes, and the protocol refuses it (MissingKemCiphertext)",
            Frame::PrekeyMessage(prekey_message(Some(PrekeyId(128)), None)),
        ),
        (
            "text message content, non-ASCII body",
            Frame::MessageContent(message_content(
                ContentType::Text,
                0,
                "hello, 世界".as_bytes(),
            )),
        ),
        (
            "receipt message content, sequence needing a two-byte varint",
            Frame::MessageContent(message_content(ContentType::Receipt, 300, b"receipt-body")),
        ),
        (
            "message content carrying a sender key distribution",
            Frame::MessageContent(message_content(
                ContentType::SenderKeyDistribution,
                1,
                b"distribution-frame",
            )),
        ),
        (
            "message content carrying a group welcome page",
            Frame::MessageContent(message_content(
                ContentType::GroupWelcome,
                2,
                b"welcome-frame",
            )),
        ),
        (
            "message content sharing an attachment",
            Frame::MessageContent(message_content(ContentType::Attachment, 3, b"share-body")),
        ),
    ]
    .into_iter()
    .chain(relay_samples())
    .chain(inbox_samples())
    .chain(group_samples())
    .chain(account_samples())
    .collect()
}

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "test-vectors/wire".into()),
    );
    std::fs::create_dir_all(&dir).unwrap();
    for kind in FrameKind::ALL {
        let vectors: Vec<_> = samples()
            .into_iter()
            .filter(|(_, frame)| frame.kind() == kind)
            .map(|(name, frame)| {
                json!({
                    "name": name,
                    "frame": serde_json::to_value(&frame).unwrap(),
                    "encoded": hex::encode(frame.encode().unwrap()),
                })
            })
            .collect();
        let file = json!({
            "description": format!(
                "Golden encodings of the `{kind}` frame (tag {}), wire version {WIRE_VERSION}. \
                 See spec/wire.md. `frame` is the value in JSON (byte strings as hex), \
                 `encoded` the whole frame as hex.",
                kind.tag()
            ),
            "frame_kind": kind.name(),
            "tag": kind.tag(),
            "vectors": vectors,
        });
        let path = dir.join(format!("{}.json", kind.name()));
        std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap() + "\n").unwrap();
        println!("wrote {}", path.display());
    }

    let sender = address("alice", 1);
    let recipient = address("bob", 2);
    let commitment = FrankingCommitment(pattern(0xc0));
    let message_id = MessageId(pattern(0xa0));
    let input = franking_stamp_input(
        &commitment,
        &sender,
        &recipient,
        1_795_000_000_000,
        &message_id,
        StampKeyId(1),
    );
    let file = json!({
        "description": "The canonical franking stamp input (spec/wire.md, \"Franking stamp input\").",
        "vectors": [{
            "commitment": hex::encode(commitment.0),
            "sender": {"user": "alice", "device": 1},
            "recipient": {"user": "bob", "device": 2},
            "server_time_ms": 1_795_000_000_000u64,
            "server_message_id": hex::encode(message_id.0),
            "stamp_key_id": 1,
            "input": hex::encode(input),
        }],
    });
    let path = dir.join("franking_stamp_input.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap() + "\n").unwrap();
    println!("wrote {}", path.display());

    let vectors: Vec<_> = [
        (
            "https://relay.example",
            address("alice", 1),
            Nonce(pattern(0x80)),
        ),
        // Multi-byte UTF-8 and a device id above one byte.
        (
            "HTTPS://Relay.Example:443/",
            DeviceAddress::new(UserId::new("小林").unwrap(), DeviceId(300)),
            Nonce(pattern(0x00)),
        ),
        // An origin with a port that is not the scheme's default.
        (
            "http://127.0.0.1:8080",
            address("bob", 2),
            Nonce(pattern(0x40)),
        ),
    ]
    .into_iter()
    .map(|(url, address, nonce)| {
        let origin = relay_origin(url).unwrap();
        json!({
            "url": url,
            "origin": origin,
            "address": {"user": address.user.as_str(), "device": address.device.0},
            "nonce": hex::encode(nonce.0),
            "input": hex::encode(relay_auth_input(&origin, &address, &nonce)),
        })
    })
    .collect();
    let file = json!({
        "description": "The string a device signs to answer an authentication challenge \
                        (spec/wire.md, \"Relay authentication input\"): the label, the \
                        relay's origin (`url` as relay_origin normalises it), the user id, the \
                        device id and the nonce.",
        "vectors": vectors,
    });
    let path = dir.join("relay_auth_input.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap() + "\n").unwrap();
    println!("wrote {}", path.display());

    write_attachment_references(&dir);
    write_identifier_shares(&dir);
    write_rejected_frames(&dir);
}

/// One frame refused at each step of spec/wire.md §7, in step order, and
/// lists one element past their maximum.
fn codec_rejections() -> Vec<(&'static str, Vec<u8>)> {
    let blob_id = Frame::BlobId(BlobId(pattern(0x00))).encode().unwrap();
    let mut version_2 = blob_id.clone();
    version_2[0] = 2;
    let mut trailing = blob_id.clone();
    trailing.push(0);
    // An envelope to bob/1: version, tag 2, user id, device id, content
    // kind, commitment, empty sealed body.
    let raw_envelope = |user: &[u8], device: &[u8]| {
        let mut out = vec![WIRE_VERSION, 2, user.len() as u8];
        out.extend_from_slice(user);
        out.extend_from_slice(device);
        out.push(0);
        out.extend_from_slice(&pattern::<32>(0xc0));
        out.push(0);
        out
    };
    let mut overlong_tag = raw_envelope(b"bob", &[1]);
    overlong_tag.splice(1..2, [0x82, 0x00]);
    // 257 message ids: the count 256 (0x80 0x02) becomes 257 (0x81 0x02).
    let mut acknowledgement = Frame::Acknowledgement(Acknowledgement {
        message_ids: (0..MAX_ACKNOWLEDGED)
            .map(|i| MessageId(pattern(i as u8)))
            .collect::<Vec<_>>()
            .into(),
    })
    .encode()
    .unwrap();
    assert_eq!(&acknowledgement[2..4], &[0x80, 0x02]);
    acknowledgement[2] = 0x81;
    acknowledgement.extend_from_slice(&pattern::<16>(0xff));
    let mut over_and_trailing = acknowledgement.clone();
    over_and_trailing.push(0);
    // 101 one-time prekeys, ids 0 to 100 (one byte each), no other field.
    let mut upload = vec![WIRE_VERSION, FrameKind::PrekeyUpload.tag() as u8, 0, 101];
    for id in 0..101u8 {
        upload.push(id);
        upload.extend_from_slice(&pattern::<32>(id));
    }
    upload.extend_from_slice(&[0, 0]);
    vec![
        ("wire version 2 (step 3)", version_2),
        (
            "a tag naming no frame: 127 (step 4)",
            vec![WIRE_VERSION, 0x7f, 0],
        ),
        (
            "a tag varint with a 6th byte (step 4)",
            vec![WIRE_VERSION, 0xff, 0xff, 0xff, 0xff, 0x7f],
        ),
        ("a blob id followed by one byte (step 6)", trailing),
        (
            "an envelope whose user id is 65 bytes (step 7)",
            raw_envelope(&[b'a'; 65], &[1]),
        ),
        (
            "an envelope whose user id is empty (step 7)",
            raw_envelope(b"", &[1]),
        ),
        (
            "an envelope whose device id 1 is written 0x81 0x00 (step 8)",
            raw_envelope(b"bob", &[0x81, 0x00]),
        ),
        (
            "an envelope whose tag 2 is written 0x82 0x00 (step 8)",
            overlong_tag,
        ),
        (
            "an acknowledgement of 257 message ids, one past 256",
            acknowledgement,
        ),
        (
            "an acknowledgement of 257 message ids followed by one byte: trailing bytes win",
            over_and_trailing,
        ),
        (
            "a prekey upload of 101 one-time prekeys, one past 100",
            upload,
        ),
    ]
}

/// A decoding error as the vectors write it: serde's external tagging of
/// the `WireError` variant (a unit variant is its name alone).
fn error_json(error: &WireError) -> serde_json::Value {
    match error {
        WireError::Truncated => json!("Truncated"),
        WireError::NonCanonical => json!("NonCanonical"),
        WireError::RetiredFrame {
            tag,
            protocol_version,
        } => json!({"RetiredFrame": {"tag": tag, "protocol_version": protocol_version}}),
        WireError::Malformed { reason } => json!({"Malformed": {"reason": reason}}),
        WireError::LimitExceeded { field, len, max } => {
            json!({"LimitExceeded": {"field": field, "len": len, "max": max}})
        }
        WireError::InvalidField { field, reason } => {
            json!({"InvalidField": {"field": field, "reason": reason}})
        }
        WireError::UnknownVersion { version } => json!({"UnknownVersion": {"version": version}}),
        WireError::UnknownVariant { tag } => json!({"UnknownVariant": {"tag": tag}}),
        WireError::TrailingBytes { count } => json!({"TrailingBytes": {"count": count}}),
        other => panic!("no vector form for {other:?}"),
    }
}

/// The golden encoding tag 35 had (protocol version 2: a link request
/// without the new device's hybrid grant key).
const LINK_REQUEST_V2: &str = "0123303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf066c6170746f70b0a6dbf29e34";

/// Frames a decoder must refuse, with the error (spec/wire.md §7): the
/// frames of retired tags as their senders wrote them, KEM fields cut short
/// or mis-tagged, and one frame for each step of §7 and for lists one past
/// their maximum.
fn write_rejected_frames(dir: &std::path::Path) {
    let retag = |mut bytes: Vec<u8>, tag: u8| {
        bytes[1] = tag;
        bytes
    };
    // Protocol version 2: the version 3 samples without their KEM fields,
    // under the old tags (the golden encodings those tags had).
    let bundle_v3 = PrekeyBundle {
        kem_prekey: None,
        ..bundle(
            "bob",
            300,
            Some(OneTimePrekey {
                id: PrekeyId(128),
                public_key: X25519PublicKey(pattern(0xe0)),
            }),
        )
    }
    .to_bytes()
    .unwrap();
    let bundle_v2 = retag(bundle_v3[..bundle_v3.len() - 1].to_vec(), 1);
    let one_device_v3 = PrekeyBundle {
        kem_prekey: None,
        ..bundle("bob", 1, Some(one_time_prekey(128)))
    }
    .to_bytes()
    .unwrap();
    let mut bundle_set_v2 = vec![WIRE_VERSION, 16, 1];
    bundle_set_v2.extend_from_slice(&one_device_v3[2..one_device_v3.len() - 1]);
    let upload_v3 = PrekeyUpload {
        signed_prekey: Some(signed_prekey()),
        one_time_prekeys: vec![one_time_prekey(1), one_time_prekey(2), one_time_prekey(128)].into(),
        last_resort_kem_prekey: None,
        one_time_kem_prekeys: BoundedVec::default(),
    }
    .to_bytes()
    .unwrap();
    let upload_v2 = retag(upload_v3[..upload_v3.len() - 2].to_vec(), 14);
    let count_v2 = vec![WIRE_VERSION, 15, 3, 1];
    let prekey_message = PrekeyMessage {
        initiator: identity(),
        base_key: X25519PublicKey(pattern(0xb0)),
        signed_prekey_id: PrekeyId(7),
        one_time_prekey_id: Some(PrekeyId(128)),
        kem: None,
        message: ratchet_message(0, 0, b"first-ciphertext"),
    };
    // Version, tag, identity, base key, signed prekey id, one-time prekey
    // id (present, two bytes): then the KEM option tag.
    let kem_at = 2 + 128 + 32 + 1 + 3;
    let mut prekey_v2 = retag(prekey_message.to_bytes().unwrap(), 38);
    assert_eq!(prekey_v2[kem_at], 0);
    prekey_v2.remove(kem_at);

    // Protocol version 1: the version 2 layouts without the header's salt.
    let mut ratchet_v1 = vec![WIRE_VERSION, 6];
    ratchet_v1.extend_from_slice(&pattern::<32>(0x20));
    ratchet_v1.extend_from_slice(&[0, 0, 3, 0xaa, 0xbb, 0xcc]);
    let mut prekey_v1 = vec![WIRE_VERSION, 7];
    prekey_v1.extend_from_slice(&[0x22; 128 + 32]);
    prekey_v1.extend_from_slice(&[7, 0]);
    prekey_v1.extend_from_slice(&ratchet_v1[2..]);
    let mut group_v1 = vec![WIRE_VERSION, 27];
    group_v1.extend_from_slice(&pattern::<32>(0x33));
    group_v1.extend_from_slice(&[1, 0, 0, 1, 0xdd]);
    group_v1.extend_from_slice(&pattern::<64>(0x44));

    // KEM fields cut short or mis-tagged.
    let with_kem = bundle("bob", 300, None).to_bytes().unwrap();
    let key_at = with_kem.len() - (1184 + 64);
    let short_key = with_kem[..key_at + 1183].to_vec();
    let prekey_v3 = PrekeyMessage {
        kem: Some(kem_encapsulation(9)),
        ..prekey_message.clone()
    }
    .to_bytes()
    .unwrap();
    let short_ciphertext = prekey_v3[..kem_at + 2 + 1000].to_vec();
    let mut kem_tag_two = prekey_v3.clone();
    kem_tag_two[kem_at] = 2;
    let mut count_kem_low_two = PrekeyCount {
        one_time_prekeys: 3,
        low: true,
        one_time_kem_prekeys: 2,
        kem_low: true,
    }
    .to_bytes()
    .unwrap();
    *count_kem_low_two.last_mut().unwrap() = 2;

    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "protocol version 2 prekey bundle (tag 1, now 41)",
            bundle_v2,
        ),
        (
            "protocol version 2 prekey upload (tag 14, now 42)",
            upload_v2,
        ),
        ("protocol version 2 prekey count (tag 15, now 43)", count_v2),
        (
            "protocol version 2 bundle set (tag 16, now 44)",
            bundle_set_v2,
        ),
        (
            "protocol version 2 prekey message (tag 38, now 40)",
            prekey_v2,
        ),
        (
            "protocol version 2 prekey message tag with no body: the tag alone decides",
            vec![WIRE_VERSION, 38],
        ),
        (
            "protocol version 2 link request (tag 35, now 48), its former golden encoding",
            hex::decode(LINK_REQUEST_V2).unwrap(),
        ),
        (
            "protocol version 1 ratchet message (tag 6, now 37)",
            ratchet_v1,
        ),
        ("protocol version 1 prekey message (tag 7)", prekey_v1),
        (
            "protocol version 1 group message (tag 27, now 39)",
            group_v1,
        ),
        (
            "prekey bundle cut inside its KEM prekey's key: 1,183 of 1,184 bytes",
            short_key,
        ),
        (
            "prekey message whose KEM ciphertext ends after 1,000 of 1,088 bytes",
            short_ciphertext,
        ),
        (
            "prekey message whose KEM encapsulation option tag is 2",
            kem_tag_two,
        ),
        ("prekey count whose kem_low byte is 2", count_kem_low_two),
    ];
    let cases = cases
        .into_iter()
        .chain(codec_rejections())
        .collect::<Vec<_>>();
    let vectors: Vec<_> = cases
        .into_iter()
        .map(|(name, encoded)| {
            let error = Frame::decode(&encoded).unwrap_err();
            json!({
                "name": name,
                "encoded": hex::encode(&encoded),
                "error": error_json(&error),
                "message": error.to_string(),
            })
        })
        .collect();
    let file = json!({
        "description": "Frames a decoder must refuse, with the error it must give \
                        (spec/wire.md §7): the frames of retired tags as their senders \
                        wrote them (spec/wire.md §4; the protocol version 2 ones are the \
                        golden encodings those tags had), and KEM fields cut short or \
                        mis-tagged. `error` is the WireError variant and its fields, \
                        `message` its text.",
        "vectors": vectors,
    });
    let path = dir.join("rejected_frames.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap() + "\n").unwrap();
    println!("wrote {}", path.display());
}

/// Samples of the identifier secret share body (spec/wire.md §8.3), the
/// body of a message of content type `IdentifierSecret`.
fn write_identifier_shares(dir: &std::path::Path) {
    use fuin_wire::identifier::{IdentifierSecretBytes, IdentifierSecretShare};
    let shares = [
        (
            "drawn at time 0 by device 0",
            IdentifierSecretShare {
                secret: IdentifierSecretBytes(pattern(0x00)),
                drawn_at_ms: 0,
                origin_device: DeviceId(0),
            },
        ),
        (
            "a share drawn on 2026-12-02 by device 2",
            IdentifierSecretShare {
                secret: IdentifierSecretBytes(pattern(0x40)),
                drawn_at_ms: 1_796_191_200_000,
                origin_device: DeviceId(2),
            },
        ),
        (
            "the longest share (48 bytes): every varint at its longest",
            IdentifierSecretShare {
                secret: IdentifierSecretBytes([0xff; 32]),
                drawn_at_ms: u64::MAX,
                origin_device: DeviceId(u32::MAX),
            },
        ),
    ];
    let vectors: Vec<_> = shares
        .iter()
        .map(|(name, share)| {
            json!({
                "name": name,
                "share": serde_json::to_value(share).unwrap(),
                "encoded": hex::encode(share.to_bytes().unwrap()),
            })
        })
        .collect();
    let file = json!({
        "description": "Golden encodings of the identifier secret share body (spec/wire.md \
                        §8.3): version byte 1, the 32 secret bytes, drawn_at_ms and \
                        origin_device as varints. The body of a message of content type \
                        IdentifierSecret. The secrets here are byte patterns, not secrets.",
        "vectors": vectors,
    });
    let path = dir.join("identifier_share.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap() + "\n").unwrap();
    println!("wrote {}", path.display());
}

/// Samples of the attachment reference body (spec/wire.md §8), which
/// travels inside sealed messages rather than as a frame.
fn write_attachment_references(dir: &std::path::Path) {
    use fuin_wire::attachment::*;
    let object = |start: u8, sealed_len: u64| SealedObjectRef {
        object_id: ObjectId(pattern(start)),
        key: AttachmentKey(pattern(start.wrapping_add(0x10))),
        blob_id: BlobId(pattern(start.wrapping_add(0x30))),
        sealed_len,
    };
    let samples = [
        (
            "a file without thumbnail or name",
            AttachmentReference {
                owner: address("alice", 1),
                conversation: ConversationDigest(pattern(0x90)),
                content_type: MediaType::new("application/pdf").unwrap(),
                object: object(0x00, 85),
                thumbnail: None,
                file_name: None,
            },
        ),
        (
            "a photo with a thumbnail and a non-ASCII name, sizes needing several varint bytes",
            AttachmentReference {
                owner: DeviceAddress::new(UserId::new("小林").unwrap(), DeviceId(300)),
                conversation: ConversationDigest(pattern(0x90)),
                content_type: MediaType::new("image/jpeg").unwrap(),
                object: object(0x40, 3_000_000),
                thumbnail: Some(ThumbnailReference {
                    content_type: MediaType::new("image/webp").unwrap(),
                    object: object(0x80, 12_345),
                }),
                file_name: Some(FileName::new("海.jpg").unwrap()),
            },
        ),
    ];
    let vectors: Vec<_> = samples
        .iter()
        .map(|(name, reference)| {
            json!({
                "name": name,
                "reference": serde_json::to_value(reference).unwrap(),
                "encoded": hex::encode(reference.to_bytes().unwrap()),
            })
        })
        .collect();
    let file = json!({
        "description": format!(
            "Golden encodings of the attachment reference body (spec/wire.md §8): version byte \
             {REFERENCE_VERSION}, then the postcard encoding. Not a frame: it is the body of a \
             message inside the sealed content. Keys here are byte patterns, not secrets."
        ),
        "vectors": vectors,
    });
    let path = dir.join("attachment_reference.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap() + "\n").unwrap();
    println!("wrote {}", path.display());

    let shares = [
        (
            "a share without thumbnail",
            AttachmentShare {
                reference: samples[0].1.clone(),
                capability: fuin_wire::relay::BlobCapability(pattern(0xc0)),
                thumbnail_capability: None,
            },
        ),
        (
            "a share with a thumbnail",
            AttachmentShare {
                reference: samples[1].1.clone(),
                capability: fuin_wire::relay::BlobCapability(pattern(0xc0)),
                thumbnail_capability: Some(fuin_wire::relay::BlobCapability(pattern(0xe0))),
            },
        ),
    ];
    let vectors: Vec<_> = shares
        .iter()
        .map(|(name, share)| {
            json!({
                "name": name,
                "share": serde_json::to_value(share).unwrap(),
                "encoded": hex::encode(share.to_bytes().unwrap()),
            })
        })
        .collect();
    let file = json!({
        "description": format!(
            "Golden encodings of the attachment share body (spec/wire.md §8.2): version byte \
             {SHARE_VERSION}, then the postcard encoding of the reference (without its own \
             version byte) and the capabilities. The body of a message of content type \
             Attachment. Keys and capabilities here are byte patterns, not secrets."
        ),
        "vectors": vectors,
    });
    let path = dir.join("attachment_share.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap() + "\n").unwrap();
    println!("wrote {}", path.display());
}
