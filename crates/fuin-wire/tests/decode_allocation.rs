//! Decoding hostile input of up to 1 MiB never panics and allocates no more
//! than [`allocation_bound`] of the input's size. This file holds a single
//! test so that the counting allocator sees no other test's allocations.
//!
//! Text and byte strings are borrowed from the input, so the only thing
//! decoding allocates is the storage of a frame's lists (`spec/wire.md`, §6
//! and §7). A frame has at most two lists (a prekey upload's one-time
//! prekeys and one-time KEM prekeys; every other frame at most one), and
//! the decoder keeps at most each list's maximum count of elements, decoding
//! and dropping any further ones. The count the input claims never drives
//! an allocation: it only picks the storage's first capacity, at most 16
//! elements and only when the input has at least as many bytes left as the
//! count; the storage then grows as elements are actually decoded, to fewer
//! than 2 × MAX elements. The counting allocator adds the full new size at
//! each growth, so one list is counted at fewer than 4 × MAX × the element's
//! in-memory size: [`list_bound`], about 490 KiB for the lists of today (a
//! prekey upload's 100 KEM prekeys of 1,252 bytes each), whatever the input.
//! A prekey upload's two lists together stay under it too: with a maximum
//! of 100, each list's capacities double up to 128 at most, so each is
//! counted at fewer than 256 elements' worth (about 330 KB for both).
//!
//! The documented bound, [`allocation_bound`], is 8 × the input's length +
//! 64 KiB. Where elements are small in the input and large in memory, the
//! constant covers them: a group send's 1,000 recipients (3 input bytes and
//! 32 bytes of storage each at least) are counted at most 63.5 KiB in all, so
//! per input byte a list's storage can pass 8 ×, about 25 × on inputs of a
//! kilobyte. Where elements are large (a welcome's members, 131 input bytes
//! each at least, 160 bytes of storage), the 8 × term covers them: storage
//! counted stays under 5 × the input. The test prints the measured worst
//! cases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::alloc::System;
use std::mem::size_of;

use cap::Cap;
use fuin_wire::group::{MAX_CHANGE_MEMBERS, MAX_GROUP_MEMBERS, MAX_WELCOME_MEMBERS};
use fuin_wire::limits::MAX_SEALED_REPORT_LEN;
use fuin_wire::relay::{
    Acknowledgement, AuthChallenge, AuthToken, BearerToken, BlobCapability, BlobReceipt, BundleSet,
    ChallengeRequest, ChallengeResponse, DeviceList, DeviceRegistration, InboxReport, ListedDevice,
    MAX_ACKNOWLEDGED, MAX_ACKNOWLEDGED_REPORTS, MAX_DEVICES_PER_USER, MAX_ENVELOPES_PER_SEND,
    MAX_KEM_PREKEY_UPLOAD, MAX_PREKEY_UPLOAD, MAX_RECORDS_PER_BATCH, MAX_REPORTS_PER_BATCH,
    MailboxBatch, Nonce, PrekeyCount, PrekeyUpload, ReportAccepted, ReportAcknowledgement,
    ReportBatch, ReportId, SendAccepted, SendBatch,
};
use fuin_wire::*;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// xorshift64*: deterministic, dependency-free input generation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// A length spread evenly over orders of magnitude up to 1 MiB.
    fn length(&mut self) -> usize {
        let bits = self.below(21);
        self.below(1 << bits) + 1
    }
}

/// The documented bound on what decoding `len` bytes may allocate.
fn allocation_bound(len: usize) -> usize {
    8 * len + 64 * 1024
}

