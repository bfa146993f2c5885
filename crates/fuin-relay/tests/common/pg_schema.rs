#![allow(
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::panic,
    clippy::expect_used
)]

//! A PostgreSQL schema of its own for one test that starts relay processes
//! on the test database: a database remembers the stamp key it was made
//! with, and each test makes a fresh key. Shared by `nodes.rs` and
//! `binary_blobs.rs`.

/// A schema of its own in the test database for one test, dropped with
/// it: a database remembers the stamp key it was made with, and each test
/// makes a fresh key.
pub struct Schema {
    database: String,
    name: String,
    pub conninfo: String,
}

impl Schema {
    /// A fresh schema, or `None` (with a note) when `FUIN_TEST_POSTGRES`
    /// is not set; under `CI` its absence fails the test.
    pub fn create() -> Option<Self> {
        let database = match std::env::var("FUIN_TEST_POSTGRES") {
            Ok(conninfo) if !conninfo.is_empty() => conninfo,
            _ if std::env::var_os("CI").is_some() => {
                panic!("CI is set but FUIN_TEST_POSTGRES is not: .ci/run must start PostgreSQL")
            }
            _ => {
                eprintln!("note: FUIN_TEST_POSTGRES is not set: this test is skipped");
                return None;
            }
        };
        let name = format!("fuin_nodes_{}", fresh_suffix());
        execute(&database, &format!("CREATE SCHEMA {name}"));
        let conninfo = if database.contains("://") {
            let separator = if database.contains('?') { '&' } else { '?' };
            format!("{database}{separator}options=-c%20search_path%3D{name}")
        } else {
            format!("{database} options='-c search_path={name}'")
        };
        Some(Self {
            database,
            name,
            conninfo,
        })
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        execute(
            &self.database,
            &format!("DROP SCHEMA {} CASCADE", self.name),
        );
    }
}

/// Runs `sql` on `database`, on a thread of its own (callable from inside
/// a runtime as well as outside).
fn execute(database: &str, sql: &str) {
    let (database, sql) = (database.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&database, tokio_postgres::NoTls)
                .await
                .unwrap();
            let connection = tokio::spawn(connection);
            client.batch_execute(&sql).await.unwrap();
            drop(client);
            connection.await.unwrap().unwrap();
        });
    })
    .join()
    .unwrap();
}

/// Fresh user names: the database outlives test runs.
/// 12 random hex digits.
pub fn fresh_suffix() -> String {
    let mut suffix = [0u8; 6];
    rand::fill(&mut suffix);
    suffix.iter().map(|b| format!("{b:02x}")).collect()
}
