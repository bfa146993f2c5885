//! The search index over the decrypted history (`spec/client.md` §16.3).
//!
//! The index is an SQLite FTS5 table in an in-memory database attached to
//! the store's connection as `search`: it never reaches a file, so the
//! plaintext the store keeps sealed on disk does not come back through it.
//! Because it lives on the same connection, every index change made while a
//! message is stored is part of that message's transaction: a rollback
//! takes both back. What other processes change in the store (they have
//! their own index) is caught up before a search, and every hit is checked
//! against the store when it is returned.
//!
//! Each history row has exactly one index row, with the same rowid, the
//! sender's message id (to tell a reused rowid from the row indexed) and
//! the searchable text: a text's words, an attachment's file name, nothing
//! for other content.

use fuin_wire::attachment::AttachmentShare;
use fuin_wire::{ContentType, DeviceAddress};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use zeroize::Zeroizing;

use crate::ClientError;

use super::pages::HistoryOrder;
use super::{Reader, storage};

/// Attaches the empty in-memory index to a store connection. Temporary
/// tables and sorts stay in memory too, so that a large search spills
/// nothing to a file.
pub(super) fn attach(conn: &Connection) -> Result<(), ClientError> {
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(storage("keeping temporary data in memory"))?;
    conn.execute_batch(
        "ATTACH DATABASE ':memory:' AS search;
         PRAGMA search.secure_delete = ON;
         CREATE TABLE search.index_state (
             history      INTEGER PRIMARY KEY,
             data_version INTEGER NOT NULL
         );
         CREATE VIRTUAL TABLE search.search_direct USING fts5(
             text, message_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2'
         );
         CREATE VIRTUAL TABLE search.search_group USING fts5(
             text, message_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2'
         );",
    )
    .map_err(storage("creating the search index"))
}

/// A stored message as the index holds it.
pub(crate) struct Searchable {
    /// The sender's message id.
    pub message_id: Vec<u8>,
    /// What is searchable in it ([`searchable_text`]).
    pub text: Zeroizing<String>,
}

/// A message the index matched.
pub(crate) struct IndexHit {
    pub local_id: i64,
    pub sent_at_ms: u64,
    /// The text the index holds for it.
    pub indexed: Zeroizing<String>,
}

/// A 1:1 message as search reads it: sender user and device, message id,
/// content type, sealed body.
type SearchRow = (String, i64, Vec<u8>, u32, Vec<u8>);

/// Which history an index row belongs to. Local ids are counted separately
/// in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum IndexedHistory {
    /// The 1:1 conversations (`messages`).
    Direct,
    /// The groups (`group_messages`).
    Group,
}

impl IndexedHistory {
    pub(crate) fn table(self) -> &'static str {
        match self {
            Self::Direct => "search.search_direct",
            Self::Group => "search.search_group",
        }
    }

    fn code(self) -> i64 {
        match self {
            Self::Direct => 0,
            Self::Group => 1,
        }
    }
}

/// What of a message the index holds: a text's words, an attachment's file
/// name (its description's other parts, media type and size, would make
/// every attachment match "bytes"), a reply's text, nothing for any other
/// content; as the body was sent (edits and deletes are applied by the
/// caller, [`Reader::searchable`]). By the
/// content type's wire code, as stored.
pub(crate) fn searchable_text(content_type: u32, body: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(if content_type == ContentType::Text.code() {
        String::from_utf8_lossy(body).into_owned()
    } else if content_type == ContentType::Typed.code() {
        // A reply's text; nothing of other typed content (edits change
        // their target's entry, `spec/client.md` §14).
        fuin_wire::content::TypedContent::from_bytes(body)
            .ok()
            .filter(|typed| typed.type_name.as_str() == fuin_wire::content::REPLY)
            .and_then(|typed| {
                <fuin_wire::content::Reply as fuin_wire::content::BuiltIn>::from_payload(
                    typed.payload.as_bytes(),
                )
                .ok()
                .map(|reply| reply.text.into_owned())
            })
            .unwrap_or_default()
    } else if content_type == ContentType::Attachment.code() {
        AttachmentShare::from_bytes(body)
            .ok()
            .and_then(|share| share.reference.file_name.map(|n| n.as_str().to_owned()))
            .unwrap_or_default()
    } else {
        String::new()
    })
}

