//! Admin alerts on both backends: each condition (a failed payment, an unmatched payment, a
//! webhook event that keeps failing, a reconciliation error) raises one alert however often it
//! is seen; acknowledging (audited) clears the badge count; new alerts are POSTed to the alert
//! webhook, retried with backoff after a failure, delivered once even with two senders.

use crate::common;
#[allow(dead_code)]
use crate::faulty_store;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlas_credits::server::jobs::{AlertDelivery, Reconcile, WebhookApply};
use atlas_credits::server::store::{AlertRow, NewAlert, NewWebhookEvent, Store};
use atlas_credits::server::whop::types::{Payment, PaymentStatus, Ref};
use chrono::Utc;
use common::auth::Browser;
use common::whop_events::{body, deliver, event, order, payment};
use common::{user, Db, TestApp, TestDb};
use faulty_store::{Faults, FaultyStore, Method, When};
use serde_json::{json, Value};

both_backends!(
    each_condition_raises_one_alert,
    a_webhook_event_failing_a_third_time_raises_once,
    acknowledging_clears_the_badge_and_is_audited,
    delivery_retries_with_backoff_and_sends_once,
);

async fn alerts(store: &dyn Store) -> Vec<AlertRow> {
    store.list_alerts(None, None, 100).await.unwrap()
}

fn kinds(rows: &[AlertRow]) -> Vec<&str> {
    let mut k: Vec<&str> = rows.iter().map(|a| a.kind.as_str()).collect();
    k.sort();
    k
}

async fn each_condition_raises_one_alert(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();

    // A paid payment no order takes (for a plan we sell), delivered twice and read again.
    let pro = store
        .list_plans(false)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.plan_name == "Pro")
        .unwrap();
    store
        .set_plan_whop_ids(pro.id, Some("prod_credits"), Some("plan_pro"))
        .await
        .unwrap();
    let buyer = user(store, "buyer@example.com").await;
    let o = order(store, buyer.user_id(), "orphanbase", 25_000, 3250).await;
    let orphan = Payment {
        metadata: None,
        checkout_configuration_id: Some("ch_unknown".into()),
        plan: Some(Ref {
            id: "plan_pro".into(),
            metadata: None,
        }),
        ..payment("pay_orphan", &o)
    };
    deliver(&app, "msg_orphan_1", "payment.succeeded", &orphan).await;
    deliver(&app, "msg_orphan_2", "payment.succeeded", &orphan).await;
    assert_eq!(kinds(&alerts(store).await), ["unmatched_payment"]);
    let a = &alerts(store).await[0];
    assert_eq!(a.subject, "payment:pay_orphan");
    assert!(a.message.contains("$32.50"), "{}", a.message);

    // A failed payment for an order, reported twice.
    let failing = order(store, buyer.user_id(), "declined", 5_000, 750).await;
    let declined = Payment {
        status: Some(PaymentStatus::Open),
        failure_message: Some("Card declined".into()),
        paid_at: None,
        ..payment("pay_declined", &failing)
    };
    deliver(&app, "msg_failed_1", "payment.failed", &declined).await;
    deliver(&app, "msg_failed_2", "payment.failed", &declined).await;
    let rows = alerts(store).await;
    assert_eq!(kinds(&rows), ["payment_failed", "unmatched_payment"]);
    let failed = rows.iter().find(|a| a.kind == "payment_failed").unwrap();
    assert_eq!(failed.subject, format!("order:{}", failing.id));
    assert!(failed.message.contains("Card declined"), "{}", failed.message);

    // A webhook event that fails for good (a malformed payload), redelivered.
    deliver(&app, "msg_broken", "payment.succeeded", &json!({ "not": "a payment" })).await;
    deliver(&app, "msg_broken", "payment.succeeded", &json!({ "not": "a payment" })).await;
    assert_eq!(event(store, "msg_broken").await.status, "failed");
    let rows = alerts(store).await;
    assert_eq!(kinds(&rows), ["payment_failed", "unmatched_payment", "webhook_failing"]);
    assert_eq!(
        rows.iter().find(|a| a.kind == "webhook_failing").unwrap().subject,
        "webhook:msg_broken"
    );

    // Reconciliation that cannot reach Whop (nothing listens at the test's Whop address), twice.
    let reconcile = Reconcile::new(app.db.store.clone(), app.state.whop.clone(), Duration::from_secs(60));
    let now = Utc::now();
    let _ = reconcile.run_at(now).await;
    let _ = reconcile.run_at(now).await;
    let rows = alerts(store).await;
    assert_eq!(
        kinds(&rows),
        [
            "payment_failed",
            "reconcile_error",
            "unmatched_payment",
            "webhook_failing"
        ]
    );
    assert_eq!(store.count_open_alerts().await.unwrap(), 4);
}

