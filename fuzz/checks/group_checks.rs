// The property the `group_open` fuzz target checks, shared with the unit test
// that replays its checked-in corpus (crates/fuin-seal/tests/group_fuzz_corpus.rs,
// which includes this file as `../../../fuzz/checks/group_checks.rs`; the
// target as `../checks/group_checks.rs`). Kept apart from seal_checks.rs so
// that each protocol part's checks can change on their own.
//
// The includer must depend on fuin-seal, fuin-wire, rand_chacha and rand_core.
// `include!` accepts no inner attributes or `//!` comments, hence these `//`
// comments. Violations are reported as `Err(description)`; only the
// fixture's construction panics (three honest devices that cannot form a
// group are a bug too).

use std::sync::OnceLock;

use fuin_seal::group::GroupState;
use fuin_seal::{DeviceIdentity, SealError};
use fuin_wire::{
    ContentKind, ContentType, DeliveredRecord, DeviceAddress, DeviceId, FrameBody,
    FrankingCommitment, FrankingStamp, GroupMember, MessageId, Opaque, RoutingEnvelope,
    StampKeyId, UserId,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The time every fixture message is sealed and opened at.
pub const GROUP_NOW_MS: u64 = 1_795_000_000_000;

/// Seeds the randomness of the group fixture.
pub const GROUP_RNG_SEED: u64 = 0x6675_696e_2d67_7270;

/// Alice, Bob and Carol in one group, every chain distributed; Bob's state
/// before he opened anything.
pub struct GroupFixture {
    /// alice/1, the sender of the genuine messages.
    pub alice: DeviceAddress<'static>,
    /// carol/1, another member.
    pub carol: DeviceAddress<'static>,
    /// bob/1, the receiver.
    pub bob: DeviceAddress<'static>,
    /// mallory/1, not a member.
    pub outsider: DeviceAddress<'static>,
    /// Bob's state.
    pub bob_state: GroupState,
    bob_state_bytes: Vec<u8>,
    /// Genuine envelopes to Bob: `[0]` and `[1]` two texts from Alice,
    /// `[2]` a text from Carol.
    pub genuine: [(DeviceAddress<'static>, RoutingEnvelope<'static>); 3],
}

fn group_address(user: &'static str) -> Result<DeviceAddress<'static>, String> {
    let user = UserId::new(user).map_err(|err| err.to_string())?;
    Ok(DeviceAddress::new(user, DeviceId(1)))
}

fn group_fail(what: &'static str) -> impl Fn(SealError) -> String {
    move |err| format!("group fixture: {what}: {err}")
}

fn build_group_fixture() -> Result<GroupFixture, String> {
    let mut rng = ChaCha20Rng::seed_from_u64(GROUP_RNG_SEED);
    let names = ["alice", "bob", "carol"];
    let addresses = names
        .iter()
        .map(|name| group_address(name))
        .collect::<Result<Vec<_>, _>>()?;
    let identities: Vec<_> = names
        .iter()
        .map(|_| DeviceIdentity::generate(&mut rng).public().clone())
        .collect();
    let others = (1..3)
        .map(|i| GroupMember {
            address: addresses[i].clone(),
            identity: identities[i].clone(),
        })
        .collect();
    let (alice, created) =
        GroupState::create(&mut rng, addresses[0].clone(), identities[0].clone(), others)
            .map_err(group_fail("create"))?;
    let mut states = vec![alice];
    let mut distributions = vec![created.distribution];
    for i in 1..3 {
        let (state, distribution) = GroupState::join(
            &mut rng,
            addresses[i].clone(),
            identities[i].clone(),
            (&addresses[0], &identities[0]),
            &created.welcome,
        )
        .map_err(group_fail("join"))?;
        states.push(state);
        distributions.push(distribution);
    }
    for (from, distribution) in distributions.iter().enumerate() {
        for (to, state) in states.iter_mut().enumerate() {
            if from != to {
                state
                    .receive_distribution((&addresses[from], &identities[from]), distribution)
                    .map_err(group_fail("receive a distribution"))?;
            }
        }
    }
    let mut genuine = Vec::new();
    for (from, body) in [(0, "first"), (0, "second"), (2, "from carol")] {
        let sealed = states[from]
            .seal(&mut rng, ContentType::Text, body.as_bytes(), GROUP_NOW_MS)
            .map_err(group_fail("seal"))?;
        genuine.push((addresses[from].clone(), sealed.envelope_for(&addresses[1])));
    }
    let [first, second, third]: [_; 3] = genuine
        .try_into()
        .map_err(|_| "group fixture: three messages".to_owned())?;
    let bob_state = states.swap_remove(1);
    Ok(GroupFixture {
        alice: addresses[0].clone(),
        carol: addresses[2].clone(),
        bob: addresses[1].clone(),
        outsider: group_address("mallory")?,
        bob_state_bytes: bob_state
            .to_bytes()
            .map_err(group_fail("save the state"))?
            .to_vec(),
        bob_state,
        genuine: [first, second, third],
    })
}

/// The group fixture, built on first use.
pub fn group_fixture() -> &'static GroupFixture {
    static FIXTURE: OnceLock<GroupFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| build_group_fixture().unwrap_or_else(|err| panic!("{err}")))
}

