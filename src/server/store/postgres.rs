//! PostgreSQL, the production backend (and the one several app instances share). Balance
//! updates take the user's row lock (`select ... for update`) so concurrent writers never lose
//! an update.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use chrono::Utc;

use super::queries::impl_queries;
use super::rows::{ApiKeyRow, NewApiKey, NewSimDelivery, SimDeliveryRow, SimObjectRow};
use super::{
    sql, Backend, ConnectOptions, NewEntry, NewUser, NewWebhookEvent, PlanRow, PostOutcome, Recorded, Store,
    StoreError, TransactionRow, UserRow,
};
use crate::model::{Credits, UserId};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(opts: &ConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(Duration::from_secs(15))
            .connect(&opts.url)
            .await?;
        Ok(PgStore { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl_queries!(PgStore);

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
        // Lock the user's row first: concurrent posts for this user queue here, and each then sees
        // every entry committed before it (READ COMMITTED takes a fresh snapshot per statement).
        let mut tx = self.pool.begin().await?;
        let balance: Option<i64> = sqlx::query_scalar("select credits_balance from users where id = $1 for update")
            .bind(e.user_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(balance) = balance else {
            return Err(StoreError::NotFound("user"));
        };
        if let Some(existing) = sqlx::query_as::<_, TransactionRow>(sql::TX_BY_SOURCE)
            .bind(e.kind)
            .bind(&e.source_kind)
            .bind(&e.source_id)
            .fetch_optional(&mut *tx)
            .await?
        {
            return Ok(PostOutcome::AlreadyApplied(existing));
        }
        let new_balance = balance
            .checked_add(e.amount)
            .ok_or_else(|| StoreError::Conflict("balance out of range".into()))?;
        if e.no_overdraft && new_balance < 0 {
            return Err(StoreError::InsufficientCredits {
                balance: Credits(balance),
            });
        }
        let now = Utc::now();
        let inserted = sqlx::query_as::<_, TransactionRow>(sql::INSERT_TX)
            .bind(e.user_id)
            .bind(e.amount)
            .bind(e.kind)
            .bind(&e.source_kind)
            .bind(&e.source_id)
            .bind(e.order_id)
            .bind(&e.actor)
            .bind(&e.reason)
            .bind(new_balance)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = inserted else {
            // The same source was posted for another user in a transaction that committed after
            // our check: nothing of ours was written; report the row that won.
            tx.rollback().await?;
            let existing = sqlx::query_as::<_, TransactionRow>(sql::TX_BY_SOURCE)
                .bind(e.kind)
                .bind(&e.source_kind)
                .bind(&e.source_id)
                .fetch_one(&self.pool)
                .await?;
            return Ok(PostOutcome::AlreadyApplied(existing));
        };
        sqlx::query(sql::SET_BALANCE)
            .bind(new_balance)
            .bind(now)
            .bind(e.user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(PostOutcome::Applied(row))
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
