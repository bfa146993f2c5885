//! The `fuin-relay` binary and its blob store: an older relay's database,
//! whose blobs are rows, starts with them moved to the directory next to it
//! and serves them from there; `--blob-s3-*` with credentials from the
//! environment keeps them in a bucket; incomplete or unsafe blob store
//! settings are refused before serving, and no credential is taken from the
//! command line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/blob_backends.rs"]
mod blob_backends;
mod common;

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
    // The blob tables as an older relay (schema 3) made them.
    let blob: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let capability = [0x4c; 32];
    {
        let conn = rusqlite::Connection::open(&data).unwrap();
        conn.execute_batch(
            "CREATE TABLE blobs (
                 blob_id BLOB NOT NULL PRIMARY KEY, content BLOB NOT NULL,
                 expires_at INTEGER NOT NULL);
             CREATE TABLE blob_capabilities (
                 capability_hash BLOB NOT NULL PRIMARY KEY, blob_id BLOB NOT NULL,
                 expires_at INTEGER NOT NULL,
                 FOREIGN KEY (blob_id) REFERENCES blobs (blob_id) ON DELETE CASCADE);
             PRAGMA user_version = 3;",
        )
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
