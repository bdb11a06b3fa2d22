//! Database outages under load, on both backends, over real HTTP: spenders and Whop deliveries run
//! without pause while the database goes away and comes back, round after round (PostgreSQL:
//! connections refused and every session killed, in-flight transactions included; SQLite: the
//! file write-locked by another process's connection). Each caller retries as its real sender
//! does (the same idempotency key, the same webhook id) until it is answered 200. Afterwards every
//! spend is applied once, every payment credited once, and every balance equals its ledger sum.
//! It prints, per round, how long the outage lasted, how many requests were refused (503), the
//! slowest answer, and how long after the database returned the first request succeeded.
//!
//! The long version: `OUTAGE_ROUNDS=30 cargo test --features ssr --test it db_outage_storm --
//! --test-threads=1 --nocapture` (BENCHMARKS.md, "Faults").

use crate::common;
use crate::db_outage::Outage;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atlas_credits::model::Credits;
use atlas_credits::server::whop::verify::sign;
use common::whop_events;
use common::{Db, TestApp, WEBHOOK_SECRET};
use secrecy::SecretString;
use serde_json::json;

both_backends!(outages_under_load_lose_nothing_and_apply_everything_once);

const SPENDERS: usize = 3;
const DELIVERERS: usize = 2;
/// Answers must come well within this (the longest database wait is 5 s).
const ANSWER_BOUND: Duration = Duration::from_secs(9);

/// One answer a client got: when it arrived, its status (0: no answer), how long it took.
type Answer = (Instant, u16, Duration);

/// Sends `make()` until it is answered 200, recording every answer.
async fn until_ok(make: impl Fn() -> reqwest::RequestBuilder, log: &Mutex<Vec<Answer>>) -> serde_json::Value {
    loop {
        let t = Instant::now();
        let (status, body) = match make().timeout(ANSWER_BOUND).send().await {
            Ok(r) => {
                let s = r.status().as_u16();
                (s, r.json().await.unwrap_or(serde_json::Value::Null))
            }
            Err(_) => (0, serde_json::Value::Null),
        };
        log.lock().unwrap().push((Instant::now(), status, t.elapsed()));
        match status {
            200 => return body,
            503 => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("answered {other}: {body}"),
        }
    }
}

