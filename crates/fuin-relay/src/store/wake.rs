//! Wake-ups across relay nodes: how a store tells its relay that another
//! node has stored envelopes, so that long polls and push streams waiting
//! here answer at once instead of at their next look.
//!
//! A relay files the waiters of a mailbox under a [`MailboxTag`], a short
//! hash of the address that the store chooses ([`Store::mailbox_tag`]). A
//! store shared by several nodes (PostgreSQL) sends the tags of the mailboxes
//! a delivery wrote to the other nodes and, when such a message comes in,
//! calls the [`RemoteWaker`] the relay gave it
//! ([`Store::set_remote_waker`]) with that tag. Two addresses with the same
//! tag only cost a needless look; a missed tag would cost a late delivery,
//! so a store that may have missed some says so with [`Wakeup::All`].
//!
//! [`Store::mailbox_tag`]: super::Store::mailbox_tag
//! [`Store::set_remote_waker`]: super::Store::set_remote_waker

use std::sync::Arc;

use fuin_wire::DeviceAddress;
use sha2::{Digest, Sha256};

/// What the unkeyed tags are derived from, before the address.
const TAG_DOMAIN: &[u8] = b"fuin-relay mailbox tag\0";

/// A short hash of a mailbox's address, under which waiters are filed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MailboxTag(pub [u8; 8]);

impl MailboxTag {
    /// The unkeyed tag of `address`: the first 8 bytes of a SHA-256 over a
    /// domain, the device id and the user id. Good for waiters within one
    /// process; a backend that sends tags elsewhere keys them instead.
    pub fn of(address: &DeviceAddress<'_>) -> Self {
        let digest = Sha256::new()
            .chain_update(TAG_DOMAIN)
            .chain_update(address.device.0.to_be_bytes())
            .chain_update(address.user.as_str().as_bytes())
            .finalize();
        let mut tag = [0; 8];
        tag.copy_from_slice(&digest[..8]);
        Self(tag)
    }
}

/// What another node's delivery means for this node's waiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wakeup {
    /// Envelopes were stored for the mailbox(es) with this tag.
    Mailbox(MailboxTag),
    /// The tokens or the registration of the device(s) with this tag
    /// changed (tokens revoked, the device removed): their streams and long
    /// polls look whether they may go on.
    Device(MailboxTag),
    /// Wake-ups may have been missed (the store lost its link to the other
    /// nodes for a while): every waiter should look again.
    All,
}

/// What a store calls on a wake-up from another node. It must return
/// quickly and never block: the relay's only waits on a short lock.
pub type RemoteWaker = Arc<dyn Fn(Wakeup) + Send + Sync>;
