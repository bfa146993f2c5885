//! The PostgreSQL store: several service instances sharing one database.
//!
//! # Connections
//!
//! A store keeps a small pool of connections ([`DEFAULT_POOL_SIZE`], or
//! [`PgStore::connect_with_pool_size`]); each call takes one for its
//! duration. The tables (all prefixed `moderation_`, so that they cannot
//! clash with the relay's when one database holds both) are created on
//! connect when missing, under an advisory lock so that instances starting
//! together do not race; a schema version newer than this service's is
//! refused. Commits are durable when they return: if the server's sessions
//! default to `synchronous_commit = off`, the store's run with `on`.
//!
//! # Transactions and the audit chain
//!
//! Every mutating method is one transaction (`READ COMMITTED`) whose first
//! statement locks the chain's head, the one row of `moderation_audit_head`
//! (`SELECT ... FOR UPDATE`). Appending then reads the last record (as
//! committed by whoever held the lock before), writes the next with `seq`
//! one above, and moves the head. Writes of every instance on the database
//! therefore run one at a time, in one order: the chain never forks, the
//! duplicate counting of two openings never interleaves, and since every
//! writer takes that lock first no two of them can deadlock. `seq` is the
//! primary key anyway.
//!
//! The decisions the trait leaves open are the SQLite store's (see
//! [`crate::store::sqlite`]).
//!
//! Backend failures are `StoreError::Backend("<operation>")`, naming what
//! failed, never the data; a connection string (which may hold a password)
//! is never shown, not even by `Debug`.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{Config, NoTls, Row, Transaction};

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

/// Connections a store keeps at most, by default.
pub const DEFAULT_POOL_SIZE: usize = 4;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a call waits for a free connection of the pool.
const POOL_WAIT: Duration = Duration::from_secs(30);
/// How many cases [`CaseFilter::limit`] 0 lists.
const DEFAULT_LIMIT: u32 = 200;

/// The PostgreSQL [`ModerationStore`]. See the [module documentation](self).
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection string may hold a password: never shown.
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

fn backend(what: &str) -> StoreError {
    StoreError::Backend(what.to_owned())
}

/// A time or count as stored (clamped to `i64::MAX`).
fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored time or count back (a negative one, never written, reads as 0).
fn uint(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn uint32(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

/// A column of `row`, or `Backend(op)` if it does not read as `T`.
fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    column: usize,
    op: &str,
) -> Result<T, StoreError> {
    row.try_get(column).map_err(|_| backend(op))
}

impl PgStore {
    /// Connects to the database `conninfo` names (libpq `key=value` form or
    /// a `postgresql://` URL) with a pool of [`DEFAULT_POOL_SIZE`]
    /// connections, creating the tables when missing.
    pub async fn connect(conninfo: &str) -> Result<Self, StoreError> {
        Self::connect_with_pool_size(conninfo, DEFAULT_POOL_SIZE).await
    }

    /// [`PgStore::connect`] with a pool of up to `pool_size` connections
    /// (at least one).
    pub async fn connect_with_pool_size(
        conninfo: &str,
        pool_size: usize,
    ) -> Result<Self, StoreError> {
        let mut config =
            Config::from_str(conninfo).map_err(|_| backend("connect: the connection string"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("fuin-moderation");
        }
        // A commit must be durable when it returns (a recorded opening
        // survives a crash): a server whose sessions default to
        // `synchronous_commit = off` gets `on` for ours; a stronger setting
        // (`remote_apply`, ...) is kept.
        {
            let (client, connection) = config
                .connect(NoTls)
                .await
                .map_err(|_| backend("connect: the database refused or is unreachable"))?;
            let connection = tokio::spawn(connection);
            let setting = show_synchronous_commit(&client).await;
            drop(client);
            // The connection ends once its client is gone.
            let _ = connection.await;
            if setting? == "off" {
                let options = format!(
                    "{} -c synchronous_commit=on",
                    config.get_options().unwrap_or_default()
                );
                config.options(options.trim_start());
            }
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|_| backend("connect: pool"))?;
        let mut client = pool
            .get()
            .await
            .map_err(|_| backend("connect: the database refused or is unreachable"))?;
        if show_synchronous_commit(&client).await? == "off" {
            return Err(backend("connect: synchronous_commit stayed off"));
        }
        schema::prepare(&mut client).await?;
        drop(client);
        Ok(Self { pool })
    }

    /// What a commit of this store waits for: its sessions'
    /// `synchronous_commit` (never `off`).
    pub async fn synchronous_commit(&self) -> Result<String, StoreError> {
        let client = self.client("synchronous_commit").await?;
        show_synchronous_commit(&client).await
    }

    async fn client(&self, op: &str) -> Result<Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|_| backend(&format!("{op}: no connection")))
    }
}

