//! proptest strategies for valid wire values, shared by the property tests.
#![allow(dead_code)]

use fuin_wire::limits::{MAX_CONTENT_BODY_LEN, MAX_SEALED_BODY_LEN, MAX_USER_ID_LEN};
use fuin_wire::*;
use proptest::collection::vec;
use proptest::prelude::*;

pub fn user_id() -> impl Strategy<Value = UserId<'static>> {
    prop_oneof![
        "[a-zA-Z0-9._@+-]{1,64}",
        // Up to 16 characters of up to 4 bytes each stays within 64 bytes.
        "[\\p{L}\\p{N}\\p{So} ]{1,16}",
    ]
    .prop_filter("within the byte limit", |id: &String| {
        id.len() <= MAX_USER_ID_LEN
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

pub fn bundle() -> impl Strategy<Value = PrekeyBundle<'static>> {
    (
        address(),
        identity(),
        any::<u32>(),
        bytes::<32>(),
        bytes::<64>(),
        proptest::option::of((any::<u32>(), bytes::<32>())),
    )
        .prop_map(|(address, identity, id, key, sig, one_time)| PrekeyBundle {
            address,
            identity,
            signed_prekey: SignedPrekey {
                id: PrekeyId(id),
                public_key: X25519PublicKey(key),
                signature: Ed25519Signature(sig),
            },
            one_time_prekey: one_time.map(|(id, key)| OneTimePrekey {
                id: PrekeyId(id),
                public_key: X25519PublicKey(key),
            }),
        })
}

pub fn body(max: usize) -> impl Strategy<Value = Opaque<'static>> {
    prop_oneof![
        vec(any::<u8>(), 0..256),
        // Sometimes exactly at the limit, to pin the boundary.
        Just(vec![0x5a; max]),
    ]
    .prop_map(Opaque::from)
}

pub fn envelope() -> impl Strategy<Value = RoutingEnvelope<'static>> {
    (
        address(),
        prop_oneof![Just(ContentKind::Message), Just(ContentKind::PrekeyMessage)],
        bytes::<32>(),
        body(MAX_SEALED_BODY_LEN),
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
    (
        envelope(),
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
        body(MAX_SEALED_BODY_LEN),
    )
        .prop_map(
            |(ratchet_key, previous_chain_length, counter, ciphertext)| RatchetMessage {
                header: RatchetHeader {
                    ratchet_key: X25519PublicKey(ratchet_key),
                    previous_chain_length,
                    counter,
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
        ratchet_message(),
    )
        .prop_map(
            |(initiator, base_key, signed, one_time, message)| PrekeyMessage {
                initiator,
                base_key: X25519PublicKey(base_key),
                signed_prekey_id: PrekeyId(signed),
                one_time_prekey_id: one_time.map(PrekeyId),
                message,
            },
        )
}

pub fn content_type() -> impl Strategy<Value = ContentType> {
    prop_oneof![Just(ContentType::Text), Just(ContentType::Receipt)]
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
                body,
            },
        )
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
    ]
}
