//! A stateful interaction test for groups, in the style of libsignal's: up to
//! ten devices, a group of five to eight, driven by a seeded RNG through
//! sends and random membership changes, while a hostile relay drops,
//! duplicates and reorders group messages and hands a copy of every message
//! to every device, members or not.
//!
//! What must hold, from spec/groups.md: a message opens for a device only if
//! the device was a member of the epoch it was sent in; it opens exactly once
//! (a second delivery fails); it opens whenever the device is still in that
//! epoch, or in the next one with the sender still a member; and its body is
//! the one sealed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod group_support;

use fuin_seal::SealError;
use fuin_seal::group::{ChangeRequest, MemberStatus, Membership};
use fuin_wire::{DeliveredRecord, DeviceAddress};
use group_support::*;
use proptest::prelude::*;

const DEVICES: usize = 10;

#[derive(Debug, Clone)]
enum Op {
    /// The `n`th current member sends.
    Send(usize),
    /// The relay delivers one of the copies in flight.
    Deliver(usize),
    /// The relay delivers again a copy it delivered before.
    Duplicate(usize),
    /// The relay holds a copy back (delivered at the end, or never).
    Hold(usize),
    /// The `n`th member adds a device of the pool that is not a member.
    Add(usize, usize),
    /// The `n`th member removes another member.
    Remove(usize, usize),
    /// The `n`th member leaves.
    Leave(usize),
    /// The `n`th member shares a consent (a new epoch, same members).
    Renew(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => any::<usize>().prop_map(Op::Send),
        6 => any::<usize>().prop_map(Op::Deliver),
        1 => any::<usize>().prop_map(Op::Duplicate),
        2 => any::<usize>().prop_map(Op::Hold),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Op::Add(a, b)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Op::Remove(a, b)),
        1 => any::<usize>().prop_map(Op::Leave),
        1 => any::<usize>().prop_map(Op::Renew),
    ]
}

/// One copy of a message on its way to one device.
#[derive(Clone)]
struct Copy {
    record: DeliveredRecord<'static>,
    to: usize,
    body: String,
    sender: DeviceAddress<'static>,
    epoch: u64,
    /// The membership of the epoch it was sealed in.
    members: Membership,
}

struct Run {
    world: World,
    in_flight: Vec<Copy>,
    held: Vec<Copy>,
    delivered: Vec<Copy>,
    opened: Vec<(usize, String)>,
    sent: usize,
}

impl Run {
    /// The current members, in canonical order (every member is in the same
    /// epoch: control messages are delivered at once).
    fn members(&self) -> Vec<usize> {
        let state = self.world.devices[0..DEVICES]
            .iter()
            .filter_map(|device| device.state.as_ref())
            .filter(|state| state.status() == MemberStatus::Member)
            .max_by_key(|state| state.epoch())
            .unwrap();
        state
            .membership()
            .members()
            .iter()
            .map(|member| self.world.index_of(&member.address))
            .collect()
    }

    fn send(&mut self, from: usize) {
        self.sent += 1;
        let body = format!("message {}", self.sent);
        let state = self.world.devices[from].state.as_ref().unwrap();
        let members = state.membership().clone();
        let epoch = state.epoch();
        // The relay hands a copy to every device of the pool.
        let to: Vec<usize> = (0..DEVICES).filter(|&i| i != from).collect();
        let records = self.world.send_to(from, &body, &to);
        let sender = self.world.devices[from].address.clone();
        for (to, record) in to.into_iter().zip(records) {
            self.in_flight.push(Copy {
                record,
                to,
                body: body.clone(),
                sender: sender.clone(),
                epoch,
                members: members.clone(),
            });
        }
    }

