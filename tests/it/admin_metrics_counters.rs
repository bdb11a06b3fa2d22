//! `GET /metrics` counts every ledger path, not only Whop's: an admin's approval
//! (`manual_grant`), a hand adjustment (`admin_adjustment`) and an import (`migration`); and a
//! checkout started by a user and a reconciliation pass move their counters. Counters are the
//! process's, shared with other tests: each check is on the increase, which is at least ours.

use crate::admin_metrics::{parse_exposition, scrape, value, Sample};
use crate::common;

use std::time::Duration;

use atlas_credits::server::jobs::reconcile::{Reconcile, ReconcileReport};
use atlas_credits::server::service::import::{self, Input};

use chrono::Utc;
use common::auth::Browser;
use common::whop_events::manual_order;
use common::{user, Db, TestApp};

both_backends!(
    approvals_adjustments_and_imports_count_as_ledger_posts,
    checkouts_and_reconcile_passes_are_counted,
);

async fn samples(app: &TestApp) -> Vec<Sample> {
    let r = scrape(app, None).await;
    assert_eq!(r.status(), 200);
    parse_exposition(&r.text().await.unwrap())
}

fn delta(before: &[Sample], after: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    value(after, name, labels) - value(before, name, labels)
}

async fn approvals_adjustments_and_imports_count_as_ledger_posts(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let (admin, _) = Browser::sign_up_admin(&app, "root@example.com").await;
    let store = app.db.store.as_ref();
    let ann = user(store, "ann@example.com").await;
    let o = manual_order(store, ann.user_id(), "metrics").await;
    let before = samples(&app).await;

    let id = o.id.to_string();
    let r = admin
        .call(
            &app,
            "/api/admin_approve_order",
            &[("id", &id), ("reason", "paid by invoice"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = admin
        .call(
            &app,
            "/api/admin_adjust_credits",
            &[
                ("email", "ann@example.com"),
                ("credits", "250"),
                ("reason", "goodwill"),
                ("key", "key-metrics-0123456789"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let users = Input {
        name: "users.csv".into(),
        bytes: b"email,external_id,name,balance\nlegacy@example.com,legacy-1,,700\n".to_vec(),
    };
    let counts = import::run(store, Some(&users), None).await.unwrap();
    assert_eq!(counts.balances_posted, 1);

    let after = samples(&app).await;
    let moved: Vec<(&str, f64)> = ["manual_grant", "admin_adjustment", "migration"]
        .into_iter()
        .map(|kind| {
            (
                kind,
                delta(&before, &after, "atlas_ledger_posts_total", &[("kind", kind)]),
            )
        })
        .collect();
    assert!(moved.iter().all(|(_, d)| *d >= 1.0), "ledger posts moved by {moved:?}");
}

async fn checkouts_and_reconcile_passes_are_counted(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let ann = Browser::sign_up(&app, "ann@example.com").await;
    let before = samples(&app).await;

    let pro = app.db.store.plan_by_name("Pro").await.unwrap().unwrap().id.to_string();
    let r = ann
        .call(
            &app,
            "/api/start_checkout",
            &[("plan_id", &pro), ("client_key", "key-metrics-checkout-0123")],
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let job = Reconcile::new(app.db.store.clone(), app.state.whop.clone(), Duration::from_secs(60));
    let report = job.run_at(Utc::now()).await.unwrap();
    assert!(matches!(report, ReconcileReport::Pass(_)), "{report:?}");

    let after = samples(&app).await;
    let created = delta(&before, &after, "atlas_checkouts_total", &[("outcome", "created")]);
    assert!(created >= 1.0, "checkouts created moved by {created}");
    let runs = delta(&before, &after, "atlas_reconcile_runs_total", &[]);
    assert!(runs >= 1.0, "reconcile runs moved by {runs}");
}
