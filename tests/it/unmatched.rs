//! Paid payments no order can take go to the unmatched queue (never credited on their own), over
//! real HTTP with signed deliveries on both backends; an admin attaches one to an account (it is
//! credited once, with an audit line) or resolves it; refunds and disputes of such a payment wait
//! for the admin's decision, and a refund that arrived before its payment applies the moment the
//! payment does.

use crate::common;

use atlas_credits::model::{Credits, UserId};
use atlas_credits::server::jobs::WebhookApply;
use atlas_credits::server::service::unmatched::{self, UnmatchedError};
use atlas_credits::server::store::{Store, UserRow};
use atlas_credits::server::whop::types::{Payment, Ref, RefundStatus};
use chrono::Utc;
use common::whop_events::{deliver, event, order, payment, refund, reload};
use common::{user, Db, TestApp};
use serde_json::json;

both_backends!(
    a_paid_payment_without_an_order_is_queued_not_credited,
    a_wrong_amount_is_held_and_queued,
    attaching_credits_once_with_an_audit_line,
    bad_admin_input_changes_nothing,
    a_refund_of_an_unmatched_payment_follows_the_admin,
    a_refund_before_its_payment_applies_the_moment_the_payment_does,
);

/// The Pro plan, sold at Whop as `plan_pro` under `prod_credits` (so its payments are ours).
async fn sell_pro(store: &dyn Store) {
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
}

/// A paid $32.50 Pro payment that names no order: no metadata, an unknown checkout.
fn orphan(pay_id: &str, plan: &str) -> Payment {
    Payment {
        id: pay_id.into(),
        metadata: None,
        checkout_configuration_id: Some("ch_unknown".into()),
        plan: Some(Ref {
            id: plan.into(),
            metadata: None,
        }),
        total: Some(atlas_credits::model::Cents(3250)),
        ..payment(pay_id, &placeholder_order())
    }
}

/// Only for `payment()`'s shape: an order row that is not in any database.
fn placeholder_order() -> atlas_credits::server::store::OrderRow {
    let now = Utc::now();
    atlas_credits::server::store::OrderRow {
        id: 0,
        user_id: 0,
        plan_name: "Pro".into(),
        credits_amount: 25_000,
        price_cents: 3250,
        currency: "usd".into(),
        status: "pending".into(),
        payment_method: "whop".into(),
        payment_status: "pending".into(),
        whop_checkout_id: None,
        whop_payment_id: None,
        whop_plan_id: None,
        notes: None,
        client_key: None,
        failure_message: None,
        hold_reason: None,
        created_at: now,
        updated_at: now,
        paid_at: None,
        credited_at: None,
        review_note: None,
        reviewed_by: None,
        reviewed_at: None,
    }
}

async fn admin(store: &dyn Store) -> UserRow {
    let a = user(store, "root@example.com").await;
    store
        .set_user_credentials(a.user_id(), "admin", "not-a-real-hash")
        .await
        .unwrap();
    store.user_by_id(a.user_id()).await.unwrap().unwrap()
}

async fn balance(store: &dyn Store, u: UserId) -> Credits {
    common::checked_balance(store, u).await
}

async fn audit_lines(store: &dyn Store) -> Vec<(String, String, String)> {
    store
        .list_audit(100)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.actor, a.action, a.subject))
        .collect()
}

async fn a_paid_payment_without_an_order_is_queued_not_credited(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    sell_pro(store).await;

    let p = orphan("pay_orphan", "plan_pro");
    deliver(&app, "msg_orphan", "payment.succeeded", &p).await;
    let e = event(store, "msg_orphan").await;
    assert_eq!(
        (e.status.as_str(), e.payment_id.as_deref()),
        ("processed", Some("pay_orphan"))
    );
    let row = store.unmatched_by_payment("pay_orphan").await.unwrap().expect("queued");
    assert_eq!(
        (
            row.kind.as_str(),
            row.status.as_str(),
            row.amount_cents,
            row.currency.as_str()
        ),
        ("no_order", "open", 3250, "usd")
    );
    assert_eq!(row.reason, "no matching order");
    assert_eq!(row.email.as_deref(), Some("buyer@example.com"));
    assert_eq!(row.checkout_id.as_deref(), Some("ch_unknown"));
    assert_eq!(row.whop_plan_id.as_deref(), Some("plan_pro"));
    assert_eq!(row.raw_event, e.payload, "the raw event is kept verbatim");

    // Repeats, under the same and a new webhook-id: still one row, nothing credited anywhere.
    deliver(&app, "msg_orphan", "payment.succeeded", &p).await;
    deliver(&app, "msg_orphan_2", "payment.succeeded", &p).await;
    assert_eq!(event(store, "msg_orphan_2").await.status, "processed");
    assert_eq!(store.count_open_unmatched().await.unwrap(), 1);
    assert_eq!(store.list_unmatched(None, None, 10).await.unwrap().len(), 1);

    // A payment for something else the Whop account sells is none of our business, and an
    // unpaid attempt without an order has nothing for an admin to act on.
    deliver(
        &app,
        "msg_other",
        "payment.succeeded",
        &orphan("pay_other", "plan_tshirt"),
    )
    .await;
    assert_eq!(event(store, "msg_other").await.status, "ignored");
    let mut failed = orphan("pay_failed", "plan_pro");
    failed.status = Some(atlas_credits::server::whop::types::PaymentStatus::Open);
    deliver(&app, "msg_failed", "payment.failed", &failed).await;
    assert_eq!(event(store, "msg_failed").await.status, "ignored");
    // Metadata naming an order that does not exist is ours by its own word.
    let mut ghost = orphan("pay_ghost", "plan_tshirt");
    ghost.metadata = Some(json!({ "order_id": "999999" }));
    deliver(&app, "msg_ghost", "payment.succeeded", &ghost).await;
    assert_eq!(event(store, "msg_ghost").await.status, "processed");
    assert_eq!(store.count_open_unmatched().await.unwrap(), 2);
}