async fn outages_under_load_lose_nothing_and_apply_everything_once(db: Db) {
    let rounds: usize = std::env::var("OUTAGE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let app = Arc::new(app);
    let store = app.db.store.clone();
    let (key, ann) = app.host_user_with_credits("ann", 10_000_000).await;

    let stop = Arc::new(AtomicBool::new(false));
    let log: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let mut spenders = Vec::new();
    for c in 0..SPENDERS {
        let (app, key, stop, log) = (app.clone(), key.clone(), stop.clone(), log.clone());
        spenders.push(tokio::spawn(async move {
            let mut applied = 0usize;
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let k = format!("storm-{c}-{n}");
                let body = until_ok(
                    || {
                        app.client
                            .post(app.url("/api/v1/users/ann/spend"))
                            .bearer_auth(&key)
                            .json(&json!({ "amount": 1, "idempotency_key": k }))
                    },
                    &log,
                )
                .await;
                // A retry of a spend whose first try committed before its answer was lost says
                // "replayed": either way the key is spent once.
                assert!(body["balance"].is_i64(), "{body}");
                applied += 1;
                n += 1;
            }
            applied
        }));
    }
    let mut deliverers = Vec::new();
    for c in 0..DELIVERERS {
        let (app, stop, log) = (app.clone(), stop.clone(), log.clone());
        let store = store.clone();
        deliverers.push(tokio::spawn(async move {
            let mut orders = Vec::new();
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let tag = format!("storm{c}x{n}");
                // The order is made before the outage can touch it (as checkout made it earlier).
                let order = loop {
                    let o = store
                        .create_order(&atlas_credits::server::store::NewOrder {
                            user_id: ann,
                            plan_name: "Pro".into(),
                            credits_amount: 100,
                            price_cents: 50,
                            currency: "usd".into(),
                            payment_method: "whop",
                            notes: None,
                            client_key: Some(format!("key_{tag}_0123456789")),
                        })
                        .await;
                    match o {
                        Ok((o, _)) => break o,
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                };
                let body = whop_events::body(
                    &format!("msg_{tag}"),
                    "payment.succeeded",
                    &whop_events::payment(&format!("pay_{tag}"), &order),
                );
                let id = format!("msg_{tag}");
                until_ok(
                    || {
                        let ts = chrono::Utc::now().timestamp();
                        let sig = sign(
                            &SecretString::from(WEBHOOK_SECRET.to_string()),
                            &id,
                            ts,
                            body.as_bytes(),
                        );
                        app.client
                            .post(app.url("/api/webhooks/whop"))
                            .header("content-type", "application/json")
                            .header("webhook-id", &id)
                            .header("webhook-timestamp", ts.to_string())
                            .header("webhook-signature", sig)
                            .body(body.clone())
                    },
                    &log,
                )
                .await;
                orders.push(order.order_id());
                n += 1;
            }
            orders
        }));
    }

    println!("db_outage_storm ({db:?}): round, outage s, refused (503), slowest answer ms, first success after the database returned ms");
    for round in 0..rounds {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Outages of 1, 3 and 6 s in turn: shorter and longer than SQLite's 5 s wait for a lock.
        let length = Duration::from_secs([1, 3, 6][round % 3]);
        let started = Instant::now();
        let outage = Outage::start(db, &app.db.url).await;
        tokio::time::sleep(length).await;
        outage.end().await;
        let ended = Instant::now();
        // Until every client has been answered 200 once after the end.
        let recovered = loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let log = log.lock().unwrap();
            let first = log.iter().filter(|a| a.0 > ended && a.1 == 200).map(|a| a.0).min();
            if let Some(first) = first {
                if log
                    .iter()
                    .filter(|a| a.0 > ended + Duration::from_millis(200))
                    .any(|a| a.1 == 200)
                {
                    break first.duration_since(ended);
                }
            }
            assert!(ended.elapsed() < Duration::from_secs(30), "no recovery within 30 s");
        };
        let log = log.lock().unwrap();
        let window: Vec<&Answer> = log.iter().filter(|a| a.0 >= started).collect();
        let refused = window.iter().filter(|a| a.1 == 503).count();
        let unanswered = window.iter().filter(|a| a.1 == 0).count();
        let slowest = window.iter().map(|a| a.2).max().unwrap_or_default();
        println!(
            "  {round:>3} {:>6.1} {refused:>6} {:>8.0} {:>8.0}",
            ended.duration_since(started).as_secs_f64(),
            slowest.as_secs_f64() * 1000.0,
            recovered.as_secs_f64() * 1000.0
        );
        assert_eq!(unanswered, 0, "every request was answered within {ANSWER_BOUND:?}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);

    let mut spent = 0;
    for s in spenders {
        spent += s.await.unwrap();
    }
    let mut paid = Vec::new();
    for d in deliverers {
        paid.extend(d.await.unwrap());
    }
    // Exactly once: one ledger row per spend key and per payment, and the balance is their sum.
    let rows = store.list_transactions(ann, None, 100_000).await.unwrap();
    let spends = rows.iter().filter(|r| r.kind == "spend").count();
    let purchases = rows.iter().filter(|r| r.kind == "purchase").count();
    assert_eq!(spends, spent, "one row per spend answered 200");
    assert_eq!(purchases, paid.len(), "one credit per delivered payment");
    for o in &paid {
        let o = store.order_by_id(*o).await.unwrap().unwrap();
        assert_eq!(o.payment_status, "paid");
    }
    let balance = common::checked_balance(store.as_ref(), ann).await;
    assert_eq!(balance, Credits(10_000_000 - spent as i64 + 100 * paid.len() as i64));
    let total = log.lock().unwrap().len();
    println!(
        "db_outage_storm ({db:?}): {rounds} outages; {spent} spends and {} payments applied once each; {total} requests in all",
        paid.len()
    );
}
