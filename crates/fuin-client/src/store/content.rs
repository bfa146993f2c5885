//! Typed content in the history (`spec/client.md` §14): what a typed row
//! aims at, edits, deletes for everyone, reactions, the disappearing timer
//! and the deletion of expired messages.

use fuin_wire::content::{self, BuiltIn, TypedContent};
use fuin_wire::{ClientMessageId, ContentType, DeviceAddress, UserId};
use rusqlite::{OptionalExtension, params};

use crate::ClientError;

use super::{Reader, from_sql_u64, message_id, storage, to_sql_u64, user_id};

/// What the store keeps in the clear about a typed row, derived from its
/// body when it is stored (the body itself is encrypted like any other).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypedColumns {
    /// The type's name.
    pub type_name: String,
    /// The message a built-in type aims at: its author's user and id.
    pub target: Option<(UserId<'static>, ClientMessageId)>,
    /// Not shown as a message of its own (edits, deletes, reactions).
    pub hidden: bool,
    /// The timer a `fuin.timer` row sets.
    pub timer_seconds: Option<u32>,
    /// Which built-in type it is, if any.
    pub built_in: Option<BuiltInKind>,
}

/// The built-in types the history knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BuiltInKind {
    Edit,
    Delete,
    Reaction,
    Reply,
    Typing,
    Timer,
}

/// Reads a typed body sent by `sender`: its name and, for a built-in type,
/// its payload's rules. An unknown name (an app's type, or a built-in type
/// of a newer version) is not an error: it is kept as it is.
pub(crate) fn classify(sender: &UserId<'_>, body: &[u8]) -> Result<TypedColumns, String> {
    let typed =
        TypedContent::from_bytes(body).map_err(|err| format!("unreadable typed content: {err}"))?;
    let payload = typed.payload.as_bytes();
    let bad =
        |err: fuin_wire::WireError| format!("a {} that breaks its rules: {err}", typed.type_name);
    let own = |id: ClientMessageId| Some((sender.clone().into_owned(), id));
    let mut columns = TypedColumns {
        type_name: typed.type_name.as_str().to_owned(),
        target: None,
        hidden: false,
        timer_seconds: None,
        built_in: None,
    };
    match typed.type_name.as_str() {
        content::EDIT => {
            let edit = content::Edit::from_payload(payload).map_err(bad)?;
            columns.target = own(edit.target);
            columns.hidden = true;
            columns.built_in = Some(BuiltInKind::Edit);
        }
        content::DELETE => {
            let delete = content::Delete::from_payload(payload).map_err(bad)?;
            columns.target = own(delete.target);
            columns.hidden = true;
            columns.built_in = Some(BuiltInKind::Delete);
        }
        content::REACTION => {
            let reaction = content::Reaction::from_payload(payload).map_err(bad)?;
            columns.target = Some((reaction.target.author.into_owned(), reaction.target.id));
            columns.hidden = true;
            columns.built_in = Some(BuiltInKind::Reaction);
        }
        content::REPLY => {
            let reply = content::Reply::from_payload(payload).map_err(bad)?;
            columns.target = Some((reply.quote.author.into_owned(), reply.quote.id));
            columns.built_in = Some(BuiltInKind::Reply);
        }
        content::TYPING => {
            content::Typing::from_payload(payload).map_err(bad)?;
            columns.hidden = true;
            columns.built_in = Some(BuiltInKind::Typing);
        }
        content::TIMER => {
            let timer = content::Timer::from_payload(payload).map_err(bad)?;
            columns.timer_seconds = Some(timer.seconds);
            columns.built_in = Some(BuiltInKind::Timer);
        }
        _ => {}
    }
    Ok(columns)
}

/// Whether a row of `content_type` with these typed columns can be the
/// target of an edit (text and replies; not attachments, timers or app
/// types).
fn editable(content_type: i64, type_name: Option<&str>) -> bool {
    content_type == i64::from(ContentType::Text.code())
        || (content_type == i64::from(ContentType::Typed.code())
            && type_name == Some(content::REPLY))
}

