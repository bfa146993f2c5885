//! The suite on SQLite, plus what only the SQLite file can show.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fuin_relay::store::sqlite::SqliteStore;
use fuin_relay::store::{NewDelivery, NewPrekeys, PrekeyCounts, Store};
use fuin_wire::{
    ContentKind, DeliveredRecord, FrameBody, FrankingCommitment, FrankingStamp, MessageId, Opaque,
    RoutingEnvelope, StampKeyId,
};
use tempfile::TempDir;

use super::{
    LATER, NOW, address, identity, kem_prekey, message_id, one_time_prekey, signed_prekey,
};

fn open() -> (TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("relay.db")).unwrap();
    (dir, Arc::new(store))
}

instantiate_suite!(open;
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

fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// The database file and, if present, its write-ahead log.
fn file_bytes(store: &SqliteStore) -> Vec<u8> {
    let mut bytes = std::fs::read(store.database_path()).unwrap();
    if let Ok(wal) = std::fs::read(wal_path(store.database_path())) {
        bytes.extend_from_slice(&wal);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// A `Delivered` frame as the relay stores it, whose sealed body holds
/// `marker` somewhere in `len` bytes.
fn record(recipient: &str, sender: &str, id: MessageId, marker: &[u8; 32], len: usize) -> Vec<u8> {
    let mut body = vec![0x5a; len];
    let at = (len - marker.len()) / 2;
    body[at..at + marker.len()].copy_from_slice(marker);
    DeliveredRecord {
        envelope: RoutingEnvelope {
            recipient: address(recipient, 1),
            content_kind: ContentKind::Message,
            franking_commitment: FrankingCommitment([0xc0; 32]),
            sealed_body: Opaque::borrowed(&body),
        },
        sender: address(sender, 1),
        server_time_ms: NOW,
        server_message_id: id,
        franking_stamp: FrankingStamp([0x57; 32]),
        stamp_key_id: StampKeyId(1),
    }
    .to_bytes()
    .unwrap()
}

/// After acknowledgement (or expiry) and a checkpoint, neither the
/// database file nor its log holds any byte string of the envelopes:
/// not the sealed body, the recipient, the sender or the message id.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_of_an_acknowledged_envelope_remains_in_the_file() {
    let (_dir, store) = open();
    let marker: [u8; 32] = rand::random();
    let tag = hex(&rand::random::<[u8; 8]>());
    let recipient = format!("recipient-{tag}");
    let sender = format!("sender-{tag}");
    let bystander = address("bystander", 1);

    // Other traffic that stays, sharing pages with the envelopes.
    let mut kept = Vec::new();
    for i in 0..40usize {
        let id = message_id();
        kept.push(NewDelivery {
            message_id: id,
            recipient: bystander.clone(),
            record: vec![0x42; 100 + 37 * i],
            expires_at_ms: LATER,
        });
    }
    store.deliver(kept).await.unwrap();

    // Small, page-sized and overflowing records; half are acknowledged,
    // half expire.
    let to = address(&recipient, 1);
    let mut acknowledged = Vec::new();
    let mut expiring = Vec::new();
    for (i, len) in [64usize, 300, 1500, 4000, 9000, 30_000]
        .into_iter()
        .cycle()
        .take(24)
        .enumerate()
    {
        let id = message_id();
        let expires_at_ms = if i % 2 == 0 { LATER } else { NOW + 10 };
        let record = record(&recipient, &sender, id, &marker, len);
        store
            .deliver(vec![NewDelivery {
                message_id: id,
                recipient: to.clone(),
                record,
                expires_at_ms,
            }])
            .await
            .unwrap();
        if i % 2 == 0 {
            acknowledged.push(id);
        } else {
            expiring.push(id);
        }
    }
    assert_eq!(store.fetch(&to, 100, NOW).await.unwrap().len(), 24);

    // The scan can see them while they are stored (so it is not vacuous).
    store.checkpoint().await.unwrap();
    let before = file_bytes(&store);
    assert!(contains(&before, &marker));
    assert!(contains(&before, recipient.as_bytes()));
    assert!(contains(&before, sender.as_bytes()));
    assert!(contains(&before, &acknowledged[0].0));

    assert_eq!(store.acknowledge(&to, &acknowledged).await, Ok(12));
    assert_eq!(store.expire(NOW + 10).await, Ok(12));
    assert_eq!(store.fetch(&to, 100, NOW).await, Ok(vec![]));
    assert_eq!(store.fetch(&bystander, 100, NOW).await.unwrap().len(), 40);

    store.checkpoint().await.unwrap();
    let after = file_bytes(&store);
    assert!(!contains(&after, &marker), "a sealed body remains");
    assert!(
        !contains(&after, recipient.as_bytes()),
        "the recipient remains"
    );
    assert!(!contains(&after, sender.as_bytes()), "the sender remains");
    for id in acknowledged.iter().chain(&expiring) {
        assert!(!contains(&after, &id.0), "a message id remains");
    }
}

/// After a blob expired and its reports were acknowledged or expired,
/// and a checkpoint, neither the database file nor its log holds any
/// byte string of them: not the blob's bytes, its id or capability
/// hashes, nor a report's bytes, id or reporter.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_of_an_expired_blob_or_a_taken_report_remains_in_the_file() {
    let (_dir, store) = open();
    let marker: [u8; 32] = rand::random();
    let tag = hex(&rand::random::<[u8; 8]>());
    let reporter = address(&format!("reporter-{tag}"), 1);
    let marked = |len: usize| {
        let mut bytes = vec![0x6b; len];
        let at = (len - marker.len()) / 2;
        bytes[at..at + marker.len()].copy_from_slice(&marker);
        bytes
    };

    // A blob and a report that stay, sharing pages with the others.
    let kept_blob = vec![0x42; 10_000];
    store
        .put_blob(super::new_blob(&kept_blob, [0x42; 32], LATER))
        .await
        .unwrap();
    store
        .put_report(super::new_report(
            &address("bystander", 1),
            NOW,
            LATER,
            &[0x42; 700],
        ))
        .await
        .unwrap();

    // Blobs of one page and of many, each uploaded twice; reports small
    // and large, half acknowledged, half expiring.
    let mut blobs = Vec::new();
    for len in [200usize, 3000, 300_000] {
        let content = marked(len);
        let capabilities: [[u8; 32]; 2] = [rand::random(), rand::random()];
        for (i, capability) in capabilities.iter().enumerate() {
            store
                .put_blob(super::new_blob(&content, *capability, NOW + 10 + i as u64))
                .await
                .unwrap();
        }
        blobs.push((super::blob_id(&content), capabilities));
    }
    let mut acknowledged = Vec::new();
    let mut expiring = Vec::new();
    for (i, len) in [100usize, 5000, 100_000, 400, 9000, 250_000]
        .into_iter()
        .enumerate()
    {
        let expires = if i % 2 == 0 { LATER } else { NOW + 10 };
        let report = super::new_report(&reporter, NOW + i as u64, expires, &marked(len));
        store.put_report(report.clone()).await.unwrap();
        if i % 2 == 0 {
            acknowledged.push(report.report_id);
        } else {
            expiring.push(report.report_id);
        }
    }

    // The scan can see them while they are stored.
    store.checkpoint().await.unwrap();
    let before = file_bytes(&store);
    assert!(contains(&before, &marker));
    assert!(contains(&before, reporter.user.as_str().as_bytes()));
    assert!(contains(&before, &blobs[0].0.0));
    assert!(contains(&before, &blobs[0].1[0]));
    assert!(contains(&before, &acknowledged[0].0));

    assert_eq!(store.ack_reports(&acknowledged).await, Ok(3));
    store.expire(NOW + 11).await.unwrap();
    assert_eq!(
        store
            .fetch_reports(100, usize::MAX, NOW)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .blob(&super::blob_id(&kept_blob), [0x42; 32], NOW)
            .await,
        Ok(Some(kept_blob.len() as u64))
    );

    store.checkpoint().await.unwrap();
    let after = file_bytes(&store);
    assert!(
        !contains(&after, &marker),
        "a blob's or report's bytes remain"
    );
    assert!(
        !contains(&after, reporter.user.as_str().as_bytes()),
        "the reporter remains"
    );
    for (id, capabilities) in &blobs {
        assert!(!contains(&after, &id.0), "a blob id remains");
        for capability in capabilities {
            assert!(!contains(&after, capability), "a capability hash remains");
        }
    }
    for id in acknowledged.iter().chain(&expiring) {
        assert!(!contains(&after, &id.0), "a report id remains");
    }
}

/// A database of schema version 1 (before blobs and reports) gains their
/// tables when opened, and keeps what it held.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_version_1_database_gains_the_blob_and_report_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    let alice = address("alice", 1);
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .register_device(&alice, &identity(1), NOW)
            .await
            .unwrap();
    }
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE blob_capabilities; DROP TABLE blobs; DROP TABLE reports; \
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.device_identity(&alice).await, Ok(Some(identity(1))));
    store
        .put_blob(super::new_blob(b"blob", [1; 32], LATER))
        .await
        .unwrap();
    store
        .put_report(super::new_report(&alice, NOW, LATER, b"report"))
        .await
        .unwrap();
    assert_eq!(store.fetch_reports(10, 100, NOW).await.unwrap().len(), 1);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, 7);
}

