//! The PostgreSQL store's group commit of deliveries and acknowledgements:
//! the sends and acknowledgements waiting at one moment are stored in one
//! transaction, with one statement per step for all of them and one commit
//! (one log flush, one `NOTIFY` lock hold).
//!
//! Each send and acknowledgement keeps its own answer. A send over its mailbox quota is refused
//! alone (counted as if the sends before it in the batch had been stored one
//! by one); if a statement fails for the batch (a message id already stored),
//! nothing of it was committed and each send is stored again in a
//! transaction of its own, so that only the bad one fails. A failed commit
//! fails every send of the batch, as in the SQLite writer.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool_postgres::{GenericClient, Pool};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_postgres::Statement;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::locks::mailbox_lock;
use super::{Op, backend, backend_at, key, sql_time};
use crate::store::integrity::mailbox_checksum;
use crate::store::{MailboxQuota, NewDelivery, StoreError};

const OP: &str = "deliver";
const ACK_OP: &str = "acknowledge";

/// The most sends and acknowledgements written in one transaction.
const MAX_BATCH_WRITES: usize = 256;
/// The most envelopes stored or deleted in one transaction (a batch stops
/// growing once it holds this many; a single larger write is kept whole).
const MAX_BATCH_ROWS: usize = 4096;
/// How many batches may be between their first statement and their commit
/// at once: while one waits for its commit to be flushed, the next is
/// written. (Two batches naming one mailbox still commit one after the
/// other: the second waits for the first's mailbox lock.)
const BATCHES_IN_FLIGHT: usize = 2;
/// How many writes may wait for the committer before callers wait to enqueue.
const QUEUE_DEPTH: usize = 4 * MAX_BATCH_WRITES;

/// A write waiting for the committer, and where its answer goes (an
/// acknowledgement's is how many envelopes it deleted, a send's 0).
struct Pending {
    work: Work,
    reply: oneshot::Sender<Result<u64, StoreError>>,
}

/// What a waiting write does.
enum Work {
    /// Stores one send's envelopes, all or none.
    Send {
        deliveries: Vec<NewDelivery>,
        quota: MailboxQuota,
        /// The `NOTIFY` payloads announcing it to the other nodes.
        wake_payloads: Vec<String>,
    },
    /// Deletes the named envelopes from one mailbox.
    Acknowledge {
        user: String,
        device: i64,
        message_ids: Vec<[u8; 16]>,
    },
}

impl Work {
    /// How many rows it writes, for the batch's bound.
    fn rows(&self) -> usize {
        match self {
            Self::Send { deliveries, .. } => deliveries.len(),
            Self::Acknowledge { message_ids, .. } => message_ids.len(),
        }
    }
}

/// The queue of sends in front of the committer task, and what it did.
pub(super) struct DeliveryQueue {
    sender: mpsc::Sender<Pending>,
    counts: Arc<BatchCounts>,
}

/// How many batches the committer committed, and how many sends they held.
#[derive(Default)]
struct BatchCounts {
    batches: AtomicU64,
    writes: AtomicU64,
}

impl DeliveryQueue {
    /// Starts the committer task on the current Tokio runtime. It ends once
    /// the queue is dropped and what it holds is answered.
    pub(super) fn start(pool: Pool, channel: String) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        let counts = Arc::new(BatchCounts::default());
        tokio::spawn(committer(pool, channel, receiver, counts.clone()));
        Self { sender, counts }
    }

    /// Stores one send (all its envelopes or none) in the next batch;
    /// resolves once that batch's outcome is known.
    pub(super) async fn deliver(
        &self,
        deliveries: Vec<NewDelivery>,
        quota: MailboxQuota,
        wake_payloads: Vec<String>,
    ) -> Result<(), StoreError> {
        self.queue(
            OP,
            Work::Send {
                deliveries,
                quota,
                wake_payloads,
            },
        )
        .await
        .map(drop)
    }

    /// Deletes the named envelopes from the mailbox of `user`'s `device` in
    /// the next batch; resolves with how many there were once that batch's
    /// outcome is known.
    pub(super) async fn acknowledge(
        &self,
        user: String,
        device: i64,
        message_ids: Vec<[u8; 16]>,
    ) -> Result<u64, StoreError> {
        self.queue(
            ACK_OP,
            Work::Acknowledge {
                user,
                device,
                message_ids,
            },
        )
        .await
    }

    async fn queue(&self, name: &'static str, work: Work) -> Result<u64, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Pending { work, reply })
            .await
            .map_err(|_| backend_at(name, "committer"))?;
        answer.await.map_err(|_| backend_at(name, "committer"))?
    }

    /// How many transactions stored writes together, and how many sends
    /// and acknowledgements those held (writes stored again alone after a
    /// failed batch are not counted).
    pub(super) fn batches(&self) -> (u64, u64) {
        (
            self.counts.batches.load(Ordering::Relaxed),
            self.counts.writes.load(Ordering::Relaxed),
        )
    }
}

