//! Payment webhooks applied to orders, over real HTTP with signed deliveries on both backends:
//! a payment credits its order once however often and under whatever webhook-id it arrives; a
//! wrong amount is held; an unknown order is never credited; a failed payment fails the order
//! and a later success still credits it; other events are ignored; the `webhook_apply` job picks
//! up what the route left pending (never applied, or a transient failure) and gives up after
//! its last try; and the simulator's hosted checkout credits its order within moments.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use atlas_credits::model::{Cents, Credits, UserId};
use atlas_credits::server::jobs::webhook_apply::WebhookApplyReport;
use atlas_credits::server::jobs::{Job, WebhookApply};
use atlas_credits::server::service::orders::{self, PaidPayment, Via};
use atlas_credits::server::service::webhook_apply::MAX_ATTEMPTS;
use atlas_credits::server::store::{NewOrder, NewWebhookEvent, OrderRow, Recorded, Store, WebhookEventRow};
use atlas_credits::server::whop::client::{NewCheckout, NewPlan, NewProduct};
use atlas_credits::server::whop::simulator::ACCOUNT_ID;
use atlas_credits::server::whop::types::{Payment, PaymentStatus, PaymentSubstatus, Ref, Visibility, WebhookEnvelope};
use atlas_credits::server::whop::verify::sign;
use chrono::{DateTime, Utc};
use common::sim_shop::press;
use common::{user, Db, TestApp, TestDb, WEBHOOK_SECRET};
use secrecy::SecretString;
use serde_json::{json, Value};

both_backends!(
    a_payment_credits_its_order_once_whatever_the_delivery,
    an_order_is_found_by_its_checkout_alone,
    a_wrong_amount_is_held_not_credited,
    payments_without_a_matching_order_are_never_credited,
    malformed_payloads_fail_with_a_reason,
    a_failed_payment_then_a_success_credits,
    other_events_are_ignored,
    the_job_applies_an_event_the_route_never_applied,
    a_transient_failure_is_retried_by_the_job,
    the_job_gives_up_after_the_last_try,
    concurrent_deliveries_and_confirmations_grant_once,
    a_simulated_checkout_credits_its_order,
);

// ---- building and sending deliveries, shaped like the simulator's (whop/simulator/actions.rs)

/// A $7.50 order of 5,000 credits, with its checkout `ch_{key}` recorded.
async fn order_with_checkout(store: &dyn Store, u: UserId, key: &str) -> OrderRow {
    let (o, _) = store
        .create_order(&NewOrder {
            user_id: u,
            plan_name: "Starter".into(),
            credits_amount: 5000,
            price_cents: 750,
            currency: "usd".into(),
            payment_method: "whop",
            notes: None,
            client_key: Some(format!("key_{key}_0123456789")),
        })
        .await
        .unwrap();
    assert!(store
        .set_order_checkout(o.order_id(), &format!("ch_{key}"), "plan_starter")
        .await
        .unwrap());
    store.order_by_id(o.order_id()).await.unwrap().unwrap()
}

/// A paid $7.50 payment for `order` through its checkout, as Whop's v1 webhook data.
fn paid_payment(pay_id: &str, order: &OrderRow) -> Payment {
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Payment {
        id: pay_id.into(),
        status: Some(PaymentStatus::Paid),
        substatus: Some(PaymentSubstatus::Succeeded),
        total: Some(Cents(750)),
        subtotal: Some(Cents(750)),
        refunded_amount: None,
        currency: Some("usd".into()),
        metadata: Some(json!({
            "order_id": order.id.to_string(),
            "user_id": order.user_id.to_string(),
            "plan": "Starter",
            "credits": 5000,
        })),
        checkout_configuration_id: order.whop_checkout_id.clone(),
        plan: Some(Ref {
            id: "plan_starter".into(),
            metadata: None,
        }),
        product: None,
        user: Some(json!({ "id": "user_buyer", "email": "buyer@example.com" })),
        paid_at: Some(now.clone()),
        refunded_at: None,
        created_at: Some(now.clone()),
        updated_at: Some(now),
        failure_message: None,
        refunds: Some(Vec::new()),
        disputes: Some(Vec::new()),
    }
}