/// A database of schema version 3 (before suspensions and the audit
/// log) gains the tables when opened, empty, and keeps what it held.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_version_3_database_gains_suspensions_and_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    let alice = address("alice", 1);
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .register_device(&alice, &identity(1), NOW)
            .await
            .unwrap();
    }
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE suspended_users; DROP TABLE admin_actions; \
             PRAGMA user_version = 3;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
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
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, 7);
}

/// A blob uploaded twice is one row with two capabilities.
/// A database of schema version 6 (before KEM prekeys) gains their tables
/// when opened, keeps its devices and their prekeys, and gives them no KEM
/// prekey until they publish one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_version_6_database_gains_kem_prekeys_and_keeps_its_devices() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    let alice = address("alice", 1);
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .register_device(&alice, &identity(1), NOW)
            .await
            .unwrap();
        store
            .publish_prekeys(&alice, Some(&signed_prekey(1)), &[one_time_prekey(2, 2)])
            .await
            .unwrap();
    }
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE last_resort_kem_prekeys; DROP TABLE one_time_kem_prekeys; \
             PRAGMA user_version = 6;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
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
    assert_eq!(bundle.signed_prekey, signed_prekey(1));
    assert_eq!(bundle.one_time_prekey, Some(one_time_prekey(2, 2)));
    assert_eq!(bundle.kem_prekey, None);
    // It can publish them now.
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
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_blob_uploaded_twice_is_stored_once() {
    let (_dir, store) = open();
    let content = vec![0x77; 20_000];
    store
        .put_blob(super::new_blob(&content, [1; 32], LATER))
        .await
        .unwrap();
    store
        .put_blob(super::new_blob(&content, [2; 32], LATER))
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(store.database_path()).unwrap();
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
            row.get(0)
        })
        .unwrap()
    };
    assert_eq!(count("blobs"), 1);
    assert_eq!(count("blob_capabilities"), 2);
}

/// What was answered `Ok` survives closing and reopening, and closing
/// stops the writer and folds the log back into the database file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    let alice = address("alice", 1);
    let id = message_id();
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .register_device(&alice, &identity(1), NOW)
            .await
            .unwrap();
        store
            .deliver(vec![NewDelivery {
                message_id: id,
                recipient: alice.clone(),
                record: b"kept".to_vec(),
                expires_at_ms: LATER,
            }])
            .await
            .unwrap();
    }
    assert!(!wal_path(&path).exists(), "closing checkpoints the log");

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.device_identity(&alice).await, Ok(Some(identity(1))));
    let fetched = store.fetch(&alice, 10, NOW).await.unwrap();
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].message_id, id);
    assert_eq!(fetched[0].record, b"kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_is_in_wal_mode() {
    let (_dir, store) = open();
    let conn = rusqlite::Connection::open(store.database_path()).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
