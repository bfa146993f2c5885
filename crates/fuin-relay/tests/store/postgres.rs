//! The suite on PostgreSQL, plus what only several nodes on one database can
//! show.
//!
//! `FUIN_TEST_POSTGRES` names the database (libpq `key=value` form or a
//! `postgresql://` URL; the role must be allowed to create schemas in it),
//! e.g. `host=127.0.0.1 port=5433 user=fuin dbname=fuin_test`; `.ci/run`
//! starts such a server. Without it the tests pass without running, with a
//! note on stderr, unless `CI` is set: then they fail. Each test works in a
//! schema of its own (`fuin_test_<random>`, through `search_path`), dropped
//! when the test passes and kept for inspection when it fails.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Once};

use std::time::Duration;

use fuin_relay::store::postgres::PostgresStore;
use fuin_relay::store::{MailboxTag, NewPrekeys, PrekeyCounts, Store, Wakeup};
use tokio_postgres::NoTls;

use super::eventually::eventually_async;
use super::{LATER, NOW, address, delivery, identity, message_id, one_time_prekey};
use super::{ids, kem_prekey, signed_prekey};

const VARIABLE: &str = "FUIN_TEST_POSTGRES";
/// Connections per store in the suite, so that parallel tests stay well
/// under the server's `max_connections`.
const POOL_SIZE: usize = 4;

/// The database to test on, or `None` to skip (after saying so once).
fn database() -> Option<String> {
    if let Some(config) = std::env::var(VARIABLE)
        .ok()
        .filter(|c| !c.trim().is_empty())
    {
        return Some(config);
    }
    if std::env::var("CI").is_ok_and(|ci| !ci.is_empty()) {
        panic!("CI is set but {VARIABLE} is not: .ci/run must start PostgreSQL");
    }
    static NOTE: Once = Once::new();
    NOTE.call_once(|| {
        // Straight to stderr, past the test harness's capture.
        let _ = writeln!(
            std::io::stderr(),
            "note: {VARIABLE} is not set: the PostgreSQL store tests are skipped \
             (set it to a connection string, e.g. \
             \"host=127.0.0.1 port=5433 user=fuin dbname=fuin_test\", or run .ci/run)"
        );
    });
    None
}

/// A schema of the test database for one test.
struct Schema {
    database: String,
    name: String,
    /// The connection string with the schema as `search_path`.
    config: String,
}

impl Schema {
    /// A new empty schema, or `None` if the tests are skipped.
    async fn create() -> Option<Self> {
        let database = database()?;
        let name = format!("fuin_test_{}", hex(&rand::random::<[u8; 8]>()));
        execute(&database, &format!("CREATE SCHEMA {name}")).await;
        let config = if database.contains("://") {
            let separator = if database.contains('?') { '&' } else { '?' };
            format!("{database}{separator}options=-c%20search_path%3D{name}")
        } else {
            format!("{database} options='-c search_path={name}'")
        };
        Some(Self {
            database,
            name,
            config,
        })
    }

    /// A store (a relay node) on this schema.
    async fn store(&self) -> PostgresStore {
        PostgresStore::connect_with_pool_size(&self.config, POOL_SIZE)
            .await
            .unwrap()
    }

    async fn drop_schema(self) {
        execute(
            &self.database,
            &format!("DROP SCHEMA {} CASCADE", self.name),
        )
        .await;
    }
}

async fn execute(database: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(database, NoTls)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to {VARIABLE}: {error}"));
    let connection = tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
    drop(client);
    connection.await.unwrap().unwrap();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Like `instantiate_suite!`, for a store that is made asynchronously
/// and may be skipped.
macro_rules! on_postgres {
    (by_ref: [$($by_ref:ident),* $(,)?]; shared: [$($shared:ident),* $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $by_ref() {
                let Some(schema) = Schema::create().await else { return };
                let store = schema.store().await;
                crate::suite::$by_ref(&store).await;
                drop(store);
                schema.drop_schema().await;
            }
        )*
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $shared() {
                let Some(schema) = Schema::create().await else { return };
                let store = Arc::new(schema.store().await);
                crate::suite::$shared(&store).await;
                drop(store);
                schema.drop_schema().await;
            }
        )*
    };
}

