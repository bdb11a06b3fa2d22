//! SQLite, the embedded default. WAL so readers never block the writer; every write transaction
//! starts with `BEGIN IMMEDIATE` so concurrent writers queue on the lock (up to `busy_timeout`)
//! instead of failing halfway with SQLITE_BUSY.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous as SqlxSync,
};
use sqlx::SqlitePool;

use super::{Backend, ConnectOptions, NewWebhookEvent, Recorded, Store, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How hard SQLite pushes each commit to disk (`SQLITE_SYNCHRONOUS`).
/// `Full` (the default): a committed ledger entry survives a power cut or OS crash.
/// `Normal`: faster; survives a process crash (kill -9) but the last commits may roll back on a
/// power cut, which for a ledger means a spend the host app saw succeed could vanish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteSynchronous {
    Full,
    Normal,
}

impl FromStr for SqliteSynchronous {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "full" => Ok(SqliteSynchronous::Full),
            "normal" => Ok(SqliteSynchronous::Normal),
            _ => Err(()),
        }
    }
}

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(opts: &ConnectOptions) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(&opts.url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match opts.sqlite_synchronous {
                SqliteSynchronous::Full => SqlxSync::Full,
                SqliteSynchronous::Normal => SqlxSync::Normal,
            })
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // Create the folder of the database file (e.g. data/) so the default works out of the box.
        if let Some(parent) = Path::new(options.get_filename()).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Config(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(options)
            .await?;
        Ok(SqliteStore { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
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
            sqlx::query_scalar("select count(*) from whop_plans where active = 1")
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
