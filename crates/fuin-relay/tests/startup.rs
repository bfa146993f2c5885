//! What the relay binary refuses at start (issue 16): an empty or deleted
//! database next to a stamp key that says the relay ran before, a database
//! made with another stamp key, a corrupt database (named so, not "storage
//! failed: open"); and that a failed first start leaves no stamp key behind.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod common;

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use common::{RelayProcess, TestDevice, refused_start};

fn key_path(data: &Path) -> PathBuf {
    let mut path = data.as_os_str().to_owned();
    path.push(".stamp-key");
    PathBuf::from(path)
}

fn write_key(path: &Path) {
    let mut key = [0u8; 32];
    rand::fill(&mut key);
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap()
        .write_all(&key)
        .unwrap();
}

/// A relay started on `data`, with a device registered, then stopped.
fn used_relay(data: &Path) {
    let relay = RelayProcess::start(data);
    TestDevice::register(&relay.address, "alice", 1, 1);
    assert!(relay.stop("TERM").success());
}

#[test]
fn an_emptied_or_deleted_database_next_to_a_used_stamp_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    used_relay(&data);

    // Emptied: a 0-byte file where the database was.
    std::fs::write(&data, b"").unwrap();
    let refused = refused_start(&[OsStr::new("--data"), data.as_os_str()], "127.0.0.1:0");
    assert!(refused.contains("is new or empty"), "{refused}");
    assert!(
        refused.contains(&key_path(&data).display().to_string()),
        "{refused}"
    );
    assert!(refused.contains(&data.display().to_string()), "{refused}");
    assert!(refused.contains("--new-database"), "{refused}");
    // Refused again at the next try: the refused start made a schema, but
    // nothing that counts as the relay's data.
    let again = refused_start(&[OsStr::new("--data"), data.as_os_str()], "127.0.0.1:0");
    assert!(again.contains("holds no registered device"), "{again}");
    assert!(again.contains("--new-database"), "{again}");

    // Deleted.
    std::fs::remove_file(&data).unwrap();
    let refused = refused_start(&[OsStr::new("--data"), data.as_os_str()], "127.0.0.1:0");
    assert!(refused.contains("is new or empty"), "{refused}");

    // On purpose: the flag starts an empty relay, where alice's address
    // can be registered again; the next start needs no flag.
    let relay = RelayProcess::start_with(&[
        OsStr::new("--data"),
        data.as_os_str(),
        OsStr::new("--new-database"),
    ]);
    TestDevice::register(&relay.address, "alice", 1, 9);
    assert!(relay.stop("TERM").success());
    let relay = RelayProcess::start(&data);
    assert!(relay.stop("TERM").success());
}

#[test]
fn a_database_made_with_another_stamp_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    used_relay(&data);
    let original = dir.path().join("original-key");
    std::fs::copy(key_path(&data), &original).unwrap();

    // A foreign key file (or, the same, this database under another relay).
    write_key(&key_path(&data));
    let refused = refused_start(&[OsStr::new("--data"), data.as_os_str()], "127.0.0.1:0");
    assert!(refused.contains("another stamp key"), "{refused}");
    assert!(
        refused.contains(&key_path(&data).display().to_string()),
        "{refused}"
    );

    // A rotation that keeps the key the database was made with is fine,
    // and from then on the new key alone is the database's.
    let old = format!("1={}", original.display());
    let relay = RelayProcess::start_with(&[
        OsStr::new("--data"),
        data.as_os_str(),
        OsStr::new("--stamp-key-id"),
        OsStr::new("2"),
        OsStr::new("--old-stamp-key"),
        OsStr::new(&old),
    ]);
    assert!(relay.stop("TERM").success());
    let relay = RelayProcess::start_with(&[
        OsStr::new("--data"),
        data.as_os_str(),
        OsStr::new("--stamp-key-id"),
        OsStr::new("2"),
    ]);
    assert!(relay.stop("TERM").success());
    // The original key alone is now foreign to it.
    let refused = refused_start(
        &[
            OsStr::new("--data"),
            data.as_os_str(),
            OsStr::new("--stamp-key-file"),
            original.as_os_str(),
        ],
        "127.0.0.1:0",
    );
    assert!(refused.contains("another stamp key"), "{refused}");
}