on_postgres!(
    by_ref: [
        register_device_is_idempotent_and_detects_conflicts,
        user_devices_are_listed_in_ascending_order,
        challenges_are_single_use_and_expire,
        tokens_resolve_expire_and_are_revoked,
        prekeys_are_published_replaced_and_handed_out,
        deliver_is_all_or_nothing_and_rejects_duplicate_ids,
        fetch_is_oldest_first_limited_and_per_mailbox,
        acknowledge_deletes_only_the_recipients_own,
        expired_envelopes_are_never_fetched_and_are_removed,
        mailbox_depths_count_what_is_stored,
        deliveries_over_the_mailbox_quota_are_refused_whole,
        prekey_uploads_over_the_pool_quota_are_refused_whole,
        kem_prekeys_are_handed_out_then_the_last_resort_one,
        kem_prekey_uploads_over_the_pool_quota_are_refused_whole,
        challenges_beyond_the_bound_replace_the_oldest,
        blobs_are_read_only_with_their_own_capability,
        a_blob_uploaded_again_gains_a_capability_and_lives_as_long_as_its_last,
        recorded_blobs_are_those_with_a_record,
        reports_are_fetched_oldest_first_until_acknowledged_or_expired,
        device_lists_decide_the_registered_devices,
        invites_are_spent_once,
        link_messages_are_taken_once_and_expire,
        suspensions_are_kept_by_user_and_lifted,
        an_operator_removes_a_device_and_revokes_a_users_tokens,
        stats_count_what_is_stored,
        admin_actions_are_kept_newest_first,
    ];
    shared: [
        one_time_prekeys_are_handed_out_once_under_concurrency,
        one_time_kem_prekeys_are_handed_out_once_under_concurrency,
        concurrent_deliveries_all_succeed,
        concurrent_deliveries_never_overfill_a_mailbox,
        a_link_message_is_taken_once_under_concurrency,
    ]
);

/// A database of schema version 3 (before suspensions and the audit
/// log) gains the tables when a relay connects, empty, and keeps what
/// it held.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_version_3_database_gains_suspensions_and_the_audit_log() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let alice = address("alice", 1);
    let store = schema.store().await;
    store
        .register_device(&alice, &identity(1), NOW)
        .await
        .unwrap();
    store.close();
    drop(store);
    execute(
        &schema.config,
        "DROP TABLE suspended_users; DROP TABLE admin_actions; \
         UPDATE fuin_schema SET version = 3;",
    )
    .await;
    let store = schema.store().await;
    assert_eq!(store.device_identity(&alice).await, Ok(Some(identity(1))));
    assert_eq!(store.user_suspended(&alice.user).await, Ok(false));
    assert_eq!(store.set_suspended(&alice.user, true, NOW).await, Ok(true));
    assert_eq!(store.user_suspended(&alice.user).await, Ok(true));
    assert_eq!(store.admin_actions(1).await, Ok(vec![]));
    let record = fuin_relay::store::AdminRecord {
        at_ms: NOW,
        action: "suspend".to_owned(),
        target: "alice".to_owned(),
        outcome: "{}".to_owned(),
    };
    store.record_admin_action(record.clone()).await.unwrap();
    assert_eq!(store.admin_actions(1).await, Ok(vec![record]));
    store.close();
    drop(store);
    schema.drop_schema().await;
}

/// A database of schema version 6 (before KEM prekeys) gains their tables
/// when a relay connects, keeps its devices and their prekeys, and gives
/// them no KEM prekey until they publish one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_version_6_database_gains_kem_prekeys_and_keeps_its_devices() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let alice = address("alice", 1);
    let store = schema.store().await;
    store
        .register_device(&alice, &identity(1), NOW)
        .await
        .unwrap();
    store
        .publish_prekeys(&alice, Some(&signed_prekey(1)), &[one_time_prekey(2, 2)])
        .await
        .unwrap();
    store.close();
    drop(store);
    execute(
        &schema.config,
        "DROP TABLE last_resort_kem_prekeys; DROP TABLE one_time_kem_prekeys; \
         UPDATE fuin_schema SET version = 6;",
    )
    .await;
    let store = schema.store().await;
    assert_eq!(store.device_identity(&alice).await, Ok(Some(identity(1))));
    assert_eq!(
        store.prekey_counts(&alice).await,
        Ok(PrekeyCounts {
            one_time: 1,
            one_time_kem: 0,
            last_resort_kem: false,
        })
    );
    let bundle = store.take_bundle(&alice).await.unwrap().unwrap();
    assert_eq!(bundle.one_time_prekey, Some(one_time_prekey(2, 2)));
    assert_eq!(bundle.kem_prekey, None);
    let last_resort = kem_prekey(3, 3);
    store
        .publish_prekey_upload(
            &alice,
            NewPrekeys {
                last_resort_kem_prekey: Some(&last_resort),
                ..NewPrekeys::default()
            },
            u32::MAX,
        )
        .await
        .unwrap();
    let bundle = store.take_bundle(&alice).await.unwrap().unwrap();
    assert_eq!(bundle.kem_prekey, Some(last_resort));
    store.close();
    drop(store);
    schema.drop_schema().await;
}

