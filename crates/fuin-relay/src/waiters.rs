//! The long polls and push streams waiting on this relay node, by mailbox
//! tag: a send through this node wakes them directly, a send through
//! another node through the store's [`RemoteWaker`](crate::store::RemoteWaker).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::store::{MailboxTag, Wakeup};

/// Below this many handles the map is not pruned on insert.
const PRUNE_FLOOR: usize = 1024;

/// One wake-up handle per mailbox tag that is waited on. A handle only the
/// map holds has no waiter and can go.
pub(crate) struct Waiters {
    handles: Mutex<Handles>,
}

struct Handles {
    by_tag: HashMap<MailboxTag, Arc<Notify>>,
    /// The map's size at which the next insert prunes first.
    prune_at: usize,
}

impl Handles {
    fn prune(&mut self) {
        self.by_tag
            .retain(|_, notify| Arc::strong_count(notify) > 1);
        self.prune_at = (2 * self.by_tag.len()).max(PRUNE_FLOOR);
    }
}

impl Default for Waiters {
    fn default() -> Self {
        Self {
            handles: Mutex::new(Handles {
                by_tag: HashMap::new(),
                prune_at: PRUNE_FLOOR,
            }),
        }
    }
}

impl Waiters {
    fn lock(&self) -> MutexGuard<'_, Handles> {
        self.handles.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The handle of the mailbox(es) with `tag`, for a waiter to hold.
    pub(crate) fn handle(&self, tag: MailboxTag) -> Arc<Notify> {
        let mut handles = self.lock();
        if !handles.by_tag.contains_key(&tag) && handles.by_tag.len() >= handles.prune_at {
            handles.prune();
        }
        handles.by_tag.entry(tag).or_default().clone()
    }

    /// Forgets the handles no waiter holds.
    pub(crate) fn prune(&self) {
        self.lock().prune();
    }

    /// How many handles are kept.
    pub(crate) fn len(&self) -> usize {
        self.lock().by_tag.len()
    }

    /// Wakes those waiting on what `wakeup` names. Only waiters that exist
    /// are woken; no handle is made for a tag no one waits on.
    pub(crate) fn wake(&self, wakeup: Wakeup) {
        let handles = self.lock();
        match wakeup {
            Wakeup::Mailbox(tag) | Wakeup::Device(tag) => {
                if let Some(handle) = handles.by_tag.get(&tag) {
                    handle.notify_waiters();
                }
            }
            Wakeup::All => handles
                .by_tag
                .values()
                .for_each(|handle| handle.notify_waiters()),
        }
    }
}
