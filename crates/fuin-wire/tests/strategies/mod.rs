//! proptest strategies for valid wire values, shared by the property tests.
#![allow(dead_code)]

use fuin_wire::group::{MAX_CHANGE_MEMBERS, MAX_GROUP_MEMBERS, MAX_WELCOME_MEMBERS};
use fuin_wire::limits::{MAX_CONTENT_BODY_LEN, MAX_SEALED_BODY_LEN, MAX_USER_ID_LEN};
use fuin_wire::relay::{
    Acknowledgement, AuthChallenge, AuthToken, BearerToken, BlobCapability, BlobReceipt, BundleSet,
    ChallengeRequest, ChallengeResponse, DeviceList, DeviceRegistration, InboxReport, ListedDevice,
    MAX_ACKNOWLEDGED, MAX_ACKNOWLEDGED_REPORTS, MAX_DEVICES_PER_USER, MAX_ENVELOPES_PER_SEND,
    MAX_KEM_PREKEY_UPLOAD, MAX_PREKEY_UPLOAD, MAX_RECORDS_PER_BATCH, MAX_REPORTS_PER_BATCH,
    MailboxBatch, Nonce, PrekeyCount, PrekeyUpload, ReportAccepted, ReportAcknowledgement,
    ReportBatch, ReportId, SendAccepted, SendBatch,
};
use fuin_wire::*;
use proptest::collection::vec;
use proptest::prelude::*;

pub fn user_id() -> impl Strategy<Value = UserId<'static>> {
    prop_oneof![
        "[a-zA-Z0-9._@+-]{1,64}",
        // Up to 16 characters of up to 4 bytes each stays within 64 bytes.
        "[\\p{L}\\p{N}\\p{So} ]{1,16}",
    ]
    .prop_filter("within the byte limit, nothing hidden", |id: &String| {
        id.len() <= MAX_USER_ID_LEN && fuin_wire::text::first_hidden(id).is_none()
    })
    .prop_map(|id| UserId::new(id).expect("strategy yields valid user ids"))
}

pub fn address() -> impl Strategy<Value = DeviceAddress<'static>> {
    (user_id(), any::<u32>()).prop_map(|(user, device)| DeviceAddress::new(user, DeviceId(device)))
}

fn bytes<const N: usize>() -> impl Strategy<Value = [u8; N]> {
    vec(any::<u8>(), N).prop_map(|v| v.try_into().expect("vec of length N"))
}

pub fn identity() -> impl Strategy<Value = PublicIdentity> {
    (bytes::<32>(), bytes::<32>(), bytes::<64>()).prop_map(|(s, a, sig)| PublicIdentity {
        signing_key: Ed25519PublicKey(s),
        agreement_key: X25519PublicKey(a),
        signature: Ed25519Signature(sig),
    })
}

pub fn signed_prekey() -> impl Strategy<Value = SignedPrekey> {
    (any::<u32>(), bytes::<32>(), bytes::<64>()).prop_map(|(id, key, sig)| SignedPrekey {
        id: PrekeyId(id),
        public_key: X25519PublicKey(key),
        signature: Ed25519Signature(sig),
    })
}

pub fn one_time_prekey() -> impl Strategy<Value = OneTimePrekey> {
    (any::<u32>(), bytes::<32>()).prop_map(|(id, key)| OneTimePrekey {
        id: PrekeyId(id),
        public_key: X25519PublicKey(key),
    })
}

/// A signed ML-KEM prekey: random bytes of the right sizes (the wire
/// checks sizes only; whether the key is a valid encapsulation key is the
/// protocol's concern).
pub fn kem_prekey() -> impl Strategy<Value = KemPrekey> {
    (any::<u32>(), bytes::<1184>(), bytes::<64>()).prop_map(|(id, key, sig)| KemPrekey {
        id: PrekeyId(id),
        public_key: MlKemPublicKey(key),
        signature: Ed25519Signature(sig),
    })
}

pub fn kem_encapsulation() -> impl Strategy<Value = KemEncapsulation> {
    (any::<u32>(), bytes::<1088>()).prop_map(|(id, ciphertext)| KemEncapsulation {
        kem_prekey_id: PrekeyId(id),
        ciphertext: MlKemCiphertext(ciphertext),
    })
}