/// Two relay nodes on one database: each sees what the other stored,
/// concurrent fetches of one device's bundle spread over both hand out
/// no one-time prekey twice, and concurrent sends to one mailbox through
/// both are all stored, in one order that both nodes see.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_database_share_everything() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    // Nodes starting together race to create the schema.
    let (a, b) = tokio::join!(schema.store(), schema.store());
    let nodes = [Arc::new(a), Arc::new(b)];
    let [a, b] = &nodes;

    // A device registered through one node is known to the other.
    let alice = address("alice", 1);
    let bob = address("bob", 1);
    let bob2 = address("bob", 2);
    for (node, device, seed) in [(a, &alice, 1), (b, &bob, 2), (a, &bob2, 3)] {
        node.register_device(device, &identity(seed), NOW)
            .await
            .unwrap();
    }
    assert_eq!(b.device_identity(&alice).await, Ok(Some(identity(1))));
    assert_eq!(
        a.register_device(&bob, &identity(9), NOW).await,
        Err(fuin_relay::store::StoreError::IdentityConflict)
    );

    // Delivered through one node, fetched and acknowledged through the other.
    let [m1, m2, m3] = [message_id(), message_id(), message_id()];
    a.deliver(vec![
        delivery(m1, &bob, b"to bob via a", LATER),
        delivery(m2, &bob2, b"to bob2 via a", LATER),
    ])
    .await
    .unwrap();
    b.deliver(vec![delivery(m3, &bob, b"to bob via b", LATER)])
        .await
        .unwrap();
    let fetched = b.fetch(&bob, 10, NOW).await.unwrap();
    assert_eq!(ids(&fetched), vec![m1, m3]);
    assert_eq!(fetched[0].record, b"to bob via a");
    assert_eq!(a.fetch(&bob, 10, NOW).await, Ok(fetched));
    assert_eq!(ids(&b.fetch(&bob2, 10, NOW).await.unwrap()), vec![m2]);
    assert_eq!(b.acknowledge(&bob, &[m1]).await, Ok(1));
    assert_eq!(ids(&a.fetch(&bob, 10, NOW).await.unwrap()), vec![m3]);
    // A message id stored through one node is refused through the other.
    assert!(
        a.deliver(vec![delivery(m3, &bob2, b"again", LATER)])
            .await
            .is_err()
    );

    // 100 concurrent fetches of alice's bundle over both nodes, for a pool
    // of 40: each key goes out exactly once, 60 fetches find it empty.
    let pool: Vec<_> = (1..=40).map(|id| one_time_prekey(id, id as u8)).collect();
    a.publish_prekeys(&alice, Some(&signed_prekey(7)), &pool)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let node = Arc::clone(&nodes[i % 2]);
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move { node.take_bundle(&alice).await }));
    }
    let mut handed_out = Vec::new();
    let mut empty = 0;
    for task in tasks {
        let bundle = task.await.unwrap().unwrap().unwrap();
        assert_eq!(bundle.signed_prekey, signed_prekey(7));
        match bundle.one_time_prekey {
            Some(key) => handed_out.push(key),
            None => empty += 1,
        }
    }
    let distinct: BTreeSet<u32> = handed_out.iter().map(|key| key.id.0).collect();
    assert_eq!(
        distinct.len(),
        handed_out.len(),
        "a key was handed out twice"
    );
    handed_out.sort_by_key(|key| key.id);
    assert_eq!(handed_out, pool);
    assert_eq!(empty, 60);
    assert_eq!(a.one_time_remaining(&alice).await, Ok(0));
    assert_eq!(b.one_time_remaining(&alice).await, Ok(0));

    // 100 concurrent sends to one mailbox, over both nodes (some fanning
    // out to a second mailbox): all stored, and both nodes list them in
    // the same order.
    let mut tasks = Vec::new();
    let mut sent = BTreeSet::new();
    for i in 0..100 {
        let node = Arc::clone(&nodes[i % 2]);
        let id = message_id();
        sent.insert(id.0);
        let mut batch = vec![delivery(id, &alice, format!("{i}").as_bytes(), LATER)];
        if i % 3 == 0 {
            batch.push(delivery(message_id(), &bob2, b"fan-out", LATER));
        }
        tasks.push(tokio::spawn(async move { node.deliver(batch).await }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let seen_by_a = a.fetch(&alice, 1000, NOW).await.unwrap();
    assert_eq!(seen_by_a.len(), 100);
    assert_eq!(
        seen_by_a
            .iter()
            .map(|d| d.message_id.0)
            .collect::<BTreeSet<_>>(),
        sent
    );
    assert_eq!(b.fetch(&alice, 1000, NOW).await, Ok(seen_by_a));
    assert_eq!(b.fetch(&bob2, 1000, NOW).await.unwrap().len(), 1 + 34);

    for node in nodes {
        drop(node);
    }
    schema.drop_schema().await;
}

/// A wake-up of `waker`'s receiver within `seconds`, or a failure.
async fn woken(
    receiver: &mut tokio::sync::mpsc::UnboundedReceiver<Wakeup>,
    seconds: u64,
) -> Wakeup {
    tokio::time::timeout(Duration::from_secs(seconds), receiver.recv())
        .await
        .unwrap_or_else(|_| panic!("no wake-up within {seconds} s"))
        .unwrap()
}

/// A store whose remote wake-ups go to the returned receiver.
fn watched(store: &PostgresStore) -> tokio::sync::mpsc::UnboundedReceiver<Wakeup> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    store.set_remote_waker(Arc::new(move |wakeup| {
        let _ = sender.send(wakeup);
    }));
    receiver
}

/// A delivery through one node wakes the other node's waiters of each
/// recipient mailbox, once it has committed: not the delivering node
/// itself (its relay woke its own), and not for a delivery that rolled
/// back. When the listening connection is killed, the store listens
/// again, wakes every waiter once, and hears later deliveries.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delivery_wakes_the_other_node_and_a_lost_listener_comes_back() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let (a, b) = tokio::join!(schema.store(), schema.store());
    let (mut woken_a, mut woken_b) = (watched(&a), watched(&b));
    let bob = address("bob", 1);
    let carol = address("carol", 1);
    let (tag_bob, tag_carol) = (a.mailbox_tag(&bob), a.mailbox_tag(&carol));
    // Both nodes file a mailbox under the same tag, keyed (not the
    // unkeyed hash anyone could compute from the address).
    assert_eq!(b.mailbox_tag(&bob), tag_bob);
    assert_ne!(tag_bob, tag_carol);
    assert_ne!(tag_bob, MailboxTag::of(&bob));

    // Two envelopes for bob and one for carol: each mailbox once.
    let m1 = message_id();
    a.deliver(vec![
        delivery(m1, &bob, b"1", LATER),
        delivery(message_id(), &bob, b"2", LATER),
        delivery(message_id(), &carol, b"3", LATER),
    ])
    .await
    .unwrap();
    let heard = [woken(&mut woken_b, 5).await, woken(&mut woken_b, 5).await];
    assert_ne!(heard[0], heard[1]);
    for wakeup in heard {
        assert!(
            [Wakeup::Mailbox(tag_bob), Wakeup::Mailbox(tag_carol)].contains(&wakeup),
            "{wakeup:?}"
        );
    }
    // What b heard had committed: b sees it.
    assert_eq!(b.fetch(&bob, 10, NOW).await.unwrap().len(), 2);

    // a's first wake-up is b's delivery: its own came back to it before
    // (notifications arrive in commit order) and was ignored.
    b.deliver(vec![delivery(message_id(), &carol, b"4", LATER)])
        .await
        .unwrap();
    assert_eq!(woken(&mut woken_a, 5).await, Wakeup::Mailbox(tag_carol));
    // A delivery that rolls back (a message id already stored) and b's
    // own are not heard by b: the next thing b hears is bob's.
    assert!(
        a.deliver(vec![delivery(m1, &carol, b"again", LATER)])
            .await
            .is_err()
    );
    a.deliver(vec![delivery(message_id(), &bob, b"5", LATER)])
        .await
        .unwrap();
    assert_eq!(woken(&mut woken_b, 5).await, Wakeup::Mailbox(tag_bob));

    // Kill b's listening connection: b listens again on a new one and
    // wakes everyone, then hears deliveries as before.
    let pid = b.listener_pid().unwrap();
    execute(
        &schema.database,
        &format!("SELECT pg_terminate_backend({pid})"),
    )
    .await;
    assert_eq!(woken(&mut woken_b, 15).await, Wakeup::All);
    let new_pid = b.listener_pid().unwrap();
    assert_ne!(new_pid, pid);
    a.deliver(vec![delivery(message_id(), &carol, b"6", LATER)])
        .await
        .unwrap();
    assert_eq!(woken(&mut woken_b, 5).await, Wakeup::Mailbox(tag_carol));
    assert!(woken_a.try_recv().is_err());

    // Closing a store stops its listening: its connection goes away.
    b.close();
    eventually_async(
        "the listening connection to go with close()",
        Duration::from_secs(10),
        || async { !listening(&schema.database, new_pid).await },
    )
    .await;
    drop((a, b));
    schema.drop_schema().await;
}

