//! Message keys kept for group messages that have not arrived yet, bounded
//! per chain, per group and in age.

use std::collections::BTreeMap;

use fuin_wire::DeviceAddress;

use super::chain::GroupMessageKey;
use crate::SKIPPED_KEY_LIFETIME_MS;

/// The most message keys one received group message may leave kept for its
/// sender's chain (those kept already included).
pub const MAX_GROUP_SKIP: u32 = 1000;

/// The most kept keys in one group's state, over all chains. Each insertion
/// beyond it evicts the oldest key.
pub const MAX_GROUP_SKIPPED_KEYS: usize = 4000;

/// Where a group message sits: epoch, sender, iteration.
pub type GroupPosition = (u64, DeviceAddress<'static>, u32);

fn expired(stored_ms: u64, now_ms: u64) -> bool {
    now_ms.saturating_sub(stored_ms) > SKIPPED_KEY_LIFETIME_MS
}

/// The kept keys, by position.
#[derive(Default, Clone)]
pub struct GroupSkippedKeys {
    keys: BTreeMap<GroupPosition, (GroupMessageKey, u64)>,
}

impl GroupSkippedKeys {
    /// Number of keys kept.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key for a position, if kept and not expired at `now_ms`.
    pub fn get_unexpired(
        &self,
        epoch: u64,
        sender: &DeviceAddress<'static>,
        iteration: u32,
        now_ms: u64,
    ) -> Option<&GroupMessageKey> {
        self.keys
            .get(&(epoch, sender.clone(), iteration))
            .filter(|(_, stored)| !expired(*stored, now_ms))
            .map(|(key, _)| key)
    }

    /// How many keys are kept for one chain.
    pub fn count_for_chain(&self, epoch: u64, sender: &DeviceAddress<'static>) -> usize {
        self.keys
            .range((epoch, sender.clone(), 0)..=(epoch, sender.clone(), u32::MAX))
            .count()
    }

    /// Removes the key for a position.
    pub fn remove(&mut self, position: &GroupPosition) {
        self.keys.remove(position);
    }

    /// Keeps `key` for `position`, stored at `now_ms`, forgetting the oldest
    /// keys beyond [`MAX_GROUP_SKIPPED_KEYS`] (ties: the smaller position).
    pub fn insert(&mut self, position: GroupPosition, key: GroupMessageKey, now_ms: u64) {
        self.keys.insert(position, (key, now_ms));
        while self.keys.len() > MAX_GROUP_SKIPPED_KEYS {
            let oldest = self
                .keys
                .iter()
                .min_by(|(a, (_, a_stored)), (b, (_, b_stored))| {
                    a_stored.cmp(b_stored).then_with(|| a.cmp(b))
                })
                .map(|(position, _)| position.clone());
            match oldest {
                Some(position) => self.keys.remove(&position),
                None => break,
            };
        }
    }

    /// Forgets keys older than the lifetime, and keys of chains `keep` says
    /// no (epochs left behind, departed senders).
    pub fn retain(&mut self, now_ms: u64, keep: impl Fn(u64, &DeviceAddress<'static>) -> bool) {
        self.keys.retain(|(epoch, sender, _), (_, stored)| {
            !expired(*stored, now_ms) && keep(*epoch, sender)
        });
    }

    pub(crate) fn iter(
        &self,
    ) -> impl Iterator<Item = (&GroupPosition, &GroupMessageKey, u64)> + '_ {
        self.keys
            .iter()
            .map(|(position, (key, stored))| (position, key, *stored))
    }

    pub(crate) fn from_entries(
        entries: impl IntoIterator<Item = (GroupPosition, GroupMessageKey, u64)>,
    ) -> Self {
        Self {
            keys: entries
                .into_iter()
                .map(|(position, key, stored)| (position, (key, stored)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuin_wire::{DeviceId, UserId};

    fn alice() -> DeviceAddress<'static> {
        DeviceAddress::new(UserId::new("alice").unwrap(), DeviceId(1))
    }

    #[test]
    fn the_oldest_key_goes_first_when_full() {
        let mut skipped = GroupSkippedKeys::default();
        for i in 0..=MAX_GROUP_SKIPPED_KEYS as u32 {
            skipped.insert(
                (0, alice(), i),
                GroupMessageKey::from_bytes([1; 32]),
                u64::from(i),
            );
        }
        assert_eq!(skipped.len(), MAX_GROUP_SKIPPED_KEYS);
        assert!(skipped.get_unexpired(0, &alice(), 0, 0).is_none());
        assert!(skipped.get_unexpired(0, &alice(), 1, 1).is_some());
    }

    #[test]
    fn keys_expire_and_chains_are_forgotten() {
        let mut skipped = GroupSkippedKeys::default();
        skipped.insert((0, alice(), 0), GroupMessageKey::from_bytes([1; 32]), 1000);
        skipped.insert((1, alice(), 0), GroupMessageKey::from_bytes([1; 32]), 1000);
        skipped.retain(1000 + SKIPPED_KEY_LIFETIME_MS, |epoch, _| epoch == 1);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped.count_for_chain(1, &alice()), 1);
        skipped.retain(1001 + SKIPPED_KEY_LIFETIME_MS, |_, _| true);
        assert_eq!(skipped.len(), 0);
    }
}
