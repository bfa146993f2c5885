//! Storage robustness (issue 16): byte quotas per mailbox, per-record
//! checksums checked on read (a tampered record is set aside, not served),
//! the migration that gives old rows their checksums, the stamp key check
//! value, and opening failures named by their cause.
//!
//! [`suite`] runs against the [`Store`] trait on both backends, with a
//! [`Tamper`] that changes stored bytes behind the store's back (SQL
//! `UPDATE` on the row, as someone with access to the database would).
//! What only one backend can show (the SQLite file, PostgreSQL connection
//! errors) lives in its own module.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

#[path = "harness/mod.rs"]
mod harness;

use fuin_relay::store::{
    MailboxQuota, NewDelivery, NewReport, OpenFailure, Store, StoreError, StoredDelivery,
};
use fuin_wire::relay::ReportId;
use fuin_wire::{
    DeviceAddress, DeviceId, Ed25519PublicKey, Ed25519Signature, MessageId, OneTimePrekey,
    PrekeyId, PublicIdentity, SignedPrekey, UserId, X25519PublicKey,
};

/// A fixed "now" for the tests, in ms since the Unix epoch.
const NOW: u64 = 1_700_000_000_000;
/// An expiry far enough away not to matter.
const LATER: u64 = NOW + 86_400_000;

fn address(user: &str, device: u32) -> DeviceAddress<'static> {
    DeviceAddress::new(UserId::new(user.to_owned()).unwrap(), DeviceId(device))
}

fn delivery(recipient: &DeviceAddress<'static>, record: Vec<u8>) -> NewDelivery {
    NewDelivery {
        message_id: MessageId(rand::random()),
        recipient: recipient.clone(),
        record,
        expires_at_ms: LATER,
    }
}

fn report(reporter: &DeviceAddress<'static>, bytes: &[u8]) -> NewReport {
    NewReport {
        report_id: ReportId(rand::random()),
        reporter: reporter.clone(),
        received_at_ms: NOW,
        expires_at_ms: LATER,
        report: bytes.to_vec(),
    }
}

fn identity(seed: u8) -> PublicIdentity {
    PublicIdentity {
        signing_key: Ed25519PublicKey([seed; 32]),
        agreement_key: X25519PublicKey([seed ^ 0xff; 32]),
        signature: Ed25519Signature([seed.wrapping_add(1); 64]),
    }
}

fn ids(deliveries: &[StoredDelivery]) -> Vec<MessageId> {
    deliveries.iter().map(|d| d.message_id).collect()
}

/// Changes stored rows behind the store's back.
trait Tamper {
    /// Flips one bit of byte `at` of the `column` of the row of `table`
    /// whose `key_column` is `key`.
    async fn flip(&self, table: &str, key_column: &str, key: &[u8], column: &str, at: usize);
    /// Moves the mailbox row `message_id` to `device` of the same user.
    async fn move_envelope(&self, message_id: &[u8], device: u32);
    /// Flips one bit of the stored identity of `user/device`.
    async fn flip_identity(&self, user: &str, device: u32);
}

/// The backend-independent tests.
mod suite {
    use super::*;

    pub async fn a_send_over_the_mailbox_byte_quota_is_refused_whole(store: &impl Store) {
        let bob = address("bob", 1);
        let carol = address("carol", 1);
        let quota = MailboxQuota {
            max_envelopes: 100,
            max_bytes: 1000,
        };
        let first = delivery(&bob, vec![1; 400]);
        let first_id = first.message_id;
        store
            .deliver_within_quotas(vec![first], quota)
            .await
            .unwrap();
        let to_both = vec![delivery(&bob, vec![2; 400]), delivery(&carol, vec![3; 400])];
        store.deliver_within_quotas(to_both, quota).await.unwrap();
        let before_bob = ids(&store.fetch(&bob, 100, NOW).await.unwrap());
        let before_carol = ids(&store.fetch(&carol, 100, NOW).await.unwrap());
        assert_eq!(before_bob.len(), 2);
        assert_eq!(before_bob[0], first_id);

        // Bob would hold 1100 bytes: nothing of the send is stored, not
        // Carol's copy either.
        let over = vec![delivery(&carol, vec![4; 100]), delivery(&bob, vec![5; 300])];
        assert_eq!(
            store.deliver_within_quotas(over, quota).await,
            Err(StoreError::MailboxBytesFull)
        );
        assert_eq!(ids(&store.fetch(&bob, 100, NOW).await.unwrap()), before_bob);
        assert_eq!(
            ids(&store.fetch(&carol, 100, NOW).await.unwrap()),
            before_carol
        );

        // Exactly at the bound is allowed.
        let fits = delivery(&bob, vec![6; 200]);
        let fits_id = fits.message_id;
        store
            .deliver_within_quotas(vec![fits], quota)
            .await
            .unwrap();
        let after = ids(&store.fetch(&bob, 100, NOW).await.unwrap());
        assert_eq!(after, [before_bob, vec![fits_id]].concat());
        assert_eq!(
            store
                .deliver_within_quotas(vec![delivery(&bob, vec![7; 1])], quota)
                .await,
            Err(StoreError::MailboxBytesFull)
        );

        // Acknowledging frees the bytes.
        store.acknowledge(&bob, &[fits_id]).await.unwrap();
        store
            .deliver_within_quotas(vec![delivery(&bob, vec![8; 200])], quota)
            .await
            .unwrap();

        // The envelope count is still a bound of its own.
        let counted = MailboxQuota {
            max_envelopes: 3,
            max_bytes: u64::MAX,
        };
        assert_eq!(
            store
                .deliver_within_quotas(vec![delivery(&bob, vec![9; 1])], counted)
                .await,
            Err(StoreError::MailboxFull)
        );
    }