/// Whether a server process `pid` is still connected.
async fn listening(database: &str, pid: i32) -> bool {
    let (client, connection) = tokio_postgres::connect(database, NoTls).await.unwrap();
    let connection = tokio::spawn(connection);
    let count: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = $1",
            &[&pid],
        )
        .await
        .unwrap()
        .get(0);
    drop(client);
    connection.await.unwrap().unwrap();
    count > 0
}

/// What another session listening on the channel sees of a delivery:
/// the sending node's id and the mailbox's tag, in hex, and nothing of
/// the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notifications_name_no_address() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let store = schema.store().await;
    let (client, mut connection) = tokio_postgres::connect(&schema.config, NoTls)
        .await
        .unwrap();
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let tokio_postgres::AsyncMessage::Notification(note) = message {
                let _ = sender.send((note.channel().to_owned(), note.payload().to_owned()));
            }
        }
    });
    let channel = store.wake_channel().to_owned();
    assert!(channel.starts_with("fuin_wake_"), "{channel}");
    client
        .batch_execute(&format!("LISTEN \"{channel}\""))
        .await
        .unwrap();

    let secret = address("secret-user-name", 77);
    store
        .deliver(vec![delivery(message_id(), &secret, b"x", LATER)])
        .await
        .unwrap();
    let (heard_on, payload) = tokio::time::timeout(Duration::from_secs(5), received.recv())
        .await
        .expect("no notification within 5 s")
        .unwrap();
    assert_eq!(heard_on, channel);
    let words: Vec<&str> = payload.split(' ').collect();
    assert_eq!(words.len(), 2, "{payload}");
    assert!(
        words
            .iter()
            .all(|word| word.len() == 16 && word.bytes().all(|b| b.is_ascii_hexdigit())),
        "{payload}"
    );
    assert_eq!(words[1], hex(&store.mailbox_tag(&secret).0));
    assert!(!payload.contains("secret"), "{payload}");
    drop(client);
    reader.await.unwrap();
    drop(store);
    schema.drop_schema().await;
}

