//! The SQLite store's authentication challenges and bearer tokens.

use fuin_wire::{DeviceAddress, UserId};
use rusqlite::{OptionalExtension, params};

use super::devices::device_exists;
use super::{Op, SqliteStore, corrupt, count_u64, device_id, key, sql_time};
use crate::store::{StoreError, TokenGrant};

impl SqliteStore {
    pub(super) async fn put_challenge(
        &self,
        address: &DeviceAddress<'_>,
        nonce: [u8; 32],
        expires_at_ms: u64,
    ) -> Result<(), StoreError> {
        const OP: &str = "put_challenge";
        let (user, device) = key(address);
        let expires_at = sql_time(expires_at_ms);
        self.write(OP, move |conn| {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO challenges (user, device, nonce, expires_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .op(OP)?
            .execute(params![user, device, nonce, expires_at])
            .op(OP)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn put_challenge_bounded(
        &self,
        address: &DeviceAddress<'_>,
        nonce: [u8; 32],
        expires_at_ms: u64,
        keep: u32,
    ) -> Result<(), StoreError> {
        const OP: &str = "put_challenge";
        let (user, device) = key(address);
        let expires_at = sql_time(expires_at_ms);
        let keep = i64::from(keep.max(1));
        self.write(OP, move |conn| {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO challenges (user, device, nonce, expires_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .op(OP)?
            .execute(params![user, device, nonce, expires_at])
            .op(OP)?;
            conn.prepare_cached(
                "DELETE FROM challenges WHERE user = ?1 AND device = ?2 AND nonce NOT IN ( \
                     SELECT nonce FROM challenges WHERE user = ?1 AND device = ?2 \
                     ORDER BY nonce = ?3 DESC, expires_at DESC, nonce DESC LIMIT ?4)",
            )
            .op(OP)?
            .execute(params![user, device, nonce, keep])
            .op(OP)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn take_challenge(
        &self,
        address: &DeviceAddress<'_>,
        nonce: [u8; 32],
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        const OP: &str = "take_challenge";
        let (user, device) = key(address);
        let now = sql_time(now_ms);
        self.write(OP, move |conn| {
            let expires_at: Option<i64> = conn
                .prepare_cached(
                    "DELETE FROM challenges WHERE user = ?1 AND device = ?2 AND nonce = ?3 \
                     RETURNING expires_at",
                )
                .op(OP)?
                .query_row(params![user, device, nonce], |row| row.get(0))
                .optional()
                .op(OP)?;
            Ok(expires_at.is_some_and(|expires_at| expires_at > now))
        })
        .await
    }

    pub(super) async fn put_token(
        &self,
        token_hash: [u8; 32],
        address: &DeviceAddress<'_>,
        expires_at_ms: u64,
    ) -> Result<(), StoreError> {
        const OP: &str = "put_token";
        let (user, device) = key(address);
        let expires_at = sql_time(expires_at_ms);
        self.write(OP, move |conn| {
            if !device_exists(conn, &user, device, OP)? {
                return Err(StoreError::UnknownDevice);
            }
            conn.prepare_cached(
                "INSERT INTO tokens (token_hash, user, device, expires_at) VALUES (?1, ?2, ?3, ?4)",
            )
            .op(OP)?
            .execute(params![token_hash, user, device, expires_at])
            .op(OP)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn token_owner(
        &self,
        token_hash: [u8; 32],
        now_ms: u64,
    ) -> Result<Option<DeviceAddress<'static>>, StoreError> {
        const OP: &str = "token_owner";
        let now = sql_time(now_ms);
        self.read_now(OP, move |conn| {
            let owner: Option<(String, i64)> = conn
                .prepare_cached(
                    "SELECT user, device FROM tokens WHERE token_hash = ?1 AND expires_at > ?2",
                )
                .op(OP)?
                .query_row(params![token_hash, now], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
                .op(OP)?;
            owner
                .map(|(user, device)| {
                    let user = UserId::new(user).map_err(|_| corrupt(OP))?;
                    Ok(DeviceAddress::new(user, device_id(device, OP)?))
                })
                .transpose()
        })
        .await
    }

    pub(super) async fn token_grant(
        &self,
        token_hash: [u8; 32],
        now_ms: u64,
    ) -> Result<Option<TokenGrant>, StoreError> {
        const OP: &str = "token_grant";
        let now = sql_time(now_ms);
        self.read_now(OP, move |conn| {
            let grant: Option<(String, i64, i64, bool)> = conn
                .prepare_cached(
                    "SELECT t.user, t.device, t.expires_at, \
                     EXISTS (SELECT 1 FROM suspended_users s WHERE s.user = t.user) \
                     FROM tokens t WHERE t.token_hash = ?1 AND t.expires_at > ?2",
                )
                .op(OP)?
                .query_row(params![token_hash, now], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .optional()
                .op(OP)?;
            grant
                .map(|(user, device, expires_at, suspended)| {
                    let user = UserId::new(user).map_err(|_| corrupt(OP))?;
                    Ok(TokenGrant {
                        owner: DeviceAddress::new(user, device_id(device, OP)?),
                        expires_at_ms: u64::try_from(expires_at).map_err(|_| corrupt(OP))?,
                        suspended,
                    })
                })
                .transpose()
        })
        .await
    }

    pub(super) async fn revoke_tokens(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<u64, StoreError> {
        const OP: &str = "revoke_tokens";
        let (user, device) = key(address);
        self.write(OP, move |conn| {
            let revoked = conn
                .prepare_cached("DELETE FROM tokens WHERE user = ?1 AND device = ?2")
                .op(OP)?
                .execute(params![user, device])
                .op(OP)?;
            Ok(count_u64(revoked))
        })
        .await
    }
}
