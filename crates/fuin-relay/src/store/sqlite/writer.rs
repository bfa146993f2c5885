//! The SQLite store's single writer thread, which commits queued writes in
//! batches (group commit).

use std::time::Instant;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::{Op, SqliteStore, backend, backend_at};
use crate::store::StoreError;

/// The most writes committed in one transaction.
pub const MAX_BATCH: usize = 256;
/// How many writes may wait for the writer before callers wait to enqueue.
pub(super) const QUEUE_DEPTH: usize = 4 * MAX_BATCH;

impl SqliteStore {
    /// Runs `op` on the writer thread, in the next batch, inside its own
    /// savepoint; resolves once the batch has committed.
    pub(super) async fn write<T, F>(&self, name: &'static str, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let writer = self.writer.as_ref().ok_or_else(|| backend(name))?;
        let (reply, answer) = oneshot::channel();
        let command = Box::new(Command {
            name,
            op: Some(op),
            outcome: None,
            reply,
        });
        writer
            .send(Request::Write(command))
            .await
            .map_err(|_| backend(name))?;
        answer.await.map_err(|_| backend(name))?
    }
}

pub(super) enum Request {
    Write(Box<dyn WriteCommand>),
    Checkpoint(oneshot::Sender<Result<(), StoreError>>),
    /// Rebuilds the file without its free pages, then checkpoints.
    Vacuum(oneshot::Sender<Result<(), StoreError>>),
}

/// One queued write: runs inside the batch's transaction, then answers its
/// caller once the batch's fate is known.
pub(super) trait WriteCommand: Send {
    /// Runs the write; returns whether it succeeded (and so is kept).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller; `batch` is how the batch ended (`Err(stage)` if it
    /// did not commit).
    fn finish(self: Box<Self>, batch: Result<(), &'static str>);
}

struct Command<T, F> {
    name: &'static str,
    op: Option<F>,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> WriteCommand for Command<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let outcome = match self.op.take() {
            Some(op) => op(conn),
            None => Err(backend(self.name)),
        };
        let succeeded = outcome.is_ok();
        self.outcome = Some(outcome);
        succeeded
    }

    fn finish(self: Box<Self>, batch: Result<(), &'static str>) {
        let Self {
            name,
            outcome,
            reply,
            ..
        } = *self;
        let answer = match (outcome, batch) {
            // A failed write was rolled back to its savepoint whatever the batch did.
            (Some(Err(error)), _) => Err(error),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)) | None, Err(stage)) => Err(backend_at(name, stage)),
            (None, Ok(())) => Err(backend(name)),
        };
        // The caller may have stopped waiting; the outcome stands either way.
        let _ = reply.send(answer);
    }
}

pub(super) fn writer_loop(mut conn: Connection, mut requests: mpsc::Receiver<Request>) {
    let mut batch: Vec<Box<dyn WriteCommand>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = requests.blocking_recv() {
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(request) = next.take() {
            taken += 1;
            match request {
                Request::Write(command) => batch.push(command),
                Request::Checkpoint(reply) => {
                    // Writes queued before the checkpoint go first.
                    run_batch(&mut conn, &mut batch);
                    let _ = reply.send(checkpoint(&conn));
                }
                Request::Vacuum(reply) => {
                    run_batch(&mut conn, &mut batch);
                    let vacuumed = conn
                        .execute_batch("VACUUM")
                        .map_err(|_| backend_at("vacuum", "vacuum"));
                    let _ = reply.send(vacuumed.and_then(|()| checkpoint(&conn)));
                }
            }
            if taken < MAX_BATCH {
                next = requests.try_recv().ok();
            }
        }
        run_batch(&mut conn, &mut batch);
    }
}

/// Runs `batch` (emptying it) in one transaction, each write in its own
/// savepoint, commits once and answers every caller.
fn run_batch(conn: &mut Connection, batch: &mut Vec<Box<dyn WriteCommand>>) {
    if batch.is_empty() {
        return;
    }
    let outcome = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Err(_) => Err("begin"),
        Ok(transaction) => {
            let mut failed = None;
            for command in batch.iter_mut() {
                if let Err(stage) = run_in_savepoint(&transaction, command.as_mut()) {
                    failed = Some(stage);
                    break;
                }
            }
            match failed {
                // Dropping the transaction rolls it back.
                Some(stage) => Err(stage),
                None => {
                    let started = Instant::now();
                    let committed = transaction.commit().map_err(|_| "commit");
                    crate::metrics::store_commit("sqlite", batch.len(), started.elapsed());
                    committed
                }
            }
        }
    };
    for command in batch.drain(..) {
        command.finish(outcome);
    }
}

fn run_in_savepoint(
    transaction: &Transaction<'_>,
    command: &mut dyn WriteCommand,
) -> Result<(), &'static str> {
    // Prepared once per connection, not parsed again for every write.
    step(transaction, "SAVEPOINT write").map_err(|_| "savepoint")?;
    if command.run(transaction) {
        step(transaction, "RELEASE write").map_err(|_| "savepoint release")?;
    } else {
        // Undoes what the write did, then ends its savepoint.
        step(transaction, "ROLLBACK TO write")
            .and_then(|()| step(transaction, "RELEASE write"))
            .map_err(|_| "savepoint rollback")?;
    }
    // SQLite abandons the whole transaction on some errors (a full disk, an
    // I/O error); what follows would then run outside it.
    if transaction.is_autocommit() {
        return Err("transaction abandoned");
    }
    Ok(())
}

/// Runs one statement without parameters or rows, from the connection's
/// statement cache.
fn step(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn checkpoint(conn: &Connection) -> Result<(), StoreError> {
    const OP: &str = "checkpoint";
    let busy: i64 = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
        .op(OP)?;
    if busy != 0 {
        return Err(backend_at(OP, "busy"));
    }
    Ok(())
}
