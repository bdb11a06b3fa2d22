//! Raw ledger-post rate of each backend on this machine (not a test: it prints figures).
//!
//!   cargo bench --features ssr --bench ledger_post
//!
//! PostgreSQL is measured when TEST_POSTGRES_URL is set. BENCH_POSTS sets posts per run.
//! Each run uses a fresh database; "sequential" is one writer, "concurrent" 8 writers on 8 users.

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

    use atlas_credits::model::{Credits, EntryKind, UserId};
    use atlas_credits::server::service::ledger::{self, Actor, LedgerEntry};
    use atlas_credits::server::store::{self, ConnectOptions, SqliteSynchronous, Store};

    use super::common::{postgres_url, user, Db, TestDb};

    const WRITERS: usize = 8;

    pub fn main() {
        let posts: usize = std::env::var("BENCH_POSTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(4000);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        println!(
            "ledger post rate, {posts} posts per run, {} cores",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        );
        println!(
            "{:<40} {:>12} {:>10} {:>10} {:>10}",
            "backend / mode", "posts/s", "p50 ms", "p99 ms", "max ms"
        );
        rt.block_on(async {
            for sync in [SqliteSynchronous::Full, SqliteSynchronous::Normal] {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                let s = store::connect(&ConnectOptions {
                    url,
                    max_connections: 10,
                    sqlite_synchronous: sync,
                })
                .await
                .unwrap();
                s.migrate().await.unwrap();
                let label = format!(
                    "sqlite synchronous={}",
                    if sync == SqliteSynchronous::Full {
                        "full"
                    } else {
                        "normal"
                    }
                );
                run(&label, s, posts).await;
            }
            if postgres_url().is_some() {
                let t = TestDb::with_pool_size(Db::Postgres, 10).await.unwrap();
                run("postgres", t.store.clone(), posts).await;
            }
        });
    }

    async fn run(label: &str, store: Arc<dyn Store>, posts: usize) {
        let u = user(store.as_ref(), &format!("seq-{label}@bench")).await.user_id();
        let (rate, lat) = timed(store.clone(), vec![u], posts, 1).await;
        super::latency::print_row(&format!("{label} / sequential"), 40, rate, &lat);

        let mut users = Vec::new();
        for i in 0..WRITERS {
            users.push(user(store.as_ref(), &format!("con-{i}-{label}@bench")).await.user_id());
        }
        let (rate, lat) = timed(store.clone(), users, posts, WRITERS).await;
        super::latency::print_row(&format!("{label} / {WRITERS} writers"), 40, rate, &lat);
    }

    async fn timed(store: Arc<dyn Store>, users: Vec<UserId>, posts: usize, writers: usize) -> (f64, Vec<Duration>) {
        let start = Instant::now();
        let per = posts / writers;
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let store = store.clone();
                let u = users[w % users.len()];
                tokio::spawn(async move {
                    let mut lat = Vec::with_capacity(per);
                    for i in 0..per {
                        let e = LedgerEntry::new(
                            u,
                            EntryKind::ManualGrant,
                            Credits(1),
                            "bench",
                            &format!("{}-{w}-{i}", u.0),
                            Actor::System,
                        )
                        .unwrap();
                        let t = Instant::now();
                        ledger::post(store.as_ref(), &e).await.unwrap();
                        lat.push(t.elapsed());
                    }
                    lat
                })
            })
            .collect();
        super::latency::gather(start, tasks).await
    }
}