async fn a_webhook_event_failing_a_third_time_raises_once(db: Db) {
    let Some(test_db) = TestDb::new(db).await else { return };
    let faults = Arc::new(Faults::default());
    let store: Arc<dyn Store> = Arc::new(FaultyStore {
        inner: test_db.store.clone(),
        faults: faults.clone(),
    });
    let buyer = user(store.as_ref(), "buyer@example.com").await;
    let o = order(store.as_ref(), buyer.user_id(), "flaky", 5_000, 750).await;
    let p = payment("pay_flaky", &o);
    store
        .record_webhook_event(&NewWebhookEvent {
            id: "msg_flaky".into(),
            event_type: "payment.succeeded".into(),
            payload: body("msg_flaky", "payment.succeeded", &p),
            received_at: Utc::now(),
        })
        .await
        .unwrap();
    // The database fails under the grant four times running (a transient failure each time).
    for _ in 0..4 {
        faults.arm(Method::FulfilOrder, "pay_flaky", When::Before);
    }
    let job = WebhookApply::new(store.clone());
    let t0 = Utc::now();
    for (i, alerts_after) in [(0, 0), (1, 0), (2, 1), (3, 1)] {
        let report = job.run_at(t0 + chrono::Duration::hours(i)).await.unwrap();
        assert_eq!(report.retried, 1, "attempt {}", i + 1);
        assert_eq!(
            store.count_open_alerts().await.unwrap(),
            alerts_after,
            "after attempt {}",
            i + 1
        );
    }
    let rows = alerts(store.as_ref()).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].kind.as_str(), rows[0].subject.as_str()),
        ("webhook_failing", "webhook:msg_flaky")
    );
    assert!(rows[0].message.contains("3 failed attempts"), "{}", rows[0].message);
    // It recovers: credited once, and no further alert.
    let report = job.run_at(t0 + chrono::Duration::hours(5)).await.unwrap();
    assert_eq!(report.processed, 1);
    assert_eq!(store.count_open_alerts().await.unwrap(), 1);
}

async fn admin_browser(app: &TestApp) -> (Browser, i64) {
    let b = Browser::sign_up(app, "root@example.com").await;
    let store = app.db.store.as_ref();
    let root = store.user_by_email("root@example.com").await.unwrap().unwrap();
    store
        .set_user_credentials(root.user_id(), "admin", root.password_hash.as_deref().unwrap())
        .await
        .unwrap();
    (b, root.id)
}

fn alert(n: u32) -> NewAlert {
    NewAlert {
        kind: "payment_failed",
        subject: format!("order:{n}"),
        message: format!("Payment pay_{n} failed"),
        dedupe_key: format!("payment_failed:pay_{n}"),
    }
}

async fn call(b: &Browser, app: &TestApp, name: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = b.call(app, &format!("/api/{name}"), form).await;
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn acknowledging_clears_the_badge_and_is_audited(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let (admin, admin_id) = admin_browser(&app).await;
    for n in 1..=3 {
        assert!(store.raise_alert(&alert(n), Utc::now()).await.unwrap());
    }
    assert!(!store.raise_alert(&alert(1), Utc::now()).await.unwrap(), "raised once");
    assert_eq!(call(&admin, &app, "admin_alert_count", &[]).await, (200, json!(3)));
    let (s, page) = call(&admin, &app, "admin_list_alerts", &[]).await;
    assert_eq!(s, 200);
    let ids: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert_eq!(page["items"][0]["kind_label"], "Payment failed");

    // One.
    let first = ids[2].to_string();
    let (s, _) = call(&admin, &app, "admin_acknowledge_alert", &[("id", &first)]).await;
    assert_eq!(s, 200);
    assert_eq!(call(&admin, &app, "admin_alert_count", &[]).await, (200, json!(2)));
    let (s, _) = call(&admin, &app, "admin_acknowledge_alert", &[("id", &first)]).await;
    assert_eq!(s, 409, "already acknowledged");
    let (s, _) = call(&admin, &app, "admin_acknowledge_alert", &[("id", "999999")]).await;
    assert_eq!(s, 404);
    let acked = store.alert_by_id(ids[2]).await.unwrap().unwrap();
    assert_eq!(acked.acknowledged_by, Some(format!("admin:{admin_id}")));

    // Bad input changes nothing.
    for (name, form) in [
        ("admin_acknowledge_alert", vec![("id", "abc")]),
        ("admin_acknowledge_alert", vec![("id", "-1")]),
        ("admin_acknowledge_all_alerts", vec![("up_to", "0")]),
        ("admin_acknowledge_all_alerts", vec![("up_to", "99999999999999999999")]),
        ("admin_list_alerts", vec![("status", "open'--")]),
        ("admin_list_alerts", vec![("before", "0")]),
    ] {
        let (s, body) = call(&admin, &app, name, &form).await;
        assert!(s == 400 || s == 404, "{name} {form:?}: {s} {body}");
    }
    assert_eq!(store.count_open_alerts().await.unwrap(), 2);

    // All that the admin saw: one raised after the page loaded stays open.
    let up_to = ids[0].to_string();
    store.raise_alert(&alert(4), Utc::now()).await.unwrap();
    let (s, msg) = call(&admin, &app, "admin_acknowledge_all_alerts", &[("up_to", &up_to)]).await;
    assert_eq!((s, msg), (200, json!("2 alerts acknowledged.")));
    assert_eq!(call(&admin, &app, "admin_alert_count", &[]).await, (200, json!(1)));
    let (_, page) = call(&admin, &app, "admin_list_alerts", &[("status", "acknowledged")]).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    let (_, page) = call(&admin, &app, "admin_list_alerts", &[("status", "all")]).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 4);

    let audit: Vec<(String, String, String)> = store
        .list_audit(10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.actor, a.action, a.subject))
        .collect();
    let actor = format!("admin:{admin_id}");
    assert_eq!(
        audit,
        [
            (actor.clone(), "alert.acknowledge_all".to_string(), "alerts".to_string()),
            (actor, "alert.acknowledge".to_string(), format!("alert:{}", ids[2])),
        ]
    );

    // The page and its badge.
    let html = admin
        .client
        .get(app.url("/admin/alerts"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"alerts-badge\""), "badge shown");
    assert!(html.contains("Payment pay_4 failed"));
}

