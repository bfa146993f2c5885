//! Typed content (`spec/client.md` §14): apps' own types, and the built-in
//! edit, delete for everyone, reaction, reply, typing indicator and
//! disappearing-message timer.
//!
//! Every typed message is an ordinary 1:1 message of content type
//! [`ContentType::Typed`]: sealed for every device of both users, franked,
//! and reportable like text. What a built-in type may change is decided
//! here and in the store, on every device alike:
//!
//! - an **edit** or a **delete** names a message by id only; its author is
//!   the sender's own user, so nobody can edit or delete another user's
//!   message. An edit changes the shown text of a text or a reply (the
//!   newest edit by the sender's clock wins) and is kept, franked, as a
//!   message of its own that can be reported ([`Client::edits`]); a delete
//!   erases the message's content, its edits and its reactions on every
//!   device, whichever arrives first;
//! - a **reaction** is each user's newest one (an empty one takes it back);
//! - a **reply** is a text that quotes a message by author and id;
//! - **typing** is an event, never stored;
//! - a **timer** (newest by the senders' clocks) makes every message stored
//!   after it in the conversation disappear that long after it was stored:
//!   the row goes from the store ([`Client::delete_expired`]).
//!
//! Content of a type this device does not know is stored and shown as
//! [`MessageKind::App`], with [`Event::UnknownContent`](crate::Event::UnknownContent).

use std::collections::BTreeSet;

use fuin_wire::content::{
    self, BuiltIn, Delete, Edit, MessageRef, Reaction, Reply, Timer, TypeName, TypedContent, Typing,
};
use fuin_wire::{ContentType, SecretBytes, UserId};

use crate::ClientError;
use crate::client::{Client, SentMessage, now_ms, user_id};
use crate::history::{Message, MessageKind};
use crate::store::Reader;

/// The app content types a client knows, besides the built-in ones.
#[derive(Debug, Default)]
pub(crate) struct ContentRegistry {
    names: std::sync::Mutex<BTreeSet<String>>,
}

impl ContentRegistry {
    fn insert(&self, name: String) {
        if let Ok(mut names) = self.names.lock() {
            names.insert(name);
        }
    }

    pub(crate) fn knows(&self, name: &str) -> bool {
        content::BUILT_IN_TYPES.contains(&name)
            || self
                .names
                .lock()
                .map(|names| names.contains(name))
                .unwrap_or(false)
    }

