//! Sender binding: whatever a recipient's device displayed can be reported,
//! and the report verifies. Property-tested over bodies, user ids, device
//! numbers and selections, with real sessions and the relay's stamps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use fuin_report::{AuditLog, ReportBuilder, Verdict};
use fuin_wire::UserId;
use proptest::prelude::*;

fn user_id() -> impl Strategy<Value = String> {
    // Any text of 1-64 bytes without control characters (multi-byte too).
    "[a-zA-Z0-9_.é𝔣 -]{1,16}".prop_filter("a valid user id", |id| {
        id.len() <= 64 && UserId::new(id.clone()).is_ok()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_genuine_report_of_displayed_messages_always_verifies(
        sender in user_id(),
        reporter in user_id(),
        sender_device in any::<u32>(),
        reporter_device in any::<u32>(),
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 1..6),
        select in prop::collection::vec(any::<bool>(), 6),
        seed in any::<u64>(),
    ) {
        prop_assume!(sender != reporter);
        let mut world = World::new(seed);
        let from = address(&sender, sender_device);
        let to = address(&reporter, reporter_device);
        // Every message is displayed (opened without error) by the recipient.
        let received: Vec<_> = bodies
            .iter()
            .map(|body| world.send(&from, &to, body))
            .collect();
        for (message, body) in received.iter().zip(&bodies) {
            prop_assert_eq!(message.opened.content.body.as_bytes(), body.as_slice());
        }
        let mut selected: Vec<_> = received
            .iter()
            .zip(&select)
            .filter(|(_, chosen)| **chosen)
            .map(|(message, _)| message.reported())
            .collect();
        if selected.is_empty() {
            selected.push(received[0].reported());
        }
        let count = selected.len();
        let report = ReportBuilder::new(
            to.clone(),
            fuin_report::fuzzing::identity(),
            from.user.clone(),
            "abuse",
            RECEIVED_AT,
            selected,
        )
        .unwrap();
        let frame = { let key = world.moderation_key(); report.seal(&mut world.rng, &key) }.unwrap();
        let inbox = world.inbox(&to, &frame);
        let opened = world
            .moderator()
            .open(&mut AuditLog::in_memory(), "mo", &inbox, OPENED_AT)
            .unwrap();
        prop_assert_eq!(opened.messages.len(), count);
        for message in &opened.messages {
            prop_assert_eq!(message.verdict, Verdict::Verified);
            prop_assert_eq!(&message.sender, &from);
        }
    }
}