/// A webhook receiver on a random port: answers 500 to the first `fail_first` requests, then
/// 200, and keeps every body.
async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Vec<Value>>>) {
    use axum::{http::StatusCode, routing::post, Json, Router};
    let bodies = Arc::new(Mutex::new(Vec::<Value>::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let (b, c) = (bodies.clone(), calls.clone());
    let app = Router::new().route(
        "/hook",
        post(move |Json(v): Json<Value>| {
            let (b, c) = (b.clone(), c.clone());
            async move {
                b.lock().unwrap().push(v);
                if c.fetch_add(1, Ordering::SeqCst) < fail_first {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), bodies)
}

async fn delivery_retries_with_backoff_and_sends_once(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.clone();
    let (url, bodies) = receiver(1).await;
    let sender = AlertDelivery::new(store.clone(), url.clone()).unwrap();
    let now = Utc::now();
    store.raise_alert(&alert(7), now).await.unwrap();
    let id = alerts(store.as_ref()).await[0].id;

    // First try: 500, retried after 30 s, not before.
    let r = sender.run_at(now).await.unwrap();
    assert_eq!((r.delivered, r.retrying), (0, 1));
    let row = store.alert_by_id(id).await.unwrap().unwrap();
    assert_eq!((row.delivery_status.as_str(), row.delivery_attempts), ("pending", 1));
    assert_eq!(row.last_delivery_error.as_deref(), Some("answered HTTP 500"));
    assert_eq!(
        sender
            .run_at(now + chrono::Duration::seconds(29))
            .await
            .unwrap()
            .delivered,
        0
    );
    assert_eq!(bodies.lock().unwrap().len(), 1);

    // Second try succeeds; later steps send nothing more.
    let r = sender.run_at(now + chrono::Duration::seconds(31)).await.unwrap();
    assert_eq!(r.delivered, 1);
    let r = sender.run_at(now + chrono::Duration::hours(2)).await.unwrap();
    assert_eq!(r.delivered + r.retrying + r.failed, 0);
    let sent = bodies.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "one failed try, one delivery");
    let body = &sent[1];
    assert_eq!(body["text"], "[Atlas Credits] Payment failed: Payment pay_7 failed");
    assert_eq!(body["kind"], "payment_failed");
    assert_eq!(body["subject"], "order:7");
    assert_eq!(body["id"], id);
    let row = store.alert_by_id(id).await.unwrap().unwrap();
    assert_eq!(row.delivery_status, "delivered");
    assert!(row.delivered_at.is_some());

    // Two instances racing for a new alert: one sends it.
    let other = AlertDelivery::new(store.clone(), url.clone()).unwrap();
    store.raise_alert(&alert(8), now).await.unwrap();
    let t = now + chrono::Duration::hours(3);
    let (a, b) = tokio::join!(sender.run_at(t), other.run_at(t));
    assert_eq!(a.unwrap().delivered + b.unwrap().delivered, 1);
    assert_eq!(bodies.lock().unwrap().len(), 3);

    // An alert still failing after a day is given up, marked failed.
    let (down, _) = receiver(usize::MAX).await;
    let failing = AlertDelivery::new(store.clone(), down).unwrap();
    store.raise_alert(&alert(9), now).await.unwrap();
    let mut t = now + chrono::Duration::hours(3);
    let mut tries = 0;
    loop {
        let r = failing.run_at(t).await.unwrap();
        tries += 1;
        if r.failed == 1 {
            break;
        }
        assert_eq!(r.retrying, 1);
        assert!(tries < 40, "never gave up");
        t += chrono::Duration::hours(1);
    }
    let nine = alerts(store.as_ref())
        .await
        .into_iter()
        .find(|a| a.subject == "order:9")
        .unwrap();
    assert_eq!(nine.delivery_status, "failed");
    assert!(t - nine.created_at <= chrono::Duration::days(1) + chrono::Duration::hours(1));
}