async fn a_wrong_amount_is_held_and_queued(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let o = order(store, u, "short", 25_000, 3250).await;
    let mut p = payment("pay_short", &o);
    p.total = Some(atlas_credits::model::Cents(100));
    deliver(&app, "msg_short", "payment.succeeded", &p).await;
    assert_eq!(event(store, "msg_short").await.status, "processed");
    let held = reload(store, &o).await;
    assert!(held.hold_reason.is_some() && held.credited_at.is_none(), "{held:?}");
    let row = store.unmatched_by_payment("pay_short").await.unwrap().expect("queued");
    assert_eq!(
        (row.kind.as_str(), row.order_id, row.amount_cents),
        ("held", Some(o.id), 100)
    );
    assert_eq!(balance(store, u).await, Credits(0));
}

async fn attaching_credits_once_with_an_audit_line(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    sell_pro(store).await;
    let root = admin(store).await;
    let ann = user(store, "ann@example.com").await.user_id();
    deliver(&app, "msg_a", "payment.succeeded", &orphan("pay_a", "plan_pro")).await;
    let row = store.unmatched_by_payment("pay_a").await.unwrap().unwrap();

    let order = unmatched::attach(
        store,
        &root,
        row.id,
        "ANN@example.com",
        25_000,
        "  bought Pro via an old link ",
    )
    .await
    .unwrap();
    assert_eq!(
        (
            order.user_id,
            order.credits_amount,
            order.price_cents,
            order.payment_status.as_str()
        ),
        (ann.0, 25_000, 3250, "paid")
    );
    assert_eq!(order.whop_payment_id.as_deref(), Some("pay_a"));
    assert_eq!(balance(store, ann).await, Credits(25_000));
    let row = store.unmatched_by_id(row.id).await.unwrap().unwrap();
    assert_eq!(
        (row.status.as_str(), row.attached_order_id, row.resolved_by.as_deref()),
        ("attached", Some(order.id), Some("root@example.com"))
    );
    assert_eq!(row.resolution_note.as_deref(), Some("bought Pro via an old link"));
    assert_eq!(store.count_open_unmatched().await.unwrap(), 0);
    assert_eq!(
        audit_lines(store).await,
        [(
            "root@example.com".to_string(),
            "unmatched_payment.attach".to_string(),
            "payment pay_a".to_string()
        )]
    );

    // A second attach (a double click, another admin) changes nothing.
    let again = unmatched::attach(store, &root, row.id, "ann@example.com", 25_000, "again").await;
    assert!(matches!(again, Err(UnmatchedError::NotOpen(_))), "{again:?}");
    let resolve = unmatched::resolve(store, &root, row.id, "late").await;
    assert!(matches!(resolve, Err(UnmatchedError::NotOpen(_))), "{resolve:?}");
    // And the payment's redelivery does not credit it a second time.
    deliver(&app, "msg_a_again", "payment.succeeded", &orphan("pay_a", "plan_pro")).await;
    assert_eq!(balance(store, ann).await, Credits(25_000));
    assert_eq!(audit_lines(store).await.len(), 1);
}