/// The most the counting allocator can count for one list, whatever the
/// input: fewer than 4 × MAX elements' worth (see the module comment).
fn list_bound() -> usize {
    [
        MAX_PREKEY_UPLOAD * size_of::<OneTimePrekey>(),
        MAX_KEM_PREKEY_UPLOAD * size_of::<KemPrekey>(),
        MAX_DEVICES_PER_USER * size_of::<PrekeyBundle>(),
        MAX_ENVELOPES_PER_SEND * size_of::<RoutingEnvelope>(),
        MAX_ENVELOPES_PER_SEND * size_of::<MessageId>(),
        MAX_RECORDS_PER_BATCH * size_of::<DeliveredRecord>(),
        MAX_ACKNOWLEDGED * size_of::<MessageId>(),
        MAX_REPORTS_PER_BATCH * size_of::<InboxReport>(),
        MAX_ACKNOWLEDGED_REPORTS * size_of::<ReportId>(),
        MAX_DEVICES_PER_USER * size_of::<ListedDevice>(),
        MAX_CHANGE_MEMBERS * size_of::<GroupMember>(),
        MAX_WELCOME_MEMBERS * size_of::<GroupMember>(),
        MAX_GROUP_MEMBERS * size_of::<DeviceAddress>(),
    ]
    .into_iter()
    .max()
    .unwrap()
        * 4
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn valid_frames(rng: &mut Rng) -> Vec<Vec<u8>> {
    let address = DeviceAddress::new(UserId::new("bob").unwrap(), DeviceId(1));
    let envelope = RoutingEnvelope {
        recipient: address.clone(),
        content_kind: ContentKind::Message,
        franking_commitment: FrankingCommitment([1; 32]),
        sealed_body: Opaque::from(rng.bytes(1000)),
    };
    let delivered = DeliveredRecord {
        envelope: envelope.clone(),
        sender: address,
        server_time_ms: 5,
        server_message_id: MessageId([2; 16]),
        franking_stamp: FrankingStamp([3; 32]),
        stamp_key_id: StampKeyId(4),
    };
    let report = SealedReport {
        moderation_key_id: 1,
        ephemeral_key: X25519PublicKey([5; 32]),
        ciphertext: Opaque::from(rng.bytes(1 << 20)),
    };
    let ratchet = RatchetMessage {
        header: RatchetHeader {
            ratchet_key: X25519PublicKey([7; 32]),
            previous_chain_length: 2,
            counter: 300,
            salt: MessageSalt([17; 16]),
        },
        ciphertext: Opaque::from(rng.bytes(1000)),
    };
    let prekey = PrekeyMessage {
        initiator: PublicIdentity {
            signing_key: Ed25519PublicKey([8; 32]),
            agreement_key: X25519PublicKey([9; 32]),
            signature: Ed25519Signature([10; 64]),
        },
        base_key: X25519PublicKey([11; 32]),
        signed_prekey_id: PrekeyId(12),
        one_time_prekey_id: Some(PrekeyId(13)),
        kem: Some(KemEncapsulation {
            kem_prekey_id: PrekeyId(14),
            ciphertext: MlKemCiphertext([15; 1088]),
        }),
        message: ratchet.clone(),
    };
    let content = MessageContent {
        content_type: ContentType::Text,
        message_id: ClientMessageId([14; 16]),
        sequence: 15,
        sent_at_ms: 16,
        conversation: ConversationRef::Direct {
            peer: UserId::new("bob").unwrap(),
        },
        franking_key: FrankingKey([17; 32]),
        body: SecretBytes::from(rng.bytes(1000)),
    };
    let identity = prekey.initiator.clone();
    let bob = envelope.recipient.clone();
    let signed_prekey = SignedPrekey {
        id: PrekeyId(18),
        public_key: X25519PublicKey([19; 32]),
        signature: Ed25519Signature([20; 64]),
    };
    let one_time = |i: u32| OneTimePrekey {
        id: PrekeyId(i),
        public_key: X25519PublicKey([i as u8; 32]),
    };
    let kem_prekey = |i: u32| KemPrekey {
        id: PrekeyId(i),
        public_key: MlKemPublicKey([i as u8; 1184]),
        signature: Ed25519Signature([i as u8; 64]),
    };
    let bundle = |i: u32| PrekeyBundle {
        address: DeviceAddress::new(bob.user.clone(), DeviceId(i)),
        identity: identity.clone(),
        signed_prekey: signed_prekey.clone(),
        one_time_prekey: Some(one_time(i)),
        kem_prekey: Some(kem_prekey(i)),
    };
    // Small bodies, so that a list at its maximum stays small and a mutation
    // of its count or lengths is likely to hit something.
    let small_envelope = |i: u8| RoutingEnvelope {
        sealed_body: Opaque::from(vec![i; usize::from(i % 4)]),
        ..envelope.clone()
    };
    let small_delivered = |i: u8| DeliveredRecord {
        envelope: small_envelope(i),
        ..delivered.clone()
    };
    let message_ids = |n: usize| (0..n).map(|i| MessageId([i as u8; 16])).collect::<Vec<_>>();
    let mut frames = vec![
        envelope.to_bytes().unwrap(),
        delivered.to_bytes().unwrap(),
        report.to_bytes().unwrap(),
        BlobId([6; 32]).to_bytes().unwrap(),
        ratchet.to_bytes().unwrap(),
        prekey.to_bytes().unwrap(),
        content.to_bytes().unwrap(),
        DeviceRegistration {
            address: bob.clone(),
            identity: identity.clone(),
        }
        .to_bytes()
        .unwrap(),
        ChallengeRequest {
            address: bob.clone(),
        }
        .to_bytes()
        .unwrap(),
        AuthChallenge {
            nonce: Nonce([21; 32]),
            expires_at_ms: 22,
        }
        .to_bytes()
        .unwrap(),
        ChallengeResponse {
            address: bob.clone(),
            nonce: Nonce([21; 32]),
            signature: Ed25519Signature([23; 64]),
        }
        .to_bytes()
        .unwrap(),
        AuthToken {
            token: BearerToken([24; 32]),
            expires_at_ms: 25,
        }
        .to_bytes()
        .unwrap(),
        PrekeyCount {
            one_time_prekeys: 26,
            low: true,
            one_time_kem_prekeys: 27,
            kem_low: false,
        }
        .to_bytes()
        .unwrap(),
        BlobReceipt {
            blob_id: BlobId([28; 32]),
            capability: BlobCapability([29; 32]),
            size: 30,
            expires_at_ms: 31,
        }
        .to_bytes()
        .unwrap(),
        ReportAccepted {
            report_id: ReportId([32; 16]),
            received_at_ms: 33,
        }
        .to_bytes()
        .unwrap(),
    ];
    let small_report = |i: u8| InboxReport {
        report_id: ReportId([i; 16]),
        reporter: bob.clone(),
        received_at_ms: 34,
        report: SealedReport {
            ciphertext: Opaque::from(vec![i; usize::from(i % 4)]),
            ..report.clone()
        },
    };
    let member = |i: usize| GroupMember {
        address: DeviceAddress::new(bob.user.clone(), DeviceId(i as u32)),
        identity: identity.clone(),
    };
    let control = |action| GroupControl {
        group_id: GroupId([35; 32]),
        epoch: 36,
        membership_hash: MembershipHash([37; 32]),
        actor: bob.clone(),
        action,
        new_membership_hash: MembershipHash([38; 32]),
        signature: Ed25519Signature([39; 64]),
    };
    frames.extend([
        SenderKeyDistribution {
            group_id: GroupId([40; 32]),
            epoch: 41,
            membership_hash: MembershipHash([42; 32]),
            sender: bob.clone(),
            iteration: 43,
            chain_key: SenderChainKey([44; 32]),
            signing_key: Ed25519PublicKey([45; 32]),
        }
        .to_bytes()
        .unwrap(),
        GroupMessage {
            group_id: GroupId([46; 32]),
            epoch: 47,
            iteration: 48,
            view: Some(ViewHash([49; 32])),
            salt: MessageSalt([50; 16]),
            ciphertext: Opaque::from(rng.bytes(1000)),
            signature: Ed25519Signature([50; 64]),
        }
        .to_bytes()
        .unwrap(),
        GroupContent {
            content_type: ContentType::GroupControl,
            message_id: ClientMessageId([51; 16]),
            sent_at_ms: 52,
            franking_key: FrankingKey([53; 32]),
            body: SecretBytes::from(rng.bytes(1000)),
        }
        .to_bytes()
        .unwrap(),
        control(GroupAction::Leave).to_bytes().unwrap(),
        control(GroupAction::ShareConsent {
            consent: GroupConsent([54; 32]),
        })
        .to_bytes()
        .unwrap(),
    ]);
    // Each list empty, with a few elements, and at its maximum.
    for n in [0, 3, usize::MAX] {
        let count = |max: usize| n.min(max);
        frames.extend([
            control(GroupAction::Add {
                members: (0..count(MAX_CHANGE_MEMBERS))
                    .map(member)
                    .collect::<Vec<_>>()
                    .into(),
            })
            .to_bytes()
            .unwrap(),
            control(GroupAction::Remove {
                members: (0..count(MAX_CHANGE_MEMBERS))
                    .map(|i| member(i).address)
                    .collect::<Vec<_>>()
                    .into(),
            })
            .to_bytes()
            .unwrap(),
            GroupWelcome {
                group_id: GroupId([55; 32]),
                epoch: 56,
                membership_hash: MembershipHash([57; 32]),
                page: 0,
                page_count: 1,
                members: (0..count(MAX_WELCOME_MEMBERS))
                    .map(member)
                    .collect::<Vec<_>>()
                    .into(),
                consent: None,
            }
            .to_bytes()
            .unwrap(),
            GroupSend {
                recipients: (0..count(MAX_GROUP_MEMBERS))
                    .map(|i| member(i).address)
                    .collect::<Vec<_>>()
                    .into(),
                franking_commitment: FrankingCommitment([58; 32]),
                sealed_body: Opaque::from(vec![59; 3]),
            }
            .to_bytes()
            .unwrap(),
            PrekeyUpload {
                signed_prekey: Some(signed_prekey.clone()),
                one_time_prekeys: (0..count(MAX_PREKEY_UPLOAD) as u32)
                    .map(one_time)
                    .collect::<Vec<_>>()
                    .into(),
                last_resort_kem_prekey: Some(kem_prekey(0)),
                one_time_kem_prekeys: (0..count(MAX_KEM_PREKEY_UPLOAD) as u32)
                    .map(kem_prekey)
                    .collect::<Vec<_>>()
                    .into(),
            }
            .to_bytes()
            .unwrap(),
            BundleSet {
                bundles: (0..count(MAX_DEVICES_PER_USER) as u32)
                    .map(bundle)
                    .collect::<Vec<_>>()
                    .into(),
            }
            .to_bytes()
            .unwrap(),
            SendBatch {
                envelopes: (0..count(MAX_ENVELOPES_PER_SEND) as u8)
                    .map(small_envelope)
                    .collect::<Vec<_>>()
                    .into(),
            }
            .to_bytes()
            .unwrap(),
            SendAccepted {
                server_time_ms: 27,
                message_ids: message_ids(count(MAX_ENVELOPES_PER_SEND)).into(),
            }
            .to_bytes()
            .unwrap(),
            MailboxBatch {
                records: (0..count(MAX_RECORDS_PER_BATCH) as u8)
                    .map(small_delivered)
                    .collect::<Vec<_>>()
                    .into(),
                prekeys_low: false,
            }
            .to_bytes()
            .unwrap(),
            Acknowledgement {
                message_ids: message_ids(count(MAX_ACKNOWLEDGED)).into(),
            }
            .to_bytes()
            .unwrap(),
            DeviceList {
                devices: (0..count(MAX_DEVICES_PER_USER) as u32)
                    .map(|device| ListedDevice {
                        device: DeviceId(device),
                        identity: PublicIdentity {
                            signing_key: Ed25519PublicKey([4; 32]),
                            agreement_key: X25519PublicKey([5; 32]),
                            signature: Ed25519Signature([6; 64]),
                        },
                    })
                    .collect::<Vec<_>>()
                    .into(),
            }
            .to_bytes()
            .unwrap(),
            ReportBatch {
                reports: (0..count(MAX_REPORTS_PER_BATCH) as u8)
                    .map(small_report)
                    .collect::<Vec<_>>()
                    .into(),
            }
            .to_bytes()
            .unwrap(),
            ReportAcknowledgement {
                report_ids: (0..count(MAX_ACKNOWLEDGED_REPORTS))
                    .map(|i| ReportId([i as u8; 16]))
                    .collect::<Vec<_>>()
                    .into(),
            }
            .to_bytes()
            .unwrap(),
        ]);
    }
    frames
}

/// Frames whose list count claims more elements than they hold or than the
/// list's maximum, for each of the fourteen lists.
fn list_claims() -> Vec<Vec<u8>> {
    let bob = DeviceAddress::new(UserId::new("bob").unwrap(), DeviceId(1));
    let envelope = RoutingEnvelope {
        recipient: bob.clone(),
        content_kind: ContentKind::Message,
        franking_commitment: FrankingCommitment([1; 32]),
        sealed_body: Opaque::borrowed(b""),
    };
    let delivered = DeliveredRecord {
        envelope: envelope.clone(),
        sender: bob.clone(),
        server_time_ms: 0,
        server_message_id: MessageId([2; 16]),
        franking_stamp: FrankingStamp([3; 32]),
        stamp_key_id: StampKeyId(0),
    };
    let bundle = PrekeyBundle {
        address: bob,
        identity: PublicIdentity {
            signing_key: Ed25519PublicKey([4; 32]),
            agreement_key: X25519PublicKey([5; 32]),
            signature: Ed25519Signature([6; 64]),
        },
        signed_prekey: SignedPrekey {
            id: PrekeyId(0),
            public_key: X25519PublicKey([7; 32]),
            signature: Ed25519Signature([8; 64]),
        },
        one_time_prekey: None,
        kem_prekey: Some(KemPrekey {
            id: PrekeyId(9),
            public_key: MlKemPublicKey([9; 1184]),
            signature: Ed25519Signature([9; 64]),
        }),
    };
    // A body's own encoding is the frame's minus version and tag.
    let element = |frame: Vec<u8>| frame[2..].to_vec();
    // A report's: a batch of one minus version, tag and count.
    let inbox_report = ReportBatch {
        reports: vec![InboxReport {
            report_id: ReportId([10; 16]),
            reporter: DeviceAddress::new(UserId::new("bob").unwrap(), DeviceId(1)),
            received_at_ms: 0,
            report: SealedReport {
                moderation_key_id: 0,
                ephemeral_key: X25519PublicKey([11; 32]),
                ciphertext: Opaque::borrowed(b""),
            },
        }]
        .into(),
    }
    .to_bytes()
    .unwrap()[3..]
        .to_vec();
    let one_time = vec![0; 1 + 32];
    // A KEM prekey: id 0 (one byte), the key, the signature.
    let kem = vec![0; 1 + 1184 + 64];
    let address = vec![3, b'b', b'o', b'b', 1];
    let control_head = |action: u8| {
        [
            vec![0; 32],
            vec![1],
            vec![0; 32],
            address.clone(),
            vec![action],
        ]
        .concat()
    };
    let lists = [
        // (kind, bytes before the count, one element, bytes after the list)
        // An upload's two lists: the one-time prekeys (then an absent
        // last-resort KEM prekey and an empty KEM list), and the KEM prekeys
        // (after an absent signed prekey, no one-time prekey and an absent
        // last-resort KEM prekey).
        (FrameKind::PrekeyUpload, vec![0], one_time, vec![0, 0]),
        (FrameKind::PrekeyUpload, vec![0, 0, 0], kem, vec![]),
        (
            FrameKind::BundleSet,
            vec![],
            element(bundle.to_bytes().unwrap()),
            vec![],
        ),
        (
            FrameKind::SendBatch,
            vec![],
            element(envelope.to_bytes().unwrap()),
            vec![],
        ),
        (FrameKind::SendAccepted, vec![5], vec![9; 16], vec![]),
        (
            FrameKind::MailboxBatch,
            vec![],
            element(delivered.to_bytes().unwrap()),
            vec![1],
        ),
        (FrameKind::Acknowledgement, vec![], vec![9; 16], vec![]),
        (FrameKind::ReportBatch, vec![], inbox_report, vec![]),
        // A listed device: device id 0 (one byte), then the 128 identity bytes.
        (FrameKind::DeviceList, vec![], vec![0; 1 + 128], vec![]),
        (
            FrameKind::ReportAcknowledgement,
            vec![],
            vec![9; 16],
            vec![],
        ),
        // Group frames: a member is an address ("bob", device 1) and the 128
        // identity bytes; a control's list follows group id, epoch,
        // membership hash, actor and the action index, and the new hash and
        // signature follow the list.
        (
            FrameKind::GroupControl,
            control_head(0),
            [address.clone(), vec![0; 128]].concat(),
            vec![0; 32 + 64],
        ),
        (
            FrameKind::GroupControl,
            control_head(1),
            address.clone(),
            vec![0; 32 + 64],
        ),
        (
            FrameKind::GroupWelcome,
            [vec![0; 32], vec![1], vec![0; 32], vec![0, 1]].concat(),
            [address.clone(), vec![0; 128]].concat(),
            vec![0],
        ),
        (
            FrameKind::GroupSend,
            vec![],
            address,
            [vec![0; 32], vec![3, 1, 2, 3]].concat(),
        ),
    ];
    let mut inputs = Vec::new();
    for (kind, before, element, after) in lists {
        let frame = |count: u64, elements: usize, partial: bool, tail: bool| {
            let mut bytes = vec![WIRE_VERSION, kind.tag() as u8];
            bytes.extend_from_slice(&before);
            varint(&mut bytes, count);
            for _ in 0..elements {
                bytes.extend_from_slice(&element);
            }
            if partial {
                bytes.extend_from_slice(&element[..element.len() / 2]);
            }
            if tail {
                bytes.extend_from_slice(&after);
            }
            bytes
        };
        for count in [16, u64::from(u32::MAX), u64::MAX >> 1, u64::MAX] {
            // The claim with nothing, a few bytes, or a few elements behind it.
            inputs.push(frame(count, 0, false, false));
            inputs.push(frame(count, 0, true, false));
            inputs.push(frame(count, 3, true, true));
            // As many whole elements as fit in 64 KiB, then the end.
            inputs.push(frame(count, (64 << 10) / element.len(), false, true));
        }
        // Just past each growth of the storage: the most allocated per
        // input byte, as an honest count or under a claim of 2^32 - 1.
        for elements in [
            1, 2, 4, 5, 8, 9, 16, 17, 32, 33, 64, 65, 100, 128, 129, 256, 257,
        ] {
            inputs.push(frame(elements as u64, elements, false, true));
            inputs.push(frame(u64::from(u32::MAX), elements, false, false));
        }
        // Complete lists far over their maximum: decoded to the end, at
        // most the maximum kept, then refused.
        // (Inputs stay within 1 MiB: 1,000 KEM prekeys or bundles would not.)
        let within_1_mib = (1 << 20) / element.len();
        for elements in [1_000.min(within_1_mib), within_1_mib] {
            inputs.push(frame(elements as u64, elements, false, true));
        }
    }
    inputs
}

fn mutate(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    match rng.below(4) {
        0 => {
            for _ in 0..=rng.below(8) {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
        }
        1 => bytes.truncate(rng.below(bytes.len())),
        2 => {
            let len = rng.below(64) + 1;
            bytes.extend(rng.bytes(len));
        }
        _ => {
            let at = rng.below(bytes.len());
            let len = rng.below(bytes.len() - at) + 1;
            let replacement = rng.bytes(len);
            bytes[at..at + len].copy_from_slice(&replacement);
        }
    }
    bytes
}

#[test]
fn hostile_input_never_panics_nor_allocates_beyond_the_bound() {
    let mut rng = Rng(0x5eed_f00d_cafe_d00d);
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for _ in 0..300 {
        let len = rng.length();
        inputs.push(rng.bytes(len));
    }
    for _ in 0..300 {
        // Right version and a known tag, random body.
        let len = rng.length();
        let kind = FrameKind::ALL[rng.below(FrameKind::ALL.len())];
        let mut bytes = vec![WIRE_VERSION, kind.tag() as u8];
        bytes.extend(rng.bytes(len));
        inputs.push(bytes);
    }
    let frames = valid_frames(&mut rng);
    for _ in 0..600 {
        let frame = frames[rng.below(frames.len())].clone();
        inputs.push(mutate(&mut rng, frame));
    }
    // A report frame whose length field claims the maximum with no bytes behind it.
    let mut claim = vec![WIRE_VERSION, FrameKind::SealedReport.tag() as u8, 1];
    claim.extend_from_slice(&[5; 32]);
    let mut len = MAX_SEALED_REPORT_LEN as u32;
    while len >= 0x80 {
        claim.push(len as u8 | 0x80);
        len >>= 7;
    }
    claim.push(len as u8);
    inputs.push(claim);
    let claims = list_claims();
    for _ in 0..300 {
        let claim = claims[rng.below(claims.len())].clone();
        inputs.push(mutate(&mut rng, claim));
    }
    inputs.extend(claims);

    let list_bound = list_bound();
    let mut decoded = 0;
    let mut worst_ratio = 0.0f64;
    let mut worst_allocation = 0;
    let mut worst_ratio_from_1k = 0.0f64;
    for input in &inputs {
        let before = ALLOCATOR.total_allocated();
        let result = Frame::decode(input);
        let allocated = ALLOCATOR.total_allocated() - before;
        decoded += usize::from(result.is_ok());
        drop(result);
        assert!(
            allocated <= allocation_bound(input.len()),
            "decoding {} bytes allocated {allocated} bytes",
            input.len()
        );
        assert!(
            allocated < list_bound,
            "decoding {} bytes allocated {allocated} bytes, more than any list may",
            input.len()
        );
        worst_ratio = worst_ratio.max(allocated as f64 / input.len().max(1) as f64);
        worst_allocation = worst_allocation.max(allocated);
        if input.len() >= 1024 {
            worst_ratio_from_1k = worst_ratio_from_1k.max(allocated as f64 / input.len() as f64);
        }
    }
    println!(
        "{} inputs up to {} bytes, {decoded} decoded, worst allocation/input ratio \
         {worst_ratio:.2} ({worst_ratio_from_1k:.2} from 1 KiB of input), largest allocation \
         {worst_allocation} bytes (list bound {list_bound})",
        inputs.len(),
        inputs.iter().map(Vec::len).max().unwrap()
    );
    // The mutations keep some frames valid, so the decoder's success path is
    // measured too, not only its early rejections.
    assert!(decoded > 0);
}
