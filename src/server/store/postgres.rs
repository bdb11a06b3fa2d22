//! PostgreSQL, the production backend (and the one several app instances share). Balance
//! updates take the user's row lock (`select ... for update`) so concurrent writers never lose
//! an update.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use super::{Backend, ConnectOptions, NewWebhookEvent, Recorded, Store, StoreError};

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

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        let v: Option<i64> =
            sqlx::query_scalar("select max(version) from _sqlx_migrations where success")
                .fetch_one(&self.pool)
                .await?;
        Ok(v.unwrap_or(0))
    }

    async fn count_active_plans(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("select count(*) from whop_plans where active")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn record_webhook_event(&self, e: &NewWebhookEvent) -> Result<Recorded, StoreError> {
        let done = sqlx::query(
            "insert into webhook_events (id, event_type, received_at, payload) values ($1, $2, $3, $4) \
             on conflict (id) do nothing",
        )
        .bind(&e.id)
        .bind(&e.event_type)
        .bind(e.received_at)
        .bind(&e.payload)
        .execute(&self.pool)
        .await?;
        Ok(if done.rows_affected() == 1 {
            Recorded::Inserted
        } else {
            Recorded::Duplicate
        })
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