async fn bad_admin_input_changes_nothing(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    sell_pro(store).await;
    let root = admin(store).await;
    let ann = user(store, "ann@example.com").await.user_id();
    deliver(&app, "msg_b", "payment.succeeded", &orphan("pay_b", "plan_pro")).await;
    let id = store.unmatched_by_payment("pay_b").await.unwrap().unwrap().id;

    for (email, credits, reason) in [
        ("ann@example.com", 25_000, ""),
        ("ann@example.com", 25_000, "   "),
        ("ann@example.com", 25_000, "line\nbreak"),
        ("ann@example.com", 25_000, "nul\0"),
        ("ann@example.com", 0, "ok"),
        ("ann@example.com", -5, "ok"),
        ("ann@example.com", 1_000_000_001, "ok"),
        ("nobody@example.com", 25_000, "ok"),
    ] {
        let r = unmatched::attach(store, &root, id, email, credits, reason).await;
        assert!(
            matches!(r, Err(UnmatchedError::Invalid(_) | UnmatchedError::UnknownUser(_))),
            "{email} {credits} {reason:?}: {r:?}"
        );
    }
    let long = "x".repeat(501);
    assert!(matches!(
        unmatched::resolve(store, &root, id, &long).await,
        Err(UnmatchedError::Invalid(_))
    ));
    assert!(matches!(
        unmatched::resolve(store, &root, id + 1000, "ok").await,
        Err(UnmatchedError::NotFound)
    ));
    assert_eq!(balance(store, ann).await, Credits(0));
    assert_eq!(store.unmatched_by_id(id).await.unwrap().unwrap().status, "open");
    assert!(audit_lines(store).await.is_empty());
    assert!(store.list_user_orders(ann, 10).await.unwrap().is_empty());
}

async fn a_refund_of_an_unmatched_payment_follows_the_admin(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    sell_pro(store).await;
    let root = admin(store).await;
    let ann = user(store, "ann@example.com").await.user_id();
    let jobs = WebhookApply::new(app.db.store.clone());

    // Payment A is refunded in half before anyone looks at it: the refund waits.
    let a = orphan("pay_a", "plan_pro");
    deliver(&app, "msg_a", "payment.succeeded", &a).await;
    deliver(
        &app,
        "msg_rf_a",
        "refund.updated",
        &refund("rf_a", &a, 1625, RefundStatus::Succeeded),
    )
    .await;
    let e = event(store, "msg_rf_a").await;
    assert_eq!(
        (e.status.as_str(), e.payment_id.as_deref()),
        ("pending", Some("pay_a")),
        "{e:?}"
    );
    // Attaching credits the payment and wakes the refund: due now, applied by the next step.
    let id = store.unmatched_by_payment("pay_a").await.unwrap().unwrap().id;
    unmatched::attach(store, &root, id, "ann@example.com", 25_000, "old link")
        .await
        .unwrap();
    let woken = event(store, "msg_rf_a").await;
    assert!(woken.next_attempt_at.is_some_and(|t| t <= Utc::now()), "{woken:?}");
    jobs.run_at(Utc::now()).await.unwrap();
    assert_eq!(event(store, "msg_rf_a").await.status, "processed");
    assert_eq!(balance(store, ann).await, Credits(12_500));

    // Payment B is refunded in full, and the admin resolves it (refunded at Whop): the refund
    // then has nothing to take back and settles.
    let b = orphan("pay_b", "plan_pro");
    deliver(&app, "msg_b", "payment.succeeded", &b).await;
    deliver(
        &app,
        "msg_rf_b",
        "refund.updated",
        &refund("rf_b", &b, 3250, RefundStatus::Succeeded),
    )
    .await;
    assert_eq!(event(store, "msg_rf_b").await.status, "pending");
    let id = store.unmatched_by_payment("pay_b").await.unwrap().unwrap().id;
    unmatched::resolve(store, &root, id, "refunded in Whop").await.unwrap();
    jobs.run_at(Utc::now()).await.unwrap();
    assert_eq!(event(store, "msg_rf_b").await.status, "processed");
    assert_eq!(balance(store, ann).await, Credits(12_500));
}

async fn a_refund_before_its_payment_applies_the_moment_the_payment_does(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let o = order(store, u, "early", 25_000, 3250).await;
    let p = payment("pay_early", &o);
    deliver(
        &app,
        "msg_rf",
        "refund.updated",
        &refund("rf_early", &p, 1625, RefundStatus::Succeeded),
    )
    .await;
    assert_eq!(event(store, "msg_rf").await.status, "pending");
    // The payment's own delivery applies the waiting refund too, before it answers: no job step.
    deliver(&app, "msg_pay", "payment.succeeded", &p).await;
    assert_eq!(event(store, "msg_rf").await.status, "processed");
    assert_eq!(balance(store, u).await, Credits(12_500));
    assert_eq!(reload(store, &o).await.payment_status, "partially_refunded");
}
