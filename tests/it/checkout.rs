//! Buying credits over real HTTP on both backends: opening Whop checkouts (against the simulator
//! and against a Whop that refuses connections), one order per client key, the manual request
//! flow, the Whop on/off switch and beta list, and the payment status page (who may see it, and
//! its confirmation with Whop when the webhook is lost).

use crate::common;

use std::time::{Duration, Instant};

use atlas_credits::model::UserId;
use atlas_credits::server::store::OrderRow;
use common::auth::Browser;
use common::{Db, TestApp};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

both_backends!(
    checkout_opens_on_the_simulator_and_pushes_the_plan_once,
    one_client_key_makes_one_order_and_one_checkout_under_concurrency,
    custom_priced_plans_use_the_request_flow,
    whop_switch_and_beta_list_gate_checkouts,
    payment_status_is_private_and_confirms_with_whop_when_the_webhook_is_lost,
    a_failing_whop_fails_the_order_cleanly,
);

const KEY_A: &str = "key-aaaaaaaaaaaaaaaa";
const KEY_B: &str = "key-bbbbbbbbbbbbbbbb";

async fn call(b: &Browser, app: &TestApp, endpoint: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = b.call(app, &format!("/api/{endpoint}"), form).await;
    let status = r.status();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

async fn plan_id(app: &TestApp, name: &str) -> i64 {
    let plans = app.db.store.list_plans(true).await.unwrap();
    plans.iter().find(|p| p.plan_name == name).unwrap().id
}

async fn start(b: &Browser, app: &TestApp, plan: &str, key: &str) -> (StatusCode, Value) {
    let id = plan_id(app, plan).await.to_string();
    call(b, app, "start_checkout", &[("plan_id", &id), ("client_key", key)]).await
}

async fn orders_of(app: &TestApp, email: &str) -> Vec<OrderRow> {
    let store = app.db.store.as_ref();
    let u = store.user_by_email(email).await.unwrap().unwrap();
    store.list_user_orders(UserId(u.id), 100).await.unwrap()
}

async fn sim_count(app: &TestApp, kind: &str) -> usize {
    app.db.store.sim_list(kind, 0, 1000).await.unwrap().len()
}

async fn sim_object(app: &TestApp, kind: &str, id: &str) -> Value {
    let row = app.db.store.sim_get(kind, id).await.unwrap().unwrap();
    serde_json::from_str(&row.data).unwrap()
}

async fn checkout_opens_on_the_simulator_and_pushes_the_plan_once(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let b = Browser::sign_up(&app, "buyer@example.com").await;
    let (s, url) = start(&b, &app, "Starter", KEY_A).await;
    assert_eq!(s, 200, "{url}");
    let url = url.as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!("{}/_sim/whop/checkout/ch_", app.base)),
        "{url}"
    );

    // The order: Whop, pending, copied from the plan, holding the checkout and plan ids.
    let orders = orders_of(&app, "buyer@example.com").await;
    assert_eq!(orders.len(), 1);
    let o = &orders[0];
    let ch = o.whop_checkout_id.clone().unwrap();
    assert!(url.ends_with(&ch), "{url} {ch}");
    assert_eq!(
        (
            o.payment_method.as_str(),
            o.payment_status.as_str(),
            o.plan_name.as_str()
        ),
        ("whop", "pending", "Starter")
    );
    assert_eq!(
        (o.credits_amount, o.price_cents, o.currency.as_str()),
        (5000, 750, "usd")
    );
    assert_eq!(o.client_key.as_deref(), Some(KEY_A));

    // The plan was pushed to Whop (product, then plan) and both ids stored.
    let plan = app
        .db
        .store
        .plan_by_id(plan_id(&app, "Starter").await)
        .await
        .unwrap()
        .unwrap();
    let whop_plan = plan.whop_plan_id.clone().unwrap();
    assert!(plan.whop_product_id.as_deref().unwrap().starts_with("prod_"));
    assert_eq!(o.whop_plan_id.as_deref(), Some(whop_plan.as_str()));
    let p = sim_object(&app, "plan", &whop_plan).await;
    assert_eq!(
        (p["initial_price"].as_f64(), p["plan_type"].as_str()),
        (Some(7.5), Some("one_time"))
    );

    // The checkout carries our metadata and comes back to the status page.
    let c = sim_object(&app, "checkout", &ch).await;
    assert_eq!(
        c["metadata"],
        json!({ "order_id": o.id.to_string(), "user_id": o.user_id.to_string(), "plan": "Starter", "credits": "5000" })
    );
    assert_eq!(
        c["redirect_url"].as_str().unwrap(),
        format!("{}/payment/status?order={}", app.base, o.id)
    );

    // The same key again: the same order and checkout.
    let (s, again) = start(&b, &app, "Starter", KEY_A).await;
    assert_eq!((s, again.as_str()), (StatusCode::OK, Some(url.as_str())));
    assert_eq!(orders_of(&app, "buyer@example.com").await.len(), 1);
    assert_eq!(sim_count(&app, "checkout").await, 1);

    // A second purchase of the plan reuses the product and plan on Whop.
    let (s, second) = start(&b, &app, "Starter", KEY_B).await;
    assert_eq!(s, 200, "{second}");
    assert_ne!(second.as_str(), Some(url.as_str()));
    assert_eq!(orders_of(&app, "buyer@example.com").await.len(), 2);
    assert_eq!(
        (
            sim_count(&app, "product").await,
            sim_count(&app, "plan").await,
            sim_count(&app, "checkout").await
        ),
        (1, 1, 2)
    );

    // A plain form post (no JS) is sent on to Whop's purchase URL.
    let id = plan_id(&app, "Starter").await.to_string();
    let r = b
        .client
        .post(app.url("/api/start_checkout"))
        .header("origin", &app.base)
        .header("accept", "text/html")
        .form(&[("plan_id", id.as_str()), ("client_key", KEY_A)])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(r.headers()["location"].to_str().unwrap(), url);

    // A key used for another plan, or by another user, is refused, not reused.
    let (s, _) = start(&b, &app, "Pro", KEY_A).await;
    assert_eq!(s, 409);
    let other = Browser::sign_up(&app, "other@example.com").await;
    let (s, _) = start(&other, &app, "Starter", KEY_A).await;
    assert_eq!(s, 409);
    assert!(orders_of(&app, "other@example.com").await.is_empty());

    // Bad keys and unknown plans.
    for key in ["short", "key-with spaces-in-it", &"k".repeat(65)] {
        let (s, _) = start(&b, &app, "Starter", key).await;
        assert_eq!(s, 400, "{key:?}");
    }
    let (s, _) = call(
        &b,
        &app,
        "start_checkout",
        &[("plan_id", "9999"), ("client_key", "key-cccccccccccccccc")],
    )
    .await;
    assert_eq!(s, 404);
    // Signed out.
    let (s, _) = start(&Browser::new(&app), &app, "Starter", "key-dddddddddddddddd").await;
    assert_eq!(s, 401);
}