    fn names(&self) -> Vec<String> {
        self.names
            .lock()
            .map(|names| names.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// How a stored body is shown: its kind and its text.
pub(crate) fn shown(
    content_type: ContentType,
    body: &[u8],
) -> Result<(MessageKind, String), ClientError> {
    Ok(match content_type {
        ContentType::Attachment => (MessageKind::Attachment, crate::attachment::describe(body)),
        ContentType::Typed => {
            let typed = TypedContent::from_bytes(body)
                .map_err(|err| ClientError::Storage(format!("a stored typed body: {err}")))?;
            let payload = typed.payload.as_bytes();
            let stored = |err: fuin_wire::WireError| {
                ClientError::Storage(format!("a stored {}: {err}", typed.type_name))
            };
            match typed.type_name.as_str() {
                content::REPLY => {
                    let reply = Reply::from_payload(payload).map_err(stored)?;
                    (
                        MessageKind::Reply {
                            quote: reply.quote.into_owned(),
                            quote_local_id: None,
                        },
                        reply.text.into_owned(),
                    )
                }
                content::TIMER => {
                    let timer = Timer::from_payload(payload).map_err(stored)?;
                    (
                        MessageKind::Timer {
                            seconds: timer.seconds,
                        },
                        describe_timer(timer.seconds),
                    )
                }
                name => (
                    MessageKind::App {
                        type_name: name.to_owned(),
                        payload: payload.to_vec(),
                    },
                    String::new(),
                ),
            }
        }
        _ => (
            MessageKind::Text,
            String::from_utf8_lossy(body).into_owned(),
        ),
    })
}

/// A timer change in words, for the history.
pub fn describe_timer(seconds: u32) -> String {
    if seconds == 0 {
        return "disappearing messages off".into();
    }
    let (value, unit) = match seconds {
        s if s % 86_400 == 0 => (s / 86_400, "d"),
        s if s % 3_600 == 0 => (s / 3_600, "h"),
        s if s % 60 == 0 => (s / 60, "min"),
        s => (s, "s"),
    };
    format!("disappearing messages: {value} {unit}")
}

impl Client {
    /// Registers an app content type (a reverse-DNS name of a domain the app
    /// owns, such as `com.example.poll`): received content of that type then
    /// raises [`Event::MessageReceived`](crate::Event::MessageReceived)
    /// instead of [`Event::UnknownContent`](crate::Event::UnknownContent).
    /// Either way it is stored. Names under `fuin.` are the SDK's own and
    /// are refused.
    pub fn register_content_type(&self, name: &str) -> Result<(), ClientError> {
        let type_name = app_type_name(name)?;
        self.inner
            .content_types
            .insert(type_name.as_str().to_owned());
        Ok(())
    }

    /// The app content types registered, by name.
    pub fn registered_content_types(&self) -> Vec<String> {
        self.inner.content_types.names()
    }

    /// Sends an app's typed `payload` to `user` (and this user's other
    /// devices): sealed, franked, stored in the history and reportable like
    /// text. The type needs no registration to be sent.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn send_app_content(
        &self,
        user: &str,
        type_name: &str,
        payload: &[u8],
    ) -> Result<SentMessage, ClientError> {
        let peer = user_id(user)?;
        let type_name = app_type_name(type_name)?;
        let body = TypedContent {
            type_name,
            payload: SecretBytes::borrowed(payload),
        }
        .to_bytes()
        .map_err(|err| ClientError::InvalidArgument(format!("typed content: {err}")))?;
        self.send_in_history(&peer, ContentType::Typed, &body).await
    }

    /// Replaces the text of one of this user's own text messages or replies
    /// (sent from any of its devices) on every device of the conversation.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn edit_message(
        &self,
        local_id: i64,
        text: &str,
    ) -> Result<SentMessage, ClientError> {
        let (peer, message) = self.own_message(local_id, "edit").await?;
        if !matches!(message.kind, MessageKind::Text | MessageKind::Reply { .. }) {
            return Err(ClientError::InvalidArgument(
                "only a text or a reply can be edited".into(),
            ));
        }
        let body = Edit {
            target: message.id,
            text: text.into(),
        }
        .to_typed_bytes()
        .map_err(|err| ClientError::InvalidArgument(format!("an edit: {err}")))?;
        self.send_in_history(&peer, ContentType::Typed, &body).await
    }

    /// Deletes one of this user's own messages for everyone: its content,
    /// edits and reactions go on every device of the conversation that
    /// receives the delete (a device that already reported it keeps its
    /// report).
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn delete_for_everyone(&self, local_id: i64) -> Result<SentMessage, ClientError> {
        let (peer, message) = self.own_message(local_id, "delete").await?;
        let body = Delete { target: message.id }
            .to_typed_bytes()
            .map_err(|err| ClientError::InvalidArgument(format!("a delete: {err}")))?;
        self.send_in_history(&peer, ContentType::Typed, &body).await
    }

    /// Reacts to a message of a conversation (anyone's); an empty
    /// `reaction` takes this user's reaction back.
    pub async fn react(&self, local_id: i64, reaction: &str) -> Result<SentMessage, ClientError> {
        let (peer, message) = self.shown_message(local_id).await?;
        let body = Reaction {
            target: MessageRef {
                author: message.sender.user.clone(),
                id: message.id,
            },
            reaction: reaction.into(),
        }
        .to_typed_bytes()
        .map_err(|err| ClientError::InvalidArgument(format!("a reaction: {err}")))?;
        self.send_in_history(&peer, ContentType::Typed, &body).await
    }

    /// Replies to a message of a conversation with a text that quotes it.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn reply(&self, local_id: i64, text: &str) -> Result<SentMessage, ClientError> {
        let (peer, message) = self.shown_message(local_id).await?;
        let body = Reply {
            quote: MessageRef {
                author: message.sender.user.clone(),
                id: message.id,
            },
            text: text.into(),
        }
        .to_typed_bytes()
        .map_err(|err| ClientError::InvalidArgument(format!("a reply: {err}")))?;
        self.send_in_history(&peer, ContentType::Typed, &body).await
    }

