//! The `fuin-relay` binary and its blob store: an older relay's database,
//! whose blobs are rows, starts with them moved to the directory next to it
//! and serves them from there; `--blob-s3-*` with credentials from the
//! environment keeps them in a bucket; incomplete or unsafe blob store
//! settings are refused before serving, and no credential is taken from the
//! command line; uploads survive SIGKILL on both backends with no record
//! left without its object.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/blob_backends.rs"]
mod blob_backends;
mod common;
#[path = "common/pg_schema.rs"]
mod pg_schema;

use std::ffi::OsStr;
use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use common::{RelayProcess, TestDevice, read_response, refused_start};
use fuin_relay::blobs::{BlobStore, S3BlobStore};
use fuin_wire::BlobId;
use sha2::{Digest, Sha256};

fn id_of(content: &[u8]) -> BlobId {
    BlobId(Sha256::digest(content).into())
}

/// One blob request with a device token and, for a download, a capability.
fn blob_request(
    relay: &str,
    method: &str,
    blob_id: &BlobId,
    token: &str,
    capability: Option<&[u8; 32]>,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let capability = capability
        .map(|c| format!("fuin-blob-capability: {}\r\n", hex::encode(c)))
        .unwrap_or_default();
    let head = format!(
        "{method} /v1/blobs/{} HTTP/1.1\r\nHost: {relay}\r\nAuthorization: Bearer {token}\r\n\
         {capability}Content-Length: {}\r\nConnection: close\r\n\r\n",
        hex::encode(blob_id.0),
        body.len()
    );
    let mut stream = TcpStream::connect(relay).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    read_response(stream).unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn an_older_relay_s_blob_rows_move_to_the_directory_at_startup_and_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    // A database of the relay before blob lengths (schema 5).
    let blob: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let capability = [0x4c; 32];
    {
        // Today's schema less the blobs' `length`, at version 5: the relay
        // before blob lengths, its blob bytes still in the rows.
        drop(fuin_relay::store::sqlite::SqliteStore::open(&data).unwrap());
        let conn = rusqlite::Connection::open(&data).unwrap();
        conn.execute_batch("ALTER TABLE blobs DROP COLUMN length; PRAGMA user_version = 5;")
            .unwrap();
        conn.execute(
            "INSERT INTO blobs VALUES (?1, ?2, 4000000000000)",
            rusqlite::params![id_of(&blob).0, blob],
        )
        .unwrap();
        let capability_hash: [u8; 32] = Sha256::digest(capability).into();
        conn.execute(
            "INSERT INTO blob_capabilities VALUES (?1, ?2, 4000000000000)",
            rusqlite::params![capability_hash, id_of(&blob).0],
        )
        .unwrap();
    }

    let relay = RelayProcess::start(&data);
    let alice = TestDevice::register(&relay.address, "alice", 1, 1);
    let (status, body) = blob_request(
        &relay.address,
        "GET",
        &id_of(&blob),
        &alice.token,
        Some(&capability),
        b"",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, blob);
    let exit = relay.stop("TERM");
    assert!(exit.success(), "relay exited with {exit}");

    // The bytes are a file of the blob directory, and gone from the
    // database.
    let blobs = dir.path().join("relay.db.blobs");
    let file = blobs.join(hex::encode(id_of(&blob).0));
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode(&blobs) & 0o777, 0o700);
    assert_eq!(mode(&file) & 0o777, 0o600);
    assert_eq!(std::fs::read(&file).unwrap(), blob);
    let mut database = std::fs::read(&data).unwrap();
    database.extend(std::fs::read(dir.path().join("relay.db-wal")).unwrap_or_default());
    assert!(!contains(&database, &blob[100_000..100_064]));
}