    pub async fn a_tampered_envelope_is_set_aside_and_the_rest_served(
        store: &impl Store,
        tamper: &impl Tamper,
    ) {
        let bob = address("bob", 1);
        let bob2 = address("bob", 2);
        let sent: Vec<_> = (0..4u8).map(|n| delivery(&bob, vec![n; 64])).collect();
        let sent_ids: Vec<_> = sent.iter().map(|d| d.message_id).collect();
        store.deliver(sent).await.unwrap();
        assert_eq!(store.quarantined_records().await.unwrap(), 0);
        let counted = super::quarantined_metric("mailbox");

        // One flipped bit in a record, and one row moved to another mailbox.
        tamper
            .flip("mailbox", "message_id", &sent_ids[1].0, "record", 10)
            .await;
        tamper.move_envelope(&sent_ids[2].0, 2).await;

        let served = store.fetch(&bob, 100, NOW).await.unwrap();
        assert_eq!(ids(&served), vec![sent_ids[0], sent_ids[3]]);
        for delivery in &served {
            assert!(delivery.record.iter().all(|b| *b == delivery.record[0]));
        }
        // The moved row is not served to the mailbox it was moved to.
        assert!(store.fetch(&bob2, 100, NOW).await.unwrap().is_empty());
        assert_eq!(store.quarantined_records().await.unwrap(), 2);
        // Counted for the operator's metrics.
        assert!(super::quarantined_metric("mailbox") >= counted + 2);

        // Set aside, not jamming the mailbox: later fetches serve the rest,
        // and new envelopes arrive after them.
        let next = delivery(&bob, vec![9; 8]);
        let next_id = next.message_id;
        store.deliver(vec![next]).await.unwrap();
        assert_eq!(
            ids(&store.fetch(&bob, 100, NOW).await.unwrap()),
            vec![sent_ids[0], sent_ids[3], next_id]
        );
        assert_eq!(store.quarantined_records().await.unwrap(), 2);

        // The quarantine expires with the records.
        store.expire(LATER).await.unwrap();
        assert_eq!(store.quarantined_records().await.unwrap(), 0);
    }

    pub async fn a_tampered_report_is_set_aside_and_the_rest_served(
        store: &impl Store,
        tamper: &impl Tamper,
    ) {
        let alice = address("alice", 1);
        let good = report(&alice, b"a sealed report");
        let bad = report(&alice, b"another sealed report");
        let (good_id, bad_id) = (good.report_id, bad.report_id);
        store.put_report(good).await.unwrap();
        store.put_report(bad).await.unwrap();
        tamper
            .flip("reports", "report_id", &bad_id.0, "report", 3)
            .await;
        let served = store.fetch_reports(10, 1 << 20, NOW).await.unwrap();
        let served_ids: Vec<_> = served.iter().map(|r| r.report_id).collect();
        assert_eq!(served_ids, vec![good_id]);
        assert_eq!(served[0].report, b"a sealed report");
        assert_eq!(store.quarantined_records().await.unwrap(), 1);
        let again = store.fetch_reports(10, 1 << 20, NOW).await.unwrap();
        assert_eq!(again.len(), 1);
    }

