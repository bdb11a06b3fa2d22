//! The raw ceiling of a database: the simplest correct grant, straight from Rust through sqlx
//! with no app around it. One transaction per grant: the balance update (returning the new
//! balance) and one ledger row with its unique source key, then commit. Run on a fresh database
//! migrated by the app (same tables, indexes, triggers and checks) at several concurrencies; the
//! best rate is the ceiling the other figures are divided by.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{PgPool, SqlitePool};

/// A pool on the database under test, opened like the app opens it.
#[derive(Clone)]
pub enum RawPool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

const UPDATE: &str = "update users set credits_balance = credits_balance + 1, updated_at = $1 where id = $2 \
                      returning credits_balance";
const INSERT: &str = "insert into credit_transactions \
                      (user_id, amount, kind, source_kind, source_id, actor, balance_after, created_at) \
                      values ($1, 1, 'manual_grant', 'raw_bench', $2, 'system', $3, $4)";

// The same statements on either pool (sqlx's API is the same; the types differ).
macro_rules! grant_on {
    ($pool:expr, $begin:expr, $user:expr, $source:expr) => {{
        let now = chrono::Utc::now();
        let mut tx = $pool.begin_with($begin).await.expect("begin");
        let balance: i64 = sqlx::query_scalar(UPDATE)
            .bind(now)
            .bind($user)
            .fetch_one(&mut *tx)
            .await
            .expect("balance update");
        sqlx::query(INSERT)
            .bind($user)
            .bind($source)
            .bind(balance)
            .bind(now)
            .execute(&mut *tx)
            .await
            .expect("ledger row");
        tx.commit().await.expect("commit");
    }};
}

impl RawPool {
    async fn grant(&self, user: i64, source: &str) {
        match self {
            // BEGIN IMMEDIATE as the app does: the write lock from the start, no upgrade deadlock.
            RawPool::Sqlite(p) => grant_on!(p, "BEGIN IMMEDIATE", user, source),
            RawPool::Postgres(p) => grant_on!(p, "BEGIN", user, source),
        }
    }
}

/// `total` grants of 1 credit over the users `users` (round robin), by `writers` concurrent
/// tasks; returns grants per second and every latency, sorted.
pub async fn run(pool: &RawPool, users: &[i64], writers: usize, total: usize, tag: &str) -> (f64, Vec<Duration>) {
    let next = Arc::new(AtomicUsize::new(0));
    let users: Arc<[i64]> = users.into();
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (pool, next, users, tag) = (pool.clone(), next.clone(), users.clone(), tag.to_string());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break lat;
                    }
                    let t = Instant::now();
                    pool.grant(users[i % users.len()], &format!("{tag}-{writers}-{i}"))
                        .await;
                    lat.push(t.elapsed());
                }
            })
        })
        .collect();
    super::latency::gather(start, tasks).await
}
