//! The mailbox: delivering, fetching, acknowledging and expiring
//! envelopes, the counts behind `/metrics`, and the mailbox quota.

use std::collections::HashMap;
use std::sync::Arc;

use fuin_relay::metrics::MailboxDepths;
use fuin_relay::store::{Store, StoreError, StoredDelivery};
use fuin_wire::{DeviceAddress, MessageId};

use crate::{LATER, NOW, address, delivery, ids, message_id};

/// A send is stored whole or not at all; a duplicate message id fails it.
pub async fn deliver_is_all_or_nothing_and_rejects_duplicate_ids(store: &impl Store) {
    let bob = address("bob", 1);
    let bob2 = address("bob", 2);
    let [m1, m2, m3] = [message_id(), message_id(), message_id()];

    // A duplicate within one batch: the whole batch fails.
    let batch = vec![
        delivery(m1, &bob, b"one", LATER),
        delivery(m2, &bob2, b"two", LATER),
        delivery(m1, &bob2, b"one again", LATER),
    ];
    assert!(matches!(
        store.deliver(batch).await,
        Err(StoreError::Backend(_))
    ));
    assert_eq!(store.fetch(&bob, 10, NOW).await, Ok(vec![]));
    assert_eq!(store.fetch(&bob2, 10, NOW).await, Ok(vec![]));

    // A duplicate of a stored id: the batch fails, the stored one stays.
    store
        .deliver(vec![delivery(m1, &bob, b"one", LATER)])
        .await
        .unwrap();
    let batch = vec![
        delivery(m3, &bob2, b"three", LATER),
        delivery(m1, &bob2, b"not one", LATER),
    ];
    assert!(matches!(
        store.deliver(batch).await,
        Err(StoreError::Backend(_))
    ));
    assert_eq!(store.fetch(&bob2, 10, NOW).await, Ok(vec![]));
    assert_eq!(
        store.fetch(&bob, 10, NOW).await,
        Ok(vec![StoredDelivery {
            message_id: m1,
            record: b"one".to_vec()
        }])
    );

    // One send fans out to several mailboxes.
    store
        .deliver(vec![
            delivery(m2, &bob, b"two", LATER),
            delivery(m3, &bob2, b"three", LATER),
        ])
        .await
        .unwrap();
    assert_eq!(
        ids(&store.fetch(&bob, 10, NOW).await.unwrap()),
        vec![m1, m2]
    );
    assert_eq!(ids(&store.fetch(&bob2, 10, NOW).await.unwrap()), vec![m3]);

    assert_eq!(store.deliver(vec![]).await, Ok(()));
}

/// Fetch returns the own mailbox only, oldest first, up to the limit.
pub async fn fetch_is_oldest_first_limited_and_per_mailbox(store: &impl Store) {
    let bob = address("bob", 1);
    let bob2 = address("bob", 2);
    let other_user = address("bobby", 1);
    let mut expected = Vec::new();
    for i in 0..5u8 {
        let id = message_id();
        let mut batch = vec![delivery(id, &bob, &[i], LATER)];
        if i == 2 {
            batch.push(delivery(message_id(), &bob2, b"for bob2", LATER));
        }
        store.deliver(batch).await.unwrap();
        expected.push(StoredDelivery {
            message_id: id,
            record: vec![i],
        });
    }
    // Within one send, the batch's order is kept.
    let batch: Vec<_> = (5..8u8)
        .map(|i| {
            let id = message_id();
            expected.push(StoredDelivery {
                message_id: id,
                record: vec![i],
            });
            delivery(id, &bob, &[i], LATER)
        })
        .collect();
    store.deliver(batch).await.unwrap();

    assert_eq!(store.fetch(&bob, 100, NOW).await, Ok(expected.clone()));
    assert_eq!(store.fetch(&bob, 3, NOW).await, Ok(expected[..3].to_vec()));
    assert_eq!(store.fetch(&bob, 0, NOW).await, Ok(vec![]));
    // Fetching removes nothing.
    assert_eq!(store.fetch(&bob, usize::MAX, NOW).await, Ok(expected));

    let theirs = store.fetch(&bob2, 100, NOW).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].record, b"for bob2");
    assert_eq!(store.fetch(&other_user, 100, NOW).await, Ok(vec![]));
    assert_eq!(store.fetch(&address("bob", 3), 100, NOW).await, Ok(vec![]));
}

