//! The ledger every sender and recipient task records into; read once the
//! load has stopped.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::time::Instant;

use indicatif::ProgressBar;

/// How many error messages the report keeps.
const KEPT_ERRORS: usize = 10;

/// What every task records; read once the load has stopped.
pub(crate) struct Ledger {
    pub(crate) run: u64,
    pub(crate) epoch: Instant,
    pub(crate) senders: usize,
    pub(crate) size: usize,
    /// The most envelopes one sender sends.
    pub(crate) per_sender: usize,
    /// Per envelope (`sender * per_sender + seq`): the relay answered 200.
    pub(crate) acknowledged: Vec<AtomicBool>,
    /// Per envelope: how often a recipient fetched it.
    pub(crate) delivered: Vec<AtomicU32>,
    pub(crate) misdelivered: AtomicU64,
    pub(crate) corrupted: AtomicU64,
    pub(crate) reordered: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) send_failures: AtomicU64,
    pub(crate) other_failures: AtomicU64,
    pub(crate) in_flight_at_stop: AtomicU64,
    /// Nanoseconds since the epoch of the last 200 to a send.
    pub(crate) last_ack_ns: AtomicU64,
    pub(crate) last_delivery_ns: AtomicU64,
    pub(crate) errors: std::sync::Mutex<Vec<String>>,
    pub(crate) progress: ProgressBar,
}

impl Ledger {
    pub(crate) fn index(&self, sender: u32, seq: u32) -> Option<usize> {
        let (sender, seq) = (sender as usize, seq as usize);
        (sender < self.senders && seq < self.per_sender).then_some(sender * self.per_sender + seq)
    }

    pub(crate) fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn error(&self, error: String) {
        let mut errors = self
            .errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if errors.len() < KEPT_ERRORS {
            errors.push(error);
        }
    }
}
