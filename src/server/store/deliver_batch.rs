//! Group commit of one-transaction deliveries (`store::deliver`) on SQLite, where one writer at
//! a time and one fsync per commit (`full`) make the commit the ceiling: concurrent
//! `deliver_payment` calls queue to a writer task that takes whatever is waiting (up to
//! `MAX_BATCH`), writes each delivery in a SAVEPOINT of its own inside ONE transaction, commits
//! once and answers each caller with its own result. Beside the ledger's group commit
//! (`store::group_commit`), not part of it: a delivery is several statements of its own.
//!
//! - No added wait: a lone delivery is a batch of one and commits at once; batches grow only
//!   while a commit is in flight and deliveries queue behind it.
//! - Each delivery keeps its own outcome: one that does not credit, or whose statement fails,
//!   is rolled back to its savepoint and the others go on; its caller hears `NotCredited` or
//!   the error exactly as it would alone. A failed BEGIN or COMMIT fails every caller of the
//!   batch: nothing of it was written, each answers 503 and Whop retries.
//! - A caller that goes away does not cancel its delivery once queued: the writer writes it and
//!   the answer is dropped; Whop's retry of it is then a duplicate.
//! - The writer task is started by the first delivery and again if it ever stopped; it ends when
//!   the store is dropped (its queue's sender goes).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use super::deliver::Delivered;
use super::{Fulfilment, NewWebhookEvent, StoreError};

/// Most deliveries in one transaction: enough to share a commit among every client of a busy
/// moment, few enough that a batch holds the write lock for milliseconds (ledger posts and other
/// writes queue behind it).
pub const MAX_BATCH: usize = 64;

/// One delivery to write.
pub struct DeliveryJob {
    pub event: NewWebhookEvent,
    pub fulfilment: Fulfilment,
    pub now: DateTime<Utc>,
}

pub type DeliveryResult = Result<Delivered, StoreError>;

/// A backend's way to write a batch of deliveries in one transaction.
#[async_trait]
pub trait DeliveryWriter: Send + Sync + 'static {
    /// Writes `jobs` in order, each in its own savepoint, in one transaction; once committed,
    /// one result per job in the same order. `Err`: the transaction did not begin or commit,
    /// nothing was written.
    async fn write_deliveries(&self, jobs: &[DeliveryJob]) -> Result<Vec<DeliveryResult>, StoreError>;
}

type Job = (DeliveryJob, oneshot::Sender<DeliveryResult>);

pub struct DeliveryBatch<W: DeliveryWriter> {
    writer: Arc<W>,
    queue: Mutex<Option<mpsc::Sender<Job>>>,
}

impl<W: DeliveryWriter> DeliveryBatch<W> {
    pub fn new(writer: W) -> Self {
        DeliveryBatch {
            writer: Arc::new(writer),
            queue: Mutex::new(None),
        }
    }

    /// Queues the delivery and waits for its own result.
    pub async fn deliver(&self, job: DeliveryJob) -> DeliveryResult {
        let (reply, answer) = oneshot::channel();
        if self.queue().send((job, reply)).await.is_err() {
            return Err(StoreError::Database(sqlx::Error::WorkerCrashed));
        }
        // The writer stopped before answering: its batch was rolled back or committed; Whop's
        // retry finds out which (a fresh delivery or a duplicate).
        answer
            .await
            .unwrap_or(Err(StoreError::Database(sqlx::Error::WorkerCrashed)))
    }

    fn queue(&self) -> mpsc::Sender<Job> {
        let mut slot = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = slot.as_ref().filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run_writer(self.writer.clone(), rx));
        *slot = Some(tx.clone());
        tx
    }
}

async fn run_writer<W: DeliveryWriter>(writer: Arc<W>, mut rx: mpsc::Receiver<Job>) {
    let mut queued = Vec::with_capacity(MAX_BATCH);
    // `recv_many` waits for the first delivery, then takes what else is queued without waiting.
    while rx.recv_many(&mut queued, MAX_BATCH).await > 0 {
        let (jobs, replies): (Vec<DeliveryJob>, Vec<_>) = queued.drain(..).unzip();
        match writer.write_deliveries(&jobs).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, deliveries = jobs.len(), "webhook delivery batch failed; nothing of it was written");
                for reply in replies {
                    let _ = reply.send(Err(e.for_each_caller()));
                }
            }
        }
    }
}
