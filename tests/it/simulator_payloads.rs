//! Every webhook the simulator sends for every checkout outcome, and its answers to
//! `GET /payments/{id}`, `GET /payments` and `POST /payments/{id}/refund`, against the committed
//! tests/fixtures/simulator_payloads.json (ids and times normalised). That fixture is
//! type-checked against the official SDK's types (@whop/sdk 0.0.42) by
//! scripts/whop-sdk-requests/typecheck-payloads.mjs (`make check-sim-payloads`, part of `make
//! lint`), so the two together hold the simulator to Whop's shapes field for field. After a
//! deliberate change, `UPDATE_FIXTURES=1` rewrites the fixture; then run the type check.

use crate::common;

use std::collections::BTreeMap;

use atlas_credits::model::Cents;
use atlas_credits::server::whop::client::{NewCheckout, NewPlan, NewProduct};
use atlas_credits::server::whop::simulator::{CheckoutAction, DeliveryMode, Simulator, ACCOUNT_ID};
use atlas_credits::server::whop::types::{self, Visibility, WebhookEnvelope};
use common::{Db, TestApp};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/simulator_payloads.json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_simulator_payload_matches_the_fixture_the_sdk_types_check() {
    let Some(app) = TestApp::spawn_simulated(Db::Sqlite).await else {
        return;
    };
    let sim = app.state.whop.simulator.clone().unwrap();
    // The payloads are read from the simulator's queue; the app need not receive them.
    sim.set_delivery_mode(DeliveryMode {
        drop: true,
        ..DeliveryMode::default()
    });

    let mut webhooks = Vec::new();
    for action in CheckoutAction::ALL {
        let url = checkout(&app, action.key()).await;
        press(&app, &url, action.key()).await;
        webhooks.extend(new_webhooks(&app, action.key(), webhooks.len()).await);
    }

    // The payment API, on one more paid payment: retrieve, list (a page of two, so it has a
    // cursor), and a partial refund with the webhooks it sends.
    let url = checkout(&app, "api").await;
    press(&app, &url, "pay").await;
    webhooks.extend(new_webhooks(&app, "api_pay", webhooks.len()).await);
    let pay_id = webhooks.last().unwrap()["body"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let retrieved = api(&app, &sim, reqwest::Method::GET, &format!("/payments/{pay_id}"), None).await;
    let listed = api(&app, &sim, reqwest::Method::GET, "/payments?first=2", None).await;
    let refunded = api(
        &app,
        &sim,
        reqwest::Method::POST,
        &format!("/payments/{pay_id}/refund"),
        Some(json!({ "partial_amount": 2.5 })),
    )
    .await;
    webhooks.extend(new_webhooks(&app, "api_refund", webhooks.len()).await);

    let recorded = json!({
        "sdk": "@whop/sdk 0.0.42",
        "webhooks": webhooks,
        "api": [
            { "call": "GET /payments/{id}", "body": retrieved },
            { "call": "GET /payments", "body": listed },
            { "call": "POST /payments/{id}/refund", "body": refunded },
        ],
    });
    let text = serde_json::to_string_pretty(&Normaliser::default().value(recorded)).unwrap() + "\n";
    let update = std::env::var("UPDATE_FIXTURES").as_deref() == Ok("1");
    if update {
        std::fs::write(FIXTURE, &text).unwrap();
        eprintln!("rewrote {FIXTURE}: now run `make check-sim-payloads`");
    }

    every_payload_reads_with_the_read_types(&webhooks, &retrieved, &listed, &refunded);
    // The SDK check covers this too; it is the defect that matters most (orders are found by the
    // embedded payment's id, never by metadata), so it also fails here without Node.
    for w in &webhooks {
        if w["type"].as_str().unwrap().starts_with("dispute.") {
            let payment = w["body"]["data"]["payment"].as_object().unwrap();
            assert!(
                !payment.contains_key("metadata"),
                "a dispute's payment has no metadata at Whop: {w}"
            );
        }
    }
    if update {
        return;
    }
    let committed = std::fs::read_to_string(FIXTURE).unwrap_or_default();
    if committed != text {
        let line = committed
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(text.lines().count()));
        panic!(
            "the simulator's payloads differ from {FIXTURE} from line {}:\n  fixture: {}\n  now:     {}\n\
             If the change is meant, rerun with UPDATE_FIXTURES=1, then `make check-sim-payloads`.",
            line + 1,
            committed.lines().nth(line).unwrap_or("<end>"),
            text.lines().nth(line).unwrap_or("<end>"),
        );
    }
}

