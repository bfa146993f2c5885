//! The suite on SQLite, plus what only a file can show: its mode, its
//! bytes, a reopen after a crash, a newer schema, two handles on one file.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fuin_moderation::audit::{AuditAction, AuditRecord, verify_chain};
use fuin_moderation::model::{
    Account, CaseAttachment, CaseDetail, CaseFilter, CaseSummary, Note, Role, SERVICE_ACTOR,
};
use fuin_moderation::store::sqlite::{SCHEMA_VERSION, SqliteStore};
use fuin_moderation::store::{ModerationStore, StoreError};
use fuin_moderation::vault::{Vault, message_field, note_field};

use super::{NOW, account, audit, case_id, message, name, new_case, opened};

/// A temporary directory holding the test's database.
pub struct Guard {
    _dir: tempfile::TempDir,
}

impl Guard {
    pub async fn finish(self) {}
}

async fn fresh() -> Option<(Guard, SqliteStore)> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("moderation.db")).unwrap();
    Some((Guard { _dir: dir }, store))
}

suite_tests!(instantiate_suite!(fresh));

fn db(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("moderation.db")
}

/// The database file and its `-wal` and `-shm`, as far as they exist.
fn files(path: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{}{suffix}", path.display())))
        .filter(|p| p.exists())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_is_private_and_a_shared_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let store = SqliteStore::open(&path).unwrap();
    store
        .record(audit("mo", AuditAction::CaseViewed, None, "{}"))
        .await
        .unwrap();
    for file in files(&path) {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
    drop(store);

    let shared = dir.path().join("shared.db");
    std::fs::write(&shared, b"").unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).unwrap();
    let Err(StoreError::Backend(why)) = SqliteStore::open(&shared) else {
        panic!("a file its group may read was opened");
    };
    assert!(why.contains("0600"), "{why}");
}

/// Everything a store was told, read back.
type Everything = (
    Vec<Account>,
    Vec<CaseSummary>,
    Vec<Option<CaseDetail>>,
    Vec<AuditRecord>,
);

async fn everything(store: &SqliteStore) -> Everything {
    let cases = store.cases(&CaseFilter::default()).await.unwrap();
    let mut details = Vec::new();
    for case in &cases {
        details.push(store.case(&case.id).await.unwrap());
    }
    (
        store.accounts().await.unwrap(),
        cases,
        details,
        store.audit_log().await.unwrap(),
    )
}

/// Fills a store with one of everything.
async fn fill(store: &SqliteStore) {
    store
        .create_account(
            account("lee", Role::Lead),
            audit(SERVICE_ACTOR, AuditAction::AccountCreated, None, "{}"),
        )
        .await
        .unwrap();
    let (a, b) = (case_id(1), case_id(2));
    store
        .open_case(
            new_case(a.clone(), "alice", NOW, vec![message(0, "verified", 1)]),
            opened(&a),
        )
        .await
        .unwrap();
    store
        .open_case(
            new_case(b.clone(), "alice", NOW + 1, vec![message(0, "verified", 1)]),
            opened(&b),
        )
        .await
        .unwrap();
    store
        .assign(
            &a,
            &name("lee"),
            audit("lee", AuditAction::CaseAssigned, Some(&a), "{}"),
        )
        .await
        .unwrap();
    let note = Note {
        author: name("lee"),
        at_ms: NOW,
        text: fuin_moderation::model::Sealed(vec![4; 9]),
    };
    store
        .add_note(
            &a,
            note,
            audit("lee", AuditAction::NoteAdded, Some(&a), "{}"),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopened_file_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&db(&dir)).unwrap();
    fill(&store).await;
    let before = everything(&store).await;
    drop(store);
    let store = SqliteStore::open(&db(&dir)).unwrap();
    assert_eq!(everything(&store).await, before);
    // And it goes on: the chain continues, the counts still hold.
    let c = case_id(3);
    let summary = store
        .open_case(
            new_case(c.clone(), "alice", NOW + 2, vec![message(0, "verified", 1)]),
            opened(&c),
        )
        .await
        .unwrap();
    assert_eq!((summary.verified, summary.duplicates), (0, 1));
    verify_chain(&store.audit_log().await.unwrap()).unwrap();
}

