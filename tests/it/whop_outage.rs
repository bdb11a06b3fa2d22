//! Whop slow or unreachable, over real HTTP on both backends: against a "Whop" that accepts
//! connections and never answers, checkouts fail cleanly within `WHOP_CHECKOUT_TIMEOUT_SECS`
//! (the order failed with a reason the buyer sees) while spends and balance reads carry on
//! untouched; and a reconciliation pass that cannot reach Whop fails, so its job backs off.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atlas_credits::model::Credits;
use atlas_credits::server::jobs::{pause_after, Job, Reconcile};
use common::auth::Browser;
use common::{Db, TestApp};
use serde_json::json;

both_backends!(
    a_hanging_whop_fails_checkouts_cleanly_and_slows_nothing_else,
    reconciliation_without_whop_fails_and_backs_off,
);

/// A TCP server that accepts every connection and never answers (nor closes).
struct HangingWhop {
    base_url: String,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl HangingWhop {
    async fn start() -> HangingWhop {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/api/v1", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        });
        HangingWhop {
            base_url,
            accepted,
            task,
        }
    }
}

impl Drop for HangingWhop {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn a_hanging_whop_fails_checkouts_cleanly_and_slows_nothing_else(db: Db) {
    let whop = HangingWhop::start().await;
    // Each Whop request may take 30 s, but a buyer waits at most 10 s for the whole checkout.
    let vars = [
        ("WHOP_BASE_URL", whop.base_url.as_str()),
        ("WHOP_TIMEOUT_SECS", "30"),
        ("WHOP_CHECKOUT_TIMEOUT_SECS", "10"),
    ];
    let Some(app) = TestApp::spawn_with_env(db, &vars).await else {
        return;
    };
    let store = app.db.store.as_ref();
    let (key, bob) = app.host_user_with_credits("bob", 10_000).await;

    // Four buyers press Buy; every call to Whop hangs.
    let plan = store
        .list_plans(true)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.plan_name == "Starter")
        .unwrap()
        .id
        .to_string();
    let mut checkouts = Vec::new();
    for i in 0..4 {
        let b = Browser::sign_up(&app, &format!("buyer{i}@example.com")).await;
        let (app_base, plan) = (app.base.clone(), plan.clone());
        checkouts.push(tokio::spawn(async move {
            let r = b
                .client
                .post(format!("{app_base}/api/start_checkout"))
                .header("origin", &b.origin)
                .header("accept", "application/json")
                .form(&[
                    ("plan_id", plan.as_str()),
                    ("client_key", &format!("hang-key-{i}-0123456789")),
                ])
                .send()
                .await
                .expect("the checkout is answered, not left hanging");
            (r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    // They queue on the plan's first push to Whop (one at a time per plan): one call is open.
    for _ in 0..500 {
        if whop.accepted.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(whop.accepted.load(Ordering::SeqCst) > 0, "no checkout reached Whop");

    // Meanwhile the host app's spends and balance reads are served as usual.
    for i in 0..20 {
        let r = app
            .client
            .post(app.url("/api/v1/users/bob/spend"))
            .bearer_auth(&key)
            .json(&json!({ "amount": 10, "idempotency_key": format!("s{i}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = app
            .client
            .get(app.url("/api/v1/users/bob/balance"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert!(
        checkouts.iter().all(|c| !c.is_finished()),
        "every spend completed while the checkouts still waited on Whop"
    );

    // Each checkout then fails cleanly: a 503 without internals, its order failed with a reason
    // the buyer's status page shows, nothing made on Whop's side of our records.
    for c in checkouts {
        let (status, body) = c.await.unwrap();
        assert_eq!((status, body.as_str()), (503, r#""Unavailable""#));
    }
    for i in 0..4 {
        let u = store
            .user_by_email(&format!("buyer{i}@example.com"))
            .await
            .unwrap()
            .unwrap();
        let orders = store.list_user_orders(u.user_id(), 10).await.unwrap();
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0].payment_status, "failed");
        assert_eq!(
            orders[0].failure_message.as_deref(),
            Some("Whop did not answer in time")
        );
        assert_eq!(orders[0].whop_checkout_id, None);
    }
    assert_eq!(common::checked_balance(store, bob).await, Credits(10_000 - 200));
}

async fn reconciliation_without_whop_fails_and_backs_off(db: Db) {
    // TestApp's Whop is 127.0.0.1:9, which refuses connections.
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let every = Duration::from_secs(60);
    let job = Reconcile::new(app.db.store.clone(), app.state.whop.clone(), every);
    assert!(job.run_once().await.is_err(), "a pass without Whop fails");
    // A failing pass is what the job loop counts: the pauses double, up to the cap.
    let cap = job.max_backoff().expect("reconciliation backs off");
    let pauses: Vec<Duration> = (0..=3)
        .map(|failures| pause_after(every, failures, Some(cap)))
        .collect();
    assert_eq!(pauses, [every, every * 2, every * 4, every * 8]);
    assert_eq!(pause_after(every, 20, Some(cap)), cap);
    // The lease was given back: the next pass runs (and fails) rather than waiting out its TTL.
    assert!(job.run_once().await.is_err());
}
