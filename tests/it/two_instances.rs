//! Two instances of the app on one PostgreSQL database, as behind a load balancer: each runs
//! its own background jobs (the simulator's deliveries go to whichever instance claims them, and
//! both reconcilers run every second), buyers pay through either, Whop's deliveries of the same
//! events reach both at once, and the host app sends the same spend to both. Exactly once still
//! holds: one credit per payment, one ledger row per spend key, balances equal ledger sums.
//!
//! The long version: `TWIN_BUYERS=300 cargo test --features ssr --test it two_instances --
//! --test-threads=1 --nocapture` (CI runs 12; BENCHMARKS.md, "Faults").

use atlas_credits::model::EntryKind;
use atlas_credits::server::service::api_keys;
use atlas_credits::server::service::host_users::SPEND_SOURCE;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

use crate::common;
use common::sim_shop::{press, SimShop};
use common::whop_events::post_signed;
use common::{user, Db, TestApp};

/// Buyers in CI; `TWIN_BUYERS` for the long version (at most 1,000).
fn buyers() -> usize {
    std::env::var("TWIN_BUYERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12usize)
        .clamp(2, 1000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_instances_keep_exactly_once() {
    let vars = [
        ("WHOP_MODE", "simulated"),
        ("WHOP_SIM_RETRY_SECS", "0.2,0.4"),
        ("RECONCILE_INTERVAL_SECS", "1"),
    ];
    let Some(a) = TestApp::spawn_with_env(Db::Postgres, &vars).await else {
        return;
    };
    let started = Instant::now();
    let buyer_count = buyers();
    let b = a.spawn_simulated_beside(&[("RECONCILE_INTERVAL_SECS", "1")]).await;
    let store = a.db.store.clone();
    let shop = SimShop::open(&a).await;

    // Buyers pay through one instance or the other.
    let mut orders = Vec::new();
    for i in 0..buyer_count {
        let u = user(store.as_ref(), &format!("twin{i}@example.com")).await;
        let (o, url) = shop.order(&a, u.user_id(), &format!("twin{i}"), true).await;
        let (app, url) = if i % 2 == 0 {
            (&a, url)
        } else {
            (&b, url.replace(&a.base, &b.base))
        };
        press(app, &url, "pay").await;
        orders.push((u, o));
    }

    // Whop delivers each payment's `payment.succeeded` to both instances at the same moment, once
    // with one webhook id (a retry crossing the first try) and once with two (a resend).
    let payments: Vec<Value> = store
        .sim_list("payment", 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| serde_json::from_str(&r.data).unwrap())
        .collect();
    assert_eq!(payments.len(), buyer_count);
    for (n, p) in payments.iter().enumerate() {
        let same = format!("msg_twin_same_{n}");
        let (x, y) = tokio::join!(post(&a, &same, p), post(&b, &same, p));
        assert_eq!((x, y), (200, 200));
        let (id_a, id_b) = (format!("msg_twin_a_{n}"), format!("msg_twin_b_{n}"));
        let (x, y) = tokio::join!(post(&a, &id_a, p), post(&b, &id_b, p));
        assert_eq!((x, y), (200, 200));
    }

    // Every payment is credited (by whichever instance got there first) before the spends.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut credited = 0;
        for (_, o) in &orders {
            if store
                .order_by_id(o.order_id())
                .await
                .unwrap()
                .unwrap()
                .credited_at
                .is_some()
            {
                credited += 1;
            }
        }
        if credited == buyer_count {
            break;
        }
        assert!(Instant::now() < deadline, "{credited} of {buyer_count} credited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The host app sends each spend to both instances at once (a client retrying through the
    // load balancer while its first try is still in flight).
    let (key, _) = api_keys::create(store.as_ref(), "host app", "test").await.unwrap();
    let mut spend_keys = Vec::new();
    let mut written_by_a = 0;
    for (i, (u, _)) in orders.iter().enumerate() {
        let external_id = format!("twin-ext-{i}");
        assert!(store
            .link_external_user(&u.email, &external_id, None)
            .await
            .unwrap()
            .is_some());
        for s in 0..3 {
            let idem = format!("twin-spend-{i}-{s}");
            let (x, y) = tokio::join!(
                spend(&a, &key, &external_id, &idem),
                spend(&b, &key, &external_id, &idem)
            );
            // Both answer with the same row; exactly one of them wrote it.
            let ((id_x, replay_x), (id_y, replay_y)) = (x, y);
            assert_eq!(id_x, id_y, "{idem}: one row for both");
            assert!(replay_x ^ replay_y, "{idem}: exactly one of them wrote it");
            spend_keys.push((i, idem, id_x));
            written_by_a += usize::from(!replay_x);
        }
    }

    // Both reconcilers have run over all of it.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    for (i, (u, o)) in orders.iter().enumerate() {
        let rows = store.list_transactions(u.user_id(), None, 1000).await.unwrap();
        let purchases: Vec<_> = rows.iter().filter(|r| r.kind == EntryKind::Purchase.as_str()).collect();
        assert_eq!(purchases.len(), 1, "order {} credited {} times", o.id, purchases.len());
        for (_, idem, id) in spend_keys.iter().filter(|(j, _, _)| *j == i) {
            let mine: Vec<_> = rows
                .iter()
                .filter(|r| r.source_kind == SPEND_SOURCE && r.source_id == *idem)
                .collect();
            assert!(mine.len() == 1 && mine[0].id == *id, "{idem}: {mine:?}");
        }
        common::checked_balance(store.as_ref(), u.user_id()).await;
    }
    println!(
        "two_instances: {buyer_count} payments (each delivered 4 times, to both instances at once) credited once each; \
         {} spend keys sent to both at once, one row each ({written_by_a} written by A, {} by B); {:.1} s",
        spend_keys.len(),
        spend_keys.len() - written_by_a,
        started.elapsed().as_secs_f64()
    );
}

/// A signed `payment.succeeded` delivery of the simulator's own payment object.
async fn post(app: &TestApp, webhook_id: &str, payment: &Value) -> u16 {
    post_signed(app, webhook_id, "payment.succeeded", payment).await.0
}

/// The spend's row id and whether it was a replay.
async fn spend(app: &TestApp, key: &str, external_id: &str, idem: &str) -> (i64, bool) {
    let r = app
        .client
        .post(app.url(&format!("/api/v1/users/{external_id}/spend")))
        .bearer_auth(key)
        .json(&json!({ "amount": 1000, "idempotency_key": idem }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert!(status == 200 || status == 201, "spend answered {status}: {body}");
    (
        body["transaction_id"].as_i64().unwrap(),
        body["replayed"].as_bool().unwrap(),
    )
}
