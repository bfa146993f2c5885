//! Events the client reports to the app as they happen, as a stream.

use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};

use fuin_wire::{ClientMessageId, DeviceAddress};
use futures_core::Stream;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::history::MessageStatus;

/// Something the app should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A message was stored in a conversation (from a peer, or a copy of one
    /// this user sent from another device).
    MessageReceived {
        /// The other user of the conversation.
        conversation: String,
        /// The message's local id.
        local_id: i64,
        /// The sending device.
        from: DeviceAddress<'static>,
    },
    /// A stored message changed: its author edited or deleted it for
    /// everyone, or someone's reaction to it changed (`spec/client.md`
    /// §14). The app reads it again ([`Client::message`](crate::Client::message)).
    MessageUpdated {
        /// The other user of the conversation.
        conversation: String,
        /// The changed message's local id.
        local_id: i64,
    },
    /// Typed content of a type this client does not know (an app type not
    /// registered with
    /// [`Client::register_content_type`](crate::Client::register_content_type),
    /// or a built-in type of a newer version) was stored, not dropped: the
    /// history shows it as [`MessageKind::App`](crate::MessageKind::App).
    UnknownContent {
        /// The other user of the conversation.
        conversation: String,
        /// The message's local id.
        local_id: i64,
        /// The sending device.
        from: DeviceAddress<'static>,
        /// The type's name.
        type_name: String,
    },
    /// The other user of a conversation started or stopped typing (never
    /// stored).
    Typing {
        /// The conversation (the typing user).
        conversation: String,
        /// The device that said so.
        from: DeviceAddress<'static>,
        /// Typing or stopped.
        typing: bool,
    },
    /// An outgoing message's status changed through a receipt, or an
    /// incoming one was read on another device.
    StatusChanged {
        /// The other user of the conversation.
        conversation: String,
        /// The message's id.
        message: ClientMessageId,
        /// The new status.
        status: MessageStatus,
    },
    /// A message from `from` shows that these of its messages have not
    /// arrived (yet): the relay dropped or delayed them.
    MessagesMissing {
        /// The sending device.
        from: DeviceAddress<'static>,
        /// The sender's counters of the missing messages.
        sequences: Range<u64>,
    },
    /// A delivery could not be opened or failed a check; it was not shown.
    MessageDropped {
        /// The device the relay named as sender.
        from: DeviceAddress<'static>,
        /// Why, in words (never message content).
        reason: String,
    },
    /// The user's account key changed: the relay serves a device list
    /// signed by another key than the one trusted. The new key's devices'
    /// messages wait, and nothing is sent to the user, until the app accepts
    /// the change ([`Client::accept_identity_change`](crate::Client::accept_identity_change))
    /// after the users compared the new safety number.
    IdentityChanged {
        /// The user.
        user: String,
    },
    /// A user's signed device list changed: devices were linked or
    /// removed. Shown to the user wherever the conversation is shown
    /// ("bob linked a new device: laptop").
    DevicesChanged {
        /// The user (perhaps this device's own).
        user: String,
        /// Devices the new list adds.
        added: Vec<crate::account::LinkedDevice>,
        /// Devices the new list no longer names.
        removed: Vec<DeviceAddress<'static>>,
    },
    /// A device this device linked or removed could not be added to or
    /// removed from one of its groups (the link or removal itself stands).
    /// A member can make the change by hand.
    GroupDevicesNotUpdated {
        /// The group id, 64 hex digits.
        group: String,
        /// Why, in words.
        reason: String,
    },
    /// The relay served a device list of `user` that does not verify (a
    /// device added or changed by someone without the account key, an older
    /// list than one already seen, ...). It was refused; the newest list
    /// that verified is used instead.
    DeviceListRejected {
        /// The user.
        user: String,
        /// Why, in words.
        reason: String,
    },
    /// A group text was stored.
    GroupMessageReceived {
        /// The group id, 64 hex digits.
        group: String,
        /// The message's local id (in the group history).
        local_id: i64,
        /// The sending device.
        from: DeviceAddress<'static>,
    },
    /// A group's membership changed, or this device joined one.
    GroupChanged {
        /// The group id, 64 hex digits.
        group: String,
        /// The epoch this device is in now.
        epoch: u64,
        /// The member that made the change (or welcomed this device).
        by: DeviceAddress<'static>,
        /// What changed.
        change: crate::group::GroupChange,
    },
    /// Group messages from `sender` wait because its sender key (its chain
    /// of `epoch`) has not arrived: the relay may have dropped it. Raised
    /// once per missing key, not per message; the device asks `sender` for
    /// the key again (`spec/groups.md` §9.5) and opens the messages, in
    /// order, when it comes.
    WaitingForSenderKey {
        /// The group id, 64 hex digits.
        group: String,
        /// The device whose key is missing.
        sender: DeviceAddress<'static>,
        /// The epoch of the missing chain.
        epoch: u64,
    },
    /// Held group deliveries from `from` were dropped unopened: they waited
    /// longer than a held delivery may (`spec/groups.md` §9.4).
    HeldDeliveriesDropped {
        /// The group id, 64 hex digits.
        group: String,
        /// The device the relay named as their sender.
        from: DeviceAddress<'static>,
        /// How many were dropped.
        count: usize,
        /// Why, in words.
        reason: String,
    },
    /// The device published fresh one-time prekeys.
    PrekeysReplenished {
        /// How many.
        count: usize,
    },
    /// The device published fresh one-time KEM (ML-KEM-768) prekeys.
    KemPrekeysReplenished {
        /// How many.
        count: usize,
    },
    /// This device replaced its identifier secret with the older one
    /// another device of this user holds (`spec/identifiers.md` §2.1):
    /// every user and conversation identifier it handed out before differs
    /// from the ones it gives from now on.
    IdentifierSecretChanged {
        /// The device of this user whose secret it adopted.
        from: DeviceAddress<'static>,
    },
    /// Background work ([`Client::start_background`](crate::Client::start_background))
    /// changed how it reaches the relay: push stream, long polls, offline
    /// until a retry, paused or stopped.
    ConnectionChanged {
        /// Where it stands now.
        state: crate::background::ConnectionState,
    },
}

/// The client's events as a [`futures_core::Stream`]. A subscriber that
/// falls more than the buffer (1,024 events) behind skips the oldest and is
/// told how many with [`EventStreamItem::Lagged`].
pub struct EventStream {
    inner: BroadcastStream<Event>,
}

/// One item of an [`EventStream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventStreamItem {
    /// An event.
    Event(Event),
    /// This many events were skipped because the subscriber fell behind.
    Lagged(u64),
}

impl EventStream {
    pub(crate) fn new(receiver: broadcast::Receiver<Event>) -> Self {
        Self {
            inner: BroadcastStream::new(receiver),
        }
    }

    /// The next event, waiting for one; `None` once the client is dropped.
    pub async fn next(&mut self) -> Option<EventStreamItem> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl futures_core::Stream for EventStream {
    type Item = EventStreamItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx).map(|item| {
            item.map(|result| match result {
                Ok(event) => EventStreamItem::Event(event),
                Err(BroadcastStreamRecvError::Lagged(n)) => EventStreamItem::Lagged(n),
            })
        })
    }
}