#[test]
fn a_corrupt_database_is_refused_naming_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay.db");
    let relay = RelayProcess::start(&data);
    let alice = TestDevice::register(&relay.address, "alice", 1, 1);
    let bob = TestDevice::register(&relay.address, "bob", 1, 2);
    for n in 0..60u32 {
        let body = vec![u8::try_from(n % 251).unwrap(); 2000];
        assert_eq!(
            alice.send(&relay.address, &bob.address, &body).unwrap().0,
            200
        );
    }
    assert!(relay.stop("TERM").success());
    let mut bytes = std::fs::read(&data).unwrap();
    let page = 4096;
    assert!(bytes.len() > 20 * page, "{} bytes", bytes.len());
    for (i, byte) in bytes[2 * page..20 * page].iter_mut().enumerate() {
        *byte = u8::try_from(i % 253).unwrap();
    }
    std::fs::write(&data, &bytes).unwrap();
    let refused = refused_start(&[OsStr::new("--data"), data.as_os_str()], "127.0.0.1:0");
    assert!(refused.contains("corrupt"), "{refused}");
    assert!(refused.contains(&data.display().to_string()), "{refused}");
}

#[test]
fn a_missing_directory_is_named_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("no-such-directory").join("relay.db");
    let refused = refused_start(
        &[
            OsStr::new("--data"),
            data.as_os_str(),
            OsStr::new("--stamp-key-file"),
            dir.path().join("key").as_os_str(),
        ],
        "127.0.0.1:0",
    );
    assert!(refused.contains("directory does not exist"), "{refused}");
    // The key this failed start made is gone again: creating the directory
    // is then enough, no --new-database needed.
    assert!(!dir.path().join("key").exists());
    std::fs::create_dir(dir.path().join("no-such-directory")).unwrap();
    let relay = RelayProcess::start_with(&[
        OsStr::new("--data"),
        data.as_os_str(),
        OsStr::new("--stamp-key-file"),
        dir.path().join("key").as_os_str(),
    ]);
    assert!(relay.stop("TERM").success());
}

/// On PostgreSQL: a schema without the relay's tables where the stamp key
/// file says the relay ran is refused the same way.
#[test]
fn an_empty_postgres_database_next_to_a_used_stamp_key_is_refused() {
    let Ok(database) = std::env::var("FUIN_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but FUIN_TEST_POSTGRES is not"
        );
        eprintln!("note: FUIN_TEST_POSTGRES is not set: the PostgreSQL start test is skipped");
        return;
    };
    if database.contains("://") {
        eprintln!("skipped: FUIN_TEST_POSTGRES is a URL; this test adds a search_path option");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let schema = format!("fuin_test_{}", hex::encode(rand::random::<[u8; 8]>()));
    let execute = |sql: String| {
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&database, tokio_postgres::NoTls)
                .await
                .unwrap();
            let connection = tokio::spawn(connection);
            client.batch_execute(&sql).await.unwrap();
            drop(client);
            connection.await.unwrap().unwrap();
        });
    };
    execute(format!("CREATE SCHEMA {schema}"));
    let conninfo = format!("{database} options='-c search_path={schema}'");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("stamp-key");
    write_key(&key);
    let blob_dir = dir.path().join("blobs");
    let args = [
        OsStr::new("--postgres"),
        OsStr::new(&conninfo),
        OsStr::new("--stamp-key-file"),
        key.as_os_str(),
        OsStr::new("--blob-dir"),
        blob_dir.as_os_str(),
    ];
    let refused = refused_start(&args, "127.0.0.1:0");
    assert!(refused.contains("is new or empty"), "{refused}");
    assert!(refused.contains(&key.display().to_string()), "{refused}");
    assert!(
        !refused.contains(&conninfo),
        "the connection string is not shown"
    );
    let again = refused_start(&args, "127.0.0.1:0");
    assert!(again.contains("holds no registered device"), "{again}");

    let relay = RelayProcess::start_with(&[&args[..], &[OsStr::new("--new-database")]].concat());
    assert!(relay.stop("TERM").success());
    // Now the schema is the key's: started without the flag, and refused
    // under another key.
    let relay = RelayProcess::start_with(&args);
    assert!(relay.stop("TERM").success());
    write_key(&key);
    let refused = refused_start(&args, "127.0.0.1:0");
    assert!(refused.contains("another stamp key"), "{refused}");
    execute(format!("DROP SCHEMA {schema} CASCADE"));
}
