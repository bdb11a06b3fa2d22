//! The built-in Whop simulator through the real client and real HTTP: every client operation,
//! the hosted checkout page and each of its outcomes (pay, decline, refunds, disputes) with
//! signed webhooks landing in the app's webhook route, the test controls (duplicate, delay,
//! reorder, drop), and Whop's retry schedule against a receiver that fails.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use atlas_credits::model::Cents;
use atlas_credits::server::whop::client::{
    NewCheckout, NewPlan, NewProduct, PaymentFilter, PlanFilter, PlanUpdate, WhopClient,
};
use atlas_credits::server::whop::error::WhopError;
use atlas_credits::server::whop::simulator::{Simulator, ACCOUNT_ID};
use atlas_credits::server::whop::types::{
    Dispute, DisputeStatus, Payment, PaymentStatus, PaymentSubstatus, Refund, RefundStatus, Visibility, WebhookEnvelope,
};
use atlas_credits::server::whop::verify::{verify, DeliveryHeaders};
use common::{Db, TestApp};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

both_backends!(
    client_operations_against_the_simulator,
    checkout_outcomes_arrive_as_signed_webhooks,
    delivery_controls
);

fn client(app: &TestApp) -> &WhopClient {
    &app.state.whop.client
}

/// A product, a $7.50 plan and a checkout for it; returns (plan id, checkout id, purchase url).
async fn checkout(app: &TestApp, order: &str) -> (String, String, String) {
    let c = client(app);
    let product = c
        .create_product(
            &NewProduct {
                title: "Atlas Credits".into(),
                account_id: Some(ACCOUNT_ID.into()),
                visibility: Some(Visibility::Hidden),
            },
            &format!("product-{order}"),
        )
        .await
        .unwrap();
    let plan = c
        .create_plan(
            &NewPlan {
                account_id: Some(ACCOUNT_ID.into()),
                product_id: product.id.clone(),
                plan_type: "one_time".into(),
                initial_price: Cents(750),
                currency: "usd".into(),
                title: Some("Starter".into()),
                visibility: Some(Visibility::Hidden),
                metadata: Some(json!({ "plan": "starter" })),
            },
            &format!("plan-{order}"),
        )
        .await
        .unwrap();
    let ch = c
        .create_checkout_configuration(
            &NewCheckout {
                plan_id: plan.id.clone(),
                metadata: json!({ "order_id": order, "user_id": "7" }),
                redirect_url: Some(format!("{}/pay/{order}", app.base)),
            },
            &format!("order-{order}"),
        )
        .await
        .unwrap();
    let url = ch.purchase_url.clone().unwrap();
    (plan.id, ch.id, url)
}

