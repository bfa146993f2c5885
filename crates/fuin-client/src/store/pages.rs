//! Pages of a history by cursor, and unread counts (`spec/client.md` §16).
//!
//! A history's order is total: the sender's clock, then (1:1) the sender's
//! counter, then the local id, which no two rows share. A page is the rows
//! strictly before or after its cursor's row in that order, so paging on
//! from a page's first or last message neither skips nor repeats a row,
//! however many share a timestamp.

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, params_from_iter};

use crate::ClientError;
use crate::history::HistoryCursor;

use super::{Reader, storage};

/// Indexes that keep paging and unread counts fast, made at every open
/// (`IF NOT EXISTS`: no schema version). The 1:1 history is paged on
/// `messages_by_conversation` (its rowid, the local id, ends every index
/// entry); `group_messages` gets the same, and both get a partial index of
/// unread rows.
pub(crate) const HISTORY_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS group_messages_by_time ON group_messages (group_id, sent_at_ms);
CREATE INDEX IF NOT EXISTS messages_unread ON messages (conversation)
    WHERE outgoing = 0 AND status = 4;
CREATE INDEX IF NOT EXISTS group_messages_unread ON group_messages (group_id)
    WHERE outgoing = 0 AND status = 3;
";

/// How one history table is ordered and split into conversations.
pub(crate) struct HistoryOrder {
    /// The table.
    pub table: &'static str,
    /// Its local id column (the rowid).
    pub id: &'static str,
    /// The column naming the conversation.
    pub within: &'static str,
    /// The order, last column the local id.
    pub key: &'static [&'static str],
}

/// The 1:1 history's order (`spec/client.md` §4.2).
pub(crate) const DIRECT_ORDER: HistoryOrder = HistoryOrder {
    table: "messages",
    id: "id",
    within: "conversation",
    key: &["sent_at_ms", "sequence", "id"],
};

/// The group history's order: the sender's clock, then the local id (a
/// group message carries no counter of the sender's).
pub(crate) const GROUP_ORDER: HistoryOrder = HistoryOrder {
    table: "group_messages",
    id: "local_id",
    within: "group_id",
    key: &["sent_at_ms", "local_id"],
};

/// A page's local ids, oldest first, and whether more lie either way.
pub(crate) struct PageIds {
    pub ids: Vec<i64>,
    pub has_older: bool,
    pub has_newer: bool,
}

impl HistoryOrder {
    fn key_list(&self) -> String {
        self.key.join(", ")
    }