#[test]
fn blobs_go_to_an_s3_bucket_named_by_flags_with_credentials_from_the_environment() {
    let Some(settings) = blob_backends::s3_settings() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let flags = [
        "--blob-s3-endpoint",
        &settings.endpoint,
        "--blob-s3-bucket",
        &settings.bucket,
        "--blob-s3-region",
        &settings.region,
        "--blob-s3-prefix",
        &settings.prefix,
        "--data",
    ];
    let mut args: Vec<&OsStr> = flags.iter().map(OsStr::new).collect();
    args.push(data.as_os_str());
    let relay = RelayProcess::spawn_with_env(
        &args,
        "127.0.0.1:0",
        Stdio::inherit(),
        &[
            (
                "FUIN_RELAY_S3_ACCESS_KEY_ID",
                settings.access_key_id.as_str(),
            ),
            (
                "FUIN_RELAY_S3_SECRET_ACCESS_KEY",
                settings.secret_access_key.as_str(),
            ),
        ],
    );
    let alice = TestDevice::register(&relay.address, "alice", 1, 1);
    let blob = b"an attachment for the bucket".repeat(1000);
    let (status, body) = blob_request(
        &relay.address,
        "PUT",
        &id_of(&blob),
        &alice.token,
        None,
        &blob,
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let exit = relay.stop("TERM");
    assert!(exit.success(), "relay exited with {exit}");

    // In the bucket, under the prefix; no blob directory next to the data.
    let bucket = S3BlobStore::new(&settings).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stored = runtime
        .block_on(bucket.get(id_of(&blob), u64::MAX))
        .unwrap();
    assert_eq!(stored.as_deref(), Some(&blob[..]));
    assert!(!dir.path().join("relay.db.blobs").exists());
}

#[test]
fn incomplete_or_unsafe_blob_store_settings_are_refused_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).into_os_string();
    let key = path("stamp-key");
    let data = path("relay.db");

    // Several relays on one PostgreSQL database need one blob store.
    let stderr = refused_start(
        &[
            OsStr::new("--postgres"),
            OsStr::new("host=127.0.0.1 port=1 user=nobody"),
            OsStr::new("--stamp-key-file"),
            &key,
        ],
        "127.0.0.1:0",
    );
    assert!(
        stderr.contains("--blob-dir or --blob-s3-bucket"),
        "{stderr}"
    );

    // A bucket without credentials.
    let s3 = [
        OsStr::new("--data"),
        &data,
        OsStr::new("--blob-s3-endpoint"),
        OsStr::new("http://127.0.0.1:1"),
        OsStr::new("--blob-s3-bucket"),
        OsStr::new("fuin"),
    ];
    let stderr = refused_start(&s3, "127.0.0.1:0");
    assert!(stderr.contains("FUIN_RELAY_S3_ACCESS_KEY_ID"), "{stderr}");

    // A credentials file others may read.
    let credentials = dir.path().join("s3-credentials");
    std::fs::write(&credentials, "id\nsecret-never-printed\n").unwrap();
    std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut with_file = s3.to_vec();
    with_file.extend([
        OsStr::new("--blob-s3-credentials-file"),
        credentials.as_os_str(),
    ]);
    let stderr = refused_start(&with_file, "127.0.0.1:0");
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(!stderr.contains("secret-never-printed"), "{stderr}");

    // A blob directory others may use.
    let loose = dir.path().join("loose");
    std::fs::create_dir(&loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o755)).unwrap();
    let stderr = refused_start(
        &[
            OsStr::new("--data"),
            &data,
            OsStr::new("--blob-dir"),
            loose.as_os_str(),
        ],
        "127.0.0.1:0",
    );
    assert!(stderr.contains("chmod 700"), "{stderr}");

    // No option takes a credential on the command line.
    for option in ["--blob-s3-secret-access-key", "--blob-s3-access-key-id"] {
        let mut args = s3.to_vec();
        args.extend([OsStr::new(option), OsStr::new("secret-never-printed")]);
        let stderr = refused_start(&args, "127.0.0.1:0");
        assert!(stderr.contains("unexpected argument"), "{stderr}");
    }
}

