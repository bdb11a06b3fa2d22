//! Scale: the hot lookups, a spend and the admin lists on a small database (1,000 users) and on a
//! large one (100,000 users, 1,000,000 orders, 5,000,000 ledger rows), with each query's plan.
//! Not a test: it prints figures (BENCHMARKS.md records them).
//!
//!   cargo bench --features ssr --bench scale
//!
//! PostgreSQL is measured when TEST_POSTGRES_URL is set. `SCALE_USERS` (default 100000) sets the
//! large size; every user has 10 paid orders and 50 ledger rows (10 purchases, 40 spends), so
//! balances equal ledger sums as in production. The rows are made in the database by bulk
//! `insert ... select` (a recursive CTE on SQLite, generate_series on PostgreSQL): minutes, where
//! going through the app would take hours.

#[cfg(feature = "ssr")]
#[path = "../tests/it/common/mod.rs"]
mod common;
#[cfg(feature = "ssr")]
#[path = "support/seed.rs"]
mod seed;

#[cfg(feature = "ssr")]
fn main() {
    bench::main();
}

#[cfg(not(feature = "ssr"))]
fn main() {
    eprintln!("run with --features ssr");
}

#[cfg(feature = "ssr")]
mod bench {
    use std::sync::Arc;
    use std::time::Instant;

    use atlas_credits::model::{Credits, EntryKind, OrderId, UserId};
    use atlas_credits::server::service::ledger::{self, Actor, LedgerEntry};
    use atlas_credits::server::store::admin_order_queries::{list_sql, ListArg, OrderFilter};
    use atlas_credits::server::store::{self, ConnectOptions, SqliteSynchronous, Store};

    use super::common::{postgres_url, Db, TestDb};
    use super::seed::{seed, Raw};

    const SMALL: i64 = 1_000;
    const SAMPLES: usize = 2_000;

    impl Raw {
        /// The plan of `q` with its arguments, one line per step.
        async fn plan(&self, q: &str, args: &[ListArg]) -> Vec<String> {
            match self {
                Raw::Sqlite(p) => {
                    let sql = format!("explain query plan {q}");
                    let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(&sql);
                    for a in args {
                        query = match a {
                            ListArg::Text(s) => query.bind(s.clone()),
                            ListArg::Int(i) => query.bind(*i),
                            ListArg::Time(t) => query.bind(*t),
                        };
                    }
                    let rows = query.fetch_all(p).await.unwrap_or_else(|e| panic!("{e}\n{sql}"));
                    rows.into_iter().map(|(_, _, _, d)| d).collect()
                }
                Raw::Pg(p) => {
                    let sql = format!("explain {q}");
                    let mut query = sqlx::query_scalar::<_, String>(&sql);
                    for a in args {
                        query = match a {
                            ListArg::Text(s) => query.bind(s.clone()),
                            ListArg::Int(i) => query.bind(*i),
                            ListArg::Time(t) => query.bind(*t),
                        };
                    }
                    query.fetch_all(p).await.unwrap_or_else(|e| panic!("{e}\n{sql}"))
                }
            }
        }
    }

