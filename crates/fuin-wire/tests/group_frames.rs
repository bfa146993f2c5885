//! Properties of the group frames (tags 26-31) beyond their encoding: the
//! secrets they carry never reach a log, the largest group content still
//! fits, sealed, inside a routing envelope, a welcome page fits in one
//! message body, and a fan-out hands every recipient the same envelope.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fuin_wire::group::{MAX_GROUP_MEMBERS, MAX_WELCOME_MEMBERS};
use fuin_wire::limits::{MAX_CONTENT_BODY_LEN, MAX_SEALED_BODY_LEN, MAX_USER_ID_LEN};
use fuin_wire::*;

/// A key whose bytes are all distinct, so any run of them is recognisable.
const KEY: [u8; 32] = {
    let mut key = [0; 32];
    let mut i = 0;
    while i < 32 {
        key[i] = 0x3c ^ (i as u8).wrapping_mul(13);
        i += 1;
    }
    key
};

fn widest(i: usize) -> DeviceAddress<'static> {
    let mut user = format!("{i:04}");
    user.push_str(&"w".repeat(MAX_USER_ID_LEN - user.len()));
    DeviceAddress::new(UserId::new(user).unwrap(), DeviceId(u32::MAX))
}

#[test]
fn debug_of_group_frames_never_shows_a_chain_key_or_consent() {
    let distribution = SenderKeyDistribution {
        group_id: GroupId([1; 32]),
        epoch: 2,
        membership_hash: MembershipHash([3; 32]),
        sender: widest(0),
        iteration: 0,
        chain_key: SenderChainKey(KEY),
        signing_key: Ed25519PublicKey([4; 32]),
    };
    let welcome = GroupWelcome {
        group_id: GroupId([1; 32]),
        epoch: 2,
        membership_hash: MembershipHash([3; 32]),
        page: 0,
        page_count: 1,
        members: BoundedVec::default(),
        consent: Some(GroupConsent(KEY)),
    };
    let control = GroupControl {
        group_id: GroupId([1; 32]),
        epoch: 2,
        membership_hash: MembershipHash([3; 32]),
        actor: widest(0),
        action: GroupAction::ShareConsent {
            consent: GroupConsent(KEY),
        },
        new_membership_hash: MembershipHash([5; 32]),
        signature: Ed25519Signature([6; 64]),
    };
    for frame in [
        Frame::SenderKeyDistribution(distribution),
        Frame::GroupWelcome(welcome),
        Frame::GroupControl(control),
    ] {
        let bytes = frame.encode().unwrap();
        let decoded = Frame::decode(&bytes).unwrap();
        for shown in [format!("{frame:?}"), format!("{decoded:#?}")] {
            assert!(shown.contains("(<redacted>)"), "{shown}");
            let lower = shown.to_lowercase();
            for window in KEY.windows(4) {
                assert!(!lower.contains(&hex::encode(window)), "{shown}");
            }
            let numbers = format!("{:?}", &KEY[..4]);
            assert!(!shown.contains(numbers.trim_end_matches(']')), "{shown}");
        }
        // The public fields stay visible.
        assert!(format!("{frame:?}").contains(&hex::encode([3u8; 32])));
    }
}

#[test]
fn the_largest_group_content_fits_sealed_inside_an_envelope() {
    let plaintext = GroupContent {
        content_type: ContentType::Text,
        message_id: ClientMessageId([1; 16]),
        sent_at_ms: u64::MAX,
        franking_key: FrankingKey([2; 32]),
        body: SecretBytes::from(vec![0xa5; MAX_CONTENT_BODY_LEN]),
    }
    .to_bytes()
    .unwrap();
    let message = GroupMessage {
        group_id: GroupId([3; 32]),
        epoch: u64::MAX,
        iteration: u32::MAX,
        view: Some(ViewHash([4; 32])),
        salt: MessageSalt([5; 16]),
        // Key commitment and GCM tag around the plaintext.
        ciphertext: Opaque::from(vec![0x5a; 32 + plaintext.len() + 16]),
        signature: Ed25519Signature([5; 64]),
    };
    let sealed = message.to_bytes().unwrap();
    assert_eq!(plaintext.len(), MAX_CONTENT_BODY_LEN + 64);
    assert_eq!(sealed.len(), 63_765);
    assert_eq!(MAX_SEALED_BODY_LEN - sealed.len(), 1771);
    let envelope = RoutingEnvelope {
        recipient: widest(1),
        content_kind: ContentKind::GroupMessage,
        franking_commitment: FrankingCommitment([6; 32]),
        sealed_body: Opaque::from(sealed.clone()),
    };
    let bytes = envelope.to_bytes().unwrap();
    let routed = RoutingEnvelope::from_bytes(&bytes).unwrap();
    assert_eq!(routed.sealed_body.as_bytes(), sealed.as_slice());
}

#[test]
fn a_full_welcome_page_fits_in_one_message_body() {
    let members: Vec<GroupMember<'static>> = (0..MAX_WELCOME_MEMBERS)
        .map(|i| GroupMember {
            address: widest(i),
            identity: PublicIdentity {
                signing_key: Ed25519PublicKey([7; 32]),
                agreement_key: X25519PublicKey([8; 32]),
                signature: Ed25519Signature([9; 64]),
            },
        })
        .collect();
    let page = GroupWelcome {
        group_id: GroupId([1; 32]),
        epoch: u64::MAX,
        membership_hash: MembershipHash([2; 32]),
        // The largest page number and count the codec takes.
        page: fuin_wire::group::MAX_WELCOME_PAGES - 1,
        page_count: fuin_wire::group::MAX_WELCOME_PAGES,
        members: members.into(),
        consent: Some(GroupConsent([3; 32])),
    };
    let bytes = page.to_bytes().unwrap();
    assert_eq!(bytes.len(), 50_801);
    assert!(bytes.len() <= MAX_CONTENT_BODY_LEN);
    // A thousand members take four pages.
    assert_eq!(MAX_GROUP_MEMBERS.div_ceil(MAX_WELCOME_MEMBERS), 4);
}

#[test]
fn a_fan_out_to_the_most_recipients_stays_far_below_the_frame_limit() {
    let send = GroupSend {
        recipients: (0..MAX_GROUP_MEMBERS)
            .map(widest)
            .collect::<Vec<_>>()
            .into(),
        franking_commitment: FrankingCommitment([1; 32]),
        sealed_body: Opaque::from(vec![0; MAX_SEALED_BODY_LEN]),
    };
    let bytes = send.to_bytes().unwrap();
    assert_eq!(bytes.len(), 2 + 135_573);
    let decoded = GroupSend::from_bytes(&bytes).unwrap();
    for recipient in decoded.recipients.as_slice() {
        let envelope = decoded.envelope_for(recipient);
        assert_eq!(envelope.content_kind, ContentKind::GroupMessage);
        assert!(envelope.sealed_body.is_borrowed());
    }
}
