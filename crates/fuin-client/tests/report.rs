//! Reports through the SDK and a real relay: only the selected message
//! leaves the device, the relay keeps it sealed, and moderation, pulling
//! from the relay's inbox, verifies it; the same message reported from a
//! second device of the same user counts once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::moderation::{moderated_relay, moderator, pull};
use common::{Devices, NO_WAIT};
use fuin_client::report::{AuditLog, Verdict};
use fuin_client::{Client, ClientError};

async fn received_ids(client: &Client, peer: &str) -> Vec<(i64, String)> {
    client
        .history(peer, 50)
        .await
        .unwrap()
        .into_iter()
        .filter(|message| !message.outgoing)
        .map(|message| (message.local_id, message.text))
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reported_message_reaches_moderation_verified_and_alone() {
    let relay = moderated_relay().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let bob_laptop = devices.link(&relay, &bob, "bob", 2, "laptop").await;
    let texts = [
        "lunch at noon?",
        "you had better watch your back",
        "see you there",
    ];
    for text in texts {
        alice.send_text("bob", text).await.unwrap();
    }
    bob.sync(NO_WAIT).await.unwrap();
    bob_laptop.sync(NO_WAIT).await.unwrap();
    let received = received_ids(&bob, "alice").await;
    assert_eq!(received.len(), 3);
    let (abusive, text) = received[1].clone();
    assert_eq!(text, texts[1]);

    // The preview is exactly the selected message.
    let report = bob.report("threat", &[abusive]).await.unwrap();
    let preview = report.preview();
    assert_eq!(preview.messages.len(), 1);
    assert_eq!(preview.messages[0].text(), texts[1]);
    assert_eq!(preview.messages[0].sender.to_string(), "alice/1");
    assert_eq!(preview.conversation_with.as_str(), "alice");
    assert_eq!(preview.reporter.to_string(), "bob/1");

    let moderator = moderator();
    let accepted = bob
        .submit_report(&report, &moderator.public_key().unwrap())
        .await
        .unwrap();

    // The relay holds the report sealed: none of the texts in its files.
    let database = std::fs::read(relay.database()).unwrap();
    let mut wal = relay.database().into_os_string();
    wal.push("-wal");
    let wal = std::fs::read(wal).unwrap_or_default();
    for text in texts {
        assert!(!contains(&database, text.as_bytes()));
        assert!(!contains(&wal, text.as_bytes()));
    }

    let batch = pull(&relay).await;
    assert_eq!(batch.reports.len(), 1);
    let inbox = &batch.reports.as_slice()[0];
    assert_eq!(inbox.report_id, accepted.report_id);
    assert_eq!(inbox.reporter.to_string(), "bob/1");
    let mut audit = AuditLog::in_memory();
    let opened = moderator.open(&mut audit, "mo", inbox, 0).unwrap();
    assert_eq!(opened.messages.len(), 1);
    let message = &opened.messages[0];
    assert_eq!(message.verdict, Verdict::Verified);
    assert_eq!(message.text(), texts[1]);
    assert_eq!(message.sender.to_string(), "alice/1");
    assert_eq!(opened.reason, "threat");
    assert!(pull(&relay).await.reports.is_empty(), "acknowledged");

    // bob's laptop got its own copy of the same message (the same
    // commitment): reported from there, it is verified and counted once.
    let laptop_ids = received_ids(&bob_laptop, "alice").await;
    let (laptop_copy, _) = laptop_ids
        .iter()
        .find(|(_, text)| text == texts[1])
        .cloned()
        .unwrap();
    let report = bob_laptop.report("threat", &[laptop_copy]).await.unwrap();
    bob_laptop
        .submit_report(&report, &moderator.public_key().unwrap())
        .await
        .unwrap();
    let batch = pull(&relay).await;
    let opened = moderator
        .open(&mut audit, "mo", &batch.reports.as_slice()[0], 0)
        .unwrap();
    assert_eq!(opened.messages[0].verdict, Verdict::Duplicate);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_is_refused_unless_it_is_an_explicit_selection_of_received_messages() {
    let relay = moderated_relay().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let carol = devices.create(&relay, "carol", 1).await;
    alice.send_text("bob", "from alice").await.unwrap();
    carol.send_text("bob", "from carol").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let sent = bob.send_text("alice", "from bob").await.unwrap();
    let from_alice = received_ids(&bob, "alice").await[0].0;
    let from_carol = received_ids(&bob, "carol").await[0].0;

    fn refused<T>(result: Result<T, ClientError>) -> String {
        match result {
            Err(ClientError::InvalidArgument(why)) => why,
            Ok(_) => panic!("accepted"),
            Err(other) => panic!("{other:?}"),
        }
    }
    assert!(refused(bob.report("spam", &[]).await).contains("at least one"));
    assert!(refused(bob.report("spam", &[9999]).await).contains("no message 9999"));
    assert!(refused(bob.report("spam", &[sent.local_id]).await).contains("sent by this device"));
    assert!(
        refused(bob.report("spam", &[from_alice, from_carol]).await).contains("one conversation")
    );
    assert!(refused(bob.report("spam", &[from_alice, from_alice]).await).contains("twice"));
    assert!(refused(bob.report("", &[from_alice]).await).contains("reason"));
    let too_many = vec![from_alice; fuin_client::report::MAX_REPORTED_MESSAGES + 1];
    assert!(refused(bob.report("spam", &too_many).await).contains("limit"));

    // A report made on one device cannot be submitted by another.
    let report = bob.report("spam", &[from_alice]).await.unwrap();
    let key = moderator().public_key().unwrap();
    assert!(refused(alice.submit_report(&report, &key).await).contains("another device"));
    relay.stop().await;
}
