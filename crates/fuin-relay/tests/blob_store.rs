//! The blob store suite, run on a directory and on an S3-compatible bucket
//! (`common/blob_backends.rs`): objects go in and come back whole, are
//! replaced, deleted, listed with their times, survive concurrent use, and
//! a damaged one is detected; the sweep deletes exactly the old objects
//! without a record. Then what only the directory shows (modes, temporary
//! files), and the move of blobs that an older relay kept in its database,
//! on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/blob_backends.rs"]
mod blob_backends;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use blob_backends::Backend;
use bytes::Bytes;
use fuin_relay::blobs::{
    BlobReadError, BlobStore, FsBlobStore, move_database_blobs, read_checked, sweep_orphans,
};
use fuin_relay::store::sqlite::SqliteStore;
use fuin_relay::store::{NewBlob, Store};
use fuin_wire::BlobId;
use sha2::{Digest, Sha256};

on_both_backends!(
    an_object_comes_back_whole_and_a_missing_one_is_none,
    a_put_replaces_the_object,
    a_deleted_object_is_gone_and_deleting_nothing_succeeds,
    objects_are_listed_with_their_times_and_only_old_ones_are_deleted_as_old,
    concurrent_puts_and_gets_each_see_whole_objects,
    a_truncated_swapped_longer_or_missing_object_is_detected,
    the_sweep_deletes_old_objects_without_a_record_and_keeps_the_rest,
);

fn id_of(content: &[u8]) -> BlobId {
    // As the relay names blobs: BLAKE3 if the first byte is 2, else SHA-256.
    if content.first() == Some(&2) {
        BlobId(*blake3::hash(content).as_bytes())
    } else {
        BlobId(Sha256::digest(content).into())
    }
}

fn random_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|_| rand::random::<u8>()).collect()
}

/// A fresh store of `backend`, with the directory it may live in.
fn open(backend: Backend) -> (tempfile::TempDir, Arc<dyn BlobStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = blob_backends::open(backend, dir.path()).expect("the backend is available");
    (dir, store)
}

async fn listed(store: &dyn BlobStore) -> Vec<BlobId> {
    let mut ids: Vec<BlobId> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|object| object.blob_id)
        .collect();
    ids.sort_by_key(|id| id.0);
    ids
}

fn sorted(mut ids: Vec<BlobId>) -> Vec<BlobId> {
    ids.sort_by_key(|id| id.0);
    ids
}

async fn an_object_comes_back_whole_and_a_missing_one_is_none(backend: Backend) {
    let (_dir, store) = open(backend);
    let large = random_bytes(3 * 1024 * 1024 + 17);
    for content in [large.clone(), b"small".to_vec(), Vec::new()] {
        store
            .put(id_of(&content), Bytes::from(content.clone()))
            .await
            .unwrap();
        let back = store.get(id_of(&content), u64::MAX).await.unwrap();
        assert_eq!(back.as_deref(), Some(&content[..]));
    }
    assert_eq!(store.get(id_of(b"never put"), u64::MAX).await, Ok(None));
    // Exactly as long as allowed is fine.
    let back = store.get(id_of(&large), large.len() as u64).await.unwrap();
    assert_eq!(back.map(|b| b.len()), Some(large.len()));
}

async fn a_put_replaces_the_object(backend: Backend) {
    let (_dir, store) = open(backend);
    let id = id_of(b"first");
    store.put(id, Bytes::from_static(b"first")).await.unwrap();
    store
        .put(id, Bytes::from_static(b"second, longer"))
        .await
        .unwrap();
    assert_eq!(
        store.get(id, u64::MAX).await.unwrap().as_deref(),
        Some(&b"second, longer"[..])
    );
    store.put(id, Bytes::from_static(b"3")).await.unwrap();
    assert_eq!(
        store.get(id, u64::MAX).await.unwrap().as_deref(),
        Some(&b"3"[..])
    );
    assert_eq!(listed(store.as_ref()).await, vec![id]);
}