/// The session's `synchronous_commit`.
async fn show_synchronous_commit(client: &tokio_postgres::Client) -> Result<String, StoreError> {
    let row = client
        .query_one("SHOW synchronous_commit", &[])
        .await
        .map_err(|_| backend("connect: read synchronous_commit"))?;
    get(&row, 0, "connect: read synchronous_commit")
}

/// Begins a write: locks the chain's head for the transaction.
async fn lock_head(tx: &Transaction<'_>, op: &str) -> Result<(), StoreError> {
    tx.query_one(
        "SELECT seq FROM moderation_audit_head WHERE one FOR UPDATE",
        &[],
    )
    .await
    .map_err(|_| backend(op))?;
    Ok(())
}

const AUDIT_COLUMNS: &str = "seq, time_ms, actor, action, case_id, detail, prev, hash";

fn audit_row(row: &Row, op: &str) -> Result<AuditRecord, StoreError> {
    let prev: Vec<u8> = get(row, 6, op)?;
    let hash: Vec<u8> = get(row, 7, op)?;
    let (Ok(prev), Ok(hash)) = (<[u8; 32]>::try_from(prev), <[u8; 32]>::try_from(hash)) else {
        return Err(backend(&format!("{op}: a stored hash is invalid")));
    };
    Ok(AuditRecord {
        seq: uint(get(row, 0, op)?),
        time_ms: uint(get(row, 1, op)?),
        actor: get(row, 2, op)?,
        action: get(row, 3, op)?,
        case: get(row, 4, op)?,
        detail: get(row, 5, op)?,
        prev,
        hash,
    })
}

/// Appends `audit` after the chain's last record, inside `tx` (which holds
/// the head's lock, see [`lock_head`]).
async fn append(tx: &Transaction<'_>, audit: &NewAuditRecord) -> Result<AuditRecord, StoreError> {
    const OP: &str = "append an audit record";
    let last = tx
        .query_opt(
            &format!("SELECT {AUDIT_COLUMNS} FROM moderation_audit ORDER BY seq DESC LIMIT 1"),
            &[],
        )
        .await
        .map_err(|_| backend(OP))?
        .map(|row| audit_row(&row, OP))
        .transpose()?;
    let record = audit.chain_after(last.as_ref());
    tx.execute(
        "INSERT INTO moderation_audit (seq, time_ms, actor, action, case_id, detail, prev, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &int(record.seq),
            &int(record.time_ms),
            &record.actor,
            &record.action,
            &record.case,
            &record.detail,
            &record.prev.as_slice(),
            &record.hash.as_slice(),
        ],
    )
    .await
    .map_err(|_| backend(OP))?;
    tx.execute(
        "UPDATE moderation_audit_head SET seq = $1, hash = $2 WHERE one",
        &[&int(record.seq), &record.hash.as_slice()],
    )
    .await
    .map_err(|_| backend(OP))?;
    Ok(record)
}

/// The status of case `id`, or [`StoreError::UnknownCase`].
async fn case_status(tx: &Transaction<'_>, id: &CaseId, op: &str) -> Result<String, StoreError> {
    let row = tx
        .query_opt(
            "SELECT status FROM moderation_cases WHERE id = $1",
            &[&id.0],
        )
        .await
        .map_err(|_| backend(op))?
        .ok_or(StoreError::UnknownCase)?;
    get(&row, 0, op)
}

/// Like [`case_status`], refusing a resolved case.
async fn unresolved(tx: &Transaction<'_>, id: &CaseId, op: &str) -> Result<(), StoreError> {
    if case_status(tx, id, op).await? == CaseStatus::Resolved.as_str() {
        return Err(StoreError::CaseResolved);
    }
    Ok(())
}

const ACCOUNT_COLUMNS: &str =
    "name, role, password_hash, failed_logins, locked_until_ms, created_at_ms";

