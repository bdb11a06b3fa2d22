//! Test support: an isolated database per test on either backend, and the whole app served on
//! port 0 over real HTTP.
#![allow(dead_code)]

pub mod auth;
pub mod fuzz;
pub mod logs;
pub mod sim_shop;
pub mod whop_events;

use std::net::SocketAddr;
use std::sync::Arc;

use std::collections::HashMap;
use std::time::Duration;

use atlas_credits::server::config::Config;
use atlas_credits::server::startup::Application;
use atlas_credits::server::state::AppState;
use atlas_credits::server::store::{self, ConnectOptions, SqliteSynchronous, Store};
use secrecy::SecretString;

/// Runs each named `async fn(Db)` as two tests, `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { super::$name(super::Db::Sqlite).await } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { super::$name(super::Db::Postgres).await } )* }
    };
}

pub const WEBHOOK_SECRET: &str = "ws_test_0123456789abcdef";

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A database that exists for one test only: a fresh SQLite file in a temp folder, or a fresh
/// PostgreSQL database created on `TEST_POSTGRES_URL` (dropped afterwards).
pub struct TestDb {
    pub store: Arc<dyn Store>,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_cleanup: Option<(String, String)>,
}

/// The PostgreSQL server for tests, or None (with a loud note) when it is not configured.
/// With REQUIRE_POSTGRES=1 a missing server fails the test instead.
pub fn postgres_url() -> Option<String> {
    match std::env::var("TEST_POSTGRES_URL").ok().filter(|v| !v.is_empty()) {
        Some(url) => Some(url),
        None => {
            if std::env::var("REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set");
            }
            eprintln!("!!! SKIPPED the PostgreSQL half: TEST_POSTGRES_URL is not set (CI sets it; see README) !!!");
            None
        }
    }
}

impl TestDb {
    pub async fn new(db: Db) -> Option<TestDb> {
        Self::with_pool_size(db, 10).await
    }

    pub async fn with_pool_size(db: Db, max_connections: u32) -> Option<TestDb> {
        match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                let store = connect(&url, max_connections).await;
                Some(TestDb {
                    store,
                    url,
                    _dir: Some(dir),
                    pg_cleanup: None,
                })
            }
            Db::Postgres => {
                let admin_url = postgres_url()?;
                let name = format!("atlas_test_{}", unique_suffix());
                let admin = sqlx::PgPool::connect(&admin_url)
                    .await
                    .expect("TEST_POSTGRES_URL must accept connections");
                sqlx::query(&format!("create database {name}"))
                    .execute(&admin)
                    .await
                    .expect("create test database");
                admin.close().await;
                let url = replace_db_name(&admin_url, &name);
                let store = connect(&url, max_connections).await;
                Some(TestDb {
                    store,
                    url,
                    _dir: None,
                    pg_cleanup: Some((admin_url, name)),
                })
            }
        }
    }
}

