//! `make bench`: one table of what Atlas Credits sustains, each figure beside the raw ceiling of
//! the same database measured in the same run (ratios are what stays comparable on a shared
//! machine). Not a test: it prints figures, and fails only when an answer is wrong.
//!
//!   cargo bench --features ssr --bench table
//!
//! Per database (SQLite `full` and `normal`; PostgreSQL when TEST_POSTGRES_URL is set):
//! - raw grant: `support/raw_grant.rs` at several concurrencies, the best one kept;
//! - spend over HTTP: the whole app (the binary's start-up path) on a fresh database with
//!   `USERS` users, `POST /api/v1/users/{id}/spend` with a new idempotency key each, by 8 and 64
//!   keep-alive clients, then open loop at half the better of the two rates;
//! - webhook over HTTP: signed `payment.succeeded` deliveries of distinct payments, each for its
//!   own order (verify, store, apply, credit: answered after the credit is committed), by 8 and
//!   64 clients, then open loop at half the better rate. Every order is checked credited.
//!
//! - spend over HTTP again with `LEDGER_BATCH_MAX=1` (one transaction per post, as before group
//!   commit), for the before/after in the same run.
//!
//! BENCH_SEED_USERS=n loads every database of the run (the raw ceiling's too) with the scale data
//! set before it is measured: n users with 10 paid orders and 50 ledger rows each
//! (`support/seed.rs`; 100000 makes 1,000,000 orders and 5,000,000 ledger rows). The load itself
//! still runs on its own `USERS` users, whose rows then sit among the seeded ones.
//!
//! BENCH_SCALE (default 1) multiplies the number of operations of every run; BENCH_DB (`sqlite
//! full`, `sqlite normal` or `postgres`) and BENCH_PATHS (a comma list of `spend`, `before`,
//! `webhook`) pick a part, e.g. to profile it (the raw ceiling always runs).

