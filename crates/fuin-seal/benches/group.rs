//! Benchmarks of group conversations (DESIGN.md §13), each next to what it
//! is judged against, in the same run:
//!
//! - `group_seal/N`: the sender's `GroupState::seal` of one 140-byte text in
//!   a group of N member devices (2, 10, 100, 1,000), every chain held: the
//!   cost must not grow with N (the ratio 1000/2 is reported);
//! - `group_open/N`: one member's `GroupState::open` of such a message (the
//!   message is sealed outside the timing);
//! - `group_seal_open/N`: seal, the relay's record for one recipient, open:
//!   against `group_floor/140` (the primitive calls one group message needs:
//!   the Ed25519 signature and its verification, the chain steps, the
//!   franking commitment and its check, the committing AEAD both ways) and
//!   `megolm_seal_open`, vodozemac's Megolm (`GroupSession::encrypt`, its
//!   wire form, `InboundGroupSession::decrypt`) of the same text;
//! - `group_change/*` at 1,000 members: the group part of a membership change
//!   (one member removed): `actor` is `GroupState::change` (sign, seal the
//!   control message, the new membership and its hash, a fresh chain, its
//!   distribution); `member` is `GroupState::apply_control` at another
//!   member (open not included); `receive_distribution` is one member taking
//!   one new chain (999 of them follow a change); `one_to_one_seal` is one
//!   1:1 `Session::seal` of a distribution, which the actor and every member
//!   make 999 times after a change: the 1:1 part, measured once and scaled in
//!   BENCHMARKS.md.
//!
//! Run with `cargo bench -p fuin-seal --bench group`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use fuin_seal::group::{ChangeRequest, GroupState};
use fuin_seal::primitives::aead;
use fuin_seal::primitives::framing::Framer;
use fuin_seal::primitives::franking::{self, FrankedMessage};
use fuin_seal::primitives::kdf::Label;
use fuin_seal::primitives::mac::HmacKey;
use fuin_seal::primitives::signing::{SigningSecret, VerifyingSigningKey};
use fuin_seal::{
    ConversationId, DeviceIdentity, GROUP_PROTOCOL_VERSION, Outgoing, PrekeyStore, Session,
    VerifiedBundle,
};
use fuin_wire::{
    ClientMessageId, ContentType, DeliveredRecord, DeviceAddress, DeviceId, Ed25519PublicKey,
    Ed25519Signature, FrameBody, FrankingStamp, GroupMember, GroupMessage, MessageId,
    PublicIdentity, RoutingEnvelope, SenderChainKey, SenderKeyDistribution, StampKeyId, UserId,
    X25519PublicKey,
};

const SIZES: [usize; 4] = [2, 10, 100, 1000];
const BODY: usize = 140;
const NOW: u64 = 1_795_000_000_000;

fn address(i: usize) -> DeviceAddress<'static> {
    DeviceAddress::new(UserId::new(format!("member{i:04}")).unwrap(), DeviceId(1))
}

/// Identity keys for the member list. Groups never verify them (the 1:1
/// sessions do), so random bytes stand in.
fn identity(rng: &mut ChaCha20Rng) -> PublicIdentity {
    let mut bytes = [0u8; 128];
    rng.fill_bytes(&mut bytes);
    PublicIdentity {
        signing_key: Ed25519PublicKey(bytes[..32].try_into().unwrap()),
        agreement_key: X25519PublicKey(bytes[32..64].try_into().unwrap()),
        signature: Ed25519Signature(bytes[64..].try_into().unwrap()),
    }
}

fn delivered(
    sender: &DeviceAddress<'static>,
    envelope: RoutingEnvelope<'static>,
) -> DeliveredRecord<'static> {
    DeliveredRecord {
        envelope,
        sender: sender.clone(),
        server_time_ms: NOW,
        server_message_id: MessageId([7; 16]),
        franking_stamp: FrankingStamp([0x5a; 32]),
        stamp_key_id: StampKeyId(1),
    }
}

