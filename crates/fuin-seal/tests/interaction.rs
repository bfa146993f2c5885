//! A stateful interaction test in the style of libsignal's: two devices send
//! in both directions while a hostile relay drops, duplicates and reorders
//! messages. Every delivered message must open exactly once, with the body
//! its sender sealed; every duplicate must fail as a duplicate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use fuin_seal::SealError;
use fuin_wire::DeliveredRecord;
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Side {
    Alice,
    Bob,
}

#[derive(Debug, Clone)]
enum Op {
    /// `Side` seals a message to the other side.
    Send(Side),
    /// The relay delivers one of the messages in flight to `Side`.
    Deliver(Side, usize),
    /// The relay delivers again a message `Side` already opened.
    Duplicate(Side, usize),
    /// The relay drops a message in flight to `Side` (for now: it may be
    /// delivered at the end, as a very late message, or never).
    Hold(Side, usize),
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Alice), Just(Side::Bob)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => side().prop_map(Op::Send),
        3 => (side(), any::<usize>()).prop_map(|(s, i)| Op::Deliver(s, i)),
        1 => (side(), any::<usize>()).prop_map(|(s, i)| Op::Duplicate(s, i)),
        1 => (side(), any::<usize>()).prop_map(|(s, i)| Op::Hold(s, i)),
    ]
}

#[derive(Default)]
struct Mailbox {
    in_flight: Vec<(DeliveredRecord<'static>, String)>,
    held: Vec<(DeliveredRecord<'static>, String)>,
    opened: Vec<DeliveredRecord<'static>>,
}

fn open(pair: &mut Pair, to: Side, record: &DeliveredRecord<'static>) -> Result<String, SealError> {
    let session = match to {
        Side::Alice => &mut pair.alice_session,
        Side::Bob => &mut pair.bob_session,
    };
    session.open(record, NOW).map(|opened| body(&opened))
}

fn run(seed: u64, ops: Vec<Op>, deliver_held: bool) -> Result<(), TestCaseError> {
    let mut pair = Pair::new(seed);
    let mut to_alice = Mailbox::default();
    let mut to_bob = Mailbox::default();
    let mut counter = 0;
    for op in ops {
        match op {
            Op::Send(from) => {
                counter += 1;
                let text = format!("message {counter}");
                match from {
                    Side::Alice => {
                        let record = pair.alice_sends(&text);
                        to_bob.in_flight.push((record, text));
                    }
                    Side::Bob => {
                        let record = pair.bob_sends(&text);
                        to_alice.in_flight.push((record, text));
                    }
                }
            }
            Op::Deliver(to, i) | Op::Hold(to, i) => {
                let mailbox = match to {
                    Side::Alice => &mut to_alice,
                    Side::Bob => &mut to_bob,
                };
                if mailbox.in_flight.is_empty() {
                    continue;
                }
                let (record, text) = mailbox.in_flight.remove(i % mailbox.in_flight.len());
                if matches!(op, Op::Hold(..)) {
                    mailbox.held.push((record, text));
                    continue;
                }
                let opened = open(&mut pair, to, &record);
                prop_assert_eq!(opened, Ok(text));
                let mailbox = match to {
                    Side::Alice => &mut to_alice,
                    Side::Bob => &mut to_bob,
                };
                mailbox.opened.push(record);
            }
            Op::Duplicate(to, i) => {
                let mailbox = match to {
                    Side::Alice => &to_alice,
                    Side::Bob => &to_bob,
                };
                if mailbox.opened.is_empty() {
                    continue;
                }
                let record = mailbox.opened[i % mailbox.opened.len()].clone();
                prop_assert_eq!(
                    open(&mut pair, to, &record),
                    Err(SealError::DuplicateMessage)
                );
            }
        }
    }
    // Whatever is still in flight arrives now; held messages arrive last, or
    // never (a dropped message must not disturb the rest).
    for (to, mailbox) in [(Side::Alice, &mut to_alice), (Side::Bob, &mut to_bob)] {
        let mut rest = std::mem::take(&mut mailbox.in_flight);
        if deliver_held {
            rest.append(&mut mailbox.held);
        }
        for (record, text) in rest {
            prop_assert_eq!(open(&mut pair, to, &record), Ok(text));
            prop_assert_eq!(
                open(&mut pair, to, &record),
                Err(SealError::DuplicateMessage)
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_message_opens_exactly_once_whatever_the_relay_does(
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(), 1..120),
        deliver_held in any::<bool>(),
    ) {
        run(seed, ops, deliver_held)?;
    }
}
