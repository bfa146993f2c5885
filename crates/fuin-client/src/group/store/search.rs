//! What the search index holds of a stored group message (`spec/client.md` §16.3).

use rusqlite::OptionalExtension;

use crate::ClientError;
use crate::client::user_id;
use crate::store::search::{Searchable, searchable_text};

use super::{Groups, body_part, history_content_type, storage};

/// A group message as search reads it: group id, sender user and device,
/// message id, content type, sealed body.
type SearchRow = (Vec<u8>, String, i64, Vec<u8>, i64, Vec<u8>);

impl Groups<'_> {
    /// The searchable text of a stored group message, read from the store.
    pub(in crate::group) fn searchable(
        &self,
        local_id: i64,
    ) -> Result<Option<Searchable>, ClientError> {
        let row: Option<SearchRow> = self
            .db
            .conn
            .query_row(
                "SELECT group_id, sender_user, sender_device, message_id, content_type, body
                 FROM group_messages WHERE local_id = ?1",
                [local_id],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                    ))
                },
            )
            .optional()
            .map_err(storage("reading a group message"))?;
        let Some((group, user, device, message_id, kind, sealed)) = row else {
            return Ok(None);
        };
        let group = <[u8; 32]>::try_from(group.as_slice())
            .map(fuin_wire::GroupId)
            .map_err(|_| ClientError::Storage("a group message names no group".into()))?;
        let sender =
            fuin_wire::DeviceAddress::new(user_id(&user)?, crate::store::device_id(device)?);
        // A content type this version does not search has nothing to index.
        let Ok(content_type) = history_content_type(kind) else {
            return Ok(Some(Searchable {
                text: zeroize::Zeroizing::new(String::new()),
                message_id,
            }));
        };
        let body = self.db.open(
            &Self::body_context(&group, &sender, &message_id, body_part(content_type)),
            &sealed,
        )?;
        Ok(Some(Searchable {
            text: searchable_text(content_type.code(), &body),
            message_id,
        }))
    }
}