    /// A device row cannot be set aside (its address would be free to
    /// claim): its identity is not used, and nothing is taken from its
    /// prekey pool, while other devices work as before.
    pub async fn a_tampered_device_identity_is_not_used(store: &impl Store, tamper: &impl Tamper) {
        let bob = address("bob", 1);
        let carol = address("carol", 1);
        for (device, seed) in [(&bob, 2), (&carol, 3)] {
            store
                .register_device(device, &identity(seed), NOW)
                .await
                .unwrap();
            let signed = SignedPrekey {
                id: PrekeyId(1),
                public_key: X25519PublicKey([seed; 32]),
                signature: Ed25519Signature([seed; 64]),
            };
            let one_time = OneTimePrekey {
                id: PrekeyId(7),
                public_key: X25519PublicKey([seed ^ 1; 32]),
            };
            store
                .publish_prekeys(device, Some(&signed), &[one_time])
                .await
                .unwrap();
        }
        tamper.flip_identity("bob", 1).await;
        assert_eq!(
            store.device_identity(&bob).await,
            Err(StoreError::CorruptRecord)
        );
        assert_eq!(
            store.take_bundle(&bob).await.map(|_| ()),
            Err(StoreError::CorruptRecord)
        );
        assert_eq!(store.one_time_remaining(&bob).await.unwrap(), 1);
        // Registering again does not take the address over.
        assert_eq!(
            store.register_device(&bob, &identity(9), NOW).await,
            Err(StoreError::IdentityConflict)
        );
        assert_eq!(store.device_identity(&carol).await, Ok(Some(identity(3))));
        let bundle = store.take_bundle(&carol).await.unwrap().unwrap();
        assert_eq!(bundle.identity, identity(3));
    }

    pub async fn the_stamp_key_check_is_recorded(store: &impl Store) {
        assert!(!store.has_devices().await.unwrap());
        assert_eq!(store.stamp_key_check().await.unwrap(), None);
        store.set_stamp_key_check([7; 16]).await.unwrap();
        assert_eq!(store.stamp_key_check().await.unwrap(), Some(vec![7; 16]));
        store.set_stamp_key_check([8; 16]).await.unwrap();
        assert_eq!(store.stamp_key_check().await.unwrap(), Some(vec![8; 16]));
        store
            .register_device(&address("bob", 1), &identity(2), NOW)
            .await
            .unwrap();
        assert!(store.has_devices().await.unwrap());
    }

    /// What a store must serve after the migration that added checksums:
    /// the envelopes and report stored before it, unchanged.
    pub async fn rows_from_before_checksums_are_served(
        store: &impl Store,
        envelopes: &[MessageId],
        report_id: ReportId,
    ) {
        assert!(!store.was_new());
        let bob = address("bob", 1);
        assert_eq!(store.device_identity(&bob).await, Ok(Some(identity(2))));
        assert_eq!(ids(&store.fetch(&bob, 100, NOW).await.unwrap()), envelopes);
        let reports = store.fetch_reports(10, 1 << 20, NOW).await.unwrap();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].report_id, report_id);
        assert_eq!(store.quarantined_records().await.unwrap(), 0);
        // The old envelopes count towards the byte quota (three of 32 bytes).
        let full = MailboxQuota {
            max_envelopes: 100,
            max_bytes: 96,
        };
        assert_eq!(
            store
                .deliver_within_quotas(vec![delivery(&bob, vec![0; 1])], full)
                .await,
            Err(StoreError::MailboxBytesFull)
        );
        let room = MailboxQuota {
            max_envelopes: 100,
            max_bytes: 97,
        };
        store
            .deliver_within_quotas(vec![delivery(&bob, vec![0; 1])], room)
            .await
            .unwrap();
    }

    /// Stores what [`rows_from_before_checksums_are_served`] looks for.
    pub async fn store_rows_to_migrate(store: &impl Store) -> (Vec<MessageId>, ReportId) {
        let bob = address("bob", 1);
        store
            .register_device(&bob, &identity(2), NOW)
            .await
            .unwrap();
        let sent: Vec<_> = (0..3u8).map(|n| delivery(&bob, vec![n; 32])).collect();
        let sent_ids = sent.iter().map(|d| d.message_id).collect();
        store.deliver(sent).await.unwrap();
        let kept = report(&address("alice", 1), b"kept report");
        let report_id = kept.report_id;
        store.put_report(kept).await.unwrap();
        (sent_ids, report_id)
    }
}

