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

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, Transaction, params};

use crate::audit::{AuditRecord, NewAuditRecord};
use crate::model::{
    Account, AccountName, ActionRecord, CaseAttachment, CaseDetail, CaseFilter, CaseId,
    CaseMessage, CaseStatus, CaseSummary, ConversationKind, LockoutPolicy, NewCase, Note, Role,
    Sealed, Session,
};
use crate::store::{
    LoginCount, ModerationStore, StoreError, detail_with_counts, login_failure, stored_verdict,
};

mod schema;

pub use schema::SCHEMA_VERSION;

/// How long a connection waits for another's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How many cases [`CaseFilter::limit`] 0 lists.
const DEFAULT_LIMIT: u32 = 200;

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

fn backend(what: &str) -> StoreError {
    StoreError::Backend(what.to_owned())
}

/// A time or count as SQLite stores it (clamped to `i64::MAX`).
fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored time or count back (a negative one, which this store never
/// writes, reads as 0).
fn uint(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn uint32(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(0)
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

// --- rows ---

const ACCOUNT_COLUMNS: &str =
    "name, role, password_hash, failed_logins, locked_until_ms, created_at_ms";

fn account_row(row: &Row<'_>) -> rusqlite::Result<Result<Account, StoreError>> {
    let name: String = row.get(0)?;
    let role: String = row.get(1)?;
    let (Ok(name), Some(role)) = (AccountName::new(&name), Role::parse(&role)) else {
        return Ok(Err(backend("read an account: a stored value is invalid")));
    };
    Ok(Ok(Account {
        name,
        role,
        password_hash: row.get(2)?,
        failed_logins: uint32(row.get(3)?),
        locked_until_ms: row.get::<_, Option<i64>>(4)?.map(uint),
        created_at_ms: uint(row.get(5)?),
    }))
}

const CASE_COLUMNS: &str = "id, status, assignee, reporter, reported_user, kind, received_at_ms, \
     opened_at_ms, verified, duplicates, rejected, outcome, reason, group_id, created_at_ms, \
     post_quantum, feedback_sent_at_ms";

fn summary_row(row: &Row<'_>) -> rusqlite::Result<Result<CaseSummary, StoreError>> {
    let status: String = row.get(1)?;
    let assignee: Option<String> = row.get(2)?;
    let kind: String = row.get(5)?;
    let invalid = || Ok(Err(backend("read a case: a stored value is invalid")));
    let (Some(status), Some(kind)) = (CaseStatus::parse(&status), ConversationKind::parse(&kind))
    else {
        return invalid();
    };
    let assignee = match assignee.map(|a| AccountName::new(&a)).transpose() {
        Ok(assignee) => assignee,
        Err(_) => return invalid(),
    };
    Ok(Ok(CaseSummary {
        id: CaseId(row.get(0)?),
        status,
        assignee,
        reporter: row.get(3)?,
        reported_user: row.get(4)?,
        kind,
        received_at_ms: uint(row.get(6)?),
        opened_at_ms: uint(row.get(7)?),
        verified: uint32(row.get(8)?),
        duplicates: uint32(row.get(9)?),
        rejected: uint32(row.get(10)?),
        outcome: row.get(11)?,
    }))
}

const AUDIT_COLUMNS: &str = "seq, time_ms, actor, action, case_id, detail, prev, hash";

fn audit_row(row: &Row<'_>) -> rusqlite::Result<Result<AuditRecord, StoreError>> {
    let prev: Vec<u8> = row.get(6)?;
    let hash: Vec<u8> = row.get(7)?;
    let (Ok(prev), Ok(hash)) = (<[u8; 32]>::try_from(prev), <[u8; 32]>::try_from(hash)) else {
        return Ok(Err(backend("read the audit log: a stored hash is invalid")));
    };
    Ok(Ok(AuditRecord {
        seq: uint(row.get(0)?),
        time_ms: uint(row.get(1)?),
        actor: row.get(2)?,
        action: row.get(3)?,
        case: row.get(4)?,
        detail: row.get(5)?,
        prev,
        hash,
    }))
}

/// Collects the rows of `sql` mapped by `map` (whose inner result checks
/// the stored values).
fn collect<T>(
    conn: &Connection,
    op: &'static str,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<Result<T, StoreError>>,
) -> Result<Vec<T>, StoreError> {
    let mut statement = conn.prepare(sql).map_err(|_| backend(op))?;
    let rows = statement.query_map(params, map).map_err(|_| backend(op))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row.map_err(|_| backend(op))??);
    }
    Ok(out)
}

// --- the audit chain ---

/// Appends `audit` after the chain's last record, inside `tx` (which holds
/// the write lock).
fn append(tx: &Transaction<'_>, audit: &NewAuditRecord) -> Result<AuditRecord, StoreError> {
    const OP: &str = "append an audit record";
    let last = tx
        .query_row(
            &format!("SELECT {AUDIT_COLUMNS} FROM audit ORDER BY seq DESC LIMIT 1"),
            [],
            audit_row,
        )
        .optional()
        .map_err(|_| backend(OP))?
        .transpose()?;
    let record = audit.chain_after(last.as_ref());
    tx.execute(
        "INSERT INTO audit (seq, time_ms, actor, action, case_id, detail, prev, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            int(record.seq),
            int(record.time_ms),
            record.actor,
            record.action,
            record.case,
            record.detail,
            record.prev.as_slice(),
            record.hash.as_slice()
        ],
    )
    .map_err(|_| backend(OP))?;
    Ok(record)
}