/// A store reconnecting to a database that has the schema keeps what
/// was stored; several nodes connecting at once all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reconnecting_keeps_the_data_and_connecting_races_are_harmless() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let mut connecting = Vec::new();
    for _ in 0..6 {
        let config = schema.config.clone();
        connecting.push(tokio::spawn(async move {
            PostgresStore::connect_with_pool_size(&config, 1).await
        }));
    }
    for task in connecting {
        task.await.unwrap().unwrap();
    }

    let alice = address("alice", 1);
    let id = message_id();
    {
        let store = PostgresStore::connect(&schema.config).await.unwrap();
        store
            .register_device(&alice, &identity(1), NOW)
            .await
            .unwrap();
        store
            .deliver(vec![delivery(id, &alice, b"kept", LATER)])
            .await
            .unwrap();
        store.close();
        assert!(store.device_identity(&alice).await.is_err());
    }
    let store = schema.store().await;
    assert_eq!(store.device_identity(&alice).await, Ok(Some(identity(1))));
    assert_eq!(ids(&store.fetch(&alice, 10, NOW).await.unwrap()), vec![id]);
    drop(store);
    schema.drop_schema().await;
}

/// A bad connection string or an unreachable server is an error that
/// names the cause and does not repeat the connection string. (Needs no
/// database.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connection_failures_name_the_cause_without_data() {
    use fuin_relay::store::{OpenFailure, StoreError};
    for (config, expected) in [
        (
            "host=127.0.0.1 port=1 user=secret-user password=secret-password connect_timeout=2",
            StoreError::Open(OpenFailure::CannotConnect),
        ),
        (
            "no_such_key=secret-value",
            StoreError::Backend("connect: config".to_owned()),
        ),
    ] {
        let error = PostgresStore::connect(config).await.unwrap_err();
        assert_eq!(error, expected);
        assert!(!error.to_string().contains("secret"), "{error}");
    }
}

