//! `make seed-scale`: loads a database with the scale data set, to run the app or a benchmark on
//! it: `SCALE_USERS` users (default 100,000), each with 10 paid Whop orders and 50 ledger rows (10
//! purchases, 40 spends), so 100,000 users make 1,000,000 orders and 5,000,000 ledger rows.
//!
//!   DATABASE_URL=sqlite://data/scale.db SCALE_USERS=100000 \
//!     cargo bench --features ssr --bench seed_scale
//!
//! The database is migrated first (made if it is a new SQLite file). Run again, it tops the seed
//! up to `SCALE_USERS` and adds nothing when it is there already. The seeded users are
//! `scale-ext-<n>` (host-app ids) and `scale<n>@example.com`; they have no password.

#[cfg(feature = "ssr")]
#[path = "support/seed.rs"]
mod seed;

#[cfg(feature = "ssr")]
fn main() {
    use atlas_credits::server::store::{self, ConnectOptions, SqliteSynchronous};
    use std::time::Instant;

    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://data/scale.db".into());
    let users: i64 = match std::env::var("SCALE_USERS") {
        Ok(v) => match v.parse() {
            Ok(n) if (1..=10_000_000).contains(&n) => n,
            _ => {
                eprintln!("SCALE_USERS must be a whole number from 1 to 10000000, not {v:?}");
                std::process::exit(2);
            }
        },
        Err(_) => 100_000,
    };
    if let Some(path) = url.strip_prefix("sqlite://") {
        if let Some(dir) = std::path::Path::new(path.split('?').next().unwrap_or(path)).parent() {
            std::fs::create_dir_all(dir).expect("the database's folder");
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = store::connect(&ConnectOptions {
            url: url.clone(),
            max_connections: 2,
            sqlite_synchronous: SqliteSynchronous::Normal,
            ledger_batch_max: store::DEFAULT_LEDGER_BATCH,
        })
        .await
        .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
        s.migrate().await.expect("migrations");
        let raw = seed::Raw::connect(&url).await;
        let have = raw
            .scalar("select count(*) from users where external_id like 'scale-ext-%'")
            .await;
        if have >= users {
            println!("seed-scale: {have} scale users there already; nothing added");
            return;
        }
        let t = Instant::now();
        println!("seed-scale: adding users {} to {users} ...", have + 1);
        seed::seed(&raw, have + 1, users).await;
        let orders = raw.scalar("select count(*) from credit_orders").await;
        let rows = raw.scalar("select count(*) from credit_transactions").await;
        let all = raw.scalar("select count(*) from users").await;
        println!(
            "seed-scale: {all} users, {orders} orders, {rows} ledger rows in the database ({:.0} s)",
            t.elapsed().as_secs_f64()
        );
    });
}

#[cfg(not(feature = "ssr"))]
fn main() {
    eprintln!("run with --features ssr");
}
