//! History by cursor and unread counts, through a real relay
//! (`spec/client.md` §16.1, §16.2).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use common::{Devices, NO_WAIT, TestRelay};
use fuin_client::{Client, ClientError, HistoryCursor, HistoryPage, Message};

/// Every message of the conversation with `peer`, paged from `start`
/// towards older (`backward`) or newer messages, `size` at a time; the
/// pages' flags are checked on the way.
async fn page_through(
    client: &Client,
    peer: &str,
    backward: bool,
    size: usize,
) -> (Vec<Message>, usize) {
    let mut cursor = if backward {
        HistoryCursor::Latest
    } else {
        HistoryCursor::Oldest
    };
    let mut out: Vec<Message> = Vec::new();
    let mut pages = 0;
    loop {
        let HistoryPage {
            messages,
            has_older,
            has_newer,
        } = client.history_page(peer, cursor, size).await.unwrap();
        pages += 1;
        assert!(messages.len() <= size);
        // The page's own order is oldest first, like `history`.
        let first_page = pages == 1;
        if backward {
            assert_eq!(has_newer, !first_page, "page {pages}");
            let done = !has_older;
            let Some(first) = messages.first() else {
                assert!(done);
                break;
            };
            cursor = HistoryCursor::Before(first.local_id);
            let mut page = messages;
            page.extend(out);
            out = page;
            if done {
                break;
            }
        } else {
            assert_eq!(has_older, !first_page, "page {pages}");
            let done = !has_newer;
            let Some(last) = messages.last() else {
                assert!(done);
                break;
            };
            cursor = HistoryCursor::After(last.local_id);
            out.extend(messages);
            if done {
                break;
            }
        }
        assert!(pages < 1000, "paging does not end");
    }
    (out, pages)
}

