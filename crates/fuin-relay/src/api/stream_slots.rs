//! The cap on WebSocket streams per device: each open stream holds a slot,
//! and a stream opened beyond the cap takes the slot of the device's oldest,
//! which closes (`stream_replaced`).
//!
//! Replacing rather than refusing: a device whose connection died without a
//! close (a phone that lost its network) would otherwise be locked out until
//! the relay noticed, and a device can only ever displace its own streams.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use fuin_wire::DeviceAddress;

type DeviceKey = (String, u32);
/// A device's open streams, oldest first: each one's id and what tells it
/// it was replaced.
type OpenStreams = HashMap<DeviceKey, VecDeque<(u64, Arc<Notify>)>>;

/// The open streams of every device, oldest first.
pub(crate) struct StreamSlots {
    max_per_device: usize,
    next_id: AtomicU64,
    by_device: Mutex<OpenStreams>,
}

impl StreamSlots {
    /// At most `max_per_device` streams per device (at least one).
    pub(crate) fn new(max_per_device: usize) -> Self {
        Self {
            max_per_device: max_per_device.max(1),
            next_id: AtomicU64::new(0),
            by_device: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, OpenStreams> {
        self.by_device
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a new stream of `device`, telling the oldest streams
    /// beyond the cap to close.
    pub(crate) fn open(&self, device: &DeviceAddress<'_>) -> StreamSlot<'_> {
        let key = (device.user.as_str().to_owned(), device.device.0);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let replaced = Arc::new(Notify::new());
        let mut by_device = self.lock();
        let open = by_device.entry(key.clone()).or_default();
        while open.len() >= self.max_per_device {
            if let Some((_, oldest)) = open.pop_front() {
                // Kept as a permit if that stream is not waiting right now.
                oldest.notify_one();
            }
        }
        open.push_back((id, replaced.clone()));
        StreamSlot {
            slots: self,
            key,
            id,
            replaced,
        }
    }

    /// How many streams `device` has open.
    pub(crate) fn open_streams(&self, device: &DeviceAddress<'_>) -> usize {
        self.lock()
            .get(&(device.user.as_str().to_owned(), device.device.0))
            .map_or(0, VecDeque::len)
    }
}

/// One open stream's slot, given back when dropped.
pub(crate) struct StreamSlot<'a> {
    slots: &'a StreamSlots,
    key: DeviceKey,
    id: u64,
    replaced: Arc<Notify>,
}

impl StreamSlot<'_> {
    /// Resolves once a newer stream of the device has taken this slot.
    pub(crate) async fn replaced(&self) {
        self.replaced.notified().await;
    }
}

impl Drop for StreamSlot<'_> {
    fn drop(&mut self) {
        let mut by_device = self.slots.lock();
        if let Some(open) = by_device.get_mut(&self.key) {
            open.retain(|(id, _)| *id != self.id);
            if open.is_empty() {
                by_device.remove(&self.key);
            }
        }
    }
}