/// A group of `n` member devices: the sender (`member0000`) and one receiver
/// (`member0001`) with real states, every other member's chain stood in for by
/// a distribution with a fresh chain key and signing key. Both states hold
/// every chain, so their views are complete.
struct Fixture {
    rng: ChaCha20Rng,
    sender: GroupState,
    receiver: GroupState,
    sender_address: DeviceAddress<'static>,
    receiver_address: DeviceAddress<'static>,
    members: Vec<GroupMember<'static>>,
}

impl Fixture {
    fn new(n: usize) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(n as u64);
        let members: Vec<GroupMember<'static>> = (0..n)
            .map(|i| GroupMember {
                address: address(i),
                identity: identity(&mut rng),
            })
            .collect();
        let (mut sender, created) = GroupState::create(
            &mut rng,
            members[0].address.clone(),
            members[0].identity.clone(),
            members[1..].to_vec(),
        )
        .unwrap();
        let (mut receiver, receiver_chain) = GroupState::join(
            &mut rng,
            members[1].address.clone(),
            members[1].identity.clone(),
            (&members[0].address, &members[0].identity),
            &created.welcome,
        )
        .unwrap();
        receiver
            .receive_distribution(
                (&members[0].address, &members[0].identity),
                &created.distribution,
            )
            .unwrap();
        sender
            .receive_distribution((&members[1].address, &members[1].identity), &receiver_chain)
            .unwrap();
        for member in &members[2..] {
            let distribution = stand_in_chain(&mut rng, &sender, member);
            for state in [&mut sender, &mut receiver] {
                state
                    .receive_distribution((&member.address, &member.identity), &distribution)
                    .unwrap();
            }
        }
        for state in [&sender, &receiver] {
            assert!(matches!(
                state.view(),
                fuin_seal::group::ViewStatus::Complete(_)
            ));
        }
        Self {
            rng,
            sender_address: members[0].address.clone(),
            receiver_address: members[1].address.clone(),
            sender,
            receiver,
            members,
        }
    }

    fn seal(&mut self, body: &[u8]) -> DeliveredRecord<'static> {
        let sealed = self
            .sender
            .seal(&mut self.rng, ContentType::Text, body, NOW)
            .unwrap();
        delivered(
            &self.sender_address,
            sealed.envelope_for(&self.receiver_address),
        )
    }
}

/// A chain for `member` in `state`'s current epoch, as its distribution
/// would carry it.
fn stand_in_chain(
    rng: &mut ChaCha20Rng,
    state: &GroupState,
    member: &GroupMember<'static>,
) -> SenderKeyDistribution<'static> {
    let mut chain_key = [0u8; 32];
    rng.fill_bytes(&mut chain_key);
    SenderKeyDistribution {
        group_id: *state.group_id(),
        epoch: state.epoch(),
        membership_hash: *state.membership().hash(),
        sender: member.address.clone(),
        iteration: 0,
        chain_key: SenderChainKey(chain_key),
        signing_key: SigningSecret::generate(rng).public_key(),
    }
}

fn body() -> Vec<u8> {
    (0..BODY).map(|i| b'a' + (i % 26) as u8).collect()
}

