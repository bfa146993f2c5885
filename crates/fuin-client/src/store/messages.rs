//! The history: the `messages` rows, their bodies, franking openings and receipts.

use fuin_wire::{ClientMessageId, ContentType, DeviceAddress, DeviceId, UserId};
use rusqlite::{OptionalExtension, params};
use zeroize::Zeroizing;

use crate::ClientError;
use crate::history::{Message, MessageStatus};

use super::search::{IndexedHistory, searchable_text};
use super::{
    NewMessage, Reader, StoredFranking, device_id, from_sql_u64, message_id, storage, to_sql_u64,
    user_id,
};

impl<'a> Reader<'a> {
    pub(super) fn body_context(
        sender: &DeviceAddress<'_>,
        id: &ClientMessageId,
        part: &str,
    ) -> String {
        format!(
            "fuin-client/v1/message/{}/{}/{}/{part}",
            sender.user.as_str(),
            sender.device.0,
            hex::encode(id.0)
        )
    }

    /// Adds a message; `None` if a message with the same sender and id is
    /// already stored (it is then left as it is).
    pub fn insert_message(&self, message: &NewMessage<'_>) -> Result<Option<i64>, ClientError> {
        let typed = if message.content_type == ContentType::Typed {
            Some(
                super::content::classify(&message.sender.user, message.body)
                    .map_err(ClientError::InvalidArgument)?,
            )
        } else {
            None
        };
        // Rows not shown as messages of their own owe no receipt and are
        // never unread.
        let hidden = typed.as_ref().is_some_and(|typed| typed.hidden);
        let status = match message.status {
            MessageStatus::Unread if hidden => MessageStatus::Read,
            status => status,
        };
        let receipt_owed = if hidden { 0 } else { message.receipt_owed };
        let body = self.seal(
            &Self::body_context(message.sender, &message.message_id, "body"),
            message.body,
        );
        let franking = message
            .franking
            .map(|franking| {
                let encoded = franking.encode()?;
                Ok::<_, ClientError>(self.seal(
                    &Self::body_context(message.sender, &message.message_id, "franking"),
                    &encoded,
                ))
            })
            .transpose()?;
        let inserted = self
            .conn
            .execute(
                "INSERT INTO messages (conversation, sender_user, sender_device, message_id,
                     outgoing, content_type, body, sent_at_ms, sequence, server_time_ms, status,
                     franking, received_at_ms, receipt_owed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT (sender_user, sender_device, message_id) DO NOTHING",
                params![
                    message.conversation.as_str(),
                    message.sender.user.as_str(),
                    i64::from(message.sender.device.0),
                    message.message_id.0.as_slice(),
                    message.outgoing,
                    i64::from(message.content_type.code()),
                    body,
                    to_sql_u64(message.sent_at_ms),
                    to_sql_u64(message.sequence),
                    message.server_time_ms.map(to_sql_u64),
                    status.code(),
                    franking,
                    to_sql_u64(message.received_at_ms),
                    receipt_owed,
                ],
            )
            .map_err(storage("storing a message"))?;
        if inserted == 0 {
            return Ok(None);
        }
        let local_id = self.conn.last_insert_rowid();
        self.after_insert(
            local_id,
            message.conversation,
            message.sender,
            &message.message_id,
            typed.as_ref(),
            message.received_at_ms,
        )?;
        // Indexed as shown: from the body in hand, unless an edit or a
        // delete that came first aims at the row (rare: read it back then).
        let text = if self.is_aimed_at(
            message.conversation,
            &message.sender.user,
            &message.message_id,
        )? {
            self.searchable(local_id)?
                .map(|searchable| searchable.text)
                .unwrap_or_default()
        } else if typed.as_ref().is_some_and(|typed| typed.hidden) {
            Zeroizing::new(String::new())
        } else {
            searchable_text(message.content_type.code(), message.body)
        };
        self.index_message(
            IndexedHistory::Direct,
            local_id,
            &message.message_id.0,
            &text,
        )?;
        Ok(Some(local_id))
    }

