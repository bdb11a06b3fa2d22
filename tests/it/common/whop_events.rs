//! Whop orders, payments, refunds and signed deliveries shaped like the simulator's
//! (whop/simulator/actions.rs), for tests that drive the webhook route over real HTTP.
#![allow(dead_code)]

use atlas_credits::model::{Cents, UserId};
use atlas_credits::server::store::{NewOrder, OrderRow, Store, WebhookEventRow};
use atlas_credits::server::whop::types::{
    Payment, PaymentStatus, PaymentSubstatus, PaymentSummary, Ref, Refund, RefundStatus, WebhookEnvelope,
};
use atlas_credits::server::whop::verify::sign;
use chrono::Utc;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::json;

use super::{TestApp, WEBHOOK_SECRET};

/// A Whop order of `credits` for `price` cents, with its checkout `ch_{key}` recorded.
/// A manual (request) order for Starter, 5,000 credits at $7.50, waiting for an admin.
pub async fn manual_order(store: &dyn Store, u: UserId, key: &str) -> OrderRow {
    let (o, _) = store
        .create_order(&NewOrder {
            user_id: u,
            plan_name: "Starter".into(),
            credits_amount: 5000,
            price_cents: 750,
            currency: "usd".into(),
            payment_method: "manual",
            notes: None,
            client_key: Some(format!("key_{key}_0123456789abcdef")),
        })
        .await
        .unwrap();
    o
}

pub async fn order(store: &dyn Store, u: UserId, key: &str, credits: i64, price: i64) -> OrderRow {
    let (o, _) = store
        .create_order(&NewOrder {
            user_id: u,
            plan_name: "Pro".into(),
            credits_amount: credits,
            price_cents: price,
            currency: "usd".into(),
            payment_method: "whop",
            notes: None,
            client_key: Some(format!("key_{key}_0123456789")),
        })
        .await
        .unwrap();
    assert!(store
        .set_order_checkout(o.order_id(), &format!("ch_{key}"), "plan_pro")
        .await
        .unwrap());
    store.order_by_id(o.order_id()).await.unwrap().unwrap()
}

pub fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn payment(pay_id: &str, o: &OrderRow) -> Payment {
    Payment {
        id: pay_id.into(),
        status: Some(PaymentStatus::Paid),
        substatus: Some(PaymentSubstatus::Succeeded),
        total: Some(Cents(o.price_cents)),
        subtotal: Some(Cents(o.price_cents)),
        refunded_amount: None,
        currency: Some("usd".into()),
        metadata: Some(json!({ "order_id": o.id.to_string(), "user_id": o.user_id.to_string() })),
        checkout_configuration_id: o.whop_checkout_id.clone(),
        plan: Some(Ref {
            id: "plan_pro".into(),
            metadata: None,
        }),
        product: None,
        user: Some(json!({ "id": "user_buyer", "email": "buyer@example.com" })),
        paid_at: Some(now()),
        refunded_at: None,
        created_at: Some(now()),
        updated_at: Some(now()),
        failure_message: None,
        refunds: Some(Vec::new()),
        disputes: Some(Vec::new()),
    }
}

/// A refund of `cents` of `p`. Its embedded payment carries no metadata, so only the `pay_` id
/// can lead to the order.
pub fn refund(rf_id: &str, p: &Payment, cents: i64, status: RefundStatus) -> Refund {
    Refund {
        id: rf_id.into(),
        amount: Cents(cents),
        currency: Some("usd".into()),
        status,
        created_at: Some(now()),
        payment: Some(PaymentSummary {
            metadata: None,
            ..PaymentSummary::from(p)
        }),
    }
}

pub fn body<T: Serialize>(webhook_id: &str, event_type: &str, data: &T) -> String {
    serde_json::to_string(&WebhookEnvelope {
        id: webhook_id.into(),
        api_version: Some("v1".into()),
        event_type: event_type.into(),
        timestamp: Some(Utc::now().to_rfc3339()),
        company_id: Some("biz_test".into()),
        data,
    })
    .unwrap()
}

/// Posts a signed delivery and checks it was accepted.
pub async fn deliver<T: Serialize>(app: &TestApp, webhook_id: &str, event_type: &str, data: &T) {
    let (status, text) = post_signed(app, webhook_id, event_type, data).await;
    assert_eq!(status, 200, "{text}");
}

/// Posts a signed delivery; answers the status and the body.
pub async fn post_signed<T: Serialize>(app: &TestApp, webhook_id: &str, event_type: &str, data: &T) -> (u16, String) {
    let body = body(webhook_id, event_type, data);
    let ts = Utc::now().timestamp();
    let signature = sign(
        &SecretString::from(WEBHOOK_SECRET.to_string()),
        webhook_id,
        ts,
        body.as_bytes(),
    );
    let r = app
        .client
        .post(app.url("/api/webhooks/whop"))
        .header("content-type", "application/json")
        .header("webhook-id", webhook_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

pub async fn event(store: &dyn Store, id: &str) -> WebhookEventRow {
    store.webhook_event(id).await.unwrap().expect("stored")
}

pub async fn reload(store: &dyn Store, o: &OrderRow) -> OrderRow {
    store.order_by_id(o.order_id()).await.unwrap().unwrap()
}
