//! The relay's franking stamps: `HMAC-SHA256(key[kid], franking_stamp_input)`.

use std::collections::BTreeMap;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use fuin_wire::{DeliveredRecord, FrankingStamp, StampKeyId};

/// One stamp key: wiped on drop, never shown.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
struct StampKey([u8; 32]);

/// The relay's stamp keys by id. New stamps use the current key; older keys
/// are kept so that the moderation tool (which has its own copy) can still
/// check old stamps, and can be dropped when they expire.
#[derive(Clone)]
pub struct StampKeys {
    keys: BTreeMap<u32, StampKey>,
    current: u32,
}

impl StampKeys {
    /// A set with one key, `id`, as the current key.
    pub fn new(id: StampKeyId, key: [u8; 32]) -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(id.0, StampKey(key));
        Self {
            keys,
            current: id.0,
        }
    }

    /// Adds a key and makes it current (key rotation).
    pub fn rotate(&mut self, id: StampKeyId, key: [u8; 32]) {
        self.keys.insert(id.0, StampKey(key));
        self.current = id.0;
    }

    /// Adds an older key, kept to check the stamps made with it, without
    /// making it current. Returns false, and changes nothing, if `id` is
    /// already taken.
    pub fn add_older(&mut self, id: StampKeyId, key: [u8; 32]) -> bool {
        match self.keys.entry(id.0) {
            std::collections::btree_map::Entry::Occupied(_) => false,
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(StampKey(key));
                true
            }
        }
    }

    /// The ids of every key held, ascending.
    pub fn ids(&self) -> Vec<StampKeyId> {
        self.keys.keys().map(|id| StampKeyId(*id)).collect()
    }

    /// Whether `record`'s stamp is the one its own key id's key gives, compared
    /// in constant time. False for a key id this set does not hold. This is
    /// the check a holder of the keys (the moderation tool) makes on a
    /// reported message's stamp.
    pub fn verify(&self, record: &DeliveredRecord<'_>) -> bool {
        let Some(key) = self.keys.get(&record.stamp_key_id.0) else {
            return false;
        };
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(&key.0) else {
            return false;
        };
        mac.update(&record.stamp_input());
        mac.verify_slice(&record.franking_stamp.0).is_ok()
    }

    /// The check value of the current key: the first 16 bytes of
    /// `HMAC-SHA256(key, "fuin-relay stamp key check v1")`. The database
    /// records it (never the key) so that a relay started with another key
    /// file than the one it stamped with is refused.
    pub fn current_check(&self) -> [u8; 16] {
        self.keys
            .get(&self.current)
            .map(key_check)
            .unwrap_or_default()
    }

    /// The check values of every key held, current and older.
    pub fn checks(&self) -> Vec<[u8; 16]> {
        self.keys.values().map(key_check).collect()
    }

    /// The id new stamps are made with.
    pub fn current_id(&self) -> StampKeyId {
        StampKeyId(self.current)
    }

    /// Stamps `record` (whose `stamp_key_id` is set to the current key) in place.
    pub fn stamp(&self, record: &mut DeliveredRecord<'_>) {
        record.stamp_key_id = self.current_id();
        record.franking_stamp = self.compute(record).unwrap_or(FrankingStamp([0; 32]));
    }

    /// The stamp `record` should carry under its own key id, if that key is known.
    pub fn compute(&self, record: &DeliveredRecord<'_>) -> Option<FrankingStamp> {
        let key = self.keys.get(&record.stamp_key_id.0)?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key.0).ok()?;
        mac.update(&record.stamp_input());
        Some(FrankingStamp(mac.finalize().into_bytes().into()))
    }
}

fn key_check(key: &StampKey) -> [u8; 16] {
    let mut check = [0u8; 16];
    if let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(&key.0) {
        mac.update(b"fuin-relay stamp key check v1");
        check.copy_from_slice(&mac.finalize().into_bytes()[..16]);
    }
    check
}

impl std::fmt::Debug for StampKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StampKeys")
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .field("current", &self.current)
            .finish()
    }
}