/// Blob uploads under SIGKILL, on a directory and on a bucket: every
/// upload the relay answered is served whole after a restart, every record
/// in the database has its object, and once the sweep has run (grace 0)
/// every object has its record and no temporary file is left.
fn every_answered_upload_survives_sigkill(backend: blob_backends::Backend) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use fuin_wire::FrameBody;
    use fuin_wire::relay::BlobReceipt;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let settings = match backend {
        blob_backends::Backend::Fs => None,
        blob_backends::Backend::S3 => Some(blob_backends::s3_settings().unwrap()),
    };
    let mut flags: Vec<String> = vec!["--blob-orphan-grace-secs".into(), "0".into()];
    let mut env: Vec<(&str, &str)> = Vec::new();
    if let Some(settings) = &settings {
        flags.extend(
            [
                "--blob-s3-endpoint",
                &settings.endpoint,
                "--blob-s3-bucket",
                &settings.bucket,
                "--blob-s3-region",
                &settings.region,
                "--blob-s3-prefix",
                &settings.prefix,
            ]
            .map(str::to_owned),
        );
        env.push((
            "FUIN_RELAY_S3_ACCESS_KEY_ID",
            settings.access_key_id.as_str(),
        ));
        env.push((
            "FUIN_RELAY_S3_SECRET_ACCESS_KEY",
            settings.secret_access_key.as_str(),
        ));
    }
    let mut args: Vec<&OsStr> = flags.iter().map(OsStr::new).collect();
    args.extend([OsStr::new("--data"), data.as_os_str()]);
    let start = || RelayProcess::spawn_with_env(&args, "127.0.0.1:0", Stdio::inherit(), &env);

    let relay = start();
    let address = relay.address.clone();
    let alice = Arc::new(TestDevice::register(&address, "alice", 1, 1));
    let answered = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let uploaders: Vec<_> = (0..3u8)
        .map(|uploader| {
            let (answered, stop, alice, address) = (
                answered.clone(),
                stop.clone(),
                alice.clone(),
                address.clone(),
            );
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(Ordering::SeqCst) {
                    let mut blob = vec![uploader; 64 * 1024 + (i as usize % 7) * 1000];
                    blob[..4].copy_from_slice(&i.to_le_bytes());
                    i += 1;
                    // A 201 is a promise; anything else (the relay died
                    // mid-request) is not.
                    let id = id_of(&blob);
                    let Ok(mut stream) = TcpStream::connect(&address) else {
                        continue;
                    };
                    let head = format!(
                        "PUT /v1/blobs/{} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n",
                        hex::encode(id.0),
                        alice.token,
                        blob.len()
                    );
                    if stream.write_all(head.as_bytes()).is_err() || stream.write_all(&blob).is_err()
                    {
                        continue;
                    }
                    if let Ok((201, body)) = read_response(stream) {
                        let receipt = BlobReceipt::from_bytes(&body).unwrap();
                        answered.lock().unwrap().push((blob, receipt.capability.0));
                    }
                }
            })
        })
        .collect();
    common::eventually(
        "60 uploads to be answered",
        std::time::Duration::from_secs(120),
        || answered.lock().unwrap().len() >= 60,
    );
    relay.stop("KILL");
    stop.store(true, Ordering::SeqCst);
    for uploader in uploaders {
        uploader.join().unwrap();
    }
    let answered = answered.lock().unwrap().clone();

    let relay = start();
    let mut alice = Arc::try_unwrap(alice).ok().unwrap();
    alice.login(&relay.address);
    for (blob, capability) in &answered {
        let (status, body) = blob_request(
            &relay.address,
            "GET",
            &id_of(blob),
            &alice.token,
            Some(capability),
            b"",
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert!(body == *blob, "an answered blob came back different");
    }

    // The sweep at startup (grace 0) leaves exactly the recorded objects.
    let objects = || -> Vec<String> {
        let mut names: Vec<String> = match &settings {
            None => std::fs::read_dir(dir.path().join("relay.db.blobs"))
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Some(settings) => {
                let bucket = S3BlobStore::new(settings).unwrap();
                tokio::runtime::Runtime::new()
                    .unwrap()
                    .block_on(bucket.list())
                    .unwrap()
                    .into_iter()
                    .map(|object| hex::encode(object.blob_id.0))
                    .collect()
            }
        };
        names.sort();
        names
    };
    let records = || -> Vec<String> {
        let conn = rusqlite::Connection::open(&data).unwrap();
        let mut select = conn.prepare("SELECT blob_id FROM blobs").unwrap();
        let mut ids: Vec<String> = select
            .query_map([], |row| row.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(|id| hex::encode(id.unwrap()))
            .collect();
        ids.sort();
        ids
    };
    common::eventually(
        "the sweep to leave exactly the recorded objects",
        common::PATIENCE,
        || objects() == records(),
    );
    assert!(records().len() >= answered.len());
    let exit = relay.stop("TERM");
    assert!(exit.success(), "relay exited with {exit}");
}

#[test]
fn every_answered_upload_survives_sigkill_on_a_directory() {
    every_answered_upload_survives_sigkill(blob_backends::Backend::Fs);
}

#[test]
fn every_answered_upload_survives_sigkill_on_a_bucket() {
    if blob_backends::s3_settings().is_none() {
        return;
    }
    every_answered_upload_survives_sigkill(blob_backends::Backend::S3);
}

/// Two relays on one PostgreSQL database and one blob directory: a blob
/// uploaded through one is downloaded through the other. (Skipped without
/// `FUIN_TEST_POSTGRES`, failing under `CI`.)
#[test]
fn two_relays_on_one_database_share_blobs_through_their_blob_directory() {
    // A schema of its own: the database remembers the stamp key.
    let Some(schema) = pg_schema::Schema::create() else {
        return;
    };
    let conninfo = schema.conninfo.clone();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("stamp-key");
    let blob_dir = dir.path().join("blobs");
    let args = [
        OsStr::new("--postgres"),
        OsStr::new(&conninfo),
        OsStr::new("--stamp-key-file"),
        key_file.as_os_str(),
        OsStr::new("--blob-dir"),
        blob_dir.as_os_str(),
    ];
    let node_a = RelayProcess::start_with(&args);
    let node_b = RelayProcess::start_with(&args);
    let user = |name: &str| format!("{name}-{}", hex::encode(rand::random::<[u8; 6]>()));
    let alice = TestDevice::register(&node_a.address, &user("alice"), 1, 1);
    let bob = TestDevice::register(&node_b.address, &user("bob"), 1, 2);

    let blob = b"shared through the blob directory".repeat(500);
    let (status, body) = blob_request(
        &node_a.address,
        "PUT",
        &id_of(&blob),
        &alice.token,
        None,
        &blob,
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let receipt =
        <fuin_wire::relay::BlobReceipt as fuin_wire::FrameBody>::from_bytes(&body).unwrap();
    let (status, body) = blob_request(
        &node_b.address,
        "GET",
        &id_of(&blob),
        &bob.token,
        Some(&receipt.capability.0),
        b"",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(body == blob);
    for node in [node_a, node_b] {
        let exit = node.stop("TERM");
        assert!(exit.success(), "relay exited with {exit}");
    }
}