/// A crash: the files are copied as they are on disk while the store is
/// still open (nothing checkpointed, nothing closed), and the copy opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_commit_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&db(&dir)).unwrap();
    fill(&store).await;
    let before = everything(&store).await;
    let crashed = tempfile::tempdir().unwrap();
    for file in files(&db(&dir)) {
        if file.to_string_lossy().ends_with("-shm") {
            continue; // shared memory, rebuilt from the log
        }
        let to = crashed.path().join(file.file_name().unwrap());
        std::fs::copy(&file, &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert!(
        crashed.path().join("moderation.db-wal").exists(),
        "the commits are in the log"
    );
    let recovered = SqliteStore::open(&db(&crashed)).unwrap();
    assert_eq!(everything(&recovered).await, before);
    drop(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(&db(&dir)).unwrap());
    let conn = rusqlite::Connection::open(db(&dir)).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    let Err(StoreError::Backend(why)) = SqliteStore::open(&db(&dir)) else {
        panic!("a newer schema was opened");
    };
    assert!(why.contains("newer"), "{why}");

    // A file of something else is refused too, and left alone.
    let other = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&other).unwrap();
    conn.execute_batch("CREATE TABLE mine (x INTEGER)").unwrap();
    drop(conn);
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(
        SqliteStore::open(&other),
        Err(StoreError::Backend(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_handles_on_one_file_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let a = Arc::new(SqliteStore::open(&db(&dir)).unwrap());
    let b = Arc::new(SqliteStore::open(&db(&dir)).unwrap());
    crate::suite::two_handles_append_to_one_chain(a, b, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_handles_on_one_file_lock_an_account_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = Arc::new(SqliteStore::open(&db(&dir)).unwrap());
    let b = Arc::new(SqliteStore::open(&db(&dir)).unwrap());
    crate::suite::two_handles_lock_an_account_once(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_holds_no_plaintext_of_a_case() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let store = SqliteStore::open(&path).unwrap();
    let vault = Vault::generate();
    let id = case_id(9);
    let secret = |what: &str| format!("PLAINTEXT-{what}-zqxj");
    let mut case = new_case(id.clone(), "alice", NOW, vec![message(0, "verified", 0x42)]);
    case.reason = vault.seal(&id, "reason", secret("reason").as_bytes());
    case.messages[0].text = vault.seal(&id, &message_field(0, "text"), secret("text").as_bytes());
    store.open_case(case, opened(&id)).await.unwrap();
    let attachment = CaseAttachment {
        status: "verified".into(),
        media_type: "image/png".into(),
        file_name: vault.seal(
            &id,
            &message_field(0, "file-name"),
            secret("file").as_bytes(),
        ),
        bytes: Some(vault.seal(
            &id,
            &message_field(0, "attachment"),
            secret("image").repeat(50).as_bytes(),
        )),
        size: 1000,
    };
    store.set_attachment(&id, 0, attachment).await.unwrap();
    let note = Note {
        author: name("mo"),
        at_ms: NOW,
        text: vault.seal(
            &id,
            &note_field(&name("mo"), NOW),
            secret("note").as_bytes(),
        ),
    };
    store
        .add_note(
            &id,
            note,
            audit("mo", AuditAction::NoteAdded, Some(&id), "{}"),
        )
        .await
        .unwrap();

    // What the store gives back opens to what was sealed.
    let stored = store.case(&id).await.unwrap().unwrap();
    assert_eq!(
        &*vault.open_text(&id, "reason", &stored.reason).unwrap(),
        &secret("reason")
    );
    assert_eq!(
        &*vault
            .open_text(&id, &note_field(&name("mo"), NOW), &stored.notes[0].text)
            .unwrap(),
        &secret("note")
    );

    let mut bytes = Vec::new();
    let on_disk = files(&path);
    assert!(
        on_disk
            .iter()
            .any(|f| f.to_string_lossy().ends_with("-wal"))
    );
    for file in on_disk {
        bytes.extend(std::fs::read(file).unwrap());
    }
    let holds = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    // The scan sees what is not content (the control)...
    assert!(holds(message(0, "verified", 0x42).commitment.as_bytes()));
    assert!(holds(b"mallory"));
    // ...and none of the content.
    assert!(!holds(b"PLAINTEXT-"));
    for what in ["reason", "text", "file", "image", "note"] {
        assert!(!holds(secret(what).as_bytes()), "{what} is in the file");
    }
}

/// A call waiting for SQLite's write lock (held here by another
/// connection) does not hold the async runtime: on a one-thread runtime
/// this test gets control back while the call waits, and only then
/// releases the lock. Were the call blocking the runtime's thread, the lock
/// would never be released in time and the call would fail.
#[tokio::test(flavor = "current_thread")]
async fn a_waiting_call_leaves_the_runtime_free() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&db(&dir)).unwrap());
    let mut other = rusqlite::Connection::open(db(&dir)).unwrap();
    let lock = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();

    let waiting = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .record(audit("mo", AuditAction::CaseViewed, None, "{}"))
                .await
        })
    };
    // Let the call start; this task runs again only if it did not block.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!waiting.is_finished(), "the call did not wait for the lock");
    lock.commit().unwrap();
    let record = waiting.await.unwrap().unwrap();
    assert_eq!(record.seq, 1);
    assert_eq!(store.audit_log().await.unwrap(), vec![record]);
}