async fn a_deleted_object_is_gone_and_deleting_nothing_succeeds(backend: Backend) {
    let (_dir, store) = open(backend);
    let (a, b) = (b"object a".to_vec(), b"object b".to_vec());
    store.put(id_of(&a), Bytes::from(a.clone())).await.unwrap();
    store.put(id_of(&b), Bytes::from(b.clone())).await.unwrap();
    store.delete(id_of(&a)).await.unwrap();
    assert_eq!(store.get(id_of(&a), u64::MAX).await, Ok(None));
    assert_eq!(listed(store.as_ref()).await, vec![id_of(&b)]);
    store.delete(id_of(&a)).await.unwrap();
    store.delete(id_of(b"never put")).await.unwrap();
    assert_eq!(
        store.get(id_of(&b), u64::MAX).await.unwrap().as_deref(),
        Some(&b[..])
    );
}

async fn objects_are_listed_with_their_times_and_only_old_ones_are_deleted_as_old(
    backend: Backend,
) {
    let (_dir, store) = open(backend);
    let before = SystemTime::now() - Duration::from_secs(60);
    let contents: Vec<Vec<u8>> = (0..5).map(|i| vec![i; 100]).collect();
    for content in &contents {
        store
            .put(id_of(content), Bytes::from(content.clone()))
            .await
            .unwrap();
    }
    let after = SystemTime::now() + Duration::from_secs(60);
    let objects = store.list().await.unwrap();
    assert_eq!(
        sorted(objects.iter().map(|object| object.blob_id).collect()),
        sorted(contents.iter().map(|content| id_of(content)).collect())
    );
    // Written just now (give or take a minute of clock difference with a
    // remote store).
    assert!(
        objects
            .iter()
            .all(|object| object.modified > before && object.modified < after)
    );
    // Not older than a minute ago: kept. Older than a minute from now: gone.
    let first = id_of(&contents[0]);
    assert_eq!(store.delete_if_older(first, before).await, Ok(false));
    assert!(store.get(first, u64::MAX).await.unwrap().is_some());
    assert_eq!(store.delete_if_older(first, after).await, Ok(true));
    assert_eq!(store.get(first, u64::MAX).await, Ok(None));
    assert_eq!(store.delete_if_older(first, after).await, Ok(false));
    assert_eq!(listed(store.as_ref()).await.len(), 4);
}

async fn concurrent_puts_and_gets_each_see_whole_objects(backend: Backend) {
    let (_dir, store) = open(backend);
    // Two versions of one object written over each other while readers
    // read it, and distinct objects written side by side.
    let versions = [random_bytes(200_000), random_bytes(300_000)];
    let shared = BlobId([0x5e; 32]);
    let mut tasks = tokio::task::JoinSet::new();
    for round in 0..16 {
        let store = store.clone();
        let version = versions[round % 2].clone();
        let versions = versions.clone();
        tasks.spawn(async move {
            store.put(shared, Bytes::from(version)).await.unwrap();
            let seen = store.get(shared, u64::MAX).await.unwrap().unwrap();
            assert!(versions.iter().any(|v| v[..] == seen[..]), "a torn object");
            let own = random_bytes(10_000 + round);
            store
                .put(id_of(&own), Bytes::from(own.clone()))
                .await
                .unwrap();
            own
        });
    }
    let mut expected = vec![shared];
    while let Some(own) = tasks.join_next().await {
        let own = own.unwrap();
        let back = store.get(id_of(&own), u64::MAX).await.unwrap();
        assert_eq!(back.as_deref(), Some(&own[..]));
        expected.push(id_of(&own));
    }
    assert_eq!(listed(store.as_ref()).await, sorted(expected));
}