/// Sends waiting together are stored in one transaction, and each keeps
/// its own answer: one over its mailbox's quota (counting the sends
/// before it in the batch) is refused alone, one reusing a stored message
/// id fails alone (the batch is then stored again send by send), and the
/// others are stored in the order they came.
///
/// On a single-threaded runtime every send below is queued before the
/// committer task runs, so they meet in one batch.
#[tokio::test(flavor = "current_thread")]
async fn a_batch_of_sends_gives_each_send_its_own_answer() {
    use fuin_relay::store::{MailboxQuota, StoreError};

    let Some(schema) = Schema::create().await else {
        return;
    };
    let store = schema.store().await;
    let bob = address("bob", 1);
    let carol = address("carol", 1);
    let stored_id = message_id();
    store
        .deliver(vec![delivery(stored_id, &carol, b"first", LATER)])
        .await
        .unwrap();
    let (batches_before, sends_before) = store.delivery_batches();

    // Bob's quota is 3 envelopes: the first three sends to him fit, the
    // fourth does not, the fifth (to carol) does.
    let quota = MailboxQuota {
        max_envelopes: 3,
        max_bytes: u64::MAX,
    };
    let to_bob: Vec<_> = (0..4u8).map(|_| message_id()).collect();
    let to_carol = message_id();
    let answers = futures_util::future::join_all(
        to_bob
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let record = [b'b', u8::try_from(i).unwrap()];
                store.deliver_within_quotas(vec![delivery(*id, &bob, &record, LATER)], quota)
            })
            .chain([store
                .deliver_within_quotas(vec![delivery(to_carol, &carol, b"second", LATER)], quota)]),
    )
    .await;
    assert_eq!(
        answers,
        vec![Ok(()), Ok(()), Ok(()), Err(StoreError::MailboxFull), Ok(())]
    );
    let (batches, sends) = store.delivery_batches();
    assert_eq!((batches - batches_before, sends - sends_before), (1, 5));
    assert_eq!(ids(&store.fetch(&bob, 10, NOW).await.unwrap()), to_bob[..3]);
    assert_eq!(
        ids(&store.fetch(&carol, 10, NOW).await.unwrap()),
        [stored_id, to_carol]
    );

    // A stored id in the batch: it alone fails, the others are stored.
    let fresh: Vec<_> = (0..3).map(|_| message_id()).collect();
    let answers = futures_util::future::join_all(
        [fresh[0], stored_id, fresh[1], fresh[2]]
            .into_iter()
            .map(|id| store.deliver(vec![delivery(id, &carol, b"again", LATER)])),
    )
    .await;
    assert_eq!(answers[0], Ok(()));
    assert!(matches!(answers[1], Err(StoreError::Backend(_))));
    assert_eq!(answers[2..], [Ok(()), Ok(())]);
    assert_eq!(
        ids(&store.fetch(&carol, 10, NOW).await.unwrap()),
        [stored_id, to_carol, fresh[0], fresh[1], fresh[2]]
    );

    // Acknowledgements in one batch with a send: each counts what it
    // deleted from its own mailbox (an id two of them name counts for the
    // first; an id of another mailbox deletes nothing).
    let (batches_before, writes_before) = store.delivery_batches();
    let later = message_id();
    let answers = futures_util::future::join_all([
        store.acknowledge(&carol, &[stored_id, fresh[0]]),
        store.acknowledge(&carol, &[fresh[0], to_bob[0]]),
        store.acknowledge(&bob, &[to_bob[1], fresh[1]]),
    ])
    .await;
    let sent = store
        .deliver(vec![delivery(later, &bob, b"later", LATER)])
        .await;
    assert_eq!(answers, [Ok(2), Ok(0), Ok(1)]);
    assert_eq!(sent, Ok(()));
    let (batches, writes) = store.delivery_batches();
    assert_eq!((batches - batches_before, writes - writes_before), (2, 4));
    assert_eq!(
        ids(&store.fetch(&carol, 10, NOW).await.unwrap()),
        [to_carol, fresh[1], fresh[2]]
    );
    assert_eq!(
        ids(&store.fetch(&bob, 10, NOW).await.unwrap()),
        [to_bob[0], to_bob[2], later]
    );
    store.close();
    drop(store);
    schema.drop_schema().await;
}
