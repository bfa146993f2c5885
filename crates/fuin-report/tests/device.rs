//! The reporter's side: only the selected messages leave the device, the
//! preview shows exactly them, the selection is checked and capped, and no
//! secret reaches `Debug` output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use fuin_report::{
    AuditLog, MAX_REPORTED_MESSAGES, ReportBuilder, ReportContent, ReportError, Verdict,
};
use fuin_wire::{ContentType, FrameBody, HybridSealedReport, UserId};

fn builder(
    messages: Vec<fuin_report::ReportedMessage<'static>>,
) -> Result<ReportBuilder, ReportError> {
    ReportBuilder::new(
        address("bob", 1),
        fuin_report::fuzzing::identity(),
        UserId::new("carol").unwrap(),
        "harassment",
        RECEIVED_AT - 5_000,
        messages,
    )
}

#[test]
fn only_the_selected_messages_leave_the_device() {
    let mut world = World::new(20);
    let (carol, bob) = (address("carol", 1), address("bob", 1));
    let history: Vec<_> = [
        &b"good morning"[..],
        b"you are worthless",
        b"see you later",
        b"nobody likes you",
    ]
    .into_iter()
    .map(|body| world.send(&carol, &bob, body))
    .collect();
    // The user selects the second and the fourth.
    let selected = vec![history[1].reported(), history[3].reported()];
    let report = builder(selected).unwrap();

    let preview = report.preview();
    let texts: Vec<_> = preview.messages.iter().map(|m| m.text()).collect();
    assert_eq!(texts, ["you are worthless", "nobody likes you"]);
    assert_eq!(preview.reason, "harassment");
    assert_eq!(preview.conversation_with.as_str(), "carol");
    assert_eq!(preview.reporter, bob);
    assert!(preview.messages.iter().all(|m| m.sender == carol));

    // What moderation opens is what the preview showed, and nothing else.
    let frame = {
        let key = world.moderation_key();
        report.seal(&mut world.rng, &key)
    }
    .unwrap();
    let sealed = HybridSealedReport::from_bytes(&frame).unwrap();
    for unselected in [&b"good morning"[..], b"see you later", b"worthless"] {
        assert!(
            !sealed
                .ciphertext
                .as_bytes()
                .windows(unselected.len())
                .any(|w| w == unselected),
            "plaintext in the sealed report"
        );
    }
    let inbox = world.inbox(&bob, &frame);
    let opened = world
        .moderator()
        .open(&mut AuditLog::in_memory(), "mo", &inbox, OPENED_AT)
        .unwrap();
    let opened_texts: Vec<_> = opened.messages.iter().map(|m| m.text()).collect();
    assert_eq!(opened_texts, texts);
    assert!(
        opened
            .messages
            .iter()
            .all(|m| m.verdict == Verdict::Verified)
    );
    assert_eq!(opened.reason, "harassment");
}