    /// Tells `user`'s devices (and this user's other devices) that this
    /// user started or stopped typing. Not stored anywhere.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn send_typing(&self, user: &str, typing: bool) -> Result<(), ClientError> {
        let peer = user_id(user)?;
        let body = Typing { typing }
            .to_typed_bytes()
            .map_err(|err| ClientError::InvalidArgument(format!("typing: {err}")))?;
        self.send_outside_history(&peer, ContentType::Typed, &body)
            .await
            .map(|_| ())
    }

    /// Sets the disappearing-message timer of the conversation with `user`
    /// for both users: messages stored after it disappear `seconds` after
    /// they were stored (0 turns it off; at most a year).
    pub async fn set_disappearing_timer(
        &self,
        user: &str,
        seconds: u32,
    ) -> Result<SentMessage, ClientError> {
        let peer = user_id(user)?;
        let body = Timer { seconds }
            .to_typed_bytes()
            .map_err(|err| ClientError::InvalidArgument(format!("a timer: {err}")))?;
        self.send_in_history(&peer, ContentType::Typed, &body).await
    }

    /// The conversation's disappearing-message timer in seconds, `None`
    /// when off.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn disappearing_timer(&self, user: &str) -> Result<Option<u32>, ClientError> {
        let peer = user_id(user)?;
        let state = self.inner.state.lock().await;
        state.store.reader().conversation_timer(&peer)
    }

    /// The edits of a message, oldest first, each a message of its own (its
    /// text is the edit's text) that can be reported like any other.
    pub async fn edits(&self, local_id: i64) -> Result<Vec<Message>, ClientError> {
        let state = self.inner.state.lock().await;
        let db = state.store.reader();
        let mut out = Vec::new();
        for id in db.edit_ids(local_id)? {
            if let Some(body) = db.message_body(id)?
                && let Some(mut message) = db.message(id)?
            {
                let edit = TypedContent::from_bytes(&body)
                    .ok()
                    .and_then(|typed| {
                        Edit::from_payload(typed.payload.as_bytes())
                            .ok()
                            .map(|edit| edit.text.into_owned())
                    })
                    .unwrap_or_default();
                message.text = edit;
                out.push(message);
            }
        }
        Ok(out)
    }

    /// Deletes every disappearing message whose time is up, now; returns
    /// how many rows went. The SDK also does this before it reads the
    /// history and on every sync.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn delete_expired(&self) -> Result<usize, ClientError> {
        let mut state = self.inner.state.lock().await;
        self.delete_expired_locked(&mut state)
    }

    pub(crate) fn delete_expired_locked(
        &self,
        state: &mut crate::client::State,
    ) -> Result<usize, ClientError> {
        let now = now_ms();
        match state.store.reader().next_expiry()? {
            Some(next) if next <= now => {}
            _ => return Ok(0),
        }
        let (tx, key) = state.store.transaction()?;
        let deleted = Reader::of(&tx, key).delete_expired(now)?;
        crate::client::commit(tx)?;
        // The log still holds the pages as they were before: copy the
        // overwritten pages into the database and empty the log, so that
        // the deleted rows' bytes are in neither file.
        state.store.checkpoint()?;
        Ok(deleted.len())
    }

    /// A shown message of a 1:1 conversation by local id, and its peer.
    async fn shown_message(
        &self,
        local_id: i64,
    ) -> Result<(UserId<'static>, Message), ClientError> {
        let message = {
            let state = self.inner.state.lock().await;
            state.store.reader().message(local_id)?
        };
        let Some(message) = message else {
            return Err(ClientError::InvalidArgument(format!(
                "no message {local_id}"
            )));
        };
        // Edits, deletes and reactions are rows of their own (shown as a
        // built-in type's name) but not messages one can answer.
        let hidden = matches!(
            &message.kind,
            MessageKind::App { type_name, .. } if content::BUILT_IN_TYPES.contains(&type_name.as_str())
        );
        if hidden {
            return Err(ClientError::InvalidArgument(format!(
                "message {local_id} is not shown in the history"
            )));
        }
        if message.kind == MessageKind::Deleted {
            return Err(ClientError::InvalidArgument(format!(
                "message {local_id} was deleted"
            )));
        }
        Ok((user_id(&message.conversation)?, message))
    }

    /// One of this user's own shown messages, for an edit or a delete.
    async fn own_message(
        &self,
        local_id: i64,
        what: &str,
    ) -> Result<(UserId<'static>, Message), ClientError> {
        let (peer, message) = self.shown_message(local_id).await?;
        if message.sender.user != self.inner.address.user {
            return Err(ClientError::InvalidArgument(format!(
                "only its author can {what} a message"
            )));
        }
        Ok((peer, message))
    }
}

/// Checks an app type's name: a valid name outside the SDK's namespace.
fn app_type_name(name: &str) -> Result<TypeName<'static>, ClientError> {
    let type_name = TypeName::new(name.to_owned())
        .map_err(|err| ClientError::InvalidArgument(format!("content type {name:?}: {err}")))?;
    if type_name.is_built_in_namespace() {
        return Err(ClientError::InvalidArgument(format!(
            "content type {name:?}: names under {:?} are the SDK's own",
            content::BUILT_IN_PREFIX
        )));
    }
    Ok(type_name)
}