/// The status of case `id`, or [`StoreError::UnknownCase`].
fn case_status(tx: &Transaction<'_>, id: &CaseId, op: &'static str) -> Result<String, StoreError> {
    tx.query_row("SELECT status FROM cases WHERE id = ?1", [&id.0], |row| {
        row.get(0)
    })
    .optional()
    .map_err(|_| backend(op))?
    .ok_or(StoreError::UnknownCase)
}

/// Like [`case_status`], refusing a resolved case.
fn open_case_status(tx: &Transaction<'_>, id: &CaseId, op: &'static str) -> Result<(), StoreError> {
    if case_status(tx, id, op)? == CaseStatus::Resolved.as_str() {
        return Err(StoreError::CaseResolved);
    }
    Ok(())
}

impl ModerationStore for SqliteStore {
    async fn create_account(
        &self,
        account: Account,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "create_account";
        self.write(OP, move |tx| {
            let inserted = tx
                .execute(
                    "INSERT INTO accounts (name, role, password_hash, failed_logins,
                         locked_until_ms, created_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO NOTHING",
                    params![
                        account.name.as_str(),
                        account.role.as_str(),
                        account.password_hash,
                        i64::from(account.failed_logins),
                        account.locked_until_ms.map(int),
                        int(account.created_at_ms)
                    ],
                )
                .map_err(|_| backend(OP))?;
            if inserted == 0 {
                return Err(StoreError::AccountExists);
            }
            append(tx, &audit)?;
            Ok(())
        })
        .await
    }

    async fn account(&self, name: &AccountName) -> Result<Option<Account>, StoreError> {
        const OP: &str = "account";
        let name = name.clone();
        self.run(OP, move |conn| {
            conn.query_row(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ?1"),
                [name.as_str()],
                account_row,
            )
            .optional()
            .map_err(|_| backend(OP))?
            .transpose()
        })
        .await
    }