/// The relay's count of `kind` records set aside (`/metrics`), in this
/// process: other tests here may add to it, never take from it.
fn quarantined_metric(kind: &str) -> u64 {
    let prefix = format!("fuin_relay_quarantined_records_total{{kind=\"{kind}\"}} ");
    fuin_relay::metrics::encode()
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .map_or(0, |value| value.trim().parse().unwrap())
}

fn flipped(mut bytes: Vec<u8>, at: usize) -> Vec<u8> {
    bytes[at] ^= 0x01;
    bytes
}

/// The suite on SQLite, and what only the file shows.
mod sqlite {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::{Path, PathBuf};

    use fuin_relay::store::sqlite::SqliteStore;
    use rusqlite::{Connection, params};
    use tempfile::TempDir;

    use super::*;

    struct File(PathBuf);

    impl Tamper for File {
        async fn flip(&self, table: &str, key_column: &str, key: &[u8], column: &str, at: usize) {
            let conn = Connection::open(&self.0).unwrap();
            let select = format!("SELECT {column} FROM {table} WHERE {key_column} = ?1");
            let bytes: Vec<u8> = conn.query_row(&select, params![key], |r| r.get(0)).unwrap();
            let update = format!("UPDATE {table} SET {column} = ?2 WHERE {key_column} = ?1");
            let changed = conn
                .execute(&update, params![key, flipped(bytes, at)])
                .unwrap();
            assert_eq!(changed, 1);
        }

        async fn move_envelope(&self, message_id: &[u8], device: u32) {
            let conn = Connection::open(&self.0).unwrap();
            let changed = conn
                .execute(
                    "UPDATE mailbox SET device = ?2 WHERE message_id = ?1",
                    params![message_id, device],
                )
                .unwrap();
            assert_eq!(changed, 1);
        }

        async fn flip_identity(&self, user: &str, device: u32) {
            let conn = Connection::open(&self.0).unwrap();
            let bytes: Vec<u8> = conn
                .query_row(
                    "SELECT identity FROM devices WHERE user = ?1 AND device = ?2",
                    params![user, device],
                    |r| r.get(0),
                )
                .unwrap();
            let changed = conn
                .execute(
                    "UPDATE devices SET identity = ?3 WHERE user = ?1 AND device = ?2",
                    params![user, device, flipped(bytes, 40)],
                )
                .unwrap();
            assert_eq!(changed, 1);
        }
    }

    fn open() -> (TempDir, SqliteStore, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        let store = SqliteStore::open(&path).unwrap();
        (dir, store, File(path))
    }

    fn refusal(path: &Path) -> OpenFailure {
        match SqliteStore::open(path) {
            Err(StoreError::Open(failure)) => failure,
            Err(other) => panic!("expected an open failure, got {other:?}"),
            Ok(_) => panic!("{} was opened", path.display()),
        }
    }

    /// Whether the tests run as root, for whom file permissions do not
    /// stop anything (`/proc/self` belongs to the effective user).
    fn running_as_root() -> bool {
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    }

    fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_send_over_the_mailbox_byte_quota_is_refused_whole() {
        let (_dir, store, _) = open();
        suite::a_send_over_the_mailbox_byte_quota_is_refused_whole(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tampered_envelope_is_set_aside_and_the_rest_served() {
        let (_dir, store, file) = open();
        suite::a_tampered_envelope_is_set_aside_and_the_rest_served(&store, &file).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tampered_report_is_set_aside_and_the_rest_served() {
        let (_dir, store, file) = open();
        suite::a_tampered_report_is_set_aside_and_the_rest_served(&store, &file).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tampered_device_identity_is_not_used() {
        let (_dir, store, file) = open();
        suite::a_tampered_device_identity_is_not_used(&store, &file).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_stamp_key_check_is_recorded() {
        let (dir, store, _) = open();
        assert!(store.was_new());
        suite::the_stamp_key_check_is_recorded(&store).await;
        drop(store);
        let store = SqliteStore::open(&dir.path().join("relay.db")).unwrap();
        assert!(!store.was_new());
        assert_eq!(store.stamp_key_check().await.unwrap(), Some(vec![8; 16]));
    }

    /// A database as schema version 3 left it (no checksums, no quarantine,
    /// no `relay_meta`) is migrated and its rows served.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_from_before_checksums_are_served_after_the_migration() {
        let (dir, store, _) = open();
        let (envelopes, report_id) = suite::store_rows_to_migrate(&store).await;
        drop(store);
        let path = dir.path().join("relay.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "ALTER TABLE mailbox DROP COLUMN checksum;
             ALTER TABLE reports DROP COLUMN checksum;
             ALTER TABLE devices DROP COLUMN checksum;
             DROP INDEX mailbox_size;
             ALTER TABLE mailbox DROP COLUMN size;
             DROP TABLE quarantine;
             DROP TABLE relay_meta;
             PRAGMA user_version = 3;",
        )
        .unwrap();
        drop(conn);
        let store = SqliteStore::open(&path).unwrap();
        suite::rows_from_before_checksums_are_served(&store, &envelopes, report_id).await;
    }

    /// A flipped byte in the database file itself (inside a record, where
    /// the page structure and `quick_check` do not see it) is caught on read.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flipped_byte_in_the_file_is_not_served() {
        let (dir, store, _) = open();
        let bob = address("bob", 1);
        let marker = b"0123456789-a-record-to-damage-9876543210".to_vec();
        let good = delivery(&bob, b"an undamaged record".to_vec());
        let bad = delivery(&bob, marker.clone());
        let good_id = good.message_id;
        store.deliver(vec![good, bad]).await.unwrap();
        drop(store);
        let path = dir.path().join("relay.db");
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes
            .windows(marker.len())
            .position(|w| w == marker.as_slice())
            .expect("the record is in the file");
        bytes[at + 5] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();

        let store = SqliteStore::open(&path).unwrap();
        let served = store.fetch(&bob, 100, NOW).await.unwrap();
        assert_eq!(ids(&served), vec![good_id]);
        assert_eq!(store.quarantined_records().await.unwrap(), 1);
    }

    /// Damaged pages: opening fails, naming the database corrupt.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_database_with_corrupted_pages_is_refused() {
        let (dir, store, _) = open();
        let bob = address("bob", 1);
        for n in 0..20u8 {
            let batch = (0..20u8)
                .map(|m| delivery(&bob, vec![n ^ m; 700]))
                .collect();
            store.deliver(batch).await.unwrap();
        }
        drop(store);
        let path = dir.path().join("relay.db");
        let mut bytes = std::fs::read(&path).unwrap();
        let page = 4096;
        assert!(bytes.len() > 40 * page, "{} bytes", bytes.len());
        // Pages 3 to 40 become noise; the header page stays as it was.
        for (i, byte) in bytes[2 * page..40 * page].iter_mut().enumerate() {
            *byte = (i as u8).wrapping_mul(151).wrapping_add(7);
        }
        std::fs::write(&path, &bytes).unwrap();
        let failure = refusal(&path);
        assert_eq!(failure, OpenFailure::Corrupt);
        assert!(failure.to_string().contains("corrupt"), "{failure}");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_named_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        std::fs::write(&path, vec![b'x'; 8192]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(refusal(&path), OpenFailure::NotADatabase);
    }

    #[test]
    fn a_missing_directory_is_named_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-directory").join("relay.db");
        assert_eq!(refusal(&path), OpenFailure::MissingDirectory);
        assert!(!path.exists());
    }

    #[test]
    fn a_directory_that_is_a_file_is_named_so() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        assert_eq!(refusal(&file.join("relay.db")), OpenFailure::NotADirectory);
    }

    #[test]
    fn a_database_path_that_is_a_directory_is_named_so() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(refusal(dir.path()), OpenFailure::IsADirectory);
    }