async fn a_truncated_swapped_longer_or_missing_object_is_detected(backend: Backend) {
    let (_dir, store) = open(backend);
    let a = random_bytes(5000);
    let b = random_bytes(5000);
    let id = id_of(&a);
    let len = a.len() as u64;
    store.put(id, Bytes::from(a.clone())).await.unwrap();
    assert_eq!(
        read_checked(store.as_ref(), id, len).await.as_deref(),
        Ok(&a[..])
    );
    let mut flipped = a.clone();
    flipped[0] ^= 0x80;
    for damaged in [a[..4999].to_vec(), b.clone(), flipped] {
        store.put(id, Bytes::from(damaged)).await.unwrap();
        assert!(matches!(
            read_checked(store.as_ref(), id, len).await,
            Err(BlobReadError::Damaged(_))
        ));
    }
    // Longer than its record: read only as far as shows it.
    let mut longer = a.clone();
    longer.extend_from_slice(&[0; 1000]);
    store.put(id, Bytes::from(longer)).await.unwrap();
    let cut = store.get(id, len).await.unwrap().unwrap();
    assert_eq!(cut.len() as u64, len + 1);
    assert_eq!(&cut[..a.len()], &a[..]);
    assert!(matches!(
        read_checked(store.as_ref(), id, len).await,
        Err(BlobReadError::Damaged(_))
    ));
    store.delete(id).await.unwrap();
    assert_eq!(
        read_checked(store.as_ref(), id, len).await,
        Err(BlobReadError::Damaged("its object is missing"))
    );
}

async fn the_sweep_deletes_old_objects_without_a_record_and_keeps_the_rest(backend: Backend) {
    let (dir, blobs) = open(backend);
    let store = SqliteStore::open(&dir.path().join("relay.db")).unwrap();
    let recorded = b"recorded".to_vec();
    let expired = b"expired".to_vec();
    let orphan = b"orphan".to_vec();
    for content in [&recorded, &expired, &orphan] {
        blobs
            .put(id_of(content), Bytes::from(content.clone()))
            .await
            .unwrap();
    }
    for (content, expires_at_ms) in [(&recorded, 2_000), (&expired, 1_000)] {
        store
            .put_blob(NewBlob {
                blob_id: id_of(content),
                len: content.len() as u64,
                capability_hash: Sha256::digest(content).into(),
                expires_at_ms,
            })
            .await
            .unwrap();
    }
    store.expire(1_500).await.unwrap();
    // Young objects stay, record or not.
    let young = SystemTime::now() - Duration::from_secs(3600);
    assert_eq!(sweep_orphans(&store, blobs.as_ref(), young).await, Ok(0));
    assert_eq!(listed(blobs.as_ref()).await.len(), 3);
    // Old ones without a record go; the recorded one stays.
    let old = SystemTime::now() + Duration::from_secs(3600);
    assert_eq!(sweep_orphans(&store, blobs.as_ref(), old).await, Ok(2));
    assert_eq!(listed(blobs.as_ref()).await, vec![id_of(&recorded)]);
}

