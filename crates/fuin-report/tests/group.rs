//! Reports of group messages (`spec/report.md` §12), with real group states
//! from fuin-seal and the relay crate's own stamping: a genuine report
//! verifies; forged content, a copy sent to another member, a forged or
//! substituted chain signature and a message of another group are each
//! rejected with their own reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{CURRENT_KEY, OPENED_AT, RECEIVED_AT, SENT_AT, World, address};
use fuin_relay::franking::StampKeys;
use fuin_report::{
    AuditLog, GroupReportBuilder, GroupReportContent, GroupReportedMessage, Rejection,
    ReportedMessage, Verdict, VerifiedReport, seal_group_content,
};
use fuin_seal::DeviceIdentity;
use fuin_seal::group::{GroupOpened, GroupState};
use fuin_wire::{
    ContentType, DeliveredRecord, DeviceAddress, FrankingStamp, GroupMember, MessageId, Opaque,
    StampKeyId,
};
use rand_core::Rng;

/// Three members in one group: alice sends, bob and carol receive.
struct Group {
    world: World,
    alice: (DeviceAddress<'static>, GroupState),
    bob: (DeviceAddress<'static>, DeviceIdentity, GroupState),
    carol: (DeviceAddress<'static>, GroupState),
    /// The signing key of bob's own chain.
    bob_chain_key: fuin_wire::Ed25519PublicKey,
}

/// One group message as each recipient received it.
struct Sent {
    bob: (DeliveredRecord<'static>, GroupOpened),
    carol: (DeliveredRecord<'static>, GroupOpened),
}

fn reported(
    record: &DeliveredRecord<'static>,
    opened: &GroupOpened,
) -> GroupReportedMessage<'static> {
    GroupReportedMessage {
        message: ReportedMessage::from_opening(
            &opened.franking,
            opened.content.message_id,
            opened.content.content_type,
            opened.content.body.as_bytes(),
        ),
        sealed_body: record.envelope.sealed_body.clone(),
        membership_hash: opened.membership_hash,
        chain_signing_key: opened.sender_signing_key,
    }
}

impl Group {
    fn new(seed: u64) -> Self {
        let mut world = World::new(seed);
        let ids: Vec<_> = (0..3)
            .map(|_| DeviceIdentity::generate(&mut world.rng))
            .collect();
        let (a, b, c) = (address("alice", 1), address("bob", 1), address("carol", 1));
        let member = |address: &DeviceAddress<'static>, id: &DeviceIdentity| GroupMember {
            address: address.clone(),
            identity: id.public().clone(),
        };
        let (alice, created) = GroupState::create(
            &mut world.rng,
            a.clone(),
            ids[0].public().clone(),
            vec![member(&b, &ids[1]), member(&c, &ids[2])],
        )
        .unwrap();
        let mut join = |address: &DeviceAddress<'static>, id: &DeviceIdentity| {
            let (mut state, own) = GroupState::join(
                &mut world.rng,
                address.clone(),
                id.public().clone(),
                (&a, ids[0].public()),
                &created.welcome,
            )
            .unwrap();
            state
                .receive_distribution((&a, ids[0].public()), &created.distribution)
                .unwrap();
            (state, own.signing_key)
        };
        let (bob, bob_chain_key) = join(&b, &ids[1]);
        let (carol, _) = join(&c, &ids[2]);
        let bob_identity = ids.into_iter().nth(1).unwrap();
        Self {
            world,
            alice: (a, alice),
            bob: (b, bob_identity, bob),
            carol: (c, carol),
            bob_chain_key,
        }
    }

    /// The relay's delivery of `sealed` to `to`, stamped with its own code.
    fn deliver(
        &mut self,
        sealed: &fuin_seal::group::GroupSealed,
        to: &DeviceAddress<'static>,
    ) -> DeliveredRecord<'static> {
        let mut id = [0u8; 16];
        self.world.rng.fill_bytes(&mut id);
        let mut record = DeliveredRecord {
            envelope: sealed.envelope_for(to),
            sender: self.alice.0.clone(),
            server_time_ms: SENT_AT + 5,
            server_message_id: MessageId(id),
            franking_stamp: FrankingStamp([0; 32]),
            stamp_key_id: StampKeyId(CURRENT_KEY.0),
        };
        StampKeys::new(StampKeyId(CURRENT_KEY.0), CURRENT_KEY.1).stamp(&mut record);
        record
    }

    fn send(&mut self, body: &[u8]) -> Sent {
        let sealed = self
            .alice
            .1
            .seal(&mut self.world.rng, ContentType::Text, body, SENT_AT)
            .unwrap();
        let (bob, carol) = (self.bob.0.clone(), self.carol.0.clone());
        let to_bob = self.deliver(&sealed, &bob);
        let to_carol = self.deliver(&sealed, &carol);
        let opened_bob = self.bob.2.open(&to_bob, SENT_AT + 10).unwrap();
        let opened_carol = self.carol.1.open(&to_carol, SENT_AT + 10).unwrap();
        assert_eq!(opened_bob.content.body.as_bytes(), body);
        Sent {
            bob: (to_bob, opened_bob),
            carol: (to_carol, opened_carol),
        }
    }

    fn content(&self, messages: Vec<GroupReportedMessage<'static>>) -> GroupReportContent<'static> {
        GroupReportContent {
            reporter: self.bob.0.clone(),
            reporter_identity: self.bob.1.public().clone(),
            group_id: *self.alice.1.group_id(),
            reason: "threats".into(),
            created_at_ms: RECEIVED_AT - 1_000,
            messages,
        }
    }

    /// Bob submits `content` (sealed by hand, as any reporter could) and
    /// moderation opens it.
    fn open(&mut self, content: &GroupReportContent<'_>) -> VerifiedReport {
        let key = self.world.moderation_key();
        let frame = seal_group_content(&mut self.world.rng, &key, content).unwrap();
        let bob = self.bob.0.clone();
        let inbox = self.world.inbox(&bob, &frame);
        self.world
            .moderator()
            .open(&mut AuditLog::in_memory(), "moderator", &inbox, OPENED_AT)
            .unwrap()
    }

    fn verdict(&mut self, message: GroupReportedMessage<'static>) -> Verdict {
        let content = self.content(vec![message]);
        self.open(&content).messages[0].verdict
    }
}

#[test]
fn a_genuine_group_report_verifies() {
    let mut group = Group::new(1);
    let sent = group.send(b"you will regret this");
    let builder = GroupReportBuilder::new(
        group.bob.0.clone(),
        group.bob.1.public().clone(),
        *group.alice.1.group_id(),
        "threats",
        RECEIVED_AT - 1_000,
        vec![reported(&sent.bob.0, &sent.bob.1)],
    )
    .unwrap();
    let preview = builder.preview();
    assert_eq!(preview.messages.len(), 1);
    assert_eq!(preview.messages[0].text(), "you will regret this");
    let key = group.world.moderation_key();
    let frame = builder.seal(&mut group.world.rng, &key).unwrap();
    let bob = group.bob.0.clone();
    let inbox = group.world.inbox(&bob, &frame);
    let report = group
        .world
        .moderator()
        .open(&mut AuditLog::in_memory(), "moderator", &inbox, OPENED_AT)
        .unwrap();
    assert_eq!(report.group, Some(*group.alice.1.group_id()));
    assert_eq!(report.messages.len(), 1);
    assert_eq!(report.messages[0].verdict, Verdict::Verified);
    assert_eq!(report.messages[0].sender, group.alice.0);
    assert_eq!(report.messages[0].text(), "you will regret this");
}

#[test]
fn forged_group_content_is_rejected() {
    let mut group = Group::new(2);
    let sent = group.send(b"see you at eight");
    let mut forged = reported(&sent.bob.0, &sent.bob.1);
    forged.message.body = Opaque::from(b"send me money".to_vec());
    assert_eq!(
        group.verdict(forged),
        Verdict::Rejected(Rejection::CommitmentMismatch)
    );
}

#[test]
fn a_group_message_sent_to_another_member_is_rejected() {
    let mut group = Group::new(3);
    let sent = group.send(b"for everyone");
    // Bob reports carol's copy as it is: not delivered to him.
    let carols = reported(&sent.carol.0, &sent.carol.1);
    assert_eq!(
        group.verdict(carols.clone()),
        Verdict::Rejected(Rejection::NotAddressedToReporter)
    );
    // Relabelled as delivered to bob, carol's stamp does not cover it.
    let mut relabelled = carols;
    relabelled.message.recipient = group.bob.0.clone();
    assert_eq!(
        group.verdict(relabelled),
        Verdict::Rejected(Rejection::StampMismatch)
    );
    // The builder refuses carol's copy outright.
    let refused = GroupReportBuilder::new(
        group.bob.0.clone(),
        group.bob.1.public().clone(),
        *group.alice.1.group_id(),
        "threats",
        RECEIVED_AT,
        vec![reported(&sent.carol.0, &sent.carol.1)],
    );
    assert!(refused.is_err());
}

#[test]
fn a_forged_or_substituted_chain_signature_is_rejected() {
    let mut group = Group::new(4);
    let sent = group.send(b"signed by alice's chain");
    let genuine = reported(&sent.bob.0, &sent.bob.1);
    assert_eq!(group.verdict(genuine.clone()), Verdict::Verified);

    // One bit of the signature (the last 64 bytes of the frame) flipped.
    let mut flipped = genuine.clone();
    let mut bytes = flipped.sealed_body.as_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    flipped.sealed_body = Opaque::from(bytes);
    assert_eq!(
        group.verdict(flipped),
        Verdict::Rejected(Rejection::ChainSignatureMismatch)
    );

    // Another chain's signing key named as the sender's: bob's own, as he
    // handed it out (a real key, which he could sign with).
    let bob_key = group.bob_chain_key;
    let mut substituted = genuine.clone();
    substituted.chain_signing_key = bob_key;
    assert_eq!(
        group.verdict(substituted),
        Verdict::Rejected(Rejection::ChainSignatureMismatch)
    );

    // Another epoch's membership hash named.
    let mut other_membership = genuine;
    other_membership.membership_hash = fuin_wire::MembershipHash([7; 32]);
    assert_eq!(
        group.verdict(other_membership),
        Verdict::Rejected(Rejection::ChainSignatureMismatch)
    );
}

#[test]
fn a_message_of_another_group_is_rejected() {
    let mut group = Group::new(5);
    let mut other = Group::new(6);
    let elsewhere = other.send(b"another group");
    // Bob's own copy from the other group, reported as this group's.
    let mut message = reported(&elsewhere.bob.0, &elsewhere.bob.1);
    message.message.recipient = group.bob.0.clone();
    assert_eq!(
        group.verdict(message),
        Verdict::Rejected(Rejection::NotInGroup)
    );
}

#[test]
fn group_report_plaintexts_round_trip_and_the_fuzz_seed_decodes() {
    let mut group = Group::new(7);
    let sent = group.send(b"seed");
    let content = group.content(vec![reported(&sent.bob.0, &sent.bob.1)]);
    let bytes = content.to_bytes().unwrap();
    assert_eq!(bytes[0], fuin_report::GROUP_REPORT_VERSION);
    assert_eq!(GroupReportContent::from_bytes(&bytes).unwrap(), content);
    // A 1:1 decoder refuses it by its version, and trailing or missing
    // bytes are refused.
    assert!(fuin_report::ReportContent::from_bytes(&bytes).is_err());
    assert!(GroupReportContent::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    assert!(GroupReportContent::from_bytes(&[bytes.as_slice(), &[0]].concat()).is_err());
    // The fuzz corpus holds a group report made this way (seed 7).
    let seed_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus/report_content/1909745c105de69ed7fcc2a9c040b71c30ebbdfa");
    let seed = std::fs::read(&seed_path).unwrap();
    let decoded = GroupReportContent::from_bytes(&seed).unwrap();
    assert_eq!(decoded.messages.len(), 1);
    assert_eq!(fuin_report::fuzzing::content_violation(&seed), None);
}

#[test]
fn a_full_group_report_at_every_limit_fits_one_sealed_report() {
    let wide = address(&"w".repeat(64), u32::MAX);
    let message = GroupReportedMessage {
        message: ReportedMessage {
            sender: wide.clone(),
            recipient: wide.clone(),
            message_id: fuin_wire::ClientMessageId([0xff; 16]),
            content_type: ContentType::GroupControl,
            body: Opaque::from(vec![0xff; fuin_wire::limits::MAX_CONTENT_BODY_LEN]),
            franking_key: fuin_report::FrankingKeyBytes::new(
                &[0xff; fuin_report::MAX_FRANKING_KEY_FIELD_LEN],
            ),
            commitment: fuin_wire::FrankingCommitment([0xff; 32]),
            stamp: FrankingStamp([0xff; 32]),
            stamp_key_id: StampKeyId(u32::MAX),
            server_time_ms: u64::MAX,
            server_message_id: MessageId([0xff; 16]),
        },
        sealed_body: Opaque::from(vec![0xff; fuin_wire::limits::MAX_SEALED_BODY_LEN]),
        membership_hash: fuin_wire::MembershipHash([0xff; 32]),
        chain_signing_key: fuin_wire::Ed25519PublicKey([0xff; 32]),
    };
    let content = GroupReportContent {
        reporter: wide,
        reporter_identity: fuin_report::fuzzing::identity(),
        group_id: fuin_wire::GroupId([0xff; 32]),
        reason: "r".repeat(fuin_report::MAX_REASON_LEN).into(),
        created_at_ms: u64::MAX,
        messages: vec![message; fuin_report::MAX_GROUP_REPORTED_MESSAGES],
    };
    let plaintext = content.to_bytes().unwrap();
    // The sealed report adds a 32-byte key commitment and a 16-byte tag.
    assert!(
        plaintext.len() + 48 <= fuin_wire::limits::MAX_HYBRID_SEALED_REPORT_LEN,
        "{} bytes",
        plaintext.len()
    );
    let mut world = World::new(8);
    let key = world.moderation_key();
    assert!(seal_group_content(&mut world.rng, &key, &content).is_ok());
}