#[test]
fn the_selection_is_explicit_checked_and_capped() {
    let mut world = World::new(21);
    let (carol, bob) = (address("carol", 1), address("bob", 1));
    let message = world.send(&carol, &bob, b"m").reported();

    assert_eq!(builder(vec![]).unwrap_err(), ReportError::NoMessages);
    let many: Vec<_> = (0..=MAX_REPORTED_MESSAGES)
        .map(|i| {
            world
                .send(&carol, &bob, format!("{i}").as_bytes())
                .reported()
        })
        .collect();
    assert_eq!(
        builder(many[..MAX_REPORTED_MESSAGES + 1].to_vec()).unwrap_err(),
        ReportError::LimitExceeded {
            field: "messages",
            len: MAX_REPORTED_MESSAGES + 1,
            max: MAX_REPORTED_MESSAGES
        }
    );
    assert!(builder(many[..MAX_REPORTED_MESSAGES].to_vec()).is_ok());
    assert_eq!(
        builder(vec![message.clone(), message.clone()]).unwrap_err(),
        ReportError::ListedTwice { index: 1 }
    );
    let mut secret_share = message.clone();
    secret_share.content_type = ContentType::IdentifierSecret;
    assert_eq!(
        builder(vec![secret_share]).unwrap_err(),
        ReportError::NotReportable { index: 0 }
    );
    let to_alice = world.send(&carol, &address("alice", 1), b"x").reported();
    assert_eq!(
        builder(vec![message.clone(), to_alice]).unwrap_err(),
        ReportError::NotAddressedToReporter { index: 1 }
    );
    let from_dave = world.send(&address("dave", 1), &bob, b"x").reported();
    assert_eq!(
        builder(vec![from_dave]).unwrap_err(),
        ReportError::NotInConversation { index: 0 }
    );
    // The reporter's own messages of the conversation (from another of its
    // devices) may be selected as context.
    let own = world.send(&address("bob", 2), &bob, b"my reply").reported();
    assert!(builder(vec![message.clone(), own]).is_ok());
    for reason in ["", "\u{1b}[2J"] {
        let result = ReportBuilder::new(
            bob.clone(),
            fuin_report::fuzzing::identity(),
            UserId::new("carol").unwrap(),
            reason,
            0,
            vec![message.clone()],
        );
        assert!(matches!(result, Err(ReportError::InvalidReason { .. })));
    }
}

#[test]
fn every_report_is_sealed_with_a_fresh_ephemeral_key() {
    let mut world = World::new(22);
    let message = world
        .send(&address("carol", 1), &address("bob", 1), b"m")
        .reported();
    let report = builder(vec![message]).unwrap();
    let key = world.moderation_key();
    let first = report.seal(&mut world.rng, &key).unwrap();
    let second = report.seal(&mut world.rng, &key).unwrap();
    let (first, second) = (
        HybridSealedReport::from_bytes(&first).unwrap(),
        HybridSealedReport::from_bytes(&second).unwrap(),
    );
    assert_ne!(first.ephemeral_key, second.ephemeral_key);
    assert_ne!(first.kem_ciphertext, second.kem_ciphertext);
    assert_ne!(first.ciphertext, second.ciphertext);
    assert_eq!(first.moderation_key_id, world.moderation_key_id);
}

#[test]
fn no_secret_reaches_debug_output() {
    let mut world = World::new(23);
    let received = world.send(&address("carol", 1), &address("bob", 1), b"secret words");
    let message = received.reported();
    let nf = message.franking_key.as_bytes().to_vec();
    let report = builder(vec![message]).unwrap();
    let frame = {
        let key = world.moderation_key();
        report.seal(&mut world.rng, &key)
    }
    .unwrap();
    let inbox = world.inbox(&address("bob", 1), &frame);
    let opened = world
        .moderator()
        .open(&mut AuditLog::in_memory(), "mo", &inbox, OPENED_AT)
        .unwrap();
    let nf_forms = [
        hex_of(&nf),
        format!("{:?}", &nf[..8]).trim_end_matches(']').to_owned(),
    ];
    let secret = world.moderation_secret_key();
    let secret_hex = hex_of(&secret.to_bytes()[12..]);
    for shown in [
        format!("{report:?}"),
        format!("{:?}", report.content()),
        format!("{opened:?}"),
        format!("{secret:?}"),
        format!("{:?}", world.moderator()),
        format!("{:?}", world.stamp_keys()),
    ] {
        for form in &nf_forms {
            assert!(!shown.contains(form.as_str()), "nf in {shown}");
        }
        assert!(!shown.contains(&secret_hex[..16]), "secret key in {shown}");
        assert!(!shown.contains(&hex_of(&CURRENT_KEY.1)[..16]));
        assert!(!shown.contains("34, 34, 34, 34"), "stamp key in {shown}");
    }
    // The verified report's Debug shows bodies by length only.
    assert!(!format!("{opened:?}").contains("secret words"));
    assert!(!format!("{:?}", opened.messages[0]).contains("115, 101, 99"));
    // Errors name fields and codes, never content.
    let error = ReportContent::from_bytes(&[1, 0xff])
        .unwrap_err()
        .to_string();
    assert!(!error.contains("secret words"));
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
