//! The group conversation the group vectors pin, run two ways: by fuin-seal's
//! `GroupState`, with randomness drawn from a scripted source, and by the
//! reference computations of `group_reference.rs` from the same random
//! values. Also the single computations of `group-primitives.json`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::group_reference::{self as g, Action, Member};
use super::reference::{self as r, Bytes32};
use super::scenario::ScriptedRng;
use fuin_seal::ConversationId;
use fuin_seal::group::{ChangeRequest, ControlApplied, GroupState, ViewStatus};
use fuin_seal::identifiers::{
    Audience, IdentifierSecret, conversation_identifier, shared_conversation_identifier,
    user_identifier,
};
use fuin_wire::{
    ContentType, DeliveredRecord, DeviceAddress, DeviceId, Ed25519PublicKey, Ed25519Signature,
    FrameBody, FrankingStamp, GroupConsent, GroupMember, MessageId, PublicIdentity,
    RoutingEnvelope, StampKeyId, UserId, X25519PublicKey,
};

pub const NOW: u64 = 1_795_000_000_000;

/// The devices of the scenario: name, device id, identity seed.
pub const DEVICES: [(&str, u32, u8); 4] = [
    ("alice", 1, 0x01),
    ("bob", 1, 0x02),
    ("小林", 300, 0x03),
    ("dave", 1, 0x04),
];