fn group_record<'a>(
    sender: &DeviceAddress<'static>,
    envelope: RoutingEnvelope<'a>,
) -> DeliveredRecord<'a> {
    DeliveredRecord {
        envelope,
        sender: sender.clone(),
        server_time_ms: GROUP_NOW_MS,
        server_message_id: MessageId([0x4d; 16]),
        franking_stamp: FrankingStamp([0x53; 32]),
        stamp_key_id: StampKeyId(1),
    }
}

impl GroupFixture {
    /// A `group_open` input that delivers genuine envelope `index` as is.
    pub fn genuine_input(&self, index: usize) -> Vec<u8> {
        let (sender, envelope) = &self.genuine[index];
        let sender_bits: u8 = if *sender == self.carol { 1 } else { 0 };
        // `index` is at most 2, so the casts cannot truncate.
        let mut input = vec![(index as u8) | (sender_bits << 3)];
        input.extend_from_slice(envelope.sealed_body.as_bytes());
        input
    }
}

/// Opens `record` with a clone of Bob's state: whether it opened, or a
/// violation if a failure changed the state.
fn open_as_member(
    fixture: &GroupFixture,
    record: &DeliveredRecord<'_>,
    what: &str,
) -> Result<bool, String> {
    let mut state = fixture.bob_state.clone();
    match state.open(record, GROUP_NOW_MS) {
        Ok(_) => Ok(true),
        Err(err) => {
            let after = state
                .to_bytes()
                .map_err(|e| format!("open of {what}: the state no longer saves: {e}"))?;
            if after.as_slice() != fixture.bob_state_bytes.as_slice() {
                return Err(format!("open of {what} failed ({err}) but changed the state"));
            }
            Ok(false)
        }
    }
}

/// One `group_open` input: `selector || sealed body`.
///
/// The selector's bits 0-1 pick the franking commitment (that of genuine
/// envelope 0, 1 or 2, or all zeros for 3), bit 2 the content kind
/// (`GroupMessage`, or `Message` when set), bits 3-4 the sender the relay
/// names (Alice, Carol, Bob himself, an outsider). The record, to bob/1, goes
/// to a clone of Bob's group state, which must return; an error must leave
/// the state exactly as it was. Returns whether it opened (a genuine message
/// does; the fuzzer cannot forge one).
///
/// With at least 5 bytes, `data[1] % 3` also picks a genuine envelope,
/// `data[2..4]` a byte of its encoding and `data[4]` (0 read as 1) what to
/// xor into it. If the changed bytes still decode as an envelope it must fail
/// to open, change nothing, and the genuine envelope must open afterwards.
pub fn group_open(data: &[u8]) -> Result<bool, String> {
    let fixture = group_fixture();
    let Some((&selector, body)) = data.split_first() else {
        return Ok(false);
    };
    let franking_commitment = match usize::from(selector & 3) {
        index @ 0..=2 => fixture.genuine[index].1.franking_commitment,
        _ => FrankingCommitment([0; 32]),
    };
    let content_kind = if selector & 4 == 0 {
        ContentKind::GroupMessage
    } else {
        ContentKind::Message
    };
    let sender = match (selector >> 3) & 3 {
        0 => &fixture.alice,
        1 => &fixture.carol,
        2 => &fixture.bob,
        _ => &fixture.outsider,
    };
    let record = group_record(
        sender,
        RoutingEnvelope {
            recipient: fixture.bob.clone(),
            content_kind,
            franking_commitment,
            sealed_body: Opaque::borrowed(body),
        },
    );
    let opened = open_as_member(fixture, &record, "the input")?;
    if let [_, which, low, high, mask, ..] = data {
        group_tamper(
            fixture,
            usize::from(*which) % fixture.genuine.len(),
            u16::from_le_bytes([*low, *high]),
            if *mask == 0 { 1 } else { *mask },
        )?;
    }
    Ok(opened)
}

/// Xors `mask` into one byte of genuine envelope `which`'s encoding; see
/// [`group_open`].
fn group_tamper(
    fixture: &GroupFixture,
    which: usize,
    position: u16,
    mask: u8,
) -> Result<(), String> {
    let (sender, genuine) = &fixture.genuine[which];
    let mut bytes = genuine
        .to_bytes()
        .map_err(|err| format!("genuine envelope {which} does not encode: {err}"))?;
    let position = usize::from(position) % bytes.len();
    bytes[position] ^= mask;
    let what = format!("genuine envelope {which} with byte {position} xored with {mask:#04x}");
    let Ok(tampered) = RoutingEnvelope::from_bytes(&bytes) else {
        return Ok(());
    };
    if tampered == *genuine {
        return Err(format!("{what} decodes to the genuine envelope"));
    }
    let mut state = fixture.bob_state.clone();
    if state.open(&group_record(sender, tampered), GROUP_NOW_MS).is_ok() {
        return Err(format!("{what} opened"));
    }
    let after = state
        .to_bytes()
        .map_err(|err| format!("after {what}: the state no longer saves: {err}"))?;
    if after.as_slice() != fixture.bob_state_bytes.as_slice() {
        return Err(format!("{what} failed to open but changed the state"));
    }
    state
        .open(&group_record(sender, genuine.clone()), GROUP_NOW_MS)
        .map_err(|err| format!("after {what} failed, the genuine message does not open: {err}"))?;
    Ok(())
}
