//! A fresh paid delivery in one transaction (`webhook_apply::deliver`, `Store::deliver_payment`),
//! on both backends: stored, credited and settled together; a repeat, even a concurrent one,
//! has no second effect; a delivery the transaction does not credit writes nothing there and
//! is stored and applied step by step (failed or held as before); a failure before or after the
//! commit leaves nothing or everything, and Whop's retry is then a duplicate or a fresh credit.

use crate::common;
use crate::faulty_store::{Faults, FaultyStore, Method, When};

use std::sync::Arc;

use atlas_credits::model::OrderId;
use atlas_credits::server::service::webhook_apply::{deliver, Delivery};
use atlas_credits::server::store::{Delivered, Fulfilment, NewWebhookEvent, Store};
use atlas_credits::server::whop::types::RefundStatus;
use chrono::Utc;
use common::whop_events::{body, deliver as post_delivery, event, order, payment, post_signed, refund, reload};
use common::{checked_balance, user, Db, TestApp, TestDb};

both_backends!(
    a_paid_delivery_is_stored_credited_and_settled_in_one_go,
    concurrent_repeats_credit_once,
    what_the_transaction_does_not_credit_it_does_not_write,
    deliveries_it_declines_are_stored_and_recorded_step_by_step,
    a_failure_around_the_commit_leaves_nothing_or_everything,
    a_refund_waiting_for_its_payment_applies_with_the_credit,
    concurrent_deliveries_keep_their_own_outcomes,
    a_credit_past_the_balance_limit_is_declined_whole
);

fn paid_event(id: &str, p: &atlas_credits::server::whop::types::Payment) -> NewWebhookEvent {
    NewWebhookEvent {
        id: id.into(),
        event_type: "payment.succeeded".into(),
        payload: body(id, "payment.succeeded", p),
        received_at: Utc::now(),
    }
}

async fn purchases(store: &dyn Store, u: atlas_credits::model::UserId) -> usize {
    let rows = store.list_transactions(u, None, 100).await.unwrap();
    rows.iter().filter(|t| t.kind == "purchase").count()
}

async fn a_paid_delivery_is_stored_credited_and_settled_in_one_go(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let buyer = user(store, "buyer@example.com").await;
    let o = order(store, buyer.user_id(), "one", 5_000, 750).await;
    let p = payment("pay_one", &o);
    let (status, text) = post_signed(&app, "msg_one", "payment.succeeded", &p).await;
    assert_eq!((status, text.contains("duplicate")), (200, false), "{text}");

    let e = event(store, "msg_one").await;
    assert_eq!(e.status, "processed");
    assert_eq!(e.attempts, 1);
    assert_eq!(e.last_error, None);
    assert_eq!(e.order_id, Some(o.id));
    assert_eq!(e.payment_id.as_deref(), Some("pay_one"));
    assert!(e.processed_at.is_some() && e.next_attempt_at.is_none());
    let o = reload(store, &o).await;
    assert_eq!(o.payment_status, "paid");
    assert_eq!(o.whop_payment_id.as_deref(), Some("pay_one"));
    assert!(o.credited_at.is_some());
    assert_eq!(checked_balance(store, buyer.user_id()).await.0, 5_000);
    assert_eq!(purchases(store, buyer.user_id()).await, 1);

    // Whop's redelivery of the same message: acknowledged, nothing more.
    let (status, text) = post_signed(&app, "msg_one", "payment.succeeded", &p).await;
    assert_eq!((status, text.contains("duplicate")), (200, true), "{text}");
    assert_eq!(checked_balance(store, buyer.user_id()).await.0, 5_000);
    assert_eq!(purchases(store, buyer.user_id()).await, 1);
}