fn body(webhook_id: &str, event_type: &str, data: &Payment) -> String {
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

/// Posts a signed delivery; returns the answer's status and JSON.
async fn deliver(app: &TestApp, webhook_id: &str, body: &str) -> (u16, Value) {
    let now = Utc::now().timestamp();
    let signature = sign(
        &SecretString::from(WEBHOOK_SECRET.to_string()),
        webhook_id,
        now,
        body.as_bytes(),
    );
    let r = app
        .client
        .post(app.url("/api/webhooks/whop"))
        .header("content-type", "application/json")
        .header("webhook-id", webhook_id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn deliver_ok(app: &TestApp, webhook_id: &str, event_type: &str, data: &Payment) {
    let (status, json) = deliver(app, webhook_id, &body(webhook_id, event_type, data)).await;
    assert_eq!(status, 200, "{json}");
}

async fn event(store: &dyn Store, id: &str) -> WebhookEventRow {
    store
        .webhook_event(id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{id} stored"))
}

async fn order(store: &dyn Store, o: &OrderRow) -> OrderRow {
    store.order_by_id(o.order_id()).await.unwrap().unwrap()
}

/// The balance (checked equal to the ledger's sum) and how many purchase rows the user has.
async fn balance_and_purchases(store: &dyn Store, u: UserId) -> (Credits, usize) {
    let balance = common::checked_balance(store, u).await;
    let rows = store.list_transactions(u, None, 1000).await.unwrap();
    (balance, rows.iter().filter(|r| r.kind == "purchase").count())
}

fn assert_settled(e: &WebhookEventRow, status: &str, order: Option<&OrderRow>) {
    assert_eq!(e.status, status, "{e:?}");
    assert_eq!(e.order_id, order.map(|o| o.id), "{e:?}");
    assert!(e.processed_at.is_some(), "{e:?}");
    assert_eq!(e.attempts, 1, "{e:?}");
}

// ---- the route applies what it stores

async fn a_payment_credits_its_order_once_whatever_the_delivery(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let o = order_with_checkout(store, u, "once").await;
    let mut payment = paid_payment("pay_once", &o);

    // Created, then pending: recorded, the order stays pending.
    for (id, kind) in [("msg_created", "payment.created"), ("msg_pending", "payment.pending")] {
        let open = Payment {
            status: Some(PaymentStatus::Open),
            substatus: Some(PaymentSubstatus::Pending),
            paid_at: None,
            ..payment.clone()
        };
        deliver_ok(&app, id, kind, &open).await;
        assert_settled(&event(store, id).await, "processed", Some(&o));
    }
    assert_eq!(order(store, &o).await.payment_status, "pending");

    // Answered only after it is applied: credited by the time the 200 arrives.
    deliver_ok(&app, "msg_paid", "payment.succeeded", &payment).await;
    let paid = order(store, &o).await;
    assert_eq!(paid.payment_status, "paid");
    assert_eq!(paid.whop_payment_id.as_deref(), Some("pay_once"));
    assert!(paid.credited_at.is_some());
    assert_eq!(
        paid.paid_at.map(|t| t.timestamp()),
        DateTime::parse_from_rfc3339(payment.paid_at.as_deref().unwrap())
            .ok()
            .map(|t| t.timestamp()),
        "paid_at is Whop's"
    );
    assert_settled(&event(store, "msg_paid").await, "processed", Some(&o));

    // The same delivery again: acknowledged, not applied again.
    let (status, json) = deliver(&app, "msg_paid", &body("msg_paid", "payment.succeeded", &payment)).await;
    assert_eq!((status, &json["duplicate"]), (200, &json!(true)));
    assert_eq!(event(store, "msg_paid").await.attempts, 1);

    // The same payment under a new webhook-id (and with a numeric order id): applied, no new grant.
    payment.metadata = Some(json!({ "order_id": o.id }));
    deliver_ok(&app, "msg_paid_again", "payment.succeeded", &payment).await;
    assert_settled(&event(store, "msg_paid_again").await, "processed", Some(&o));
    assert_eq!(balance_and_purchases(store, u).await, (Credits(5000), 1));
}

async fn an_order_is_found_by_its_checkout_alone(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let o = order_with_checkout(store, u, "bych").await;
    let payment = Payment {
        metadata: None,
        ..paid_payment("pay_bych", &o)
    };
    deliver_ok(&app, "msg_bych", "payment.succeeded", &payment).await;
    assert_settled(&event(store, "msg_bych").await, "processed", Some(&o));
    assert_eq!(balance_and_purchases(store, u).await, (Credits(5000), 1));
}

async fn a_wrong_amount_is_held_not_credited(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let o = order_with_checkout(store, u, "short").await;
    let payment = Payment {
        total: Some(Cents(749)),
        ..paid_payment("pay_short", &o)
    };
    deliver_ok(&app, "msg_short", "payment.succeeded", &payment).await;

    // Settled: the payment waits in the unmatched queue for an admin, with the order's reason.
    let e = event(store, "msg_short").await;
    assert_settled(&e, "processed", Some(&o));
    let held = order(store, &o).await;
    let reason = held.hold_reason.clone().expect("the order keeps the hold reason");
    let queued = store.unmatched_by_payment("pay_short").await.unwrap().expect("queued");
    assert_eq!((queued.kind.as_str(), queued.order_id), ("held", Some(o.id)));
    assert_eq!(queued.reason, reason);
    assert!(reason.contains("$7.49") && reason.contains("$7.50"), "{reason}");
    assert_eq!((held.payment_status.as_str(), held.credited_at), ("pending", None));
    assert_eq!(balance_and_purchases(store, u).await, (Credits(0), 0));
}

async fn payments_without_a_matching_order_are_never_credited(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let o = order_with_checkout(store, u, "real").await;
    let other = order_with_checkout(store, u, "other").await;
    let base = paid_payment("pay_x", &o);

    let cases = [
        (
            "msg_unknown_id",
            Payment {
                metadata: Some(json!({ "order_id": "999999" })),
                checkout_configuration_id: None,
                ..base.clone()
            },
            "no matching order",
        ),
        (
            "msg_unknown_checkout",
            Payment {
                metadata: None,
                checkout_configuration_id: Some("ch_nobody".into()),
                ..base.clone()
            },
            "no matching order",
        ),
        (
            "msg_nothing",
            Payment {
                metadata: Some(json!({ "user_id": "1" })),
                checkout_configuration_id: None,
                ..base.clone()
            },
            "no matching order",
        ),
        (
            "msg_disagree",
            Payment {
                checkout_configuration_id: other.whop_checkout_id.clone(),
                ..base.clone()
            },
            "belongs to",
        ),
        (
            "msg_bad_id",
            Payment {
                metadata: Some(json!({ "order_id": format!("{} ", o.id) })),
                ..base.clone()
            },
            "metadata.order_id is not an order id",
        ),
    ];
    // Starter is sold at Whop as plan_starter: a payment for it is ours even without metadata.
    let starter = store
        .list_plans(false)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.plan_name == "Starter")
        .unwrap();
    store
        .set_plan_whop_ids(starter.id, None, Some("plan_starter"))
        .await
        .unwrap();
    for (id, payment, reason) in &cases {
        let payment = Payment {
            id: format!("pay_{id}"),
            ..payment.clone()
        };
        deliver_ok(&app, id, "payment.succeeded", &payment).await;
        let e = event(store, id).await;
        assert_eq!(e.status, "processed", "{id}: {e:?}");
        let queued = store.unmatched_by_payment(&payment.id).await.unwrap().expect("queued");
        assert_eq!(queued.kind, "no_order", "{id}");
        assert!(queued.reason.contains(reason), "{id}: {}", queued.reason);
    }
    assert_eq!(store.count_open_unmatched().await.unwrap(), cases.len() as i64);
    for o in [&o, &other] {
        assert_eq!(order(store, o).await.payment_status, "pending");
    }
    assert_eq!(balance_and_purchases(store, u).await, (Credits(0), 0));
}

async fn malformed_payloads_fail_with_a_reason(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    for (id, payload) in [
        (
            "msg_no_data",
            json!({ "id": "msg_no_data", "type": "payment.succeeded" }).to_string(),
        ),
        (
            "msg_bad_total",
            r#"{"id":"msg_bad_total","type":"payment.succeeded","data":{"id":"pay_1","total":"lots"}}"#.to_string(),
        ),
        (
            "msg_sub_cent",
            r#"{"id":"msg_sub_cent","type":"payment.failed","data":{"id":"pay_1","total":7.501}}"#.to_string(),
        ),
        ("msg_not_json", "payment.succeeded".to_string()),
        // A type that is not kept (stored as "unknown") cannot be acted on.
        (
            "msg_weird_type",
            r#"{"type":"payment.succeeded\nx","data":{}}"#.to_string(),
        ),
    ] {
        let (status, json) = deliver(&app, id, &payload).await;
        assert_eq!(status, 200, "{json}");
        let e = event(store, id).await;
        assert_eq!(e.status, "failed", "{id}: {e:?}");
        assert!(
            e.last_error.as_deref().unwrap_or_default().contains("malformed"),
            "{e:?}"
        );
    }
    // A paid payment with no total cannot be checked against its order: failed, not credited.
    let u = user(store, "ann@example.com").await.user_id();
    let o = order_with_checkout(store, u, "nototal").await;
    let p = Payment {
        total: None,
        ..paid_payment("pay_nototal", &o)
    };
    deliver_ok(&app, "msg_no_total", "payment.succeeded", &p).await;
    let e = event(store, "msg_no_total").await;
    assert_settled(&e, "failed", Some(&o));
    assert_eq!(e.last_error.as_deref(), Some("payment has no total"));
    assert_eq!(balance_and_purchases(store, u).await, (Credits(0), 0));
}

async fn a_failed_payment_then_a_success_credits(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let o = order_with_checkout(store, u, "retry").await;

    let declined = Payment {
        status: Some(PaymentStatus::Open),
        substatus: Some(PaymentSubstatus::Failed),
        paid_at: None,
        failure_message: Some("Your card was declined.".into()),
        ..paid_payment("pay_declined", &o)
    };
    deliver_ok(&app, "msg_declined", "payment.failed", &declined).await;
    assert_settled(&event(store, "msg_declined").await, "processed", Some(&o));
    let failed = order(store, &o).await;
    assert_eq!(failed.payment_status, "failed");
    assert_eq!(failed.failure_message.as_deref(), Some("Your card was declined."));

    // The buyer retries with another card: the order is credited after all.
    deliver_ok(
        &app,
        "msg_retried",
        "payment.succeeded",
        &paid_payment("pay_retried", &o),
    )
    .await;
    assert_settled(&event(store, "msg_retried").await, "processed", Some(&o));
    let paid = order(store, &o).await;
    assert_eq!(
        (paid.payment_status.as_str(), paid.failure_message.as_deref()),
        ("paid", None)
    );

    // A late failure (no message) of the first attempt leaves the paid order as it is.
    let late = Payment {
        failure_message: None,
        ..declined
    };
    deliver_ok(&app, "msg_late_failure", "payment.failed", &late).await;
    assert_settled(&event(store, "msg_late_failure").await, "processed", Some(&o));
    assert_eq!(order(store, &o).await, paid);
    assert_eq!(balance_and_purchases(store, u).await, (Credits(5000), 1));

    // Without Whop's message the reason is generic.
    let o2 = order_with_checkout(store, u, "generic").await;
    let no_message = Payment {
        status: Some(PaymentStatus::Open),
        failure_message: None,
        ..paid_payment("pay_generic", &o2)
    };
    deliver_ok(&app, "msg_generic", "payment.failed", &no_message).await;
    assert_eq!(
        order(store, &o2).await.failure_message.as_deref(),
        Some("Payment failed")
    );
}

async fn other_events_are_ignored(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let o = order_with_checkout(store, u, "ignored").await;
    let refund = json!({
        "id": "msg_refund", "api_version": "v1", "type": "membership.activated",
        "data": { "id": "mem_1" }
    })
    .to_string();
    let (status, _) = deliver(&app, "msg_refund", &refund).await;
    assert_eq!(status, 200);
    let e = event(store, "msg_refund").await;
    assert_eq!((e.status.as_str(), e.last_error), ("ignored", None));

    // payment.succeeded whose payment is not paid: recorded, nothing credited.
    let open = Payment {
        status: Some(PaymentStatus::Open),
        ..paid_payment("pay_open", &o)
    };
    deliver_ok(&app, "msg_open", "payment.succeeded", &open).await;
    assert_settled(&event(store, "msg_open").await, "processed", Some(&o));
    assert_eq!(order(store, &o).await.payment_status, "pending");
    assert_eq!(balance_and_purchases(store, u).await, (Credits(0), 0));
}

// ---- the retry job

fn new_event(id: &str, event_type: &str, payload: String) -> NewWebhookEvent {
    NewWebhookEvent {
        id: id.into(),
        event_type: event_type.into(),
        payload,
        received_at: Utc::now(),
    }
}

/// As if the process stopped right after storing the delivery: the job applies it.
async fn the_job_applies_an_event_the_route_never_applied(db: Db) {
    let Some(t) = TestDb::new(db).await else { return };
    let store = t.store.clone();
    let u = user(store.as_ref(), "ann@example.com").await.user_id();
    let o = order_with_checkout(store.as_ref(), u, "crash").await;
    let payload = body("msg_crash", "payment.succeeded", &paid_payment("pay_crash", &o));
    let recorded = store
        .record_webhook_event(&new_event("msg_crash", "payment.succeeded", payload))
        .await
        .unwrap();
    assert_eq!(recorded, Recorded::Inserted);
    let ignored = new_event("msg_other", "membership.activated", "{}".into());
    store.record_webhook_event(&ignored).await.unwrap();

    let job = WebhookApply::new(store.clone());
    let report = job.run_once().await.unwrap();
    assert_eq!(
        report,
        WebhookApplyReport {
            processed: 1,
            ignored: 1,
            ..Default::default()
        }
    );
    assert!(job.is_noteworthy(&report));
    assert_settled(&event(store.as_ref(), "msg_crash").await, "processed", Some(&o));
    assert_eq!(balance_and_purchases(store.as_ref(), u).await, (Credits(5000), 1));
    let idle = job.run_once().await.unwrap();
    assert_eq!(idle, WebhookApplyReport::default(), "nothing left pending");
    assert!(!job.is_noteworthy(&idle));
}

/// Makes every update of an order fail inside the database (standing in for a database that is
/// busy or down while the event itself is stored fine), until `heal`.
async fn break_order_updates(url: &str) {
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(
            "create trigger inject_failure before update on credit_orders \
             begin select raise(abort, 'injected failure'); end",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(
            "create function inject_failure() returns trigger language plpgsql as \
             $$ begin raise exception 'injected failure'; end $$",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "create trigger inject_failure before update on credit_orders \
             for each row execute function inject_failure()",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
}

async fn heal(url: &str) {
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query("drop trigger inject_failure").execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query("drop trigger inject_failure on credit_orders")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
}

async fn a_transient_failure_is_retried_by_the_job(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.clone();
    let u = user(store.as_ref(), "ann@example.com").await.user_id();
    let o = order_with_checkout(store.as_ref(), u, "flaky").await;

    break_order_updates(&app.db.url).await;
    let before = Utc::now();
    deliver_ok(&app, "msg_flaky", "payment.succeeded", &paid_payment("pay_flaky", &o)).await;
    let e = event(store.as_ref(), "msg_flaky").await;
    assert_eq!((e.status.as_str(), e.attempts), ("pending", 1), "{e:?}");
    assert!(
        e.last_error.as_deref().unwrap_or_default().contains("injected failure"),
        "{e:?}"
    );
    let next = e.next_attempt_at.expect("a retry time");
    assert!(
        next >= before + chrono::Duration::seconds(5) && next <= Utc::now() + chrono::Duration::seconds(5),
        "first retry 5 s later: {next}"
    );
    assert_eq!(balance_and_purchases(store.as_ref(), u).await, (Credits(0), 0));

    // Not due yet: the job leaves it alone.
    let job = WebhookApply::new(store.clone());
    assert_eq!(job.run_once().await.unwrap(), WebhookApplyReport::default());

    heal(&app.db.url).await;
    let report = job.run_at(next + chrono::Duration::seconds(1)).await.unwrap();
    assert_eq!(
        report,
        WebhookApplyReport {
            processed: 1,
            ..Default::default()
        }
    );
    let e = event(store.as_ref(), "msg_flaky").await;
    assert_eq!(
        (e.status.as_str(), e.attempts, e.order_id),
        ("processed", 2, Some(o.id))
    );
    assert_eq!(balance_and_purchases(store.as_ref(), u).await, (Credits(5000), 1));
}

async fn the_job_gives_up_after_the_last_try(db: Db) {
    let Some(t) = TestDb::new(db).await else { return };
    let store = t.store.clone();
    let u = user(store.as_ref(), "ann@example.com").await.user_id();
    let o = order_with_checkout(store.as_ref(), u, "doomed").await;
    let payload = body("msg_doomed", "payment.succeeded", &paid_payment("pay_doomed", &o));
    store
        .record_webhook_event(&new_event("msg_doomed", "payment.succeeded", payload))
        .await
        .unwrap();
    break_order_updates(&t.url).await;

    let job = WebhookApply::new(store.clone());
    // Whole milliseconds, as both databases store them exactly.
    let mut now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 3);
    let mut waits = Vec::new();
    for attempt in 1..MAX_ATTEMPTS {
        let report = job.run_at(now).await.unwrap();
        assert_eq!(report.retried, 1, "attempt {attempt}: {report:?}");
        let e = event(store.as_ref(), "msg_doomed").await;
        assert_eq!((e.status.as_str(), e.attempts), ("pending", attempt));
        let next = e.next_attempt_at.unwrap();
        waits.push((next - now).num_seconds());
        // Just before it is due, nothing happens.
        let early = job.run_at(next - chrono::Duration::milliseconds(1)).await.unwrap();
        assert_eq!(early, WebhookApplyReport::default());
        now = next;
    }
    assert_eq!(waits, [5, 30, 120, 600, 3600, 3600, 3600, 3600, 3600]);
    let report = job.run_at(now).await.unwrap();
    assert_eq!(report.failed, 1, "{report:?}");
    let e = event(store.as_ref(), "msg_doomed").await;
    assert_eq!((e.status.as_str(), e.attempts), ("failed", MAX_ATTEMPTS));
    let error = e.last_error.unwrap_or_default();
    assert!(
        error.starts_with("gave up after 10 attempts") && error.contains("injected failure"),
        "{error}"
    );
    assert_eq!(e.next_attempt_at, None);
    heal(&t.url).await;
    assert_eq!(
        job.run_at(now + chrono::Duration::days(1)).await.unwrap(),
        WebhookApplyReport::default(),
        "a failed event is not retried"
    );
    assert_eq!(balance_and_purchases(store.as_ref(), u).await, (Credits(0), 0));
}

// ---- concurrency and the simulator

/// 50 webhook deliveries of one payment under distinct webhook-ids, over HTTP, racing 50 direct
/// fulfils (the status page's confirmations) and the job: one grant.
async fn concurrent_deliveries_and_confirmations_grant_once(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let app = Arc::new(app);
    let store = app.db.store.clone();
    let u = user(store.as_ref(), "ann@example.com").await.user_id();
    let o = order_with_checkout(store.as_ref(), u, "race").await;
    let payment = paid_payment("pay_race", &o);
    let confirmed = PaidPayment::new("pay_race", Cents(750), "usd", Utc::now());

    let mut tasks = Vec::new();
    for i in 0..50 {
        let (app, payment) = (app.clone(), payment.clone());
        tasks.push(tokio::spawn(async move {
            let id = format!("msg_race_{i}");
            deliver_ok(&app, &id, "payment.succeeded", &payment).await;
        }));
        let (store, confirmed, id) = (store.clone(), confirmed.clone(), o.order_id());
        tasks.push(tokio::spawn(async move {
            orders::fulfil(store.as_ref(), id, &confirmed, Via::Confirmation)
                .await
                .unwrap();
        }));
    }
    let job = WebhookApply::new(store.clone());
    job.run_once().await.unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    job.run_once().await.unwrap();
    for i in 0..50 {
        let e = event(store.as_ref(), &format!("msg_race_{i}")).await;
        assert_eq!((e.status.as_str(), e.order_id), ("processed", Some(o.id)), "{e:?}");
    }
    assert_eq!(balance_and_purchases(store.as_ref(), u).await, (Credits(5000), 1));
}

/// Waits (up to 10 s) until `done` holds for the order; returns it and how long that took.
async fn wait_for(store: &dyn Store, o: &OrderRow, done: impl Fn(&OrderRow) -> bool) -> (OrderRow, Duration) {
    let start = Instant::now();
    loop {
        let row = order(store, o).await;
        if done(&row) {
            return (row, start.elapsed());
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "order never settled: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_simulated_checkout_credits_its_order(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let store = app.db.store.as_ref();
    let whop = &app.state.whop.client;
    let u = user(store, "ann@example.com").await.user_id();
    let product = whop
        .create_product(
            &NewProduct {
                title: "Atlas Credits".into(),
                account_id: Some(ACCOUNT_ID.into()),
                visibility: Some(Visibility::Hidden),
            },
            "product-test",
        )
        .await
        .unwrap();
    let plan = whop
        .create_plan(
            &NewPlan {
                account_id: Some(ACCOUNT_ID.into()),
                product_id: product.id,
                plan_type: "one_time".into(),
                initial_price: Cents(750),
                currency: "usd".into(),
                title: Some("Starter".into()),
                visibility: Some(Visibility::Hidden),
                metadata: None,
            },
            "plan-test",
        )
        .await
        .unwrap();

    let mut orders = Vec::new();
    for key in ["paid", "declined"] {
        let (o, _) = store
            .create_order(&NewOrder {
                user_id: u,
                plan_name: "Starter".into(),
                credits_amount: 5000,
                price_cents: 750,
                currency: "usd".into(),
                payment_method: "whop",
                notes: None,
                client_key: Some(format!("key_sim_{key}_0123456789")),
            })
            .await
            .unwrap();
        let ch = whop
            .create_checkout_configuration(
                &NewCheckout {
                    plan_id: plan.id.clone(),
                    metadata: json!({
                        "order_id": o.id.to_string(), "user_id": u.0.to_string(),
                        "plan": "Starter", "credits": 5000,
                    }),
                    redirect_url: Some(app.url(&format!("/payment/status?order={}", o.id))),
                },
                &format!("order-{}", o.id),
            )
            .await
            .unwrap();
        assert!(store.set_order_checkout(o.order_id(), &ch.id, &plan.id).await.unwrap());
        orders.push((o, ch.purchase_url.unwrap()));
    }

    let (paid_order, url) = &orders[0];
    press(&app, url, "pay").await;
    let (paid, took) = wait_for(store, paid_order, |o| o.credited_at.is_some()).await;
    println!("simulated payment credited {took:?} after pressing Pay");
    assert_eq!(paid.payment_status, "paid");
    assert!(paid.whop_payment_id.as_deref().unwrap_or_default().starts_with("pay_"));
    assert_eq!(balance_and_purchases(store, u).await, (Credits(5000), 1));

    let (declined_order, url) = &orders[1];
    press(&app, url, "decline").await;
    let (declined, _) = wait_for(store, declined_order, |o| o.payment_status == "failed").await;
    assert_eq!(declined.failure_message.as_deref(), Some("Your card was declined."));

    // Every delivery was applied: created and succeeded/failed events all processed.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = store.list_webhook_events().await.unwrap();
        let mut statuses = Vec::new();
        for (id, _, _) in &events {
            statuses.push(event(store, id).await.status);
        }
        if events.len() == 4 && statuses.iter().all(|s| s == "processed") {
            break;
        }
        assert!(Instant::now() < deadline, "{events:?} {statuses:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(balance_and_purchases(store, u).await, (Credits(5000), 1));
}
