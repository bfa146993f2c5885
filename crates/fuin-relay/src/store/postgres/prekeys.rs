//! The PostgreSQL store's signed, one-time and KEM prekeys.

use std::collections::BTreeMap;

use fuin_wire::{
    DeviceAddress, Ed25519Signature, KemPrekey, MlKemPublicKey, OneTimePrekey, SignedPrekey,
    X25519PublicKey,
};

use super::devices::identity_from_bytes;
use super::health;
use super::locks::{PREKEY_LOCK_DOMAIN, device_lock};
use super::{Op, PostgresStore, fixed, key, prekey_id};
use crate::store::{NewPrekeys, PrekeyCounts, StoreError, TakenBundle};

impl PostgresStore {
    pub(super) async fn publish_prekeys(
        &self,
        address: &DeviceAddress<'_>,
        signed_prekey: Option<&SignedPrekey>,
        one_time_prekeys: &[OneTimePrekey],
    ) -> Result<u32, StoreError> {
        self.publish_prekeys_within_quota(address, signed_prekey, one_time_prekeys, u32::MAX)
            .await
    }

    pub(super) async fn publish_prekeys_within_quota(
        &self,
        address: &DeviceAddress<'_>,
        signed_prekey: Option<&SignedPrekey>,
        one_time_prekeys: &[OneTimePrekey],
        max_pool: u32,
    ) -> Result<u32, StoreError> {
        let prekeys = NewPrekeys {
            signed_prekey,
            one_time_prekeys,
            ..NewPrekeys::default()
        };
        let counts = self
            .publish_prekey_upload(address, prekeys, max_pool)
            .await?;
        Ok(counts.one_time)
    }

    pub(super) async fn publish_prekey_upload(
        &self,
        address: &DeviceAddress<'_>,
        prekeys: NewPrekeys<'_>,
        max_pool: u32,
    ) -> Result<PrekeyCounts, StoreError> {
        const OP: &str = "publish_prekeys";
        let (user, device) = key(address);
        let signed_prekey = prekeys.signed_prekey;
        // One row per id, the last one given winning (as a replacement would).
        let one_time: BTreeMap<i64, Vec<u8>> = prekeys
            .one_time_prekeys
            .iter()
            .map(|prekey| (i64::from(prekey.id.0), prekey.public_key.0.to_vec()))
            .collect();
        let (ids, keys): (Vec<i64>, Vec<Vec<u8>>) = one_time.into_iter().unzip();
        let one_time_kem: BTreeMap<i64, (Vec<u8>, Vec<u8>)> = prekeys
            .one_time_kem_prekeys
            .iter()
            .map(|kem| {
                (
                    i64::from(kem.id.0),
                    (kem.public_key.0.to_vec(), kem.signature.0.to_vec()),
                )
            })
            .collect();
        let mut kem_ids = Vec::with_capacity(one_time_kem.len());
        let mut kem_keys = Vec::with_capacity(one_time_kem.len());
        let mut kem_signatures = Vec::with_capacity(one_time_kem.len());
        for (id, (public_key, signature)) in one_time_kem {
            kem_ids.push(id);
            kem_keys.push(public_key);
            kem_signatures.push(signature);
        }

        let mut client = self.client(OP).await?;
        let transaction = client.transaction().await.op(OP)?;
        let exists = transaction
            .prepare_cached("SELECT 1 FROM devices WHERE user_id = $1 AND device = $2")
            .await
            .op(OP)?;
        if transaction
            .query_opt(&exists, &[&user, &device])
            .await
            .op(OP)?
            .is_none()
        {
            return Err(StoreError::UnknownDevice);
        }
        // Uploads of one device queue here, so that two cannot both pass
        // the quota.
        let lock = transaction
            .prepare_cached("SELECT pg_advisory_xact_lock($1)")
            .await
            .op(OP)?;
        transaction
            .execute(&lock, &[&device_lock(PREKEY_LOCK_DOMAIN, address)])
            .await
            .op(OP)?;
        let before = counts(&transaction, &user, device, OP).await?;
        if let Some(signed) = signed_prekey {
            let upsert = transaction
                .prepare_cached(
                    "INSERT INTO signed_prekeys (user_id, device, id, public_key, signature) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, device) DO UPDATE SET \
                     id = EXCLUDED.id, public_key = EXCLUDED.public_key, \
                     signature = EXCLUDED.signature",
                )
                .await
                .op(OP)?;
            transaction
                .execute(
                    &upsert,
                    &[
                        &user,
                        &device,
                        &i64::from(signed.id.0),
                        &signed.public_key.0.as_slice(),
                        &signed.signature.0.as_slice(),
                    ],
                )
                .await
                .op(OP)?;
        }
        if !ids.is_empty() {
            let upsert = transaction
                .prepare_cached(
                    "INSERT INTO one_time_prekeys (user_id, device, id, public_key) \
                     SELECT $1, $2, id, public_key \
                     FROM unnest($3::bigint[], $4::bytea[]) AS given (id, public_key) \
                     ON CONFLICT (user_id, device, id) \
                     DO UPDATE SET public_key = EXCLUDED.public_key",
                )
                .await
                .op(OP)?;
            transaction
                .execute(&upsert, &[&user, &device, &ids, &keys])
                .await
                .op(OP)?;
        }
        if let Some(kem) = prekeys.last_resort_kem_prekey {
            let upsert = transaction
                .prepare_cached(
                    "INSERT INTO last_resort_kem_prekeys \
                     (user_id, device, id, public_key, signature) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, device) DO UPDATE SET \
                     id = EXCLUDED.id, public_key = EXCLUDED.public_key, \
                     signature = EXCLUDED.signature",
                )
                .await
                .op(OP)?;
            transaction
                .execute(
                    &upsert,
                    &[
                        &user,
                        &device,
                        &i64::from(kem.id.0),
                        &kem.public_key.0.as_slice(),
                        &kem.signature.0.as_slice(),
                    ],
                )
                .await
                .op(OP)?;
        }
        if !kem_ids.is_empty() {
            let upsert = transaction
                .prepare_cached(
                    "INSERT INTO one_time_kem_prekeys \
                     (user_id, device, id, public_key, signature) \
                     SELECT $1, $2, id, public_key, signature \
                     FROM unnest($3::bigint[], $4::bytea[], $5::bytea[]) \
                       AS given (id, public_key, signature) \
                     ON CONFLICT (user_id, device, id) DO UPDATE SET \
                     public_key = EXCLUDED.public_key, signature = EXCLUDED.signature",
                )
                .await
                .op(OP)?;
            transaction
                .execute(
                    &upsert,
                    &[&user, &device, &kem_ids, &kem_keys, &kem_signatures],
                )
                .await
                .op(OP)?;
        }
        let after = counts(&transaction, &user, device, OP).await?;
        // Dropping the transaction rolls all of it back.
        if after.one_time > max_pool && after.one_time > before.one_time {
            return Err(StoreError::PrekeyPoolFull);
        }
        if after.one_time_kem > max_pool && after.one_time_kem > before.one_time_kem {
            return Err(StoreError::KemPrekeyPoolFull);
        }
        health::commit(transaction, OP).await?;
        Ok(after)
    }