async fn committer(
    pool: Pool,
    channel: String,
    mut queue: mpsc::Receiver<Pending>,
    counts: Arc<BatchCounts>,
) {
    let channel: Arc<str> = channel.into();
    let in_flight = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    while let Some(first) = queue.recv().await {
        // Waiting for a free slot lets the next batch grow meanwhile.
        let Ok(slot) = Arc::clone(&in_flight).acquire_owned().await else {
            break;
        };
        let mut rows = first.work.rows();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_WRITES && rows < MAX_BATCH_ROWS {
            match queue.try_recv() {
                Ok(pending) => {
                    rows += pending.work.rows();
                    batch.push(pending);
                }
                Err(_) => break,
            }
        }
        let (pool, channel, counts) = (pool.clone(), Arc::clone(&channel), Arc::clone(&counts));
        tokio::spawn(async move {
            commit_batch(&pool, &channel, batch, &counts).await;
            drop(slot);
        });
    }
}

/// Why a batch did not commit.
#[derive(Clone, Copy)]
enum BatchFailed {
    /// Before the commit, at the stage named: nothing was stored; each send
    /// may be tried alone.
    Statement(&'static str),
    /// At the commit: the outcome is the batch's for every send.
    Commit,
}

async fn commit_batch(pool: &Pool, channel: &str, batch: Vec<Pending>, counts: &BatchCounts) {
    let works: Vec<&Work> = batch.iter().map(|pending| &pending.work).collect();
    let outcome = store_together(pool, channel, &works).await;
    drop(works);
    match outcome {
        Ok(answers) => {
            counts.batches.fetch_add(1, Ordering::Relaxed);
            counts.writes.fetch_add(
                u64::try_from(batch.len()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            for (pending, answer) in batch.into_iter().zip(answers) {
                // The caller may have stopped waiting; the outcome stands.
                let _ = pending.reply.send(answer);
            }
        }
        Err(BatchFailed::Statement(_)) if batch.len() > 1 => {
            for pending in batch {
                let answer = match store_together(pool, channel, &[&pending.work]).await {
                    Ok(mut answers) => answers
                        .pop()
                        .unwrap_or_else(|| Err(backend(pending.work.name()))),
                    Err(failed) => Err(failed.error(&pending.work)),
                };
                let _ = pending.reply.send(answer);
            }
        }
        Err(failed) => {
            for pending in batch {
                let _ = pending.reply.send(Err(failed.error(&pending.work)));
            }
        }
    }
}

impl Work {
    /// The operation named in its errors.
    fn name(&self) -> &'static str {
        match self {
            Self::Send { .. } => OP,
            Self::Acknowledge { .. } => ACK_OP,
        }
    }
}

impl BatchFailed {
    /// The answer of `work` in a batch that failed so.
    fn error(self, work: &Work) -> StoreError {
        match self {
            Self::Statement(stage) => backend_at(work.name(), stage),
            Self::Commit => backend_at(work.name(), "commit"),
        }
    }
}

/// One send as [`store_together`] reads it.
struct Send<'a> {
    deliveries: &'a [NewDelivery],
    quota: MailboxQuota,
    wake_payloads: &'a [String],
}

/// Writes `works` in one transaction: locks every mailbox a send goes to
/// (in ascending key order, so concurrent batches on any node cannot
/// deadlock), counts those mailboxes if any send has a quota, refuses the
/// sends that would go over theirs, inserts the others' envelopes in one
/// statement, deletes the acknowledged envelopes in one statement, queues
/// the sends' `NOTIFY`s and commits. Returns each write's answer.
async fn store_together(
    pool: &Pool,
    channel: &str,
    works: &[&Work],
) -> Result<Vec<Result<u64, StoreError>>, BatchFailed> {
    let fail = BatchFailed::Statement;
    // The sends, by their index in `works`.
    let sends: Vec<(usize, Send<'_>)> = works
        .iter()
        .enumerate()
        .filter_map(|(index, work)| match work {
            Work::Send {
                deliveries,
                quota,
                wake_payloads,
            } => Some((
                index,
                Send {
                    deliveries,
                    quota: *quota,
                    wake_payloads,
                },
            )),
            Work::Acknowledge { .. } => None,
        })
        .collect();
    let mut answers: Vec<Result<u64, StoreError>> = works.iter().map(|_| Ok(0)).collect();

    let mut client = pool.get().await.map_err(|_| fail("pool"))?;
    let transaction = client.transaction().await.map_err(|_| fail("begin"))?;
    // Prepared first (once per connection, then from its cache), so that the
    // statements below can be sent together and still run in their order.
    let lock = transaction
        .prepare_cached(LOCK)
        .await
        .map_err(|_| fail("lock"))?;
    let count = transaction
        .prepare_cached(COUNT)
        .await
        .map_err(|_| fail("quota"))?;
    let insert = transaction
        .prepare_cached(INSERT)
        .await
        .map_err(|_| fail("insert"))?;
    let delete = transaction
        .prepare_cached(DELETE)
        .await
        .map_err(|_| fail("delete"))?;
    let notify = transaction
        .prepare_cached(NOTIFY)
        .await
        .map_err(|_| fail("notify"))?;

    if !sends.is_empty() {
        let locks: Vec<i64> = sends
            .iter()
            .flat_map(|(_, send)| send.deliveries.iter())
            .map(|delivery| mailbox_lock(&delivery.recipient))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let needs_count = sends
            .iter()
            .any(|(_, send)| send.quota != MailboxQuota::UNBOUNDED);
        // Sent together, run in order: the count sees the mailboxes once
        // they are locked, so no other delivery can add to them before this
        // batch commits.
        let lock_params: [&(dyn ToSql + Sync); 1] = [&locks];
        let (locked, counted) = tokio::join!(transaction.execute(&lock, &lock_params), async {
            if needs_count {
                stored_in_mailboxes(&transaction, &count, &sends)
                    .await
                    .map(Some)
            } else {
                Ok(None)
            }
        });
        locked.map_err(|_| fail("lock"))?;
        if let Some(mut stored) = counted.map_err(|_| fail("quota"))? {
            for (index, send) in &sends {
                if let Err(refused) = admit_within_quota(send, &mut stored) {
                    answers[*index] = Err(refused);
                }
            }
        }
    }

    let mut message_ids = Vec::new();
    let mut users = Vec::new();
    let mut devices = Vec::new();
    let mut records: Vec<&[u8]> = Vec::new();
    let mut expiries = Vec::new();
    let mut checksums = Vec::new();
    let mut wake_payloads = BTreeSet::new();
    for (index, send) in &sends {
        if answers[*index].is_err() {
            continue;
        }
        for delivery in send.deliveries {
            let (user, device) = key(&delivery.recipient);
            checksums.push(
                mailbox_checksum(&delivery.message_id.0, &user, device, &delivery.record).to_vec(),
            );
            message_ids.push(delivery.message_id.0.as_slice());
            users.push(user);
            devices.push(device);
            records.push(delivery.record.as_slice());
            expiries.push(sql_time(delivery.expires_at_ms));
        }
        wake_payloads.extend(send.wake_payloads.iter().map(String::as_str));
    }
    let wake_payloads: Vec<&str> = wake_payloads.into_iter().collect();

    // Sent together, run in order; a failure aborts the transaction, so
    // what follows it fails too and nothing is committed.
    let (inserted, acknowledged, notified) = tokio::join!(
        async {
            if message_ids.is_empty() {
                return Ok(0);
            }
            transaction
                .execute(
                    &insert,
                    &[
                        &message_ids,
                        &users,
                        &devices,
                        &records,
                        &expiries,
                        &checksums,
                    ],
                )
                .await
        },
        acknowledge_together(&transaction, &delete, works),
        async {
            if wake_payloads.is_empty() {
                return Ok(0);
            }
            // Queued with the transaction: the other nodes hear of it at
            // commit.
            transaction
                .execute(&notify, &[&channel, &wake_payloads])
                .await
        },
    );
    inserted.map_err(|error| {
        let duplicate = error.as_db_error().is_some_and(|error| {
            error.code() == &SqlState::UNIQUE_VIOLATION
                && error.constraint() == Some("mailbox_pkey")
        });
        fail(if duplicate {
            "duplicate message id"
        } else {
            "insert"
        })
    })?;
    for (answer, deleted) in answers
        .iter_mut()
        .zip(acknowledged.map_err(|_| fail("delete"))?)
    {
        if let Some(deleted) = deleted {
            *answer = Ok(deleted);
        }
    }
    notified.map_err(|_| fail("notify"))?;

    let started = std::time::Instant::now();
    let committed = transaction.commit().await;
    crate::metrics::store_commit("postgres", works.len(), started.elapsed());
    committed.map_err(|_| BatchFailed::Commit)?;
    Ok(answers)
}

/// Locks the mailboxes named by an array of keys. The function scan yields
/// the keys in the array's (ascending) order and takes each lock as it goes.
const LOCK: &str = "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k";

/// What each named mailbox holds: envelopes and bytes. The sizes are summed
/// from the index on (user_id, device) that includes them, not from the rows.
const COUNT: &str = "SELECT r.user_id, r.device, \
       (SELECT COUNT(*) FROM mailbox x \
        WHERE x.user_id = r.user_id AND x.device = r.device), \
       (SELECT COALESCE(SUM(x.size), 0)::bigint FROM mailbox x \
        WHERE x.user_id = r.user_id AND x.device = r.device) \
     FROM unnest($1::text[], $2::bigint[]) AS r (user_id, device)";

/// Stores envelopes. Each row's seq: its mailbox's highest so far plus its
/// rank among the batch's rows for that mailbox, in the batch's order (sends
/// in the order they came, each send's envelopes in its order).
const INSERT: &str = "INSERT INTO mailbox \
       (message_id, user_id, device, record, expires_at, seq, checksum, size) \
     SELECT m.message_id, m.user_id, m.device, m.record, m.expires_at, \
       COALESCE((SELECT MAX(x.seq) FROM mailbox x \
                 WHERE x.user_id = m.user_id AND x.device = m.device), 0) \
       + row_number() OVER (PARTITION BY m.user_id, m.device ORDER BY m.n), \
       m.checksum, octet_length(m.record) \
     FROM unnest($1::bytea[], $2::text[], $3::bigint[], $4::bytea[], \
                 $5::bigint[], $6::bytea[]) \
       WITH ORDINALITY AS m (message_id, user_id, device, record, expires_at, checksum, n)";

/// Deletes the named envelopes, each only from the mailbox named with it.
const DELETE: &str = "DELETE FROM mailbox m \
     USING unnest($1::text[], $2::bigint[], $3::bytea[]) AS a (user_id, device, message_id) \
     WHERE m.user_id = a.user_id AND m.device = a.device AND m.message_id = a.message_id \
     RETURNING m.user_id, m.device, m.message_id";

/// Announces deliveries to the other nodes, one payload a row.
const NOTIFY: &str = "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p";

/// Deletes, in one statement, the envelopes that the acknowledgements among
/// `works` name in their own mailbox. Returns, for each of `works`, how many
/// an acknowledgement deleted (an envelope two of them name counts for the
/// first), `None` for a send.
async fn acknowledge_together(
    client: &impl GenericClient,
    delete: &Statement,
    works: &[&Work],
) -> Result<Vec<Option<u64>>, StoreError> {
    let mut users = Vec::new();
    let mut devices = Vec::new();
    let mut message_ids: Vec<&[u8]> = Vec::new();
    for work in works {
        if let Work::Acknowledge {
            user,
            device,
            message_ids: ids,
        } = work
        {
            for id in ids {
                users.push(user.as_str());
                devices.push(*device);
                message_ids.push(id.as_slice());
            }
        }
    }
    let mut deleted: BTreeSet<(String, i64, Vec<u8>)> = BTreeSet::new();
    if !message_ids.is_empty() {
        for row in client
            .query(delete, &[&users, &devices, &message_ids])
            .await
            .op(ACK_OP)?
        {
            deleted.insert((
                row.try_get(0).op(ACK_OP)?,
                row.try_get(1).op(ACK_OP)?,
                row.try_get(2).op(ACK_OP)?,
            ));
        }
    }
    Ok(works
        .iter()
        .map(|work| match work {
            Work::Acknowledge {
                user,
                device,
                message_ids: ids,
            } => Some(
                ids.iter()
                    .filter(|id| deleted.remove(&(user.clone(), *device, id.to_vec())))
                    .count()
                    .try_into()
                    .unwrap_or(u64::MAX),
            ),
            Work::Send { .. } => None,
        })
        .collect())
}

/// Each mailbox the batch names, keyed as stored, with how many envelopes
/// and bytes it holds.
type MailboxCounts = BTreeMap<(String, i64), (u64, u64)>;

/// Counts, in one statement, what each mailbox that `sends` name holds.
async fn stored_in_mailboxes(
    client: &impl GenericClient,
    count: &Statement,
    sends: &[(usize, Send<'_>)],
) -> Result<MailboxCounts, StoreError> {
    let mailboxes: BTreeSet<(String, i64)> = sends
        .iter()
        .flat_map(|(_, send)| send.deliveries.iter())
        .map(|delivery| key(&delivery.recipient))
        .collect();
    let (users, devices): (Vec<String>, Vec<i64>) = mailboxes.into_iter().unzip();
    let mut counts = MailboxCounts::new();
    for row in client.query(count, &[&users, &devices]).await.op(OP)? {
        let user: String = row.try_get(0).op(OP)?;
        let device: i64 = row.try_get(1).op(OP)?;
        let stored: i64 = row.try_get(2).op(OP)?;
        let stored_bytes: i64 = row.try_get(3).op(OP)?;
        counts.insert(
            (user, device),
            (
                u64::try_from(stored).unwrap_or(u64::MAX),
                u64::try_from(stored_bytes).unwrap_or(u64::MAX),
            ),
        );
    }
    Ok(counts)
}

/// Whether `send` fits its quota on top of `stored` (which holds what the
/// sends before it in the batch added); if it does, adds it there.
fn admit_within_quota(send: &Send<'_>, stored: &mut MailboxCounts) -> Result<(), StoreError> {
    let mut adding: MailboxCounts = BTreeMap::new();
    for delivery in send.deliveries {
        let entry = adding.entry(key(&delivery.recipient)).or_default();
        entry.0 += 1;
        entry.1 = entry
            .1
            .saturating_add(u64::try_from(delivery.record.len()).unwrap_or(u64::MAX));
    }
    for (mailbox, (envelopes, bytes)) in &adding {
        let (held, held_bytes) = stored.get(mailbox).copied().unwrap_or_default();
        if held.saturating_add(*envelopes) > send.quota.max_envelopes {
            return Err(StoreError::MailboxFull);
        }
        if held_bytes.saturating_add(*bytes) > send.quota.max_bytes {
            return Err(StoreError::MailboxBytesFull);
        }
    }
    for (mailbox, (envelopes, bytes)) in adding {
        let entry = stored.entry(mailbox).or_default();
        entry.0 = entry.0.saturating_add(envelopes);
        entry.1 = entry.1.saturating_add(bytes);
    }
    Ok(())
}
