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

/// A purchase's credit as the one-transaction path writes it (the backend's `$credit` fn): the
/// balance raised by `credits` and a `purchase` ledger row keyed by the payment.
pub struct Purchase<'a> {
    pub user_id: i64,
    pub credits: i64,
    pub payment_id: &'a str,
    pub order_id: i64,
    pub reason: String,
    pub now: chrono::DateTime<chrono::Utc>,
}

impl Purchase<'_> {
    /// The highest balance this purchase may be added to without passing `i64::MAX`; `None` for a
    /// purchase of no credits or fewer, which this path does not take.
    pub fn ceiling(&self) -> Option<i64> {
        (self.credits > 0).then(|| i64::MAX - self.credits)
    }
}

/// The body of a function that takes `$tx`, a transaction the backend opened (on SQLite, with
/// the write lock taken) or a savepoint inside one (a batch, `store::deliver_batch`), and ends
/// it: committed (released) with the delivery, or rolled back. `$order_sql` reads the order by id
/// (locking it on PostgreSQL); `$credit` is the backend's `async fn(&mut Connection,
/// &Purchase) -> Result<Option<TransactionRow>, StoreError>` that adds the credits to the balance
/// and writes the ledger row with the balance it left. Counts nothing: a savepoint is not yet a
/// commit (`committed` counts once the transaction has).
///
/// Statements are the cost of this path (each a round trip to PostgreSQL, or a hand-over to
/// SQLite's connection thread; BENCHMARKS.md, "Profiles"), so it runs only what a credit needs and
/// lets the database's unique keys answer the rare cases: a payment already in the ledger fails the
/// ledger insert, a repeat webhook id fails the event insert, and either rolls the whole
/// transaction back. Holds are judged by `fulfil::hold_reason`, as `fulfil_in_tx!` judges them.
macro_rules! deliver_in_tx {
    ($tx:ident, $event:expr, $f:expr, $now:expr, $order_sql:expr, $credit:ident) => {{
        use $crate::server::store::deliver::{Delivered, Purchase};
        use $crate::server::store::rows::{OrderRow, WebhookEventRow};
        let (event, f, now) = ($event, $f, $now);
        let mut tx = $tx;
        // Anything but a credit: nothing of this transaction stays, and the route takes the
        // step-by-step path, which records the outcome (held, failed). A repeat of a stored webhook
        // id is told apart here, on this rare path only, so its answer is a duplicate.
        macro_rules! decline {
            ($why:expr) => {{
                let why: String = $why;
                let stored: Option<i32> = sqlx::query_scalar("select 1 from webhook_events where id = $1")
                    .bind(&event.id)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.rollback().await?;
                return Ok(match stored {
                    Some(_) => Delivered::Duplicate,
                    None => Delivered::NotCredited(why),
                });
            }};
        }
        let credited = async {
            let order: Option<OrderRow> = sqlx::query_as::<_, OrderRow>(&$order_sql)
                .bind(f.order_id.0)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(order) = order else {
                return Ok::<_, StoreError>(Err("no such order".to_owned()));
            };
            if let Some(reason) = $crate::server::store::fulfil::hold_reason(&order, f) {
                return Ok(Err(format!("held: {reason}")));
            }
            let purchase = Purchase {
                user_id: order.user_id,
                credits: order.credits_amount,
                payment_id: &f.payment_id,
                order_id: order.id,
                reason: format!("Bought {}", order.plan_name),
                now,
            };
            // `None`: the payment is in the ledger already (credited before, to this order or
            // another), or the balance would leave its range.
            let Some(entry) = $credit(&mut tx, &purchase).await? else {
                return Ok(Err("already credited, or the balance would overflow".to_owned()));
            };
            let order = $crate::server::store::fulfil::mark_paid!(tx, f, order.id, entry, now);
            Ok(Ok((order, entry)))
        }
        .await;
        let (order, entry) = match credited {
            Ok(Ok(credited)) => credited,
            Ok(Err(why)) => decline!(why),
            // A failed statement may have aborted the transaction (PostgreSQL): no more reads in it.
            Err(e) => {
                tx.rollback().await?;
                return Ok(Delivered::NotCredited(e.to_string()));
            }
        };
        // Stored as settled, with its order, after the order row is locked: the foreign key's
        // share lock on that row is then ours already (taken first, two deliveries deadlocked on
        // PostgreSQL). The primary key makes a repeat, even one racing this transaction, a no-op
        // that rolls the credit back with it.
        let stored = sqlx::query(
            "insert into webhook_events (id, event_type, received_at, payload, status, attempts, processed_at, \
             payment_id, order_id) values ($1, $2, $3, $4, 'processed', 1, $5, $6, $7) on conflict (id) do nothing",
        )
        .bind(&event.id)
        .bind(&event.event_type)
        .bind(event.received_at)
        .bind(&event.payload)
        .bind(now)
        .bind(&f.payment_id)
        .bind(order.id)
        .execute(&mut *tx)
        .await?;
        if stored.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(Delivered::Duplicate);
        }
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
