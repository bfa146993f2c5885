//! The PostgreSQL store's authentication challenges and bearer tokens.

use fuin_wire::{DeviceAddress, UserId};

use super::health;
use super::locks::{CHALLENGE_LOCK_DOMAIN, device_lock};
use super::{Op, PostgresStore, corrupt, device_id, key, sql_time};
use crate::store::{StoreError, TokenGrant};

impl PostgresStore {
    pub(super) async fn put_challenge(
        &self,
        address: &DeviceAddress<'_>,
        nonce: [u8; 32],
        expires_at_ms: u64,
    ) -> Result<(), StoreError> {
        const OP: &str = "put_challenge";
        let (user, device) = key(address);
        let expires_at = sql_time(expires_at_ms);
        let client = self.client(OP).await?;
        let upsert = client
            .prepare_cached(
                "INSERT INTO challenges (user_id, device, nonce, expires_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, device, nonce) \
                 DO UPDATE SET expires_at = EXCLUDED.expires_at",
            )
            .await
            .op(OP)?;
        client
            .execute(&upsert, &[&user, &device, &nonce.as_slice(), &expires_at])
            .await
            .op(OP)?;
        Ok(())
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
        let mut client = self.client(OP).await?;
        let transaction = client.transaction().await.op(OP)?;
        // Challenges of one device are issued one at a time, so that the
        // bound holds across nodes.
        let lock = transaction
            .prepare_cached("SELECT pg_advisory_xact_lock($1)")
            .await
            .op(OP)?;
        transaction
            .execute(&lock, &[&device_lock(CHALLENGE_LOCK_DOMAIN, address)])
            .await
            .op(OP)?;
        let upsert = transaction
            .prepare_cached(
                "INSERT INTO challenges (user_id, device, nonce, expires_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, device, nonce) \
                 DO UPDATE SET expires_at = EXCLUDED.expires_at",
            )
            .await
            .op(OP)?;
        transaction
            .execute(&upsert, &[&user, &device, &nonce.as_slice(), &expires_at])
            .await
            .op(OP)?;
        let trim = transaction
            .prepare_cached(
                "DELETE FROM challenges WHERE user_id = $1 AND device = $2 AND nonce NOT IN ( \
                     SELECT nonce FROM challenges WHERE user_id = $1 AND device = $2 \
                     ORDER BY nonce = $3 DESC, expires_at DESC, nonce DESC LIMIT $4)",
            )
            .await
            .op(OP)?;
        transaction
            .execute(&trim, &[&user, &device, &nonce.as_slice(), &keep])
            .await
            .op(OP)?;
        health::commit(transaction, OP).await
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
        let client = self.client(OP).await?;
        let delete = client
            .prepare_cached(
                "DELETE FROM challenges WHERE user_id = $1 AND device = $2 AND nonce = $3 \
                 RETURNING expires_at",
            )
            .await
            .op(OP)?;
        let expires_at: Option<i64> = client
            .query_opt(&delete, &[&user, &device, &nonce.as_slice()])
            .await
            .op(OP)?
            .map(|row| row.try_get(0).op(OP))
            .transpose()?;
        Ok(expires_at.is_some_and(|expires_at| expires_at > now))
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
        let client = self.client(OP).await?;
        let insert = client
            .prepare_cached(
                "INSERT INTO tokens (token_hash, user_id, device, expires_at) \
                 SELECT $1::bytea, $2::text, $3::bigint, $4::bigint \
                 WHERE EXISTS (SELECT 1 FROM devices WHERE user_id = $2 AND device = $3)",
            )
            .await
            .op(OP)?;
        let inserted = client
            .execute(
                &insert,
                &[&token_hash.as_slice(), &user, &device, &expires_at],
            )
            .await
            .op(OP)?;
        if inserted == 0 {
            return Err(StoreError::UnknownDevice);
        }
        Ok(())
    }

    pub(super) async fn token_owner(
        &self,
        token_hash: [u8; 32],
        now_ms: u64,
    ) -> Result<Option<DeviceAddress<'static>>, StoreError> {
        const OP: &str = "token_owner";
        let now = sql_time(now_ms);
        let client = self.client(OP).await?;
        let select = client
            .prepare_cached(
                "SELECT user_id, device FROM tokens WHERE token_hash = $1 AND expires_at > $2",
            )
            .await
            .op(OP)?;
        client
            .query_opt(&select, &[&token_hash.as_slice(), &now])
            .await
            .op(OP)?
            .map(|row| {
                let user: String = row.try_get(0).op(OP)?;
                let user = UserId::new(user).map_err(|_| corrupt(OP))?;
                Ok(DeviceAddress::new(
                    user,
                    device_id(row.try_get(1).op(OP)?, OP)?,
                ))
            })
            .transpose()
    }

    pub(super) async fn token_grant(
        &self,
        token_hash: [u8; 32],
        now_ms: u64,
    ) -> Result<Option<TokenGrant>, StoreError> {
        const OP: &str = "token_grant";
        let now = sql_time(now_ms);
        let client = self.client(OP).await?;
        let select = client
            .prepare_cached(
                "SELECT t.user_id, t.device, t.expires_at, \
                 EXISTS (SELECT 1 FROM suspended_users s WHERE s.user_id = t.user_id) \
                 FROM tokens t WHERE t.token_hash = $1 AND t.expires_at > $2",
            )
            .await
            .op(OP)?;
        client
            .query_opt(&select, &[&token_hash.as_slice(), &now])
            .await
            .op(OP)?
            .map(|row| {
                let user: String = row.try_get(0).op(OP)?;
                let user = UserId::new(user).map_err(|_| corrupt(OP))?;
                let expires_at: i64 = row.try_get(2).op(OP)?;
                Ok(TokenGrant {
                    owner: DeviceAddress::new(user, device_id(row.try_get(1).op(OP)?, OP)?),
                    expires_at_ms: u64::try_from(expires_at).map_err(|_| corrupt(OP))?,
                    suspended: row.try_get(3).op(OP)?,
                })
            })
            .transpose()
    }

    pub(super) async fn revoke_tokens(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<u64, StoreError> {
        const OP: &str = "revoke_tokens";
        let (user, device) = key(address);
        let payloads = self.notifier.device_payloads(std::iter::once(address));
        let mut client = self.client(OP).await?;
        let transaction = client.transaction().await.op(OP)?;
        let delete = transaction
            .prepare_cached("DELETE FROM tokens WHERE user_id = $1 AND device = $2")
            .await
            .op(OP)?;
        let revoked = transaction
            .execute(&delete, &[&user, &device])
            .await
            .op(OP)?;
        // The other nodes hear of it at commit and end the streams and long
        // polls opened with these tokens.
        let notify = transaction
            .prepare_cached("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .await
            .op(OP)?;
        transaction
            .execute(&notify, &[&self.notifier.channel(), &payloads])
            .await
            .op(OP)?;
        transaction.commit().await.op(OP)?;
        Ok(revoked)
    }
}