#[cfg(unix)]
mod directory {
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, SystemTime};

    use bytes::Bytes;
    use fuin_relay::blobs::{BlobStore, FsBlobStore};

    use super::id_of;

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn the_directory_is_0700_its_files_0600_and_no_temporary_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db.blobs");
        let store = FsBlobStore::open(&path).unwrap();
        assert_eq!(mode(&path), 0o700);
        let content = b"a sealed attachment".to_vec();
        store
            .put(id_of(&content), Bytes::from(content.clone()))
            .await
            .unwrap();
        let file = store.path_of(&id_of(&content));
        assert_eq!(file.parent(), Some(path.as_path()));
        assert_eq!(
            file.file_name().unwrap().to_str().unwrap(),
            hex::encode(id_of(&content).0)
        );
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read(&file).unwrap(), content);
        let names: Vec<_> = std::fs::read_dir(&path)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // Reopening an existing directory works.
        FsBlobStore::open(&path).unwrap();
    }

    #[tokio::test]
    async fn a_directory_others_may_use_or_a_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let loose = dir.path().join("loose");
        std::fs::create_dir(&loose).unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = FsBlobStore::open(&loose).unwrap_err().to_string();
        assert!(err.contains("chmod 700"), "{err}");
        let file = dir.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let err = FsBlobStore::open(&file).unwrap_err().to_string();
        assert!(err.contains("not a directory"), "{err}");
    }

    #[tokio::test]
    async fn a_rewrite_makes_an_object_young_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(&dir.path().join("blobs")).unwrap();
        let content = b"uploaded twice".to_vec();
        let id = id_of(&content);
        store.put(id, Bytes::from(content.clone())).await.unwrap();
        let long_ago = SystemTime::now() - Duration::from_secs(86_400);
        std::fs::File::options()
            .write(true)
            .open(store.path_of(&id))
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        let listed = store.list().await.unwrap();
        assert!(listed[0].modified < hour_ago);
        // The second upload of the same blob rewrites it: the sweep sees a
        // young object, which it keeps.
        store.put(id, Bytes::from(content)).await.unwrap();
        assert_eq!(store.delete_if_older(id, hour_ago).await, Ok(false));
    }

    #[tokio::test]
    async fn a_crashed_write_s_temporary_file_is_removed_once_old() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blobs");
        let store = FsBlobStore::open(&path).unwrap();
        // What a write interrupted before its rename leaves.
        let leftover = path.join(".tmp-0123456789abcdef");
        std::fs::write(&leftover, b"half an upl").unwrap();
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        assert_eq!(store.remove_leftovers(hour_ago).await, Ok(0));
        assert!(leftover.exists());
        // Not a blob: never listed.
        assert_eq!(store.list().await, Ok(vec![]));
        let later = SystemTime::now() + Duration::from_secs(3600);
        assert_eq!(store.remove_leftovers(later).await, Ok(1));
        assert!(!leftover.exists());
    }
}

/// The blob tables as relays before the blob store made them (schema 3):
/// the bytes in `content`.
/// Makes `db` a database as the relay before blob lengths (schema 5) left
/// it, with its blob bytes still in the `blobs` rows: today's schema, less
/// the `length` column, at version 5.
fn old_sqlite_database(db: &std::path::Path) -> rusqlite::Connection {
    drop(SqliteStore::open(db).unwrap());
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("ALTER TABLE blobs DROP COLUMN length; PRAGMA user_version = 5;")
        .unwrap();
    conn
}

/// Blobs with recognisable bytes, as an older relay stored them, each with
/// the capability `[i; 32]` (hashed) until `FAR`.
fn old_blobs() -> Vec<Vec<u8>> {
    (1..=3u8)
        .map(|i| {
            let mut blob = random_bytes(100_000);
            blob[..8].copy_from_slice(&[i; 8]);
            blob
        })
        .collect()
}

const FAR: i64 = 4_000_000_000_000;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A store that fails every put after the first `allowed`.
struct FailsAfter {
    inner: FsBlobStore,
    allowed: std::sync::atomic::AtomicUsize,
}

impl BlobStore for FailsAfter {
    fn put(&self, blob_id: BlobId, bytes: Bytes) -> fuin_relay::blobs::BlobFuture<'_, ()> {
        use std::sync::atomic::Ordering;
        if self
            .allowed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_err()
        {
            return Box::pin(async {
                Err(fuin_relay::blobs::BlobStoreError::new("put", "injected"))
            });
        }
        self.inner.put(blob_id, bytes)
    }
    fn get(
        &self,
        blob_id: BlobId,
        max_len: u64,
    ) -> fuin_relay::blobs::BlobFuture<'_, Option<Bytes>> {
        self.inner.get(blob_id, max_len)
    }
    fn delete(&self, blob_id: BlobId) -> fuin_relay::blobs::BlobFuture<'_, ()> {
        self.inner.delete(blob_id)
    }
    fn delete_if_older(
        &self,
        blob_id: BlobId,
        cutoff: SystemTime,
    ) -> fuin_relay::blobs::BlobFuture<'_, bool> {
        self.inner.delete_if_older(blob_id, cutoff)
    }
    fn list(&self) -> fuin_relay::blobs::BlobFuture<'_, Vec<fuin_relay::blobs::StoredObject>> {
        self.inner.list()
    }
    fn location(&self) -> String {
        self.inner.location()
    }
}