    pub fn set_status(
        &self,
        local_id: i64,
        status: MessageStatus,
        server_time_ms: Option<u64>,
    ) -> Result<(), ClientError> {
        self.conn
            .execute(
                "UPDATE messages SET status = ?2,
                     server_time_ms = COALESCE(?3, server_time_ms) WHERE id = ?1",
                params![local_id, status.code(), server_time_ms.map(to_sql_u64)],
            )
            .map_err(storage("updating a message"))?;
        Ok(())
    }

    /// A message of `conversation` sent by `sender`, by its id: local id and
    /// status.
    pub fn find_message(
        &self,
        conversation: &UserId<'_>,
        sender: &DeviceAddress<'_>,
        id: &ClientMessageId,
    ) -> Result<Option<(i64, MessageStatus)>, ClientError> {
        self.conn
            .query_row(
                "SELECT id, status FROM messages WHERE conversation = ?1 AND sender_user = ?2
                 AND sender_device = ?3 AND message_id = ?4",
                params![
                    conversation.as_str(),
                    sender.user.as_str(),
                    i64::from(sender.device.0),
                    id.0.as_slice()
                ],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
            )
            .optional()
            .map_err(storage("finding a message"))?
            .map(|(local, status)| Ok((local, MessageStatus::from_code(status)?)))
            .transpose()
    }

    pub fn add_receipt(
        &self,
        local_id: i64,
        by: &DeviceAddress<'_>,
        kind: i64,
        at_ms: u64,
    ) -> Result<(), ClientError> {
        self.conn
            .execute(
                "INSERT INTO receipts (message, user, device, kind, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT DO NOTHING",
                params![
                    local_id,
                    by.user.as_str(),
                    i64::from(by.device.0),
                    kind,
                    to_sql_u64(at_ms)
                ],
            )
            .map_err(storage("storing a receipt"))?;
        Ok(())
    }

    /// Marks what receipt a message is owed (0 none, 1 delivered, 2 read).
    pub fn set_receipt_owed(&self, local_id: i64, owed: i64) -> Result<(), ClientError> {
        self.conn
            .execute(
                "UPDATE messages SET receipt_owed = ?2 WHERE id = ?1",
                params![local_id, owed],
            )
            .map_err(storage("updating a message"))?;
        Ok(())
    }