/// The history's order (`spec/client.md` §4.2): sender's clock, counter,
/// then local id.
fn order_key(message: &Message) -> (u64, u64, i64) {
    (message.sent_at_ms, message.sequence, message.local_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_either_way_give_every_message_once_in_order() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let mut sent = BTreeSet::new();
    // 250 messages both ways, sent as fast as the relay takes them: many
    // share a millisecond (and outgoing ones all have counter 0), so the
    // local id decides between them.
    for round in 0..5 {
        for i in 0..30 {
            let message = alice
                .send_text("bob", &format!("a{round}-{i}"))
                .await
                .unwrap();
            sent.insert(message.local_id);
        }
        bob.sync(NO_WAIT).await.unwrap();
        for i in 0..20 {
            bob.send_text("alice", &format!("b{round}-{i}"))
                .await
                .unwrap();
        }
        alice.sync(NO_WAIT).await.unwrap();
    }
    // The clock of a debug build's send is coarse enough that few sends
    // share a millisecond; give the stored messages five timestamps and one
    // counter, as senders with coarse clocks would (the clock is routing
    // metadata, in the clear, and not part of a body's sealing context).
    let store = rusqlite::Connection::open(devices.path("alice", 1)).unwrap();
    store
        .execute(
            "UPDATE messages SET sent_at_ms = 1000 + id % 5, sequence = 0",
            [],
        )
        .unwrap();
    drop(store);
    let everything = alice.history("bob", 10_000).await.unwrap();
    assert_eq!(everything.len(), 250);
    // The history's order, worked out here from each message's fields.
    let mut expected = everything.clone();
    expected.sort_by_key(order_key);
    assert_eq!(everything, expected);
    let shared = everything
        .windows(2)
        .filter(|pair| pair[0].sent_at_ms == pair[1].sent_at_ms)
        .count();
    assert_eq!(shared, 245, "all but four neighbours share a timestamp");
    let received: Vec<_> = everything.iter().filter(|m| !m.outgoing).collect();
    assert_eq!(received.len(), 100);
    let mut texts: Vec<&str> = everything.iter().map(|m| m.text.as_str()).collect();
    texts.sort_unstable();
    texts.dedup();
    assert_eq!(texts.len(), 250, "250 different messages");

    for size in [1, 7, 50, 250, 400] {
        for backward in [true, false] {
            let (paged, pages) = page_through(&alice, "bob", backward, size).await;
            let ids: Vec<i64> = paged.iter().map(|m| m.local_id).collect();
            let unique: BTreeSet<i64> = ids.iter().copied().collect();
            assert_eq!(unique.len(), 250, "size {size}, backward {backward}");
            assert_eq!(ids.len(), 250, "no message twice");
            assert!(sent.is_subset(&unique), "every message alice sent");
            assert!(
                paged
                    .windows(2)
                    .all(|pair| order_key(&pair[0]) < order_key(&pair[1])),
                "in the history's order"
            );
            assert_eq!(paged, everything, "the same as the whole history");
            assert_eq!(pages, 250usize.div_ceil(size).max(1));
        }
    }

    // A page in the middle, both ways from one message.
    let middle = everything[100].local_id;
    let before = alice
        .history_page("bob", HistoryCursor::Before(middle), 10)
        .await
        .unwrap();
    assert_eq!(before.messages, everything[90..100]);
    assert!(before.has_older && before.has_newer);
    let after = alice
        .history_page("bob", HistoryCursor::After(middle), 10)
        .await
        .unwrap();
    assert_eq!(after.messages, everything[101..111]);
    assert!(after.has_older && after.has_newer);
    // Nothing before the oldest, nothing after the newest.
    let none = alice
        .history_page("bob", HistoryCursor::Before(everything[0].local_id), 10)
        .await
        .unwrap();
    assert!(none.messages.is_empty() && !none.has_older && none.has_newer);
    let none = alice
        .history_page("bob", HistoryCursor::After(everything[249].local_id), 10)
        .await
        .unwrap();
    assert!(none.messages.is_empty() && none.has_older && !none.has_newer);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_outside_the_conversation_is_refused() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    devices.create(&relay, "bob", 1).await;
    devices.create(&relay, "carol", 1).await;
    let to_bob = alice.send_text("bob", "for bob").await.unwrap();
    let to_carol = alice.send_text("carol", "for carol").await.unwrap();

    for cursor in [
        HistoryCursor::Before(to_carol.local_id),
        HistoryCursor::After(to_carol.local_id),
    ] {
        let err = alice.history_page("bob", cursor, 10).await.unwrap_err();
        assert!(
            matches!(&err, ClientError::InvalidArgument(text) if text.contains("not in the conversation with bob")),
            "{err}"
        );
    }
    let err = alice
        .history_page("bob", HistoryCursor::Before(to_bob.local_id + 1000), 10)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::InvalidArgument(text) if text.contains("no message")),
        "{err}"
    );
    let err = alice
        .history_page("bob", HistoryCursor::Latest, 0)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::InvalidArgument(_)), "{err}");
    // The cursor of the right conversation works, and the store is as it was.
    let page = alice
        .history_page("carol", HistoryCursor::Before(to_carol.local_id), 10)
        .await
        .unwrap();
    assert!(page.messages.is_empty());
    assert_eq!(alice.history("bob", 10).await.unwrap().len(), 1);

    // Groups: a cursor of another group's message is refused too.
    let one = alice.create_group(&["bob"]).await.unwrap();
    let other = alice.create_group(&["carol"]).await.unwrap();
    let in_one = alice.send_group_text(&one.id, "one").await.unwrap();
    alice.send_group_text(&other.id, "other").await.unwrap();
    let err = alice
        .group_history_page(&other.id, HistoryCursor::After(in_one.local_id), 10)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::InvalidArgument(text) if text.contains("is not in group")),
        "{err}"
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_pages_and_unread_counts_fall_to_zero_once_read() {
    let relay = TestRelay::start().await;
    let devices = Devices::new();
    let alice = devices.create(&relay, "alice", 1).await;
    let bob = devices.create(&relay, "bob", 1).await;
    let carol = devices.create(&relay, "carol", 1).await;
    let group = alice.create_group(&["bob", "carol"]).await.unwrap();
    bob.sync(NO_WAIT).await.unwrap();
    carol.sync(NO_WAIT).await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();

    for i in 0..12 {
        bob.send_group_text(&group.id, &format!("group {i}"))
            .await
            .unwrap();
    }
    alice.send_group_text(&group.id, "mine").await.unwrap();
    for i in 0..3 {
        bob.send_text("alice", &format!("direct {i}"))
            .await
            .unwrap();
    }
    carol.send_text("alice", "from carol").await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();

    // Group pages: 13 messages, 5 at a time, backwards, all with one
    // timestamp (set in the store, as for the 1:1 test above).
    let store = rusqlite::Connection::open(devices.path("alice", 1)).unwrap();
    store
        .execute("UPDATE group_messages SET sent_at_ms = 7", [])
        .unwrap();
    drop(store);
    let whole = alice.group_history(&group.id, 100).await.unwrap();
    assert_eq!(whole.len(), 13);
    assert!(whole.iter().all(|e| e.sent_at_ms == 7));
    assert!(
        whole
            .windows(2)
            .all(|pair| pair[0].local_id < pair[1].local_id)
    );
    let mut cursor = HistoryCursor::Latest;
    let mut paged = Vec::new();
    loop {
        let page = alice
            .group_history_page(&group.id, cursor, 5)
            .await
            .unwrap();
        let more = page.has_older;
        cursor = HistoryCursor::Before(page.messages[0].local_id);
        paged.splice(0..0, page.messages);
        if !more {
            break;
        }
    }
    assert_eq!(paged, whole);
    let forward = alice
        .group_history_page(&group.id, HistoryCursor::Oldest, 20)
        .await
        .unwrap();
    assert_eq!(forward.messages, whole);
    assert!(!forward.has_older && !forward.has_newer);

    // Unread: 12 in the group (not alice's own), 3 from bob, 1 from carol.
    assert_eq!(alice.group_unread(&group.id).await.unwrap(), 12);
    let conversations = alice.conversations().await.unwrap();
    let unread_of = |peer: &str| {
        conversations
            .iter()
            .find(|c| c.peer == peer)
            .map(|c| c.unread)
            .unwrap()
    };
    assert_eq!(unread_of("bob"), 3);
    assert_eq!(unread_of("carol"), 1);
    assert_eq!(alice.unread_count().await.unwrap(), 16);
    // Bob's own messages are not unread for him.
    assert_eq!(bob.unread_count().await.unwrap(), 0);

    assert_eq!(alice.mark_group_read(&group.id).await.unwrap(), 12);
    assert_eq!(alice.group_unread(&group.id).await.unwrap(), 0);
    assert_eq!(alice.unread_count().await.unwrap(), 4);
    let read = alice.group_history(&group.id, 100).await.unwrap();
    assert!(
        read.iter()
            .filter(|e| !e.outgoing)
            .all(|e| e.status == fuin_client::MessageStatus::Read)
    );
    assert_eq!(alice.mark_read("bob").await.unwrap(), 3);
    assert_eq!(alice.mark_read("carol").await.unwrap(), 1);
    assert_eq!(alice.unread_count().await.unwrap(), 0);
    assert!(
        alice
            .conversations()
            .await
            .unwrap()
            .iter()
            .all(|c| c.unread == 0)
    );
    // Marking again marks nothing; a new message counts again.
    assert_eq!(alice.mark_group_read(&group.id).await.unwrap(), 0);
    bob.send_group_text(&group.id, "one more").await.unwrap();
    alice.sync(NO_WAIT).await.unwrap();
    assert_eq!(alice.unread_count().await.unwrap(), 1);
    relay.stop().await;
}
