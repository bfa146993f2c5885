//! A conversation's history by cursor, and unread counts (`spec/client.md` §16).

use rusqlite::types::Value;

use crate::ClientError;
use crate::history::{HistoryCursor, HistoryPage, Message};
use crate::store::pages::DIRECT_ORDER;

use super::{Client, user_id};

impl Client {
    /// A page of the conversation with `user`: the newest or oldest
    /// messages, or those just before or after a message of the
    /// conversation named by its local id, oldest first, at most `limit`.
    /// Paging on from a page's first message ([`HistoryCursor::Before`])
    /// or last ([`HistoryCursor::After`]) gives every message once, in
    /// order, however many share a timestamp. A cursor naming a message
    /// of another conversation, or none, is `InvalidArgument`.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn history_page(
        &self,
        user: &str,
        cursor: HistoryCursor,
        limit: usize,
    ) -> Result<HistoryPage<Message>, ClientError> {
        let peer = user_id(user)?;
        let state = self.inner.state.lock().await;
        let db = state.store.reader();
        let page = db.page_ids(
            &DIRECT_ORDER,
            Value::Text(peer.as_str().to_owned()),
            cursor,
            limit,
            &format!("the conversation with {}", peer.as_str()),
        )?;
        let mut messages = Vec::with_capacity(page.ids.len());
        for local_id in page.ids {
            messages.push(db.message(local_id)?.ok_or_else(|| {
                ClientError::Storage("a message of a page vanished while it was read".into())
            })?);
        }
        Ok(HistoryPage {
            messages,
            has_older: page.has_older,
            has_newer: page.has_newer,
        })
    }

    /// How many received messages are not read yet, in every conversation
    /// and every group ([`Conversation::unread`](crate::Conversation::unread)
    /// and [`Client::group_unread`] give them one by one).
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn unread_count(&self) -> Result<u64, ClientError> {
        let state = self.inner.state.lock().await;
        let db = state.store.reader();
        Ok(db
            .direct_unread_total()?
            .saturating_add(crate::group::unread_in_groups(db)?))
    }
}
