//! `--baseline`: raw rusqlite inserts and deletes of rows like the relay's
//! mailbox rows, with the relay's pragmas, to compare the relay against.

use std::path::Path;
use std::time::{Duration, Instant};

use fuin_relay::api::system_clock;
use fuin_wire::{
    ContentKind, DeliveredRecord, DeviceAddress, DeviceId, FrameBody, FrankingCommitment,
    FrankingStamp, MessageId, Opaque, RoutingEnvelope, StampKeyId, UserId,
};
use rusqlite::{Connection, TransactionBehavior, params};
use serde::Serialize;

use crate::body::Filler;
use crate::random;

/// One baseline measurement.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BaselineResult {
    /// What was measured.
    pub(crate) mode: String,
    /// Rows inserted and deleted again.
    pub(crate) rows: usize,
    /// Rows per transaction commit (1 for one transaction per statement).
    pub(crate) rows_per_commit: usize,
    pub(crate) seconds: f64,
    /// Rows inserted and deleted per second.
    pub(crate) rows_per_second: f64,
}

const MAILBOX_SCHEMA: &str = "
CREATE TABLE mailbox (
    message_id BLOB    NOT NULL PRIMARY KEY,
    user       TEXT    NOT NULL,
    device     INTEGER NOT NULL,
    record     BLOB    NOT NULL,
    expires_at INTEGER NOT NULL,
    seq        INTEGER NOT NULL
);
CREATE INDEX mailbox_order ON mailbox (user, device, seq);
CREATE INDEX mailbox_expiry ON mailbox (expires_at);
";
const INSERT: &str = "INSERT INTO mailbox (message_id, user, device, record, expires_at, seq) \
     VALUES (?1, ?2, ?3, ?4, ?5, \
       (SELECT COALESCE(MAX(seq), 0) + 1 FROM mailbox WHERE user = ?2 AND device = ?3))";
const DELETE: &str = "DELETE FROM mailbox WHERE message_id = ?1 AND user = ?2 AND device = ?3";

struct BaselineRow {
    message_id: [u8; 16],
    user: String,
    record: Vec<u8>,
}

/// The length of the relay's stored record for a body of `size` bytes.
pub(crate) fn record_len(sender: &str, recipient: &str, size: usize) -> Result<usize, String> {
    let address = |user: &str| {
        UserId::new(user.to_owned())
            .map(|user| DeviceAddress::new(user, DeviceId(1)))
            .map_err(|err| err.to_string())
    };
    let record = DeliveredRecord {
        envelope: RoutingEnvelope {
            recipient: address(recipient)?,
            content_kind: ContentKind::Message,
            franking_commitment: FrankingCommitment([7; 32]),
            sealed_body: Opaque::from(vec![0u8; size]),
        },
        sender: address(sender)?,
        server_time_ms: system_clock()(),
        server_message_id: MessageId(random()),
        franking_stamp: FrankingStamp([0; 32]),
        stamp_key_id: StampKeyId(1),
    };
    record
        .to_bytes()
        .map(|bytes| bytes.len())
        .map_err(|err| err.to_string())
}

/// Inserts up to `rows` mailbox rows like the relay's and deletes each again
/// `window` rows later (as recipients acknowledge), `batch` rows per
/// transaction: 1 is a commit (fsync) per insert and per delete; more puts
/// `batch` inserts and the deletes of the batch before in one transaction.
/// Stops early after `limit`.
pub(crate) fn baseline(
    path: &Path,
    rows: usize,
    record_len: usize,
    users: &[String],
    window: usize,
    batch: usize,
    limit: Duration,
) -> Result<BaselineResult, String> {
    let sql = |err: rusqlite::Error| format!("baseline: {err}");
    let mut conn = Connection::open(path).map_err(sql)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err("baseline: WAL mode unavailable".to_owned());
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sql)?;
    conn.pragma_update(None, "secure_delete", "ON")
        .map_err(sql)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(sql)?;
    conn.execute_batch(MAILBOX_SCHEMA).map_err(sql)?;
    let expires_at = i64::try_from(system_clock()()).unwrap_or(0) + 30 * 24 * 3600 * 1000;
    let mut filler = Filler::new(
        random::<8>().iter().fold(0, |a, b| a << 8 | u64::from(*b)),
        0,
        0,
    );
    let make_row = |k: usize, filler: &mut Filler| {
        let mut record = vec![0u8; record_len];
        for chunk in record.chunks_mut(8) {
            let word = filler.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        BaselineRow {
            message_id: random(),
            user: users[k % users.len()].clone(),
            record,
        }
    };
    let insert = |conn: &Connection, row: &BaselineRow| {
        conn.prepare_cached(INSERT)
            .and_then(|mut statement| {
                statement.execute(params![row.message_id, row.user, 1, row.record, expires_at])
            })
            .map_err(sql)
    };
    let delete = |conn: &Connection, row: &BaselineRow| {
        conn.prepare_cached(DELETE)
            .and_then(|mut statement| statement.execute(params![row.message_id, row.user, 1]))
            .map_err(sql)
    };
    let mut pending: std::collections::VecDeque<BaselineRow> = std::collections::VecDeque::new();
    let started = Instant::now();
    let mut done = 0;
    let batch = batch.max(1);
    while done < rows && started.elapsed() < limit {
        let this = batch.min(rows - done);
        let fresh: Vec<_> = (done..done + this)
            .map(|k| make_row(k, &mut filler))
            .collect();
        if batch == 1 {
            for row in fresh {
                let transaction = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(sql)?;
                insert(&transaction, &row)?;
                transaction.commit().map_err(sql)?;
                pending.push_back(row);
                if pending.len() > window
                    && let Some(old) = pending.pop_front()
                {
                    let transaction = conn
                        .transaction_with_behavior(TransactionBehavior::Immediate)
                        .map_err(sql)?;
                    delete(&transaction, &old)?;
                    transaction.commit().map_err(sql)?;
                }
            }
        } else {
            let transaction = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql)?;
            while pending.len() > window.saturating_sub(this) {
                if let Some(old) = pending.pop_front() {
                    delete(&transaction, &old)?;
                }
            }
            for row in fresh {
                insert(&transaction, &row)?;
                pending.push_back(row);
            }
            transaction.commit().map_err(sql)?;
        }
        done += this;
    }
    // The rows still waiting are deleted too, in the same way.
    while !pending.is_empty() {
        let transaction = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        for _ in 0..batch {
            if let Some(old) = pending.pop_front() {
                delete(&transaction, &old)?;
            }
        }
        transaction.commit().map_err(sql)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let remaining: i64 = conn
        .query_row("SELECT COUNT(*) FROM mailbox", [], |row| row.get(0))
        .map_err(sql)?;
    if remaining != 0 {
        return Err(format!("baseline: {remaining} rows left"));
    }
    Ok(BaselineResult {
        mode: if batch == 1 {
            "one transaction (commit, fsync) per insert and per delete".to_owned()
        } else {
            format!("{batch} inserts + {batch} deletes per transaction (like group commit)")
        },
        rows: done,
        rows_per_commit: batch,
        seconds,
        rows_per_second: done as f64 / seconds,
    })
}