pub fn bundle() -> impl Strategy<Value = PrekeyBundle<'static>> {
    (
        address(),
        identity(),
        signed_prekey(),
        proptest::option::of(one_time_prekey()),
        // Mostly with a KEM prekey, as the protocol requires; sometimes
        // without, as a stripped bundle arrives.
        proptest::option::weighted(0.9, kem_prekey()),
    )
        .prop_map(
            |(address, identity, signed_prekey, one_time_prekey, kem_prekey)| PrekeyBundle {
                address,
                identity,
                signed_prekey,
                one_time_prekey,
                kem_prekey,
            },
        )
}

/// A list of 0 to `MAX` elements, sometimes exactly `MAX` to pin the
/// boundary.
pub fn list<S: Strategy, const MAX: usize>(
    element: impl Fn() -> S,
) -> impl Strategy<Value = BoundedVec<S::Value, MAX>> {
    prop_oneof![
        3 => vec(element(), 0..=MAX),
        1 => vec(element(), MAX),
    ]
    .prop_map(BoundedVec::from)
}

pub fn body(max: usize) -> impl Strategy<Value = Opaque<'static>> {
    prop_oneof![
        vec(any::<u8>(), 0..256),
        // Sometimes exactly at the limit, to pin the boundary.
        Just(vec![0x5a; max]),
    ]
    .prop_map(Opaque::from)
}

/// Like [`body`], but at the limit only one time in sixteen: for list
/// elements, so that a long list stays cheap to generate yet still meets
/// elements at the limit.
pub fn listed_body(max: usize) -> impl Strategy<Value = Opaque<'static>> {
    prop_oneof![
        15 => vec(any::<u8>(), 0..256),
        1 => Just(vec![0x5a; max]),
    ]
    .prop_map(Opaque::from)
}

pub fn envelope() -> impl Strategy<Value = RoutingEnvelope<'static>> {
    envelope_with(body(MAX_SEALED_BODY_LEN))
}

/// An envelope as an element of a list.
pub fn listed_envelope() -> impl Strategy<Value = RoutingEnvelope<'static>> {
    envelope_with(listed_body(MAX_SEALED_BODY_LEN))
}

fn envelope_with(
    body: impl Strategy<Value = Opaque<'static>>,
) -> impl Strategy<Value = RoutingEnvelope<'static>> {
    (
        address(),
        prop_oneof![
            Just(ContentKind::Message),
            Just(ContentKind::PrekeyMessage),
            Just(ContentKind::GroupMessage)
        ],
        bytes::<32>(),
        body,
    )
        .prop_map(
            |(recipient, content_kind, commitment, sealed_body)| RoutingEnvelope {
                recipient,
                content_kind,
                franking_commitment: FrankingCommitment(commitment),
                sealed_body,
            },
        )
}

pub fn delivered() -> impl Strategy<Value = DeliveredRecord<'static>> {
    delivered_with(envelope())
}

/// A delivered record as an element of a list.
pub fn listed_delivered() -> impl Strategy<Value = DeliveredRecord<'static>> {
    delivered_with(listed_envelope())
}

fn delivered_with(
    envelope: impl Strategy<Value = RoutingEnvelope<'static>>,
) -> impl Strategy<Value = DeliveredRecord<'static>> {
    (
        envelope,
        address(),
        any::<u64>(),
        bytes::<16>(),
        bytes::<32>(),
        any::<u32>(),
    )
        .prop_map(
            |(envelope, sender, time, id, stamp, key_id)| DeliveredRecord {
                envelope,
                sender,
                server_time_ms: time,
                server_message_id: MessageId(id),
                franking_stamp: FrankingStamp(stamp),
                stamp_key_id: StampKeyId(key_id),
            },
        )
}

pub fn sealed_report() -> impl Strategy<Value = SealedReport<'static>> {
    (any::<u32>(), bytes::<32>(), vec(any::<u8>(), 0..1024)).prop_map(|(key_id, eph, ct)| {
        SealedReport {
            moderation_key_id: key_id,
            ephemeral_key: X25519PublicKey(eph),
            ciphertext: Opaque::from(ct),
        }
    })
}

pub fn ratchet_message() -> impl Strategy<Value = RatchetMessage<'static>> {
    (
        bytes::<32>(),
        any::<u32>(),
        any::<u32>(),
        bytes::<16>(),
        body(MAX_SEALED_BODY_LEN),
    )
        .prop_map(
            |(ratchet_key, previous_chain_length, counter, salt, ciphertext)| RatchetMessage {
                header: RatchetHeader {
                    ratchet_key: X25519PublicKey(ratchet_key),
                    previous_chain_length,
                    counter,
                    salt: MessageSalt(salt),
                },
                ciphertext,
            },
        )
}

