//! Typed content through a real relay (`spec/client.md` §14): edits,
//! deletes for everyone, reactions and replies between two users and their
//! second devices; the rules a peer cannot break (editing or deleting
//! another user's message); content of an unknown type kept and surfaced;
//! typing indicators never stored; reports of edits and app content;
//! disappearing messages gone from the store's files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::moderation::{moderated_relay, moderator, pull};
use common::{Devices, NO_WAIT, drain};
use fuin_client::content_types::{BuiltIn, Delete, Edit, TypeName, TypedContent};
use fuin_client::report::{AuditLog, Verdict};
use fuin_client::{Client, ClientError, Event, Message, MessageKind, MessageStatus};
use fuin_wire::{ContentType, SecretBytes};

async fn sync_all(clients: &[&Client]) {
    for client in clients {
        client.sync(NO_WAIT).await.unwrap();
    }
}

/// The shown message of `client`'s conversation with `peer` whose id is `id`.
async fn by_id(client: &Client, peer: &str, id: fuin_wire::ClientMessageId) -> Message {
    client
        .history(peer, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|message| message.id == id)
        .unwrap_or_else(|| panic!("{} has no message {id:?}", client.address()))
}

fn invalid(result: Result<impl std::fmt::Debug, ClientError>) -> String {
    match result {
        Err(ClientError::InvalidArgument(reason)) => reason,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

/// `client` reports its message `local_id`; moderation pulls the report
/// from the relay's inbox and opens it: the checked message.
async fn reported(
    relay: &common::TestRelay,
    client: &Client,
    local_id: i64,
) -> fuin_client::report::CheckedMessage {
    let moderator = moderator();
    let report = client.report("abuse", &[local_id]).await.unwrap();
    client
        .submit_report(&report, &moderator.public_key().unwrap())
        .await
        .unwrap();
    let batch = pull(relay).await;
    let mut audit = AuditLog::in_memory();
    let mut opened = moderator
        .open(&mut audit, "mo", &batch.reports.as_slice()[0], 0)
        .unwrap();
    opened.messages.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_deletes_reactions_and_replies_reach_every_device_of_both_users() {
    let relay = common::TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let alice_laptop = devices.link(&relay, &alice, "alice", 2, "laptop").await;
    let bob_laptop = devices.link(&relay, &bob, "bob", 2, "laptop").await;
    let everyone = [&alice, &alice_laptop, &bob, &bob_laptop];
    sync_all(&everyone).await;

    let sent = alice.send_text("bob", "meet at 5").await.unwrap();
    let id = alice.message(sent.local_id).await.unwrap().unwrap().id;
    sync_all(&everyone).await;
    for client in [&alice_laptop, &bob, &bob_laptop] {
        let peer = if client.address().user.as_str() == "bob" {
            "alice"
        } else {
            "bob"
        };
        assert_eq!(by_id(client, peer, id).await.text, "meet at 5");
    }

    // alice edits her message from her other device: every device shows
    // the new text, and bob's devices are told which message changed.
    let on_laptop = by_id(&alice_laptop, "bob", id).await;
    let mut bob_events = bob.events();
    alice_laptop
        .edit_message(on_laptop.local_id, "meet at 6")
        .await
        .unwrap();
    sync_all(&everyone).await;
    for (client, peer) in [
        (&alice, "bob"),
        (&alice_laptop, "bob"),
        (&bob, "alice"),
        (&bob_laptop, "alice"),
    ] {
        let message = by_id(client, peer, id).await;
        assert_eq!(message.text, "meet at 6", "on {}", client.address());
        assert!(message.edited_at_ms.is_some());
        assert_eq!(message.kind, MessageKind::Text);
    }
    let bob_copy = by_id(&bob, "alice", id).await;
    assert!(drain(&mut bob_events).contains(&Event::MessageUpdated {
        conversation: "alice".into(),
        local_id: bob_copy.local_id,
    }));
    // The edit is not a message of the list, and not unread.
    assert_eq!(bob.history("alice", 100).await.unwrap().len(), 1);
    let conversations = bob.conversations().await.unwrap();
    assert_eq!((conversations[0].messages, conversations[0].unread), (1, 1));

    // bob may not edit or delete alice's message: the SDK refuses...
    assert!(invalid(bob.edit_message(bob_copy.local_id, "meet never").await).contains("author"));
    assert!(invalid(bob.delete_for_everyone(bob_copy.local_id).await).contains("author"));
    // ...and an edit or delete bob's device forges anyway aims at bob's own
    // messages (the target's author is the sender's user): alice's stays.
    let forged_edit = Edit {
        target: id,
        text: "meet never".into(),
    }
    .to_typed_bytes()
    .unwrap();
    bob.send_raw_content_for_testing("alice", ContentType::Typed, &forged_edit)
        .await
        .unwrap();
    let forged_delete = Delete { target: id }.to_typed_bytes().unwrap();
    bob.send_raw_content_for_testing("alice", ContentType::Typed, &forged_delete)
        .await
        .unwrap();
    sync_all(&everyone).await;
    for (client, peer) in [(&alice, "bob"), (&bob_laptop, "alice")] {
        let message = by_id(client, peer, id).await;
        assert_eq!(message.text, "meet at 6", "on {}", client.address());
        assert_ne!(message.kind, MessageKind::Deleted);
    }

    // bob reacts, changes his reaction, and alice's laptop reacts too.
    bob.react(bob_copy.local_id, "👍").await.unwrap();
    sync_all(&everyone).await;
    bob_laptop
        .react(by_id(&bob_laptop, "alice", id).await.local_id, "❤️")
        .await
        .unwrap();
    alice_laptop.react(on_laptop.local_id, "🎉").await.unwrap();
    sync_all(&everyone).await;
    for (client, peer) in [(&alice, "bob"), (&bob, "alice"), (&bob_laptop, "alice")] {
        let reactions: Vec<(String, String)> = by_id(client, peer, id)
            .await
            .reactions
            .into_iter()
            .map(|reaction| (reaction.user, reaction.reaction))
            .collect();
        assert_eq!(
            reactions,
            [
                ("alice".to_owned(), "🎉".to_owned()),
                ("bob".to_owned(), "❤️".to_owned())
            ],
            "on {}",
            client.address()
        );
    }
    // An empty reaction takes bob's back.
    bob.react(bob_copy.local_id, "").await.unwrap();
    sync_all(&everyone).await;
    let reactions = by_id(&alice, "bob", id).await.reactions;
    assert_eq!(reactions.len(), 1);
    assert_eq!(reactions[0].user, "alice");
    assert!(matches!(
        bob.react(bob_copy.local_id, "a\u{202E}b").await,
        Err(ClientError::InvalidArgument(_))
    ));

    // bob replies quoting it; every device links the reply to its copy.
    let reply = bob.reply(bob_copy.local_id, "6 works").await.unwrap();
    let reply_id = bob.message(reply.local_id).await.unwrap().unwrap().id;
    sync_all(&everyone).await;
    for (client, peer) in [
        (&alice, "bob"),
        (&alice_laptop, "bob"),
        (&bob_laptop, "alice"),
    ] {
        let shown = by_id(client, peer, reply_id).await;
        let quoted = by_id(client, peer, id).await;
        assert_eq!(shown.text, "6 works");
        match shown.kind {
            MessageKind::Reply {
                quote,
                quote_local_id,
            } => {
                assert_eq!(quote.author.as_str(), "alice");
                assert_eq!(quote.id, id);
                assert_eq!(quote_local_id, Some(quoted.local_id));
            }
            other => panic!("not a reply: {other:?}"),
        }
    }
    // A reply can be edited by its author like a text.
    bob_laptop
        .edit_message(
            by_id(&bob_laptop, "alice", reply_id).await.local_id,
            "6 is fine",
        )
        .await
        .unwrap();
    sync_all(&everyone).await;
    assert_eq!(by_id(&alice, "bob", reply_id).await.text, "6 is fine");

    // alice deletes her message for everyone: its text, edits and
    // reactions are gone on every device; nobody can react to it now.
    alice.delete_for_everyone(sent.local_id).await.unwrap();
    sync_all(&everyone).await;
    for (client, peer) in [
        (&alice, "bob"),
        (&alice_laptop, "bob"),
        (&bob, "alice"),
        (&bob_laptop, "alice"),
    ] {
        let message = by_id(client, peer, id).await;
        assert_eq!(
            message.kind,
            MessageKind::Deleted,
            "on {}",
            client.address()
        );
        assert_eq!(message.text, "");
        assert!(message.reactions.is_empty());
        assert!(client.edits(message.local_id).await.unwrap().is_empty());
    }
    assert!(invalid(bob.react(bob_copy.local_id, "👍").await).contains("deleted"));
    // A deleted message has no franking opening left to report.
    assert!(bob.report("spam", &[bob_copy.local_id]).await.is_err());
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_of_an_unknown_type_is_kept_surfaced_and_reportable() {
    let relay = moderated_relay().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let bob_laptop = devices.link(&relay, &bob, "bob", 2, "laptop").await;
    // bob's laptop runs a newer app that knows polls; his phone does not.
    bob_laptop
        .register_content_type("com.example.poll")
        .unwrap();
    assert!(
        bob.register_content_type("fuin.poll").is_err(),
        "the SDK's namespace"
    );
    assert!(bob.register_content_type("Poll").is_err());
    assert!(
        alice
            .send_app_content("bob", "fuin.edit", b"x")
            .await
            .is_err()
    );

    let mut phone_events = bob.events();
    let mut laptop_events = bob_laptop.events();
    let poll = br#"{"q":"lunch?","options":["yes","no"]}"#;
    alice
        .send_app_content("bob", "com.example.poll", poll)
        .await
        .unwrap();
    // A built-in type of a newer version of the SDK, sent as raw content.
    let future = TypedContent {
        type_name: TypeName::new("fuin.sticker").unwrap(),
        payload: SecretBytes::borrowed(b"\x01\x02"),
    }
    .to_bytes()
    .unwrap();
    alice
        .send_raw_content_for_testing("bob", ContentType::Typed, &future)
        .await
        .unwrap();
    sync_all(&[&bob, &bob_laptop]).await;

    let phone = bob.history("alice", 10).await.unwrap();
    assert_eq!(phone.len(), 2, "both kept, not dropped");
    assert_eq!(
        phone[0].kind,
        MessageKind::App {
            type_name: "com.example.poll".into(),
            payload: poll.to_vec(),
        }
    );
    assert_eq!(
        phone[1].kind,
        MessageKind::App {
            type_name: "fuin.sticker".into(),
            payload: vec![1, 2],
        }
    );
    let unknown: Vec<String> = drain(&mut phone_events)
        .into_iter()
        .filter_map(|event| match event {
            Event::UnknownContent { type_name, .. } => Some(type_name),
            Event::MessageReceived { .. } => panic!("an unknown type is not a plain message"),
            _ => None,
        })
        .collect();
    assert_eq!(unknown, ["com.example.poll", "fuin.sticker"]);
    // The laptop knows polls: a message received; the sticker is unknown.
    let laptop_events = drain(&mut laptop_events);
    assert_eq!(
        laptop_events
            .iter()
            .filter(|event| matches!(event, Event::MessageReceived { .. }))
            .count(),
        1
    );
    assert!(laptop_events.iter().any(|event| matches!(
        event,
        Event::UnknownContent { type_name, .. } if type_name == "fuin.sticker"
    )));

    // App content is franked like text: reported, it verifies, and
    // moderation sees its type.
    let checked = reported(&relay, &bob, phone[0].local_id).await;
    assert_eq!(checked.verdict, Verdict::Verified);
    assert_eq!(
        checked.text(),
        format!("[com.example.poll] {} bytes", poll.len())
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_is_franked_and_reportable_after_a_later_edit() {
    let relay = moderated_relay().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let sent = alice.send_text("bob", "hello").await.unwrap();
    alice
        .edit_message(sent.local_id, "you will regret this")
        .await
        .unwrap();
    alice.edit_message(sent.local_id, "hello!").await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let shown = &bob.history("alice", 10).await.unwrap()[0];
    assert_eq!(shown.text, "hello!");
    let edits = bob.edits(shown.local_id).await.unwrap();
    let texts: Vec<&str> = edits.iter().map(|edit| edit.text.as_str()).collect();
    assert_eq!(texts, ["you will regret this", "hello!"]);

    let checked = reported(&relay, &bob, edits[0].local_id).await;
    assert_eq!(checked.verdict, Verdict::Verified);
    assert!(
        checked.text().contains("\"you will regret this\""),
        "{}",
        checked.text()
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_is_shown_to_the_peer_and_never_stored() {
    let relay = common::TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let alice_laptop = devices.link(&relay, &alice, "alice", 2, "laptop").await;
    sync_all(&[&alice, &alice_laptop, &bob]).await;
    let mut bob_events = bob.events();
    let mut laptop_events = alice_laptop.events();
    alice.send_typing("bob", true).await.unwrap();
    sync_all(&[&alice_laptop, &bob]).await;
    let typing: Vec<(String, bool)> = drain(&mut bob_events)
        .into_iter()
        .filter_map(|event| match event {
            Event::Typing {
                conversation,
                typing,
                ..
            } => Some((conversation, typing)),
            _ => None,
        })
        .collect();
    assert_eq!(typing, [("alice".to_owned(), true)]);
    assert!(
        !drain(&mut laptop_events)
            .iter()
            .any(|event| matches!(event, Event::Typing { .. })),
        "alice's own typing is nothing to show her"
    );
    for (client, peer) in [(&alice, "bob"), (&alice_laptop, "bob"), (&bob, "alice")] {
        assert!(client.history(peer, 10).await.unwrap().is_empty());
    }
    relay.stop().await;
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The bytes of a store's database and log files.
fn store_files(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    bytes.extend(std::fs::read(wal).unwrap_or_default());
    bytes
}

/// The row of a message in a store: its id and encrypted body, read the way
/// anyone holding the file can.
fn stored_row(path: &Path, local_id: i64) -> (Vec<u8>, Vec<u8>) {
    let db =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    db.query_row(
        "SELECT message_id, body FROM messages WHERE id = ?1",
        [local_id],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disappearing_messages_leave_no_trace_in_the_store_files() {
    let relay = common::TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let before = alice.send_text("bob", "kept for good").await.unwrap();
    alice.set_disappearing_timer("bob", 1).await.unwrap();
    assert_eq!(alice.disappearing_timer("bob").await.unwrap(), Some(1));
    let sent = alice.send_text("bob", "burn after reading").await.unwrap();
    let gone_id = alice.message(sent.local_id).await.unwrap().unwrap().id;
    bob.sync(NO_WAIT).await.unwrap();
    assert_eq!(bob.disappearing_timer("alice").await.unwrap(), Some(1));

    // Both sides hold the message with an expiry, and its row is in the
    // files now (the scan below can see it).
    let bob_copy = bob
        .history("alice", 10)
        .await
        .unwrap()
        .into_iter()
        .find(|message| message.id == gone_id)
        .expect("stored before it expires");
    assert!(bob_copy.expires_at_ms.is_some());
    let kind = &bob.history("alice", 10).await.unwrap()[1].kind;
    assert_eq!(kind, &MessageKind::Timer { seconds: 1 });
    let mut rows = Vec::new();
    for (client, local_id, user) in [
        (&alice, sent.local_id, "alice"),
        (&bob, bob_copy.local_id, "bob"),
    ] {
        let path = devices.path(user, 1);
        let (id, body) = stored_row(&path, local_id);
        assert_eq!(id, gone_id.0);
        let files = store_files(&path);
        assert!(contains(&files, &id) && contains(&files, &body));
        rows.push((client, path, id, body));
    }

    // Poll until its time is up and the SDK deleted it.
    for (client, path, id, body) in rows {
        let deadline = Instant::now() + Duration::from_secs(20);
        while client.delete_expired().await.unwrap() == 0 {
            assert!(Instant::now() < deadline, "never expired");
            tokio::task::yield_now().await;
        }
        let peer = if client.address().user.as_str() == "alice" {
            "bob"
        } else {
            "alice"
        };
        let history = client.history(peer, 10).await.unwrap();
        assert!(history.iter().all(|message| message.id != gone_id));
        assert!(
            history
                .iter()
                .any(|message| message.text == "kept for good")
        );
        let files = store_files(&path);
        assert!(
            !contains(&files, &id),
            "the id is still in {}",
            path.display()
        );
        assert!(
            !contains(&files, &body),
            "the body is still in {}",
            path.display()
        );
    }
    // Turned off, new messages stay.
    alice.set_disappearing_timer("bob", 0).await.unwrap();
    let stays = alice.send_text("bob", "stays").await.unwrap();
    assert_eq!(alice.disappearing_timer("bob").await.unwrap(), None);
    let message = alice.message(stays.local_id).await.unwrap().unwrap();
    assert_eq!(message.expires_at_ms, None);
    assert_eq!(
        alice
            .message(before.local_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        MessageStatus::Sent
    );
    relay.stop().await;
}