    /// Messages owing a receipt, oldest first, at most `limit`:
    /// conversation, local id, sender device, message id, receipt owed.
    #[allow(clippy::type_complexity)]
    pub fn owed_receipts(
        &self,
        limit: usize,
    ) -> Result<Vec<(String, i64, DeviceId, ClientMessageId, i64)>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT conversation, id, sender_device, message_id, receipt_owed FROM messages
                 WHERE receipt_owed != 0 ORDER BY id LIMIT ?1",
            )
            .map_err(storage("reading owed receipts"))?;
        let rows = statement
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, Vec<u8>>(3)?,
                    row.get::<_, i64>(4)?,
                ))
            })
            .map_err(storage("reading owed receipts"))?;
        let mut out = Vec::new();
        for row in rows {
            let (conversation, local, device, id, owed) =
                row.map_err(storage("reading owed receipts"))?;
            out.push((
                conversation,
                local,
                device_id(device)?,
                message_id(id)?,
                owed,
            ));
        }
        Ok(out)
    }

    /// Unread incoming messages of a conversation: local id, sender, id.
    pub fn unread(
        &self,
        conversation: &UserId<'_>,
    ) -> Result<Vec<(i64, DeviceAddress<'static>, ClientMessageId)>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT id, sender_user, sender_device, message_id FROM messages
                 WHERE conversation = ?1 AND outgoing = 0 AND status = ?2
                 ORDER BY sent_at_ms, sequence",
            )
            .map_err(storage("reading unread messages"))?;
        let rows = statement
            .query_map(
                params![conversation.as_str(), MessageStatus::Unread.code()],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, Vec<u8>>(3)?,
                    ))
                },
            )
            .map_err(storage("reading unread messages"))?;
        let mut out = Vec::new();
        for row in rows {
            let (local, user, device, id) = row.map_err(storage("reading unread messages"))?;
            out.push((
                local,
                DeviceAddress::new(user_id(user)?, device_id(device)?),
                message_id(id)?,
            ));
        }
        Ok(out)
    }

    const MESSAGE_COLUMNS: &'static str = "id, conversation, sender_user, sender_device, \
        message_id, outgoing, content_type, body, sent_at_ms, sequence, server_time_ms, status, \
        received_at_ms, type_name, deleted, expires_at_ms";

    fn message_from_row(&self, row: &rusqlite::Row<'_>) -> Result<Message, ClientError> {
        let get = |err: rusqlite::Error| ClientError::Storage(format!("reading a message: {err}"));
        let sender = DeviceAddress::new(
            user_id(row.get(2).map_err(get)?)?,
            device_id(row.get(3).map_err(get)?)?,
        );
        let id = message_id(row.get(4).map_err(get)?)?;
        let body: Vec<u8> = row.get(7).map_err(get)?;
        let body = self.open(&Self::body_context(&sender, &id, "body"), &body)?;
        let code = row.get::<_, i64>(6).map_err(get)?;
        let content_type = match code {
            0 => ContentType::Text,
            1 => ContentType::Receipt,
            5 => ContentType::Attachment,
            8 => ContentType::Typed,
            _ => {
                return Err(ClientError::Storage(
                    "a stored content type is unknown".into(),
                ));
            }
        };
        let conversation: String = row.get(1).map_err(get)?;
        let type_name: Option<String> = row.get(13).map_err(get)?;
        let deleted: bool = row.get(14).map_err(get)?;
        let (mut kind, mut text) = if deleted {
            (crate::history::MessageKind::Deleted, String::new())
        } else {
            crate::content::shown(content_type, &body)?
        };
        if let crate::history::MessageKind::Reply {
            quote,
            quote_local_id,
        } = &mut kind
        {
            *quote_local_id =
                self.find_by_ref(&user_id(conversation.clone())?, &quote.author, &quote.id)?;
        }
        let mut edited_at_ms = None;
        if !deleted
            && let Some(edit) = self.latest_edit(
                &conversation,
                sender.user.as_str(),
                &id,
                code,
                type_name.as_deref(),
            )?
        {
            text = edit.text;
            edited_at_ms = Some(edit.sent_at_ms);
        }
        let reactions = if deleted {
            Vec::new()
        } else {
            self.reactions(&conversation, sender.user.as_str(), &id)?
                .into_iter()
                .map(|(user, reaction, at_ms)| crate::history::ReactionRecord {
                    user,
                    reaction,
                    at_ms,
                })
                .collect()
        };
        Ok(Message {
            local_id: row.get(0).map_err(get)?,
            conversation,
            sender,
            id,
            outgoing: row.get(5).map_err(get)?,
            text,
            kind,
            edited_at_ms,
            reactions,
            expires_at_ms: row
                .get::<_, Option<i64>>(15)
                .map_err(get)?
                .map(from_sql_u64),
            content_type,
            sent_at_ms: from_sql_u64(row.get(8).map_err(get)?),
            sequence: from_sql_u64(row.get(9).map_err(get)?),
            server_time_ms: row
                .get::<_, Option<i64>>(10)
                .map_err(get)?
                .map(from_sql_u64),
            status: MessageStatus::from_code(row.get(11).map_err(get)?)?,
            received_at_ms: from_sql_u64(row.get(12).map_err(get)?),
        })
    }

    /// A conversation's messages in the order the senders sent them: by the
    /// sender's clock, then by the sender's counter. The last `limit`.
    pub fn history(
        &self,
        conversation: &UserId<'_>,
        limit: usize,
    ) -> Result<Vec<Message>, ClientError> {
        let sql = format!(
            "SELECT {} FROM (SELECT * FROM messages WHERE conversation = ?1 AND hidden = 0
                 ORDER BY sent_at_ms DESC, sequence DESC, id DESC LIMIT ?2)
             ORDER BY sent_at_ms, sequence, id",
            Self::MESSAGE_COLUMNS
        );
        let mut statement = self
            .conn
            .prepare_cached(&sql)
            .map_err(storage("reading history"))?;
        let mut rows = statement
            .query(params![
                conversation.as_str(),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ])
            .map_err(storage("reading history"))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(storage("reading history"))? {
            out.push(self.message_from_row(row)?);
        }
        Ok(out)
    }

    pub fn message(&self, local_id: i64) -> Result<Option<Message>, ClientError> {
        let sql = format!(
            "SELECT {} FROM messages WHERE id = ?1",
            Self::MESSAGE_COLUMNS
        );
        let mut statement = self
            .conn
            .prepare_cached(&sql)
            .map_err(storage("reading a message"))?;
        let mut rows = statement
            .query([local_id])
            .map_err(storage("reading a message"))?;
        match rows.next().map_err(storage("reading a message"))? {
            Some(row) => Ok(Some(self.message_from_row(row)?)),
            None => Ok(None),
        }
    }

    /// A message's body exactly as stored (the history's `text` is lossy
    /// for bytes that are not UTF-8; a report needs the bytes).
    pub fn message_body(&self, local_id: i64) -> Result<Option<Zeroizing<Vec<u8>>>, ClientError> {
        let row: Option<(String, i64, Vec<u8>, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT sender_user, sender_device, message_id, body FROM messages WHERE id = ?1",
                [local_id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()
            .map_err(storage("reading a message body"))?;
        let Some((user, device, id, sealed)) = row else {
            return Ok(None);
        };
        let sender = DeviceAddress::new(user_id(user)?, device_id(device)?);
        self.open(
            &Self::body_context(&sender, &message_id(id)?, "body"),
            &sealed,
        )
        .map(Some)
    }

    /// The franking opening stored with a received message.
    #[allow(clippy::type_complexity)]
    pub fn franking(&self, local_id: i64) -> Result<Option<StoredFranking>, ClientError> {
        let row: Option<(String, i64, Vec<u8>, Option<Vec<u8>>)> = self
            .conn
            .query_row(
                "SELECT sender_user, sender_device, message_id, franking FROM messages
                 WHERE id = ?1",
                [local_id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()
            .map_err(storage("reading a franking opening"))?;
        let Some((user, device, id, Some(sealed))) = row else {
            return Ok(None);
        };
        let sender = DeviceAddress::new(user_id(user)?, device_id(device)?);
        let bytes = self.open(
            &Self::body_context(&sender, &message_id(id)?, "franking"),
            &sealed,
        )?;
        StoredFranking::decode(&bytes).map(Some)
    }

    /// Receipts of a message: who, which kind (0 delivered, 1 read), when.
    pub fn receipts(
        &self,
        local_id: i64,
    ) -> Result<Vec<(DeviceAddress<'static>, i64, u64)>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT user, device, kind, at_ms FROM receipts WHERE message = ?1
                 ORDER BY at_ms, user, device, kind",
            )
            .map_err(storage("reading receipts"))?;
        let rows = statement
            .query_map([local_id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })
            .map_err(storage("reading receipts"))?;
        let mut out = Vec::new();
        for row in rows {
            let (user, device, kind, at) = row.map_err(storage("reading receipts"))?;
            out.push((
                DeviceAddress::new(user_id(user)?, device_id(device)?),
                kind,
                from_sql_u64(at),
            ));
        }
        Ok(out)
    }

    /// Conversations, most recent first: peer, message count, unread count,
    /// time of the last message (sender's clock).
    pub fn conversations(&self) -> Result<Vec<(String, u64, u64, u64)>, ClientError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT conversation, COUNT(*), SUM(outgoing = 0 AND status = ?1), MAX(sent_at_ms)
                 FROM messages WHERE hidden = 0 GROUP BY conversation ORDER BY MAX(sent_at_ms) DESC, conversation",
            )
            .map_err(storage("reading conversations"))?;
        let rows = statement
            .query_map([MessageStatus::Unread.code()], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })
            .map_err(storage("reading conversations"))?;
        let mut out = Vec::new();
        for row in rows {
            let (peer, count, unread, last) = row.map_err(storage("reading conversations"))?;
            out.push((
                peer,
                from_sql_u64(count),
                from_sql_u64(unread),
                from_sql_u64(last),
            ));
        }
        Ok(out)
    }
}
