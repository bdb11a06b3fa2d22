//! The scale seed: users with paid Whop orders and ledger rows made in bulk in the database
//! (`insert ... select` over a recursive CTE on SQLite, generate_series on PostgreSQL): minutes,
//! where going through the app would take hours. Every user has `ORDERS_PER_USER` paid orders and
//! `ORDERS_PER_USER + SPENDS_PER_USER` ledger rows, and a balance equal to their sum, as in
//! production. Used by `benches/scale.rs`, by `make bench` with `BENCH_SEED_USERS`, and by
//! `make seed-scale` (`benches/seed_scale.rs`).

// Each benchmark that includes this file uses a part of it.
#![allow(dead_code)]

use chrono::{DateTime, Utc};

pub const ORDERS_PER_USER: i64 = 10;
pub const SPENDS_PER_USER: i64 = 40;

/// The database's own pool, for the bulk seed and the plans (the store keeps its own).
pub enum Raw {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Raw {
    pub async fn exec(&self, q: &str, lo: i64, hi: i64, at: DateTime<Utc>) {
        match self {
            Raw::Sqlite(p) => sqlx::query(q).bind(lo).bind(hi).bind(at).execute(p).await.map(|_| ()),
            Raw::Pg(p) => sqlx::query(q).bind(lo).bind(hi).bind(at).execute(p).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{e}\n{q}"));
    }

    pub async fn scalar(&self, q: &str) -> i64 {
        match self {
            Raw::Sqlite(p) => sqlx::query_scalar(q).fetch_one(p).await.unwrap(),
            Raw::Pg(p) => sqlx::query_scalar(q).fetch_one(p).await.unwrap(),
        }
    }

    /// The first column of the row `q` finds by one text argument, if any.
    pub async fn lookup(&self, q: &str, arg: &str) -> Option<i64> {
        match self {
            Raw::Sqlite(p) => sqlx::query_scalar(q).bind(arg).fetch_optional(p).await.unwrap(),
            Raw::Pg(p) => sqlx::query_scalar(q).bind(arg).fetch_optional(p).await.unwrap(),
        }
    }

    pub fn is_pg(&self) -> bool {
        matches!(self, Raw::Pg(_))
    }

    /// `insert into <into> select <select> from <numbers lo..=hi as n(i)> <rest>`.
    pub fn numbered(&self, into: &str, select: &str, rest: &str) -> String {
        if self.is_pg() {
            format!("insert into {into} select {select} from generate_series($1::bigint, $2::bigint) as n(i) {rest}")
        } else {
            format!(
                "with recursive n(i) as (select $1 union all select i + 1 from n where i < $2) \
                 insert into {into} select {select} from n {rest}"
            )
        }
    }
}

impl Raw {
    /// Opens the database at `url` (already migrated by the app).
    pub async fn connect(url: &str) -> Raw {
        if url.starts_with("postgres") {
            Raw::Pg(sqlx::PgPool::connect(url).await.expect("postgres"))
        } else {
            Raw::Sqlite(sqlx::SqlitePool::connect(url).await.expect("sqlite"))
        }
    }
}

/// Users `lo..=hi` with their orders and ledger rows.
pub async fn seed(raw: &Raw, lo: i64, hi: i64) {
    let at = Utc::now();
    let chunk = 10_000;
    let mut from = lo;
    while from <= hi {
        let to = (from + chunk - 1).min(hi);
        raw.exec(
            &raw.numbered(
                "users (email, role, external_id, credits_balance, created_at, updated_at)",
                &format!(
                    "'scale' || i || '@example.com', 'user', 'scale-ext-' || i, {}, $3, $3",
                    ORDERS_PER_USER * 5000 - SPENDS_PER_USER * 100
                ),
                "",
            ),
            from,
            to,
            at,
        )
        .await;
        // Ids of the users just made (contiguous: one statement, one writer).
        let (id_lo, id_hi) = (
            raw.scalar(&format!(
                "select min(id) from users where external_id = 'scale-ext-{from}'"
            ))
            .await,
            raw.scalar(&format!(
                "select max(id) from users where external_id = 'scale-ext-{to}'"
            ))
            .await,
        );
        let ks = |n: i64| {
            (0..n)
                .map(|k| format!("select {k} as k"))
                .collect::<Vec<_>>()
                .join(" union all ")
        };
        raw.exec(
            &format!(
                "insert into credit_orders (user_id, plan_name, credits_amount, price_cents, currency, \
                 payment_method, payment_status, whop_checkout_id, whop_payment_id, whop_plan_id, client_key, \
                 created_at, updated_at, paid_at, credited_at) \
                 select u.id, 'Starter', 5000, 750, 'usd', 'whop', 'paid', 'ch_scale_' || u.id || '_' || ks.k, \
                 'pay_scale_' || u.id || '_' || ks.k, 'plan_scale', 'scale_key_' || u.id || '_' || ks.k, \
                 $3, $3, $3, $3 from users u, ({}) ks where u.id between $1 and $2 order by u.id, ks.k",
                ks(ORDERS_PER_USER)
            ),
            id_lo,
            id_hi,
            at,
        )
        .await;
        raw.exec(
            "insert into credit_transactions (user_id, amount, kind, source_kind, source_id, order_id, actor, \
             balance_after, created_at) \
             select o.user_id, 5000, 'purchase', 'whop_payment', o.whop_payment_id, o.id, 'whop', \
             5000 * row_number() over (partition by o.user_id order by o.id), $3 \
             from credit_orders o where o.user_id between $1 and $2 order by o.user_id, o.id",
            id_lo,
            id_hi,
            at,
        )
        .await;
        raw.exec(
            &format!(
                "insert into credit_transactions (user_id, amount, kind, source_kind, source_id, order_id, actor, \
                 balance_after, created_at) \
                 select u.id, -100, 'spend', 'host_spend', 'scale-spend-' || u.id || '-' || ks.k, null, \
                 'api_key:1', {} - 100 * (ks.k + 1), $3 \
                 from users u, ({}) ks where u.id between $1 and $2 order by u.id, ks.k",
                ORDERS_PER_USER * 5000,
                ks(SPENDS_PER_USER)
            ),
            id_lo,
            id_hi,
            at,
        )
        .await;
        from = to + 1;
    }
    if raw.is_pg() {
        // What autovacuum would do soon after a load like this; the planner needs the counts.
        if let Raw::Pg(p) = raw {
            sqlx::query("analyze").execute(p).await.unwrap();
        }
    }
}