    fn key_order(&self, direction: &str) -> String {
        self.key
            .iter()
            .map(|column| format!("{column} {direction}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Reader<'_> {
    /// The page of the history `within` (a conversation's peer or a group
    /// id) that `cursor` names, at most `limit` rows. A cursor naming a row
    /// that is not in that history is `InvalidArgument`; `history` names
    /// the history in the error.
    pub(crate) fn page_ids(
        &self,
        order: &HistoryOrder,
        within: Value,
        cursor: HistoryCursor,
        limit: usize,
        history: &str,
    ) -> Result<PageIds, ClientError> {
        if limit == 0 {
            return Err(ClientError::InvalidArgument(
                "a page holds at least one message".into(),
            ));
        }
        let (table, id, keys) = (order.table, order.id, order.key_list());
        let (older, anchor) = match cursor {
            HistoryCursor::Latest => (true, None),
            HistoryCursor::Oldest => (false, None),
            HistoryCursor::Before(local_id) => (true, Some(local_id)),
            HistoryCursor::After(local_id) => (false, Some(local_id)),
        };
        let mut args = vec![
            within.clone(),
            Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1)),
        ];
        let mut condition = format!("{} = ?1", order.within);
        if let Some(local_id) = anchor {
            let position = self.position(order, &within, local_id, history)?;
            let marks: Vec<String> = (0..position.len()).map(|i| format!("?{}", i + 3)).collect();
            condition.push_str(&format!(
                " AND ({keys}) {} ({})",
                if older { "<" } else { ">" },
                marks.join(", ")
            ));
            args.extend(position.into_iter().map(Value::Integer));
        }
        let sql = format!(
            "SELECT {id} FROM {table} WHERE {condition} ORDER BY {} LIMIT ?2",
            order.key_order(if older { "DESC" } else { "ASC" })
        );
        #[cfg(test)]
        tests::note_page_sql(&sql);
        let mut statement = self
            .conn
            .prepare_cached(&sql)
            .map_err(storage("reading a history page"))?;
        let mut ids: Vec<i64> = statement
            .query_map(params_from_iter(args), |row| row.get(0))
            .map_err(storage("reading a history page"))?
            .collect::<Result<_, _>>()
            .map_err(storage("reading a history page"))?;
        let more = ids.len() > limit;
        ids.truncate(limit);
        if older {
            ids.reverse();
        }
        // Beyond the cursor lies at least the cursor's own row.
        let (has_older, has_newer) = if older {
            (more, anchor.is_some())
        } else {
            (anchor.is_some(), more)
        };
        Ok(PageIds {
            ids,
            has_older,
            has_newer,
        })
    }

    /// The order key of row `local_id`, which must be in `within`.
    fn position(
        &self,
        order: &HistoryOrder,
        within: &Value,
        local_id: i64,
        history: &str,
    ) -> Result<Vec<i64>, ClientError> {
        let sql = format!(
            "SELECT {} = ?2, {} FROM {} WHERE {} = ?1",
            order.within,
            order.key_list(),
            order.table,
            order.id
        );
        let found: Option<(bool, Vec<i64>)> = self
            .conn
            .query_row(&sql, rusqlite::params![local_id, within], |row| {
                let mine: bool = row.get(0)?;
                let key = (1..=order.key.len())
                    .map(|i| row.get::<_, i64>(i))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((mine, key))
            })
            .optional()
            .map_err(storage("reading a history page"))?;
        match found {
            Some((true, key)) => Ok(key),
            Some((false, _)) => Err(ClientError::InvalidArgument(format!(
                "message {local_id} is not in {history}"
            ))),
            None => Err(ClientError::InvalidArgument(format!(
                "there is no message {local_id} in this store"
            ))),
        }
    }

    /// Incoming messages not yet read, in every 1:1 conversation.
    pub(crate) fn direct_unread_total(&self) -> Result<u64, ClientError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM messages WHERE outgoing = 0 AND status = 4",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map(super::from_sql_u64)
            .map_err(storage("counting unread messages"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::cell::RefCell;

    use fuin_seal::state::StorageKey;

    use super::*;
    use crate::store::LocalStore;

    thread_local! {
        static PAGE_SQL: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    /// Keeps the SQL of every page read on this thread, for the plan test.
    pub(super) fn note_page_sql(sql: &str) {
        PAGE_SQL.with(|seen| seen.borrow_mut().push(sql.to_owned()));
    }

    /// Every page query, either way and from every kind of cursor, is
    /// answered from an index in the history's order: a seek and a walk,
    /// no scan of the table and no sort.
    #[test]
    fn pages_are_read_from_an_index_without_a_sort() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::create(
            &dir.path().join("store.db"),
            StorageKey::generate(&mut rand::rng()),
        )
        .unwrap();
        let db = store.reader();
        db.conn
            .execute_batch(
                "INSERT INTO messages (id, conversation, sender_user, sender_device, message_id,
                     outgoing, content_type, body, sent_at_ms, sequence, status, received_at_ms)
                 VALUES (1, 'bob', 'bob', 1, x'01', 0, 0, x'', 5, 0, 4, 5);
                 INSERT INTO group_messages (local_id, group_id, sender_user, sender_device,
                     message_id, outgoing, epoch, body, sent_at_ms, status, received_at_ms)
                 VALUES (1, x'07', 'bob', 1, x'01', 0, 0, x'', 5, 3, 5);",
            )
            .unwrap();
        for (order, within) in [
            (&DIRECT_ORDER, Value::Text("bob".into())),
            (&GROUP_ORDER, Value::Blob(vec![7])),
        ] {
            for cursor in [
                HistoryCursor::Latest,
                HistoryCursor::Oldest,
                HistoryCursor::Before(1),
                HistoryCursor::After(1),
            ] {
                db.page_ids(order, within.clone(), cursor, 10, "it")
                    .unwrap();
            }
        }
        let seen = PAGE_SQL.with(|seen| seen.borrow().clone());
        assert_eq!(seen.len(), 8);
        for sql in seen {
            let mut explain = db
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let count = explain.parameter_count();
            let plan: Vec<String> = explain
                .query_map(
                    rusqlite::params_from_iter((0..count).map(|_| Value::Integer(1))),
                    |row| row.get::<_, String>(3),
                )
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let plan = plan.join("; ");
            assert!(
                plan.contains("USING INDEX messages_by_conversation")
                    || plan.contains("USING COVERING INDEX messages_by_conversation")
                    || plan.contains("USING INDEX group_messages_by_time")
                    || plan.contains("USING COVERING INDEX group_messages_by_time"),
                "{sql}: {plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
        }
    }

    #[test]
    fn the_unread_indexes_name_the_stored_unread_codes() {
        use crate::history::MessageStatus;
        assert!(super::HISTORY_INDEXES.contains(&format!(
            "outgoing = 0 AND status = {}",
            MessageStatus::Unread.code()
        )));
    }
}