fn account_row(row: &Row, op: &str) -> Result<Account, StoreError> {
    let name: String = get(row, 0, op)?;
    let role: String = get(row, 1, op)?;
    let (Ok(name), Some(role)) = (AccountName::new(&name), Role::parse(&role)) else {
        return Err(backend(&format!("{op}: a stored value is invalid")));
    };
    Ok(Account {
        name,
        role,
        password_hash: get(row, 2, op)?,
        failed_logins: uint32(get(row, 3, op)?),
        locked_until_ms: get::<Option<i64>>(row, 4, op)?.map(uint),
        created_at_ms: uint(get(row, 5, op)?),
    })
}

const CASE_COLUMNS: &str = "id, status, assignee, reporter, reported_user, kind, received_at_ms, \
     opened_at_ms, verified, duplicates, rejected, outcome, reason, group_id, created_at_ms, \
     post_quantum, feedback_sent_at_ms";

fn summary_row(row: &Row, op: &str) -> Result<CaseSummary, StoreError> {
    let invalid = || backend(&format!("{op}: a stored value is invalid"));
    let status: String = get(row, 1, op)?;
    let kind: String = get(row, 5, op)?;
    let assignee: Option<String> = get(row, 2, op)?;
    Ok(CaseSummary {
        id: CaseId(get(row, 0, op)?),
        status: CaseStatus::parse(&status).ok_or_else(invalid)?,
        assignee: assignee
            .map(|a| AccountName::new(&a))
            .transpose()
            .map_err(|_| invalid())?,
        reporter: get(row, 3, op)?,
        reported_user: get(row, 4, op)?,
        kind: ConversationKind::parse(&kind).ok_or_else(invalid)?,
        received_at_ms: uint(get(row, 6, op)?),
        opened_at_ms: uint(get(row, 7, op)?),
        verified: uint32(get(row, 8, op)?),
        duplicates: uint32(get(row, 9, op)?),
        rejected: uint32(get(row, 10, op)?),
        outcome: get(row, 11, op)?,
    })
}

fn message_row(row: &Row, op: &str) -> Result<CaseMessage, StoreError> {
    let status: Option<String> = get(row, 9, op)?;
    let attachment = match status {
        Some(status) => Some(CaseAttachment {
            status,
            media_type: get::<Option<String>>(row, 10, op)?.unwrap_or_default(),
            file_name: Sealed(get::<Option<Vec<u8>>>(row, 11, op)?.unwrap_or_default()),
            bytes: get::<Option<Vec<u8>>>(row, 12, op)?.map(Sealed),
            size: uint(get::<Option<i64>>(row, 13, op)?.unwrap_or(0)),
        }),
        None => None,
    };
    Ok(CaseMessage {
        index: uint32(get(row, 0, op)?),
        sender: get(row, 1, op)?,
        recipient: get(row, 2, op)?,
        content_type: get(row, 3, op)?,
        text: Sealed(get(row, 4, op)?),
        commitment: get(row, 5, op)?,
        server_time_ms: uint(get(row, 6, op)?),
        verdict: get(row, 7, op)?,
        rejection: get(row, 8, op)?,
        attachment,
    })
}

/// Commits `tx`.
async fn commit(tx: deadpool_postgres::Transaction<'_>, op: &str) -> Result<(), StoreError> {
    tx.commit().await.map_err(|_| backend(op))
}

impl ModerationStore for PgStore {
    async fn create_account(
        &self,
        account: Account,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "create_account";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.map_err(|_| backend(OP))?;
        lock_head(&tx, OP).await?;
        let inserted = tx
            .execute(
                "INSERT INTO moderation_accounts (name, role, password_hash, failed_logins,
                     locked_until_ms, created_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
                &[
                    &account.name.as_str(),
                    &account.role.as_str(),
                    &account.password_hash,
                    &i64::from(account.failed_logins),
                    &account.locked_until_ms.map(int),
                    &int(account.created_at_ms),
                ],
            )
            .await
            .map_err(|_| backend(OP))?;
        if inserted == 0 {
            return Err(StoreError::AccountExists);
        }
        append(&tx, &audit).await?;
        commit(tx, OP).await
    }

