//! The SDK's events as one flat enum.

use fuin::{Event, EventStreamItem};

use crate::records::{LinkedDevice, MessageStatus};

/// Something the app should know about (the SDK's `Event`). Kinds these
/// bindings do not spell out arrive as [`FuinEvent::Other`].
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum FuinEvent {
    /// A message was stored in a conversation.
    MessageReceived {
        /// The other user of the conversation.
        conversation: String,
        /// The message's local id.
        local_id: i64,
        /// The sending device, `user/device`.
        sender: String,
    },
    /// A message's status changed through a receipt.
    StatusChanged {
        /// The other user of the conversation.
        conversation: String,
        /// The message's id (hex), as [`crate::records::Message::message_id`].
        message_id: String,
        /// The new status.
        status: MessageStatus,
    },
    /// Messages of `sender` with these counters (`first` up to, not
    /// including, `end`) have not arrived: the relay dropped or delayed them.
    MessagesMissing {
        /// The sending device, `user/device`.
        sender: String,
        /// The first missing counter.
        first: u64,
        /// One past the last missing counter.
        end: u64,
    },
    /// A delivery failed a check and was not shown.
    MessageDropped {
        /// The device the relay named as sender, `user/device`.
        sender: String,
        /// Why, in words (never content).
        reason: String,
    },
    /// A user's account key changed: compare the new safety number, then
    /// accept it.
    IdentityChanged {
        /// The user.
        user: String,
    },
    /// A user's devices changed.
    DevicesChanged {
        /// The user (perhaps this one).
        user: String,
        /// Devices linked.
        added: Vec<LinkedDevice>,
        /// Devices removed, `user/device`.
        removed: Vec<String>,
    },
    /// A group message was stored.
    GroupMessageReceived {
        /// The group id, hex.
        group: String,
        /// The message's local id (in the group history).
        local_id: i64,
        /// The sending device, `user/device`.
        sender: String,
    },
    /// The device published fresh one-time prekeys.
    PrekeysReplenished {
        /// How many.
        count: u64,
    },
    /// The app fell behind: this many events were skipped (the SDK buffers
    /// 1,024). Reload what is shown from the store.
    Lagged {
        /// How many.
        skipped: u64,
    },
    /// Another kind of event, described in words (events carry no secrets
    /// and no message content).
    Other {
        /// The event, as the SDK's `Debug` shows it.
        description: String,
    },
}

impl From<EventStreamItem> for FuinEvent {
    fn from(item: EventStreamItem) -> Self {
        match item {
            EventStreamItem::Event(event) => event.into(),
            EventStreamItem::Lagged(skipped) => Self::Lagged { skipped },
        }
    }
}

impl From<Event> for FuinEvent {
    fn from(event: Event) -> Self {
        match event {
            Event::MessageReceived {
                conversation,
                local_id,
                from,
            } => Self::MessageReceived {
                conversation,
                local_id,
                sender: from.to_string(),
            },
            Event::StatusChanged {
                conversation,
                message,
                status,
            } => Self::StatusChanged {
                conversation,
                message_id: hex::encode(message.0),
                status: status.into(),
            },
            Event::MessagesMissing { from, sequences } => Self::MessagesMissing {
                sender: from.to_string(),
                first: sequences.start,
                end: sequences.end,
            },
            Event::MessageDropped { from, reason } => Self::MessageDropped {
                sender: from.to_string(),
                reason,
            },
            Event::IdentityChanged { user } => Self::IdentityChanged { user },
            Event::DevicesChanged {
                user,
                added,
                removed,
            } => Self::DevicesChanged {
                user,
                added: added.into_iter().map(LinkedDevice::from).collect(),
                removed: removed.iter().map(ToString::to_string).collect(),
            },
            Event::GroupMessageReceived {
                group,
                local_id,
                from,
            } => Self::GroupMessageReceived {
                group,
                local_id,
                sender: from.to_string(),
            },
            Event::PrekeysReplenished { count } => Self::PrekeysReplenished {
                count: u64::try_from(count).unwrap_or(u64::MAX),
            },
            other => Self::Other {
                description: format!("{other:?}"),
            },
        }
    }
}