/// Turns what a user typed into an FTS5 query that means "every word, as a
/// prefix": each word becomes a quoted string (a `"` inside doubled), so
/// `NEAR(`, `AND`, `*`, `:` or an unbalanced quote are words to look for,
/// never operators. Words without a letter or digit are left out (the
/// tokenizer would make nothing of them). `None` when no word is left.
pub(crate) fn fts_query(typed: &str) -> Option<String> {
    let words: Vec<String> = typed
        .split_whitespace()
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .map(|word| format!("\"{}\"*", word.replace('"', "\"\"")))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

impl Reader<'_> {
    /// Indexes a newly stored history row. Called by the store inside the
    /// transaction that stores it.
    pub(crate) fn index_message(
        &self,
        history: IndexedHistory,
        local_id: i64,
        message_id: &[u8],
        text: &str,
    ) -> Result<(), ClientError> {
        self.conn
            .execute(
                &format!(
                    "INSERT INTO {} (rowid, text, message_id) VALUES (?1, ?2, ?3)",
                    history.table()
                ),
                params![local_id, text, message_id],
            )
            .map_err(storage("indexing a message"))?;
        Ok(())
    }

    /// Replaces the indexed text of a stored message (its shown text
    /// changed, by an edit). Call it in the transaction that changes the
    /// row; a message not indexed is left to the next catch-up.
    pub(crate) fn reindex(
        &self,
        history: IndexedHistory,
        local_id: i64,
        text: &str,
    ) -> Result<(), ClientError> {
        self.conn
            .execute(
                &format!("UPDATE {} SET text = ?2 WHERE rowid = ?1", history.table()),
                params![local_id, text],
            )
            .map_err(storage("reindexing a message"))?;
        Ok(())
    }

    /// Takes a message out of the index (its row is deleted: a delete for
    /// everyone, a disappearing message). Call it in the transaction that
    /// deletes the row.
    pub(crate) fn forget(&self, history: IndexedHistory, local_id: i64) -> Result<(), ClientError> {
        self.conn
            .execute(
                &format!("DELETE FROM {} WHERE rowid = ?1", history.table()),
                [local_id],
            )
            .map_err(storage("removing a message from the index"))?;
        Ok(())
    }

    /// The text indexed for a message, if it is indexed.
    #[cfg(test)]
    pub(crate) fn indexed_text(
        &self,
        history: IndexedHistory,
        local_id: i64,
    ) -> Result<Option<Zeroizing<String>>, ClientError> {
        self.conn
            .query_row(
                &format!("SELECT text FROM {} WHERE rowid = ?1", history.table()),
                [local_id],
                |row| row.get::<_, String>(0),
            )
            .optional()
            .map(|text| text.map(Zeroizing::new))
            .map_err(storage("reading the search index"))
    }

    /// Whether one indexed message matches an FTS5 query.
    pub(crate) fn index_matches(
        &self,
        history: IndexedHistory,
        local_id: i64,
        query: &str,
    ) -> Result<bool, ClientError> {
        let table = history.table();
        let bare = table.trim_start_matches("search.");
        self.conn
            .query_row(
                &format!("SELECT COUNT(*) FROM {table} WHERE {bare} MATCH ?1 AND rowid = ?2"),
                params![query, local_id],
                |row| row.get::<_, i64>(0),
            )
            .map(|count| count > 0)
            .map_err(storage("searching"))
    }

    /// Removes index rows whose history row is gone or is another message
    /// now (deleted by another process, its rowid reused), and returns the
    /// local ids of history rows not indexed yet.
    fn unindexed(
        &self,
        history: IndexedHistory,
        order: &HistoryOrder,
    ) -> Result<Vec<i64>, ClientError> {
        let (table, id, index) = (order.table, order.id, history.table());
        self.conn
            .execute(
                &format!(
                    "DELETE FROM {index} WHERE rowid IN (SELECT t.rowid FROM {index} t
                     WHERE NOT EXISTS (SELECT 1 FROM main.{table} m
                         WHERE m.{id} = t.rowid AND m.message_id = t.message_id))"
                ),
                [],
            )
            .map_err(storage("updating the search index"))?;
        let mut statement = self
            .conn
            .prepare(&format!(
                "SELECT m.{id} FROM main.{table} m
                 WHERE NOT EXISTS (SELECT 1 FROM {index} t WHERE t.rowid = m.{id})
                 ORDER BY m.{id}"
            ))
            .map_err(storage("updating the search index"))?;
        statement
            .query_map([], |row| row.get::<_, i64>(0))
            .map_err(storage("updating the search index"))?
            .collect::<Result<_, _>>()
            .map_err(storage("updating the search index"))
    }

    /// Brings the index of one history in step with the store: built from
    /// the decrypted history on the first search, then only what other
    /// processes changed. `searchable` reads one row's [`Searchable`].
    /// Returns how many rows it indexed.
    pub(crate) fn catch_up_index(
        &self,
        history: IndexedHistory,
        order: &HistoryOrder,
        searchable: impl Fn(i64) -> Result<Option<Searchable>, ClientError>,
    ) -> Result<usize, ClientError> {
        if self.index_current(history)? {
            return Ok(0);
        }
        // One savepoint (a transaction of its own outside one), so that
        // FTS5 writes its segments once. It writes to the in-memory
        // database only and reads the store.
        self.conn
            .execute_batch("SAVEPOINT search_catch_up")
            .map_err(storage("updating the search index"))?;
        match self.index_missing(history, order, searchable) {
            Ok(indexed) => {
                self.conn
                    .execute_batch("RELEASE search_catch_up")
                    .map_err(storage("updating the search index"))?;
                Ok(indexed)
            }
            Err(err) => {
                // The index is left as it was; the error is what counts.
                let _ = self
                    .conn
                    .execute_batch("ROLLBACK TO search_catch_up; RELEASE search_catch_up");
                Err(err)
            }
        }
    }

    fn index_missing(
        &self,
        history: IndexedHistory,
        order: &HistoryOrder,
        searchable: impl Fn(i64) -> Result<Option<Searchable>, ClientError>,
    ) -> Result<usize, ClientError> {
        let missing = self.unindexed(history, order)?;
        let mut indexed = 0;
        for local_id in missing {
            if let Some(row) = searchable(local_id)? {
                self.index_message(history, local_id, &row.message_id, &row.text)?;
                indexed += 1;
            }
        }
        self.note_index_current(history)?;
        Ok(indexed)
    }

    /// The messages of one history that match an FTS5 query, newest first
    /// (in the history's order), at most `limit`, optionally within one
    /// conversation: local id, sender's clock, and the text indexed (to be
    /// checked against the store by the caller).
    pub(crate) fn search_index(
        &self,
        history: IndexedHistory,
        order: &HistoryOrder,
        query: &str,
        within: Option<Value>,
        limit: usize,
    ) -> Result<Vec<IndexHit>, ClientError> {
        let index = history.table();
        // An FTS5 table's hidden column of its own name takes the query.
        let bare = index.trim_start_matches("search.");
        let newest_first = order
            .key
            .iter()
            .map(|column| format!("m.{column} DESC"))
            .collect::<Vec<_>>()
            .join(", ");
        let filter = if within.is_some() {
            format!("AND m.{} = ?3", order.within)
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT m.{id}, m.sent_at_ms, t.text FROM {index} t
             JOIN main.{table} m ON m.{id} = t.rowid AND m.message_id = t.message_id
             WHERE t.{bare} MATCH ?1 {filter}
             ORDER BY {newest_first} LIMIT ?2",
            id = order.id,
            table = order.table,
        );
        let mut args = vec![
            Value::Text(query.to_owned()),
            Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)),
        ];
        args.extend(within);
        let mut statement = self
            .conn
            .prepare_cached(&sql)
            .map_err(storage("searching"))?;
        statement
            .query_map(rusqlite::params_from_iter(args), |row| {
                Ok(IndexHit {
                    local_id: row.get(0)?,
                    sent_at_ms: super::from_sql_u64(row.get(1)?),
                    indexed: Zeroizing::new(row.get(2)?),
                })
            })
            .map_err(storage("searching"))?
            .collect::<Result<_, _>>()
            .map_err(storage("searching"))
    }

    /// What the index holds of a stored 1:1 message, read from the store.
    pub(crate) fn searchable(&self, local_id: i64) -> Result<Option<Searchable>, ClientError> {
        let row: Option<SearchRow> = self
            .conn
            .query_row(
                "SELECT sender_user, sender_device, message_id, content_type, body
                 FROM messages WHERE id = ?1",
                [local_id],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                },
            )
            .optional()
            .map_err(storage("reading a message"))?;
        let Some((user, device, id, content_type, sealed)) = row else {
            return Ok(None);
        };
        let sender = DeviceAddress::new(super::user_id(user)?, super::device_id(device)?);
        let message_id = super::message_id(id)?;
        if content_type == ContentType::Text.code() || content_type == ContentType::Typed.code() {
            // The text as shown: the newest edit's, a reply's, nothing once
            // deleted or for rows that are not messages of their own.
            let text = match self.message(local_id)? {
                Some(message)
                    if matches!(
                        message.kind,
                        crate::history::MessageKind::Text
                            | crate::history::MessageKind::Reply { .. }
                    ) =>
                {
                    Zeroizing::new(message.text)
                }
                _ => Zeroizing::new(String::new()),
            };
            return Ok(Some(Searchable {
                message_id: message_id.0.to_vec(),
                text,
            }));
        }
        let body = self.open(&Self::body_context(&sender, &message_id, "body"), &sealed)?;
        Ok(Some(Searchable {
            message_id: message_id.0.to_vec(),
            text: searchable_text(content_type, &body),
        }))
    }

    /// Whether the index of `history` is in step with the store: it was
    /// caught up and no other connection has committed since
    /// (`PRAGMA data_version` changes only for other connections' commits;
    /// this connection's own writes index themselves).
    pub(crate) fn index_current(&self, history: IndexedHistory) -> Result<bool, ClientError> {
        let now = self.data_version()?;
        let then: Option<i64> = self
            .conn
            .query_row(
                "SELECT data_version FROM search.index_state WHERE history = ?1",
                [history.code()],
                |row| row.get(0),
            )
            .optional()
            .map_err(storage("reading the search index"))?;
        Ok(then == Some(now))
    }

    /// Records that the index of `history` was caught up.
    pub(crate) fn note_index_current(&self, history: IndexedHistory) -> Result<(), ClientError> {
        let now = self.data_version()?;
        self.conn
            .execute(
                "INSERT INTO search.index_state (history, data_version) VALUES (?1, ?2)
                 ON CONFLICT (history) DO UPDATE SET data_version = excluded.data_version",
                params![history.code(), now],
            )
            .map_err(storage("updating the search index"))?;
        Ok(())
    }

    fn data_version(&self) -> Result<i64, ClientError> {
        self.conn
            .pragma_query_value(Some("main"), "data_version", |row| row.get(0))
            .map_err(storage("reading the store's data version"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn typed_operators_become_words() {
        assert_eq!(fts_query("hello world").unwrap(), "\"hello\"* \"world\"*");
        assert_eq!(
            fts_query("say \"hi NEAR(x y)").unwrap(),
            "\"say\"* \"\"\"hi\"* \"NEAR(x\"* \"y)\"*"
        );
        assert_eq!(fts_query("  \" ( * : ^  "), None);
        assert_eq!(fts_query(""), None);
    }

    #[test]
    fn random_typing_never_makes_an_invalid_query() {
        let conn = Connection::open_in_memory().unwrap();
        attach(&conn).unwrap();
        conn.execute(
            "INSERT INTO search.search_direct (rowid, text, message_id) VALUES (1, 'near or not', x'00')",
            [],
        )
        .unwrap();
        let db = Reader {
            conn: &conn,
            key: &fuin_seal::state::StorageKey::generate(&mut rand::rng()),
        };
        let alphabet: Vec<char> = "\"'()*^:+-{}[],.;~ \tNEARORNOTAND néé字😀0\u{301}\u{200b}"
            .chars()
            .collect();
        let mut rng = rand::rng();
        for _ in 0..3000 {
            let len = rand::RngExt::random_range(&mut rng, 0..12);
            let typed: String = (0..len)
                .map(|_| alphabet[rand::RngExt::random_range(&mut rng, 0..alphabet.len())])
                .collect();
            if let Some(query) = fts_query(&typed) {
                db.index_matches(IndexedHistory::Direct, 1, &query)
                    .unwrap_or_else(|err| panic!("{typed:?} as {query:?}: {err}"));
            }
        }
    }

    #[test]
    fn every_typed_query_is_valid_fts5() {
        let conn = Connection::open_in_memory().unwrap();
        attach(&conn).unwrap();
        conn.execute(
            "INSERT INTO search.search_direct (rowid, text, message_id) VALUES (1, ?1, x'00')",
            ["a \"quoted\" NEAR(word) and OR not: col*"],
        )
        .unwrap();
        let db = Reader {
            conn: &conn,
            key: &fuin_seal::state::StorageKey::generate(&mut rand::rng()),
        };
        for typed in [
            "\"",
            "NEAR(",
            "NEAR(word",
            "a AND",
            "OR",
            "NOT",
            "col:",
            "text:quoted",
            "^and",
            "{text}",
            "(word",
            "-word",
            "+",
            "quo\"ted",
        ] {
            if let Some(query) = fts_query(typed) {
                db.index_matches(IndexedHistory::Direct, 1, &query)
                    .unwrap_or_else(|err| panic!("{typed:?}: {err}"));
            }
        }
        // Operators are words: "OR" finds the row that holds the word "or",
        // "NEAR(word" the one with "near" and "word".
        assert!(
            db.index_matches(IndexedHistory::Direct, 1, &fts_query("OR").unwrap())
                .unwrap()
        );
        assert!(
            db.index_matches(IndexedHistory::Direct, 1, &fts_query("NEAR(word").unwrap())
                .unwrap()
        );
        assert!(
            !db.index_matches(IndexedHistory::Direct, 1, &fts_query("NEAR(zebra").unwrap())
                .unwrap()
        );
    }

    use fuin_seal::state::StorageKey;
    use fuin_wire::{ClientMessageId, DeviceAddress, DeviceId, UserId};

    use crate::history::MessageStatus;
    use crate::store::pages::DIRECT_ORDER;
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

    fn insert(db: &Reader<'_>, text: &str, sent_at_ms: u64) -> i64 {
        let bob = UserId::new("bob".to_owned()).unwrap();
        let sender = DeviceAddress::new(bob.clone(), DeviceId(1));
        let mut id = [0u8; 16];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut id);
        db.insert_message(&NewMessage {
            conversation: &bob,
            sender: &sender,
            message_id: ClientMessageId(id),
            outgoing: false,
            content_type: ContentType::Text,
            body: text.as_bytes(),
            sent_at_ms,
            sequence: 0,
            server_time_ms: None,
            status: MessageStatus::Unread,
            franking: None,
            received_at_ms: sent_at_ms,
            receipt_owed: 0,
        })
        .unwrap()
        .unwrap()
    }

    /// The local ids the index finds for `typed`, after catching up.
    fn search(db: &Reader<'_>, typed: &str) -> Vec<i64> {
        db.catch_up_index(IndexedHistory::Direct, &DIRECT_ORDER, |id| {
            db.searchable(id)
        })
        .unwrap();
        db.search_index(
            IndexedHistory::Direct,
            &DIRECT_ORDER,
            &fts_query(typed).unwrap(),
            None,
            100,
        )
        .unwrap()
        .into_iter()
        .map(|hit| hit.local_id)
        .collect()
    }

    #[test]
    fn a_rolled_back_message_leaves_nothing_in_the_index() {
        let (_dir, mut store) = store();
        let kept = {
            let (tx, key) = store.transaction().unwrap();
            let id = insert(&Reader::of(&tx, key), "kept words", 1);
            tx.commit().unwrap();
            id
        };
        // Built now, so that the next insert is indexed as it is stored.
        assert_eq!(search(&store.reader(), "kept"), [kept]);
        let rolled_back = {
            let (tx, key) = store.transaction().unwrap();
            let db = Reader::of(&tx, key);
            let id = insert(&db, "phantom secret", 2);
            // Inside the transaction, the index has it.
            assert_eq!(search(&db, "phantom"), [id]);
            drop(tx);
            id
        };
        assert!(search(&store.reader(), "phantom").is_empty());
        // The rowid is used again, by another message: the index holds
        // that message's words, not the rolled-back ones.
        let (tx, key) = store.transaction().unwrap();
        let again = insert(&Reader::of(&tx, key), "honest text", 3);
        tx.commit().unwrap();
        assert_eq!(again, rolled_back, "SQLite reuses the rowid");
        assert!(search(&store.reader(), "phantom").is_empty());
        assert_eq!(search(&store.reader(), "honest"), [again]);
        assert_eq!(search(&store.reader(), "kept"), [kept]);
    }

    #[test]
    fn forget_and_reindex_follow_deletes_and_edits() {
        let (_dir, mut store) = store();
        let (tx, key) = store.transaction().unwrap();
        let db = Reader::of(&tx, key);
        let edited = insert(&db, "first draft", 1);
        let deleted = insert(&db, "gone soon", 2);
        tx.commit().unwrap();
        assert_eq!(search(&store.reader(), "draft"), [edited]);
        let (tx, key) = store.transaction().unwrap();
        let db = Reader::of(&tx, key);
        db.reindex(IndexedHistory::Direct, edited, "final version")
            .unwrap();
        db.conn
            .execute("DELETE FROM messages WHERE id = ?1", [deleted])
            .unwrap();
        db.forget(IndexedHistory::Direct, deleted).unwrap();
        tx.commit().unwrap();
        let db = store.reader();
        assert!(search(&db, "draft").is_empty());
        assert_eq!(search(&db, "final"), [edited]);
        assert!(search(&db, "gone").is_empty());
        assert_eq!(
            db.indexed_text(IndexedHistory::Direct, deleted).unwrap(),
            None
        );
    }

    /// The first search's cost: decrypting and indexing the whole history.
    /// Prints the rate; checks that every row was indexed.
    #[test]
    fn building_the_index_from_the_history() {
        let (_dir, mut store) = store();
        let count = 3000;
        let (tx, key) = store.transaction().unwrap();
        let db = Reader::of(&tx, key);
        for i in 0..count {
            insert(
                &db,
                &format!("message {i}: a few ordinary words about lunch and plans"),
                i,
            );
        }
        // Emptied, as a freshly opened store's index is.
        db.conn
            .execute_batch("DELETE FROM search.search_direct")
            .unwrap();
        tx.commit().unwrap();
        let db = store.reader();
        let started = std::time::Instant::now();
        let indexed = db
            .catch_up_index(IndexedHistory::Direct, &DIRECT_ORDER, |id| {
                db.searchable(id)
            })
            .unwrap();
        let took = started.elapsed();
        assert_eq!(indexed, usize::try_from(count).unwrap());
        println!(
            "indexed {count} messages in {took:?}: {:.0} messages/s",
            f64::from(u32::try_from(count).unwrap()) / took.as_secs_f64()
        );
        // Caught up: nothing more to do until another connection writes.
        assert_eq!(
            db.catch_up_index(IndexedHistory::Direct, &DIRECT_ORDER, |id| {
                db.searchable(id)
            })
            .unwrap(),
            0
        );
    }
}