impl TestDb {
    /// Another pool on this test's database, which stays this test's to drop.
    pub async fn attach(&self) -> TestDb {
        TestDb {
            store: connect(&self.url, 10).await,
            url: self.url.clone(),
            _dir: None,
            pg_cleanup: None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg_cleanup.take() {
            // Best effort, on a thread of its own: Drop cannot await inside the test's runtime.
            let store = self.store.clone();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    store.close().await;
                    if let Ok(admin) = sqlx::PgPool::connect(&admin_url).await {
                        let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                            .execute(&admin)
                            .await;
                        admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

async fn connect(url: &str, max_connections: u32) -> Arc<dyn Store> {
    let store = store::connect(&ConnectOptions {
        url: url.to_string(),
        max_connections,
        sqlite_synchronous: SqliteSynchronous::Normal,
        ledger_batch_max: store::DEFAULT_LEDGER_BATCH,
    })
    .await
    .expect("connect test store");
    store.migrate().await.expect("migrate test store");
    store
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{}_{}_{}", std::process::id(), nanos, n)
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let host_part = match path_start {
        Some(i) => &base[..i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

/// Creates a user with the given email and no password (a host-app style user).
pub async fn user(store: &dyn Store, email: &str) -> atlas_credits::server::store::UserRow {
    store
        .create_user(&atlas_credits::server::store::NewUser {
            email: email.to_string(),
            password_hash: None,
            role: "user".into(),
            external_id: None,
            name: None,
        })
        .await
        .expect("create user")
}

/// Builds the app's store from the test's (see `TestApp::spawn_simulated_with_store`).
type StoreWrap = Box<dyn FnOnce(Arc<dyn Store>) -> Arc<dyn Store> + Send>;

/// The whole app served over real HTTP on 127.0.0.1:<random port>, built by the same start-up
/// path as the binary (`startup::Application::build`) from a configuration read the same way,
/// background jobs included.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub state: AppState,
    pub jobs: Vec<&'static str>,
}

impl TestApp {
    pub async fn spawn(db: Db) -> Option<TestApp> {
        Self::spawn_with_secrets(db, vec![SecretString::from(WEBHOOK_SECRET.to_string())]).await
    }

    /// Not in test mode, accepting webhooks signed with `secrets` only (none: refused with 503).
    pub async fn spawn_with_secrets(db: Db, secrets: Vec<SecretString>) -> Option<TestApp> {
        Self::spawn_with(db, &[], Some(secrets)).await
    }

    /// With the Whop simulator (test mode), whose webhook retries come after 0.2 s and 0.4 s.
    pub async fn spawn_simulated(db: Db) -> Option<TestApp> {
        Self::spawn_with(
            db,
            &[("WHOP_MODE", "simulated"), ("WHOP_SIM_RETRY_SECS", "0.2,0.4")],
            None,
        )
        .await
    }

    /// `spawn_simulated`, with the app built on `wrap(store)` (through
    /// `Application::build_with_store`) instead of a store of its own: the simulation test wraps
    /// the real store in one that fails on purpose. The test's `db.store` is the wrapped store.
    pub async fn spawn_simulated_with_store(
        db: Db,
        wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store> + Send + 'static,
    ) -> Option<TestApp> {
        let wrap: StoreWrap = Box::new(wrap);
        Self::spawn_full(
            db,
            &[("WHOP_MODE", "simulated"), ("WHOP_SIM_RETRY_SECS", "0.2,0.4")],
            None,
            Some(wrap),
        )
        .await
    }

    /// With extra configuration variables on top of the live-mode defaults below (e.g.
    /// `TRUST_PROXY`, `PUBLIC_URL`), read by `Config::from_lookup` as the binary reads them.
    pub async fn spawn_with_env(db: Db, vars: &[(&str, &str)]) -> Option<TestApp> {
        Self::spawn_with(db, vars, None).await
    }

    async fn spawn_with(db: Db, vars: &[(&str, &str)], secrets: Option<Vec<SecretString>>) -> Option<TestApp> {
        Self::spawn_full(db, vars, secrets, None).await
    }

    async fn spawn_full(
        db: Db,
        vars: &[(&str, &str)],
        secrets: Option<Vec<SecretString>>,
        wrap: Option<StoreWrap>,
    ) -> Option<TestApp> {
        let db = TestDb::new(db).await?;
        Some(Self::spawn_on(db, vars, secrets, wrap).await)
    }

    /// A second instance of the app, simulated as `spawn_simulated` is, on this app's database:
    /// two instances behind a load balancer. `vars` come on top (e.g. a reconcile interval).
    pub async fn spawn_simulated_beside(&self, vars: &[(&str, &str)]) -> TestApp {
        let db = self.db.attach().await;
        let mut all = vec![("WHOP_MODE", "simulated"), ("WHOP_SIM_RETRY_SECS", "0.2,0.4")];
        all.extend_from_slice(vars);
        Self::spawn_on(db, &all, None, None).await
    }

    async fn spawn_on(
        mut db: TestDb,
        vars: &[(&str, &str)],
        secrets: Option<Vec<SecretString>>,
        wrap: Option<StoreWrap>,
    ) -> TestApp {
        // Not simulated unless asked: a Whop that is never called by these tests.
        let mut env: HashMap<String, String> = [
            ("DATABASE_URL", db.url.as_str()),
            ("SQLITE_SYNCHRONOUS", "normal"),
            ("WHOP_MODE", "live"),
            ("WHOP_API_KEY", "unused"),
            ("WHOP_COMPANY_ID", "biz_test"),
            ("WHOP_BASE_URL", "http://127.0.0.1:9/api/v1"),
            ("WHOP_WEBHOOK_SECRET", WEBHOOK_SECRET),
            // Reconciliation runs only when a test drives it (`Reconcile::run_at`) or asks for it.
            ("RECONCILE_INTERVAL_SECS", "0"),
            // The tests' webhook receivers listen on loopback (`outbound_guard.rs` tests the default).
            ("HOST_WEBHOOKS_ALLOW_PRIVATE", "true"),
        ]
        .into_iter()
        .chain(vars.iter().copied())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.entry("LEPTOS_CONFIG_FILE".into())
            .or_insert_with(|| concat!(env!("CARGO_MANIFEST_DIR"), "/Leptos.toml").into());
        let mut config = Config::from_lookup(|k| env.get(k).cloned()).expect("test configuration");
        if let Some(secrets) = secrets {
            config.whop_webhook_secrets = secrets;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        // A wrapped store runs on the test's own pool, which must then stay open.
        let wrapped = wrap.is_some();
        let app = match wrap {
            Some(wrap) => Application::build_with_store(&config, listener, wrap(db.store.clone())).await,
            None => Application::build(&config, listener).await,
        }
        .expect("build the app");
        let addr = app.local_addr();
        let base = format!("http://{addr}");
        let state = app.state().clone();
        let jobs = app.job_names();
        // One pool for the test and the app, as in production (on SQLite one writer queue).
        let own = std::mem::replace(&mut db.store, state.store.clone());
        if !wrapped {
            own.close().await;
        }
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        // A timeout, so a server that stops answering fails the test instead of hanging it.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        TestApp {
            addr,
            base,
            client,
            db,
            state,
            jobs,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A host-app API key, and the host user `external_id` (`{external_id}@example.com`) made
    /// through `PUT /api/v1/users/{id}` with it and granted `credits`.
    pub async fn host_user_with_credits(
        &self,
        external_id: &str,
        credits: i64,
    ) -> (String, atlas_credits::model::UserId) {
        use atlas_credits::model::{Credits, EntryKind, UserId};
        use atlas_credits::server::service::ledger::{self, Actor, LedgerEntry};
        let store = self.db.store.as_ref();
        let (key, _) = atlas_credits::server::service::api_keys::create(store, "host app", "test")
            .await
            .unwrap();
        let r = self
            .client
            .put(self.url(&format!("/api/v1/users/{external_id}")))
            .bearer_auth(&key)
            .json(&serde_json::json!({ "email": format!("{external_id}@example.com") }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let u = UserId(store.user_by_external_id(external_id).await.unwrap().unwrap().id);
        let grant = LedgerEntry::new(u, EntryKind::ManualGrant, Credits(credits), "test", "g", Actor::System).unwrap();
        ledger::post(store, &grant).await.unwrap();
        (key, u)
    }
}

/// The user's balance, checked equal to the sum of their ledger rows. A webhook or job may commit
/// between the two reads, so the check counts only when the balance read before and after the
/// sum agree (a commit in between changes it).
pub async fn checked_balance(store: &dyn Store, u: atlas_credits::model::UserId) -> atlas_credits::model::Credits {
    for _ in 0..50 {
        let before = store.user_by_id(u).await.unwrap().unwrap().balance();
        let sum = store.ledger_sum(u).await.unwrap();
        let after = store.user_by_id(u).await.unwrap().unwrap().balance();
        if before == after {
            assert_eq!(sum, before, "balance == sum of the ledger");
            return before;
        }
    }
    panic!("the balance of {u:?} never held still for three reads");
}
