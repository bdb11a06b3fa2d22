//! Whop slow or failing, injected at the built-in simulator (`PUT /_sim/whop/control/api`), over
//! real HTTP on both backends: checkouts fail cleanly with a message the buyer sees, and work
//! again once Whop heals; an error now and then is retried away; spends and balance reads are
//! not held up by a slow Whop (their latencies are printed, and must stay far under Whop's);
//! reconciliation fails while Whop errors (so its job backs off) and succeeds once it is back.
//!
//! The long version: `WHOP_FAULT_SPENDS=2000 cargo test --features ssr --test it whop_faults --
//! --test-threads=1 --nocapture` (BENCHMARKS.md, "Faults").

use crate::common;

use std::time::{Duration, Instant};

use atlas_credits::model::Credits;
use atlas_credits::server::jobs::{Job, Reconcile};
use common::auth::Browser;
use common::{Db, TestApp};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

both_backends!(
    a_failing_whop_fails_checkouts_with_its_message_until_it_heals,
    an_error_now_and_then_is_retried_away,
    a_slow_whop_times_checkouts_out_and_holds_up_no_spend,
    reconciliation_fails_while_whop_errors_and_runs_once_it_heals,
    fault_settings_are_checked_and_need_the_simulator_key,
);

/// The simulator with the given environment on top of test mode's.
async fn simulated(db: Db, extra: &[(&str, &str)]) -> Option<TestApp> {
    let mut vars = vec![("WHOP_MODE", "simulated"), ("WHOP_SIM_RETRY_SECS", "0.2,0.4")];
    vars.extend_from_slice(extra);
    TestApp::spawn_with_env(db, &vars).await
}

async fn set_faults(app: &TestApp, faults: Value) {
    let sim = app.state.whop.simulator.clone().unwrap();
    let r = app
        .client
        .put(app.url("/_sim/whop/control/api"))
        .bearer_auth(sim.api_key.expose_secret())
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn plan_id(app: &TestApp, name: &str) -> String {
    let plans = app.db.store.list_plans(true).await.unwrap();
    plans.into_iter().find(|p| p.plan_name == name).unwrap().id.to_string()
}

/// Presses Buy on `plan` with checkout key `key`: the answer's status and body.
async fn buy(b: &Browser, app: &TestApp, plan: &str, key: &str) -> (StatusCode, Value) {
    let plan = plan_id(app, plan).await;
    b.call_fn(app, "start_checkout", &[("plan_id", &plan), ("client_key", key)])
        .await
}

/// The buyer's one order with checkout key `key`.
async fn order_of(app: &TestApp, email: &str, key: &str) -> atlas_credits::server::store::OrderRow {
    let store = app.db.store.as_ref();
    let u = store.user_by_email(email).await.unwrap().unwrap();
    let orders = store.list_user_orders(u.user_id(), 100).await.unwrap();
    let mut mine: Vec<_> = orders
        .into_iter()
        .filter(|o| o.client_key.as_deref() == Some(key))
        .collect();
    assert_eq!(mine.len(), 1, "one order per checkout key");
    mine.remove(0)
}

async fn a_failing_whop_fails_checkouts_with_its_message_until_it_heals(db: Db) {
    let Some(app) = simulated(db, &[]).await else {
        return;
    };
    let b = Browser::sign_up(&app, "buyer@example.com").await;

    // Every call to Whop answers 503, retries included.
    set_faults(&app, json!({ "error_status": 503 })).await;
    let key = "fault-key-0123456789-a";
    let (s, body) = buy(&b, &app, "Starter", key).await;
    assert_eq!((s, body), (StatusCode::SERVICE_UNAVAILABLE, json!("Unavailable")));
    let failed = order_of(&app, "buyer@example.com", key).await;
    assert_eq!(failed.payment_status, "failed");
    assert_eq!(
        failed.failure_message.as_deref(),
        Some("Whop is unavailable (simulated fault)"),
        "the buyer is told what Whop said, not an internal error"
    );
    assert_eq!(failed.whop_checkout_id, None);
    assert_eq!(app.db.store.sim_list("checkout", 0, 10).await.unwrap().len(), 0);

    // Rate limited on every call: the same clean failure.
    set_faults(&app, json!({ "error_status": 429 })).await;
    let key429 = "fault-key-0123456789-b";
    let (s, _) = buy(&b, &app, "Starter", key429).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        order_of(&app, "buyer@example.com", key429).await.payment_status,
        "failed"
    );

    // Whop heals: the next Buy opens a checkout at once.
    set_faults(&app, json!({})).await;
    let key_ok = "fault-key-0123456789-c";
    let (s, url) = buy(&b, &app, "Starter", key_ok).await;
    assert_eq!(s, StatusCode::OK, "{url}");
    assert!(url.as_str().unwrap().contains("/_sim/whop/checkout/ch_"), "{url}");
    let open = order_of(&app, "buyer@example.com", key_ok).await;
    assert_eq!(open.payment_status, "pending");
    assert!(open.whop_checkout_id.is_some());
    // The failed orders stay failed (a new Buy made a new order; nothing was revived).
    assert_eq!(order_of(&app, "buyer@example.com", key).await.payment_status, "failed");
}