pub fn prekey_message() -> impl Strategy<Value = PrekeyMessage<'static>> {
    (
        identity(),
        bytes::<32>(),
        any::<u32>(),
        proptest::option::of(any::<u32>()),
        proptest::option::weighted(0.9, kem_encapsulation()),
        ratchet_message(),
    )
        .prop_map(
            |(initiator, base_key, signed, one_time, kem, message)| PrekeyMessage {
                initiator,
                base_key: X25519PublicKey(base_key),
                signed_prekey_id: PrekeyId(signed),
                one_time_prekey_id: one_time.map(PrekeyId),
                kem,
                message,
            },
        )
}

pub fn content_type() -> impl Strategy<Value = ContentType> {
    prop_oneof![
        Just(ContentType::Text),
        Just(ContentType::Receipt),
        Just(ContentType::SenderKeyDistribution),
        Just(ContentType::GroupWelcome),
        Just(ContentType::GroupControl),
        Just(ContentType::Attachment),
    ]
}

pub fn message_content() -> impl Strategy<Value = MessageContent<'static>> {
    (
        content_type(),
        bytes::<16>(),
        any::<u64>(),
        any::<u64>(),
        user_id(),
        bytes::<32>(),
        body(MAX_CONTENT_BODY_LEN),
    )
        .prop_map(
            |(content_type, id, sequence, sent_at_ms, peer, franking_key, body)| MessageContent {
                content_type,
                message_id: ClientMessageId(id),
                sequence,
                sent_at_ms,
                conversation: ConversationRef::Direct { peer },
                franking_key: FrankingKey(franking_key),
                body: SecretBytes::from(body.as_bytes().to_vec()),
            },
        )
}

pub fn device_registration() -> impl Strategy<Value = DeviceRegistration<'static>> {
    (address(), identity()).prop_map(|(address, identity)| DeviceRegistration { address, identity })
}

pub fn challenge_request() -> impl Strategy<Value = ChallengeRequest<'static>> {
    address().prop_map(|address| ChallengeRequest { address })
}

pub fn auth_challenge() -> impl Strategy<Value = AuthChallenge> {
    (bytes::<32>(), any::<u64>()).prop_map(|(nonce, expires_at_ms)| AuthChallenge {
        nonce: Nonce(nonce),
        expires_at_ms,
    })
}

pub fn challenge_response() -> impl Strategy<Value = ChallengeResponse<'static>> {
    (address(), bytes::<32>(), bytes::<64>()).prop_map(|(address, nonce, signature)| {
        ChallengeResponse {
            address,
            nonce: Nonce(nonce),
            signature: Ed25519Signature(signature),
        }
    })
}

pub fn auth_token() -> impl Strategy<Value = AuthToken> {
    (bytes::<32>(), any::<u64>()).prop_map(|(token, expires_at_ms)| AuthToken {
        token: BearerToken(token),
        expires_at_ms,
    })
}

pub fn prekey_upload() -> impl Strategy<Value = PrekeyUpload> {
    (
        proptest::option::of(signed_prekey()),
        list::<_, MAX_PREKEY_UPLOAD>(one_time_prekey),
        proptest::option::of(kem_prekey()),
        kem_prekey_list(),
    )
        .prop_map(
            |(signed_prekey, one_time_prekeys, last_resort_kem_prekey, one_time_kem_prekeys)| {
                PrekeyUpload {
                    signed_prekey,
                    one_time_prekeys,
                    last_resort_kem_prekey,
                    one_time_kem_prekeys,
                }
            },
        )
}

/// One-time KEM prekeys for an upload: 0 to 8 mostly, and sometimes the
/// whole [`MAX_KEM_PREKEY_UPLOAD`] (125 KB of keys), so that the boundary is
/// met without making every case slow.
fn kem_prekey_list() -> impl Strategy<Value = BoundedVec<KemPrekey, MAX_KEM_PREKEY_UPLOAD>> {
    prop_oneof![
        15 => vec(kem_prekey(), 0..=8),
        1 => vec(kem_prekey(), MAX_KEM_PREKEY_UPLOAD),
    ]
    .prop_map(BoundedVec::from)
}