/// The app's real client and webhook route read all of it with the lenient types.
fn every_payload_reads_with_the_read_types(webhooks: &[Value], retrieved: &Value, listed: &Value, refunded: &Value) {
    for w in webhooks {
        let body = w["body"].to_string();
        let ok = match w["type"].as_str().unwrap() {
            t if t.starts_with("payment.") => serde_json::from_str::<WebhookEnvelope<types::Payment>>(&body).is_ok(),
            t if t.starts_with("refund.") => serde_json::from_str::<WebhookEnvelope<types::Refund>>(&body).is_ok(),
            t if t.starts_with("dispute.") => serde_json::from_str::<WebhookEnvelope<types::Dispute>>(&body).is_ok(),
            t => panic!("unexpected event type {t}"),
        };
        assert!(ok, "unreadable: {body}");
    }
    // From text, as the client reads them (money is parsed from the number's digits).
    let payment: types::Payment = serde_json::from_str(&retrieved.to_string()).unwrap();
    assert_eq!(payment.total, Some(Cents(750)));
    let page: types::Page<types::Payment> = serde_json::from_str(&listed.to_string()).unwrap();
    assert_eq!(page.data.len(), 2);
    assert!(page.page_info.end_cursor.is_some(), "seven payments: more pages");
    let after: types::Payment = serde_json::from_str(&refunded.to_string()).unwrap();
    assert_eq!(after.refunded_amount, Some(Cents(250)));
}

/// A product, a $7.50 plan and a checkout for it; returns the checkout's purchase URL.
async fn checkout(app: &TestApp, key: &str) -> String {
    let c = &app.state.whop.client;
    let product = c
        .create_product(
            &NewProduct {
                title: "Atlas Credits".into(),
                account_id: Some(ACCOUNT_ID.into()),
                visibility: Some(Visibility::Hidden),
            },
            &format!("product-{key}"),
        )
        .await
        .unwrap();
    let plan = c
        .create_plan(
            &NewPlan {
                account_id: Some(ACCOUNT_ID.into()),
                product_id: product.id,
                plan_type: "one_time".into(),
                initial_price: Cents(750),
                currency: "usd".into(),
                title: Some("Starter".into()),
                visibility: Some(Visibility::Hidden),
                metadata: Some(json!({ "credits": 5000 })),
            },
            &format!("plan-{key}"),
        )
        .await
        .unwrap();
    let ch = c
        .create_checkout_configuration(
            &NewCheckout {
                plan_id: plan.id,
                metadata: json!({ "order_id": "7", "user_id": "3" }),
                redirect_url: Some(format!("{}/pay/{key}", app.base)),
            },
            &format!("order-{key}"),
        )
        .await
        .unwrap();
    ch.purchase_url.unwrap()
}

/// Presses a button on the hosted checkout page, as a browser would.
async fn press(app: &TestApp, purchase_url: &str, action: &str) {
    let r = app
        .client
        .post(purchase_url)
        .header("origin", &app.base)
        .form(&[("action", action)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{action}: {}", r.text().await.unwrap_or_default());
}

/// The webhooks queued since the first `seen`, as `{case, type, body}`.
async fn new_webhooks(app: &TestApp, case: &str, seen: usize) -> Vec<Value> {
    let rows = app.db.store.sim_deliveries().await.unwrap();
    rows[seen..]
        .iter()
        .map(|d| {
            let body: Value = serde_json::from_str(&d.payload).unwrap();
            assert_eq!(body["type"], d.event_type.as_str());
            json!({ "case": case, "type": d.event_type, "body": body })
        })
        .collect()
}

/// One call to the simulated API, its answer as sent.
async fn api(app: &TestApp, sim: &Simulator, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = app
        .client
        .request(method, format!("{}{path}", sim.api_base()))
        .bearer_auth(sim.api_key.expose_secret())
        .header("idempotency-key", format!("fixture-{path}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// Makes a recording repeatable: every random id (`prefix_` + 16 hex digits) becomes
/// `prefix_N`, numbered by first appearance, so equal ids stay equal; every timestamp becomes one
/// fixed time. Keys are visited in sorted order, so the numbering never changes by itself.
#[derive(Default)]
struct Normaliser {
    ids: BTreeMap<String, String>,
    per_prefix: BTreeMap<String, usize>,
}

impl Normaliser {
    fn value(&mut self, v: Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.string(s)),
            Value::Array(items) => Value::Array(items.into_iter().map(|i| self.value(i)).collect()),
            Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, self.value(v))).collect()),
            other => other,
        }
    }

    fn string(&mut self, s: String) -> String {
        if chrono::DateTime::parse_from_rfc3339(&s).is_ok() {
            return "2026-07-20T12:00:00.000Z".into();
        }
        let Some((prefix, rest)) = s.split_once('_') else {
            return s;
        };
        let random = rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        if !random || prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_lowercase()) {
            return s;
        }
        if let Some(known) = self.ids.get(&s) {
            return known.clone();
        }
        let n = self.per_prefix.entry(prefix.to_owned()).or_default();
        *n += 1;
        let replacement = format!("{prefix}_{n}");
        self.ids.insert(s, replacement.clone());
        replacement
    }
}
