//! Search over the local store, through a real relay (`spec/client.md`
//! §16.3): words in one conversation and not another, FTS5 operators typed
//! as words, group messages, attachments by file name, messages stored by
//! another connection, and an index that never reaches the store's files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Instant;

use common::{Devices, NO_WAIT, TestRelay};
use fuin_client::{Client, ClientOptions, SearchHit, SearchScope, SendFileOptions};

async fn found(client: &Client, query: &str, scope: SearchScope) -> Vec<String> {
    client
        .search(query, scope, 50)
        .await
        .unwrap_or_else(|err| panic!("{query:?}: {err}"))
        .iter()
        .map(|hit| hit.text().to_owned())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn store_bytes(path: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    for suffix in ["-wal", "-shm"] {
        let mut other = path.as_os_str().to_owned();
        other.push(suffix);
        if let Ok(more) = std::fs::read(&other) {
            bytes.extend(more);
        }
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_words_where_they_are_and_reads_operators_as_words() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let carol = devices.create(&relay, "carol", 1).await;

    alice
        .send_text("bob", "The Pelican flies over the harbour")
        .await
        .unwrap();
    bob.send_text("alice", "a café by the harbour?")
        .await
        .unwrap();
    carol
        .send_text("alice", "the walrus swims \"NEAR(ice, floe)\" OR NOT")
        .await
        .unwrap();
    alice.sync(NO_WAIT).await.unwrap();

    // A word in one conversation, not another.
    assert_eq!(
        found(&alice, "pelican", SearchScope::All).await,
        ["The Pelican flies over the harbour"]
    );
    let hits = alice.search("pelican", SearchScope::All, 10).await.unwrap();
    assert!(matches!(&hits[0], SearchHit::Direct(m) if m.conversation == "bob" && m.outgoing));
    assert!(
        found(&alice, "walrus", SearchScope::Direct("bob".into()))
            .await
            .is_empty()
    );
    assert_eq!(
        found(&alice, "walrus", SearchScope::Direct("carol".into())).await,
        ["the walrus swims \"NEAR(ice, floe)\" OR NOT"]
    );
    // Prefixes, case and accents; every word must match.
    assert_eq!(found(&alice, "PELI", SearchScope::All).await.len(), 1);
    assert_eq!(
        found(&alice, "cafe", SearchScope::All).await,
        ["a café by the harbour?"]
    );
    assert_eq!(
        found(&alice, "harbour pelican", SearchScope::All)
            .await
            .len(),
        1
    );
    assert!(
        found(&alice, "harbour walrus", SearchScope::All)
            .await
            .is_empty()
    );
    // Newest first: bob's answer came after alice's message.
    assert_eq!(
        found(&alice, "harbour", SearchScope::All).await,
        [
            "a café by the harbour?",
            "The Pelican flies over the harbour"
        ]
    );

    // What a user may type: never an error, never an operator.
    for typed in [
        "\"",
        "NEAR(",
        "NEAR(ice",
        "ice AND",
        "OR",
        "NOT walrus",
        "walrus*",
        "(",
        ")",
        "*",
        "-",
        "^",
        "text:walrus",
        "{text}: walrus",
        "\"unbalanced walrus",
        "",
        "   ",
    ] {
        alice
            .search(typed, SearchScope::All, 10)
            .await
            .unwrap_or_else(|err| panic!("{typed:?}: {err}"));
    }
    // Operators are words: NOT finds the message holding "not", NEAR(ice
    // the one holding "near" and "ice"; "NOT walrus" is both words, not
    // "anything but walrus".
    assert_eq!(found(&alice, "NOT walrus", SearchScope::All).await.len(), 1);
    assert_eq!(found(&alice, "NEAR(ice", SearchScope::All).await.len(), 1);
    assert_eq!(found(&alice, "OR", SearchScope::All).await.len(), 1);
    assert!(
        found(&alice, "NOT pelican", SearchScope::All)
            .await
            .is_empty()
    );
    assert!(found(&alice, "\"", SearchScope::All).await.is_empty());

    // What arrives after the first search is found too.
    bob.send_text("alice", "the pelican is back").await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    assert_eq!(
        found(&alice, "pelican", SearchScope::All).await,
        ["the pelican is back", "The Pelican flies over the harbour"]
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_group_messages_and_attachments_by_name() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let group = alice.create_group(&["bob"]).await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();

    bob.send_group_text(&group.id, "the quokka smiles in the group")
        .await
        .unwrap();
    bob.send_text("alice", "a quokka in private").await.unwrap();
    let file = devices.dir.path().join("itinerary-zanzibar.pdf");
    std::fs::write(&file, b"%PDF- not really").unwrap();
    bob.send_file("alice", &file, &SendFileOptions::default())
        .await
        .unwrap();
    let group_file = devices.dir.path().join("minutes.txt");
    std::fs::write(&group_file, b"quokka census").unwrap();
    bob.send_group_file(&group.id, &group_file, &SendFileOptions::default())
        .await
        .unwrap();
    alice.sync(NO_WAIT).await.unwrap();

    let hits = alice.search("quokka", SearchScope::All, 10).await.unwrap();
    assert_eq!(hits.len(), 2, "{hits:?}");
    // Newest first: the private message came after the group's.
    assert!(matches!(&hits[0], SearchHit::Direct(m) if m.conversation == "bob"));
    assert!(
        matches!(&hits[1], SearchHit::Group(e) if e.group == group.id && e.sender == *bob.address())
    );
    let in_group = alice
        .search("quokka", SearchScope::Group(group.id.clone()), 10)
        .await
        .unwrap();
    assert_eq!(in_group.len(), 1);
    assert!(matches!(&in_group[0], SearchHit::Group(_)));

    // Attachments by their file name, not by their contents or their
    // description's other words.
    let hits = alice
        .search("zanzibar", SearchScope::All, 10)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert!(
        matches!(&hits[0], SearchHit::Direct(m) if m.content_type == fuin_wire::ContentType::Attachment)
    );
    assert!(hits[0].text().contains("itinerary-zanzibar.pdf"));
    let hits = alice.search("minutes", SearchScope::All, 10).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert!(matches!(&hits[0], SearchHit::Group(_)));
    assert!(
        alice
            .search("census", SearchScope::All, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        alice
            .search("bytes sealed", SearchScope::All, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A scope naming no group is an error, not an empty answer.
    assert!(
        alice
            .search("quokka", SearchScope::Group("zz".into()), 10)
            .await
            .is_err()
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_sees_what_another_connection_stored() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    bob.send_text("alice", "first: the axolotl").await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    assert_eq!(found(&alice, "axolotl", SearchScope::All).await.len(), 1);

    // A second client on the same store (an app and its notification
    // extension) stores a message; the first one's index learns of it.
    let extension = Client::open(devices.path("alice", 1), ClientOptions::default())
        .await
        .unwrap();
    bob.send_text("alice", "second: another axolotl")
        .await
        .unwrap();
    extension.sync(NO_WAIT).await.unwrap();
    assert_eq!(
        found(&alice, "axolotl", SearchScope::All).await,
        ["second: another axolotl", "first: the axolotl"]
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_index_never_reaches_the_store_files() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let group = alice.create_group(&["bob"]).await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    let words = ["xylophonist", "quarterstaff", "zeppelinmoor"];
    alice
        .send_text("bob", &format!("the {} plays", words[0]))
        .await
        .unwrap();
    bob.send_text("alice", &format!("a {} breaks", words[1]))
        .await
        .unwrap();
    bob.send_group_text(&group.id, &format!("the {} moors", words[2]))
        .await
        .unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    for word in words {
        let hits = alice.search(word, SearchScope::All, 10).await.unwrap();
        assert_eq!(hits.len(), 1, "{word}");
        // A prefix query too: it reads the index's prefix terms.
        alice
            .search(&word[..4], SearchScope::All, 10)
            .await
            .unwrap();
    }
    // A message that arrives after the index is built is indexed as it is
    // stored, in the store's transaction.
    bob.send_text("alice", "late arrival: the glockenspieler")
        .await
        .unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    assert_eq!(
        found(&alice, "glockenspieler", SearchScope::All)
            .await
            .len(),
        1
    );

    let path = devices.path("alice", 1);
    let bytes = store_bytes(&path);
    for word in words.iter().chain(&["glockenspieler"]) {
        assert!(!contains(&bytes, word.as_bytes()), "{word:?} in the store");
        let upper = word.to_uppercase();
        assert!(!contains(&bytes, upper.as_bytes()));
    }
    // No FTS5 table (its shadow tables hold the tokens) in the store.
    for name in ["search_direct", "search_group", "fts5", "_data", "_idx"] {
        assert!(
            !contains(&bytes, name.as_bytes()),
            "{name:?} in the store's files"
        );
    }
    // Nor any other file of the devices (bob's store, key files).
    for entry in std::fs::read_dir(devices.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for word in words.iter().chain(&["glockenspieler"]) {
            assert!(!contains(&bytes, word.as_bytes()), "{word:?} in {path:?}");
        }
    }
    relay.stop().await;
}

/// The cost of the first search (building the index from the decrypted
/// history), measured on a history of a few thousand messages. Prints the
/// rate; asserts only that every message was indexed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_search_builds_the_index_from_the_history() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let count = 400;
    for i in 0..count {
        bob.send_text("alice", &format!("message number {i} mentions kiwi{i}"))
            .await
            .unwrap();
    }
    alice.sync(NO_WAIT).await.unwrap();
    drop(alice);
    // Reopened: the index starts empty and the first search builds it.
    let alice = Client::open(devices.path("alice", 1), ClientOptions::default())
        .await
        .unwrap();
    let started = Instant::now();
    let hits = alice
        .search("mentions", SearchScope::All, 1000)
        .await
        .unwrap();
    let first = started.elapsed();
    assert_eq!(hits.len(), count);
    let started = Instant::now();
    let one = alice.search("kiwi123", SearchScope::All, 10).await.unwrap();
    let second = started.elapsed();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].text(), "message number 123 mentions kiwi123");
    println!(
        "first search over {count} messages: {first:?} ({:.0} messages/s, {count} hits \
         returned); a later search: {second:?}",
        count as f64 / first.as_secs_f64()
    );
    relay.stop().await;
}