async fn client_operations_against_the_simulator(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let c = client(&app);
    let (plan_id, ch_id, url) = checkout(&app, "1").await;
    assert!(
        url.starts_with(&format!("{}/_sim/whop/checkout/ch_", app.base)),
        "{url}"
    );

    // A retried create with the same key returns the same checkout, not a second one.
    let again = c
        .create_checkout_configuration(
            &NewCheckout {
                plan_id: plan_id.clone(),
                metadata: json!({ "order_id": "1", "user_id": "7" }),
                redirect_url: None,
            },
            "order-1",
        )
        .await
        .unwrap();
    assert_eq!(again.id, ch_id);

    // Plans: retrieve, update, list with filters, delete.
    let plan = c.retrieve_plan(&plan_id).await.unwrap();
    assert_eq!(plan.initial_price, Some(Cents(750)));
    let updated = c
        .update_plan(
            &plan_id,
            &PlanUpdate {
                initial_price: Some(Cents(3250)),
                title: Some("Pro".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (updated.initial_price, updated.title.as_deref()),
        (Some(Cents(3250)), Some("Pro"))
    );
    let listed = c
        .list_plans(
            ACCOUNT_ID,
            &PlanFilter {
                visibilities: vec!["hidden".into()],
                first: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(c
        .list_plans(
            ACCOUNT_ID,
            &PlanFilter {
                visibilities: vec!["visible".into()],
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .is_empty());

    // Payments: pay twice on two checkouts, then list (paged one at a time), retrieve, refund.
    pay(&app, &url, "pay").await;
    let (_, ch2, url2) = checkout(&app, "2").await;
    pay(&app, &url2, "decline").await;
    let all = c
        .list_payments(&PaymentFilter {
            first: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "followed the cursor across pages");
    let paid = c
        .list_payments(&PaymentFilter {
            statuses: vec![PaymentStatus::Paid],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(paid.len(), 1);
    assert_eq!(paid[0].checkout_configuration_id.as_deref(), Some(ch_id.as_str()));
    assert_eq!(paid[0].total, Some(Cents(3250)), "the plan's price at payment time");
    assert_eq!(paid[0].metadata, Some(json!({ "order_id": "1", "user_id": "7" })));
    let by_checkout = c
        .list_payments(&PaymentFilter {
            checkout_configuration_ids: vec![ch2.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_checkout.len(), 1);
    assert_eq!(by_checkout[0].substatus, Some(PaymentSubstatus::Failed));
    let future = c
        .list_payments(&PaymentFilter {
            created_after: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(future.is_empty());

    let pay_id = paid[0].id.clone();
    assert_eq!(c.retrieve_payment(&pay_id).await.unwrap().id, pay_id);
    let refunded = c.refund_payment(&pay_id, Some(Cents(1000)), "refund-1").await.unwrap();
    assert_eq!(refunded.refunded_amount, Some(Cents(1000)));
    assert_eq!(refunded.substatus, Some(PaymentSubstatus::PartiallyRefunded));
    let replay = c.refund_payment(&pay_id, Some(Cents(1000)), "refund-1").await.unwrap();
    assert_eq!(
        replay.refunded_amount,
        Some(Cents(1000)),
        "a retried refund with the same key refunds once"
    );
    let too_much = c
        .refund_payment(&pay_id, Some(Cents(5000)), "refund-2")
        .await
        .unwrap_err();
    assert!(
        matches!(too_much, WhopError::InvalidRequest { status: 400, .. }),
        "{too_much:?}"
    );
    let rest = c.refund_payment(&pay_id, None, "refund-3").await.unwrap();
    assert_eq!(
        (rest.refunded_amount, rest.substatus),
        (Some(Cents(3250)), Some(PaymentSubstatus::Refunded))
    );

    assert!(c.delete_plan(&plan_id).await.unwrap());
    assert!(matches!(
        c.retrieve_plan(&plan_id).await,
        Err(WhopError::NotFound { .. })
    ));
    assert!(matches!(
        c.retrieve_payment("pay_nope").await,
        Err(WhopError::NotFound { .. })
    ));

    // A wrong key is refused like Whop does.
    let stranger = WhopClient::new(atlas_credits::server::whop::http::ClientConfig::new(
        c.base_url(),
        secrecy::SecretString::from("wrong".to_string()),
    ))
    .unwrap();
    assert!(matches!(
        stranger.retrieve_payment(&pay_id).await,
        Err(WhopError::Unauthorized { status: 401, .. })
    ));
}

/// Presses a button on the hosted checkout page, like a browser.
async fn pay(app: &TestApp, purchase_url: &str, action: &str) {
    let page = app.client.get(purchase_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("TEST MODE"), "the hosted page says it is a simulation");
    assert!(html.contains(&format!(r#"value="{action}""#)), "{html}");
    let r = app
        .client
        .post(purchase_url)
        .header("origin", &app.base)
        .form(&[("action", action)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert!(r
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with(&format!("{}/pay/", app.base)));
}

/// Waits until the app's webhook route has stored `n` deliveries; returns (type, body).
async fn stored(app: &TestApp, n: usize) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = app.db.store.list_webhook_events().await.unwrap();
        if events.len() >= n || Instant::now() > deadline {
            return events.into_iter().map(|(_, t, p)| (t, p)).collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn checkout_outcomes_arrive_as_signed_webhooks(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let mut expected_types: Vec<&str> = Vec::new();
    for (i, action) in [
        "pay",
        "decline",
        "pay_refund",
        "pay_partial_refund",
        "dispute_won",
        "dispute_lost",
    ]
    .iter()
    .enumerate()
    {
        let (_, _, url) = checkout(&app, &format!("o{i}")).await;
        pay(&app, &url, action).await;
        expected_types.extend(match *action {
            "pay" => vec!["payment.created", "payment.succeeded"],
            "decline" => vec!["payment.created", "payment.failed"],
            "pay_refund" | "pay_partial_refund" => vec![
                "payment.created",
                "payment.succeeded",
                "refund.created",
                "refund.updated",
            ],
            _ => vec![
                "payment.created",
                "payment.succeeded",
                "dispute.created",
                "dispute.updated",
            ],
        });
        // Each action's events land (in order) before the next action starts.
        let events = stored(&app, expected_types.len()).await;
        let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(types, expected_types, "after {action}");
    }
    let events = stored(&app, expected_types.len()).await;
    let bodies: Vec<Value> = events.iter().map(|(_, b)| serde_json::from_str(b).unwrap()).collect();
    for b in &bodies {
        assert_eq!(b["api_version"], "v1");
        assert!(b["id"].as_str().unwrap().starts_with("msg_"));
        assert_eq!(b["company_id"], ACCOUNT_ID);
    }

    // The payloads parse as Whop's types, with exact money and our metadata.
    let succeeded: WebhookEnvelope<Payment> = serde_json::from_str(&events[1].1).unwrap();
    assert_eq!(succeeded.data.status, Some(PaymentStatus::Paid));
    assert_eq!(succeeded.data.total, Some(Cents(750)));
    assert_eq!(succeeded.data.metadata.as_ref().unwrap()["order_id"], "o0");
    assert!(succeeded.data.paid_at.is_some());
    let failed: WebhookEnvelope<Payment> = serde_json::from_str(&events[3].1).unwrap();
    assert_eq!(failed.data.substatus, Some(PaymentSubstatus::Failed));
    assert!(failed.data.failure_message.is_some());
    let full: WebhookEnvelope<Refund> = serde_json::from_str(&events[7].1).unwrap();
    assert_eq!(
        (full.data.amount, full.data.status),
        (Cents(750), RefundStatus::Succeeded)
    );
    assert_eq!(
        full.data.payment.as_ref().unwrap().metadata.as_ref().unwrap()["order_id"],
        "o2"
    );
    let partial: WebhookEnvelope<Refund> = serde_json::from_str(&events[11].1).unwrap();
    assert_eq!(partial.data.amount, Cents(375));
    let won: WebhookEnvelope<Dispute> = serde_json::from_str(&events[15].1).unwrap();
    assert_eq!(won.data.status, DisputeStatus::Won);
    let lost: WebhookEnvelope<Dispute> = serde_json::from_str(&events[19].1).unwrap();
    assert_eq!(lost.data.status, DisputeStatus::Lost);
    assert_eq!(lost.data.amount, Cents(750));

    // Every delivery was accepted on its first attempt (the app verified its signature).
    let sim = app.state.whop.simulator.clone().unwrap();
    let deliveries = sim_deliveries(&app, &sim).await;
    assert_eq!(deliveries.len(), expected_types.len());
    assert!(
        deliveries
            .iter()
            .all(|d| d["status"] == "delivered" && d["attempts"] == 1 && d["last_status"] == 200),
        "{deliveries:?}"
    );

    // The checkout page refuses unknown actions and unknown checkouts.
    let r = app
        .client
        .post(format!("{}/_sim/whop/checkout/ch_missing", app.base))
        .form(&[("action", "pay")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

async fn sim_deliveries(app: &TestApp, sim: &Simulator) -> Vec<Value> {
    app.client
        .get(format!("{}/_sim/whop/control/deliveries", app.base))
        .bearer_auth(sim.api_key.expose_secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn set_mode(app: &TestApp, sim: &Simulator, mode: Value) {
    let r = app
        .client
        .put(format!("{}/_sim/whop/control/delivery", app.base))
        .bearer_auth(sim.api_key.expose_secret())
        .json(&mode)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn delivery_controls(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let sim = app.state.whop.simulator.clone().unwrap();
    let r = app
        .client
        .put(format!("{}/_sim/whop/control/delivery", app.base))
        .json(&json!({ "drop": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "controls need the simulator's key");

    // Dropped: recorded, never sent.
    set_mode(&app, &sim, json!({ "drop": true })).await;
    let (_, _, url) = checkout(&app, "drop").await;
    pay(&app, &url, "pay").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(app.db.store.list_webhook_events().await.unwrap().is_empty());
    assert!(sim_deliveries(&app, &sim)
        .await
        .iter()
        .all(|d| d["status"] == "dropped"));

    // Duplicated: each event sent twice with the same webhook-id; the app keeps one copy.
    set_mode(&app, &sim, json!({ "duplicate": true })).await;
    let (_, _, url) = checkout(&app, "dup").await;
    pay(&app, &url, "pay").await;
    let events = stored(&app, 2).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let deliveries = sim_deliveries(&app, &sim).await;
    let sent: Vec<&Value> = deliveries.iter().filter(|d| d["status"] == "delivered").collect();
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[0]["webhook_id"], sent[1]["webhook_id"]);
    assert_eq!(
        app.db.store.list_webhook_events().await.unwrap().len(),
        2,
        "duplicates stored once"
    );
    assert_eq!(events.len(), 2);

    // Delayed: nothing arrives before the delay.
    set_mode(&app, &sim, json!({ "delay_ms": 1500 })).await;
    let (_, _, url) = checkout(&app, "late").await;
    let t0 = Instant::now();
    pay(&app, &url, "pay").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        app.db.store.list_webhook_events().await.unwrap().len(),
        2,
        "still held back"
    );
    let events = stored(&app, 4).await;
    assert_eq!(events.len(), 4);
    assert!(t0.elapsed() >= Duration::from_millis(1500));

    // Reordered: the newest event of the action arrives first.
    set_mode(&app, &sim, json!({ "reorder": true })).await;
    let (_, _, url) = checkout(&app, "rev").await;
    pay(&app, &url, "pay_refund").await;
    let events = stored(&app, 8).await;
    let last4: Vec<&str> = events[4..].iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        last4,
        vec![
            "refund.updated",
            "refund.created",
            "payment.succeeded",
            "payment.created"
        ]
    );

    // Unknown control fields are refused.
    let r = app
        .client
        .put(format!("{}/_sim/whop/control/delivery", app.base))
        .bearer_auth(sim.api_key.expose_secret())
        .json(&json!({ "explode": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

/// Whop's retry schedule, against a receiver that fails twice: three attempts, spaced by the
/// schedule, each signed afresh and verifiable with the simulator's secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_are_retried_on_schedule_then_given_up() {
    let Some(t) = common::TestDb::new(Db::Sqlite).await else {
        return;
    };
    let hits = Arc::new(AtomicUsize::new(0));
    let times = Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let verified = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let sim = Simulator::start(
        t.store.clone(),
        &base,
        vec![Duration::from_millis(300), Duration::from_millis(600)],
        None,
    )
    .await
    .unwrap();
    let secret = sim.webhook_secret.clone();
    let receiver = {
        let (hits, times, verified) = (hits.clone(), times.clone(), verified.clone());
        axum::Router::new().route(
            "/api/webhooks/whop",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (hits, times, verified, secret) = (hits.clone(), times.clone(), verified.clone(), secret.clone());
                async move {
                    times.lock().unwrap().push(Instant::now());
                    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
                    let (id, ts, sig) = (h("webhook-id"), h("webhook-timestamp"), h("webhook-signature"));
                    let d = DeliveryHeaders {
                        id: id.as_deref(),
                        timestamp: ts.as_deref(),
                        signature: sig.as_deref(),
                    };
                    if verify(d, &body, std::slice::from_ref(&secret), chrono::Utc::now().timestamp()).is_ok() {
                        verified.fetch_add(1, Ordering::SeqCst);
                    }
                    let always_fail = body.windows(11).any(|w| w == b"always_fail");
                    if always_fail || hits.fetch_add(1, Ordering::SeqCst) < 2 {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::OK
                    }
                }
            }),
        )
    };
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    // The same job the app runs (server::jobs), here with nothing else around it.
    let mut jobs = atlas_credits::server::jobs::Jobs::new();
    jobs.spawn(atlas_credits::server::jobs::SimDelivery::new(sim.clone()));

    // Enqueue one event straight through the store (the receiver is not a full app).
    enqueue_payment_event(t.store.as_ref(), "msg_retry", "pay_1").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while hits.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hits.load(Ordering::SeqCst), 3, "first attempt and two retries");
    assert_eq!(verified.load(Ordering::SeqCst), 3, "every attempt is signed");
    let times = times.lock().unwrap().clone();
    assert!(times[1] - times[0] >= Duration::from_millis(300));
    assert!(times[2] - times[1] >= Duration::from_millis(600));
    let d = &t.store.sim_deliveries().await.unwrap()[0];
    assert_eq!(
        (d.status.as_str(), d.attempts, d.last_status),
        ("delivered", 3, Some(200))
    );

    // A receiver that never answers 2xx: after the schedule runs out the delivery is given up.
    enqueue_payment_event(t.store.as_ref(), "msg_doomed", "always_fail").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = t
            .store
            .sim_deliveries()
            .await
            .unwrap()
            .into_iter()
            .find(|d| d.webhook_id == "msg_doomed")
            .unwrap();
        if d.status != "pending" {
            assert_eq!((d.status.as_str(), d.attempts, d.last_status), ("failed", 3, Some(500)));
            break;
        }
        assert!(Instant::now() < deadline, "never given up: {d:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Queues one `payment.succeeded` delivery due now, straight through the store.
async fn enqueue_payment_event(store: &dyn atlas_credits::server::store::Store, webhook_id: &str, payment_id: &str) {
    let payload = json!({ "id": webhook_id, "type": "payment.succeeded", "data": { "id": payment_id } }).to_string();
    store
        .sim_enqueue(&atlas_credits::server::store::NewSimDelivery {
            webhook_id: webhook_id.into(),
            event_type: "payment.succeeded".into(),
            payload,
            status: "pending",
            due_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
}
