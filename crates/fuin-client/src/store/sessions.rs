//! The `sessions` table: the encrypted sessions with each peer device.

use fuin_seal::Session;
use fuin_wire::{DeviceAddress, DeviceId, UserId};
use rusqlite::params;

use crate::ClientError;

use super::{Reader, SessionSlot, storage};

impl<'a> Reader<'a> {
    fn session_context(address: &DeviceAddress<'_>, slot: i64) -> String {
        format!(
            "fuin-client/v1/session/{}/{}/{slot}",
            address.user.as_str(),
            address.device.0
        )
    }

    /// The devices of `user` this device holds a session with, ascending.
    pub fn session_devices(&self, user: &UserId<'_>) -> Result<Vec<DeviceId>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT DISTINCT device FROM sessions WHERE user = ?1 ORDER BY device")
            .map_err(storage("reading sessions"))?;
        let rows = statement
            .query_map(params![user.as_str()], |row| row.get::<_, i64>(0))
            .map_err(storage("reading sessions"))?;
        let mut out = Vec::new();
        for row in rows {
            let device = row.map_err(storage("reading sessions"))?;
            let device = u32::try_from(device)
                .map_err(|_| ClientError::Storage("a session names an invalid device id".into()))?;
            out.push(DeviceId(device));
        }
        Ok(out)
    }

    /// The sessions with a peer device, most recently used first.
    pub fn sessions(&self, address: &DeviceAddress<'_>) -> Result<Vec<SessionSlot>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT slot, state, last_used FROM sessions WHERE user = ?1 AND device = ?2
                 ORDER BY last_used DESC, slot DESC",
            )
            .map_err(storage("reading sessions"))?;
        let rows = statement
            .query_map(
                params![address.user.as_str(), i64::from(address.device.0)],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, Vec<u8>>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                },
            )
            .map_err(storage("reading sessions"))?;
        let mut out = Vec::new();
        for row in rows {
            let (slot, state, last_used) = row.map_err(storage("reading sessions"))?;
            let bytes = self.open(&Self::session_context(address, slot), &state)?;
            out.push(SessionSlot {
                slot,
                session: Session::from_bytes(&bytes)?,
                last_used,
            });
        }
        Ok(out)
    }

    pub fn put_session(
        &self,
        address: &DeviceAddress<'_>,
        slot: i64,
        session: &Session,
        last_used: i64,
    ) -> Result<(), ClientError> {
        let state = self.seal(&Self::session_context(address, slot), &session.to_bytes()?);
        self.conn
            .execute(
                "INSERT INTO sessions (user, device, slot, state, last_used)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (user, device, slot)
                 DO UPDATE SET state = excluded.state, last_used = excluded.last_used",
                params![
                    address.user.as_str(),
                    i64::from(address.device.0),
                    slot,
                    state,
                    last_used
                ],
            )
            .map_err(storage("writing a session"))?;
        Ok(())
    }

    pub fn delete_session(
        &self,
        address: &DeviceAddress<'_>,
        slot: i64,
    ) -> Result<(), ClientError> {
        self.conn
            .execute(
                "DELETE FROM sessions WHERE user = ?1 AND device = ?2 AND slot = ?3",
                params![address.user.as_str(), i64::from(address.device.0), slot],
            )
            .map_err(storage("deleting a session"))?;
        Ok(())
    }

    pub fn delete_sessions(&self, address: &DeviceAddress<'_>) -> Result<(), ClientError> {
        self.conn
            .execute(
                "DELETE FROM sessions WHERE user = ?1 AND device = ?2",
                params![address.user.as_str(), i64::from(address.device.0)],
            )
            .map_err(storage("deleting sessions"))?;
        Ok(())
    }
}