/// An older relay's SQLite database, built by SQL: its blobs move to the
/// blob store, and the database keeps their records (still readable with
/// their capabilities) but not their bytes. A move that fails half way
/// loses nothing and the next one finishes it.
#[tokio::test]
async fn an_older_sqlite_database_s_blobs_move_to_the_blob_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let blobs = old_blobs();
    {
        let conn = old_sqlite_database(&db);
        for (i, blob) in blobs.iter().enumerate() {
            conn.execute(
                "INSERT INTO blobs (blob_id, content, expires_at) VALUES (?1, ?2, ?3)",
                rusqlite::params![id_of(blob).0, blob, FAR],
            )
            .unwrap();
            let capability_hash: [u8; 32] = Sha256::digest([i as u8; 32]).into();
            conn.execute(
                "INSERT INTO blob_capabilities VALUES (?1, ?2, ?3)",
                rusqlite::params![capability_hash, id_of(blob).0, FAR],
            )
            .unwrap();
        }
    }
    let store = SqliteStore::open(&db).unwrap();
    store.checkpoint().await.unwrap();
    let size_before = std::fs::metadata(&db).unwrap().len();
    let mut waiting = store.blobs_in_database().await.unwrap();
    waiting.sort_by_key(|id| id.0);
    assert_eq!(waiting, sorted(blobs.iter().map(|b| id_of(b)).collect()));
    // Until moved, a blob is not served from the database.
    let first_capability: [u8; 32] = Sha256::digest([0u8; 32]).into();
    assert_eq!(
        store.blob(&id_of(&blobs[0]), first_capability, 0).await,
        Ok(None)
    );

    // The blob store fails after one blob: one moved, the rest still there.
    let failing = FailsAfter {
        inner: FsBlobStore::open(&dir.path().join("relay.db.blobs")).unwrap(),
        allowed: 1.into(),
    };
    assert!(move_database_blobs(&store, &failing).await.is_err());
    assert_eq!(store.blobs_in_database().await.unwrap().len(), 2);

    let fs = FsBlobStore::open(&dir.path().join("relay.db.blobs")).unwrap();
    assert_eq!(move_database_blobs(&store, &fs).await, Ok(2));
    assert_eq!(move_database_blobs(&store, &fs).await, Ok(0));
    for (i, blob) in blobs.iter().enumerate() {
        let capability_hash: [u8; 32] = Sha256::digest([i as u8; 32]).into();
        let len = store.blob(&id_of(blob), capability_hash, 0).await.unwrap();
        assert_eq!(len, Some(blob.len() as u64));
        assert_eq!(
            read_checked(&fs, id_of(blob), blob.len() as u64)
                .await
                .as_deref(),
            Ok(&blob[..])
        );
    }
    store.checkpoint().await.unwrap();
    // The file gave the blobs' space back (VACUUM after the move).
    let size_after = std::fs::metadata(&db).unwrap().len();
    let moved: u64 = blobs.iter().map(|blob| blob.len() as u64).sum();
    assert!(
        size_after + moved - 64 * 1024 <= size_before,
        "{size_before} bytes before the move, {size_after} after"
    );
    drop(store);
    let mut bytes = std::fs::read(&db).unwrap();
    if let Ok(wal) = std::fs::read(dir.path().join("relay.db-wal")) {
        bytes.extend(wal);
    }
    for blob in &blobs {
        assert!(!contains(&bytes, &blob[50_000..50_064]));
    }
}

