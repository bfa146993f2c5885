//! The suite on PostgreSQL, plus what only several service instances on one
//! database can show.
//!
//! `FUIN_TEST_POSTGRES` names the database (libpq `key=value` form or a
//! `postgresql://` URL; the role must be allowed to create schemas in it),
//! e.g. `host=127.0.0.1 port=5433 user=fuin dbname=fuin_test`; `.ci/run`
//! starts such a server. Without it these tests pass without running, with
//! a note on stderr, unless `CI` is set: then they fail. Each test works in
//! a schema of its own (`fuin_mod_test_<random>`, through `search_path`), so
//! tests run in parallel; it is dropped when the test passes and kept for
//! inspection when it fails.

use std::io::Write;
use std::sync::{Arc, Once};

use fuin_moderation::audit::AuditAction;
use fuin_moderation::store::postgres::{PgStore, SCHEMA_VERSION};
use fuin_moderation::store::{ModerationStore, StoreError};
use fuin_moderation::vault::{message_field, note_field};
use tokio_postgres::NoTls;

use super::{NOW, audit, case_id, message, name, new_case, opened};

const VARIABLE: &str = "FUIN_TEST_POSTGRES";
/// Connections per store, so that parallel tests stay well under the
/// server's `max_connections`.
const POOL_SIZE: usize = 3;

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
            "note: {VARIABLE} is not set: the moderation store's PostgreSQL tests are skipped \
             (set it to a connection string, e.g. \
             \"host=127.0.0.1 port=5433 user=fuin dbname=fuin_test\", or run .ci/run)"
        );
    });
    None
}

/// A schema of the test database for one test.
pub struct Schema {
    database: String,
    name: String,
    /// The connection string with the schema as `search_path`.
    config: String,
}

impl Schema {
    /// A new empty schema, or `None` if the tests are skipped.
    async fn create() -> Option<Self> {
        let database = database()?;
        let name = format!("fuin_mod_test_{}", hex(&rand::random::<[u8; 8]>()));
        execute(&database, &format!("CREATE SCHEMA {name}")).await;
        let config = conninfo(&database, &format!("-c search_path={name}"));
        Some(Self {
            database,
            name,
            config,
        })
    }

    /// A store (a service instance) on this schema.
    async fn store(&self) -> PgStore {
        PgStore::connect_with_pool_size(&self.config, POOL_SIZE)
            .await
            .unwrap()
    }

    /// Drops the schema (the test passed).
    pub async fn finish(self) {
        execute(
            &self.database,
            &format!("DROP SCHEMA {} CASCADE", self.name),
        )
        .await;
    }
}

/// `database` with these server options.
fn conninfo(database: &str, options: &str) -> String {
    if database.contains("://") {
        let separator = if database.contains('?') { '&' } else { '?' };
        let options = options.replace(' ', "%20").replace('=', "%3D");
        format!("{database}{separator}options={options}")
    } else {
        format!("{database} options='{options}'")
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

async fn fresh() -> Option<(Schema, PgStore)> {
    let schema = Schema::create().await?;
    let store = schema.store().await;
    Some((schema, store))
}

suite_tests!(instantiate_suite!(fresh));

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_database_keep_one_chain() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    // Instances starting together race to create the tables.
    let (a, b) = tokio::join!(schema.store(), schema.store());
    crate::suite::two_handles_append_to_one_chain(Arc::new(a), Arc::new(b), 100).await;
    schema.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_lock_an_account_once() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let (a, b) = tokio::join!(schema.store(), schema.store());
    crate::suite::two_handles_lock_an_account_once(Arc::new(a), Arc::new(b)).await;
    schema.finish().await;
}

/// Two instances open reports repeating one message at once: it is
/// counted once, whichever comes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_count_a_repeated_message_once() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let (a, b) = tokio::join!(schema.store(), schema.store());
    let (a, b) = (Arc::new(a), Arc::new(b));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20u32 {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move {
            let id = case_id(n);
            let case = new_case(
                id.clone(),
                "alice",
                NOW + u64::from(n),
                vec![message(0, "verified", 7)],
            );
            store.open_case(case, opened(&id)).await.unwrap()
        });
    }
    let mut verified = 0;
    while let Some(summary) = tasks.join_next().await {
        let summary = summary.unwrap();
        assert_eq!(summary.verified + summary.duplicates, 1);
        verified += summary.verified;
    }
    assert_eq!(verified, 1);
    let log = a.audit_log().await.unwrap();
    fuin_moderation::audit::verify_chain(&log).unwrap();
    let counted: u64 = log
        .iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.detail).unwrap()["verified"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(counted, 1);
    schema.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnected_store_keeps_everything_and_a_newer_schema_is_refused() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let store = schema.store().await;
    let id = case_id(1);
    store
        .open_case(
            new_case(id.clone(), "alice", NOW, vec![message(0, "verified", 1)]),
            opened(&id),
        )
        .await
        .unwrap();
    store
        .record(audit("mo", AuditAction::CaseViewed, Some(&id), "{}"))
        .await
        .unwrap();
    let before = (
        store.case(&id).await.unwrap(),
        store.audit_log().await.unwrap(),
    );
    drop(store);
    let store = schema.store().await;
    assert_eq!(
        (
            store.case(&id).await.unwrap(),
            store.audit_log().await.unwrap()
        ),
        before
    );
    drop(store);

    execute(
        &schema.config,
        &format!(
            "UPDATE moderation_schema SET version = {}",
            SCHEMA_VERSION + 1
        ),
    )
    .await;
    let Err(StoreError::Backend(why)) = PgStore::connect(&schema.config).await else {
        panic!("a newer schema was used");
    };
    assert!(why.contains("newer"), "{why}");
    schema.finish().await;
}

