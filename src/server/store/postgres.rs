//! PostgreSQL, the production backend (and the one several app instances share). Balance
//! updates take the user's row lock (`select ... for update`) so concurrent writers never lose
//! an update.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use super::admin_event_queries::impl_admin_event_queries;
use super::admin_order_queries::impl_admin_order_queries;
use super::alert_queries::impl_alert_queries;
use super::deliver::{self, deliver_in_tx, Delivered};
use super::dispute::dispute_in_tx;
use super::fulfil::{self, fulfil_in_tx};
use super::group_commit::{BatchError, BatchWriter, EntryResult, GroupCommit};
use super::host_webhook_queries::impl_host_webhook_queries;
use super::import_queries::impl_import_queries;
use super::ledger_batch::{count_applied, post_batch_in_tx};
use super::low_balance_queries::impl_low_balance_queries;
use super::order_queries::impl_order_queries;
use super::plan_queries::impl_plan_queries;
use super::queries::impl_queries;
use super::reconcile_queries::impl_reconcile_queries;
use super::refund::refund_in_tx;
use super::rows::{
    ApiKeyRow, DisputeApplication, DisputeOutcome, FulfilOutcome, Fulfilment, NewApiKey, NewSimDelivery,
    RefundApplication, RefundOutcome, SimDeliveryRow, SimObjectRow,
};
use super::settings_queries::impl_settings_queries;
use super::sign_in_link_queries::impl_sign_in_link_queries;
use super::unmatched_queries::impl_unmatched_queries;
use super::widget_queries::impl_widget_queries;
use super::{
    sql, Backend, ConnectOptions, NewEntry, NewUser, NewWebhookEvent, PlanRow, PostOutcome, Recorded, Store,
    StoreError, TransactionRow, UserRow,
};
use crate::model::{Credits, UserId};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pool: PgPool,
    /// Ledger posts, group-committed by `LEDGER_WRITERS` writers sharded by user.
    /// External ids already looked up (they never change).
    user_ids: super::user_ids::UserIds,
    /// Live API keys, remembered for a second (see `store::api_key_cache`).
    api_keys: super::api_key_cache::ApiKeyCache,
    ledger: GroupCommit<PgLedgerWriter>,
}

/// How many batch writers post ledger entries, each with a transaction (and a pooled connection)
/// of its own; entries are sharded by user id, so no two writers want the same user's row. One
/// writer is bound by one connection's round trips and commits; several overlap them. Measured
/// with `make bench` (spend over HTTP, 64 clients, 2 cores, the machine loaded): 1 writer 887/s,
/// 2: 1,019/s, 4: 1,471/s, 8: 1,359/s. Four also leave most of the default pool of ten to the
/// reads of the requests being answered.
const LEDGER_WRITERS: usize = 4;

/// Writes the ledger's batches.
struct PgLedgerWriter {
    pool: PgPool,
}

#[async_trait]
impl BatchWriter for PgLedgerWriter {
    async fn write_batch(&self, entries: &[NewEntry]) -> Result<Vec<EntryResult>, BatchError> {
        let mut tx = self.pool.begin().await.map_err(|e| BatchError::Transaction(e.into()))?;
        // The users' rows are locked (in id order) by the batch's first read, so concurrent
        // writers of other instances queue behind it and each statement then sees every entry
        // committed before (Read Committed takes a fresh snapshot per statement).
        let written = async { post_batch_in_tx!(tx, entries, " for update", true) }.await;
        let results = match written {
            Ok(results) => results,
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(BatchError::Statement(e));
            }
        };
        tx.commit().await.map_err(|e| BatchError::Transaction(e.into()))?;
        count_applied(&results);
        Ok(results)
    }
}