#[cfg(feature = "ssr")]
#[path = "../tests/it/common/mod.rs"]
mod common;
#[cfg(feature = "ssr")]
#[path = "support/latency.rs"]
#[allow(dead_code)] // its row printer is for the other benchmarks
mod latency;
#[cfg(feature = "ssr")]
#[path = "support/load.rs"]
mod load;
#[cfg(feature = "ssr")]
#[path = "support/raw_grant.rs"]
mod raw_grant;
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
    use std::str::FromStr;
    use std::sync::Arc;
    use std::time::Duration;

    use atlas_credits::model::{Credits, EntryKind, UserId};
    use atlas_credits::server::service::api_keys;
    use atlas_credits::server::service::ledger::{self, Actor, LedgerEntry};
    use atlas_credits::server::store::{self, ConnectOptions, NewUser, SqliteSynchronous, Store};
    use atlas_credits::server::whop::verify::sign;
    use secrecy::SecretString;
    use serde_json::json;

    use super::common::whop_events;
    use super::common::{postgres_url, Db, TestApp, TestDb, WEBHOOK_SECRET};
    use super::load::{self, Call, Reply};
    use super::raw_grant::{self, RawPool};

    /// Users the load spreads over.
    const USERS: usize = 1000;

    /// `BENCH_SEED_USERS`: the scale data set each database is loaded with first (0: none).
    fn seed_users() -> i64 {
        std::env::var("BENCH_SEED_USERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n: &i64| *n >= 0)
            .unwrap_or(0)
    }

    /// Loads the database at `url` with the scale data set, when one is asked for.
    async fn seed_if_asked(url: &str) {
        let n = seed_users();
        if n > 0 {
            let t = std::time::Instant::now();
            let raw = super::seed::Raw::connect(url).await;
            super::seed::seed(&raw, 1, n).await;
            if let super::seed::Raw::Pg(p) = &raw {
                // What autovacuum would do soon after a load like this.
                sqlx::query("analyze").execute(p).await.unwrap();
            }
            eprintln!("  seeded {n} users in {:.0} s", t.elapsed().as_secs_f64());
        }
    }

    struct Row {
        db: String,
        path: String,
        load: String,
        rate: f64,
        p50: f64,
        p99: f64,
        /// None where a ratio means nothing (open loop: the rate is the one asked for).
        ratio: Option<f64>,
    }

    fn pct(lat: &[Duration], p: f64) -> f64 {
        lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0
    }

    fn row(db: &str, path: &str, load: String, (rate, lat): &(f64, Vec<Duration>), ceiling: f64) -> Row {
        let r = Row {
            ratio: (!load.ends_with("max)")).then(|| rate / ceiling),
            db: db.into(),
            path: path.into(),
            load,
            rate: *rate,
            p50: pct(lat, 0.5),
            p99: pct(lat, 0.99),
        };
        // Progress on stderr, so a long run shows life; the table is printed at the end.
        eprintln!(
            "  {} / {} / {}: {:.0}/s p99 {:.2} ms",
            r.db, r.path, r.load, r.rate, r.p99
        );
        r
    }

    pub fn main() {
        let scale: f64 = std::env::var("BENCH_SCALE")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|s: &f64| *s > 0.0)
            .unwrap_or(1.0);
        let n = |base: usize| ((base as f64 * scale) as usize).max(100);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut rows = Vec::new();
        let mut notes = Vec::new();
        rt.block_on(async {
            let only = std::env::var("BENCH_DB").ok();
            let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);
            for sync in ["full", "normal"] {
                if wanted(&format!("sqlite {sync}")) {
                    rows.extend(backend(Db::Sqlite, sync, &n).await);
                }
            }
            if !wanted("postgres") {
            } else if postgres_url().is_some() {
                rows.extend(backend(Db::Postgres, "", &n).await);
            } else {
                notes.push("PostgreSQL SKIPPED: TEST_POSTGRES_URL is not set".to_string());
            }
        });
        println!();
        let seeded = match seed_users() {
            0 => String::new(),
            n => format!(
                " among {n} seeded ({} orders, {} ledger rows)",
                n * super::seed::ORDERS_PER_USER,
                n * (super::seed::ORDERS_PER_USER + super::seed::SPENDS_PER_USER)
            ),
        };
        println!(
            "make bench: {} cores, {} users{seeded}, BENCH_SCALE={scale}; latency per request as the client sees it",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            USERS
        );
        println!(
            "{:<14} {:<30} {:<16} {:>9} {:>8} {:>8} {:>7}",
            "database", "path", "load", "ops/s", "p50 ms", "p99 ms", "x raw"
        );
        for r in &rows {
            let ratio = r.ratio.map_or("-".to_string(), |x| format!("{x:.2}"));
            println!(
                "{:<14} {:<30} {:<16} {:>9.0} {:>8.2} {:>8.2} {:>7}",
                r.db, r.path, r.load, r.rate, r.p50, r.p99, ratio
            );
        }
        for note in notes {
            println!("{note}");
        }
    }

    async fn backend(db: Db, sync: &str, n: &dyn Fn(usize) -> usize) -> Vec<Row> {
        let name = match db {
            Db::Sqlite => format!("sqlite {sync}"),
            Db::Postgres => "postgres".to_string(),
        };
        let paths = std::env::var("BENCH_PATHS").unwrap_or_else(|_| "spend,before,webhook".into());
        let wanted = |p: &str| paths.split(',').any(|w| w.trim() == p);
        let mut rows = Vec::new();

        // The raw ceiling, on a database of its own.
        let (raw_pool, raw_users, _keep) = raw_database(db, sync).await;
        let mut best: Option<(usize, (f64, Vec<Duration>))> = None;
        let writers: &[usize] = match db {
            Db::Sqlite => &[1, 2, 4, 8],
            Db::Postgres => &[1, 4, 8, 16, 32, 64],
        };
        for &w in writers {
            let pool = raw_pool(w).await;
            let r = raw_grant::run(&pool, &raw_users, w, n(5000), &name).await;
            eprintln!("  {name} / raw grant / {w} writers: {:.0}/s", r.0);
            if best.as_ref().is_none_or(|(_, b)| r.0 > b.0) {
                best = Some((w, r));
            }
        }
        let (w, raw) = best.unwrap();
        let ceiling = raw.0;
        rows.push(row(
            &name,
            "raw grant (sqlx, 1 tx each)",
            format!("{w} writers"),
            &raw,
            ceiling,
        ));

        if wanted("spend") {
            rows.extend(spend(db, sync, &name, ceiling, n, &[], true).await);
        }
        if wanted("before") {
            // One transaction per post: the figures before group commit, in the same run.
            let before = spend(db, sync, &name, ceiling, n, &[("LEDGER_BATCH_MAX", "1")], false).await;
            rows.extend(before.into_iter().map(|mut r| {
                r.path = "spend, 1 tx per post (before)".into();
                r
            }));
        }
        if wanted("webhook") {
            rows.extend(webhooks(db, sync, &name, ceiling, n).await);
        }
        rows
    }

    /// The app on a fresh database (configured with `vars` on top of the test defaults), its
    /// store, `USERS` users with plenty of credits, and a keep-alive client.
    async fn app(db: Db, sync: &str, vars: &[(&str, &str)]) -> (TestApp, Arc<dyn Store>, Vec<UserId>, reqwest::Client) {
        // Every client is on this machine, one address standing in for many: no per-address cap
        // (the open loop may hold hundreds of connections at once).
        let one_address = ("HTTP_MAX_CONNECTIONS_PER_ADDRESS", "0");
        let app = match db {
            Db::Sqlite => {
                TestApp::spawn_with_env(db, &[&[("SQLITE_SYNCHRONOUS", sync), one_address], vars].concat()).await
            }
            Db::Postgres => TestApp::spawn_with_env(db, &[&[one_address], vars].concat()).await,
        }
        .expect("the app");
        seed_if_asked(&app.db.url).await;
        let store = app.db.store.clone();
        let users = users(store.clone(), "h").await;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(usize::MAX)
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        (app, store, users, client)
    }

    /// Spend over HTTP by 8 and 64 clients, then (with `open_loop`) at half the better rate, on
    /// a fresh app configured with `vars`.
    async fn spend(
        db: Db,
        sync: &str,
        name: &str,
        ceiling: f64,
        n: &dyn Fn(usize) -> usize,
        vars: &[(&str, &str)],
        open_loop: bool,
    ) -> Vec<Row> {
        let mut rows = Vec::new();
        let (app, store, users, client) = app(db, sync, vars).await;
        let (key, _) = api_keys::create(store.as_ref(), "bench", "bench").await.unwrap();
        let spend: Call = {
            let (client, base, key) = (client.clone(), app.base.clone(), key.clone());
            Arc::new(move |i| {
                let rb = client
                    .post(format!("{base}/api/v1/users/h{}/spend", i % USERS))
                    .bearer_auth(&key)
                    .json(&json!({ "amount": 1, "idempotency_key": format!("k{i}") }));
                Box::pin(async move {
                    let r = rb.send().await.expect("spend sent");
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    assert_eq!(status, 200, "spend: {body}");
                }) as Reply
            })
        };
        let mut first = 0;
        let mut best_rate: f64 = 0.0;
        for clients in [8, 64] {
            let total = n(8000);
            let r = load::closed(spend.clone(), clients, first, total).await;
            first += total;
            best_rate = best_rate.max(r.0);
            rows.push(row(name, "spend over HTTP", format!("{clients} clients"), &r, ceiling));
        }
        if open_loop {
            let rate = best_rate / 2.0;
            let total = ((rate * 3.0 * n(1000) as f64 / 1000.0) as usize).max(100);
            let r = load::open(spend.clone(), rate, first, total).await;
            first += total;
            rows.push(row(
                name,
                "spend over HTTP, open loop",
                format!("{rate:.0}/s (1/2 max)"),
                &r,
                ceiling,
            ));
        }
        let spent = users_balance_check(store.as_ref(), &users).await;
        assert_eq!(spent as usize, first, "every spend applied once");

        rows
    }

    /// Signed deliveries of distinct payments over HTTP by 8 and 64 clients, then open loop.
    async fn webhooks(db: Db, sync: &str, name: &str, ceiling: f64, n: &dyn Fn(usize) -> usize) -> Vec<Row> {
        let mut rows = Vec::new();
        let (app, store, users, client) = app(db, sync, &[]).await;
        let mut best_rate: f64 = 0.0;
        for clients in [8usize, 64, 0] {
            let (total, rate) = if clients == 0 {
                let rate = best_rate / 2.0;
                (((rate * 3.0 * n(1000) as f64 / 1000.0) as usize).max(100), rate)
            } else {
                (n(3000), 0.0)
            };
            let deliveries = deliveries(store.clone(), &users, &format!("{clients}"), total).await;
            let send: Call = {
                let (client, url) = (client.clone(), format!("{}/api/webhooks/whop", app.base));
                let deliveries = Arc::new(deliveries.iter().map(|d| d.1.clone()).collect::<Vec<_>>());
                Arc::new(move |i| {
                    let (id, ts, sig, body) = deliveries[i].clone();
                    let rb = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("webhook-id", id)
                        .header("webhook-timestamp", ts)
                        .header("webhook-signature", sig)
                        .body(body);
                    Box::pin(async move {
                        let r = rb.send().await.expect("delivery sent");
                        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
                    }) as Reply
                })
            };
            let r = if clients == 0 {
                let r = load::open(send, rate, 0, total).await;
                rows.push(row(
                    name,
                    "webhook over HTTP, open loop",
                    format!("{rate:.0}/s (1/2 max)"),
                    &r,
                    ceiling,
                ));
                r
            } else {
                let r = load::closed(send, clients, 0, total).await;
                rows.push(row(
                    name,
                    "webhook over HTTP",
                    format!("{clients} clients"),
                    &r,
                    ceiling,
                ));
                r
            };
            best_rate = best_rate.max(r.0);
            for (order, _) in &deliveries {
                let o = store.order_by_id(*order).await.unwrap().unwrap();
                assert!(o.credited_at.is_some(), "order {} credited by its delivery", o.id);
            }
        }
        rows
    }

    /// A fresh migrated database with `raw_grant` users, and a way to open a raw pool of `w`
    /// connections on it (opened like the app opens it). The last value keeps it alive.
    async fn raw_database(
        db: Db,
        sync: &str,
    ) -> (
        Box<dyn Fn(usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = RawPool>>>>,
        Vec<i64>,
        Box<dyn std::any::Any>,
    ) {
        match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("raw.db").display());
                let synchronous = SqliteSynchronous::from_str(sync).unwrap();
                let s = store::connect(&ConnectOptions {
                    url: url.clone(),
                    max_connections: 4,
                    sqlite_synchronous: synchronous,
                    ledger_batch_max: store::DEFAULT_LEDGER_BATCH,
                })
                .await
                .unwrap();
                s.migrate().await.unwrap();
                seed_if_asked(&url).await;
                let ids = plain_users(s.as_ref()).await;
                s.close().await;
                let open = move |w: usize| {
                    let url = url.clone();
                    Box::pin(async move {
                        use sqlx::sqlite::{
                            SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous as S,
                        };
                        let o = SqliteConnectOptions::from_str(&url)
                            .unwrap()
                            .journal_mode(SqliteJournalMode::Wal)
                            .synchronous(if synchronous == SqliteSynchronous::Full {
                                S::Full
                            } else {
                                S::Normal
                            })
                            .busy_timeout(Duration::from_secs(10))
                            .foreign_keys(true);
                        RawPool::Sqlite(
                            SqlitePoolOptions::new()
                                .max_connections(w as u32)
                                .connect_with(o)
                                .await
                                .unwrap(),
                        )
                    }) as std::pin::Pin<Box<dyn std::future::Future<Output = RawPool>>>
                };
                (Box::new(open), ids, Box::new(dir))
            }
            Db::Postgres => {
                let t = TestDb::new(Db::Postgres).await.unwrap();
                seed_if_asked(&t.url).await;
                let ids = plain_users(t.store.as_ref()).await;
                let url = t.url.clone();
                let open = move |w: usize| {
                    let url = url.clone();
                    Box::pin(async move {
                        RawPool::Postgres(
                            sqlx::postgres::PgPoolOptions::new()
                                .max_connections(w as u32)
                                .connect(&url)
                                .await
                                .unwrap(),
                        )
                    }) as std::pin::Pin<Box<dyn std::future::Future<Output = RawPool>>>
                };
                (Box::new(open), ids, Box::new(t))
            }
        }
    }

    async fn plain_users(store: &dyn Store) -> Vec<i64> {
        let mut ids = Vec::new();
        for i in 0..USERS {
            let u = store
                .create_user(&NewUser {
                    email: format!("raw{i}@bench.example.com"),
                    password_hash: None,
                    role: "user".into(),
                    external_id: None,
                    name: None,
                })
                .await
                .unwrap();
            ids.push(u.id);
        }
        ids
    }

    /// `USERS` host-app users `{prefix}0..`, each granted plenty of credits.
    async fn users(store: Arc<dyn Store>, prefix: &str) -> Vec<UserId> {
        let mut tasks = Vec::new();
        for t in 0..8 {
            let (store, prefix) = (store.clone(), prefix.to_string());
            tasks.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in (t..USERS).step_by(8) {
                    let u = store
                        .create_user(&NewUser {
                            email: format!("{prefix}{i}@bench.example.com"),
                            password_hash: None,
                            role: "user".into(),
                            external_id: Some(format!("{prefix}{i}")),
                            name: None,
                        })
                        .await
                        .unwrap();
                    let grant = LedgerEntry::new(
                        u.user_id(),
                        EntryKind::ManualGrant,
                        Credits(GRANT),
                        "bench",
                        &format!("grant-{i}"),
                        Actor::System,
                    )
                    .unwrap();
                    ledger::post(store.as_ref(), &grant).await.unwrap();
                    ids.push((i, u.user_id()));
                }
                ids
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort();
        all.into_iter().map(|(_, u)| u).collect()
    }

    const GRANT: i64 = 1_000_000_000;

    /// Credits spent in all, checking each balance equals its ledger sum.
    async fn users_balance_check(store: &dyn Store, users: &[UserId]) -> i64 {
        let mut spent = 0;
        for u in users {
            let balance = store.user_by_id(*u).await.unwrap().unwrap().balance();
            assert_eq!(store.ledger_sum(*u).await.unwrap(), balance, "balance == ledger sum");
            spent += GRANT - balance.get();
        }
        spent
    }

    type Delivery = (String, String, String, String);

    /// `total` signed `payment.succeeded` deliveries, each for a new order of its own.
    async fn deliveries(
        store: Arc<dyn Store>,
        users: &[UserId],
        tag: &str,
        total: usize,
    ) -> Vec<(atlas_credits::model::OrderId, Delivery)> {
        let secret = SecretString::from(WEBHOOK_SECRET.to_string());
        let mut out = Vec::with_capacity(total);
        for i in 0..total {
            let key = format!("b{tag}x{i}");
            let o = whop_events::order(store.as_ref(), users[i % users.len()], &key, 100, 500).await;
            let webhook_id = format!("msg_{key}");
            let body = whop_events::body(
                &webhook_id,
                "payment.succeeded",
                &whop_events::payment(&format!("pay_{key}"), &o),
            );
            let ts = chrono::Utc::now().timestamp();
            let sig = sign(&secret, &webhook_id, ts, body.as_bytes());
            out.push((o.order_id(), (webhook_id, ts.to_string(), sig, body)));
        }
        out
    }
}