/// Acknowledging deletes the recipient's own envelopes and nothing else.
pub async fn acknowledge_deletes_only_the_recipients_own(store: &impl Store) {
    let bob = address("bob", 1);
    let bob2 = address("bob", 2);
    let [m1, m2, m3] = [message_id(), message_id(), message_id()];
    store
        .deliver(vec![
            delivery(m1, &bob, b"1", LATER),
            delivery(m2, &bob, b"2", LATER),
            delivery(m3, &bob2, b"3", LATER),
        ])
        .await
        .unwrap();

    // Another device cannot acknowledge bob/1's envelopes.
    assert_eq!(store.acknowledge(&bob2, &[m1, m2]).await, Ok(0));
    assert_eq!(
        ids(&store.fetch(&bob, 10, NOW).await.unwrap()),
        vec![m1, m2]
    );

    // Ids of other mailboxes and unknown ids are ignored.
    assert_eq!(
        store.acknowledge(&bob, &[m1, m3, message_id()]).await,
        Ok(1)
    );
    assert_eq!(ids(&store.fetch(&bob, 10, NOW).await.unwrap()), vec![m2]);
    assert_eq!(ids(&store.fetch(&bob2, 10, NOW).await.unwrap()), vec![m3]);

    // Acknowledging twice, or nothing, deletes nothing.
    assert_eq!(store.acknowledge(&bob, &[m1]).await, Ok(0));
    assert_eq!(store.acknowledge(&bob, &[]).await, Ok(0));
    assert_eq!(store.acknowledge(&bob, &[m2, m2]).await, Ok(1));
    assert_eq!(store.fetch(&bob, 10, NOW).await, Ok(vec![]));
}

/// Expired envelopes are never fetched, and `expire` deletes them.
pub async fn expired_envelopes_are_never_fetched_and_are_removed(store: &impl Store) {
    let bob = address("bob", 1);
    let [m1, m2] = [message_id(), message_id()];
    store
        .deliver(vec![
            delivery(m1, &bob, b"1", NOW + 100),
            delivery(m2, &bob, b"2", NOW + 200),
        ])
        .await
        .unwrap();
    assert_eq!(
        ids(&store.fetch(&bob, 10, NOW).await.unwrap()),
        vec![m1, m2]
    );
    // Not returned from its expiry time on, even before `expire` ran.
    assert_eq!(
        ids(&store.fetch(&bob, 10, NOW + 99).await.unwrap()),
        vec![m1, m2]
    );
    assert_eq!(
        ids(&store.fetch(&bob, 10, NOW + 100).await.unwrap()),
        vec![m2]
    );
    assert_eq!(store.fetch(&bob, 10, NOW + 200).await, Ok(vec![]));

    assert_eq!(store.expire(NOW + 100).await, Ok(1));
    // Gone, even when asked about an earlier time.
    assert_eq!(ids(&store.fetch(&bob, 10, NOW).await.unwrap()), vec![m2]);
    assert_eq!(store.acknowledge(&bob, &[m1]).await, Ok(0));
    assert_eq!(store.expire(NOW + 200).await, Ok(1));
    assert_eq!(store.expire(NOW + 200).await, Ok(0));
    assert_eq!(store.fetch(&bob, 10, NOW).await, Ok(vec![]));
}

/// The counts behind the mailbox gauges of `/metrics` follow what is
/// stored: expired envelopes count until the sweep deletes them; and the
/// readiness query answers.
pub async fn mailbox_depths_count_what_is_stored(store: &impl Store) {
    store.ping().await.unwrap();
    assert_eq!(
        store.mailbox_depths().await.unwrap(),
        MailboxDepths::default()
    );
    let (alice, bob) = (address("alice", 1), address("bob", 1));
    let alices: Vec<_> = (0..3)
        .map(|n| delivery(message_id(), &alice, &[n], LATER))
        .collect();
    store.deliver(alices).await.unwrap();
    store
        .deliver(vec![delivery(message_id(), &bob, b"expiring", NOW + 1)])
        .await
        .unwrap();
    assert_eq!(
        store.mailbox_depths().await.unwrap(),
        MailboxDepths {
            envelopes: 4,
            mailboxes: 2,
            deepest: 3
        }
    );
    let first = store.fetch(&alice, 1, NOW).await.unwrap()[0].message_id;
    assert_eq!(store.acknowledge(&alice, &[first]).await, Ok(1));
    assert_eq!(store.expire(NOW + 1).await, Ok(1));
    assert_eq!(
        store.mailbox_depths().await.unwrap(),
        MailboxDepths {
            envelopes: 2,
            mailboxes: 1,
            deepest: 2
        }
    );
}