    async fn account(&self, name: &AccountName) -> Result<Option<Account>, StoreError> {
        const OP: &str = "account";
        let client = self.client(OP).await?;
        client
            .query_opt(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM moderation_accounts WHERE name = $1"),
                &[&name.as_str()],
            )
            .await
            .map_err(|_| backend(OP))?
            .map(|row| account_row(&row, OP))
            .transpose()
    }

    async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        const OP: &str = "accounts";
        let client = self.client(OP).await?;
        client
            .query(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM moderation_accounts ORDER BY name"),
                &[],
            )
            .await
            .map_err(|_| backend(OP))?
            .iter()
            .map(|row| account_row(row, OP))
            .collect()
    }

    async fn record_login_failure(
        &self,
        name: &AccountName,
        now_ms: u64,
        policy: LockoutPolicy,
        audit: NewAuditRecord,
    ) -> Result<LoginCount, StoreError> {
        const OP: &str = "record_login_failure";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.map_err(|_| backend(OP))?;
        lock_head(&tx, OP).await?;
        let row = tx
            .query_opt(
                "SELECT failed_logins, locked_until_ms FROM moderation_accounts
                 WHERE name = $1 FOR UPDATE",
                &[&name.as_str()],
            )
            .await
            .map_err(|_| backend(OP))?
            .ok_or(StoreError::UnknownAccount)?;
        let failures: i64 = get(&row, 0, OP)?;
        let locked_until: Option<i64> = get(&row, 1, OP)?;
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
            "UPDATE moderation_accounts SET failed_logins = $2, locked_until_ms = $3
             WHERE name = $1",
            &[&name.as_str(), &i64::from(count), &until],
        )
        .await
        .map_err(|_| backend(OP))?;
        append(&tx, &audit).await?;
        if let Some(locked) = locked_record {
            append(&tx, &locked).await?;
        }
        commit(tx, OP).await?;
        Ok(outcome)
    }

    async fn record_login(
        &self,
        session: Session,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "record_login";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.map_err(|_| backend(OP))?;
        lock_head(&tx, OP).await?;
        let updated = tx
            .execute(
                "UPDATE moderation_accounts SET failed_logins = 0, locked_until_ms = NULL
                 WHERE name = $1",
                &[&session.account.as_str()],
            )
            .await
            .map_err(|_| backend(OP))?;
        if updated == 0 {
            return Err(StoreError::UnknownAccount);
        }
        tx.execute(
            "DELETE FROM moderation_sessions WHERE expires_at_ms <= $1",
            &[&int(session.created_at_ms)],
        )
        .await
        .map_err(|_| backend(OP))?;
        tx.execute(
            "INSERT INTO moderation_sessions (token_hash, account, created_at_ms, expires_at_ms)
             VALUES ($1, $2, $3, $4)",
            &[
                &session.token_hash.as_slice(),
                &session.account.as_str(),
                &int(session.created_at_ms),
                &int(session.expires_at_ms),
            ],
        )
        .await
        .map_err(|_| backend(OP))?;
        append(&tx, &audit).await?;
        commit(tx, OP).await
    }

    async fn session(
        &self,
        token_hash: &[u8; 32],
        now_ms: u64,
    ) -> Result<Option<Session>, StoreError> {
        const OP: &str = "session";
        let client = self.client(OP).await?;
        let Some(row) = client
            .query_opt(
                "SELECT account, created_at_ms, expires_at_ms FROM moderation_sessions
                 WHERE token_hash = $1 AND expires_at_ms > $2",
                &[&token_hash.as_slice(), &int(now_ms)],
            )
            .await
            .map_err(|_| backend(OP))?
        else {
            return Ok(None);
        };
        let account: String = get(&row, 0, OP)?;
        Ok(Some(Session {
            token_hash: *token_hash,
            account: AccountName::new(&account)
                .map_err(|_| backend("session: a stored value is invalid"))?,
            created_at_ms: uint(get(&row, 1, OP)?),
            expires_at_ms: uint(get(&row, 2, OP)?),
        }))
    }

    async fn end_session(
        &self,
        token_hash: &[u8; 32],
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "end_session";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.map_err(|_| backend(OP))?;
        lock_head(&tx, OP).await?;
        tx.execute(
            "DELETE FROM moderation_sessions WHERE token_hash = $1",
            &[&token_hash.as_slice()],
        )
        .await
        .map_err(|_| backend(OP))?;
        append(&tx, &audit).await?;
        commit(tx, OP).await
    }

    async fn has_case(&self, id: &CaseId) -> Result<bool, StoreError> {
        const OP: &str = "has_case";
        let client = self.client(OP).await?;
        client
            .query_opt("SELECT 1 FROM moderation_cases WHERE id = $1", &[&id.0])
            .await
            .map(|row| row.is_some())
            .map_err(|_| backend(OP))
    }

    async fn open_case(
        &self,
        case: NewCase,
        audit: NewAuditRecord,
    ) -> Result<CaseSummary, StoreError> {
        const OP: &str = "open_case";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.map_err(|_| backend(OP))?;
        lock_head(&tx, OP).await?;
        let exists = tx
            .query_opt(
                "SELECT 1 FROM moderation_cases WHERE id = $1",
                &[&case.id.0],
            )
            .await
            .map_err(|_| backend(OP))?
            .is_some();
        if exists {
            return Err(StoreError::CaseExists);
        }
        tx.execute(
            "INSERT INTO moderation_cases (id, status, assignee, reporter, reporter_user,
                 reported_user, kind, group_id, reason, created_at_ms, received_at_ms,
                 opened_at_ms, post_quantum, verified, duplicates, rejected, outcome,
                 feedback_sent_at_ms)
             VALUES ($1, 'new', NULL, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, 0, 0,
                 NULL, NULL)",
            &[
                &case.id.0,
                &case.reporter,
                &case.reporter_user,
                &case.reported_user,
                &case.kind.as_str(),
                &case.group,
                &case.reason.0,
                &int(case.created_at_ms),
                &int(case.received_at_ms),
                &int(case.opened_at_ms),
                &case.post_quantum,
            ],
        )
        .await
        .map_err(|_| backend(OP))?;
        let (mut verified, mut duplicates, mut rejected) = (0u32, 0u32, 0u32);
        for message in &case.messages {
            let mut verdict = message.verdict.as_str();
            if verdict == "verified" {
                let counted = tx
                    .execute(
                        "INSERT INTO moderation_counted (reporter_user, commitment, case_id)
                         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        &[&case.reporter_user, &message.commitment, &case.id.0],
                    )
                    .await
                    .map_err(|_| backend(OP))?;
                verdict = stored_verdict(verdict, counted == 0);
            }
            match verdict {
                "verified" => verified += 1,
                "duplicate" => duplicates += 1,
                _ => rejected += 1,
            }
            let attachment = message.attachment.as_ref();
            tx.execute(
                "INSERT INTO moderation_messages (case_id, idx, sender, recipient, content_type,
                     text, commitment, server_time_ms, verdict, rejection, att_status,
                     att_media_type, att_file_name, att_bytes, att_size)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                &[
                    &case.id.0,
                    &i64::from(message.index),
                    &message.sender,
                    &message.recipient,
                    &message.content_type,
                    &message.text.0,
                    &message.commitment,
                    &int(message.server_time_ms),
                    &verdict,
                    &message.rejection,
                    &attachment.map(|a| a.status.as_str()),
                    &attachment.map(|a| a.media_type.as_str()),
                    &attachment.map(|a| a.file_name.0.as_slice()),
                    &attachment
                        .and_then(|a| a.bytes.as_ref())
                        .map(|b| b.0.as_slice()),
                    &attachment.map(|a| int(a.size)),
                ],
            )
            .await
            .map_err(|_| backend(OP))?;
        }
        tx.execute(
            "UPDATE moderation_cases SET verified = $2, duplicates = $3, rejected = $4
             WHERE id = $1",
            &[
                &case.id.0,
                &i64::from(verified),
                &i64::from(duplicates),
                &i64::from(rejected),
            ],
        )
        .await
        .map_err(|_| backend(OP))?;
        let mut audit = audit;
        audit.detail = detail_with_counts(&audit.detail, verified, duplicates)?;
        append(&tx, &audit).await?;
        commit(tx, OP).await?;
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
    }

    async fn record_refusal(&self, audit: NewAuditRecord) -> Result<(), StoreError> {
        self.record(audit).await.map(|_| ())
    }

    async fn cases(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StoreError> {
        const OP: &str = "cases";
        let limit = if filter.limit == 0 {
            DEFAULT_LIMIT
        } else {
            filter.limit
        };
        let client = self.client(OP).await?;
        client
            .query(
                &format!(
                    "SELECT {CASE_COLUMNS} FROM moderation_cases
                     WHERE ($1::text IS NULL OR status = $1::text)
                       AND ($2::text IS NULL OR assignee = $2::text)
                       AND ($3::text IS NULL OR reported_user = $3::text)
                       AND ($4::text IS NULL OR kind = $4::text)
                     ORDER BY received_at_ms DESC, id DESC
                     LIMIT $5"
                ),
                &[
                    &filter.status.map(CaseStatus::as_str),
                    &filter.assignee.as_ref().map(AccountName::as_str),
                    &filter.reported_user,
                    &filter.kind.map(ConversationKind::as_str),
                    &i64::from(limit),
                ],
            )
            .await
            .map_err(|_| backend(OP))?
            .iter()
            .map(|row| summary_row(row, OP))
            .collect()
    }

    async fn case(&self, id: &CaseId) -> Result<Option<CaseDetail>, StoreError> {
        const OP: &str = "case";
        let mut client = self.client(OP).await?;
        // One snapshot for the case and its parts.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|_| backend(OP))?;
        let Some(row) = tx
            .query_opt(
                &format!("SELECT {CASE_COLUMNS} FROM moderation_cases WHERE id = $1"),
                &[&id.0],
            )
            .await
            .map_err(|_| backend(OP))?
        else {
            return Ok(None);
        };
        let summary = summary_row(&row, OP)?;
        let messages = tx
            .query(
                "SELECT idx, sender, recipient, content_type, text, commitment, server_time_ms,
                     verdict, rejection, att_status, att_media_type, att_file_name, att_bytes,
                     att_size
                 FROM moderation_messages WHERE case_id = $1 ORDER BY idx",
                &[&id.0],
            )
            .await
            .map_err(|_| backend(OP))?
            .iter()
            .map(|row| message_row(row, OP))
            .collect::<Result<Vec<_>, _>>()?;
        let invalid = || backend("case: a stored value is invalid");
        let notes = tx
            .query(
                "SELECT author, at_ms, text FROM moderation_notes WHERE case_id = $1 ORDER BY id",
                &[&id.0],
            )
            .await
            .map_err(|_| backend(OP))?
            .iter()
            .map(|row| {
                let author: String = get(row, 0, OP)?;
                Ok(Note {
                    author: AccountName::new(&author).map_err(|_| invalid())?,
                    at_ms: uint(get(row, 1, OP)?),
                    text: Sealed(get(row, 2, OP)?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let actions = tx
            .query(
                "SELECT by_name, at_ms, action, target, result FROM moderation_actions
                 WHERE case_id = $1 ORDER BY id",
                &[&id.0],
            )
            .await
            .map_err(|_| backend(OP))?
            .iter()
            .map(|row| {
                let by: String = get(row, 0, OP)?;
                Ok(ActionRecord {
                    by: AccountName::new(&by).map_err(|_| invalid())?,
                    at_ms: uint(get(row, 1, OP)?),
                    action: get(row, 2, OP)?,
                    target: get(row, 3, OP)?,
                    result: get(row, 4, OP)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        commit(tx, OP).await?;
        Ok(Some(CaseDetail {
            summary,
            reason: Sealed(get(&row, 12, OP)?),
            group: get(&row, 13, OP)?,
            created_at_ms: uint(get(&row, 14, OP)?),
            post_quantum: get(&row, 15, OP)?,
            messages,
            notes,
            actions,
            feedback_sent_at_ms: get::<Option<i64>>(&row, 16, OP)?.map(uint),
        }))
    }

    async fn record(&self, audit: NewAuditRecord) -> Result<AuditRecord, StoreError> {
        const OP: &str = "record";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.map_err(|_| backend(OP))?;
        lock_head(&tx, OP).await?;
        let record = append(&tx, &audit).await?;
        commit(tx, OP).await?;
        Ok(record)
    }

    async fn assign(
        &self,
        id: &CaseId,
        assignee: &AccountName,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "assign";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.map_err(|_| backend(OP))?;
        lock_head(&tx, OP).await?;
        unresolved(&tx, id, OP).await?;
        tx.execute(
            "UPDATE moderation_cases SET status = 'assigned', assignee = $2 WHERE id = $1",
            &[&id.0, &assignee.as_str()],
        )
        .await
        .map_err(|_| backend(OP))?;
        append(&tx, &audit).await?;
        commit(tx, OP).await
    }

    async fn add_note(
        &self,
        id: &CaseId,
        note: Note,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "add_note";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.map_err(|_| backend(OP))?;
        lock_head(&tx, OP).await?;
        case_status(&tx, id, OP).await?;
        let inserted = tx
            .execute(
                "INSERT INTO moderation_notes (case_id, author, at_ms, text)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (case_id, author, at_ms) DO NOTHING",
                &[&id.0, &note.author.as_str(), &int(note.at_ms), &note.text.0],
            )
            .await
            .map_err(|_| backend(OP))?;
        if inserted == 0 {
            return Err(StoreError::NoteExists);
        }
        append(&tx, &audit).await?;
        commit(tx, OP).await
    }

    async fn record_action(
        &self,
        id: &CaseId,
        action: ActionRecord,
        resolve_with: Option<&str>,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "record_action";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.map_err(|_| backend(OP))?;
        lock_head(&tx, OP).await?;
        unresolved(&tx, id, OP).await?;
        tx.execute(
            "INSERT INTO moderation_actions (case_id, by_name, at_ms, action, target, result)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &id.0,
                &action.by.as_str(),
                &int(action.at_ms),
                &action.action,
                &action.target,
                &action.result,
            ],
        )
        .await
        .map_err(|_| backend(OP))?;
        if let Some(outcome) = resolve_with {
            tx.execute(
                "UPDATE moderation_cases SET status = 'resolved', outcome = $2 WHERE id = $1",
                &[&id.0, &outcome],
            )
            .await
            .map_err(|_| backend(OP))?;
        }
        append(&tx, &audit).await?;
        commit(tx, OP).await
    }

    async fn set_attachment(
        &self,
        id: &CaseId,
        index: u32,
        attachment: CaseAttachment,
    ) -> Result<(), StoreError> {
        const OP: &str = "set_attachment";
        let client = self.client(OP).await?;
        let updated = client
            .execute(
                "UPDATE moderation_messages SET att_status = $3, att_media_type = $4,
                     att_file_name = $5, att_bytes = $6, att_size = $7
                 WHERE case_id = $1 AND idx = $2",
                &[
                    &id.0,
                    &i64::from(index),
                    &attachment.status,
                    &attachment.media_type,
                    &attachment.file_name.0,
                    &attachment.bytes.as_ref().map(|b| b.0.as_slice()),
                    &int(attachment.size),
                ],
            )
            .await
            .map_err(|_| backend(OP))?;
        if updated == 0 {
            return Err(StoreError::UnknownCase);
        }
        Ok(())
    }

    async fn record_feedback(
        &self,
        id: &CaseId,
        at_ms: u64,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "record_feedback";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.map_err(|_| backend(OP))?;
        lock_head(&tx, OP).await?;
        case_status(&tx, id, OP).await?;
        tx.execute(
            "UPDATE moderation_cases SET feedback_sent_at_ms = $2 WHERE id = $1",
            &[&id.0, &int(at_ms)],
        )
        .await
        .map_err(|_| backend(OP))?;
        append(&tx, &audit).await?;
        commit(tx, OP).await
    }

    async fn audit_log(&self) -> Result<Vec<AuditRecord>, StoreError> {
        const OP: &str = "audit_log";
        let client = self.client(OP).await?;
        client
            .query(
                &format!("SELECT {AUDIT_COLUMNS} FROM moderation_audit ORDER BY seq"),
                &[],
            )
            .await
            .map_err(|_| backend(OP))?
            .iter()
            .map(|row| audit_row(row, OP))
            .collect()
    }

    async fn case_audit(&self, id: &CaseId) -> Result<Vec<AuditRecord>, StoreError> {
        const OP: &str = "case_audit";
        let client = self.client(OP).await?;
        client
            .query(
                &format!(
                    "SELECT {AUDIT_COLUMNS} FROM moderation_audit WHERE case_id = $1 ORDER BY seq"
                ),
                &[&id.0],
            )
            .await
            .map_err(|_| backend(OP))?
            .iter()
            .map(|row| audit_row(row, OP))
            .collect()
    }
}
