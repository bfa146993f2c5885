//! The SQLite store: one file, one service instance (the default).
//!
//! # Durability
//!
//! The file is created with mode 0600 (SQLite gives its `-wal` and `-shm`
//! the same mode); a file that its group or others may read or write is
//! refused. It runs in WAL mode with `synchronous = FULL`, so a commit has
//! been fsynced when the method returns: a report recorded as opened
//! survives a crash, and so does its audit record. Foreign keys are on.
//! The schema's version is `PRAGMA user_version`; a newer one is refused.
//!
//! # Concurrency
//!
//! A store holds one connection behind a mutex; every call runs on
//! Tokio's blocking pool ([`tokio::task::spawn_blocking`]), never on the
//! async workers (so it must be used inside a Tokio runtime). Every
//! mutating method is one `BEGIN IMMEDIATE` transaction that takes
//! SQLite's write lock first, then reads the audit chain's last record,
//! does its work and appends its record: two stores opened on one file
//! (two processes, say) wait for each other (up to [`BUSY_TIMEOUT`]) and
//! never fork the chain.
//!
//! [`SqliteStore::open`] itself is synchronous (it runs once, at start).
//!
//! # Decisions the trait leaves open
//!
//! Both backends make the same ones (the suite in `tests/store` holds them
//! to it):
//! - A session is expired at `now` when `expires_at_ms <= now`; expired
//!   sessions are deleted when the next login is recorded.
//! - [`ModerationStore::record_login_failure`] for an account still locked
//!   counts the failure and keeps the lock as it is (returning
//!   [`LoginCount::Locked`] with its end, and appending no `locked_out`
//!   record); for an account whose lock has run out it forgets the lock and
//!   counts from zero, so that the account has `max_failures` tries again.
//!   The caller's `login_failed` detail is stored as given.
//! - [`ModerationStore::record_login`] and `record_login_failure` for an
//!   unknown account are [`StoreError::UnknownAccount`] and record nothing.
//! - [`ModerationStore::open_case`] takes the detail as a JSON object (or
//!   empty for `{}`); anything else is refused as a backend failure naming
//!   it, nothing stored. A message the caller marks `duplicate` stays one;
//!   a `verified` one repeated within the same report counts once.
//! - [`ModerationStore::set_attachment`] for a message the case does not
//!   have is [`StoreError::UnknownCase`]; it appends no record (the opening
//!   or the view that led to it is the record).
//! - [`ModerationStore::add_note`] keeps at most one note per author and
//!   millisecond in a case (`UNIQUE (case_id, author, at_ms)`): a second
//!   is [`StoreError::NoteExists`].
//! - [`ModerationStore::add_note`] and
//!   [`ModerationStore::record_feedback`] take a resolved case;
//!   `assign` and `record_action` refuse it. None checks that the named
//!   accounts exist (the console only names logged-in ones).
//! - [`ModerationStore::cases`] orders by `received_at_ms` descending, then
//!   by case id descending.
//!
//! Backend failures are `StoreError::Backend("<operation>")`, naming what
//! failed, never the data.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, Transaction};

use crate::store::StoreError;
use crate::store::rows::{Columns, backend};
#[cfg(doc)]
use crate::store::{LoginCount, ModerationStore};

mod accounts;
mod audit;
mod cases;
mod schema;

pub use schema::SCHEMA_VERSION;

/// How long a connection waits for another's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The SQLite [`ModerationStore`]. See the [module documentation](self).
#[derive(Clone)]
pub struct SqliteStore {
    path: Arc<PathBuf>,
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database at `path`, creating it (mode 0600) and its schema
    /// when missing.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        create_private(path)?;
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|_| backend("open: the database file"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|_| backend("open: busy timeout"))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|_| backend("open: WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(backend("open: WAL mode"));
        }
        conn.execute_batch(
            "PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA secure_delete = ON;",
        )
        .map_err(|_| backend("open: pragmas"))?;
        schema::prepare(&mut conn)?;
        Ok(Self {
            path: Arc::new(path.to_owned()),
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `work` on the connection, on the blocking pool.
    async fn run<T: Send + 'static>(
        &self,
        op: &'static str,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut conn)
        })
        .await
        .map_err(|_| backend(op))?
    }

    /// Runs `work` in one `BEGIN IMMEDIATE` transaction, committed if it
    /// returns `Ok` and rolled back otherwise.
    async fn write<T: Send + 'static>(
        &self,
        op: &'static str,
        work: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.run(op, move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|_| backend(op))?;
            let out = work(&tx)?;
            tx.commit().map_err(|_| backend(op))?;
            Ok(out)
        })
        .await
    }
}

/// Creates `path` with mode 0600 if it is missing, and refuses a file that
/// its group or others may use.
fn create_private(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(_) => return Err(backend("open: create the database file")),
        }
        let metadata =
            std::fs::metadata(path).map_err(|_| backend("open: read the file's mode"))?;
        if metadata.permissions().mode() & 0o077 != 0 {
            return Err(backend(
                "open: the database file may be read by its group or others (make it mode 0600)",
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// A row as the shared codec reads it: a column that does not read as
/// asked fails `op`.
struct SqliteRow<'r, 's> {
    row: &'r Row<'s>,
    op: &'static str,
}

impl SqliteRow<'_, '_> {
    fn get<T: rusqlite::types::FromSql>(&self, column: usize) -> Result<T, StoreError> {
        self.row.get(column).map_err(|_| backend(self.op))
    }
}

impl Columns for SqliteRow<'_, '_> {
    fn text(&self, column: usize) -> Result<String, StoreError> {
        self.get(column)
    }
    fn opt_text(&self, column: usize) -> Result<Option<String>, StoreError> {
        self.get(column)
    }
    fn int(&self, column: usize) -> Result<i64, StoreError> {
        self.get(column)
    }
    fn opt_int(&self, column: usize) -> Result<Option<i64>, StoreError> {
        self.get(column)
    }
    fn bytes(&self, column: usize) -> Result<Vec<u8>, StoreError> {
        self.get(column)
    }
    fn opt_bytes(&self, column: usize) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(column)
    }
    fn flag(&self, column: usize) -> Result<bool, StoreError> {
        self.get(column)
    }
}

/// Collects the rows of `sql` read by `read`.
fn collect<T>(
    conn: &Connection,
    op: &'static str,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl Fn(&SqliteRow<'_, '_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut statement = conn.prepare(sql).map_err(|_| backend(op))?;
    let rows = statement
        .query_map(params, |row| Ok(read(&SqliteRow { row, op })))
        .map_err(|_| backend(op))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row.map_err(|_| backend(op))??);
    }
    Ok(out)
}

/// The row of `sql` read by `read`, if there is one.
fn one<T>(
    conn: &Connection,
    op: &'static str,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl FnOnce(&SqliteRow<'_, '_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    conn.query_row(sql, params, |row| Ok(read(&SqliteRow { row, op })))
        .optional()
        .map_err(|_| backend(op))?
        .transpose()
}

store_by_inherent_methods!(SqliteStore);
