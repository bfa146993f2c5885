//! How long background work waits before trying the relay again.

use std::time::Duration;

/// Exponential backoff with jitter, capped: retry `n` (from 0) waits a
/// random time in the upper half of the window `initial × 2ⁿ`, the window
/// never wider than `max`. The jitter spreads the retries of many devices
/// that lost the relay at the same moment; keeping the lower half out keeps
/// the growth visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The window of the first retry.
    pub initial: Duration,
    /// The widest window; later retries wait at most this long.
    pub max: Duration,
}

impl Default for Backoff {
    /// 1 s, doubling up to 5 minutes.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The window of retry `attempt`: `initial × 2^attempt`, at most `max`.
    pub fn window(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(31));
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The wait before retry `attempt`, with `jitter` (0 to 1) placing it
    /// in the window's upper half: `jitter` 0 waits half the window, 1 all
    /// of it. Out-of-range or non-finite jitter counts as 0 or 1.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let window = self.window(attempt);
        let half = window / 2;
        let jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        // Float-to-integer `as` saturates: no overflow whatever the window.
        let extra = ((window - half).as_nanos() as f64 * jitter) as u64;
        half.saturating_add(Duration::from_nanos(extra)).min(window)
    }

    /// The wait before retry `attempt`, with fresh random jitter.
    pub(crate) fn random_delay(&self, attempt: u32) -> Duration {
        self.delay(attempt, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let backoff = Backoff {
            initial: ms(100),
            max: ms(1_000),
        };
        // 100, 200, 400, 800, then the cap of 1,000 for ever.
        let windows: Vec<_> = (0..8).map(|n| backoff.window(n)).collect();
        assert_eq!(
            windows,
            [100, 200, 400, 800, 1_000, 1_000, 1_000, 1_000].map(ms)
        );
        assert_eq!(backoff.window(u32::MAX), ms(1_000));
    }

    #[test]
    fn jitter_stays_in_the_upper_half_of_the_window() {
        let backoff = Backoff {
            initial: ms(100),
            max: ms(1_000),
        };
        assert_eq!(backoff.delay(0, 0.0), ms(50));
        assert_eq!(backoff.delay(0, 1.0), ms(100));
        assert_eq!(backoff.delay(2, 0.5), ms(300));
        assert_eq!(backoff.delay(9, 1.0), ms(1_000));
        // Nonsense jitter is clamped, never a panic.
        assert_eq!(backoff.delay(1, f64::NAN), ms(100));
        assert_eq!(backoff.delay(1, -3.0), ms(100));
        assert_eq!(backoff.delay(1, f64::INFINITY), ms(200));
        for attempt in 0..40 {
            let delay = backoff.random_delay(attempt);
            let window = backoff.window(attempt);
            assert!(
                delay >= window / 2 && delay <= window,
                "{delay:?} in {window:?}"
            );
        }
    }

    #[test]
    fn huge_settings_do_not_overflow() {
        let backoff = Backoff {
            initial: Duration::MAX,
            max: Duration::MAX,
        };
        assert_eq!(backoff.window(40), Duration::MAX);
        assert!(backoff.delay(40, 1.0) >= Duration::MAX / 2);
    }
}