/// Eight copies of one message at once, and eight messages about one payment at once: one
/// credit either way. Copies of one message are answered once fresh, else "duplicate" (the
/// webhook id is the key, in the database).
async fn concurrent_repeats_credit_once(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let app = Arc::new(app);
    let store = app.db.store.clone();
    let buyer = user(store.as_ref(), "buyer@example.com").await;
    let o = order(store.as_ref(), buyer.user_id(), "race", 5_000, 750).await;
    let p = payment("pay_race", &o);
    let copies = (0..8).map(|_| {
        let (app, p) = (app.clone(), p.clone());
        tokio::spawn(async move { post_signed(&app, "msg_race", "payment.succeeded", &p).await })
    });
    let mut fresh = 0;
    for copy in copies {
        let (status, text) = copy.await.unwrap();
        assert_eq!(status, 200, "{text}");
        if !text.contains("duplicate") {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1, "one copy is stored, the others are repeats");
    assert_eq!(event(store.as_ref(), "msg_race").await.status, "processed");
    assert_eq!(checked_balance(store.as_ref(), buyer.user_id()).await.0, 5_000);
    assert_eq!(purchases(store.as_ref(), buyer.user_id()).await, 1);

    let o2 = order(store.as_ref(), buyer.user_id(), "race2", 3_000, 500).await;
    let p2 = payment("pay_race2", &o2);
    let messages = (0..8).map(|i| {
        let (app, p2) = (app.clone(), p2.clone());
        tokio::spawn(async move { post_signed(&app, &format!("msg_race2_{i}"), "payment.succeeded", &p2).await })
    });
    for message in messages {
        let (status, text) = message.await.unwrap();
        assert_eq!((status, text.contains("duplicate")), (200, false), "{text}");
    }
    for i in 0..8 {
        assert_eq!(
            event(store.as_ref(), &format!("msg_race2_{i}")).await.status,
            "processed"
        );
    }
    assert_eq!(checked_balance(store.as_ref(), buyer.user_id()).await.0, 8_000);
    assert_eq!(purchases(store.as_ref(), buyer.user_id()).await, 2);
}

/// At the store: a fulfilment that would not credit (wrong amount: a hold; no such order; a
/// payment credited before) rolls back the event row and the hold with it.
async fn what_the_transaction_does_not_credit_it_does_not_write(db: Db) {
    let Some(test_db) = TestDb::new(db).await else { return };
    let store = test_db.store.as_ref();
    let buyer = user(store, "buyer@example.com").await;
    let o = order(store, buyer.user_id(), "held", 5_000, 750).await;
    let p = payment("pay_held", &o);
    let fulfilment = |order_id: OrderId, amount_cents: i64| Fulfilment {
        order_id,
        payment_id: "pay_held".into(),
        amount_cents,
        currency: "usd".into(),
        paid_at: Utc::now(),
    };
    let e = paid_event("msg_held", &p);
    for f in [fulfilment(o.order_id(), 700), fulfilment(OrderId(o.id + 1_000), 750)] {
        let done = store.deliver_payment(&e, &f, Utc::now()).await.unwrap();
        assert!(matches!(done, Delivered::NotCredited(_)), "{done:?}");
        assert!(store.webhook_event("msg_held").await.unwrap().is_none());
        let o = reload(store, &o).await;
        assert_eq!((o.hold_reason, o.credited_at), (None, None));
    }
    assert_eq!(checked_balance(store, buyer.user_id()).await.0, 0);

    // Credited once; a second message about the same payment is not credited here.
    let done = store
        .deliver_payment(&e, &fulfilment(o.order_id(), 750), Utc::now())
        .await
        .unwrap();
    assert!(matches!(done, Delivered::Credited { .. }), "{done:?}");
    let again = paid_event("msg_held_again", &p);
    let done = store
        .deliver_payment(&again, &fulfilment(o.order_id(), 750), Utc::now())
        .await
        .unwrap();
    assert!(matches!(done, Delivered::NotCredited(_)), "{done:?}");
    assert!(store.webhook_event("msg_held_again").await.unwrap().is_none());
    let done = store
        .deliver_payment(&e, &fulfilment(o.order_id(), 750), Utc::now())
        .await
        .unwrap();
    assert!(matches!(done, Delivered::Duplicate), "{done:?}");
    assert_eq!(checked_balance(store, buyer.user_id()).await.0, 5_000);
    assert_eq!(purchases(store, buyer.user_id()).await, 1);
}

/// Over HTTP, what the one transaction declines still ends stored with its outcome: a paid
/// payment for the wrong amount is held for an admin and one naming no order is queued as
/// unmatched (both events processed), a garbled payload is failed with the reason, a payment
/// credited before by another message is processed without a second credit.
async fn deliveries_it_declines_are_stored_and_recorded_step_by_step(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let buyer = user(store, "buyer@example.com").await;

    let o = order(store, buyer.user_id(), "short", 5_000, 750).await;
    let mut p = payment("pay_short", &o);
    p.total = Some(atlas_credits::model::Cents(700));
    assert_eq!(
        deliver(store, &paid_event("msg_short", &p), Utc::now()).await.unwrap(),
        Delivery::NotTaken
    );
    assert!(store.webhook_event("msg_short").await.unwrap().is_none());
    post_delivery(&app, "msg_short", "payment.succeeded", &p).await;
    let e = event(store, "msg_short").await;
    assert_eq!(e.status, "processed");
    assert!(reload(store, &o).await.hold_reason.is_some());
    assert!(store.unmatched_by_payment("pay_short").await.unwrap().is_some());

    let mut stray = payment("pay_stray", &o);
    stray.metadata = Some(serde_json::json!({ "order_id": (o.id + 1_000).to_string() }));
    stray.checkout_configuration_id = None;
    post_delivery(&app, "msg_stray", "payment.succeeded", &stray).await;
    assert_eq!(event(store, "msg_stray").await.status, "processed");
    assert!(store.unmatched_by_payment("pay_stray").await.unwrap().is_some());

    let garbled = serde_json::json!({ "id": 5, "status": "paid" });
    post_delivery(&app, "msg_garbled", "payment.succeeded", &garbled).await;
    let e = event(store, "msg_garbled").await;
    assert_eq!(e.status, "failed");
    assert!(e.last_error.unwrap().starts_with("malformed payment.succeeded payload"));

    let o2 = order(store, buyer.user_id(), "twice", 3_000, 500).await;
    let p2 = payment("pay_twice", &o2);
    post_delivery(&app, "msg_twice_1", "payment.succeeded", &p2).await;
    post_delivery(&app, "msg_twice_2", "payment.succeeded", &p2).await;
    for id in ["msg_twice_1", "msg_twice_2"] {
        assert_eq!(event(store, id).await.status, "processed", "{id}");
    }
    assert_eq!(checked_balance(store, buyer.user_id()).await.0, 3_000);
    assert_eq!(purchases(store, buyer.user_id()).await, 1);
}

/// The transaction failing before it commits leaves nothing (Whop's retry then credits); the
/// commit's answer lost after it committed leaves everything (the retry is a duplicate).
async fn a_failure_around_the_commit_leaves_nothing_or_everything(db: Db) {
    let Some(test_db) = TestDb::new(db).await else { return };
    let faults = Arc::new(Faults::default());
    let store: Arc<dyn Store> = Arc::new(FaultyStore {
        inner: test_db.store.clone(),
        faults: faults.clone(),
    });
    let store = store.as_ref();
    let buyer = user(store, "buyer@example.com").await;

    let o = order(store, buyer.user_id(), "before", 5_000, 750).await;
    let e = paid_event("msg_before", &payment("pay_before", &o));
    faults.arm(Method::DeliverPayment, "msg_before", When::Before);
    assert!(deliver(store, &e, Utc::now()).await.is_err());
    assert!(store.webhook_event("msg_before").await.unwrap().is_none());
    assert_eq!(checked_balance(store, buyer.user_id()).await.0, 0);
    assert_eq!(deliver(store, &e, Utc::now()).await.unwrap(), Delivery::Credited);
    assert_eq!(checked_balance(store, buyer.user_id()).await.0, 5_000);

    let o = order(store, buyer.user_id(), "after", 3_000, 500).await;
    let e = paid_event("msg_after", &payment("pay_after", &o));
    faults.arm(Method::DeliverPayment, "msg_after", When::After);
    assert!(deliver(store, &e, Utc::now()).await.is_err());
    assert_eq!(event(store, "msg_after").await.status, "processed");
    assert_eq!(checked_balance(store, buyer.user_id()).await.0, 8_000);
    assert_eq!(deliver(store, &e, Utc::now()).await.unwrap(), Delivery::Duplicate);
    assert_eq!(checked_balance(store, buyer.user_id()).await.0, 8_000);
    assert_eq!(purchases(store, buyer.user_id()).await, 2);
    assert_eq!(faults.fired.load(std::sync::atomic::Ordering::Relaxed), 2);
}

/// A refund that arrived before its payment waits; the payment's one-transaction credit wakes
/// it and it is applied before the payment's answer.
async fn a_refund_waiting_for_its_payment_applies_with_the_credit(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let buyer = user(store, "buyer@example.com").await;
    let o = order(store, buyer.user_id(), "early", 5_000, 1_000).await;
    let p = payment("pay_early", &o);
    let r = refund("rf_early", &p, 500, RefundStatus::Succeeded);
    post_delivery(&app, "msg_early_refund", "refund.created", &r).await;
    assert_eq!(event(store, "msg_early_refund").await.status, "pending");

    post_delivery(&app, "msg_early_pay", "payment.succeeded", &p).await;
    assert_eq!(event(store, "msg_early_pay").await.status, "processed");
    assert_eq!(event(store, "msg_early_refund").await.status, "processed");
    assert_eq!(checked_balance(store, buyer.user_id()).await.0, 2_500);
}

/// Deliveries at once (on SQLite, batched into one commit with a savepoint each): the ones that
/// do not credit (a wrong amount, no such order) write nothing and do not stop the others; a
/// copy of a delivery sent at the same moment is one credit and one duplicate, whichever is
/// written first.
async fn concurrent_deliveries_keep_their_own_outcomes(db: Db) {
    let Some(test_db) = TestDb::new(db).await else { return };
    let store = test_db.store.clone();
    let buyer = user(store.as_ref(), "buyer@example.com").await;
    let mut jobs = Vec::new();
    for i in 0..8 {
        let o = order(store.as_ref(), buyer.user_id(), &format!("b{i}"), 100, 10).await;
        let p = payment(&format!("pay_b{i}"), &o);
        let f = |order_id: OrderId, amount_cents: i64| Fulfilment {
            order_id,
            payment_id: p.id.clone(),
            amount_cents,
            currency: "usd".into(),
            paid_at: Utc::now(),
        };
        let e = paid_event(&format!("msg_b{i}"), &p);
        jobs.push(("credit", e.clone(), f(o.order_id(), 10)));
        jobs.push(("copy", e, f(o.order_id(), 10)));
        jobs.push(("held", paid_event(&format!("msg_b{i}_held"), &p), f(o.order_id(), 9)));
        jobs.push((
            "no order",
            paid_event(&format!("msg_b{i}_stray"), &p),
            f(OrderId(o.id + 10_000), 10),
        ));
    }
    let runs = jobs.into_iter().map(|(kind, e, f)| {
        let store = store.clone();
        tokio::spawn(async move {
            (
                kind,
                e.id.clone(),
                store.deliver_payment(&e, &f, Utc::now()).await.unwrap(),
            )
        })
    });
    let (mut credited, mut duplicates) = (0, 0);
    for run in runs {
        let (kind, id, done) = run.await.unwrap();
        match (kind, done) {
            ("credit" | "copy", Delivered::Credited { .. }) => credited += 1,
            ("credit" | "copy", Delivered::Duplicate) => duplicates += 1,
            ("held" | "no order", Delivered::NotCredited(_)) => {
                assert!(store.webhook_event(&id).await.unwrap().is_none(), "{id}")
            }
            (kind, done) => panic!("{kind} {id}: {done:?}"),
        }
    }
    assert_eq!((credited, duplicates), (8, 8));
    for i in 0..8 {
        assert_eq!(event(store.as_ref(), &format!("msg_b{i}")).await.status, "processed");
    }
    assert_eq!(checked_balance(store.as_ref(), buyer.user_id()).await.0, 800);
    assert_eq!(purchases(store.as_ref(), buyer.user_id()).await, 8);
}

/// A purchase that would take the balance past `i64::MAX` is declined by the transaction whole:
/// no balance change, no ledger row, no event, the order not credited.
async fn a_credit_past_the_balance_limit_is_declined_whole(db: Db) {
    use atlas_credits::model::{Credits, EntryKind};
    use atlas_credits::server::service::ledger::{self, Actor, LedgerEntry};
    let Some(test_db) = TestDb::new(db).await else { return };
    let store = test_db.store.as_ref();
    let buyer = user(store, "rich@example.com").await;
    let grant = LedgerEntry::new(
        buyer.user_id(),
        EntryKind::ManualGrant,
        Credits(i64::MAX - 4_999),
        "test",
        "near_max",
        Actor::System,
    )
    .unwrap();
    ledger::post(store, &grant).await.unwrap();
    let o = order(store, buyer.user_id(), "over", 5_000, 750).await;
    let p = payment("pay_over", &o);
    let e = paid_event("msg_over", &p);
    let f = Fulfilment {
        order_id: o.order_id(),
        payment_id: "pay_over".into(),
        amount_cents: 750,
        currency: "usd".into(),
        paid_at: Utc::now(),
    };
    let done = store.deliver_payment(&e, &f, Utc::now()).await.unwrap();
    assert!(matches!(done, Delivered::NotCredited(_)), "{done:?}");
    assert!(store.webhook_event("msg_over").await.unwrap().is_none());
    assert_eq!(checked_balance(store, buyer.user_id()).await.0, i64::MAX - 4_999);
    assert_eq!(purchases(store, buyer.user_id()).await, 0);
    let o = reload(store, &o).await;
    assert_eq!(o.credited_at, None);
}
