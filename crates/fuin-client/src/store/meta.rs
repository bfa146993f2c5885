//! The `meta` table: plain and encrypted named values, the identity and the prekeys.

use fuin_seal::{DeviceIdentity, PrekeyStore};
use rusqlite::{OptionalExtension, params};
use zeroize::Zeroizing;

use crate::ClientError;

use super::{Reader, storage};

impl<'a> Reader<'a> {
    pub fn put_plain(&self, name: &str, value: &[u8]) -> Result<(), ClientError> {
        self.conn
            .execute(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![name, value],
            )
            .map_err(storage("writing a setting"))?;
        Ok(())
    }

    pub fn plain(&self, name: &str) -> Result<Option<Vec<u8>>, ClientError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE name = ?1", [name], |row| {
                row.get(0)
            })
            .optional()
            .map_err(storage("reading a setting"))
    }

    pub fn put_secret(&self, name: &str, value: &[u8]) -> Result<(), ClientError> {
        let sealed = self.seal(&format!("fuin-client/v1/meta/{name}"), value);
        self.put_plain(name, &sealed)
    }

    pub fn secret(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, ClientError> {
        self.plain(name)?
            .map(|sealed| self.open(&format!("fuin-client/v1/meta/{name}"), &sealed))
            .transpose()
    }

    pub fn put_identity(&self, identity: &DeviceIdentity) -> Result<(), ClientError> {
        self.put_secret("identity", &identity.to_bytes()?)
    }

    pub fn identity(&self) -> Result<DeviceIdentity, ClientError> {
        let bytes = self
            .secret("identity")?
            .ok_or_else(|| ClientError::Storage("the store holds no identity".into()))?;
        Ok(DeviceIdentity::from_bytes(&bytes)?)
    }

    pub fn put_prekeys(&self, prekeys: &PrekeyStore) -> Result<(), ClientError> {
        self.put_secret("prekeys", &prekeys.to_bytes()?)
    }

    pub fn prekeys(&self) -> Result<PrekeyStore, ClientError> {
        let bytes = self
            .secret("prekeys")?
            .ok_or_else(|| ClientError::Storage("the store holds no prekeys".into()))?;
        Ok(PrekeyStore::from_bytes(&bytes)?)
    }

    pub fn put_u64(&self, name: &str, value: u64) -> Result<(), ClientError> {
        self.put_plain(name, &value.to_be_bytes())
    }

    pub fn u64(&self, name: &str) -> Result<Option<u64>, ClientError> {
        self.plain(name)?
            .map(|bytes| {
                <[u8; 8]>::try_from(bytes.as_slice())
                    .map(u64::from_be_bytes)
                    .map_err(|_| ClientError::Storage(format!("setting {name} is malformed")))
            })
            .transpose()
    }
}
