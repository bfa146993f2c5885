//! A group's history by cursor, its unread messages, and what search needs
//! of group messages (`spec/client.md` §16).

use crate::client::Client;
use crate::history::{HistoryCursor, HistoryPage};
use crate::store::Reader;
use crate::store::search::Searchable;
use crate::{ClientError, GroupEntry};

use super::parse_group_id;
use super::store::Groups;

impl Client {
    /// A page of the group's history: the newest or oldest messages, or
    /// those just before or after a message of the group named by its
    /// local id, oldest first, at most `limit`. A cursor naming a message
    /// of another group, or none, is `InvalidArgument`.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn group_history_page(
        &self,
        group: &str,
        cursor: HistoryCursor,
        limit: usize,
    ) -> Result<HistoryPage<GroupEntry>, ClientError> {
        let id = parse_group_id(group)?;
        let state = self.inner.state.lock().await;
        self.group_state(&state, &id)?;
        Groups {
            db: state.store.reader(),
        }
        .page(&id, cursor, limit)
    }

    /// How many received messages of the group are not read yet.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn group_unread(&self, group: &str) -> Result<u64, ClientError> {
        let id = parse_group_id(group)?;
        let state = self.inner.state.lock().await;
        self.group_state(&state, &id)?;
        Groups {
            db: state.store.reader(),
        }
        .unread(Some(&id))
    }

    /// Marks every received message of the group read; returns how many it
    /// marked. Group messages have no receipts (§12): this is local.
    pub async fn mark_group_read(&self, group: &str) -> Result<usize, ClientError> {
        let id = parse_group_id(group)?;
        let mut state = self.inner.state.lock().await;
        self.group_state(&state, &id)?;
        let (tx, key) = state.store.transaction()?;
        let marked = Groups {
            db: Reader::of(&tx, key),
        }
        .mark_read(&id)?;
        crate::client::commit(tx)?;
        Ok(marked)
    }
}

/// Received group messages not read yet, in every group.
pub(crate) fn unread_in_groups(db: Reader<'_>) -> Result<u64, ClientError> {
    Groups { db }.unread(None)
}

/// One group message by its local id.
pub(crate) fn group_entry(
    db: Reader<'_>,
    local_id: i64,
) -> Result<Option<GroupEntry>, ClientError> {
    Groups { db }.entry(local_id)
}

/// What the search index holds of a group message, read from the store.
pub(crate) fn group_searchable(
    db: Reader<'_>,
    local_id: i64,
) -> Result<Option<Searchable>, ClientError> {
    Groups { db }.searchable(local_id)
}