/// The newest edit of a message, as the history shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppliedEdit {
    pub text: String,
    pub sent_at_ms: u64,
}

impl Reader<'_> {
    /// Writes the typed columns of a row just inserted, applies what the
    /// row does to others (a delete erases its target) and what others do
    /// to it (a delete that arrived first erases it), and sets when it
    /// disappears if the conversation has a timer.
    pub(crate) fn after_insert(
        &self,
        local_id: i64,
        conversation: &UserId<'_>,
        sender: &DeviceAddress<'_>,
        id: &ClientMessageId,
        typed: Option<&TypedColumns>,
        stored_at_ms: u64,
    ) -> Result<(), ClientError> {
        if let Some(typed) = typed {
            self.conn
                .execute(
                    "UPDATE messages SET type_name = ?2, target_user = ?3, target_id = ?4,
                         hidden = ?5, timer_seconds = ?6 WHERE id = ?1",
                    params![
                        local_id,
                        typed.type_name,
                        typed
                            .target
                            .as_ref()
                            .map(|(user, _)| user.as_str().to_owned()),
                        typed.target.as_ref().map(|(_, id)| id.0.to_vec()),
                        typed.hidden,
                        typed.timer_seconds,
                    ],
                )
                .map_err(storage("storing typed content"))?;
            if typed.built_in == Some(BuiltInKind::Delete)
                && let Some((author, target)) = &typed.target
            {
                self.erase(conversation, author, target)?;
            }
            // An edit or delete changes what its target shows: the search
            // index follows in the same transaction.
            if matches!(
                typed.built_in,
                Some(BuiltInKind::Edit | BuiltInKind::Delete)
            ) && let Some((author, target)) = &typed.target
            {
                for (row, _) in self.rows_by_ref(conversation, author, target)? {
                    self.refresh_index(row)?;
                }
            }
        }
        // Every row but a timer's disappears under a timer: an edit or a
        // reaction is a message too, and may outlive its target otherwise.
        let is_timer = typed.is_some_and(|typed| typed.timer_seconds.is_some());
        if !is_timer && let Some(seconds) = self.conversation_timer(conversation)? {
            let expires = stored_at_ms.saturating_add(u64::from(seconds) * 1000);
            self.conn
                .execute(
                    "UPDATE messages SET expires_at_ms = ?2 WHERE id = ?1",
                    params![local_id, to_sql_u64(expires)],
                )
                .map_err(storage("setting a message's expiry"))?;
        }
        let hidden = typed.is_some_and(|typed| typed.hidden);
        if !hidden && self.deleted_by_author(conversation, &sender.user, id)? {
            self.erase(conversation, &sender.user, id)?;
        }
        Ok(())
    }

    /// Whether the author of (`author`, `id`) deleted it for everyone: a
    /// delete row from the same user aims at it.
    fn deleted_by_author(
        &self,
        conversation: &UserId<'_>,
        author: &UserId<'_>,
        id: &ClientMessageId,
    ) -> Result<bool, ClientError> {
        let found: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM messages WHERE conversation = ?1 AND target_user = ?2
                     AND target_id = ?3 AND sender_user = ?2 AND type_name = ?4 LIMIT 1",
                params![
                    conversation.as_str(),
                    author.as_str(),
                    id.0.as_slice(),
                    content::DELETE
                ],
                |row| row.get(0),
            )
            .optional()
            .map_err(storage("finding a delete"))?;
        Ok(found.is_some())
    }

    /// Deletes (`author`, `id`) for everyone: its body becomes empty, its
    /// franking opening goes, it is marked deleted, and the edits and
    /// reactions aimed at it go with it. Only rows of `author` are touched:
    /// a delete names its own user's messages.
    fn erase(
        &self,
        conversation: &UserId<'_>,
        author: &UserId<'_>,
        id: &ClientMessageId,
    ) -> Result<(), ClientError> {
        let rows = self.rows_by_ref(conversation, author, id)?;
        for (local, device) in rows {
            let sender = DeviceAddress::new(author.clone(), device);
            let empty = self.seal(&Self::body_context(&sender, id, "body"), &[]);
            self.conn
                .execute(
                    "UPDATE messages SET body = ?2, franking = NULL, deleted = 1 WHERE id = ?1",
                    params![local, empty],
                )
                .map_err(storage("deleting a message for everyone"))?;
        }
        self.conn
            .execute(
                "DELETE FROM messages WHERE conversation = ?1 AND target_user = ?2
                     AND target_id = ?3 AND type_name IN (?4, ?5)",
                params![
                    conversation.as_str(),
                    author.as_str(),
                    id.0.as_slice(),
                    content::EDIT,
                    content::REACTION
                ],
            )
            .map_err(storage("deleting a message's edits"))?;
        Ok(())
    }

    /// Whether any stored row aims at (`author`, `id`) in a conversation
    /// (an edit, delete or reaction that arrived before its target).
    pub(crate) fn is_aimed_at(
        &self,
        conversation: &UserId<'_>,
        author: &UserId<'_>,
        id: &ClientMessageId,
    ) -> Result<bool, ClientError> {
        let found: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM messages WHERE conversation = ?1 AND target_user = ?2
                     AND target_id = ?3 AND hidden = 1 LIMIT 1",
                params![conversation.as_str(), author.as_str(), id.0.as_slice()],
                |row| row.get(0),
            )
            .optional()
            .map_err(storage("finding what aims at a message"))?;
        Ok(found.is_some())
    }

    /// The shown rows of (`author`, `id`) in a conversation: local id and
    /// sending device (one user's devices may have sent copies with one id).
    fn rows_by_ref(
        &self,
        conversation: &UserId<'_>,
        author: &UserId<'_>,
        id: &ClientMessageId,
    ) -> Result<Vec<(i64, fuin_wire::DeviceId)>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT id, sender_device FROM messages WHERE conversation = ?1
                     AND sender_user = ?2 AND message_id = ?3 AND hidden = 0 ORDER BY id",
            )
            .map_err(storage("finding a message"))?;
        let rows = statement
            .query_map(
                params![conversation.as_str(), author.as_str(), id.0.as_slice()],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
            )
            .map_err(storage("finding a message"))?;
        let mut out = Vec::new();
        for row in rows {
            let (local, device) = row.map_err(storage("finding a message"))?;
            out.push((local, super::device_id(device)?));
        }
        Ok(out)
    }

    /// The local id of the shown message (`author`, `id`) of a
    /// conversation, if stored.
    pub(crate) fn find_by_ref(
        &self,
        conversation: &UserId<'_>,
        author: &UserId<'_>,
        id: &ClientMessageId,
    ) -> Result<Option<i64>, ClientError> {
        Ok(self
            .rows_by_ref(conversation, author, id)?
            .first()
            .map(|(local, _)| *local))
    }

    /// The conversation's disappearing timer: the newest `fuin.timer` row
    /// by the senders' clocks and counters; `None` when off.
    pub(crate) fn conversation_timer(
        &self,
        conversation: &UserId<'_>,
    ) -> Result<Option<u32>, ClientError> {
        let seconds: Option<i64> = self
            .conn
            .query_row(
                "SELECT timer_seconds FROM messages
                 WHERE conversation = ?1 AND timer_seconds IS NOT NULL
                 ORDER BY sent_at_ms DESC, sequence DESC, id DESC LIMIT 1",
                [conversation.as_str()],
                |row| row.get(0),
            )
            .optional()
            .map_err(storage("reading the disappearing timer"))?;
        Ok(seconds
            .and_then(|seconds| u32::try_from(seconds).ok())
            .filter(|&seconds| seconds > 0))
    }

    /// Decoded typed payloads of the hidden rows of `type_name` aimed at
    /// (`author`, `id`), oldest first: sender user, sender's clock, body.
    #[allow(clippy::type_complexity)]
    fn aimed_at(
        &self,
        conversation: &str,
        author: &str,
        id: &ClientMessageId,
        type_name: &str,
        only_from_author: bool,
    ) -> Result<Vec<(String, u64, zeroize::Zeroizing<Vec<u8>>)>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT sender_user, sender_device, message_id, body, sent_at_ms FROM messages
                 WHERE conversation = ?1 AND target_user = ?2 AND target_id = ?3
                     AND type_name = ?4 AND (?5 = 0 OR sender_user = ?2)
                 ORDER BY sent_at_ms, sequence, id",
            )
            .map_err(storage("reading typed content"))?;
        let rows = statement
            .query_map(
                params![
                    conversation,
                    author,
                    id.0.as_slice(),
                    type_name,
                    only_from_author
                ],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, Vec<u8>>(2)?,
                        row.get::<_, Vec<u8>>(3)?,
                        row.get::<_, i64>(4)?,
                    ))
                },
            )
            .map_err(storage("reading typed content"))?;
        let mut out = Vec::new();
        for row in rows {
            let (user, device, row_id, sealed, sent_at) =
                row.map_err(storage("reading typed content"))?;
            let sender = DeviceAddress::new(user_id(user.clone())?, super::device_id(device)?);
            let body = self.open(
                &Self::body_context(&sender, &message_id(row_id)?, "body"),
                &sealed,
            )?;
            let typed = TypedContent::from_bytes(&body)
                .map_err(|err| ClientError::Storage(format!("a stored typed body: {err}")))?;
            out.push((
                user,
                from_sql_u64(sent_at),
                zeroize::Zeroizing::new(typed.payload.as_bytes().to_vec()),
            ));
        }
        Ok(out)
    }

    /// The newest edit of a shown message by its author, if the message
    /// can be edited.
    pub(crate) fn latest_edit(
        &self,
        conversation: &str,
        author: &str,
        id: &ClientMessageId,
        content_type: i64,
        type_name: Option<&str>,
    ) -> Result<Option<AppliedEdit>, ClientError> {
        if !editable(content_type, type_name) {
            return Ok(None);
        }
        let edits = self.aimed_at(conversation, author, id, content::EDIT, true)?;
        let Some((_, sent_at_ms, payload)) = edits.last() else {
            return Ok(None);
        };
        let edit = content::Edit::from_payload(payload)
            .map_err(|err| ClientError::Storage(format!("a stored edit: {err}")))?;
        Ok(Some(AppliedEdit {
            text: edit.text.into_owned(),
            sent_at_ms: *sent_at_ms,
        }))
    }

    /// The reactions to a shown message: each user's newest, unless it took
    /// the reaction back; by user.
    pub(crate) fn reactions(
        &self,
        conversation: &str,
        author: &str,
        id: &ClientMessageId,
    ) -> Result<Vec<(String, String, u64)>, ClientError> {
        let rows = self.aimed_at(conversation, author, id, content::REACTION, false)?;
        let mut newest: std::collections::BTreeMap<String, (String, u64)> = Default::default();
        for (user, sent_at, payload) in rows {
            let reaction = content::Reaction::from_payload(&payload)
                .map_err(|err| ClientError::Storage(format!("a stored reaction: {err}")))?;
            newest.insert(user, (reaction.reaction.into_owned(), sent_at));
        }
        Ok(newest
            .into_iter()
            .filter(|(_, (reaction, _))| !reaction.is_empty())
            .map(|(user, (reaction, at))| (user, reaction, at))
            .collect())
    }

    /// The local ids of the edits of a shown message by its author, oldest
    /// first (each is franked and can be reported).
    pub(crate) fn edit_ids(&self, local_id: i64) -> Result<Vec<i64>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT e.id FROM messages m JOIN messages e
                     ON e.conversation = m.conversation AND e.target_user = m.sender_user
                     AND e.target_id = m.message_id AND e.sender_user = m.sender_user
                     AND e.type_name = ?2
                 WHERE m.id = ?1 AND m.hidden = 0
                 ORDER BY e.sent_at_ms, e.sequence, e.id",
            )
            .map_err(storage("reading edits"))?;
        let rows = statement
            .query_map(params![local_id, content::EDIT], |row| row.get::<_, i64>(0))
            .map_err(storage("reading edits"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(storage("reading edits"))
    }

    /// Deletes every message whose time is up (and what aims at it, and its
    /// receipts); returns the local ids deleted. Rows go with
    /// `secure_delete` on, so their bytes are overwritten in the database.
    pub(crate) fn delete_expired(&self, now_ms: u64) -> Result<Vec<i64>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT id, conversation, sender_user, message_id FROM messages
                 WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ?1",
            )
            .map_err(storage("finding expired messages"))?;
        let rows = statement
            .query_map([to_sql_u64(now_ms)], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Vec<u8>>(3)?,
                ))
            })
            .map_err(storage("finding expired messages"))?;
        let expired = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(storage("finding expired messages"))?;
        let mut deleted = Vec::new();
        for (local, conversation, author, id) in expired {
            let aimed: Vec<i64> = {
                let mut statement = self
                    .conn
                    .prepare_cached(
                        "SELECT id FROM messages WHERE conversation = ?1 AND target_user = ?2
                             AND target_id = ?3 AND hidden = 1",
                    )
                    .map_err(storage("finding what aims at a message"))?;
                let rows = statement
                    .query_map(params![conversation, author, id], |row| row.get(0))
                    .map_err(storage("finding what aims at a message"))?;
                rows.collect::<Result<_, _>>()
                    .map_err(storage("finding what aims at a message"))?
            };
            for row in std::iter::once(local).chain(aimed) {
                self.forget_row(row)?;
                self.forget(super::search::IndexedHistory::Direct, row)?;
                deleted.push(row);
            }
        }
        Ok(deleted)
    }

    /// Removes one row of the history and what refers to it.
    fn forget_row(&self, local_id: i64) -> Result<(), ClientError> {
        self.conn
            .execute("DELETE FROM receipts WHERE message = ?1", [local_id])
            .map_err(storage("deleting a message's receipts"))?;
        self.conn
            .execute(
                "UPDATE outbox SET message = NULL WHERE message = ?1",
                [local_id],
            )
            .map_err(storage("detaching a queued send"))?;
        self.conn
            .execute("DELETE FROM messages WHERE id = ?1", [local_id])
            .map_err(storage("deleting a message"))?;
        Ok(())
    }

    /// Puts a row's shown text into the search index again.
    fn refresh_index(&self, local_id: i64) -> Result<(), ClientError> {
        let text = self
            .searchable(local_id)?
            .map(|searchable| searchable.text)
            .unwrap_or_default();
        self.reindex(super::search::IndexedHistory::Direct, local_id, &text)
    }

    /// The soonest time a stored message disappears, if any does.
    pub(crate) fn next_expiry(&self) -> Result<Option<u64>, ClientError> {
        let next: Option<i64> = self
            .conn
            .query_row(
                "SELECT MIN(expires_at_ms) FROM messages WHERE expires_at_ms IS NOT NULL",
                [],
                |row| row.get(0),
            )
            .map_err(storage("reading expiries"))?;
        Ok(next.map(from_sql_u64))
    }
}

