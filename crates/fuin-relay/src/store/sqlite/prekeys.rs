//! The SQLite store's signed, one-time and KEM prekeys.

use fuin_wire::{
    DeviceAddress, Ed25519Signature, KemPrekey, MlKemPublicKey, OneTimePrekey, SignedPrekey,
    X25519PublicKey,
};
use rusqlite::{Connection, OptionalExtension, params};

use super::devices::{checked_identity, device_exists};
use super::{Op, SqliteStore, fixed, key, prekey_id};
use crate::store::{NewPrekeys, PrekeyCounts, StoreError, TakenBundle};

impl SqliteStore {
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
        let signed_prekey = prekeys.signed_prekey.cloned();
        let one_time_prekeys = prekeys.one_time_prekeys.to_vec();
        let last_resort_kem = prekeys.last_resort_kem_prekey.cloned();
        let one_time_kem = prekeys.one_time_kem_prekeys.to_vec();
        self.write(OP, move |conn| {
            if !device_exists(conn, &user, device, OP)? {
                return Err(StoreError::UnknownDevice);
            }
            let before = counts(conn, &user, device, OP)?;
            if let Some(signed) = signed_prekey {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO signed_prekeys \
                     (user, device, id, public_key, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .op(OP)?
                .execute(params![
                    user,
                    device,
                    signed.id.0,
                    signed.public_key.0,
                    signed.signature.0
                ])
                .op(OP)?;
            }
            let mut insert = conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO one_time_prekeys (user, device, id, public_key) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .op(OP)?;
            for prekey in &one_time_prekeys {
                insert
                    .execute(params![user, device, prekey.id.0, prekey.public_key.0])
                    .op(OP)?;
            }
            if let Some(kem) = last_resort_kem {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO last_resort_kem_prekeys \
                     (user, device, id, public_key, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .op(OP)?
                .execute(params![
                    user,
                    device,
                    kem.id.0,
                    kem.public_key.0.as_slice(),
                    kem.signature.0
                ])
                .op(OP)?;
            }
            let mut insert_kem = conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO one_time_kem_prekeys \
                     (user, device, id, public_key, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .op(OP)?;
            for kem in &one_time_kem {
                insert_kem
                    .execute(params![
                        user,
                        device,
                        kem.id.0,
                        kem.public_key.0.as_slice(),
                        kem.signature.0
                    ])
                    .op(OP)?;
            }
            let after = counts(conn, &user, device, OP)?;
            // The write's savepoint rolls all of it back.
            if after.one_time > max_pool && after.one_time > before.one_time {
                return Err(StoreError::PrekeyPoolFull);
            }
            if after.one_time_kem > max_pool && after.one_time_kem > before.one_time_kem {
                return Err(StoreError::KemPrekeyPoolFull);
            }
            Ok(after)
        })
        .await
    }

    pub(super) async fn take_bundle(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<Option<TakenBundle>, StoreError> {
        const OP: &str = "take_bundle";
        let (user, device) = key(address);
        // One write: the single writer runs it whole, so no two callers
        // read the same one-time prekey of either kind.
        self.write(OP, move |conn| {
            let Some(identity) = checked_identity(conn, &user, device, OP)? else {
                return Ok(None);
            };
            let signed: Option<(i64, Vec<u8>, Vec<u8>)> = conn
                .prepare_cached(
                    "SELECT id, public_key, signature FROM signed_prekeys \
                     WHERE user = ?1 AND device = ?2",
                )
                .op(OP)?
                .query_row(params![user, device], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .optional()
                .op(OP)?;
            let Some((id, public_key, signature)) = signed else {
                return Ok(None);
            };
            let signed_prekey = SignedPrekey {
                id: prekey_id(id, OP)?,
                public_key: X25519PublicKey(fixed(public_key, OP)?),
                signature: Ed25519Signature(fixed(signature, OP)?),
            };
            let one_time: Option<(i64, Vec<u8>)> = conn
                .prepare_cached(
                    "SELECT id, public_key FROM one_time_prekeys \
                     WHERE user = ?1 AND device = ?2 ORDER BY id LIMIT 1",
                )
                .op(OP)?
                .query_row(params![user, device], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
                .op(OP)?;
            let one_time_prekey = match one_time {
                None => None,
                Some((id, public_key)) => {
                    conn.prepare_cached(
                        "DELETE FROM one_time_prekeys WHERE user = ?1 AND device = ?2 AND id = ?3",
                    )
                    .op(OP)?
                    .execute(params![user, device, id])
                    .op(OP)?;
                    Some(OneTimePrekey {
                        id: prekey_id(id, OP)?,
                        public_key: X25519PublicKey(fixed(public_key, OP)?),
                    })
                }
            };
            let kem_prekey = take_kem_prekey(conn, &user, device, OP)?;
            Ok(Some(TakenBundle {
                identity,
                signed_prekey,
                one_time_prekey,
                kem_prekey,
            }))
        })
        .await
    }

    pub(super) async fn one_time_remaining(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<u32, StoreError> {
        const OP: &str = "one_time_remaining";
        let (user, device) = key(address);
        self.read(OP, move |conn| count_one_time(conn, &user, device, OP))
            .await
    }

    pub(super) async fn prekey_counts(
        &self,
        address: &DeviceAddress<'_>,
    ) -> Result<PrekeyCounts, StoreError> {
        const OP: &str = "prekey_counts";
        let (user, device) = key(address);
        self.read_now(OP, move |conn| counts(conn, &user, device, OP))
            .await
    }
}

/// A KEM prekey row: id, public key, signature.
type KemRow = (i64, Vec<u8>, Vec<u8>);

/// Takes the lowest one-time KEM prekey out of the pool, or else reads the
/// last-resort one (which stays).
fn take_kem_prekey(
    conn: &Connection,
    user: &str,
    device: i64,
    name: &'static str,
) -> Result<Option<KemPrekey>, StoreError> {
    let one_time: Option<KemRow> = conn
        .prepare_cached(
            "SELECT id, public_key, signature FROM one_time_kem_prekeys \
             WHERE user = ?1 AND device = ?2 ORDER BY id LIMIT 1",
        )
        .op(name)?
        .query_row(params![user, device], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()
        .op(name)?;
    let row = match one_time {
        Some(row) => {
            conn.prepare_cached(
                "DELETE FROM one_time_kem_prekeys WHERE user = ?1 AND device = ?2 AND id = ?3",
            )
            .op(name)?
            .execute(params![user, device, row.0])
            .op(name)?;
            row
        }
        None => {
            let last_resort: Option<KemRow> = conn
                .prepare_cached(
                    "SELECT id, public_key, signature FROM last_resort_kem_prekeys \
                     WHERE user = ?1 AND device = ?2",
                )
                .op(name)?
                .query_row(params![user, device], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .optional()
                .op(name)?;
            let Some(row) = last_resort else {
                return Ok(None);
            };
            row
        }
    };
    let (id, public_key, signature) = row;
    Ok(Some(KemPrekey {
        id: prekey_id(id, name)?,
        public_key: MlKemPublicKey(fixed(public_key, name)?),
        signature: Ed25519Signature(fixed(signature, name)?),
    }))
}

fn counts(
    conn: &Connection,
    user: &str,
    device: i64,
    name: &'static str,
) -> Result<PrekeyCounts, StoreError> {
    let one_time_kem: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM one_time_kem_prekeys WHERE user = ?1 AND device = ?2")
        .op(name)?
        .query_row(params![user, device], |row| row.get(0))
        .op(name)?;
    let last_resort_kem: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM last_resort_kem_prekeys WHERE user = ?1 AND device = ?2",
        )
        .op(name)?
        .query_row(params![user, device], |row| row.get(0))
        .op(name)?;
    Ok(PrekeyCounts {
        one_time: count_one_time(conn, user, device, name)?,
        one_time_kem: u32::try_from(one_time_kem).unwrap_or(u32::MAX),
        last_resort_kem: last_resort_kem > 0,
    })
}

fn count_one_time(
    conn: &Connection,
    user: &str,
    device: i64,
    name: &'static str,
) -> Result<u32, StoreError> {
    let count: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM one_time_prekeys WHERE user = ?1 AND device = ?2")
        .op(name)?
        .query_row(params![user, device], |row| row.get(0))
        .op(name)?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}