impl PgStore {
    pub async fn connect(opts: &ConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            // A database that refuses connections (or a pool exhausted by a stuck one) fails the
            // request in seconds with 503 rather than holding it.
            .acquire_timeout(super::DATABASE_WAIT)
            .connect(&opts.url)
            .await?;
        let writer = PgLedgerWriter { pool: pool.clone() };
        Ok(PgStore {
            pool,
            user_ids: Default::default(),
            api_keys: Default::default(),
            ledger: GroupCommit::new(writer, LEDGER_WRITERS, opts.ledger_batch_max),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Readiness: a round trip.
    pub async fn ready_check(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    /// PostgreSQL takes concurrent writers itself (row locks), so writes need no queue here; this
    /// exists so the shared write methods in queries.rs read the same for both backends.
    pub async fn write_permit(&self) -> NoWritePermit {
        NoWritePermit
    }
}

/// The permit of a backend that does not queue writes: holds nothing.
pub struct NoWritePermit;

impl_queries!(PgStore);
impl_order_queries!(PgStore);
impl_reconcile_queries!(PgStore);
impl_unmatched_queries!(PgStore);
impl_admin_event_queries!(PgStore);
impl_plan_queries!(PgStore);
impl_settings_queries!(PgStore);
// The backend's BEGIN and row-lock suffix for the review transactions.
impl_admin_order_queries!(PgStore, "BEGIN", " for update");
impl_alert_queries!(PgStore);
impl_low_balance_queries!(PgStore);
impl_import_queries!(PgStore);
impl_sign_in_link_queries!(PgStore, "BEGIN");
impl_widget_queries!(PgStore);
impl_host_webhook_queries!(PgStore);

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn count_active_plans(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("select count(*) from whop_plans where active")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn post_entry(&self, e: &NewEntry) -> Result<PostOutcome, StoreError> {
        self.ledger.post(e).await
    }

    async fn fulfil_order(&self, f: &Fulfilment) -> Result<FulfilOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let outcome = fulfil_on(&mut tx, f).await?;
        tx.commit().await?;
        fulfil::committed(&outcome);
        Ok(outcome)
    }

    async fn deliver_payment(
        &self,
        event: &NewWebhookEvent,
        f: &Fulfilment,
        now: DateTime<Utc>,
    ) -> Result<Delivered, StoreError> {
        // One transaction per delivery, run concurrently: each locks only its order's and its
        // user's rows, where a batch would hold many users' locks against the ledger's writers.
        let tx = self.pool.begin().await?;
        let delivered = deliver_on(tx, event, f, now).await?;
        deliver::committed(&delivered);
        Ok(delivered)
    }

    async fn refund_order(&self, r: &RefundApplication) -> Result<RefundOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        refund_in_tx!(
            tx,
            r,
            format!(
                "select {} from credit_orders where whop_payment_id = $1 for update",
                sql::ORDER_COLUMNS
            ),
            "select credits_balance from users where id = $1 for update"
        )
    }

    async fn dispute_order(&self, d: &DisputeApplication) -> Result<DisputeOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        dispute_in_tx!(
            tx,
            d,
            format!(
                "select {} from credit_orders where whop_payment_id = $1 for update",
                sql::ORDER_COLUMNS
            ),
            "select credits_balance from users where id = $1 for update"
        )
    }

    async fn list_plans(&self, include_archived: bool) -> Result<Vec<PlanRow>, StoreError> {
        let q = format!(
            "select {} from whop_plans where $1 or active order by sort_order, id",
            sql::PLAN_COLUMNS
        );
        Ok(sqlx::query_as::<_, PlanRow>(&q)
            .bind(include_archived)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// `fulfil_in_tx!` on PostgreSQL, inside a transaction the caller opened: the order's and the
/// user's rows are locked until it ends.
async fn fulfil_on(tx: &mut sqlx::PgConnection, f: &Fulfilment) -> Result<FulfilOutcome, StoreError> {
    fulfil_in_tx!(
        tx,
        f,
        format!(
            "select {} from credit_orders where id = $1 for update",
            sql::ORDER_COLUMNS
        ),
        "select credits_balance from users where id = $1 for update"
    )
}

/// `deliver_in_tx!` on PostgreSQL, in its own transaction.
async fn deliver_on(
    tx: sqlx::Transaction<'_, sqlx::Postgres>,
    event: &NewWebhookEvent,
    f: &Fulfilment,
    now: DateTime<Utc>,
) -> Result<Delivered, StoreError> {
    deliver_in_tx!(
        tx,
        event,
        f,
        now,
        format!(
            "select {} from credit_orders where id = $1 for update",
            sql::ORDER_COLUMNS
        ),
        credit_on
    )
}

/// The purchase's credit for `deliver_in_tx!` on PostgreSQL, one statement: the user's row
/// locked and its balance raised, and the ledger row with the balance that left (a data-modifying
/// CTE); `None` when the payment is in the ledger already (the caller rolls the raise back with
/// everything else) or the balance would pass `i64::MAX`.
async fn credit_on(
    tx: &mut sqlx::PgConnection,
    p: &super::deliver::Purchase<'_>,
) -> Result<Option<TransactionRow>, StoreError> {
    let Some(ceiling) = p.ceiling() else {
        return Ok(None);
    };
    Ok(sqlx::query_as::<_, TransactionRow>(
        "with u as (update users set credits_balance = credits_balance + $2, updated_at = $9 \
         where id = $1 and credits_balance <= $10 returning credits_balance) \
         insert into credit_transactions \
         (user_id, amount, kind, source_kind, source_id, order_id, actor, reason, balance_after, created_at) \
         select $1, $2, $3, $4, $5, $6, $7, $8, u.credits_balance, $9 from u \
         on conflict (kind, source_kind, source_id) do nothing \
         returning id, user_id, amount, kind, source_kind, source_id, order_id, actor, reason, balance_after, created_at",
    )
    .bind(p.user_id)
    .bind(p.credits)
    .bind(crate::model::EntryKind::Purchase.as_str())
    .bind(fulfil::PAYMENT_SOURCE)
    .bind(p.payment_id)
    .bind(Some(p.order_id))
    .bind("whop")
    .bind(Some(&p.reason))
    .bind(p.now)
    .bind(ceiling)
    .fetch_optional(&mut *tx)
    .await?)
}
