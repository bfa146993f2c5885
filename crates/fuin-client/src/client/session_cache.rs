//! The session cache: the sessions of each peer device, loaded once per operation.

use std::collections::{HashMap, HashSet};

use fuin_seal::Session;
use fuin_wire::DeviceAddress;

use crate::ClientError;
use crate::store::{Reader, SessionSlot};

/// Sessions kept per peer device: the newest and the ones before it, so
/// that two devices that started sessions with each other at once still
/// understand each other.
const SESSIONS_PER_DEVICE: usize = 3;

/// The sessions of one operation, loaded once and written back at commit.
#[derive(Default)]
pub(super) struct SessionCache {
    slots: HashMap<DeviceAddress<'static>, Vec<SessionSlot>>,
    dirty: HashSet<(DeviceAddress<'static>, i64)>,
    removed: Vec<(DeviceAddress<'static>, i64)>,
}

impl SessionCache {
    pub(super) fn load(
        &mut self,
        db: Reader<'_>,
        address: &DeviceAddress<'static>,
    ) -> Result<&mut Vec<SessionSlot>, ClientError> {
        if !self.slots.contains_key(address) {
            let slots = db.sessions(address)?;
            self.slots.insert(address.clone(), slots);
        }
        self.slots
            .get_mut(address)
            .ok_or_else(|| ClientError::Storage("session cache".into()))
    }

    /// Adds a new session as the most recent, forgetting the oldest beyond
    /// [`SESSIONS_PER_DEVICE`].
    pub(super) fn add(
        &mut self,
        db: Reader<'_>,
        address: &DeviceAddress<'static>,
        session: Session,
        now: i64,
    ) -> Result<(), ClientError> {
        let slots = self.load(db, address)?;
        let slot = slots.iter().map(|s| s.slot).max().map_or(0, |max| max + 1);
        slots.insert(
            0,
            SessionSlot {
                slot,
                session,
                last_used: now,
            },
        );
        let mut removed = Vec::new();
        while slots.len() > SESSIONS_PER_DEVICE {
            if let Some(old) = slots.pop() {
                removed.push((address.clone(), old.slot));
            }
        }
        self.dirty.insert((address.clone(), slot));
        for gone in &removed {
            self.dirty.remove(gone);
        }
        self.removed.extend(removed);
        Ok(())
    }

    pub(super) fn touch(&mut self, address: &DeviceAddress<'static>, index: usize, now: i64) {
        if let Some(slots) = self.slots.get_mut(address) {
            if let Some(slot) = slots.get_mut(index) {
                slot.last_used = now.max(slot.last_used);
                self.dirty.insert((address.clone(), slot.slot));
            }
            // Most recently used first.
            slots.sort_by(|a, b| b.last_used.cmp(&a.last_used).then(b.slot.cmp(&a.slot)));
        }
    }

    pub(super) fn write(&self, db: Reader<'_>) -> Result<(), ClientError> {
        for (address, slot) in &self.removed {
            db.delete_session(address, *slot)?;
        }
        for (address, slot) in &self.dirty {
            if let Some(found) = self
                .slots
                .get(address)
                .and_then(|slots| slots.iter().find(|s| s.slot == *slot))
            {
                db.put_session(address, found.slot, &found.session, found.last_used)?;
            }
        }
        Ok(())
    }
}