    /// Delivers one copy and checks the outcome against spec/groups.md.
    fn deliver(&mut self, copy: Copy, again: bool) -> Result<(), TestCaseError> {
        let to = copy.to;
        let entitled = copy.members.contains(&self.world.devices[to].address);
        let Some(state) = self.world.devices[to].state.as_mut() else {
            // A device that never joined holds no key at all.
            return Ok(());
        };
        let current = state.epoch();
        let must_open = entitled
            && !again
            && (current == copy.epoch
                || (current == copy.epoch + 1
                    && state.status() == MemberStatus::Member
                    && state.membership().contains(&copy.sender)));
        let result = state.open(&copy.record, NOW);
        match result {
            Ok(opened) => {
                prop_assert!(
                    entitled,
                    "device {to} opened a message of an epoch it was not in"
                );
                prop_assert!(!again, "device {to} opened a message twice");
                prop_assert_eq!(text(&opened), copy.body.clone());
                self.opened.push((to, copy.body.clone()));
            }
            Err(err) => {
                prop_assert!(
                    !must_open,
                    "device {to} could not open `{}` (epoch {}, it is in {current}): {err}",
                    copy.body,
                    copy.epoch
                );
                if again && current == copy.epoch && entitled {
                    prop_assert_eq!(err, SealError::DuplicateMessage);
                }
            }
        }
        if !again {
            self.delivered.push(copy);
        }
        Ok(())
    }

    fn take(list: &mut Vec<Copy>, i: usize) -> Option<Copy> {
        (!list.is_empty()).then(|| list.remove(i % list.len()))
    }
}

fn run(seed: u64, initial: usize, ops: Vec<Op>, deliver_held: bool) -> Result<(), TestCaseError> {
    let mut run = Run {
        world: World::new(seed, DEVICES, initial),
        in_flight: Vec::new(),
        held: Vec::new(),
        delivered: Vec::new(),
        opened: Vec::new(),
        sent: 0,
    };
    for op in ops {
        let members = run.members();
        let pick = |n: usize| members[n % members.len()];
        match op {
            Op::Send(n) => run.send(pick(n)),
            Op::Deliver(i) => {
                if let Some(copy) = Run::take(&mut run.in_flight, i) {
                    run.deliver(copy, false)?;
                }
            }
            Op::Hold(i) => {
                if let Some(copy) = Run::take(&mut run.in_flight, i) {
                    run.held.push(copy);
                }
            }
            Op::Duplicate(i) => {
                if !run.delivered.is_empty() {
                    let copy = run.delivered[i % run.delivered.len()].clone();
                    run.deliver(copy, true)?;
                }
            }
            Op::Add(n, m) => {
                let outside: Vec<usize> = (0..DEVICES).filter(|i| !members.contains(i)).collect();
                if !outside.is_empty() && members.len() < DEVICES {
                    let joiner = outside[m % outside.len()];
                    let member = run.world.devices[joiner].member();
                    run.world.change(pick(n), ChangeRequest::Add(vec![member]));
                }
            }
            Op::Remove(n, m) => {
                let actor = pick(n);
                let others: Vec<usize> = members.iter().copied().filter(|&i| i != actor).collect();
                if members.len() > 2 {
                    let removed = run.world.devices[others[m % others.len()]].address.clone();
                    run.world
                        .change(actor, ChangeRequest::Remove(vec![removed]));
                }
            }
            Op::Leave(n) => {
                if members.len() > 2 {
                    run.world.change(pick(n), ChangeRequest::Leave);
                }
            }
            Op::Renew(n) => {
                run.world.change(pick(n), ChangeRequest::ShareConsent);
            }
        }
    }
    // Whatever is still in flight arrives now; held copies arrive last, or
    // never (a dropped message must not disturb the rest).
    let mut rest = std::mem::take(&mut run.in_flight);
    if deliver_held {
        rest.append(&mut run.held);
    }
    for copy in rest {
        run.deliver(copy.clone(), false)?;
        run.deliver(copy, true)?;
    }
    // Each device opened each message at most once.
    let mut seen = run.opened.clone();
    seen.sort();
    seen.dedup();
    prop_assert_eq!(seen.len(), run.opened.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn every_message_opens_once_for_every_entitled_member_and_never_for_others(
        seed in any::<u64>(),
        initial in 5usize..=8,
        ops in proptest::collection::vec(op(), 1..100),
        deliver_held in any::<bool>(),
    ) {
        run(seed, initial, ops, deliver_held)?;
    }
}
