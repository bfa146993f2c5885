//! The SQLite store's accounts, logins and sessions.

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, collect, one};
use crate::audit::NewAuditRecord;
use crate::model::{Account, AccountName, LockoutPolicy, Session};
use crate::store::rows::{self, ACCOUNT_COLUMNS, SESSION_COLUMNS, backend, int, uint, uint32};
use crate::store::rules::{login_failure, stored_lock};
use crate::store::{LoginCount, StoreError};

const INVALID_ACCOUNT: &str = "read an account: a stored value is invalid";

impl SqliteStore {
    pub(super) async fn create_account(
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
            super::audit::append(tx, &audit)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn account(&self, name: &AccountName) -> Result<Option<Account>, StoreError> {
        const OP: &str = "account";
        let name = name.clone();
        self.run(OP, move |conn| {
            one(
                conn,
                OP,
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ?1"),
                [name.as_str()],
                |row| rows::account(row, INVALID_ACCOUNT),
            )
        })
        .await
    }

    pub(super) async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        const OP: &str = "accounts";
        self.run(OP, move |conn| {
            collect(
                conn,
                OP,
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name"),
                [],
                |row| rows::account(row, INVALID_ACCOUNT),
            )
        })
        .await
    }

    pub(super) async fn record_login_failure(
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
            tx.execute(
                "UPDATE accounts SET failed_logins = ?2, locked_until_ms = ?3 WHERE name = ?1",
                params![name.as_str(), i64::from(count), stored_lock(outcome)],
            )
            .map_err(|_| backend(OP))?;
            super::audit::append(tx, &audit)?;
            if let Some(locked) = locked_record {
                super::audit::append(tx, &locked)?;
            }
            Ok(outcome)
        })
        .await
    }

    pub(super) async fn record_login(
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
            super::audit::append(tx, &audit)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn session(
        &self,
        token_hash: &[u8; 32],
        now_ms: u64,
    ) -> Result<Option<Session>, StoreError> {
        const OP: &str = "session";
        let token_hash = *token_hash;
        self.run(OP, move |conn| {
            one(
                conn,
                OP,
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions
                     WHERE token_hash = ?1 AND expires_at_ms > ?2"
                ),
                params![token_hash.as_slice(), int(now_ms)],
                |row| rows::session(row, token_hash),
            )
        })
        .await
    }

    pub(super) async fn end_session(
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
            super::audit::append(tx, &audit)?;
            Ok(())
        })
        .await
    }
}