pub fn prekey_count() -> impl Strategy<Value = PrekeyCount> {
    (any::<u32>(), any::<bool>(), any::<u32>(), any::<bool>()).prop_map(
        |(one_time_prekeys, low, one_time_kem_prekeys, kem_low)| PrekeyCount {
            one_time_prekeys,
            low,
            one_time_kem_prekeys,
            kem_low,
        },
    )
}

pub fn bundle_set() -> impl Strategy<Value = BundleSet<'static>> {
    list::<_, MAX_DEVICES_PER_USER>(bundle).prop_map(|bundles| BundleSet { bundles })
}

pub fn send_batch() -> impl Strategy<Value = SendBatch<'static>> {
    list::<_, MAX_ENVELOPES_PER_SEND>(listed_envelope).prop_map(|envelopes| SendBatch { envelopes })
}

pub fn message_id() -> impl Strategy<Value = MessageId> {
    bytes::<16>().prop_map(MessageId)
}

pub fn send_accepted() -> impl Strategy<Value = SendAccepted> {
    (
        any::<u64>(),
        list::<_, { fuin_wire::relay::MAX_ACCEPTED_IDS }>(message_id),
    )
        .prop_map(|(server_time_ms, message_ids)| SendAccepted {
            server_time_ms,
            message_ids,
        })
}

pub fn mailbox_batch() -> impl Strategy<Value = MailboxBatch<'static>> {
    (
        list::<_, MAX_RECORDS_PER_BATCH>(listed_delivered),
        any::<bool>(),
    )
        .prop_map(|(records, prekeys_low)| MailboxBatch {
            records,
            prekeys_low,
        })
}

pub fn acknowledgement() -> impl Strategy<Value = Acknowledgement> {
    list::<_, MAX_ACKNOWLEDGED>(message_id).prop_map(|message_ids| Acknowledgement { message_ids })
}

pub fn blob_receipt() -> impl Strategy<Value = BlobReceipt> {
    (bytes::<32>(), bytes::<32>(), any::<u64>(), any::<u64>()).prop_map(
        |(id, capability, size, expires_at_ms)| BlobReceipt {
            blob_id: BlobId(id),
            capability: BlobCapability(capability),
            size,
            expires_at_ms,
        },
    )
}

pub fn report_id() -> impl Strategy<Value = ReportId> {
    bytes::<16>().prop_map(ReportId)
}

pub fn report_accepted() -> impl Strategy<Value = ReportAccepted> {
    (report_id(), any::<u64>()).prop_map(|(report_id, received_at_ms)| ReportAccepted {
        report_id,
        received_at_ms,
    })
}

pub fn inbox_report() -> impl Strategy<Value = InboxReport<'static>> {
    (report_id(), address(), any::<u64>(), sealed_report()).prop_map(
        |(report_id, reporter, received_at_ms, report)| InboxReport {
            report_id,
            reporter,
            received_at_ms,
            report,
        },
    )
}

pub fn report_batch() -> impl Strategy<Value = ReportBatch<'static>> {
    list::<_, MAX_REPORTS_PER_BATCH>(inbox_report).prop_map(|reports| ReportBatch { reports })
}

pub fn report_acknowledgement() -> impl Strategy<Value = ReportAcknowledgement> {
    list::<_, MAX_ACKNOWLEDGED_REPORTS>(report_id)
        .prop_map(|report_ids| ReportAcknowledgement { report_ids })
}

pub fn device_list() -> impl Strategy<Value = DeviceList> {
    list::<_, MAX_DEVICES_PER_USER>(|| {
        (any::<u32>(), identity()).prop_map(|(device, identity)| ListedDevice {
            device: DeviceId(device),
            identity,
        })
    })
    .prop_map(|devices| DeviceList { devices })
}

/// An address cheap to generate, for lists of up to a thousand.
pub fn listed_address() -> impl Strategy<Value = DeviceAddress<'static>> {
    prop_oneof![
        15 => (0u16..1000, any::<u32>()).prop_map(|(user, device)| {
            DeviceAddress::new(UserId::new(format!("u{user}")).unwrap(), DeviceId(device))
        }),
        1 => address(),
    ]
}

/// A member cheap to generate, for lists of up to a few hundred.
pub fn listed_group_member() -> impl Strategy<Value = GroupMember<'static>> {
    (listed_address(), any::<[u8; 32]>(), any::<u8>()).prop_map(|(address, key, sig)| GroupMember {
        address,
        identity: PublicIdentity {
            signing_key: Ed25519PublicKey(key),
            agreement_key: X25519PublicKey(key),
            signature: Ed25519Signature([sig; 64]),
        },
    })
}