fn group_send(c: &mut Criterion) {
    let body = body();
    let mut fixtures: Vec<(usize, Fixture)> = SIZES.iter().map(|&n| (n, Fixture::new(n))).collect();

    let mut group = c.benchmark_group("group_seal");
    group.throughput(Throughput::Elements(1));
    for (n, fixture) in &mut fixtures {
        // The sender's chain advances; messages still open in order.
        let record = fixture.seal(&body);
        assert_eq!(
            fixture
                .receiver
                .open(&record, NOW)
                .unwrap()
                .content
                .body
                .as_bytes(),
            &body[..]
        );
        // A copy sends, so that the fixture's sender stays in step with its
        // receiver for the benchmarks that open.
        let mut sender = fixture.sender.clone();
        let rng = &mut fixture.rng;
        group.bench_function(BenchmarkId::from_parameter(*n), |b| {
            b.iter(|| {
                black_box(
                    sender
                        .seal(rng, ContentType::Text, black_box(&body), NOW)
                        .unwrap(),
                )
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("group_open");
    group.throughput(Throughput::Elements(1));
    for (n, fixture) in &mut fixtures {
        let (from, to) = (
            fixture.sender_address.clone(),
            fixture.receiver_address.clone(),
        );
        let (rng, sender, receiver) =
            (&mut fixture.rng, &mut fixture.sender, &mut fixture.receiver);
        group.bench_function(BenchmarkId::from_parameter(*n), |b| {
            b.iter_batched(
                || {
                    let sealed = sender.seal(rng, ContentType::Text, &body, NOW).unwrap();
                    delivered(&from, sealed.envelope_for(&to))
                },
                |record| black_box(receiver.open(&record, NOW).unwrap()),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();

    let mut group = c.benchmark_group("group_seal_open");
    group.throughput(Throughput::Bytes(BODY as u64));
    for (n, fixture) in fixtures.iter_mut().filter(|(n, _)| [2, 1000].contains(n)) {
        group.bench_function(BenchmarkId::from_parameter(*n), |b| {
            b.iter(|| black_box(group_message(fixture, black_box(&body))));
        });
    }
    group.finish();

    let mut group = c.benchmark_group("group_change");
    let (_, fixture) = fixtures.iter_mut().find(|(n, _)| *n == 1000).unwrap();
    let removed = fixture.members[999].address.clone();
    // The member's side needs the actor's control message: the receiver acts,
    // the sender applies (on copies: each iteration starts from the same
    // state).
    let control = {
        let mut actor = fixture.receiver.clone();
        let sent = actor
            .change(
                &mut fixture.rng,
                ChangeRequest::Remove(vec![removed.clone()]),
                NOW,
            )
            .unwrap();
        let record = delivered(
            &fixture.receiver_address,
            sent.message.envelope_for(&fixture.sender_address),
        );
        let opened = fixture.sender.clone().open(&record, NOW).unwrap();
        opened.control().unwrap().unwrap().into_owned()
    };
    let rng = &mut fixture.rng;
    let (actor, member) = (&fixture.receiver, &fixture.sender);
    group.bench_function("actor/1000", |b| {
        b.iter_batched(
            || actor.clone(),
            // The state is handed back, so that dropping it (wiping every key)
            // happens outside the timing.
            |mut state| {
                let sent = state
                    .change(rng, ChangeRequest::Remove(vec![removed.clone()]), NOW)
                    .unwrap();
                (state, sent)
            },
            BatchSize::LargeInput,
        );
    });
    let mut seed = ChaCha20Rng::seed_from_u64(99);
    group.bench_function("member/1000", |b| {
        b.iter_batched(
            || member.clone(),
            |mut state| {
                let applied = state.apply_control(&mut seed, &control, NOW).unwrap();
                (state, applied)
            },
            BatchSize::LargeInput,
        );
    });
    // One member takes one new chain of the new epoch.
    let mut after = member.clone();
    after.apply_control(&mut seed, &control, NOW).unwrap();
    let newcomer = fixture.members[2].clone();
    let chain = stand_in_chain(&mut seed, &after, &newcomer);
    group.bench_function("receive_distribution/1000", |b| {
        b.iter_batched(
            || after.clone(),
            |mut state| {
                let accepted = state
                    .receive_distribution((&newcomer.address, &newcomer.identity), &chain)
                    .unwrap();
                (state, accepted)
            },
            BatchSize::LargeInput,
        );
    });
    // The 1:1 part: one sealed distribution, over an established session.
    let (mut session, local) = one_to_one_session(&mut seed);
    let distribution = chain.to_bytes().unwrap();
    group.bench_function("one_to_one_seal", |b| {
        b.iter(|| {
            let outgoing = Outgoing::new(
                &mut seed,
                &local,
                UserId::new("peer").unwrap(),
                ContentType::SenderKeyDistribution,
                &distribution,
            )
            .unwrap();
            black_box(session.seal(&mut seed, &outgoing, NOW).unwrap())
        });
    });
    group.finish();
}

/// An initiator's session to a peer, ready to seal (its messages are prekey
/// messages until the peer answers; that costs nothing extra to seal).
fn one_to_one_session(rng: &mut ChaCha20Rng) -> (Session, DeviceAddress<'static>) {
    let local = DeviceAddress::new(UserId::new("local").unwrap(), DeviceId(1));
    let peer = DeviceAddress::new(UserId::new("peer").unwrap(), DeviceId(1));
    let me = DeviceIdentity::generate(rng);
    let them = DeviceIdentity::generate(rng);
    let mut prekeys = PrekeyStore::new();
    prekeys.rotate_signed_prekey(&them, rng);
    prekeys.rotate_last_resort_kem_prekey(&them, rng);
    let bundle = prekeys.bundle(peer.clone(), &them, None, None).unwrap();
    let bundle = VerifiedBundle::verify(&bundle, &peer, None).unwrap();
    (
        Session::initiate(rng, &me, local.clone(), &bundle).unwrap(),
        local,
    )
}

/// The floor of one group message: every cryptographic call it needs, on
/// both sides, through `fuin_seal::primitives`, and nothing else (no
/// encoding, no framing of the associated data: buffers of the real
/// lengths are passed; no state bookkeeping).
///
/// - sender: chain step (the chain key prepared once as an HMAC key, two
///   MACs), franking commitment, `aead::seal` (HKDF to key, nonce and
///   commitment, AES-256-GCM), the Ed25519 signature over the associated
///   data and the ciphertext;
/// - receiver: the strict verification under the chain's decoded key, the
///   same chain step, `aead::open`, the franking check.
///
/// The conversation id is a constant of the group, computed once here.
fn group_floor(c: &mut Criterion) {
    let body = body();
    // The real message's sizes, from a sealed one.
    let mut fixture = Fixture::new(2);
    let record = fixture.seal(&body);
    let message = GroupMessage::from_bytes(record.envelope.sealed_body.as_bytes()).unwrap();
    let plaintext = vec![0x42u8; message.ciphertext.len() - aead::OVERHEAD];
    // The fields group/message.rs frames, in the same order.
    let associated_data = Framer::new(Label::GroupMessageAssociatedData.as_bytes())
        .field(&[GROUP_PROTOCOL_VERSION])
        .field(message.group_id.as_bytes())
        .u64(message.epoch)
        .field(fixture.sender.membership().hash().as_bytes())
        .address(&fixture.sender_address)
        .u32(message.iteration)
        .field(
            message
                .view
                .as_ref()
                .map_or(&[][..], |view| view.as_bytes()),
        )
        .field(message.salt.as_bytes())
        .u32(2)
        .field(record.envelope.franking_commitment.as_bytes())
        .finish();
    let sender = fixture.sender_address.clone();
    let conversation = ConversationId::group(&message.group_id);
    let message_id = ClientMessageId([3; 16]);
    let franking_key = [4u8; 32];
    let franked = FrankedMessage {
        sender: &sender,
        conversation: &conversation,
        message_id: &message_id,
        content_type: ContentType::Text,
        body: &body,
    };
    let signing = SigningSecret::from_bytes([5; 32]);
    let verifying = VerifyingSigningKey::decode(&signing.public_key()).unwrap();
    let mut chains = ([9u8; 32], [9u8; 32]);
    let mut group = c.benchmark_group("group_floor");
    group.throughput(Throughput::Bytes(BODY as u64));
    group.bench_function(BenchmarkId::from_parameter(BODY), |b| {
        b.iter(|| {
            group_floor_message(
                &mut chains,
                (&signing, &verifying),
                (&franking_key, black_box(&franked)),
                &associated_data,
                black_box(&plaintext),
            )
        });
    });
    group.finish();
}

/// One message of the group floor (see [`group_floor`]), a function of its
/// own so that an instruction count (callgrind's `--toggle-collect`) can
/// measure it alone.
#[inline(never)]
fn group_floor_message(
    (sending_chain, receiving_chain): &mut ([u8; 32], [u8; 32]),
    (signing, verifying): (&SigningSecret, &VerifyingSigningKey),
    (franking_key, franked): (&[u8; 32], &FrankedMessage<'_>),
    associated_data: &[u8],
    plaintext: &[u8],
) -> zeroize::Zeroizing<Vec<u8>> {
    let chain_message = Label::GroupChainMessageKey.as_bytes();
    let chain_next = Label::GroupChainNextKey.as_bytes();
    // Every message has its own random salt; its value does not matter here.
    let salt = [6u8; 16];
    // Sender.
    let chain = HmacKey::new(sending_chain);
    let message_key = chain.mac(&[chain_message]);
    *sending_chain = chain.mac(&[chain_next]);
    let commitment = franking::commit(franking_key, franked).unwrap();
    let sealed = aead::seal(
        Label::GroupMessageKeys,
        Some(&salt),
        &message_key,
        associated_data,
        plaintext,
    );
    let lengths = [
        (associated_data.len() as u32).to_be_bytes(),
        (sealed.len() as u32).to_be_bytes(),
    ];
    let signature = signing.sign_parts(
        Label::GroupMessageSignature,
        &[&lengths[0], associated_data, &lengths[1], &sealed],
    );
    // Receiver.
    verifying
        .verify_parts(
            Label::GroupMessageSignature,
            &[
                &lengths[0],
                associated_data,
                &lengths[1],
                black_box(&sealed),
            ],
            &signature,
        )
        .unwrap();
    let chain = HmacKey::new(receiving_chain);
    let message_key = chain.mac(&[chain_message]);
    *receiving_chain = chain.mac(&[chain_next]);
    let opened = aead::open(
        Label::GroupMessageKeys,
        Some(&salt),
        &message_key,
        associated_data,
        black_box(&sealed),
    )
    .unwrap();
    franking::verify(franking_key, franked, &commitment).unwrap();
    opened
}

/// One Megolm message through its wire form; a function of its own for
/// instruction counts.
#[inline(never)]
fn megolm_message(
    outbound: &mut vodozemac::megolm::GroupSession,
    inbound: &mut vodozemac::megolm::InboundGroupSession,
    body: &[u8],
) -> Vec<u8> {
    use vodozemac::megolm::MegolmMessage;
    let bytes = outbound.encrypt(body).to_bytes();
    let message = MegolmMessage::from_bytes(&bytes).unwrap();
    inbound.decrypt(&message).unwrap().plaintext
}

/// One group message sealed, recorded for one recipient and opened; a
/// function of its own for instruction counts.
#[inline(never)]
fn group_message(fixture: &mut Fixture, body: &[u8]) -> fuin_seal::group::GroupOpened {
    let record = fixture.seal(body);
    fixture.receiver.open(&record, NOW).unwrap()
}

/// vodozemac's Megolm (v1 session config) in the same steady state: one
/// sender session, one inbound session, the message through its wire form.
fn megolm_seal_open(c: &mut Criterion) {
    use vodozemac::megolm::{GroupSession, InboundGroupSession, SessionConfig};

    let body = body();
    let mut outbound = GroupSession::new(SessionConfig::version_1());
    let mut inbound = InboundGroupSession::new(&outbound.session_key(), SessionConfig::version_1());
    let mut send = move |body: &[u8]| megolm_message(&mut outbound, &mut inbound, body);
    for _ in 0..2 {
        assert_eq!(send(&body), body);
    }
    let mut group = c.benchmark_group("megolm_seal_open");
    group.throughput(Throughput::Bytes(BODY as u64));
    group.bench_function(BenchmarkId::from_parameter(BODY), |b| {
        b.iter(|| black_box(send(black_box(&body))));
    });
    group.finish();
}

/// 15 benchmarks of 1 s warm-up and 3 s measurement: with the
/// 1,000-member set-ups the run takes under 3 minutes on 2 cores.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = group_send, group_floor, megolm_seal_open
}
criterion_main!(benches);