#[derive(Clone, Copy)]
pub enum Change {
    Add(&'static str),
    Remove(&'static str),
    Leave,
    ShareConsent,
}

#[derive(Clone, Copy)]
pub enum Step {
    /// `actor` creates the group with `others`.
    Create(&'static str, &'static [&'static str]),
    /// A device joins from the welcome of the epoch it was added in.
    Join(&'static str, &'static str),
    /// `from`'s chain of the current epoch reaches `to`.
    Distribute(&'static str, &'static [&'static str]),
    /// Every member's chain of the current epoch reaches every other member
    /// that does not hold it yet.
    DistributeAll,
    /// A member sends a text, which every other member opens.
    Send(&'static str),
    /// A member makes a change (its control message is the next message).
    Change(&'static str, Change),
    /// A member applies the last control message.
    Apply(&'static str),
}

pub const STEPS: &[Step] = &[
    Step::Create("alice", &["bob", "小林"]),
    Step::Join("bob", "alice"),
    Step::Join("小林", "alice"),
    Step::Distribute("alice", &["bob", "小林"]),
    Step::Distribute("bob", &["alice", "小林"]),
    Step::Distribute("小林", &["bob"]),
    // Alice does not hold 小林's chain yet: her message carries no view.
    Step::Send("alice"),
    Step::Distribute("小林", &["alice"]),
    Step::Send("alice"),
    Step::Send("bob"),
    Step::Send("小林"),
    Step::Change("bob", Change::Add("dave")),
    Step::Apply("alice"),
    Step::Apply("小林"),
    Step::Join("dave", "bob"),
    Step::DistributeAll,
    Step::Send("dave"),
    Step::Send("alice"),
    Step::Change("alice", Change::ShareConsent),
    Step::Apply("bob"),
    Step::Apply("小林"),
    Step::Apply("dave"),
    Step::DistributeAll,
    Step::Send("bob"),
    Step::Change("小林", Change::Leave),
    Step::Apply("alice"),
    Step::Apply("bob"),
    Step::Apply("dave"),
    Step::DistributeAll,
    Step::Change("alice", Change::Remove("dave")),
    Step::Apply("bob"),
    Step::Apply("dave"),
    Step::DistributeAll,
    Step::Send("bob"),
];

/// The audience the scenario's shared identifier is for.
pub const AUDIENCE: &[u8] = b"mini-app.example";

fn h(bytes: &[u8]) -> Value {
    Value::String(hex::encode(bytes))
}

fn b32(bytes: &[u8]) -> Bytes32 {
    bytes.try_into().unwrap()
}

pub fn identity(name: &str) -> r::Identity {
    let seed = DEVICES.iter().find(|d| d.0 == name).unwrap().2;
    r::Identity {
        signing_seed: [seed; 32],
        agreement_secret: [seed.wrapping_add(0x80); 32],
    }
}

pub fn member(name: &str) -> Member {
    let identity = identity(name);
    Member {
        user: name.to_owned(),
        device: DEVICES.iter().find(|d| d.0 == name).unwrap().1,
        signing_key: identity.signing_key(),
        agreement_key: identity.agreement_key(),
        signature: identity.signature(),
    }
}

pub fn address(name: &str) -> DeviceAddress<'static> {
    let device = DEVICES.iter().find(|d| d.0 == name).unwrap().1;
    DeviceAddress::new(UserId::new(name.to_owned()).unwrap(), DeviceId(device))
}

pub fn public_identity(name: &str) -> PublicIdentity {
    let member = member(name);
    PublicIdentity {
        signing_key: Ed25519PublicKey(member.signing_key),
        agreement_key: X25519PublicKey(member.agreement_key),
        signature: Ed25519Signature(member.signature),
    }
}

fn group_member(name: &str) -> GroupMember<'static> {
    GroupMember {
        address: address(name),
        identity: public_identity(name),
    }
}

fn body_of(index: usize, name: &str) -> String {
    format!("message {index} from {name}")
}

fn step_purposes() -> Vec<String> {
    let mut message = 0;
    let mut last_change = 0;
    STEPS
        .iter()
        .map(|step| match step {
            Step::Create(actor, _) => format!("{actor} creates the group"),
            Step::Join(who, _) => format!("{who} joins"),
            Step::Distribute(..) | Step::DistributeAll => String::new(),
            Step::Send(from) => {
                message += 1;
                format!("{from} seals message {}", message - 1)
            }
            Step::Change(actor, _) => {
                message += 1;
                last_change = message - 1;
                format!("{actor} makes the change of message {last_change}")
            }
            Step::Apply(who) => format!("{who} applies message {last_change}"),
        })
        .collect()
}

fn deliver(
    sender: &DeviceAddress<'static>,
    envelope: RoutingEnvelope<'static>,
) -> DeliveredRecord<'static> {
    DeliveredRecord {
        envelope,
        sender: sender.clone(),
        server_time_ms: NOW,
        server_message_id: MessageId([0x4d; 16]),
        franking_stamp: FrankingStamp([0x53; 32]),
        stamp_key_id: StampKeyId(1),
    }
}

/// Runs the scenario through fuin-seal's public API. Returns, in the shape
/// of the reference's JSON, what the implementation produced: every welcome,
/// distribution and sealed message, each epoch's membership hash and each
/// member's view, and the shared identifier. Every message is opened by
/// every other member on the way.
pub fn run_implementation(rng: &mut ScriptedRng) -> Value {
    run_implementation_observed(rng, &mut |_, _, _, _| {})
}

/// `run_implementation`, showing `observe` each group message record, the
/// recipient's name and its state just before the recipient opens it (the
/// reject vectors present altered copies there).
pub fn run_implementation_observed(
    rng: &mut ScriptedRng,
    observe: &mut dyn FnMut(usize, &str, &mut GroupState, &DeliveredRecord<'static>),
) -> Value {
    let mut states: BTreeMap<&str, GroupState> = BTreeMap::new();
    let mut welcomes: BTreeMap<u64, Vec<fuin_wire::GroupWelcome<'static>>> = BTreeMap::new();
    let mut distributions: BTreeMap<(u64, &str), fuin_wire::SenderKeyDistribution<'static>> =
        BTreeMap::new();
    let mut held: BTreeSet<(u64, &str, &str)> = BTreeSet::new();
    let mut messages = Vec::new();
    let mut last_control: Option<DeliveredRecord<'static>> = None;
    let mut epochs: BTreeMap<u64, Value> = BTreeMap::new();
    let mut index = 0usize;
    let purposes = step_purposes();

    fn give(
        states: &mut BTreeMap<&str, GroupState>,
        held: &mut BTreeSet<(u64, &'static str, &'static str)>,
        distribution: &fuin_wire::SenderKeyDistribution<'static>,
        from: &'static str,
        to: &'static str,
    ) {
        states
            .get_mut(to)
            .unwrap()
            .receive_distribution((&address(from), &public_identity(from)), distribution)
            .unwrap();
        held.insert((distribution.epoch, from, to));
    }

    for (step, purpose) in STEPS.iter().zip(purposes) {
        rng.purpose = purpose;
        match *step {
            Step::Create(actor, others) => {
                let (state, created) = GroupState::create(
                    rng,
                    address(actor),
                    public_identity(actor),
                    others.iter().map(|name| group_member(name)).collect(),
                )
                .unwrap();
                welcomes.insert(0, created.welcome);
                distributions.insert((0, actor), created.distribution);
                states.insert(actor, state);
            }
            Step::Join(who, inviter) => {
                let epoch = states[inviter].epoch();
                let (state, distribution) = GroupState::join(
                    rng,
                    address(who),
                    public_identity(who),
                    (&address(inviter), &public_identity(inviter)),
                    &welcomes[&epoch],
                )
                .unwrap();
                distributions.insert((epoch, who), distribution);
                states.insert(who, state);
            }
            Step::Distribute(from, to) => {
                let epoch = states[from].epoch();
                let distribution = distributions[&(epoch, from)].clone();
                for to in to {
                    give(&mut states, &mut held, &distribution, from, to);
                }
            }
            Step::DistributeAll => {
                let members: Vec<&'static str> = DEVICES
                    .iter()
                    .map(|d| d.0)
                    .filter(|name| {
                        states.get(name).is_some_and(|state| {
                            state.status() == fuin_seal::group::MemberStatus::Member
                        })
                    })
                    .collect();
                for from in &members {
                    let epoch = states[from].epoch();
                    for to in &members {
                        if from != to && !held.contains(&(epoch, *from, *to)) {
                            let distribution = distributions[&(epoch, *from)].clone();
                            give(&mut states, &mut held, &distribution, from, to);
                        }
                    }
                }
            }
            Step::Send(from) => {
                let state = states.get_mut(from).unwrap();
                let sealed = state
                    .seal(
                        rng,
                        ContentType::Text,
                        body_of(index, from).as_bytes(),
                        NOW + index as u64,
                    )
                    .unwrap();
                let recipients: Vec<_> = state.recipients().cloned().collect();
                for recipient in recipients {
                    let record = deliver(&address(from), sealed.envelope_for(&recipient));
                    observe(
                        index,
                        recipient.user.as_str(),
                        states.get_mut(recipient.user.as_str()).unwrap(),
                        &record,
                    );
                    let opened = states
                        .get_mut(recipient.user.as_str())
                        .unwrap()
                        .open(&record, NOW)
                        .unwrap();
                    assert_eq!(
                        opened.content.body.as_bytes(),
                        body_of(index, from).as_bytes()
                    );
                }
                messages.push(json!({
                    "index": index,
                    "franking_commitment": h(&sealed.franking_commitment.0),
                    "sealed_body": h(&sealed.sealed_body),
                }));
                index += 1;
            }
            Step::Change(actor, change) => {
                let request = match change {
                    Change::Add(name) => ChangeRequest::Add(vec![group_member(name)]),
                    Change::Remove(name) => ChangeRequest::Remove(vec![address(name)]),
                    Change::Leave => ChangeRequest::Leave,
                    Change::ShareConsent => ChangeRequest::ShareConsent,
                };
                let sent = states
                    .get_mut(actor)
                    .unwrap()
                    .change(rng, request, NOW + index as u64)
                    .unwrap();
                let epoch = states[actor].epoch();
                if let Some(distribution) = sent.distribution {
                    distributions.insert((epoch, actor), distribution);
                }
                if !sent.welcome.is_empty() {
                    welcomes.insert(epoch, sent.welcome);
                }
                messages.push(json!({
                    "index": index,
                    "franking_commitment": h(&sent.message.franking_commitment.0),
                    "sealed_body": h(&sent.message.sealed_body),
                }));
                last_control = Some(deliver(
                    &address(actor),
                    sent.message.envelope_for(&address(actor)),
                ));
                index += 1;
            }
            Step::Apply(who) => {
                let mut record = last_control.clone().unwrap();
                record.envelope.recipient = address(who);
                let state = states.get_mut(who).unwrap();
                let opened = state.open(&record, NOW).unwrap();
                let control = opened.control().unwrap().unwrap().into_owned();
                let applied: ControlApplied = state.apply_control(rng, &control, NOW).unwrap();
                if let Some(distribution) = applied.distribution {
                    distributions.insert((applied.epoch, who), distribution);
                }
            }
        }
        // Each member's view of its current epoch, once complete.
        for (name, state) in &states {
            if let ViewStatus::Complete(view) = state.view() {
                let entry = epochs
                    .entry(state.epoch())
                    .or_insert_with(|| json!({"views": {}}));
                entry["membership_hash"] = h(&state.membership().hash().0);
                entry["views"][*name] = h(&view.0);
            }
        }
    }
    let welcome_json: BTreeMap<String, Value> = welcomes
        .iter()
        .map(|(epoch, pages)| {
            (
                epoch.to_string(),
                pages
                    .iter()
                    .map(|page| h(&page.to_bytes().unwrap()))
                    .collect(),
            )
        })
        .collect();
    let distribution_json: BTreeMap<String, Value> = distributions
        .iter()
        .map(|((epoch, name), distribution)| {
            (
                format!("{epoch} {name}"),
                h(&distribution.to_bytes().unwrap()),
            )
        })
        .collect();
    let alice = &states["alice"];
    json!({
        "welcomes": welcome_json,
        "distributions": distribution_json,
        "epochs": epochs.into_iter().map(|(epoch, value)| (epoch.to_string(), value)).collect::<BTreeMap<_, _>>(),
        "messages": messages,
        "shared_identifier": h(&alice.shared_identifier(Audience::new(AUDIENCE).unwrap()).unwrap().0),
    })
}

/// The scenario's randomness, drawn from a ChaCha20 seeded with `seed` in
/// the order spec/groups.md gives, without fuin-seal: creation draws the
/// group id, chain key and signing seed (§9.2); a join or an applied change
/// the new chain key and seed (§9.2, §8.3 step 10; nothing for the removed
/// device); a message its message id, franking key, then salt (§6.2); a
/// change the consent (`ShareConsent` only), its control message's message
/// id, franking key and salt, then the actor's new chain key and seed
/// (not when it leaves) (§8.2).
pub fn reference_draws(seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut rng = ScriptedRng::recording(seed);
    let mut last_change = None;
    for (step, purpose) in STEPS.iter().zip(step_purposes()) {
        let sizes: Vec<usize> = match *step {
            Step::Create(..) => vec![32, 32, 32],
            Step::Join(..) => vec![32, 32],
            Step::Distribute(..) | Step::DistributeAll => vec![],
            Step::Send(_) => vec![16, 32, 16],
            Step::Change(_, change) => {
                last_change = Some(change);
                match change {
                    Change::ShareConsent => vec![32, 16, 32, 16, 32, 32],
                    Change::Leave => vec![16, 32, 16],
                    Change::Add(_) | Change::Remove(_) => vec![16, 32, 16, 32, 32],
                }
            }
            Step::Apply(who) => match last_change {
                Some(Change::Remove(name)) if name == who => vec![],
                _ => vec![32, 32],
            },
        };
        rng.purpose = purpose;
        for size in sizes {
            let mut bytes = vec![0u8; size];
            let Ok(()) = rand_core::TryRng::try_fill_bytes(&mut rng, &mut bytes);
        }
    }
    rng.draws
}

/// One sender chain as the reference tracks it.
#[derive(Clone)]
struct Chain {
    initial: Bytes32,
    key: Bytes32,
    iteration: u32,
    seed: Bytes32,
    signing_key: Bytes32,
    fingerprint: Bytes32,
}

struct Epoch {
    number: u64,
    members: Vec<Member>,
    hash: Bytes32,
    chains: BTreeMap<String, Chain>,
}

impl Epoch {
    fn new(group: &Bytes32, number: u64, members: Vec<Member>) -> Self {
        let members = g::canonical(members);
        let hash = g::membership_hash(group, number, &members);
        Self {
            number,
            members,
            hash,
            chains: BTreeMap::new(),
        }
    }

    fn add_chain(&mut self, group: &Bytes32, name: &str, key: Bytes32, seed: Bytes32) {
        let signing_key = r::ed25519_public(&seed);
        let fingerprint = g::fingerprint(group, self.number, &member(name), 0, &key, &signing_key);
        self.chains.insert(
            name.to_owned(),
            Chain {
                initial: key,
                key,
                iteration: 0,
                seed,
                signing_key,
                fingerprint,
            },
        );
    }

    fn view(&self, group: &Bytes32) -> Bytes32 {
        let members: Vec<(Member, Bytes32)> = self
            .members
            .iter()
            .map(|m| (m.clone(), self.chains[&m.user].fingerprint))
            .collect();
        g::view_hash(group, self.number, &self.hash, &members)
    }

    fn names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.user.clone()).collect()
    }
}

/// The scenario computed from the spec and the random draws alone.
pub fn run_reference(draws: &[(String, Vec<u8>)]) -> Value {
    let purposes = step_purposes();
    let take = |purpose: &str| -> Vec<Vec<u8>> { ScriptedRng::drawn_for(draws, purpose) };
    let mut group = [0u8; 32];
    let mut epochs: Vec<Epoch> = Vec::new();
    // Who holds whose chain, per epoch: (epoch, sender, holder).
    let mut held: BTreeSet<(u64, String, String)> = BTreeSet::new();
    let mut current: BTreeMap<String, u64> = BTreeMap::new();
    let mut consent: Option<Bytes32> = None;
    let mut messages = Vec::new();
    let mut welcomes: BTreeMap<String, Value> = BTreeMap::new();
    let mut last_change: Option<(&str, Change)> = None;
    let mut latest = 0u64;
    let mut index = 0usize;

    let epoch_of = |epochs: &mut Vec<Epoch>, number: u64| -> usize {
        epochs.iter().position(|e| e.number == number).unwrap()
    };

    for (step, purpose) in STEPS.iter().zip(&purposes) {
        let drawn = take(purpose);
        match *step {
            Step::Create(actor, others) => {
                group = b32(&drawn[0]);
                let mut members: Vec<Member> = others.iter().map(|n| member(n)).collect();
                members.push(member(actor));
                let mut epoch = Epoch::new(&group, 0, members);
                epoch.add_chain(&group, actor, b32(&drawn[1]), b32(&drawn[2]));
                welcomes.insert(
                    "0".into(),
                    json!([h(&g::welcome_frame(
                        &group,
                        0,
                        &epoch.hash,
                        0,
                        1,
                        &epoch.members,
                        None
                    ))]),
                );
                epochs.push(epoch);
                current.insert(actor.into(), 0);
            }
            Step::Join(who, inviter) => {
                let number = current[inviter];
                let at = epoch_of(&mut epochs, number);
                epochs[at].add_chain(&group, who, b32(&drawn[0]), b32(&drawn[1]));
                current.insert(who.into(), number);
            }
            Step::Distribute(from, to) => {
                let number = current[from];
                for to in to {
                    held.insert((number, from.into(), (*to).into()));
                }
            }
            Step::DistributeAll => {
                let number = latest;
                let at = epoch_of(&mut epochs, number);
                for from in epochs[at].names() {
                    for to in epochs[at].names() {
                        if from != to {
                            held.insert((number, from.clone(), to));
                        }
                    }
                }
            }
            Step::Send(_) | Step::Change(..) => {
                // A message's draws: its message id and franking key, then
                // its salt (spec/groups.md §6.2). A change's: the consent (to
                // share one), the message id, franking key and salt of its
                // control message, then the actor's new chain key and
                // signing seed (unless it leaves; §8.2).
                let mut drawn = drawn.clone();
                let (sender, content_type, body, control) = match *step {
                    Step::Send(from) => (from, 0u32, body_of(index, from).into_bytes(), None),
                    Step::Change(actor, change) => {
                        let at = epoch_of(&mut epochs, current[actor]);
                        let epoch = &epochs[at];
                        let action = match change {
                            Change::Add(name) => Action::Add(vec![member(name)]),
                            Change::Remove(name) => Action::Remove(vec![member(name)]),
                            Change::Leave => Action::Leave,
                            Change::ShareConsent => Action::ShareConsent(b32(&drawn.remove(0))),
                        };
                        let stays = |m: &&Member| match change {
                            Change::Remove(name) => m.user != name,
                            Change::Leave => m.user != actor,
                            _ => true,
                        };
                        let mut next_members: Vec<Member> =
                            epoch.members.iter().filter(stays).cloned().collect();
                        if let Change::Add(name) = change {
                            next_members.push(member(name));
                        }
                        let mut next = Epoch::new(&group, epoch.number + 1, next_members);
                        let signed = g::control_signed_string(
                            &group,
                            epoch.number,
                            &epoch.hash,
                            &member(actor),
                            &action,
                            &next.hash,
                        );
                        let signature = g::control_signature(&epoch.chains[actor].seed, &signed);
                        let frame = g::control_frame(
                            &group,
                            epoch.number,
                            &epoch.hash,
                            &member(actor),
                            &action,
                            &next.hash,
                            &signature,
                        );
                        let control = json!({
                            "epoch": epoch.number,
                            "membership_hash": h(&epoch.hash),
                            "actor": actor,
                            "new_membership_hash": h(&next.hash),
                            "signed_string": h(&signed),
                            "signature": h(&signature),
                            "frame": h(&frame),
                        });
                        if let Action::ShareConsent(value) = action {
                            consent = Some(value);
                        }
                        if let Change::Add(_) = change {
                            let page = g::welcome_frame(
                                &group,
                                next.number,
                                &next.hash,
                                0,
                                1,
                                &next.members,
                                consent.as_ref(),
                            );
                            welcomes.insert(next.number.to_string(), json!([h(&page)]));
                        }
                        if !matches!(change, Change::Leave) {
                            next.add_chain(&group, actor, b32(&drawn[3]), b32(&drawn[4]));
                        }
                        last_change = Some((actor, change));
                        (actor, 4u32, frame, Some((control, next)))
                    }
                    _ => unreachable!(),
                };
                let number = current[sender];
                let at = epoch_of(&mut epochs, number);
                let epoch = &mut epochs[at];
                let sender_member = member(sender);
                let message_id: [u8; 16] = drawn[0].clone().try_into().unwrap();
                let franking_key = b32(&drawn[1]);
                let salt: [u8; 16] = drawn[2].clone().try_into().unwrap();
                let sent_at = NOW + index as u64;
                let conversation = g::group_conversation(&group);
                let commitment = r::franking_commitment(
                    &franking_key,
                    &r::Address {
                        user: sender,
                        device: sender_member.device,
                    },
                    &conversation,
                    &message_id,
                    content_type,
                    &body,
                );
                let plaintext =
                    g::content_frame(content_type, &message_id, sent_at, &franking_key, &body);
                let holds_all = epoch
                    .names()
                    .iter()
                    .filter(|name| name.as_str() != sender)
                    .all(|name| held.contains(&(number, name.clone(), sender.to_owned())));
                let view = holds_all.then(|| epoch.view(&group));
                let chain = epoch.chains.get_mut(sender).unwrap();
                let (message_key, next_key) = g::chain_step(&chain.key);
                let iteration = chain.iteration;
                let (aead_key, nonce, key_commitment) = g::message_aead(&salt, &message_key);
                let ad = g::associated_data(
                    &group,
                    number,
                    &epoch.hash,
                    &sender_member,
                    iteration,
                    view.as_ref(),
                    &salt,
                    &commitment,
                );
                let ciphertext = r::aead_seal(&(aead_key, nonce, key_commitment), &ad, &plaintext);
                let signature = g::message_signature(&chain.seed, &ad, &ciphertext);
                let sealed = g::message_frame(
                    &group,
                    number,
                    iteration,
                    view.as_ref(),
                    &salt,
                    &ciphertext,
                    &signature,
                );
                let chain_key = chain.key;
                chain.key = next_key;
                chain.iteration += 1;
                let mut message = json!({
                    "index": index,
                    "sender": sender,
                    "epoch": number,
                    "iteration": iteration,
                    "content_type": content_type,
                    "message_id": h(&message_id),
                    "franking_key": h(&franking_key),
                    "sent_at_ms": sent_at,
                    "body": h(&body),
                    "conversation_id": h(&conversation),
                    "franking_commitment": h(&commitment),
                    "chain_key": h(&chain_key),
                    "message_key": h(&message_key),
                    "next_chain_key": h(&next_key),
                    "aead_key": h(&aead_key),
                    "nonce": h(&nonce),
                    "key_commitment": h(&key_commitment),
                    "plaintext": h(&plaintext),
                    "view": view.map_or(Value::Null, |view| h(&view)),
                    "salt": h(&salt),
                    "associated_data": h(&ad),
                    "ciphertext": h(&ciphertext),
                    "signed_string": h(&g::message_signed_string(&ad, &ciphertext)),
                    "signature": h(&signature),
                    "sealed_body": h(&sealed),
                });
                if let Some((control, next)) = control {
                    message["control"] = control;
                    if matches!(*step, Step::Change(_, Change::Leave)) {
                        current.remove(sender);
                    } else {
                        current.insert(sender.into(), next.number);
                    }
                    latest = next.number;
                    epochs.push(next);
                }
                messages.push(message);
                index += 1;
            }
            Step::Apply(who) => {
                let (_, change) = last_change.unwrap();
                let number = latest;
                let removed = matches!(change, Change::Remove(name) if name == who);
                if removed {
                    current.remove(who);
                } else {
                    let at = epoch_of(&mut epochs, number);
                    epochs[at].add_chain(&group, who, b32(&drawn[0]), b32(&drawn[1]));
                    current.insert(who.into(), number);
                }
            }
        }
    }

    let epochs_json: Vec<Value> = epochs
        .iter()
        .map(|epoch| {
            let chains: BTreeMap<String, Value> = epoch
                .chains
                .iter()
                .map(|(name, chain)| {
                    (
                        name.clone(),
                        json!({
                            "chain_key": h(&chain.initial),
                            "signing_seed": h(&chain.seed),
                            "signing_key": h(&chain.signing_key),
                            "fingerprint": h(&chain.fingerprint),
                            "distribution": h(&g::distribution_frame(
                                &group,
                                epoch.number,
                                &epoch.hash,
                                &member(name),
                                0,
                                &chain.initial,
                                &chain.signing_key,
                            )),
                        }),
                    )
                })
                .collect();
            let complete = epoch
                .members
                .iter()
                .all(|m| epoch.chains.contains_key(&m.user));
            json!({
                "epoch": epoch.number,
                "members": epoch.names(),
                "membership_hash": h(&epoch.hash),
                "chains": chains,
                "view_hash": if complete { h(&epoch.view(&group)) } else { Value::Null },
            })
        })
        .collect();
    let devices: BTreeMap<String, Value> = DEVICES
        .iter()
        .map(|(name, device, _)| {
            let identity = identity(name);
            (
                (*name).to_owned(),
                json!({
                    "device": device,
                    "signing_seed": h(&identity.signing_seed),
                    "agreement_secret": h(&identity.agreement_secret),
                    "signing_key": h(&identity.signing_key()),
                    "agreement_key": h(&identity.agreement_key()),
                    "signature": h(&identity.signature()),
                }),
            )
        })
        .collect();
    let conversation = g::group_conversation(&group);
    json!({
        "devices": devices,
        "group_id": h(&group),
        "conversation_id": h(&conversation),
        "epochs": epochs_json,
        "welcomes": welcomes,
        "messages": messages,
        "consent": h(&consent.unwrap()),
        "audience": String::from_utf8(AUDIENCE.to_vec()).unwrap(),
        "shared_identifier": h(&g::shared_identifier(&consent.unwrap(), AUDIENCE, &conversation)),
    })
}

/// Checks the implementation's output against the reference's file.
pub fn check_implementation(run: &Value, file: &Value) {
    for (epoch, pages) in run["welcomes"].as_object().unwrap() {
        assert_eq!(pages, &file["welcomes"][epoch], "welcome of epoch {epoch}");
    }
    assert_eq!(
        run["welcomes"].as_object().unwrap().len(),
        file["welcomes"].as_object().unwrap().len()
    );
    let epochs = file["epochs"].as_array().unwrap();
    for (key, distribution) in run["distributions"].as_object().unwrap() {
        let (epoch, name) = key.split_once(' ').unwrap();
        let epoch: usize = epoch.parse().unwrap();
        assert_eq!(
            distribution, &epochs[epoch]["chains"][name]["distribution"],
            "distribution of {name} in epoch {epoch}"
        );
    }
    for (epoch, seen) in run["epochs"].as_object().unwrap() {
        let epoch: usize = epoch.parse().unwrap();
        assert_eq!(seen["membership_hash"], epochs[epoch]["membership_hash"]);
        for (name, view) in seen["views"].as_object().unwrap() {
            assert_eq!(
                view, &epochs[epoch]["view_hash"],
                "view of {name} in epoch {epoch}"
            );
        }
    }
    let messages = file["messages"].as_array().unwrap();
    assert_eq!(run["messages"].as_array().unwrap().len(), messages.len());
    for (ran, expected) in run["messages"].as_array().unwrap().iter().zip(messages) {
        assert_eq!(
            ran["sealed_body"], expected["sealed_body"],
            "message {}",
            expected["index"]
        );
        assert_eq!(ran["franking_commitment"], expected["franking_commitment"]);
    }
    assert_eq!(run["shared_identifier"], file["shared_identifier"]);
}

/// Single computations on fixed inputs: a sender chain's first steps, two
/// membership hashes with a conversation id, a fingerprint and a view, and
/// per-audience identifiers.
pub fn primitives_reference() -> Value {
    let pattern = |start: u8| -> Bytes32 { std::array::from_fn(|i| start.wrapping_add(i as u8)) };
    let mut chain = pattern(0x10);
    let mut steps = Vec::new();
    for iteration in 0..6u32 {
        let (message_key, next) = g::chain_step(&chain);
        let salt: [u8; 16] = std::array::from_fn(|i| 0x60 + iteration as u8 * 0x10 + i as u8);
        let (key, nonce, commitment) = g::message_aead(&salt, &message_key);
        steps.push(json!({
            "iteration": iteration,
            "chain_key": h(&chain),
            "message_key": h(&message_key),
            "salt": h(&salt),
            "next_chain_key": h(&next),
            "aead_key": h(&key),
            "nonce": h(&nonce),
            "key_commitment": h(&commitment),
        }));
        chain = next;
    }
    let group = pattern(0x40);
    let members = g::canonical(vec![member("小林"), member("bob"), member("alice")]);
    let hash = g::membership_hash(&group, 7, &members);
    let grown = g::canonical(vec![
        member("小林"),
        member("bob"),
        member("alice"),
        member("dave"),
    ]);
    let grown_hash = g::membership_hash(&group, 8, &grown);
    let fingerprints: Vec<(Member, Bytes32)> = members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let key = pattern(0x80 + i as u8 * 0x20);
            let signing = r::ed25519_public(&pattern(0x90 + i as u8));
            (m.clone(), g::fingerprint(&group, 7, m, 0, &key, &signing))
        })
        .collect();
    let view = g::view_hash(&group, 7, &hash, &fingerprints);
    let secret_a = pattern(0xa0);
    let secret_b = pattern(0xb0);
    let consent = pattern(0xc0);
    let conversation = g::group_conversation(&group);
    let identifiers: Vec<Value> = [&b"mini-app.example"[..], b"bot.example"]
        .iter()
        .map(|audience| {
            json!({
                "audience": String::from_utf8(audience.to_vec()).unwrap(),
                "user_a": h(&g::user_identifier(&secret_a, audience)),
                "user_b": h(&g::user_identifier(&secret_b, audience)),
                "conversation_a": h(&g::conversation_identifier(&secret_a, audience, &conversation)),
                "conversation_b": h(&g::conversation_identifier(&secret_b, audience, &conversation)),
                "shared": h(&g::shared_identifier(&consent, audience, &conversation)),
            })
        })
        .collect();
    let member_json = |m: &Member| {
        json!({"user": m.user, "device": m.device, "signing_key": h(&m.signing_key),
               "agreement_key": h(&m.agreement_key), "signature": h(&m.signature)})
    };
    json!({
        "sender_chain": steps,
        "membership": {
            "group_id": h(&group),
            "conversation_id": h(&conversation),
            "epoch_7": {"members": members.iter().map(member_json).collect::<Vec<_>>(), "membership_hash": h(&hash)},
            "epoch_8": {"members": grown.iter().map(member_json).collect::<Vec<_>>(), "membership_hash": h(&grown_hash)},
            "view_of_epoch_7": {
                "chains": fingerprints.iter().enumerate().map(|(i, (m, f))| json!({
                    "user": m.user,
                    "iteration": 0,
                    "chain_key": h(&pattern(0x80 + i as u8 * 0x20)),
                    "signing_key": h(&r::ed25519_public(&pattern(0x90 + i as u8))),
                    "fingerprint": h(f),
                })).collect::<Vec<_>>(),
                "view_hash": h(&view),
            },
        },
        "identifiers": {
            "secret_a": h(&secret_a),
            "secret_b": h(&secret_b),
            "consent": h(&consent),
            "conversation_id": h(&conversation),
            "cases": identifiers,
        },
    })
}

/// Checks fuin-seal against `group-primitives.json` where its public API
/// reaches: membership hashes, the group conversation id, identifiers.
pub fn check_primitives(file: &Value) {
    let bytes = |value: &Value| hex::decode(value.as_str().unwrap()).unwrap();
    let membership = &file["membership"];
    let group = fuin_wire::GroupId(b32(&bytes(&membership["group_id"])));
    for (key, epoch) in [("epoch_7", 7), ("epoch_8", 8)] {
        let members = membership[key]["members"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .map(|m| GroupMember {
                address: DeviceAddress::new(
                    UserId::new(m["user"].as_str().unwrap().to_owned()).unwrap(),
                    DeviceId(m["device"].as_u64().unwrap() as u32),
                ),
                identity: PublicIdentity {
                    signing_key: Ed25519PublicKey(b32(&bytes(&m["signing_key"]))),
                    agreement_key: X25519PublicKey(b32(&bytes(&m["agreement_key"]))),
                    signature: Ed25519Signature(bytes(&m["signature"]).try_into().unwrap()),
                },
            })
            .collect();
        let computed = fuin_seal::group::Membership::new(group, epoch, members).unwrap();
        assert_eq!(
            computed.hash().0.to_vec(),
            bytes(&membership[key]["membership_hash"])
        );
    }
    assert_eq!(
        ConversationId::group(&group).0.to_vec(),
        bytes(&membership["conversation_id"])
    );
    let ids = &file["identifiers"];
    let secret = |key: &str| IdentifierSecret::from_secret_bytes(b32(&bytes(&ids[key])));
    let consent = GroupConsent(b32(&bytes(&ids["consent"])));
    let conversation = ConversationId(b32(&bytes(&ids["conversation_id"])));
    for case in ids["cases"].as_array().unwrap() {
        let audience = Audience::new(case["audience"].as_str().unwrap().as_bytes()).unwrap();
        for (who, key) in [("a", "secret_a"), ("b", "secret_b")] {
            assert_eq!(
                user_identifier(&secret(key), audience).0.to_vec(),
                bytes(&case[format!("user_{who}")])
            );
            assert_eq!(
                conversation_identifier(&secret(key), audience, &conversation)
                    .0
                    .to_vec(),
                bytes(&case[format!("conversation_{who}")])
            );
        }
        assert_eq!(
            shared_conversation_identifier(&consent, audience, &conversation)
                .0
                .to_vec(),
            bytes(&case["shared"])
        );
    }
}