pub fn group_member() -> impl Strategy<Value = GroupMember<'static>> {
    (address(), identity()).prop_map(|(address, identity)| GroupMember { address, identity })
}

pub fn sender_key_distribution() -> impl Strategy<Value = SenderKeyDistribution<'static>> {
    (
        bytes::<32>(),
        any::<u64>(),
        bytes::<32>(),
        address(),
        any::<u32>(),
        bytes::<32>(),
        bytes::<32>(),
    )
        .prop_map(|(group, epoch, hash, sender, iteration, chain, signing)| {
            SenderKeyDistribution {
                group_id: GroupId(group),
                epoch,
                membership_hash: MembershipHash(hash),
                sender,
                iteration,
                chain_key: SenderChainKey(chain),
                signing_key: Ed25519PublicKey(signing),
            }
        })
}

pub fn group_message() -> impl Strategy<Value = GroupMessage<'static>> {
    (
        bytes::<32>(),
        any::<u64>(),
        any::<u32>(),
        proptest::option::of(bytes::<32>()),
        bytes::<16>(),
        body(MAX_SEALED_BODY_LEN),
        bytes::<64>(),
    )
        .prop_map(
            |(group, epoch, iteration, view, salt, ciphertext, signature)| GroupMessage {
                group_id: GroupId(group),
                epoch,
                iteration,
                view: view.map(ViewHash),
                salt: MessageSalt(salt),
                ciphertext,
                signature: Ed25519Signature(signature),
            },
        )
}

pub fn group_content() -> impl Strategy<Value = GroupContent<'static>> {
    (
        content_type(),
        bytes::<16>(),
        any::<u64>(),
        bytes::<32>(),
        body(MAX_CONTENT_BODY_LEN),
    )
        .prop_map(
            |(content_type, id, sent_at_ms, franking_key, body)| GroupContent {
                content_type,
                message_id: ClientMessageId(id),
                sent_at_ms,
                franking_key: FrankingKey(franking_key),
                body: SecretBytes::from(body.as_bytes().to_vec()),
            },
        )
}

pub fn group_action() -> impl Strategy<Value = GroupAction<'static>> {
    prop_oneof![
        list::<_, MAX_CHANGE_MEMBERS>(group_member)
            .prop_map(|members| GroupAction::Add { members }),
        list::<_, MAX_CHANGE_MEMBERS>(address).prop_map(|members| GroupAction::Remove { members }),
        Just(GroupAction::Leave),
        bytes::<32>().prop_map(|consent| GroupAction::ShareConsent {
            consent: GroupConsent(consent)
        }),
    ]
}

pub fn group_control() -> impl Strategy<Value = GroupControl<'static>> {
    (
        bytes::<32>(),
        any::<u64>(),
        bytes::<32>(),
        address(),
        group_action(),
        bytes::<32>(),
        bytes::<64>(),
    )
        .prop_map(
            |(group, epoch, hash, actor, action, new_hash, signature)| GroupControl {
                group_id: GroupId(group),
                epoch,
                membership_hash: MembershipHash(hash),
                actor,
                action,
                new_membership_hash: MembershipHash(new_hash),
                signature: Ed25519Signature(signature),
            },
        )
}

pub fn group_welcome() -> impl Strategy<Value = GroupWelcome<'static>> {
    (
        bytes::<32>(),
        any::<u64>(),
        bytes::<32>(),
        (1..=fuin_wire::group::MAX_WELCOME_PAGES).prop_flat_map(|count| (0..count, Just(count))),
        list::<_, MAX_WELCOME_MEMBERS>(listed_group_member),
        proptest::option::of(bytes::<32>()),
    )
        .prop_map(
            |(group, epoch, hash, (page, page_count), members, consent)| GroupWelcome {
                group_id: GroupId(group),
                epoch,
                membership_hash: MembershipHash(hash),
                page,
                page_count,
                members,
                consent: consent.map(GroupConsent),
            },
        )
}

pub fn group_send() -> impl Strategy<Value = GroupSend<'static>> {
    (
        list::<_, MAX_GROUP_MEMBERS>(listed_address),
        bytes::<32>(),
        body(MAX_SEALED_BODY_LEN),
    )
        .prop_map(|(recipients, commitment, sealed_body)| GroupSend {
            recipients,
            franking_commitment: FrankingCommitment(commitment),
            sealed_body,
        })
}