async fn one_client_key_makes_one_order_and_one_checkout_under_concurrency(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let b = std::sync::Arc::new(Browser::sign_up(&app, "clicky@example.com").await);
    let app = std::sync::Arc::new(app);
    let id = plan_id(&app, "Pro").await.to_string();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (b, app, id) = (b.clone(), app.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            call(&b, &app, "start_checkout", &[("plan_id", &id), ("client_key", KEY_A)]).await
        }));
    }
    let mut urls = Vec::new();
    for t in tasks {
        let (s, url) = t.await.unwrap();
        assert_eq!(s, 200, "{url}");
        urls.push(url.as_str().unwrap().to_string());
    }
    urls.dedup();
    assert_eq!(urls.len(), 1, "{urls:?}");
    assert_eq!(orders_of(&app, "clicky@example.com").await.len(), 1);
    assert_eq!(
        (
            sim_count(&app, "product").await,
            sim_count(&app, "plan").await,
            sim_count(&app, "checkout").await
        ),
        (1, 1, 1)
    );
    assert!(app.state.checkout.locks.is_empty(), "locks are freed");
}

async fn custom_priced_plans_use_the_request_flow(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let b = Browser::sign_up(&app, "big@example.com").await;
    let (s, body) = start(&b, &app, "Enterprise", KEY_A).await;
    assert_eq!(s, 400);
    assert!(body.to_string().contains("Request"), "{body}");
    assert!(orders_of(&app, "big@example.com").await.is_empty());
    assert_eq!(sim_count(&app, "plan").await, 0);

    let id = plan_id(&app, "Enterprise").await.to_string();
    let form = [
        ("plan_id", id.as_str()),
        ("note", "  We need 2M credits a month.\r\nCall me.  "),
        ("client_key", KEY_B),
    ];
    let (s, order) = call(&b, &app, "request_plan", &form).await;
    assert_eq!(s, 200, "{order}");
    assert_eq!(order["payment_method"], "manual");
    assert_eq!(order["state"], json!({ "state": "awaiting_admin" }));
    assert_eq!(order["plan_name"], "Enterprise");
    assert_eq!(order["price"], 0);
    let rows = orders_of(&app, "big@example.com").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].payment_status.as_str(), rows[0].status.as_str()),
        ("pending", "pending")
    );
    assert_eq!(rows[0].notes.as_deref(), Some("We need 2M credits a month.\nCall me."));

    // Repeated: the same order.
    let (s, again) = call(&b, &app, "request_plan", &form).await;
    assert_eq!((s, &again["id"]), (StatusCode::OK, &order["id"]));
    assert_eq!(orders_of(&app, "big@example.com").await.len(), 1);

    // No note is fine; a bad note or key is refused; signed out is 401.
    let (s, _) = call(
        &b,
        &app,
        "request_plan",
        &[("plan_id", &id), ("client_key", "key-eeeeeeeeeeeeeeee")],
    )
    .await;
    assert_eq!(s, 200);
    let long = "x".repeat(1001);
    for (note, key) in [
        ("bell\u{7}", "key-ffffffffffffffff"),
        (long.as_str(), "key-gggggggggggggggg"),
        ("fine", "bad key"),
    ] {
        let (s, _) = call(
            &b,
            &app,
            "request_plan",
            &[("plan_id", &id), ("note", note), ("client_key", key)],
        )
        .await;
        assert_eq!(s, 400, "{note:?} {key:?}");
    }
    let (s, _) = call(
        &Browser::new(&app),
        &app,
        "request_plan",
        &[("plan_id", &id), ("client_key", "key-hhhhhhhhhhhhhhhh")],
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(orders_of(&app, "big@example.com").await.len(), 2);
}

