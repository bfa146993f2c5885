//! The PostgreSQL store's accounts, logins and sessions.

use super::audit::{append, begin_write};
use super::{PgRow, PgStore, commit, get, read_rows};
use crate::audit::NewAuditRecord;
use crate::model::{Account, AccountName, LockoutPolicy, Session};
use crate::store::rows::{self, ACCOUNT_COLUMNS, SESSION_COLUMNS, backend, int, uint, uint32};
use crate::store::rules::{login_failure, stored_lock};
use crate::store::{LoginCount, StoreError};

fn invalid_account(op: &str) -> String {
    format!("{op}: a stored value is invalid")
}

impl PgStore {
    pub(super) async fn create_account(
        &self,
        account: Account,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "create_account";
        let mut client = self.client(OP).await?;
        let tx = begin_write(&mut client, OP).await?;
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

    pub(super) async fn account(&self, name: &AccountName) -> Result<Option<Account>, StoreError> {
        const OP: &str = "account";
        let client = self.client(OP).await?;
        client
            .query_opt(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM moderation_accounts WHERE name = $1"),
                &[&name.as_str()],
            )
            .await
            .map_err(|_| backend(OP))?
            .map(|row| rows::account(&PgRow { row: &row, op: OP }, &invalid_account(OP)))
            .transpose()
    }

    pub(super) async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        const OP: &str = "accounts";
        let client = self.client(OP).await?;
        let found = client
            .query(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM moderation_accounts ORDER BY name"),
                &[],
            )
            .await
            .map_err(|_| backend(OP))?;
        let invalid = invalid_account(OP);
        read_rows(&found, OP, |row| rows::account(row, &invalid))
    }

    pub(super) async fn record_login_failure(
        &self,
        name: &AccountName,
        now_ms: u64,
        policy: LockoutPolicy,
        audit: NewAuditRecord,
    ) -> Result<LoginCount, StoreError> {
        const OP: &str = "record_login_failure";
        let mut client = self.client(OP).await?;
        let tx = begin_write(&mut client, OP).await?;
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
        tx.execute(
            "UPDATE moderation_accounts SET failed_logins = $2, locked_until_ms = $3
             WHERE name = $1",
            &[&name.as_str(), &i64::from(count), &stored_lock(outcome)],
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

    pub(super) async fn record_login(
        &self,
        session: Session,
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "record_login";
        let mut client = self.client(OP).await?;
        let tx = begin_write(&mut client, OP).await?;
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

    pub(super) async fn session(
        &self,
        token_hash: &[u8; 32],
        now_ms: u64,
    ) -> Result<Option<Session>, StoreError> {
        const OP: &str = "session";
        let client = self.client(OP).await?;
        client
            .query_opt(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM moderation_sessions
                     WHERE token_hash = $1 AND expires_at_ms > $2"
                ),
                &[&token_hash.as_slice(), &int(now_ms)],
            )
            .await
            .map_err(|_| backend(OP))?
            .map(|row| rows::session(&PgRow { row: &row, op: OP }, *token_hash))
            .transpose()
    }

    pub(super) async fn end_session(
        &self,
        token_hash: &[u8; 32],
        audit: NewAuditRecord,
    ) -> Result<(), StoreError> {
        const OP: &str = "end_session";
        let mut client = self.client(OP).await?;
        let tx = begin_write(&mut client, OP).await?;
        tx.execute(
            "DELETE FROM moderation_sessions WHERE token_hash = $1",
            &[&token_hash.as_slice()],
        )
        .await
        .map_err(|_| backend(OP))?;
        append(&tx, &audit).await?;
        commit(tx, OP).await
    }
}
