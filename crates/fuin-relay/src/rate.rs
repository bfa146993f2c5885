//! Token buckets by key, in memory, with a bounded number of keys.
//!
//! Each key (a device, a client address) has a bucket that refills at `rate`
//! tokens a second up to `burst`; a request takes one token or is refused.
//! A bucket that has refilled to `burst` says nothing a fresh one would not,
//! so it can be forgotten: [`RateLimiter::prune`] drops those, and a limiter
//! also prunes itself whenever its map has doubled since the last pruning.
//! If the map is still at its cap after pruning, new keys share one overflow
//! bucket: memory stays bounded, and the keys over the cap are still limited
//! (together) rather than not at all.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};

/// Below this many keys a limiter does not bother pruning on insert.
const PRUNE_FLOOR: usize = 1024;

/// Token buckets by key. See the [module documentation](self).
#[derive(Debug)]
pub struct RateLimiter<K> {
    rate: f64,
    burst: f64,
    max_keys: usize,
    state: Mutex<Buckets<K>>,
}

#[derive(Debug)]
struct Buckets<K> {
    /// Tokens left and when they were last counted (ms), by key.
    by_key: HashMap<K, (f64, u64)>,
    /// The bucket that keys over the cap share.
    overflow: (f64, u64),
    /// The map's size at which the next insert prunes first.
    prune_at: usize,
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// Buckets of `burst` tokens refilling at `per_second`, for at most
    /// `max_keys` keys (at least one).
    pub fn new(per_second: u32, burst: u32, max_keys: usize) -> Self {
        Self {
            rate: f64::from(per_second),
            burst: f64::from(burst),
            max_keys: max_keys.max(1),
            state: Mutex::new(Buckets {
                by_key: HashMap::new(),
                overflow: (f64::from(burst), 0),
                prune_at: PRUNE_FLOOR,
            }),
        }
    }

    /// Takes one token from `key`'s bucket at `now_ms`; false if it has none.
    pub fn admit(&self, key: K, now_ms: u64) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = &mut *state;
        if !state.by_key.contains_key(&key) && state.by_key.len() >= state.prune_at {
            self.prune_locked(state, now_ms);
        }
        let bucket = if state.by_key.contains_key(&key) || state.by_key.len() < self.max_keys {
            state.by_key.entry(key).or_insert((self.burst, now_ms))
        } else {
            &mut state.overflow
        };
        self.take(bucket, now_ms)
    }

    /// Forgets every bucket that has refilled by `now_ms`.
    pub fn prune(&self, now_ms: u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        self.prune_locked(&mut state, now_ms);
    }

    /// How many keys have a bucket.
    pub fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_key
            .len()
    }

    /// Whether no key has a bucket.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn prune_locked(&self, state: &mut Buckets<K>, now_ms: u64) {
        state
            .by_key
            .retain(|_, &mut (tokens, last)| self.refilled(tokens, last, now_ms) < self.burst);
        // Pruning again only once the map has doubled keeps inserts O(1)
        // amortized however many keys are live.
        state.prune_at = (2 * state.by_key.len()).max(PRUNE_FLOOR);
    }

    fn refilled(&self, tokens: f64, last: u64, now_ms: u64) -> f64 {
        let elapsed_s = now_ms.saturating_sub(last) as f64 / 1000.0;
        (tokens + elapsed_s * self.rate).min(self.burst)
    }

    fn take(&self, bucket: &mut (f64, u64), now_ms: u64) -> bool {
        let (tokens, last) = bucket;
        *tokens = self.refilled(*tokens, *last, now_ms);
        *last = now_ms.max(*last);
        if *tokens < 1.0 {
            return false;
        }
        *tokens -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let limiter = RateLimiter::new(2, 3, 10);
        for _ in 0..3 {
            assert!(limiter.admit("a", 1000));
        }
        assert!(!limiter.admit("a", 1000));
        // Another key has a bucket of its own.
        assert!(limiter.admit("b", 1000));
        // Half a second at 2 a second refills one token.
        assert!(limiter.admit("a", 1500));
        assert!(!limiter.admit("a", 1500));
    }

    #[test]
    fn refilled_buckets_are_pruned_and_busy_ones_kept() {
        let limiter = RateLimiter::new(1, 2, 10);
        assert!(limiter.admit("idle", 0));
        assert!(limiter.admit("busy", 0));
        assert!(limiter.admit("busy", 0));
        // At 500 ms "idle" has 1.5 tokens, "busy" 0.5: both are kept.
        limiter.prune(500);
        assert_eq!(limiter.len(), 2);
        // At 1000 ms "idle" is full again and goes; "busy" has 1 of 2.
        limiter.prune(1000);
        assert_eq!(limiter.len(), 1);
        // "busy" kept its count: one token now, not a fresh burst of two.
        assert!(limiter.admit("busy", 1000));
        assert!(!limiter.admit("busy", 1000));
    }

    #[test]
    fn keys_over_the_cap_share_one_bucket() {
        let limiter = RateLimiter::new(1, 2, 2);
        assert!(limiter.admit(1, 0));
        assert!(limiter.admit(2, 0));
        // Keys 3, 4 and 5 all draw from the overflow bucket of 2 tokens.
        assert!(limiter.admit(3, 0));
        assert!(limiter.admit(4, 0));
        assert!(!limiter.admit(5, 0));
        assert!(!limiter.admit(3, 0));
        assert_eq!(limiter.len(), 2);
        // Keys that have a bucket keep theirs.
        assert!(limiter.admit(1, 0));
    }

    #[test]
    fn inserting_past_the_pruning_point_prunes_first() {
        let limiter = RateLimiter::new(1000, 1, 1_000_000);
        for key in 0..PRUNE_FLOOR as u32 {
            assert!(limiter.admit(key, 0));
        }
        assert_eq!(limiter.len(), PRUNE_FLOOR);
        // A second later every bucket has refilled; the next new key prunes.
        assert!(limiter.admit(u32::MAX, 1000));
        assert_eq!(limiter.len(), 1);
    }
}
