//! The long polls and push streams waiting on this relay node, by mailbox
//! tag: a send through this node wakes them directly, a send through
//! another node through the store's [`RemoteWaker`](crate::store::RemoteWaker).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::store::{MailboxTag, Wakeup};

/// One wake-up handle per mailbox tag that has been waited on or sent to.
#[derive(Default)]
pub(crate) struct Waiters {
    handles: Mutex<HashMap<MailboxTag, Arc<Notify>>>,
}

impl Waiters {
    fn lock(&self) -> MutexGuard<'_, HashMap<MailboxTag, Arc<Notify>>> {
        self.handles.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The handle of the mailbox(es) with `tag`.
    pub(crate) fn handle(&self, tag: MailboxTag) -> Arc<Notify> {
        self.lock().entry(tag).or_default().clone()
    }

    /// Wakes those waiting on what `wakeup` names. Only waiters that exist
    /// are woken; no handle is made for a tag no one waits on.
    pub(crate) fn wake(&self, wakeup: Wakeup) {
        let handles = self.lock();
        match wakeup {
            Wakeup::Mailbox(tag) => {
                if let Some(handle) = handles.get(&tag) {
                    handle.notify_waiters();
                }
            }
            Wakeup::All => handles.values().for_each(|handle| handle.notify_waiters()),
        }
    }
}
