//! Group history by cursor, one entry by id, and unread group messages
//! (`spec/client.md` §16).

use fuin_wire::GroupId;
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, params};

use crate::ClientError;
use crate::group::{GroupEntry, group_hex};
use crate::history::{HistoryCursor, HistoryPage, MessageStatus};
use crate::store::pages::GROUP_ORDER;

use super::{ENTRY_COLUMNS, EntryRow, Groups, status_code, storage, unsql};

/// The columns of [`ENTRY_COLUMNS`], starting at column `first`.
fn entry_row(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<EntryRow> {
    Ok((
        row.get(first)?,
        row.get(first + 1)?,
        row.get(first + 2)?,
        row.get(first + 3)?,
        row.get(first + 4)?,
        row.get(first + 5)?,
        row.get(first + 6)?,
        row.get(first + 7)?,
        row.get(first + 8)?,
        row.get(first + 9)?,
    ))
}

impl Groups<'_> {
    /// One entry of any group's history by its local id.
    pub(in crate::group) fn entry(&self, local_id: i64) -> Result<Option<GroupEntry>, ClientError> {
        let row: Option<(Vec<u8>, EntryRow)> = self
            .db
            .conn
            .query_row(
                &format!(
                    "SELECT group_id, {ENTRY_COLUMNS} FROM group_messages WHERE local_id = ?1"
                ),
                [local_id],
                |row| Ok((row.get::<_, Vec<u8>>(0)?, entry_row(row, 1)?)),
            )
            .optional()
            .map_err(storage("reading a group message"))?;
        let Some((group, entry)) = row else {
            return Ok(None);
        };
        let group = <[u8; 32]>::try_from(group.as_slice())
            .map(GroupId)
            .map_err(|_| ClientError::Storage("a group message names no group".into()))?;
        self.entry_of(&group, entry).map(Some)
    }

    /// The page of a group's history that `cursor` names.
    pub(in crate::group) fn page(
        &self,
        id: &GroupId,
        cursor: HistoryCursor,
        limit: usize,
    ) -> Result<HistoryPage<GroupEntry>, ClientError> {
        let page = self.db.page_ids(
            &GROUP_ORDER,
            Value::Blob(id.as_bytes().to_vec()),
            cursor,
            limit,
            &format!("group {}", group_hex(id)),
        )?;
        let mut statement = self
            .db
            .conn
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM group_messages WHERE local_id = ?1"
            ))
            .map_err(storage("reading group history"))?;
        let mut messages = Vec::with_capacity(page.ids.len());
        for local_id in page.ids {
            let row = statement
                .query_row([local_id], |row| entry_row(row, 0))
                .map_err(storage("reading group history"))?;
            messages.push(self.entry_of(id, row)?);
        }
        Ok(HistoryPage {
            messages,
            has_older: page.has_older,
            has_newer: page.has_newer,
        })
    }

    /// Incoming messages not yet read: in one group, or in all.
    pub(in crate::group) fn unread(&self, id: Option<&GroupId>) -> Result<u64, ClientError> {
        let count = match id {
            Some(id) => self.db.conn.query_row(
                "SELECT COUNT(*) FROM group_messages
                 WHERE group_id = ?1 AND outgoing = 0 AND status = 3",
                [id.as_bytes()],
                |row| row.get::<_, i64>(0),
            ),
            None => self.db.conn.query_row(
                "SELECT COUNT(*) FROM group_messages WHERE outgoing = 0 AND status = 3",
                [],
                |row| row.get::<_, i64>(0),
            ),
        };
        count
            .map(unsql)
            .map_err(storage("counting unread group messages"))
    }

    /// Marks every unread message of a group read; how many it marked.
    pub(in crate::group) fn mark_read(&self, id: &GroupId) -> Result<usize, ClientError> {
        self.db
            .conn
            .execute(
                "UPDATE group_messages SET status = ?2
                 WHERE group_id = ?1 AND outgoing = 0 AND status = ?3",
                params![
                    id.as_bytes(),
                    status_code(MessageStatus::Read),
                    status_code(MessageStatus::Unread)
                ],
            )
            .map_err(storage("marking group messages read"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unread_group_messages_are_counted_by_their_stored_code() {
        // The counts and the partial index name the code literally, so
        // that the index serves them.
        assert_eq!(status_code(MessageStatus::Unread), 3);
        assert!(
            crate::store::pages::HISTORY_INDEXES
                .contains("group_messages (group_id)\n    WHERE outgoing = 0 AND status = 3")
        );
        assert_ne!(
            status_code(MessageStatus::Read),
            status_code(MessageStatus::Unread)
        );
        assert_eq!(
            super::super::status_of(status_code(MessageStatus::Read)),
            MessageStatus::Read
        );
    }
}
