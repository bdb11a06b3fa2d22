//! Host API throughput and latency over real HTTP (not a test: it prints figures).
//!
//!   cargo bench --features ssr --bench host_api
//!
//! The whole app is served on 127.0.0.1 (built by the same start-up path as `serve`) on SQLite with
//! synchronous=full and =normal, and on PostgreSQL when TEST_POSTGRES_URL is set. Each backend gets
//! a fresh database with 100 users (plenty of credits) and one API key; then `POST /spend` (a unique
//! idempotency key per request) and `GET /balance` are sent by 1, 8 and 64 concurrent clients over
//! keep-alive connections. BENCH_REQUESTS sets requests per run (default 2000). Latency is per
//! request, as the client sees it.

#[cfg(feature = "ssr")]
#[path = "../tests/it/common/mod.rs"]
mod common;
#[cfg(feature = "ssr")]
#[path = "support/latency.rs"]
mod latency;

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
    use std::time::{Duration, Instant};

    use atlas_credits::model::{Credits, EntryKind};
    use atlas_credits::server::service::api_keys;
    use atlas_credits::server::service::ledger::{self, Actor, LedgerEntry};
    use atlas_credits::server::store::Store;
    use serde_json::json;

    use super::common::{postgres_url, Db, TestApp};

    const USERS: usize = 100;
    const CLIENTS: [usize; 3] = [1, 8, 64];

    pub fn main() {
        let requests: usize = std::env::var("BENCH_REQUESTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        println!(
            "host API over HTTP, {requests} requests per run, {USERS} users, {} cores",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        );
        println!(
            "{:<46} {:>10} {:>10} {:>10} {:>10}",
            "backend / route / clients", "req/s", "p50 ms", "p99 ms", "max ms"
        );
        rt.block_on(async {
            // The app as the tests build it: the binary's own start-up path and configuration parser.
            for sync in ["full", "normal"] {
                let app = TestApp::spawn_with_env(Db::Sqlite, &[("SQLITE_SYNCHRONOUS", sync)])
                    .await
                    .unwrap();
                run(
                    &format!("sqlite sync={sync}"),
                    &app.base,
                    app.db.store.clone(),
                    requests,
                )
                .await;
            }
            if postgres_url().is_some() {
                let app = TestApp::spawn(Db::Postgres).await.unwrap();
                run("postgres", &app.base, app.db.store.clone(), requests).await;
            }
        });
    }

    async fn run(label: &str, base: &str, store: Arc<dyn Store>, requests: usize) {
        let (key, _) = api_keys::create(store.as_ref(), "bench", "bench").await.unwrap();
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(usize::MAX)
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        for i in 0..USERS {
            let r = client
                .put(format!("{base}/api/v1/users/u{i}"))
                .bearer_auth(&key)
                .json(&json!({ "email": format!("u{i}@bench.example.com") }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "create user u{i}");
            let user = store.user_by_external_id(&format!("u{i}")).await.unwrap().unwrap();
            let grant = LedgerEntry::new(
                user.user_id(),
                EntryKind::ManualGrant,
                Credits(1_000_000_000),
                "bench",
                &format!("grant-{i}"),
                Actor::System,
            )
            .unwrap();
            ledger::post(store.as_ref(), &grant).await.unwrap();
        }
        for route in [Route::Spend, Route::Balance] {
            for clients in CLIENTS {
                let (rate, lat) = timed(&client, base, &key, route, clients, requests).await;
                super::latency::print_row(&format!("{label} / {} / {clients}", route.name()), 46, rate, &lat);
            }
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Route {
        Spend,
        Balance,
    }

    impl Route {
        fn name(self) -> &'static str {
            match self {
                Route::Spend => "POST spend",
                Route::Balance => "GET balance",
            }
        }
    }

    async fn timed(
        client: &reqwest::Client,
        base: &str,
        key: &str,
        route: Route,
        clients: usize,
        requests: usize,
    ) -> (f64, Vec<Duration>) {
        let per = requests.div_ceil(clients);
        let start = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let (client, base, key) = (client.clone(), base.to_string(), key.to_string());
                tokio::spawn(async move {
                    let mut lat = Vec::with_capacity(per);
                    for i in 0..per {
                        let user = (c * per + i) % USERS;
                        let rb = match route {
                            Route::Spend => client
                                .post(format!("{base}/api/v1/users/u{user}/spend"))
                                .json(&json!({ "amount": 1, "idempotency_key": format!("c{clients}-{c}-{i}") })),
                            Route::Balance => client.get(format!("{base}/api/v1/users/u{user}/balance")),
                        };
                        let t = Instant::now();
                        let r = rb.bearer_auth(&key).send().await.unwrap();
                        let status = r.status();
                        r.bytes().await.unwrap();
                        lat.push(t.elapsed());
                        assert_eq!(status, 200, "{route:?}");
                    }
                    lat
                })
            })
            .collect();
        super::latency::gather(start, tasks).await
    }
}