    /// Another process holding the database exclusively: named locked
    /// (after the store's busy timeout).
    #[test]
    fn a_locked_database_is_named_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        drop(SqliteStore::open(&path).unwrap());
        let holder = Connection::open(&path).unwrap();
        holder
            .execute_batch(
                "PRAGMA locking_mode = EXCLUSIVE;
                 BEGIN EXCLUSIVE;
                 CREATE TABLE held (x);",
            )
            .unwrap();
        assert_eq!(refusal(&path), OpenFailure::Locked);
        holder.execute_batch("ROLLBACK").unwrap();
    }

    #[test]
    fn a_database_from_a_newer_relay_is_named_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        drop(SqliteStore::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        assert_eq!(refusal(&path), OpenFailure::NewerSchema);
    }

    #[test]
    fn a_foreign_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        let other = Connection::open(&path).unwrap();
        other
            .execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY, data BLOB)")
            .unwrap();
        drop(other);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(refusal(&path), OpenFailure::ForeignDatabase);
    }

    /// Relay tables without a recorded version (a first start of an older
    /// relay cut short) are the relay's: completed, not refused, and not
    /// taken for a new database.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn relay_tables_without_a_version_are_completed() {
        let (dir, store, _) = open();
        let bob = address("bob", 1);
        let kept = delivery(&bob, vec![1; 8]);
        let kept_id = kept.message_id;
        store.deliver(vec![kept]).await.unwrap();
        drop(store);
        let path = dir.path().join("relay.db");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 0)
            .unwrap();
        let store = SqliteStore::open(&path).unwrap();
        assert!(!store.was_new());
        assert_eq!(
            ids(&store.fetch(&bob, 10, NOW).await.unwrap()),
            vec![kept_id]
        );
    }

    #[test]
    fn a_database_missing_a_table_of_its_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        drop(SqliteStore::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .execute_batch("DROP TABLE devices")
            .unwrap();
        assert_eq!(refusal(&path), OpenFailure::MissingTables);
    }

    /// The database, its `-wal` and its `-shm` are made 0600, whatever the
    /// umask; an existing one that others may read is refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn data_files_are_made_0600_and_readable_ones_refused() {
        let (dir, store, _) = open();
        store
            .deliver(vec![delivery(&address("bob", 1), vec![1; 10])])
            .await
            .unwrap();
        let path = dir.path().join("relay.db");
        for file in [
            path.clone(),
            with_suffix(&path, "-wal"),
            with_suffix(&path, "-shm"),
        ] {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
        drop(store);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let failure = refusal(&path);
        assert_eq!(
            failure,
            OpenFailure::OthersMayRead {
                file: "database",
                mode: 0o644
            }
        );
        assert!(failure.to_string().contains("chmod 600"), "{failure}");
    }

    /// A database file the relay may read but not write is named
    /// read-only. Root writes any file, so as root the case cannot be made
    /// and the test says so and checks nothing else.
    #[test]
    fn a_read_only_database_file_is_named_so() {
        if running_as_root() {
            eprintln!("skipped: running as root, which file modes do not stop");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        drop(SqliteStore::open(&path).unwrap());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(refusal(&path), OpenFailure::ReadOnly);
    }

    /// A database file the relay may not even read. Skipped as root, as above.
    #[test]
    fn an_unreadable_database_file_is_named_permission_denied() {
        if running_as_root() {
            eprintln!("skipped: running as root, which file modes do not stop");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        drop(SqliteStore::open(&path).unwrap());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        assert_eq!(refusal(&path), OpenFailure::PermissionDenied);
    }

    /// A directory where the `-wal` and `-shm` files cannot be made, and
    /// one that cannot be entered. Skipped as root, as above.
    #[test]
    fn a_read_only_or_closed_directory_is_named_so() {
        if running_as_root() {
            eprintln!("skipped: running as root, which directory modes do not stop");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let path = data.join("relay.db");
        drop(SqliteStore::open(&path).unwrap());
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o500)).unwrap();
        let read_only = refusal(&path);
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o000)).unwrap();
        let closed = refusal(&path);
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(read_only, OpenFailure::ReadOnly);
        assert_eq!(closed, OpenFailure::PermissionDenied);
    }
}

/// The suite on PostgreSQL, each test on a schema of its own (dropped
/// afterwards), when `FUIN_TEST_POSTGRES` names a database; and the
/// connection failures named by their cause.
mod postgres {
    use std::sync::Once;

    use fuin_relay::store::postgres::PostgresStore;
    use tokio_postgres::NoTls;

    use super::*;

