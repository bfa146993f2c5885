//! Search over the local history: 1:1 and group messages, newest first
//! (`spec/client.md` §16.3). The index ([`crate::store::search`]) is kept
//! in memory only.

use rusqlite::types::Value;

use crate::client::{Client, user_id};
use crate::group::{group_entry, group_searchable, parse_group_id};
use crate::history::Message;
use crate::store::Reader;
use crate::store::pages::{DIRECT_ORDER, GROUP_ORDER, HistoryOrder};
use crate::store::search::{IndexHit, IndexedHistory, Searchable, fts_query};
use crate::{ClientError, GroupEntry};

/// Where to search.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SearchScope {
    /// Every conversation and every group.
    All,
    /// The conversation with this user.
    Direct(String),
    /// This group (its id, 64 hex digits).
    Group(String),
}

/// A message that matched a search, with its conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchHit {
    /// A message of a 1:1 conversation ([`Message::conversation`] names it).
    Direct(Message),
    /// A message of a group ([`GroupEntry::group`] names it).
    Group(GroupEntry),
}

impl SearchHit {
    /// The message's local id, in its history.
    pub fn local_id(&self) -> i64 {
        match self {
            Self::Direct(message) => message.local_id,
            Self::Group(entry) => entry.local_id,
        }
    }

    /// The text shown for the message.
    pub fn text(&self) -> &str {
        match self {
            Self::Direct(message) => &message.text,
            Self::Group(entry) => &entry.text,
        }
    }

    /// The sender's clock when it sent the message.
    pub fn sent_at_ms(&self) -> u64 {
        match self {
            Self::Direct(message) => message.sent_at_ms,
            Self::Group(entry) => entry.sent_at_ms,
        }
    }
}

/// One history as search sees it.
struct Searched {
    history: IndexedHistory,
    order: &'static HistoryOrder,
    within: Option<Value>,
}

impl Searched {
    fn searchable(&self, db: Reader<'_>, local_id: i64) -> Result<Option<Searchable>, ClientError> {
        match self.history {
            IndexedHistory::Direct => db.searchable(local_id),
            IndexedHistory::Group => group_searchable(db, local_id),
        }
    }

    fn hit(&self, db: Reader<'_>, local_id: i64) -> Result<Option<SearchHit>, ClientError> {
        Ok(match self.history {
            IndexedHistory::Direct => db.message(local_id)?.map(SearchHit::Direct),
            IndexedHistory::Group => group_entry(db, local_id)?.map(SearchHit::Group),
        })
    }
}

impl Client {
    /// Messages whose text (or, for an attachment, file name) holds every
    /// word of `query`, each word matched as the start of a word, case and
    /// accents ignored; newest first (by the sender's clock), at most
    /// `limit`. The query is plain words: quotes, parentheses, `NEAR`,
    /// `AND`, `*` are searched for as words, never read as operators. A
    /// query without a letter or digit finds nothing.
    ///
    /// The index is kept in memory only (never in a file): the first search
    /// after opening builds it from the decrypted history, holding the
    /// device's lock meanwhile; later ones add what arrived.
    ///
    /// Cancel safety: [`Client`](crate::Client#cancel-safety).
    pub async fn search(
        &self,
        query: &str,
        scope: SearchScope,
        limit: usize,
    ) -> Result<Vec<SearchHit>, ClientError> {
        let Some(query) = fts_query(query) else {
            return Ok(Vec::new());
        };
        let searched = match scope {
            SearchScope::All => vec![
                Searched {
                    history: IndexedHistory::Direct,
                    order: &DIRECT_ORDER,
                    within: None,
                },
                Searched {
                    history: IndexedHistory::Group,
                    order: &GROUP_ORDER,
                    within: None,
                },
            ],
            SearchScope::Direct(user) => vec![Searched {
                history: IndexedHistory::Direct,
                order: &DIRECT_ORDER,
                within: Some(Value::Text(user_id(&user)?.as_str().to_owned())),
            }],
            SearchScope::Group(group) => {
                let id = parse_group_id(&group)?;
                vec![Searched {
                    history: IndexedHistory::Group,
                    order: &GROUP_ORDER,
                    within: Some(Value::Blob(id.as_bytes().to_vec())),
                }]
            }
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let state = self.inner.state.lock().await;
        let db = state.store.reader();
        let mut found: Vec<(IndexHit, &Searched)> = Vec::new();
        for one in &searched {
            db.catch_up_index(one.history, one.order, |local_id| {
                one.searchable(db, local_id)
            })?;
            let hits =
                db.search_index(one.history, one.order, &query, one.within.clone(), limit)?;
            found.extend(hits.into_iter().map(|hit| (hit, one)));
        }
        // Newest first across the histories; a tie falls to the history,
        // then the local id, so the order is stable.
        found.sort_by(|(a, one), (b, other)| {
            (
                b.sent_at_ms,
                other.history == IndexedHistory::Direct,
                b.local_id,
            )
                .cmp(&(
                    a.sent_at_ms,
                    one.history == IndexedHistory::Direct,
                    a.local_id,
                ))
        });
        let mut out = Vec::new();
        for (hit, one) in found {
            if out.len() == limit {
                break;
            }
            if self.still_matches(db, one, &hit, &query)?
                && let Some(message) = one.hit(db, hit.local_id)?
            {
                out.push(message);
            }
        }
        Ok(out)
    }

    /// Checks a hit against the store: the row must still hold the text
    /// indexed (another process may have changed it); if it does not, the
    /// index takes the stored text and the hit stands only if that matches.
    fn still_matches(
        &self,
        db: Reader<'_>,
        one: &Searched,
        hit: &IndexHit,
        query: &str,
    ) -> Result<bool, ClientError> {
        match one.searchable(db, hit.local_id)? {
            None => {
                db.forget(one.history, hit.local_id)?;
                Ok(false)
            }
            Some(stored) if *stored.text == *hit.indexed => Ok(true),
            Some(stored) => {
                db.reindex(one.history, hit.local_id, &stored.text)?;
                db.index_matches(one.history, hit.local_id, query)
            }
        }
    }
}