/// 200 concurrent sends all succeed and are all stored; 20 more that
/// reuse stored ids, racing with them, fail alone without failing the
/// writes committed with them.
pub async fn concurrent_deliveries_all_succeed<S: Store>(store: &Arc<S>) {
    let mailboxes: Vec<_> = (1..=4).map(|device| address("bob", device)).collect();
    let mut expected: HashMap<MessageId, (DeviceAddress<'static>, Vec<u8>)> = HashMap::new();
    let mut taken_ids = Vec::new();
    for i in 0..20u32 {
        let id = message_id();
        let to = &mailboxes[i as usize % mailboxes.len()];
        let record = format!("first {i}").into_bytes();
        store
            .deliver(vec![delivery(id, to, &record, LATER)])
            .await
            .unwrap();
        expected.insert(id, (to.clone(), record));
        taken_ids.push(id);
    }

    let mut good = Vec::new();
    let mut duplicates = Vec::new();
    for i in 0..220u32 {
        let store = Arc::clone(store);
        let to = mailboxes[i as usize % mailboxes.len()].clone();
        if i % 11 == 10 {
            let id = taken_ids[(i / 11) as usize];
            duplicates.push(tokio::spawn(async move {
                store
                    .deliver(vec![delivery(id, &to, b"duplicate", LATER)])
                    .await
            }));
        } else {
            let id = message_id();
            let record = format!("concurrent {i}").into_bytes();
            expected.insert(id, (to.clone(), record.clone()));
            good.push(tokio::spawn(async move {
                store.deliver(vec![delivery(id, &to, &record, LATER)]).await
            }));
        }
    }
    assert_eq!(good.len(), 200);
    assert_eq!(duplicates.len(), 20);
    for task in good {
        assert_eq!(task.await.unwrap(), Ok(()));
    }
    for task in duplicates {
        assert!(matches!(task.await.unwrap(), Err(StoreError::Backend(_))));
    }

    let mut found = 0;
    for mailbox in &mailboxes {
        for stored in store.fetch(mailbox, 10_000, NOW).await.unwrap() {
            let (to, record) = expected.get(&stored.message_id).unwrap();
            assert_eq!(to, mailbox);
            assert_eq!(&stored.record, record);
            found += 1;
        }
    }
    assert_eq!(found, 220);
}

/// A delivery that would take a mailbox over its quota stores nothing,
/// in any of its mailboxes; acknowledging makes room again.
pub async fn deliveries_over_the_mailbox_quota_are_refused_whole(store: &impl Store) {
    let bob = address("bob", 1);
    let carol = address("carol", 1);
    for i in 0..3u8 {
        store
            .deliver_within_quota(vec![delivery(message_id(), &bob, &[i], LATER)], 3)
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .deliver_within_quota(vec![delivery(message_id(), &bob, b"4", LATER)], 3)
            .await,
        Err(StoreError::MailboxFull)
    );
    // Carol's mailbox has room, bob's does not: neither gets anything.
    let batch = vec![
        delivery(message_id(), &carol, b"c", LATER),
        delivery(message_id(), &bob, b"b", LATER),
    ];
    assert_eq!(
        store.deliver_within_quota(batch, 3).await,
        Err(StoreError::MailboxFull)
    );
    assert_eq!(store.fetch(&carol, 10, NOW).await, Ok(vec![]));
    assert_eq!(store.fetch(&bob, 10, NOW).await.unwrap().len(), 3);
    // Within one batch, envelopes to one mailbox count together.
    let batch: Vec<_> = (0..4u8)
        .map(|i| delivery(message_id(), &carol, &[i], LATER))
        .collect();
    assert_eq!(
        store.deliver_within_quota(batch, 3).await,
        Err(StoreError::MailboxFull)
    );
    let batch: Vec<_> = (0..3u8)
        .map(|i| delivery(message_id(), &carol, &[i], LATER))
        .collect();
    assert_eq!(store.deliver_within_quota(batch, 3).await, Ok(()));
    // Plain `deliver` has no quota.
    store
        .deliver(vec![delivery(message_id(), &bob, b"over", LATER)])
        .await
        .unwrap();
    assert_eq!(store.fetch(&bob, 10, NOW).await.unwrap().len(), 4);

    // Acknowledging two of bob's four leaves room for one under a quota of 3.
    let stored = ids(&store.fetch(&bob, 10, NOW).await.unwrap());
    assert_eq!(store.acknowledge(&bob, &stored[..2]).await, Ok(2));
    store
        .deliver_within_quota(vec![delivery(message_id(), &bob, b"fits", LATER)], 3)
        .await
        .unwrap();
    assert_eq!(
        store
            .deliver_within_quota(vec![delivery(message_id(), &bob, b"no", LATER)], 3)
            .await,
        Err(StoreError::MailboxFull)
    );
}

/// Concurrent deliveries to one mailbox never take it over its quota:
/// exactly as many succeed as fit, and the others fail.
pub async fn concurrent_deliveries_never_overfill_a_mailbox<S: Store>(store: &Arc<S>) {
    let bob = address("bob", 1);
    let tasks: Vec<_> = (0..40u8)
        .map(|i| {
            let store = Arc::clone(store);
            let bob = bob.clone();
            tokio::spawn(async move {
                store
                    .deliver_within_quota(vec![delivery(message_id(), &bob, &[i], LATER)], 15)
                    .await
            })
        })
        .collect();
    let mut stored = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => stored += 1,
            Err(StoreError::MailboxFull) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(stored, 15);
    assert_eq!(store.fetch(&bob, 100, NOW).await.unwrap().len(), 15);
}