/// Polls the credits page until `whop_enabled` is `want` (the settings cache is shortened).
async fn wait_whop_enabled(b: &Browser, app: &TestApp, want: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, page) = call(b, app, "get_credits_page", &[]).await;
        assert_eq!(s, 200, "{page}");
        if page["whop_enabled"] == want {
            return;
        }
        assert!(Instant::now() < deadline, "whop_enabled never became {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn whop_switch_and_beta_list_gate_checkouts(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let b = Browser::sign_up(&app, "Gated@Example.com").await;
    let store = app.db.store.as_ref();

    // The page for a signed-out visitor, and by default for the user: Whop on.
    let (s, page) = call(&Browser::new(&app), &app, "get_credits_page", &[]).await;
    assert_eq!(s, 200);
    assert_eq!(
        (page["whop_enabled"].as_bool(), page["balance"].is_null()),
        (Some(true), true)
    );
    let names: Vec<_> = page["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, [json!("Starter"), json!("Pro"), json!("Enterprise")]);
    let (_, page) = call(&b, &app, "get_credits_page", &[]).await;
    assert_eq!(
        (page["whop_enabled"].as_bool(), page["balance"].as_i64()),
        (Some(true), Some(0))
    );

    // Within the cache window (3 s by default) a change is not seen yet...
    store.set_setting("whop_payments_enabled", "false").await.unwrap();
    let (_, page) = call(&b, &app, "get_credits_page", &[]).await;
    assert_eq!(page["whop_enabled"], true, "read through the cache");
    // ...and after it, it is (shortened here instead of sleeping the window out).
    app.state.checkout.gate.set_ttl(Duration::from_millis(100));
    wait_whop_enabled(&b, &app, false).await;
    let (s, body) = start(&b, &app, "Starter", KEY_A).await;
    assert_eq!(s, 400);
    assert!(body.to_string().contains("Request"), "{body}");
    assert!(orders_of(&app, "gated@example.com").await.is_empty());
    // The request flow takes over for priced plans too.
    let id = plan_id(&app, "Starter").await.to_string();
    let (s, order) = call(&b, &app, "request_plan", &[("plan_id", &id), ("client_key", KEY_B)]).await;
    assert_eq!(s, 200, "{order}");
    assert_eq!(
        (order["payment_method"].as_str(), order["price"].as_i64()),
        (Some("manual"), Some(750))
    );

    // On again, with a beta list that does not name the user.
    store.set_setting("whop_payments_enabled", "true").await.unwrap();
    store
        .set_setting("whop_beta_emails", "someone@example.com,\nelse@example.com")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    wait_whop_enabled(&b, &app, false).await;
    let (s, _) = start(&b, &app, "Starter", "key-cccccccccccccccc").await;
    assert_eq!(s, 400);

    // Named (in another case): Whop again.
    store
        .set_setting("whop_beta_emails", "someone@example.com, GATED@example.COM")
        .await
        .unwrap();
    wait_whop_enabled(&b, &app, true).await;
    let (s, url) = start(&b, &app, "Starter", "key-dddddddddddddddd").await;
    assert_eq!(s, 200, "{url}");
    // A signed-out visitor is not on any list.
    let (_, page) = call(&Browser::new(&app), &app, "get_credits_page", &[]).await;
    assert_eq!(page["whop_enabled"], false);
    // The user's orders are on their page, newest first.
    let (_, page) = call(&b, &app, "get_credits_page", &[]).await;
    let methods: Vec<_> = page["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["payment_method"].clone())
        .collect();
    assert_eq!(methods, [json!("whop"), json!("manual")]);
}

async fn status(b: &Browser, app: &TestApp, order: i64) -> (StatusCode, Value) {
    call(b, app, "get_payment_status", &[("order_id", &order.to_string())]).await
}

async fn payment_status_is_private_and_confirms_with_whop_when_the_webhook_is_lost(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let owner = Browser::sign_up(&app, "owner@example.com").await;
    let stranger = Browser::sign_up(&app, "stranger@example.com").await;
    let admin = Browser::sign_up(&app, "root@example.com").await;
    let store = app.db.store.as_ref();
    let root = store.user_by_email("root@example.com").await.unwrap().unwrap();
    store
        .set_user_credentials(root.user_id(), "admin", root.password_hash.as_deref().unwrap())
        .await
        .unwrap();

    // Every webhook is lost: only the status page's confirmation can credit the order.
    let sim = app.state.whop.simulator.clone().unwrap();
    let r = app
        .client
        .put(app.url("/_sim/whop/control/delivery"))
        .bearer_auth(sim.api_key.expose_secret())
        .json(&json!({ "drop": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let (s, url) = start(&owner, &app, "Starter", KEY_A).await;
    assert_eq!(s, 200, "{url}");
    let order = orders_of(&app, "owner@example.com").await[0].id;

    let (s, view) = status(&owner, &app, order).await;
    assert_eq!(s, 200, "{view}");
    assert_eq!(view["order"]["state"], json!({ "state": "awaiting_payment" }));
    assert_eq!(view["balance"], 0);
    // Others cannot tell it exists: the same 404 as an unknown id.
    let (s, _) = status(&stranger, &app, order).await;
    assert_eq!(s, 404);
    let (s, _) = status(&stranger, &app, order + 1000).await;
    assert_eq!(s, 404);
    let (s, _) = status(&Browser::new(&app), &app, order).await;
    assert_eq!(s, 401);
    let (s, view) = status(&admin, &app, order).await;
    assert_eq!((s, &view["order"]["id"]), (StatusCode::OK, &json!(order)));

    // Pay on the simulator's hosted page.
    let r = app
        .client
        .post(url.as_str().unwrap())
        .header("origin", &app.base)
        .form(&[("action", "pay")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    // Polled like the page does, the order is credited through the confirmation with Whop.
    let deadline = Instant::now() + Duration::from_secs(20);
    let view = loop {
        let (s, view) = status(&owner, &app, order).await;
        assert_eq!(s, 200, "{view}");
        if view["order"]["state"] == json!({ "state": "credited" }) {
            break view;
        }
        assert_eq!(view["order"]["state"], json!({ "state": "awaiting_payment" }));
        assert!(Instant::now() < deadline, "never credited: {view}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(view["balance"], 5000);
    let o = store
        .order_by_id(atlas_credits::model::OrderId(order))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.payment_status, "paid");
    assert!(o.whop_payment_id.as_deref().unwrap().starts_with("pay_"));
    // One grant: more polls change nothing.
    for _ in 0..3 {
        let (_, view) = status(&owner, &app, order).await;
        assert_eq!(view["balance"], 5000);
    }
    let txs = store.list_transactions(UserId(o.user_id), None, 10).await.unwrap();
    assert_eq!(txs.len(), 1);
}

async fn a_failing_whop_fails_the_order_cleanly(db: Db) {
    // Live mode pointed at 127.0.0.1:9, which refuses connections.
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let b = Browser::sign_up(&app, "unlucky@example.com").await;
    let (s, body) = start(&b, &app, "Starter", KEY_A).await;
    // AppError::Unavailable: "temporarily unavailable, please try again" (no internals).
    assert_eq!((s, body), (StatusCode::SERVICE_UNAVAILABLE, json!("Unavailable")));
    let orders = orders_of(&app, "unlucky@example.com").await;
    assert_eq!(orders.len(), 1);
    let o = &orders[0];
    assert_eq!(o.payment_status, "failed");
    assert_eq!(o.failure_message.as_deref(), Some("Whop could not be reached"));
    assert_eq!((o.whop_checkout_id.as_deref(), o.whop_plan_id.as_deref()), (None, None));
    // Nothing half-made: the plan holds no Whop ids.
    let plan = app
        .db
        .store
        .plan_by_id(plan_id(&app, "Starter").await)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((plan.whop_product_id, plan.whop_plan_id), (None, None));

    // The owner sees the failure with its reason.
    let (s, view) = status(&b, &app, o.id).await;
    assert_eq!(s, 200);
    assert_eq!(
        view["order"]["state"],
        json!({ "state": "failed", "reason": "Whop could not be reached" })
    );
    // The failed key keeps its answer; a new key is a new attempt (a new order).
    let (s, body) = start(&b, &app, "Starter", KEY_A).await;
    assert_eq!(s, 409, "{body}");
    assert!(body.to_string().contains("Whop could not be reached"), "{body}");
    let (s, _) = start(&b, &app, "Starter", KEY_B).await;
    assert_eq!(s, 503);
    assert_eq!(orders_of(&app, "unlucky@example.com").await.len(), 2);
}
