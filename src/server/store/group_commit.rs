//! Group commit of ledger posts. Concurrent `post_entry` calls are queued to a writer task that
//! takes whatever is waiting (up to `MAX_BATCH`), posts it all in ONE transaction, commits once
//! and answers each caller with its own result. One commit (on SQLite `full`, one fsync) then
//! carries many posts, where one transaction per post made the commit the ceiling.
//!
//! - No added wait: the writer never sleeps to gather a batch. A lone post is a batch of one and
//!   commits at once; batches grow only while a commit is in flight and callers queue behind it.
//! - Each entry keeps its own outcome: the backend's `BatchWriter` checks every entry before it
//!   writes anything for it (unknown user, overdraft, out of range, already applied), so a refused
//!   entry writes nothing and the others go on; the batch's rows then go in together (one
//!   multi-row insert, one balance update: `ledger_batch.rs`). An unexpected statement error, or
//!   on PostgreSQL a source another transaction committed after the batch read it, rolls the whole
//!   batch back and the writer posts its entries again one transaction each, so that error reaches
//!   only the caller it belongs to. A failed BEGIN or COMMIT fails every caller of the batch;
//!   nothing of it was written and each may retry with the same source (idempotency key).
//! - A caller that goes away (its future dropped, e.g. the client hung up) does not cancel its
//!   entry once queued: the writer posts it and the answer is dropped. A retry with the same
//!   source then reports it as already applied; nothing is lost or applied twice.
//! - The writer task is started by the first post (inside the runtime that serves the store) and
//!   again if it ever stopped (a panic, or its runtime shut down); it ends when the store is
//!   dropped (its queue's sender goes).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::{NewEntry, PostOutcome, StoreError};

/// Most entries in one transaction by default (`LEDGER_BATCH_MAX`). Large enough that a commit is shared by hundreds of posts,
/// small enough that one batch holds the write lock (SQLite) or its row locks (PostgreSQL) for
/// a few milliseconds only.
pub const MAX_BATCH: usize = 256;

/// Posts waiting per writer before callers wait for room (backpressure instead of memory).
const QUEUE: usize = 4 * MAX_BATCH;

/// One caller's result.
pub type EntryResult = Result<PostOutcome, StoreError>;

/// Why a batch wrote nothing.
#[derive(Debug)]
pub enum BatchError {
    /// A statement failed; the transaction was rolled back. The entries are posted again one
    /// per transaction, so the failure reaches only the entry that causes it.
    Statement(StoreError),
    /// The transaction could not begin or commit: every caller of the batch gets this error.
    Transaction(StoreError),
}

/// A backend's way to post a batch of entries in one transaction.
#[async_trait]
pub trait BatchWriter: Send + Sync + 'static {
    /// Posts `entries` in order in one transaction, each seeing the effects of those before it;
    /// once committed, one result per entry, in the same order.
    async fn write_batch(&self, entries: &[NewEntry]) -> Result<Vec<EntryResult>, BatchError>;
}

struct Job {
    entry: NewEntry,
    reply: oneshot::Sender<EntryResult>,
}

/// The queue(s) in front of a `BatchWriter`. With several shards, entries go to the shard of
/// their user (`user_id mod shards`), so one user's entries are applied in the order posted and
/// two shards never wait for each other's user rows.
pub struct GroupCommit<W: BatchWriter> {
    writer: Arc<W>,
    max_batch: usize,
    shards: Vec<Mutex<Option<mpsc::Sender<Job>>>>,
}

impl<W: BatchWriter> GroupCommit<W> {
    pub fn new(writer: W, shards: usize, max_batch: usize) -> Self {
        GroupCommit {
            writer: Arc::new(writer),
            max_batch: max_batch.max(1),
            shards: (0..shards.max(1)).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// Queues the entry and waits for its own result.
    pub async fn post(&self, entry: &NewEntry) -> EntryResult {
        let shard = entry.user_id.rem_euclid(self.shards.len() as i64) as usize;
        let (reply, answer) = oneshot::channel();
        let job = Job {
            entry: entry.clone(),
            reply,
        };
        // Dropped while waiting for room: nothing was queued.
        if self.queue(shard).send(job).await.is_err() {
            return Err(StoreError::Database(sqlx::Error::WorkerCrashed));
        }
        // The writer stopped before answering (its runtime is shutting down, or it panicked):
        // the batch was rolled back with its transaction, or committed; a retry tells which.
        answer
            .await
            .unwrap_or(Err(StoreError::Database(sqlx::Error::WorkerCrashed)))
    }

    /// The shard's queue; starts its writer task when there is none running.
    fn queue(&self, shard: usize) -> mpsc::Sender<Job> {
        let mut slot = self.shards[shard].lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = slot.as_ref().filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run_writer(self.writer.clone(), rx, self.max_batch));
        *slot = Some(tx.clone());
        tx
    }
}

async fn run_writer<W: BatchWriter>(writer: Arc<W>, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    let mut jobs = Vec::with_capacity(max_batch);
    // `recv_many` waits for the first job, then takes what else is queued without waiting.
    while rx.recv_many(&mut jobs, max_batch).await > 0 {
        let entries: Vec<NewEntry> = jobs.iter().map(|j| j.entry.clone()).collect();
        let results = write(writer.as_ref(), &entries).await;
        for (job, result) in jobs.drain(..).zip(results) {
            // The caller may be gone; its entry stands (see the module comment).
            let _ = job.reply.send(result);
        }
    }
}

/// One result per entry: the batch's, or after a statement error each entry's own transaction.
async fn write<W: BatchWriter>(writer: &W, entries: &[NewEntry]) -> Vec<EntryResult> {
    match writer.write_batch(entries).await {
        Ok(results) => results,
        Err(BatchError::Transaction(e)) => {
            tracing::error!(error = %e, entries = entries.len(), "ledger batch failed; nothing of it was written");
            entries.iter().map(|_| Err(e.for_each_caller())).collect()
        }
        Err(BatchError::Statement(e)) if entries.len() == 1 => vec![Err(e)],
        Err(BatchError::Statement(e)) => {
            tracing::warn!(error = %e, entries = entries.len(), "ledger batch rolled back; posting its entries one by one");
            let mut results = Vec::with_capacity(entries.len());
            for entry in entries {
                results.push(match writer.write_batch(std::slice::from_ref(entry)).await {
                    Ok(mut one) => one.pop().unwrap_or(Err(StoreError::NotFound("batch result"))),
                    Err(BatchError::Statement(e) | BatchError::Transaction(e)) => Err(e),
                });
            }
            results
        }
    }
}
