//! `kill -9` during a storm. The built binary serves purchases (at the built-in Whop simulator,
//! whose state and pending deliveries live in the same database), host-API spends and the
//! simulator's webhook deliveries, and is killed without warning again and again, then restarted
//! on the same database. Clients retry as real ones do (the same idempotency key, the same
//! checkout key). Once the simulator has redelivered and reconciliation has run: no payment lost,
//! none credited twice, no spend applied twice, every balance equal to its ledger sum.
//!
//! `STORM_KILLS=n` (default 6) for a longer run; BENCHMARKS.md records one.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use atlas_credits::model::EntryKind;
use atlas_credits::server::service::host_users::SPEND_SOURCE;
use atlas_credits::server::store::Store;
use serde_json::{json, Value};

use crate::common;
use common::{Db, TestDb};

both_backends!(kill_nine_during_a_storm_loses_nothing_and_doubles_nothing);

const BIN: &str = env!("CARGO_BIN_EXE_atlas-credits");
/// Buyers in the default run; a longer storm has two for each kill.
const BUYERS: usize = 10;
const SPENDERS: usize = 4;
const SPEND: i64 = 100;
const SECRET: &str = "ws_storm_0123456789abcdef";

/// One server process on a fixed port and database.
struct Server {
    port: u16,
    db_url: String,
    log: std::path::PathBuf,
    child: Option<Child>,
}