#[tokio::test]
async fn a_bad_connection_string_names_no_data() {
    let Err(StoreError::Backend(why)) =
        PgStore::connect("host=127.0.0.1 port=1 user=u password=hunter2secret connect_timeout=2")
            .await
    else {
        panic!("connected to nothing");
    };
    assert!(!why.contains("hunter2"), "{why}");
    let Err(StoreError::Backend(why)) = PgStore::connect("not a = 'connection").await else {
        panic!("parsed nonsense");
    };
    assert!(why.starts_with("connect"), "{why}");
}

/// What the database holds of a case, every column of every row as text
/// (`bytea` as hex), holds none of its content, raw or hex-encoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_holds_no_plaintext_of_a_case() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let store = schema.store().await;
    let vault = fuin_moderation::vault::Vault::generate();
    let id = case_id(9);
    let secret = |what: &str| format!("PLAINTEXT-{what}-zqxj");
    let mut case = new_case(id.clone(), "alice", NOW, vec![message(0, "verified", 0x42)]);
    case.reason = vault.seal(&id, "reason", secret("reason").as_bytes());
    case.messages[0].text = vault.seal(&id, &message_field(0, "text"), secret("text").as_bytes());
    store.open_case(case, opened(&id)).await.unwrap();
    let attachment = fuin_moderation::model::CaseAttachment {
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
            secret("image").as_bytes(),
        )),
        size: 1000,
    };
    store.set_attachment(&id, 0, attachment).await.unwrap();
    let note = fuin_moderation::model::Note {
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
    let stored = store.case(&id).await.unwrap().unwrap();
    assert_eq!(
        &*vault.open_text(&id, "reason", &stored.reason).unwrap(),
        &secret("reason")
    );

    let (client, connection) = tokio_postgres::connect(&schema.config, NoTls)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_name LIKE 'moderation_%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(tables.len() >= 9, "{tables:?}");
    let mut everything = String::new();
    for table in &tables {
        for row in client
            .query(&format!("SELECT row_to_json(t)::text FROM {table} t"), &[])
            .await
            .unwrap()
        {
            everything.push_str(row.get::<_, &str>(0));
        }
    }
    drop(client);
    connection.await.unwrap().unwrap();
    // The dump holds what is not content (the control)...
    assert!(everything.contains(&message(0, "verified", 0x42).commitment));
    assert!(everything.contains("mallory"));
    // ...and none of the content.
    assert!(!everything.contains("PLAINTEXT-"));
    assert!(!everything.contains(&hex(b"PLAINTEXT-")));
    schema.finish().await;
}

/// A server (here: a connection string) whose sessions default to
/// `synchronous_commit = off` still gets durable commits from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_are_durable_even_where_sessions_default_to_asynchronous() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let lax = conninfo(
        &schema.database,
        &format!("-c search_path={} -c synchronous_commit=off", schema.name),
    );
    let store = PgStore::connect(&lax).await.unwrap();
    assert_eq!(store.synchronous_commit().await.unwrap(), "on");
    drop(store);
    // A stronger setting is kept.
    let strict = conninfo(
        &schema.database,
        &format!(
            "-c search_path={} -c synchronous_commit=remote_apply",
            schema.name
        ),
    );
    let store = PgStore::connect(&strict).await.unwrap();
    assert_eq!(store.synchronous_commit().await.unwrap(), "remote_apply");
    drop(store);
    schema.finish().await;
}