async fn an_error_now_and_then_is_retried_away(db: Db) {
    let Some(app) = simulated(db, &[]).await else {
        return;
    };
    let b = Browser::sign_up(&app, "buyer@example.com").await;
    // Every other request fails, starting with the first: each call's first try fails and its
    // retry succeeds (the plan's first push to Whop included).
    set_faults(&app, json!({ "error_status": 502, "error_every": 2 })).await;
    let key = "flaky-key-0123456789-a";
    let (s, url) = buy(&b, &app, "Pro", key).await;
    assert_eq!(s, StatusCode::OK, "{url}");
    let o = order_of(&app, "buyer@example.com", key).await;
    assert_eq!(o.payment_status, "pending");
    // One checkout at Whop, whatever the retries: they carry the same Idempotency-Key.
    assert_eq!(app.db.store.sim_list("checkout", 0, 10).await.unwrap().len(), 1);
}

/// The `q`th quantile (0..=1) of `xs`, in milliseconds.
fn quantile_ms(xs: &mut [Duration], q: f64) -> f64 {
    xs.sort();
    let i = ((xs.len() as f64 - 1.0) * q).round() as usize;
    xs[i].as_secs_f64() * 1000.0
}

/// Spends and balance reads by the host app, `n` of each: their latencies.
async fn spend_round(app: &TestApp, key: &str, tag: &str, n: usize) -> Vec<Duration> {
    let mut took = Vec::with_capacity(n * 2);
    for i in 0..n {
        let t = Instant::now();
        let r = app
            .client
            .post(app.url("/api/v1/users/bob/spend"))
            .bearer_auth(key)
            .json(&json!({ "amount": 1, "idempotency_key": format!("{tag}-{i}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        took.push(t.elapsed());
        let t = Instant::now();
        let r = app
            .client
            .get(app.url("/api/v1/users/bob/balance"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        took.push(t.elapsed());
    }
    took
}

async fn a_slow_whop_times_checkouts_out_and_holds_up_no_spend(db: Db) {
    const WHOP_LATENCY: Duration = Duration::from_secs(5);
    let spends: usize = std::env::var("WHOP_FAULT_SPENDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    // A buyer waits at most 2 s for the whole checkout; Whop takes 5 s to answer anything.
    let Some(app) = simulated(db, &[("WHOP_CHECKOUT_TIMEOUT_SECS", "2")]).await else {
        return;
    };
    let store = app.db.store.as_ref();
    let (key, bob) = app.host_user_with_credits("bob", 1_000_000).await;

    let mut before = spend_round(&app, &key, "before", spends).await;

    // Buyers keep pressing Buy while Whop is slow; every checkout times out.
    set_faults(&app, json!({ "latency_ms": WHOP_LATENCY.as_millis() as u64 })).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut buyers = Vec::new();
    for i in 0..4 {
        let email = format!("buyer{i}@example.com");
        let b = Browser::sign_up(&app, &email).await;
        let plan = plan_id(&app, "Starter").await;
        let (app_base, stop) = (app.base.clone(), stop.clone());
        buyers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut n = 0;
            while n == 0 || !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let key = format!("slow-key-{i}-{n}-0123456789");
                let t = Instant::now();
                let r = b
                    .client
                    .post(format!("{app_base}/api/start_checkout"))
                    .header("origin", &b.origin)
                    .header("accept", "application/json")
                    .form(&[("plan_id", plan.as_str()), ("client_key", key.as_str())])
                    .send()
                    .await
                    .expect("the checkout is answered");
                answers.push((r.status().as_u16(), t.elapsed(), email.clone(), key));
                n += 1;
            }
            answers
        }));
    }
    // Let the first presses reach Whop before measuring.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut during = spend_round(&app, &key, "during", spends).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut pressed = 0;
    for b in buyers {
        for (status, took, email, key) in b.await.unwrap() {
            pressed += 1;
            assert_eq!(status, 503, "a checkout Whop did not answer in time fails cleanly");
            assert!(
                took < WHOP_LATENCY,
                "the buyer waited {took:?}, past the checkout timeout"
            );
            let o = order_of(&app, &email, &key).await;
            assert_eq!(o.payment_status, "failed");
            assert_eq!(o.failure_message.as_deref(), Some("Whop did not answer in time"));
        }
    }

    let (b50, b99) = (quantile_ms(&mut before, 0.5), quantile_ms(&mut before, 0.99));
    let (d50, d99, dmax) = (
        quantile_ms(&mut during, 0.5),
        quantile_ms(&mut during, 0.99),
        quantile_ms(&mut during, 1.0),
    );
    println!(
        "whop_faults: {} host API calls each side; Whop healthy p50 {b50:.2} ms p99 {b99:.2} ms; \
         Whop answering after {} ms with {pressed} checkouts timing out: p50 {d50:.2} ms p99 {d99:.2} ms max {dmax:.2} ms",
        before.len(),
        WHOP_LATENCY.as_millis()
    );
    // Not a speed target: a spend that waited on Whop would take seconds. None came near.
    assert!(
        Duration::from_secs_f64(dmax / 1000.0) < WHOP_LATENCY / 4,
        "a host API call took {dmax:.0} ms while Whop was slow"
    );
    assert_eq!(
        common::checked_balance(store, bob).await,
        Credits(1_000_000 - 2 * spends as i64)
    );
}

async fn reconciliation_fails_while_whop_errors_and_runs_once_it_heals(db: Db) {
    let Some(app) = simulated(db, &[]).await else {
        return;
    };
    let job = Reconcile::new(app.db.store.clone(), app.state.whop.clone(), Duration::from_secs(60));
    assert!(job.run_once().await.is_ok(), "a pass against a healthy Whop succeeds");
    set_faults(&app, json!({ "error_status": 500 })).await;
    assert!(
        job.run_once().await.is_err(),
        "a pass against a failing Whop fails (the job backs off)"
    );
    set_faults(&app, json!({ "error_status": 429 })).await;
    assert!(job.run_once().await.is_err(), "so does a rate-limited one");
    set_faults(&app, json!({})).await;
    assert!(
        job.run_once().await.is_ok(),
        "and the next pass after Whop heals succeeds"
    );
}

async fn fault_settings_are_checked_and_need_the_simulator_key(db: Db) {
    let Some(app) = simulated(db, &[]).await else {
        return;
    };
    let sim = app.state.whop.simulator.clone().unwrap();
    let put = |body: Value, key: Option<String>| {
        let mut r = app.client.put(app.url("/_sim/whop/control/api")).json(&body);
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        r.send()
    };
    let key = || Some(sim.api_key.expose_secret().to_string());
    let r = put(json!({ "error_status": 503 }), None).await.unwrap();
    assert_eq!(r.status(), 401);
    let r = put(json!({ "error_status": 503 }), Some("sim_wrong".into()))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    for bad in [
        json!({ "error_status": 200 }),
        json!({ "latency_ms": 10_000_000 }),
        json!({ "error_every": 3 }),
        json!({ "latency_ms": "slow" }),
        json!({ "surprise": 1 }),
        json!([0, 503, 1]),
    ] {
        let r = put(bad.clone(), key()).await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    // Nothing refused was applied: Whop still answers.
    assert_eq!(sim.api_faults(), Default::default());
    let b = Browser::sign_up(&app, "buyer@example.com").await;
    let (s, _) = buy(&b, &app, "Starter", "check-key-0123456789-a").await;
    assert_eq!(s, StatusCode::OK);
    // What is set can be read back.
    put(json!({ "latency_ms": 5, "error_status": 504, "error_every": 4 }), key())
        .await
        .unwrap();
    let r = app
        .client
        .get(app.url("/_sim/whop/control/api"))
        .bearer_auth(sim.api_key.expose_secret())
        .send()
        .await
        .unwrap();
    let got: Value = r.json().await.unwrap();
    assert_eq!(got, json!({ "latency_ms": 5, "error_status": 504, "error_every": 4 }));
}