    const VARIABLE: &str = "FUIN_TEST_POSTGRES";

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
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "note: {VARIABLE} is not set: the PostgreSQL integrity tests are skipped"
            );
        });
        None
    }

    async fn execute(database: &str, sql: &str) {
        let (client, connection) = tokio_postgres::connect(database, NoTls).await.unwrap();
        let connection = tokio::spawn(connection);
        client.batch_execute(sql).await.unwrap();
        drop(client);
        connection.await.unwrap().unwrap();
    }

    /// A schema of the test database for one test.
    struct Schema {
        database: String,
        name: String,
        config: String,
    }

    impl Schema {
        async fn create() -> Option<Self> {
            let database = database()?;
            let name = format!("fuin_test_{}", hex::encode(rand::random::<[u8; 8]>()));
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

        async fn store(&self) -> PostgresStore {
            PostgresStore::connect_with_pool_size(&self.config, 2)
                .await
                .unwrap()
        }

        async fn execute(&self, sql: &str) {
            execute(&self.config, sql).await;
        }

        async fn drop_schema(self) {
            execute(
                &self.database,
                &format!("DROP SCHEMA {} CASCADE", self.name),
            )
            .await;
        }

        async fn refusal(&self) -> OpenFailure {
            match PostgresStore::connect_with_pool_size(&self.config, 2).await {
                Err(StoreError::Open(failure)) => failure,
                Err(other) => panic!("expected an open failure, got {other:?}"),
                Ok(_) => panic!("the schema was opened"),
            }
        }
    }

    impl Tamper for Schema {
        async fn flip(&self, table: &str, key_column: &str, key: &[u8], column: &str, at: usize) {
            let (client, connection) = tokio_postgres::connect(&self.config, NoTls).await.unwrap();
            let connection = tokio::spawn(connection);
            let select = format!("SELECT {column} FROM {table} WHERE {key_column} = $1");
            let bytes: Vec<u8> = client.query_one(&select, &[&key]).await.unwrap().get(0);
            let update = format!("UPDATE {table} SET {column} = $2 WHERE {key_column} = $1");
            let changed = client
                .execute(&update, &[&key, &flipped(bytes, at)])
                .await
                .unwrap();
            assert_eq!(changed, 1);
            drop(client);
            connection.await.unwrap().unwrap();
        }

        async fn move_envelope(&self, message_id: &[u8], device: u32) {
            let (client, connection) = tokio_postgres::connect(&self.config, NoTls).await.unwrap();
            let connection = tokio::spawn(connection);
            let changed = client
                .execute(
                    "UPDATE mailbox SET device = $2 WHERE message_id = $1",
                    &[&message_id, &i64::from(device)],
                )
                .await
                .unwrap();
            assert_eq!(changed, 1);
            drop(client);
            connection.await.unwrap().unwrap();
        }

        async fn flip_identity(&self, user: &str, device: u32) {
            let (client, connection) = tokio_postgres::connect(&self.config, NoTls).await.unwrap();
            let connection = tokio::spawn(connection);
            let device = i64::from(device);
            let bytes: Vec<u8> = client
                .query_one(
                    "SELECT identity FROM devices WHERE user_id = $1 AND device = $2",
                    &[&user, &device],
                )
                .await
                .unwrap()
                .get(0);
            let changed = client
                .execute(
                    "UPDATE devices SET identity = $3 WHERE user_id = $1 AND device = $2",
                    &[&user, &device, &flipped(bytes, 40)],
                )
                .await
                .unwrap();
            assert_eq!(changed, 1);
            drop(client);
            connection.await.unwrap().unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tampered_device_identity_is_not_used() {
        let Some(schema) = Schema::create().await else {
            return;
        };
        let store = schema.store().await;
        suite::a_tampered_device_identity_is_not_used(&store, &schema).await;
        store.close();
        schema.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_send_over_the_mailbox_byte_quota_is_refused_whole() {
        let Some(schema) = Schema::create().await else {
            return;
        };
        let store = schema.store().await;
        suite::a_send_over_the_mailbox_byte_quota_is_refused_whole(&store).await;
        store.close();
        schema.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tampered_envelope_is_set_aside_and_the_rest_served() {
        let Some(schema) = Schema::create().await else {
            return;
        };
        let store = schema.store().await;
        suite::a_tampered_envelope_is_set_aside_and_the_rest_served(&store, &schema).await;
        store.close();
        schema.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tampered_report_is_set_aside_and_the_rest_served() {
        let Some(schema) = Schema::create().await else {
            return;
        };
        let store = schema.store().await;
        suite::a_tampered_report_is_set_aside_and_the_rest_served(&store, &schema).await;
        store.close();
        schema.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_stamp_key_check_is_recorded() {
        let Some(schema) = Schema::create().await else {
            return;
        };
        let store = schema.store().await;
        assert!(store.was_new());
        suite::the_stamp_key_check_is_recorded(&store).await;
        store.close();
        let store = schema.store().await;
        assert!(!store.was_new());
        assert_eq!(store.stamp_key_check().await.unwrap(), Some(vec![8; 16]));
        store.close();
        schema.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_from_before_checksums_are_served_after_the_migration() {
        let Some(schema) = Schema::create().await else {
            return;
        };
        let store = schema.store().await;
        let (envelopes, report_id) = suite::store_rows_to_migrate(&store).await;
        store.close();
        schema
            .execute(
                "ALTER TABLE mailbox DROP COLUMN checksum;
                 ALTER TABLE reports DROP COLUMN checksum;
                 ALTER TABLE devices DROP COLUMN checksum;
                 DROP INDEX mailbox_size;
                 ALTER TABLE mailbox DROP COLUMN size;
                 DROP TABLE quarantine;
                 DROP TABLE relay_meta;
                 UPDATE fuin_schema SET version = 3;",
            )
            .await;
        let store = schema.store().await;
        suite::rows_from_before_checksums_are_served(&store, &envelopes, report_id).await;
        store.close();
        schema.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_foreign_or_damaged_schema_is_refused() {
        let Some(schema) = Schema::create().await else {
            return;
        };
        // Relay tables without the relay's version table.
        schema
            .execute("CREATE TABLE mailbox (id BIGINT PRIMARY KEY)")
            .await;
        assert_eq!(schema.refusal().await, OpenFailure::ForeignDatabase);
        schema.execute("DROP TABLE mailbox").await;
        // A relay schema missing a table its version has.
        schema.store().await.close();
        schema.execute("DROP TABLE devices CASCADE").await;
        assert_eq!(schema.refusal().await, OpenFailure::MissingTables);
        // One from a newer relay.
        schema.execute("UPDATE fuin_schema SET version = 99").await;
        assert_eq!(schema.refusal().await, OpenFailure::NewerSchema);
        schema.drop_schema().await;
    }

    /// A config with one `key=value` replaced (or added).
    fn with(config: &str, key: &str, value: &str) -> String {
        let mut parts: Vec<String> = config
            .split_whitespace()
            .filter(|part| !part.starts_with(&format!("{key}=")))
            .map(str::to_owned)
            .collect();
        parts.push(format!("{key}={value}"));
        parts.join(" ")
    }

    async fn connect_failure(config: &str) -> OpenFailure {
        match PostgresStore::connect_with_pool_size(config, 1).await {
            Err(StoreError::Open(failure)) => failure,
            Err(other) => panic!("expected an open failure, got {other:?}"),
            Ok(_) => panic!("connected"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connection_failures_are_named_by_cause() {
        let Some(database) = database() else { return };
        if database.contains("://") {
            eprintln!("skipped: {VARIABLE} is a URL; this test edits key=value strings");
            return;
        }
        // Nothing listens on port 1.
        let nowhere = with(&with(&database, "host", "127.0.0.1"), "port", "1");
        assert_eq!(connect_failure(&nowhere).await, OpenFailure::CannotConnect);
        let no_database = with(&database, "dbname", "fuin_no_such_database");
        assert_eq!(
            connect_failure(&no_database).await,
            OpenFailure::NoSuchDatabase
        );
        let no_role = with(&database, "user", "fuin_no_such_role");
        assert_eq!(
            connect_failure(&no_role).await,
            OpenFailure::AuthenticationFailed
        );
    }
}

/// Through the API: a damaged device record is answered with the stable
/// code `corrupt_record`, to a sender and at login, and never used.
mod api {
    use super::harness::Harness;
    use axum::http::{Method, StatusCode};
    use fuin_wire::relay::{ChallengeRequest, SendBatch};
    use fuin_wire::{ContentKind, FrameBody, FrankingCommitment, Opaque, RoutingEnvelope};
    use rusqlite::{Connection, params};

    fn code(body: &[u8]) -> String {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
        json["code"].as_str().unwrap().to_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_damaged_device_record_is_answered_corrupt_record() {
        let h = Harness::new();
        let alice = h.register("alice", 1, 1).await;
        let bob = h.register("bob", 1, 2).await;
        let conn = Connection::open(h.database_path()).unwrap();
        let identity: Vec<u8> = conn
            .query_row(
                "SELECT identity FROM devices WHERE user = 'bob' AND device = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        conn.execute(
            "UPDATE devices SET identity = ?1 WHERE user = 'bob' AND device = 1",
            params![super::flipped(identity, 5)],
        )
        .unwrap();

        let send = SendBatch {
            envelopes: vec![RoutingEnvelope {
                recipient: bob.address.clone(),
                content_kind: ContentKind::Message,
                franking_commitment: FrankingCommitment([3; 32]),
                sealed_body: Opaque::from(b"hello".to_vec()),
            }]
            .into(),
        };
        let answer = h
            .call(
                Method::POST,
                "/v1/messages",
                Some(&alice.token),
                send.to_bytes().unwrap(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(code(&answer.body), "corrupt_record");

        let challenge = ChallengeRequest {
            address: bob.address.clone(),
        };
        let answer = h
            .call(
                Method::POST,
                "/v1/auth/challenge",
                None,
                challenge.to_bytes().unwrap(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(code(&answer.body), "corrupt_record");
    }
}