    async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        const OP: &str = "accounts";
        self.run(OP, move |conn| {
            collect(
                conn,
                OP,
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name"),
                [],
                account_row,
            )
        })
        .await
    }

    async fn record_login_failure(
        &self,
        name: &AccountName,
        now_ms: u64,
        policy: LockoutPolicy,
        audit: NewAuditRecord,
    ) -> Result<LoginCount, StoreError> {
        const OP: &str = "record_login_failure";
        let name = name.clone();
        self.write(OP, move |tx| {
            let (failures, locked_until): (i64, Option<i64>) = tx
                .query_row(
                    "SELECT failed_logins, locked_until_ms FROM accounts WHERE name = ?1",
                    [name.as_str()],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(|_| backend(OP))?
                .ok_or(StoreError::UnknownAccount)?;
            let (count, outcome, locked_record) = login_failure(
                uint32(failures),
                locked_until.map(uint),
                now_ms,
                policy,
                name.as_str(),
            );
            let until = match outcome {
                LoginCount::Locked { until_ms } => Some(int(until_ms)),
                LoginCount::Counted { .. } => None,
            };
            tx.execute(
                "UPDATE accounts SET failed_logins = ?2, locked_until_ms = ?3 WHERE name = ?1",
                params![name.as_str(), i64::from(count), until],
            )
            .map_err(|_| backend(OP))?;
            append(tx, &audit)?;
            if let Some(locked) = locked_record {
                append(tx, &locked)?;
            }
            Ok(outcome)
        })
        .await
    }

    async fn record_login(
        &self,
        session: Session,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "record_login";
        self.write(OP, move |tx| {
            let updated = tx
                .execute(
                    "UPDATE accounts SET failed_logins = 0, locked_until_ms = NULL
                     WHERE name = ?1",
                    [session.account.as_str()],
                )
                .map_err(|_| backend(OP))?;
            if updated == 0 {
                return Err(StoreError::UnknownAccount);
            }
            tx.execute(
                "DELETE FROM sessions WHERE expires_at_ms <= ?1",
                [int(session.created_at_ms)],
            )
            .map_err(|_| backend(OP))?;
            tx.execute(
                "INSERT INTO sessions (token_hash, account, created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    session.token_hash.as_slice(),
                    session.account.as_str(),
                    int(session.created_at_ms),
                    int(session.expires_at_ms)
                ],
            )
            .map_err(|_| backend(OP))?;
            append(tx, &audit)?;
            Ok(())
        })
        .await
    }

    async fn session(
        &self,
        token_hash: &[u8; 32],
        now_ms: u64,
    ) -> Result<Option<Session>, StoreError> {
        const OP: &str = "session";
        let token_hash = *token_hash;
        self.run(OP, move |conn| {
            let row: Option<(String, i64, i64)> = conn
                .query_row(
                    "SELECT account, created_at_ms, expires_at_ms FROM sessions
                     WHERE token_hash = ?1 AND expires_at_ms > ?2",
                    params![token_hash.as_slice(), int(now_ms)],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()
                .map_err(|_| backend(OP))?;
            row.map(|(account, created, expires)| {
                Ok(Session {
                    token_hash,
                    account: AccountName::new(&account)
                        .map_err(|_| backend("session: a stored value is invalid"))?,
                    created_at_ms: uint(created),
                    expires_at_ms: uint(expires),
                })
            })
            .transpose()
        })
        .await
    }

    async fn end_session(
        &self,
        token_hash: &[u8; 32],
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "end_session";
        let token_hash = *token_hash;
        self.write(OP, move |tx| {
            tx.execute(
                "DELETE FROM sessions WHERE token_hash = ?1",
                [token_hash.as_slice()],
            )
            .map_err(|_| backend(OP))?;
            append(tx, &audit)?;
            Ok(())
        })
        .await
    }

    async fn has_case(&self, id: &CaseId) -> Result<bool, StoreError> {
        const OP: &str = "has_case";
        let id = id.clone();
        self.run(OP, move |conn| {
            conn.query_row("SELECT 1 FROM cases WHERE id = ?1", [&id.0], |_| Ok(()))
                .optional()
                .map(|found| found.is_some())
                .map_err(|_| backend(OP))
        })
        .await
    }

    async fn open_case(
        &self,
        case: NewCase,
        audit: NewAuditRecord,
    ) -> Result<CaseSummary, StoreError> {
        const OP: &str = "open_case";
        self.write(OP, move |tx| {
            let exists = tx
                .query_row(
                    "SELECT 1 FROM cases WHERE id = ?1",
                    [&case.id.0],
                    |_| Ok(()),
                )
                .optional()
                .map_err(|_| backend(OP))?
                .is_some();
            if exists {
                return Err(StoreError::CaseExists);
            }
            // The case first (the messages and counts refer to it), its
            // counts set once the messages are stored.
            tx.execute(
                "INSERT INTO cases (id, status, assignee, reporter, reporter_user, reported_user,
                     kind, group_id, reason, created_at_ms, received_at_ms, opened_at_ms,
                     post_quantum, verified, duplicates, rejected, outcome, feedback_sent_at_ms)
                 VALUES (?1, 'new', NULL, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, 0, 0,
                     NULL, NULL)",
                params![
                    case.id.0,
                    case.reporter,
                    case.reporter_user,
                    case.reported_user,
                    case.kind.as_str(),
                    case.group,
                    case.reason.0,
                    int(case.created_at_ms),
                    int(case.received_at_ms),
                    int(case.opened_at_ms),
                    case.post_quantum,
                ],
            )
            .map_err(|_| backend(OP))?;
            let (mut verified, mut duplicates, mut rejected) = (0u32, 0u32, 0u32);
            for message in &case.messages {
                let mut verdict = message.verdict.as_str();
                if verdict == "verified" {
                    let counted = tx
                        .execute(
                            "INSERT INTO counted (reporter_user, commitment, case_id)
                             VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                            params![case.reporter_user, message.commitment, case.id.0],
                        )
                        .map_err(|_| backend(OP))?;
                    verdict = stored_verdict(verdict, counted == 0);
                }
                match verdict {
                    "verified" => verified += 1,
                    "duplicate" => duplicates += 1,
                    _ => rejected += 1,
                }
                insert_message(tx, &case.id, message, verdict)?;
            }
            tx.execute(
                "UPDATE cases SET verified = ?2, duplicates = ?3, rejected = ?4 WHERE id = ?1",
                params![
                    case.id.0,
                    i64::from(verified),
                    i64::from(duplicates),
                    i64::from(rejected)
                ],
            )
            .map_err(|_| backend(OP))?;
            let mut audit = audit;
            audit.detail = detail_with_counts(&audit.detail, verified, duplicates)?;
            append(tx, &audit)?;
            Ok(CaseSummary {
                id: case.id,
                status: CaseStatus::New,
                assignee: None,
                reporter: case.reporter,
                reported_user: case.reported_user,
                kind: case.kind,
                received_at_ms: case.received_at_ms,
                opened_at_ms: case.opened_at_ms,
                verified,
                duplicates,
                rejected,
                outcome: None,
            })
        })
        .await
    }

    async fn record_refusal(&self, audit: NewAuditRecord) -> Result<(), StoreError> {
        self.write("record_refusal", move |tx| append(tx, &audit).map(|_| ()))
            .await
    }

    async fn cases(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StoreError> {
        const OP: &str = "cases";
        let filter = filter.clone();
        self.run(OP, move |conn| {
            let limit = if filter.limit == 0 {
                DEFAULT_LIMIT
            } else {
                filter.limit
            };
            collect(
                conn,
                OP,
                &format!(
                    "SELECT {CASE_COLUMNS} FROM cases
                     WHERE (?1 IS NULL OR status = ?1)
                       AND (?2 IS NULL OR assignee = ?2)
                       AND (?3 IS NULL OR reported_user = ?3)
                       AND (?4 IS NULL OR kind = ?4)
                     ORDER BY received_at_ms DESC, id DESC
                     LIMIT ?5"
                ),
                params![
                    filter.status.map(CaseStatus::as_str),
                    filter.assignee.as_ref().map(AccountName::as_str),
                    filter.reported_user,
                    filter.kind.map(ConversationKind::as_str),
                    i64::from(limit)
                ],
                summary_row,
            )
        })
        .await
    }

    async fn case(&self, id: &CaseId) -> Result<Option<CaseDetail>, StoreError> {
        const OP: &str = "case";
        let id = id.clone();
        self.run(OP, move |conn| {
            // One read transaction: the case and its parts as of one moment.
            let tx = conn.transaction().map_err(|_| backend(OP))?;
            let found = tx
                .query_row(
                    &format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = ?1"),
                    [&id.0],
                    |row| {
                        Ok((
                            summary_row(row)?,
                            Sealed(row.get(12)?),
                            row.get::<_, Option<String>>(13)?,
                            uint(row.get(14)?),
                            row.get::<_, bool>(15)?,
                            row.get::<_, Option<i64>>(16)?.map(uint),
                        ))
                    },
                )
                .optional()
                .map_err(|_| backend(OP))?;
            let Some((summary, reason, group, created_at_ms, post_quantum, feedback)) = found
            else {
                return Ok(None);
            };
            let messages = collect(
                &tx,
                OP,
                "SELECT idx, sender, recipient, content_type, text, commitment, server_time_ms,
                     verdict, rejection, att_status, att_media_type, att_file_name, att_bytes,
                     att_size
                 FROM messages WHERE case_id = ?1 ORDER BY idx",
                [&id.0],
                |row| {
                    let status: Option<String> = row.get(9)?;
                    let attachment = match status {
                        Some(status) => Some(CaseAttachment {
                            status,
                            media_type: row.get::<_, Option<String>>(10)?.unwrap_or_default(),
                            file_name: Sealed(
                                row.get::<_, Option<Vec<u8>>>(11)?.unwrap_or_default(),
                            ),
                            bytes: row.get::<_, Option<Vec<u8>>>(12)?.map(Sealed),
                            size: uint(row.get::<_, Option<i64>>(13)?.unwrap_or(0)),
                        }),
                        None => None,
                    };
                    Ok(Ok(CaseMessage {
                        index: uint32(row.get(0)?),
                        sender: row.get(1)?,
                        recipient: row.get(2)?,
                        content_type: row.get(3)?,
                        text: Sealed(row.get(4)?),
                        commitment: row.get(5)?,
                        server_time_ms: uint(row.get(6)?),
                        verdict: row.get(7)?,
                        rejection: row.get(8)?,
                        attachment,
                    }))
                },
            )?;
            let notes = collect(
                &tx,
                OP,
                "SELECT author, at_ms, text FROM notes WHERE case_id = ?1 ORDER BY id",
                [&id.0],
                |row| {
                    let author: String = row.get(0)?;
                    let Ok(author) = AccountName::new(&author) else {
                        return Ok(Err(backend("case: a stored value is invalid")));
                    };
                    Ok(Ok(Note {
                        author,
                        at_ms: uint(row.get(1)?),
                        text: Sealed(row.get(2)?),
                    }))
                },
            )?;
            let actions = collect(
                &tx,
                OP,
                "SELECT by_name, at_ms, action, target, result FROM actions
                 WHERE case_id = ?1 ORDER BY id",
                [&id.0],
                |row| {
                    let by: String = row.get(0)?;
                    let Ok(by) = AccountName::new(&by) else {
                        return Ok(Err(backend("case: a stored value is invalid")));
                    };
                    Ok(Ok(ActionRecord {
                        by,
                        at_ms: uint(row.get(1)?),
                        action: row.get(2)?,
                        target: row.get(3)?,
                        result: row.get(4)?,
                    }))
                },
            )?;
            Ok(Some(CaseDetail {
                summary: summary?,
                reason,
                group,
                created_at_ms,
                post_quantum,
                messages,
                notes,
                actions,
                feedback_sent_at_ms: feedback,
            }))
        })
        .await
    }

    async fn record(&self, audit: NewAuditRecord) -> Result<AuditRecord, StoreError> {
        self.write("record", move |tx| append(tx, &audit)).await
    }

    async fn assign(
        &self,
        id: &CaseId,
        assignee: &AccountName,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "assign";
        let (id, assignee) = (id.clone(), assignee.clone());
        self.write(OP, move |tx| {
            open_case_status(tx, &id, OP)?;
            tx.execute(
                "UPDATE cases SET status = 'assigned', assignee = ?2 WHERE id = ?1",
                params![id.0, assignee.as_str()],
            )
            .map_err(|_| backend(OP))?;
            append(tx, &audit)?;
            Ok(())
        })
        .await
    }

    async fn add_note(
        &self,
        id: &CaseId,
        note: Note,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "add_note";
        let id = id.clone();
        self.write(OP, move |tx| {
            case_status(tx, &id, OP)?;
            let inserted = tx
                .execute(
                    "INSERT INTO notes (case_id, author, at_ms, text) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (case_id, author, at_ms) DO NOTHING",
                    params![id.0, note.author.as_str(), int(note.at_ms), note.text.0],
                )
                .map_err(|_| backend(OP))?;
            if inserted == 0 {
                return Err(StoreError::NoteExists);
            }
            append(tx, &audit)?;
            Ok(())
        })
        .await
    }

    async fn record_action(
        &self,
        id: &CaseId,
        action: ActionRecord,
        resolve_with: Option<&str>,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "record_action";
        let id = id.clone();
        let resolve_with = resolve_with.map(str::to_owned);
        self.write(OP, move |tx| {
            open_case_status(tx, &id, OP)?;
            tx.execute(
                "INSERT INTO actions (case_id, by_name, at_ms, action, target, result)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    id.0,
                    action.by.as_str(),
                    int(action.at_ms),
                    action.action,
                    action.target,
                    action.result
                ],
            )
            .map_err(|_| backend(OP))?;
            if let Some(outcome) = resolve_with {
                tx.execute(
                    "UPDATE cases SET status = 'resolved', outcome = ?2 WHERE id = ?1",
                    params![id.0, outcome],
                )
                .map_err(|_| backend(OP))?;
            }
            append(tx, &audit)?;
            Ok(())
        })
        .await
    }

    async fn set_attachment(
        &self,
        id: &CaseId,
        index: u32,
        attachment: CaseAttachment,
    ) -> Result<(), StoreError> {
        const OP: &str = "set_attachment";
        let id = id.clone();
        self.write(OP, move |tx| {
            let updated = tx
                .execute(
                    "UPDATE messages SET att_status = ?3, att_media_type = ?4,
                         att_file_name = ?5, att_bytes = ?6, att_size = ?7
                     WHERE case_id = ?1 AND idx = ?2",
                    params![
                        id.0,
                        i64::from(index),
                        attachment.status,
                        attachment.media_type,
                        attachment.file_name.0,
                        attachment.bytes.map(|b| b.0),
                        int(attachment.size)
                    ],
                )
                .map_err(|_| backend(OP))?;
            if updated == 0 {
                return Err(StoreError::UnknownCase);
            }
            Ok(())
        })
        .await
    }

    async fn record_feedback(
        &self,
        id: &CaseId,
        at_ms: u64,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "record_feedback";
        let id = id.clone();
        self.write(OP, move |tx| {
            case_status(tx, &id, OP)?;
            tx.execute(
                "UPDATE cases SET feedback_sent_at_ms = ?2 WHERE id = ?1",
                params![id.0, int(at_ms)],
            )
            .map_err(|_| backend(OP))?;
            append(tx, &audit)?;
            Ok(())
        })
        .await
    }

    async fn audit_log(&self) -> Result<Vec<AuditRecord>, StoreError> {
        const OP: &str = "audit_log";
        self.run(OP, move |conn| {
            collect(
                conn,
                OP,
                &format!("SELECT {AUDIT_COLUMNS} FROM audit ORDER BY seq"),
                [],
                audit_row,
            )
        })
        .await
    }

    async fn case_audit(&self, id: &CaseId) -> Result<Vec<AuditRecord>, StoreError> {
        const OP: &str = "case_audit";
        let id = id.clone();
        self.run(OP, move |conn| {
            collect(
                conn,
                OP,
                &format!("SELECT {AUDIT_COLUMNS} FROM audit WHERE case_id = ?1 ORDER BY seq"),
                [&id.0],
                audit_row,
            )
        })
        .await
    }
}

/// Inserts one message of a new case with its stored verdict.
fn insert_message(
    tx: &Transaction<'_>,
    case: &CaseId,
    message: &CaseMessage,
    verdict: &str,
) -> Result<(), StoreError> {
    const OP: &str = "open_case";
    let attachment = message.attachment.as_ref();
    tx.execute(
        "INSERT INTO messages (case_id, idx, sender, recipient, content_type, text, commitment,
             server_time_ms, verdict, rejection, att_status, att_media_type, att_file_name,
             att_bytes, att_size)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            case.0,
            i64::from(message.index),
            message.sender,
            message.recipient,
            message.content_type,
            message.text.0,
            message.commitment,
            int(message.server_time_ms),
            verdict,
            message.rejection,
            attachment.map(|a| a.status.as_str()),
            attachment.map(|a| a.media_type.as_str()),
            attachment.map(|a| a.file_name.0.as_slice()),
            attachment
                .and_then(|a| a.bytes.as_ref())
                .map(|b| b.0.as_slice()),
            attachment.map(|a| int(a.size)),
        ],
    )
    .map_err(|_| backend(OP))?;
    Ok(())
}