pub fn frame() -> impl Strategy<Value = Frame<'static>> {
    prop_oneof![
        identity().prop_map(Frame::Identity),
        bundle().prop_map(Frame::PrekeyBundle),
        envelope().prop_map(Frame::Envelope),
        delivered().prop_map(Frame::Delivered),
        bytes::<32>().prop_map(|id| Frame::BlobId(BlobId(id))),
        sealed_report().prop_map(Frame::SealedReport),
        ratchet_message().prop_map(Frame::RatchetMessage),
        prekey_message().prop_map(Frame::PrekeyMessage),
        message_content().prop_map(Frame::MessageContent),
        device_registration().prop_map(Frame::DeviceRegistration),
        challenge_request().prop_map(Frame::ChallengeRequest),
        auth_challenge().prop_map(Frame::AuthChallenge),
        challenge_response().prop_map(Frame::ChallengeResponse),
        auth_token().prop_map(Frame::AuthToken),
        prekey_upload().prop_map(Frame::PrekeyUpload),
        prekey_count().prop_map(Frame::PrekeyCount),
        bundle_set().prop_map(Frame::BundleSet),
        send_batch().prop_map(Frame::SendBatch),
        send_accepted().prop_map(Frame::SendAccepted),
        mailbox_batch().prop_map(Frame::MailboxBatch),
        acknowledgement().prop_map(Frame::Acknowledgement),
        blob_receipt().prop_map(Frame::BlobReceipt),
        report_accepted().prop_map(Frame::ReportAccepted),
        report_batch().prop_map(Frame::ReportBatch),
        report_acknowledgement().prop_map(Frame::ReportAcknowledgement),
        device_list().prop_map(Frame::DeviceList),
        sender_key_distribution().prop_map(Frame::SenderKeyDistribution),
        group_message().prop_map(Frame::GroupMessage),
        group_content().prop_map(Frame::GroupContent),
        group_control().prop_map(Frame::GroupControl),
        group_welcome().prop_map(Frame::GroupWelcome),
        group_send().prop_map(Frame::GroupSend),
    ]
}

pub fn media_type() -> impl Strategy<Value = attachment::MediaType<'static>> {
    prop_oneof![
        Just("image/jpeg".to_owned()),
        "[a-z0-9][a-z0-9!#$&^_.+-]{0,20}/[a-z0-9][a-z0-9!#$&^_.+-]{0,20}",
        // At the length limit.
        Just(format!(
            "a/{}",
            "b".repeat(attachment::MAX_MEDIA_TYPE_LEN - 2)
        )),
    ]
    .prop_map(|text| attachment::MediaType::new(text).expect("strategy yields valid media types"))
}

pub fn file_name() -> impl Strategy<Value = attachment::FileName<'static>> {
    prop_oneof![
        "[^/\\\\\\p{Cc}]{1,40}",
        Just("x".repeat(attachment::MAX_FILE_NAME_LEN)),
    ]
    .prop_filter("a valid name", |name: &String| {
        name.len() <= attachment::MAX_FILE_NAME_LEN
            && name != "."
            && name != ".."
            && fuin_wire::text::first_hidden(name).is_none()
    })
    .prop_map(|name| attachment::FileName::new(name).expect("strategy yields valid names"))
}

pub fn sealed_object_ref() -> impl Strategy<Value = attachment::SealedObjectRef> {
    (bytes::<16>(), bytes::<32>(), bytes::<32>(), any::<u64>()).prop_map(
        |(object_id, key, blob_id, sealed_len)| attachment::SealedObjectRef {
            object_id: attachment::ObjectId(object_id),
            key: attachment::AttachmentKey(key),
            blob_id: BlobId(blob_id),
            sealed_len,
        },
    )
}

pub fn attachment_reference() -> impl Strategy<Value = attachment::AttachmentReference<'static>> {
    (
        address(),
        bytes::<32>(),
        media_type(),
        sealed_object_ref(),
        proptest::option::of((media_type(), sealed_object_ref())),
        proptest::option::of(file_name()),
    )
        .prop_map(
            |(owner, conversation, content_type, object, thumbnail, file_name)| {
                attachment::AttachmentReference {
                    owner,
                    conversation: attachment::ConversationDigest(conversation),
                    content_type,
                    object,
                    thumbnail: thumbnail.map(|(content_type, object)| {
                        attachment::ThumbnailReference {
                            content_type,
                            object,
                        }
                    }),
                    file_name,
                }
            },
        )
}