impl Server {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR")) // Leptos.toml
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &self.db_url)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{}", self.port))
            .env("RUST_LOG", "warn,atlas_credits=info")
            .env("WHOP_MODE", "simulated")
            .env("WHOP_SIM_API_KEY", "sim_storm_key")
            .env("WHOP_WEBHOOK_SECRET", SECRET)
            // The simulator retries quickly, so the run settles in seconds after the last kill.
            .env("WHOP_SIM_RETRY_SECS", "0.2,0.5,1,1,2,2,3")
            .env("RECONCILE_INTERVAL_SECS", "2");
        c
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = self
            .command(&["serve"])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start the server");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix: no shutdown code runs
            c.wait().unwrap();
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn ready(&self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = http.get(format!("{}/readyz", self.base())).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not become ready; log: {}", self.log_text());
    }

    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().rev().take(40).collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Sends until the server gives a definite answer (not a connection error, not a 5xx: the server
/// is down or restarting), as a client with a retry policy does.
async fn until_answered(mut send: impl FnMut() -> reqwest::RequestBuilder) -> (u16, String) {
    for _ in 0..2000 {
        match send().send().await {
            Ok(r) if r.status().is_server_error() => {}
            Ok(r) => {
                let status = r.status().as_u16();
                // An error here: killed while answering, so ask again.
                if let Ok(text) = r.text().await {
                    return (status, text);
                }
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    panic!("no answer after 2000 tries");
}

/// What a buyer ended with: their checkout, paid once at the simulator.
struct Purchase {
    external_id: String,
    checkout_id: String,
}

/// The simulator's payments for this checkout (it keeps them in the app's database).
async fn payments_of(store: &dyn Store, checkout_id: &str) -> usize {
    store
        .sim_list("payment", 0, 10_000)
        .await
        .unwrap()
        .iter()
        .filter(|r| serde_json::from_str::<Value>(&r.data).unwrap()["checkout_configuration_id"] == checkout_id)
        .count()
}

async fn buy(base: String, key: String, plan_id: i64, i: usize, store: Arc<dyn Store>) -> Purchase {
    // Spread over the storm, so kills land in every step of a purchase.
    tokio::time::sleep(Duration::from_millis(400 * i as u64)).await;
    let api = client();
    let external_id = format!("buyer-{i}");
    let auth = format!("Bearer {key}");
    let (s, body) = until_answered(|| {
        api.put(format!("{base}/api/v1/users/{external_id}"))
            .header("authorization", &auth)
            .json(&json!({ "email": format!("buyer{i}@example.com") }))
    })
    .await;
    assert!(s == 200 || s == 201, "{s} {body}");
    // A sign-in link works once: when the server dies after using it, ask for a new one.
    let browser = loop {
        let (s, body) = until_answered(|| {
            api.post(format!("{base}/api/v1/users/{external_id}/sessions"))
                .header("authorization", &auth)
        })
        .await;
        assert_eq!(s, 201, "{body}");
        let url = serde_json::from_str::<Value>(&body).unwrap()["url"]
            .as_str()
            .unwrap()
            .to_string();
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        if let Ok(r) = browser.get(&url).send().await {
            let to = r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            if r.status().is_redirection() && !to.contains("link-problem") {
                break browser;
            }
        }
    };
    let client_key = format!("storm_checkout_key_{i:04}");
    let (s, body) = until_answered(|| {
        browser
            .post(format!("{base}/api/start_checkout"))
            .header("origin", &base)
            .header("accept", "application/json")
            .form(&[("plan_id", plan_id.to_string()), ("client_key", client_key.clone())])
    })
    .await;
    assert_eq!(s, 200, "start_checkout: {body}");
    let purchase_url: String = serde_json::from_str(&body).unwrap();
    let checkout_id = purchase_url.rsplit('/').next().unwrap().to_string();
    // Pay. A second press would be a second payment (as at Whop), so press again only when the
    // first left none: the server died before the simulator recorded it.
    loop {
        let (s, _) = until_answered(|| browser.get(&purchase_url)).await;
        assert_eq!(s, 200);
        if let Ok(r) = browser
            .post(&purchase_url)
            .header("origin", &base)
            .form(&[("action", "pay")])
            .send()
            .await
        {
            if r.status().is_redirection() {
                break;
            }
        }
        let _ = until_answered(|| browser.get(format!("{base}/readyz"))).await;
        if payments_of(store.as_ref(), &checkout_id).await > 0 {
            break;
        }
    }
    Purchase {
        external_id,
        checkout_id,
    }
}

/// A spend's last answer: applied (with its ledger row's id), refused for want of credits, or
/// for a user that does not exist yet.
#[derive(Debug, PartialEq)]
enum Spent {
    Applied(i64),
    Refused,
}

async fn spend_until_stopped(
    base: String,
    key: String,
    t: usize,
    buyers: usize,
    stop: Arc<AtomicBool>,
) -> Vec<(String, String, Spent)> {
    let api = client();
    let auth = format!("Bearer {key}");
    let mut out = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let external_id = format!("buyer-{}", (n * SPENDERS + t) % buyers);
        let idem = format!("storm-spend-{t}-{n}");
        let (s, body) = until_answered(|| {
            api.post(format!("{base}/api/v1/users/{external_id}/spend"))
                .header("authorization", &auth)
                .json(&json!({ "amount": SPEND, "idempotency_key": idem }))
        })
        .await;
        let result = match s {
            200 | 201 => Spent::Applied(
                serde_json::from_str::<Value>(&body).unwrap()["transaction_id"]
                    .as_i64()
                    .unwrap(),
            ),
            402 | 404 => Spent::Refused,
            _ => panic!("spend answered {s}: {body}"),
        };
        out.push((external_id, idem, result));
        n += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    out
}

async fn kill_nine_during_a_storm_loses_nothing_and_doubles_nothing(db: Db) {
    let Some(test_db) = TestDb::new(db).await else {
        return;
    };
    let kills: usize = std::env::var("STORM_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server {
        port: free_port(),
        db_url: test_db.url.clone(),
        log: dir.path().join("server.log"),
        child: None,
    };
    let out = server.command(&["create-api-key", "--name", "storm"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let store = test_db.store.clone();
    let starter = store
        .list_plans(false)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.plan_name == "Starter")
        .unwrap()
        .id;

    let http = client();
    server.start();
    server.ready(&http).await;
    let base = server.base();
    let stop = Arc::new(AtomicBool::new(false));
    let buyer_count = BUYERS.max(kills * 2);
    let buyers: Vec<_> = (0..buyer_count)
        .map(|i| tokio::spawn(buy(base.clone(), key.clone(), starter, i, store.clone())))
        .collect();
    let spenders: Vec<_> = (0..SPENDERS)
        .map(|t| {
            tokio::spawn(spend_until_stopped(
                base.clone(),
                key.clone(),
                t,
                buyer_count,
                stop.clone(),
            ))
        })
        .collect();

    // The storm: kill -9 at uneven moments (fixed, so a failure reruns alike), restart at once.
    for k in 0..kills {
        tokio::time::sleep(Duration::from_millis(250 + (k as u64 * 373) % 700)).await;
        server.kill();
        server.start();
        server.ready(&http).await;
    }
    let mut purchases = Vec::new();
    for b in buyers {
        purchases.push(b.await.expect("buyer"));
    }
    stop.store(true, Ordering::Relaxed);
    let mut spends = Vec::new();
    for s in spenders {
        spends.extend(s.await.expect("spender"));
    }

    // Settle: every paid payment at the simulator is credited (by its redelivered webhook or by
    // reconciliation, which runs every 2 s in the server).
    let paid_checkouts = |rows: Vec<atlas_credits::server::store::SimObjectRow>| -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for r in rows {
            let p: Value = serde_json::from_str(&r.data).unwrap();
            if p["status"] == "paid" {
                let ch = p["checkout_configuration_id"].as_str().unwrap_or_default().to_string();
                *m.entry(ch).or_insert(0) += 1;
            }
        }
        m
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let (paid, orders) = loop {
        let paid = paid_checkouts(store.sim_list("payment", 0, 10_000).await.unwrap());
        let mut orders = Vec::new();
        for p in &purchases {
            let u = store.user_by_external_id(&p.external_id).await.unwrap().unwrap();
            orders.push((p, u.user_id(), store.list_user_orders(u.user_id(), 100).await.unwrap()));
        }
        let settled = orders.iter().all(|(p, _, os)| {
            let credited = os.iter().filter(|o| o.credited_at.is_some()).count();
            credited == paid.get(&p.checkout_id).copied().unwrap_or(0)
        });
        if settled {
            break (paid, orders);
        }
        if Instant::now() > deadline {
            let state: Vec<_> = orders
                .iter()
                .map(|(p, _, os)| {
                    let o = os
                        .iter()
                        .map(|o| (o.id, o.payment_status.clone(), o.credited_at.is_some()))
                        .collect::<Vec<_>>();
                    format!(
                        "{} {} paid={:?} {o:?}",
                        p.external_id,
                        p.checkout_id,
                        paid.get(&p.checkout_id)
                    )
                })
                .collect();
            let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("storm-{}.log", server.port));
            std::fs::copy(&server.log, &kept).unwrap();
            panic!(
                "paid payments not credited within 60 s:\n{}\nserver log (all of it in {}):\n{}",
                state.join("\n"),
                kept.display(),
                server.log_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // And reconciliation from the command line, on top of the job, changes nothing more. (It
    // may wait for the lease of a server killed in a pass to run out.)
    let out = server.command(&["reconcile"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let mut applied_spends = 0;
    for (p, u, os) in &orders {
        // One order per checkout key, whatever the retries.
        assert_eq!(os.len(), 1, "{}: {} orders", p.external_id, os.len());
        // Paid once, or not at all when the server died inside the simulator's Pay (its payment
        // then stays pending, as one can at Whop): credited exactly as often.
        let paid_here = paid.get(&p.checkout_id).copied().unwrap_or(0);
        assert!(paid_here <= 1, "{}: Pay made {paid_here} payments", p.external_id);
        let rows = store.list_transactions(*u, None, 10_000).await.unwrap();
        let purchases = rows.iter().filter(|r| r.kind == EntryKind::Purchase.as_str()).count();
        assert_eq!(purchases, paid_here, "{}: credited {purchases} times", p.external_id);
        let user_spends: Vec<_> = spends.iter().filter(|(e, _, _)| *e == p.external_id).collect();
        for (_, idem, result) in user_spends {
            let mine: Vec<_> = rows
                .iter()
                .filter(|r| r.source_kind == SPEND_SOURCE && r.source_id == *idem)
                .collect();
            match result {
                Spent::Applied(id) => {
                    assert_eq!(mine.len(), 1, "{idem} applied {} times", mine.len());
                    assert_eq!(mine[0].id, *id, "{idem}: the answer names its row");
                    applied_spends += 1;
                }
                Spent::Refused => assert!(mine.is_empty(), "{idem} refused but applied"),
            }
        }
        common::checked_balance(store.as_ref(), *u).await;
    }
    eprintln!(
        "storm: {kills} kills, {} purchases paid, {} spends ({} applied)",
        paid.values().sum::<usize>(),
        spends.len(),
        applied_spends
    );
    assert!(applied_spends > 0, "the storm applied no spend at all");
    assert!(
        paid.values().sum::<usize>() >= buyer_count / 2,
        "most purchases were paid"
    );
    server.kill();
}