#[cfg(test)]
mod tests {
    //! A relay may reorder what it delivers: a delete, an edit or a reaction
    //! that arrives before its target applies when the target comes.
    #![allow(clippy::unwrap_used)]

    use fuin_seal::state::StorageKey;
    use fuin_wire::DeviceId;
    use fuin_wire::content::{Delete, Edit, MessageRef, Reaction};

    use super::*;
    use crate::history::{MessageKind, MessageStatus};
    use crate::store::search::IndexedHistory;
    use crate::store::{LocalStore, NewMessage};

    fn store() -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::create(
            &dir.path().join("store.db"),
            StorageKey::generate(&mut rand::rng()),
        )
        .unwrap();
        (dir, store)
    }

    /// Stores a message from `from` (a device of alice or bob) in the
    /// conversation with bob, as received.
    fn receive(
        db: &Reader<'_>,
        from: &str,
        id: u8,
        content_type: ContentType,
        body: &[u8],
        sent_at_ms: u64,
    ) -> i64 {
        let bob = UserId::new("bob").unwrap();
        let sender = DeviceAddress::new(UserId::new(from.to_owned()).unwrap(), DeviceId(1));
        db.insert_message(&NewMessage {
            conversation: &bob,
            sender: &sender,
            message_id: ClientMessageId([id; 16]),
            outgoing: from != "bob",
            content_type,
            body,
            sent_at_ms,
            sequence: 0,
            server_time_ms: None,
            status: MessageStatus::Unread,
            franking: None,
            received_at_ms: sent_at_ms,
            receipt_owed: 1,
        })
        .unwrap()
        .unwrap()
    }

    #[test]
    fn changes_that_arrive_before_their_target_apply_when_it_comes() {
        let (_dir, store) = store();
        let db = store.reader();
        let target = ClientMessageId([1; 16]);
        let edit = Edit {
            target,
            text: "edited first".into(),
        }
        .to_typed_bytes()
        .unwrap();
        let reaction = Reaction {
            target: MessageRef {
                author: UserId::new("bob").unwrap(),
                id: target,
            },
            reaction: "🙂".into(),
        }
        .to_typed_bytes()
        .unwrap();
        receive(&db, "bob", 10, ContentType::Typed, &edit, 20);
        receive(&db, "alice", 11, ContentType::Typed, &reaction, 21);
        let shown = receive(&db, "bob", 1, ContentType::Text, b"original", 10);
        let message = db.message(shown).unwrap().unwrap();
        assert_eq!(message.text, "edited first");
        assert_eq!(message.edited_at_ms, Some(20));
        assert_eq!(message.reactions.len(), 1);
        assert_eq!(message.reactions[0].user, "alice");
        // The search index holds what is shown, not the text as sent.
        let indexed = |id| {
            db.indexed_text(IndexedHistory::Direct, id)
                .unwrap()
                .map(|text| text.as_str().to_owned())
        };
        assert_eq!(indexed(shown), Some("edited first".to_owned()));
        // Hidden rows are read, owe nothing, and are not in the history.
        assert_eq!(
            db.history(&UserId::new("bob").unwrap(), 10).unwrap().len(),
            1
        );

        // A delete before its target: the target is stored deleted.
        let later = ClientMessageId([2; 16]);
        let delete = Delete { target: later }.to_typed_bytes().unwrap();
        receive(&db, "bob", 12, ContentType::Typed, &delete, 30);
        let gone = receive(&db, "bob", 2, ContentType::Text, b"regretted words", 25);
        let message = db.message(gone).unwrap().unwrap();
        assert_eq!(message.kind, MessageKind::Deleted);
        assert_eq!(message.text, "");
        assert_eq!(db.message_body(gone).unwrap().unwrap().as_slice(), b"");
        assert!(db.franking(gone).unwrap().is_none());
        assert_eq!(indexed(gone), Some(String::new()));
        let plain = receive(&db, "bob", 3, ContentType::Text, b"plain words", 35);
        assert_eq!(indexed(plain), Some("plain words".to_owned()));

        // A delete from another user aims at that user's message of the
        // same id, never at this one.
        let forged = Delete { target }.to_typed_bytes().unwrap();
        receive(&db, "alice", 13, ContentType::Typed, &forged, 40);
        let message = db.message(shown).unwrap().unwrap();
        assert_eq!(message.kind, MessageKind::Text);
        assert_eq!(message.text, "edited first");
    }

    #[test]
    fn a_built_in_payload_that_breaks_its_rules_is_refused() {
        let bad = TypedContent {
            type_name: fuin_wire::content::TypeName::new(content::TIMER).unwrap(),
            payload: fuin_wire::SecretBytes::borrowed(&[0x81, 0x00]),
        }
        .to_bytes()
        .unwrap();
        let sender = UserId::new("bob").unwrap();
        assert!(classify(&sender, &bad).unwrap_err().contains("fuin.timer"));
        assert!(classify(&sender, b"\x02").is_err());
    }
}
