//! A fresh Whop delivery of a paid payment in ONE transaction: the event row (already settled
//! `processed`), the order's credit (`fulfil_in_tx!`: ledger row, balance, order, host-webhook
//! outbox) and the wake-up of events waiting for this payment commit together or not at all.
//! One commit per delivery (one fsync on SQLite `full`) where storing, fulfilling and settling
//! one after the other took three or four. On SQLite concurrent deliveries also share one
//! commit, each in a savepoint of its own (`store::deliver_batch`); on PostgreSQL each is its
//! own transaction, run concurrently.
//!
//! Only the common case is taken here: a delivery that credits its order. Anything else (a
//! repeat of a credited payment, a hold, an error) is rolled back whole and reported as
//! `NotCredited`, and the route stores and applies it step by step as before, so every outcome
//! other than a credit keeps the one code path that records it (failed, retrying, held).

use super::rows::{OrderRow, TransactionRow, WebhookEventRow};

/// What `Store::deliver_payment` did.
#[derive(Debug)]
pub enum Delivered {
    /// An event with this webhook id is stored already: nothing written (a repeat delivery).
    Duplicate,
    /// Stored, credited and settled, committed. `waiting`: the other events about this payment
    /// still pending (a refund that came first), made due now.
    Credited {
        /// Boxed: the row is large beside the other variants.
        order: Box<OrderRow>,
        entry: TransactionRow,
        waiting: Vec<WebhookEventRow>,
    },
    /// The payment did not credit the order in this transaction (why, for the logs): rolled
    /// back, nothing written; the delivery is to be stored and applied step by step.
    NotCredited(String),
}

/// The body of a function that takes `$tx`, a transaction the backend opened (on SQLite, with
/// the write lock taken) or a savepoint inside one (a batch, `store::deliver_batch`), and ends
/// it: committed (released) with the delivery, or rolled back. `$fulfil` is the backend's
/// `async fn(&mut Connection, &Fulfilment)` around `fulfil_in_tx!`. Counts nothing: a savepoint
/// is not yet a commit (`committed` counts once the transaction has).
macro_rules! deliver_in_tx {
    ($tx:ident, $event:expr, $f:expr, $now:expr, $fulfil:ident) => {{
        use $crate::server::store::deliver::Delivered;
        use $crate::server::store::rows::{FulfilOutcome, WebhookEventRow};
        let (event, f, now) = ($event, $f, $now);
        let mut tx = $tx;
        // Stored as settled at once: if the credit below does not happen, none of this commits.
        // The primary key makes a repeat (even one racing this transaction) write nothing. The
        // order id is set after the credit: its foreign key would take a share lock on the order
        // row here, and two transactions holding it would deadlock on the fulfilment's
        // exclusive lock (PostgreSQL); by then the order is locked and known to exist.
        let stored = sqlx::query(
            "insert into webhook_events (id, event_type, received_at, payload, status, attempts, processed_at, \
             payment_id) values ($1, $2, $3, $4, 'processed', 1, $5, $6) on conflict (id) do nothing",
        )
        .bind(&event.id)
        .bind(&event.event_type)
        .bind(event.received_at)
        .bind(&event.payload)
        .bind(now)
        .bind(&f.payment_id)
        .execute(&mut *tx)
        .await?;
        if stored.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(Delivered::Duplicate);
        }
        let (order, entry) = match $fulfil(&mut tx, f).await {
            Ok(FulfilOutcome::Credited { order, entry }) => (order, entry),
            other => {
                tx.rollback().await?;
                let why = match other {
                    Ok(FulfilOutcome::AlreadyCredited { .. }) => "already credited".to_owned(),
                    Ok(FulfilOutcome::Held { reason, .. }) => format!("held: {reason}"),
                    Ok(FulfilOutcome::Credited { .. }) => unreachable!("matched above"),
                    Err(e) => e.to_string(),
                };
                return Ok(Delivered::NotCredited(why));
            }
        };
        sqlx::query("update webhook_events set order_id = $1 where id = $2")
            .bind(order.id)
            .bind(&event.id)
            .execute(&mut *tx)
            .await?;
        // What `orders::fulfil` wakes after a credit: events about this payment (a refund or a
        // dispute that arrived before it) are due now; the caller applies them after the commit.
        let q = format!(
            "select {} from webhook_events where payment_id = $1 and status = 'pending' and id <> $2 \
             order by received_at, id",
            sql::WEBHOOK_EVENT_COLUMNS
        );
        let waiting = sqlx::query_as::<_, WebhookEventRow>(&q)
            .bind(&f.payment_id)
            .bind(&event.id)
            .fetch_all(&mut *tx)
            .await?;
        if !waiting.is_empty() {
            sqlx::query(
                "update webhook_events set next_attempt_at = $1 \
                 where payment_id = $2 and status = 'pending' and next_attempt_at > $1",
            )
            .bind(now)
            .bind(&f.payment_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Delivered::Credited {
            order: Box::new(order),
            entry,
            waiting,
        })
    }};
}
pub(crate) use deliver_in_tx;

/// Counts a delivery once its transaction has committed.
pub fn committed(delivered: &Delivered) {
    if let Delivered::Credited { entry, .. } = delivered {
        crate::server::metrics::ledger_post(&entry.kind);
    }
}