    pub(super) async fn take_bundle(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<Option<TakenBundle>, StoreError> {
        const OP: &str = "take_bundle";
        let (user, device) = key(address);
        let client = self.client(OP).await?;
        // An identity that fails its checksum is refused before a one-time
        // prekey is taken.
        if super::devices::checked_identity(&client, &user, device, OP)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        // One statement: the bundle's parts, and the lowest one-time prekey
        // and one-time KEM prekey no one else is taking, deleted (and so
        // returned) only if there is a bundle, with the last-resort KEM
        // prekey for when the KEM pool is empty. `RETURNING` yields a row
        // only to the statement that deleted it.
        let take = client
            .prepare_cached(
                "WITH bundle AS ( \
                     SELECT d.identity, s.id, s.public_key, s.signature \
                     FROM devices d JOIN signed_prekeys s \
                       ON s.user_id = d.user_id AND s.device = d.device \
                     WHERE d.user_id = $1 AND d.device = $2 \
                 ), taken AS ( \
                     DELETE FROM one_time_prekeys \
                     WHERE (user_id, device, id) = ( \
                         SELECT user_id, device, id FROM one_time_prekeys \
                         WHERE user_id = $1 AND device = $2 AND EXISTS (SELECT 1 FROM bundle) \
                         ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
                     RETURNING id, public_key \
                 ), kem_taken AS ( \
                     DELETE FROM one_time_kem_prekeys \
                     WHERE (user_id, device, id) = ( \
                         SELECT user_id, device, id FROM one_time_kem_prekeys \
                         WHERE user_id = $1 AND device = $2 AND EXISTS (SELECT 1 FROM bundle) \
                         ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
                     RETURNING id, public_key, signature \
                 ), last_resort AS ( \
                     SELECT id, public_key, signature FROM last_resort_kem_prekeys \
                     WHERE user_id = $1 AND device = $2 \
                 ) \
                 SELECT b.identity, b.id, b.public_key, b.signature, t.id, t.public_key, \
                     k.id, k.public_key, k.signature, l.id, l.public_key, l.signature \
                 FROM bundle b LEFT JOIN taken t ON TRUE LEFT JOIN kem_taken k ON TRUE \
                 LEFT JOIN last_resort l ON TRUE",
            )
            .await
            .op(OP)?;
        let Some(row) = client.query_opt(&take, &[&user, &device]).await.op(OP)? else {
            return Ok(None);
        };
        let identity = identity_from_bytes(&row.try_get::<_, Vec<u8>>(0).op(OP)?, OP)?;
        let signed_prekey = SignedPrekey {
            id: prekey_id(row.try_get(1).op(OP)?, OP)?,
            public_key: X25519PublicKey(fixed(&row, 2, OP)?),
            signature: Ed25519Signature(fixed(&row, 3, OP)?),
        };
        let one_time_prekey = match row.try_get::<_, Option<i64>>(4).op(OP)? {
            None => None,
            Some(id) => Some(OneTimePrekey {
                id: prekey_id(id, OP)?,
                public_key: X25519PublicKey(fixed(&row, 5, OP)?),
            }),
        };
        // The one-time KEM prekey taken, else the last-resort one.
        let kem_prekey = match kem_from_row(&row, 6, OP)? {
            Some(kem) => Some(kem),
            None => kem_from_row(&row, 9, OP)?,
        };
        Ok(Some(TakenBundle {
            identity,
            signed_prekey,
            one_time_prekey,
            kem_prekey,
        }))
    }

    pub(super) async fn prekey_counts(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<PrekeyCounts, StoreError> {
        const OP: &str = "prekey_counts";
        let (user, device) = key(address);
        let client = self.client(OP).await?;
        counts(&client, &user, device, OP).await
    }

    pub(super) async fn one_time_remaining(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<u32, StoreError> {
        const OP: &str = "one_time_remaining";
        let (user, device) = key(address);
        let client = self.client(OP).await?;
        count_one_time(&client, &user, device, OP).await
    }
}

async fn count_one_time(
    client: &impl deadpool_postgres::GenericClient,
    user: &str,
    device: i64,
    name: &'static str,
) -> Result<u32, StoreError> {
    let select = client
        .prepare_cached("SELECT COUNT(*) FROM one_time_prekeys WHERE user_id = $1 AND device = $2")
        .await
        .op(name)?;
    let count: i64 = client
        .query_one(&select, &[&user, &device])
        .await
        .op(name)?
        .try_get(0)
        .op(name)?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

/// The KEM prekey in columns `first..first + 3` (id, key, signature), if
/// the id is not null.
fn kem_from_row(
    row: &tokio_postgres::Row,
    first: usize,
    name: &'static str,
) -> Result<Option<KemPrekey>, StoreError> {
    let Some(id) = row.try_get::<_, Option<i64>>(first).op(name)? else {
        return Ok(None);
    };
    Ok(Some(KemPrekey {
        id: prekey_id(id, name)?,
        public_key: MlKemPublicKey(fixed(row, first + 1, name)?),
        signature: Ed25519Signature(fixed(row, first + 2, name)?),
    }))
}

async fn counts(
    client: &impl deadpool_postgres::GenericClient,
    user: &str,
    device: i64,
    name: &'static str,
) -> Result<PrekeyCounts, StoreError> {
    let select = client
        .prepare_cached(
            "SELECT (SELECT COUNT(*) FROM one_time_prekeys WHERE user_id = $1 AND device = $2), \
                    (SELECT COUNT(*) FROM one_time_kem_prekeys WHERE user_id = $1 AND device = $2), \
                    EXISTS (SELECT 1 FROM last_resort_kem_prekeys \
                            WHERE user_id = $1 AND device = $2)",
        )
        .await
        .op(name)?;
    let row = client
        .query_one(&select, &[&user, &device])
        .await
        .op(name)?;
    let one_time: i64 = row.try_get(0).op(name)?;
    let one_time_kem: i64 = row.try_get(1).op(name)?;
    Ok(PrekeyCounts {
        one_time: u32::try_from(one_time).unwrap_or(u32::MAX),
        one_time_kem: u32::try_from(one_time_kem).unwrap_or(u32::MAX),
        last_resort_kem: row.try_get(2).op(name)?,
    })
}