    pub fn main() {
        let large: i64 = std::env::var("SCALE_USERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("scale.db").display());
            let s = store::connect(&ConnectOptions {
                url: url.clone(),
                max_connections: 10,
                sqlite_synchronous: SqliteSynchronous::Full,
                ledger_batch_max: store::DEFAULT_LEDGER_BATCH,
            })
            .await
            .unwrap();
            s.migrate().await.unwrap();
            let raw = Raw::Sqlite(sqlx::SqlitePool::connect(&url).await.unwrap());
            run("sqlite", s, raw, large).await;
            if postgres_url().is_some() {
                let t = TestDb::with_pool_size(Db::Postgres, 10).await.unwrap();
                let raw = Raw::Pg(sqlx::PgPool::connect(&t.url).await.unwrap());
                run("postgres", t.store.clone(), raw, large).await;
            } else {
                println!("postgres: skipped (TEST_POSTGRES_URL is not set)");
            }
        });
    }

    /// p50 and p99 in microseconds of `f` over SAMPLES calls on users 1..=users.
    async fn time<F, Fut>(users: i64, mut f: F) -> (f64, f64)
    where
        F: FnMut(i64, usize) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut lat = Vec::with_capacity(SAMPLES);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for n in 0..SAMPLES {
            // xorshift: spread the users over the whole table (no cache-friendly order).
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = 1 + (x % users as u64) as i64;
            let t = Instant::now();
            f(i, n).await;
            lat.push(t.elapsed());
        }
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e6;
        (pct(0.5), pct(0.99))
    }

    struct Measured {
        name: &'static str,
        figures: Vec<(f64, f64)>,
    }

    async fn measure(s: &Arc<dyn Store>, raw: &Raw, users: i64, round: usize) -> Vec<(&'static str, (f64, f64))> {
        // User ids of the seed start after the app's own (none here; migrations make plans only).
        let base = raw
            .scalar("select min(id) from users where external_id like 'scale-ext-%'")
            .await
            - 1;
        let mut out = Vec::new();
        out.push((
            "user by external id",
            time(users, |i, _| {
                let s = s.clone();
                async move {
                    assert!(s
                        .user_by_external_id(&format!("scale-ext-{i}"))
                        .await
                        .unwrap()
                        .is_some());
                }
            })
            .await,
        ));
        out.push((
            "order by checkout id",
            time(users, |i, _| {
                let s = s.clone();
                async move {
                    let ch = format!("ch_scale_{}_3", base + i);
                    assert!(s.order_by_checkout_id(&ch).await.unwrap().is_some());
                }
            })
            .await,
        ));
        out.push((
            "order by payment id (webhook's lookup)",
            time(users, |i, _| {
                let pay = format!("pay_scale_{}_3", base + i);
                async move {
                    let q = "select id from credit_orders where whop_payment_id = $1";
                    assert!(raw.lookup(q, &pay).await.is_some());
                }
            })
            .await,
        ));
        out.push((
            "spend, repeated key (idempotency)",
            time(users, |i, _| {
                let s = s.clone();
                async move {
                    let e = LedgerEntry::new(
                        UserId(base + i),
                        EntryKind::Spend,
                        Credits(-100),
                        "host_spend",
                        &format!("scale-spend-{}-7", base + i),
                        Actor::System,
                    )
                    .unwrap();
                    assert!(!ledger::post(s.as_ref(), &e).await.unwrap().applied);
                }
            })
            .await,
        ));
        out.push((
            "spend, new key",
            time(users, |i, n| {
                let s = s.clone();
                async move {
                    let e = LedgerEntry::new(
                        UserId(base + i),
                        EntryKind::Spend,
                        Credits(-1),
                        "host_spend",
                        &format!("scale-new-{round}-{n}"),
                        Actor::System,
                    )
                    .unwrap();
                    assert!(ledger::post(s.as_ref(), &e).await.unwrap().applied);
                }
            })
            .await,
        ));
        out.push((
            "user's ledger, first page of 50",
            time(users, |i, _| {
                let s = s.clone();
                async move {
                    assert_eq!(s.list_transactions(UserId(base + i), None, 50).await.unwrap().len(), 50);
                }
            })
            .await,
        ));
        out.push((
            "order's ledger rows (admin order page)",
            time(users, |i, _| {
                let s = s.clone();
                async move {
                    let o = s
                        .order_by_checkout_id(&format!("ch_scale_{}_0", base + i))
                        .await
                        .unwrap()
                        .unwrap();
                    assert_eq!(s.order_transactions(OrderId(o.id)).await.unwrap().len(), 1);
                }
            })
            .await,
        ));
        let max_order = raw.scalar("select max(id) from credit_orders").await;
        out.push((
            "admin orders, a page of 50 anywhere",
            time(users, |i, _| {
                let s = s.clone();
                async move {
                    let before = max_order * i / users.max(1);
                    s.list_orders(&OrderFilter::default(), Some(before.max(51)), 50)
                        .await
                        .unwrap();
                }
            })
            .await,
        ));
        out.push((
            "admin orders, paid, a page of 50 anywhere",
            time(users, |i, _| {
                let s = s.clone();
                async move {
                    let f = OrderFilter {
                        payment_status: Some("paid".into()),
                        ..OrderFilter::default()
                    };
                    let before = max_order * i / users.max(1);
                    s.list_orders(&f, Some(before.max(51)), 50).await.unwrap();
                }
            })
            .await,
        ));
        out.push((
            "admin orders of one user",
            time(users, |i, _| {
                let s = s.clone();
                async move {
                    let f = OrderFilter {
                        user_id: Some(UserId(base + i)),
                        ..OrderFilter::default()
                    };
                    assert_eq!(s.list_orders(&f, None, 50).await.unwrap().len(), 10);
                }
            })
            .await,
        ));
        out.push((
            "manual queue count (admin badge)",
            time(users, |_, _| {
                let s = s.clone();
                async move {
                    s.count_manual_queue().await.unwrap();
                }
            })
            .await,
        ));
        out
    }

    async fn run(label: &str, s: Arc<dyn Store>, raw: Raw, large: i64) {
        println!("\n{label}: seeding {SMALL} users");
        seed(&raw, 1, SMALL).await;
        let small = measure(&s, &raw, SMALL, 0).await;
        let t = Instant::now();
        seed(&raw, SMALL + 1, large).await;
        let orders = raw.scalar("select count(*) from credit_orders").await;
        let rows = raw.scalar("select count(*) from credit_transactions").await;
        println!(
            "{label}: seeded to {large} users, {orders} orders, {rows} ledger rows in {:.0} s",
            t.elapsed().as_secs_f64()
        );
        let mismatched = raw
            .scalar(
                "select count(*) from users u where u.credits_balance <> \
                 (select coalesce(sum(amount), 0) from credit_transactions t where t.user_id = u.id)",
            )
            .await;
        assert_eq!(mismatched, 0, "every balance equals its ledger sum");
        let big = measure(&s, &raw, large, 1).await;
        let rows: Vec<Measured> = small
            .into_iter()
            .zip(big)
            .map(|((name, a), (_, b))| Measured {
                name,
                figures: vec![a, b],
            })
            .collect();
        println!(
            "{:<44} {:>12} {:>12} {:>12} {:>12} {:>8}",
            format!("{label} (µs, {SAMPLES} calls each)"),
            format!("{SMALL} p50"),
            format!("{SMALL} p99"),
            format!("{large} p50"),
            format!("{large} p99"),
            "p50 x"
        );
        for m in rows {
            let (a, b) = (m.figures[0], m.figures[1]);
            println!(
                "{:<44} {:>12.0} {:>12.0} {:>12.0} {:>12.0} {:>8.2}",
                m.name,
                a.0,
                a.1,
                b.0,
                b.1,
                b.0 / a.0
            );
        }
        print_plans(label, &raw).await;
        s.close().await;
    }

    async fn print_plans(label: &str, raw: &Raw) {
        let uid = raw.scalar("select max(id) from users").await;
        let t = |s: &str| ListArg::Text(s.to_string());
        let mut plans: Vec<(&str, String, Vec<ListArg>)> = vec![
            (
                "user by external id",
                "select id from users where external_id = $1".into(),
                vec![t("scale-ext-5")],
            ),
            (
                "order by checkout id",
                "select id from credit_orders where whop_checkout_id = $1".into(),
                vec![t("ch_scale_5_3")],
            ),
            (
                "order by payment id",
                "select id from credit_orders where whop_payment_id = $1".into(),
                vec![t("pay_scale_5_3")],
            ),
            (
                "ledger row by source (idempotency)",
                "select id from credit_transactions where kind = $1 and source_kind = $2 and source_id = $3".into(),
                vec![t("spend"), t("host_spend"), t("scale-spend-5-7")],
            ),
            (
                "user's ledger page",
                "select id from credit_transactions where user_id = $1 and id < $2 order by id desc limit 50".into(),
                vec![ListArg::Int(uid), ListArg::Int(i64::MAX)],
            ),
            (
                "order's ledger rows",
                "select id from credit_transactions where order_id = $1 order by id".into(),
                vec![ListArg::Int(5)],
            ),
        ];
        for (name, filter) in [
            ("admin orders, no filter", OrderFilter::default()),
            (
                "admin orders, paid",
                OrderFilter {
                    payment_status: Some("paid".into()),
                    ..OrderFilter::default()
                },
            ),
            (
                "admin orders of one user",
                OrderFilter {
                    user_id: Some(UserId(uid)),
                    ..OrderFilter::default()
                },
            ),
        ] {
            let (q, mut args) = list_sql(&filter, Some(500_000));
            args.push(ListArg::Int(50));
            plans.push((name, q, args));
        }
        println!("\n{label}: query plans at scale");
        for (name, q, args) in plans {
            println!("  {name}:");
            for line in raw.plan(&q, &args).await {
                println!("    {line}");
            }
        }
    }
}
