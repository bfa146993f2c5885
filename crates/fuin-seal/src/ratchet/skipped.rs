//! Message keys kept for messages that have not arrived yet, bounded in number
//! and in age.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::keys::MessageKey;
use fuin_wire::X25519PublicKey;

/// The most keys a session keeps for messages that have not arrived. When a
/// new skipped key would exceed it, the oldest one is forgotten (its message,
/// if it ever arrives, then fails as a duplicate).
pub const MAX_SKIPPED_KEYS: usize = 2000;

/// How long a skipped key is kept, in milliseconds (14 days).
pub const SKIPPED_KEY_LIFETIME_MS: u64 = 14 * 24 * 60 * 60 * 1000;

/// Where a message sits: its chain's ratchet key and its number in the chain.
pub type Position = ([u8; 32], u32);

fn expired(stored_ms: u64, now_ms: u64) -> bool {
    now_ms.saturating_sub(stored_ms) > SKIPPED_KEY_LIFETIME_MS
}

/// The kept keys, by position.
#[derive(Default, Clone)]
pub struct SkippedKeys {
    keys: BTreeMap<Position, (MessageKey, u64)>,
}

impl SkippedKeys {
    /// Number of keys kept.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether a key is kept for this position.
    #[cfg(test)]
    pub fn contains(&self, ratchet_key: &X25519PublicKey, counter: u32) -> bool {
        self.keys.contains_key(&(ratchet_key.0, counter))
    }

    /// The key for a position, if kept and not expired at `now_ms`,
    /// without removing it.
    pub fn get_unexpired(
        &self,
        ratchet_key: &X25519PublicKey,
        counter: u32,
        now_ms: u64,
    ) -> Option<&MessageKey> {
        self.keys
            .get(&(ratchet_key.0, counter))
            .filter(|(_, stored)| !expired(*stored, now_ms))
            .map(|(key, _)| key)
    }

    /// How many keys are kept for the chain of `ratchet_key`.
    pub fn count_for_chain(&self, ratchet_key: &X25519PublicKey) -> usize {
        self.keys
            .range((ratchet_key.0, 0)..=(ratchet_key.0, u32::MAX))
            .count()
    }

    /// Removes the key for a position.
    pub fn remove(&mut self, ratchet_key: &X25519PublicKey, counter: u32) {
        self.keys.remove(&(ratchet_key.0, counter));
    }

    /// Keeps `key` for `position`, stored at `now_ms`, forgetting the oldest
    /// keys beyond [`MAX_SKIPPED_KEYS`].
    pub fn insert(&mut self, position: Position, key: MessageKey, now_ms: u64) {
        self.keys.insert(position, (key, now_ms));
        while self.keys.len() > MAX_SKIPPED_KEYS {
            let oldest = self
                .keys
                .iter()
                .min_by_key(|(position, (_, stored))| (*stored, **position))
                .map(|(position, _)| *position);
            match oldest {
                Some(position) => self.keys.remove(&position),
                None => break,
            };
        }
    }

    /// Forgets keys stored more than [`SKIPPED_KEY_LIFETIME_MS`] before `now_ms`.
    pub fn expire(&mut self, now_ms: u64) {
        self.keys.retain(|_, (_, stored)| !expired(*stored, now_ms));
    }

    pub(crate) fn to_saved(&self) -> Vec<SavedSkippedKey> {
        self.keys
            .iter()
            .map(|((ratchet_key, counter), (key, stored))| SavedSkippedKey {
                ratchet_key: *ratchet_key,
                counter: *counter,
                key: *key.expose(),
                stored_at_ms: *stored,
            })
            .collect()
    }

    pub(crate) fn from_saved(saved: &[SavedSkippedKey]) -> Self {
        let keys = saved
            .iter()
            .map(|entry| {
                (
                    (entry.ratchet_key, entry.counter),
                    (MessageKey::from_bytes(entry.key), entry.stored_at_ms),
                )
            })
            .collect();
        Self { keys }
    }
}

/// A skipped key as saved in session state.
#[derive(Serialize, Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub(crate) struct SavedSkippedKey {
    ratchet_key: [u8; 32],
    counter: u32,
    key: [u8; 32],
    stored_at_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_key_goes_first_when_full() {
        let mut skipped = SkippedKeys::default();
        for i in 0..=MAX_SKIPPED_KEYS as u32 {
            skipped.insert(([0; 32], i), MessageKey::from_bytes([1; 32]), u64::from(i));
        }
        assert_eq!(skipped.len(), MAX_SKIPPED_KEYS);
        let key = X25519PublicKey([0; 32]);
        assert!(!skipped.contains(&key, 0));
        assert!(skipped.contains(&key, 1));
        assert!(skipped.contains(&key, MAX_SKIPPED_KEYS as u32));
    }

    #[test]
    fn keys_expire_after_their_lifetime() {
        let mut skipped = SkippedKeys::default();
        skipped.insert(([0; 32], 0), MessageKey::from_bytes([1; 32]), 1000);
        skipped.expire(1000 + SKIPPED_KEY_LIFETIME_MS);
        assert_eq!(skipped.len(), 1);
        skipped.expire(1001 + SKIPPED_KEY_LIFETIME_MS);
        assert_eq!(skipped.len(), 0);
    }
}