/// The same on PostgreSQL (skipped without `FUIN_TEST_POSTGRES`, failing
/// under `CI`), in a schema of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_postgres_database_s_blobs_move_to_the_blob_store() {
    use fuin_relay::store::postgres::PostgresStore;
    use tokio_postgres::NoTls;

    let Some(database) = std::env::var("FUIN_TEST_POSTGRES")
        .ok()
        .filter(|value| !value.trim().is_empty())
    else {
        if std::env::var("CI").is_ok_and(|ci| !ci.is_empty()) {
            panic!("CI is set but FUIN_TEST_POSTGRES is not: .ci/run must start PostgreSQL");
        }
        eprintln!("note: FUIN_TEST_POSTGRES is not set: the PostgreSQL blob move is skipped");
        return;
    };
    let schema = format!("fuin_test_{}", hex::encode(rand::random::<[u8; 8]>()));
    let (client, connection) = tokio_postgres::connect(&database, NoTls).await.unwrap();
    let connection = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let config = if database.contains("://") {
        let separator = if database.contains('?') { '&' } else { '?' };
        format!("{database}{separator}options=-c%20search_path%3D{schema}")
    } else {
        format!("{database} options='-c search_path={schema}'")
    };
    // Today's schema less the blobs' `length`, at version 5: the relay
    // before blob lengths, its blob bytes still in the rows.
    PostgresStore::connect_with_pool_size(&config, 1)
        .await
        .unwrap()
        .close();
    client
        .batch_execute(&format!(
            "SET search_path = {schema};
             ALTER TABLE blobs DROP COLUMN length;
             UPDATE fuin_schema SET version = 5;"
        ))
        .await
        .unwrap();
    let blobs = old_blobs();
    for (i, blob) in blobs.iter().enumerate() {
        let id = id_of(blob).0.to_vec();
        client
            .execute(
                "INSERT INTO blobs (blob_id, content, expires_at) VALUES ($1, $2, $3)",
                &[&id, blob, &FAR],
            )
            .await
            .unwrap();
        let capability_hash: [u8; 32] = Sha256::digest([i as u8; 32]).into();
        client
            .execute(
                "INSERT INTO blob_capabilities VALUES ($1, $2, $3)",
                &[&capability_hash.to_vec(), &id, &FAR],
            )
            .await
            .unwrap();
    }
    let store = PostgresStore::connect_with_pool_size(&config, 2)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fs = FsBlobStore::open(&dir.path().join("blobs")).unwrap();
    assert_eq!(move_database_blobs(&store, &fs).await, Ok(3));
    assert_eq!(store.blobs_in_database().await, Ok(vec![]));
    for (i, blob) in blobs.iter().enumerate() {
        let capability_hash: [u8; 32] = Sha256::digest([i as u8; 32]).into();
        let len = store.blob(&id_of(blob), capability_hash, 0).await.unwrap();
        assert_eq!(len, Some(blob.len() as u64));
        assert_eq!(
            read_checked(&fs, id_of(blob), blob.len() as u64)
                .await
                .as_deref(),
            Ok(&blob[..])
        );
    }
    let left: i64 = client
        .query_one(
            &format!("SELECT COALESCE(SUM(length(content)), 0)::BIGINT FROM {schema}.blobs"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    drop(store);
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
    drop(client);
    connection.await.unwrap().unwrap();
}

/// Neither the S3 settings nor the store made from them show a credential
/// in `Debug` output; both name the bucket and endpoint.
#[test]
fn s3_credentials_never_reach_debug_output() {
    use fuin_relay::blobs::{S3BlobStore, S3Settings};
    use zeroize::Zeroizing;

    let settings = S3Settings {
        endpoint: "http://127.0.0.1:1".to_owned(),
        bucket: "fuin-bucket".to_owned(),
        region: "us-east-1".to_owned(),
        prefix: String::new(),
        access_key_id: Zeroizing::new("AKIDNEVERSHOWN".to_owned()),
        secret_access_key: Zeroizing::new("secret-never-shown".to_owned()),
    };
    let store = S3BlobStore::new(&settings).unwrap();
    for shown in [
        format!("{settings:?}"),
        format!("{store:?}"),
        store.location(),
    ] {
        assert!(
            shown.contains("fuin-bucket") || shown.contains("S3Settings"),
            "{shown}"
        );
        assert!(!shown.contains("AKIDNEVERSHOWN"), "{shown}");
        assert!(!shown.contains("secret-never-shown"), "{shown}");
    }
}
