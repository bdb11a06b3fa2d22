//! The order store and the one fulfil path, on both backends: orders are idempotent by client
//! key, a paid order is never failed, a payment credits its order once (even under 100 racing
//! callers), and a payment that does not match its order is held, not credited.

use crate::common;

use std::sync::Arc;

use atlas_credits::model::{Cents, Credits, OrderId, UserId};
use atlas_credits::server::service::orders::{self, PaidPayment, Via};
use atlas_credits::server::store::{FulfilOutcome, NewOrder, OrderRow, Store, StoreError};
use chrono::Utc;
use common::{user, Db, TestDb};

both_backends!(
    orders_are_idempotent_by_client_key,
    an_order_keeps_one_checkout,
    a_paid_order_is_never_failed,
    a_payment_credits_its_order_once,
    a_wrong_amount_or_currency_is_held,
    a_second_payment_for_a_paid_order_is_held,
    a_failed_order_paid_later_is_credited,
    a_hundred_concurrent_fulfils_grant_once,
);

/// A $7.50 Whop order of 5,000 credits.
fn new_order(u: UserId, key: &str) -> NewOrder {
    NewOrder {
        user_id: u,
        plan_name: "Starter".into(),
        credits_amount: 5000,
        price_cents: 750,
        currency: "usd".into(),
        payment_method: "whop",
        notes: None,
        client_key: Some(key.into()),
    }
}

fn paid(payment_id: &str, cents: i64, currency: &str) -> PaidPayment {
    PaidPayment::new(payment_id, Cents(cents), currency, Utc::now())
}

async fn order(store: &dyn Store, id: OrderId) -> OrderRow {
    store.order_by_id(id).await.unwrap().expect("order exists")
}

/// The balance, checked against the ledger: equal to the sum of the rows and to the newest
/// row's `balance_after`. Returns it with the number of purchase rows.
async fn balance_and_purchases(store: &dyn Store, u: UserId) -> (Credits, usize) {
    let balance = store.user_by_id(u).await.unwrap().unwrap().balance();
    assert_eq!(
        store.ledger_sum(u).await.unwrap(),
        balance,
        "balance == sum of the ledger"
    );
    let rows = store.list_transactions(u, None, 1000).await.unwrap();
    if let Some(newest) = rows.first() {
        assert_eq!(newest.balance_after(), balance);
    }
    (balance, rows.iter().filter(|r| r.kind == "purchase").count())
}

async fn orders_are_idempotent_by_client_key(db: Db) {
    let Some(t) = TestDb::new(db).await else { return };
    let store = t.store.as_ref();
    let ann = user(store, "ann@example.com").await.user_id();
    let bob = user(store, "bob@example.com").await.user_id();

    let (first, created) = store
        .create_order(&new_order(ann, "key_0123456789abcdef"))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(
        (
            first.payment_method.as_str(),
            first.payment_status.as_str(),
            first.status.as_str()
        ),
        ("whop", "pending", "pending")
    );
    let (again, created) = store
        .create_order(&new_order(ann, "key_0123456789abcdef"))
        .await
        .unwrap();
    assert!(!created, "the same key makes no second order");
    assert_eq!(again, first);

    let stolen = store.create_order(&new_order(bob, "key_0123456789abcdef")).await;
    assert!(matches!(stolen, Err(StoreError::Conflict(_))), "{stolen:?}");

    let (other, created) = store
        .create_order(&new_order(ann, "key_fedcba9876543210"))
        .await
        .unwrap();
    assert!(created);
    assert_ne!(other.id, first.id);
    let listed: Vec<i64> = store
        .list_user_orders(ann, 10)
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(listed, [other.id, first.id], "newest first");
    assert!(store.list_user_orders(bob, 10).await.unwrap().is_empty());
}

async fn an_order_keeps_one_checkout(db: Db) {
    let Some(t) = TestDb::new(db).await else { return };
    let store = t.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let (o, _) = store.create_order(&new_order(u, "key_checkout_000001")).await.unwrap();
    let (o2, _) = store.create_order(&new_order(u, "key_checkout_000002")).await.unwrap();

    assert!(store.order_by_checkout_id("ch_1").await.unwrap().is_none());
    assert!(store.set_order_checkout(o.order_id(), "ch_1", "plan_1").await.unwrap());
    assert!(
        store.set_order_checkout(o.order_id(), "ch_1", "plan_1").await.unwrap(),
        "the same checkout again is fine"
    );
    assert!(
        !store.set_order_checkout(o.order_id(), "ch_2", "plan_1").await.unwrap(),
        "a second checkout is refused"
    );
    let stored = order(store, o.order_id()).await;
    assert_eq!(stored.whop_checkout_id.as_deref(), Some("ch_1"));
    assert_eq!(stored.whop_plan_id.as_deref(), Some("plan_1"));
    assert_eq!(store.order_by_checkout_id("ch_1").await.unwrap().unwrap().id, o.id);

    let taken = store.set_order_checkout(o2.order_id(), "ch_1", "plan_1").await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
}

async fn a_paid_order_is_never_failed(db: Db) {
    let Some(t) = TestDb::new(db).await else { return };
    let store = t.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let (o, _) = store.create_order(&new_order(u, "key_fail_0000000001")).await.unwrap();

    assert!(store.fail_order(o.order_id(), "Your card was declined.").await.unwrap());
    let failed = order(store, o.order_id()).await;
    assert_eq!(failed.payment_status, "failed");
    assert_eq!(failed.failure_message.as_deref(), Some("Your card was declined."));
    assert!(store.fail_order(o.order_id(), "Declined again").await.unwrap());
    assert_eq!(
        order(store, o.order_id()).await.failure_message.as_deref(),
        Some("Declined again")
    );

    let outcome = orders::fulfil(store, o.order_id(), &paid("pay_1", 750, "usd"), Via::Webhook)
        .await
        .unwrap();
    assert!(matches!(outcome, FulfilOutcome::Credited { .. }), "{outcome:?}");
    let paid_row = order(store, o.order_id()).await;
    assert!(!store.fail_order(o.order_id(), "late failure").await.unwrap());
    assert_eq!(order(store, o.order_id()).await, paid_row, "a paid order is unchanged");
    assert_eq!(paid_row.payment_status, "paid");
    assert_eq!(paid_row.failure_message, None);
}

async fn a_payment_credits_its_order_once(db: Db) {
    let Some(t) = TestDb::new(db).await else { return };
    let store = t.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let (o, _) = store.create_order(&new_order(u, "key_once_0000000001")).await.unwrap();
    let payment = paid("pay_once", 750, "USD");

    let first = orders::fulfil(store, o.order_id(), &payment, Via::Webhook)
        .await
        .unwrap();
    let FulfilOutcome::Credited { order: credited, entry } = first else {
        panic!("{first:?}")
    };
    assert_eq!(credited.payment_status, "paid");
    assert_eq!(credited.whop_payment_id.as_deref(), Some("pay_once"));
    assert!(credited.credited_at.is_some() && credited.paid_at.is_some());
    assert_eq!((entry.amount, entry.kind.as_str()), (5000, "purchase"));
    assert_eq!((entry.source_id.as_str(), entry.order_id), ("pay_once", Some(o.id)));

    for via in [Via::Webhook, Via::Confirmation, Via::Reconciliation] {
        let again = orders::fulfil(store, o.order_id(), &payment, via).await.unwrap();
        let FulfilOutcome::AlreadyCredited { entry: same, .. } = again else {
            panic!("{again:?}")
        };
        assert_eq!(same.id, entry.id);
    }
    assert_eq!(balance_and_purchases(store, u).await, (Credits(5000), 1));
}

async fn a_wrong_amount_or_currency_is_held(db: Db) {
    let Some(t) = TestDb::new(db).await else { return };
    let store = t.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    for (key, payment) in [
        ("key_held_amount_001", paid("pay_short", 749, "usd")),
        ("key_held_currency01", paid("pay_euro", 750, "eur")),
    ] {
        let (o, _) = store.create_order(&new_order(u, key)).await.unwrap();
        let outcome = orders::fulfil(store, o.order_id(), &payment, Via::Webhook)
            .await
            .unwrap();
        let FulfilOutcome::Held { reason, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(reason.contains("not credited"), "{reason}");
        let held = order(store, o.order_id()).await;
        assert_eq!(held.hold_reason.as_deref(), Some(reason.as_str()));
        assert_eq!(held.payment_status, "pending");
        assert_eq!((held.credited_at, held.whop_payment_id), (None, None));
    }
    assert_eq!(balance_and_purchases(store, u).await, (Credits(0), 0), "no ledger row");
}

async fn a_second_payment_for_a_paid_order_is_held(db: Db) {
    let Some(t) = TestDb::new(db).await else { return };
    let store = t.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let (o, _) = store.create_order(&new_order(u, "key_twice_000000001")).await.unwrap();
    let first = orders::fulfil(store, o.order_id(), &paid("pay_a", 750, "usd"), Via::Webhook)
        .await
        .unwrap();
    assert!(matches!(first, FulfilOutcome::Credited { .. }));

    let second = orders::fulfil(store, o.order_id(), &paid("pay_b", 750, "usd"), Via::Webhook)
        .await
        .unwrap();
    let FulfilOutcome::Held { reason, .. } = second else {
        panic!("{second:?}")
    };
    assert!(reason.contains("pay_a") && reason.contains("pay_b"), "{reason}");
    let row = order(store, o.order_id()).await;
    assert_eq!(row.whop_payment_id.as_deref(), Some("pay_a"));
    assert_eq!(row.hold_reason.as_deref(), Some(reason.as_str()));
    assert_eq!(balance_and_purchases(store, u).await, (Credits(5000), 1));

    // The same payment named against another order is held too, never credited twice.
    let (o2, _) = store.create_order(&new_order(u, "key_twice_000000002")).await.unwrap();
    let mixed = orders::fulfil(store, o2.order_id(), &paid("pay_a", 750, "usd"), Via::Webhook)
        .await
        .unwrap();
    assert!(matches!(mixed, FulfilOutcome::Held { .. }), "{mixed:?}");
    assert_eq!(balance_and_purchases(store, u).await, (Credits(5000), 1));
}

async fn a_failed_order_paid_later_is_credited(db: Db) {
    let Some(t) = TestDb::new(db).await else { return };
    let store = t.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let (o, _) = store.create_order(&new_order(u, "key_retry_000000001")).await.unwrap();
    assert!(store.fail_order(o.order_id(), "Your card was declined.").await.unwrap());

    let outcome = orders::fulfil(store, o.order_id(), &paid("pay_retry", 750, "usd"), Via::Webhook)
        .await
        .unwrap();
    let FulfilOutcome::Credited { order: row, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(row.payment_status, "paid");
    assert_eq!(row.failure_message, None, "the old failure is cleared");
    assert_eq!(balance_and_purchases(store, u).await, (Credits(5000), 1));
}

async fn a_hundred_concurrent_fulfils_grant_once(db: Db) {
    let Some(t) = TestDb::with_pool_size(db, 16).await else {
        return;
    };
    let store: Arc<dyn Store> = t.store.clone();
    let u = user(store.as_ref(), "ann@example.com").await.user_id();
    // Some credits already there: the purchase adds to them.
    let (earlier, _) = store.create_order(&new_order(u, "key_race_0000000000")).await.unwrap();
    orders::fulfil(
        store.as_ref(),
        earlier.order_id(),
        &paid("pay_earlier", 750, "usd"),
        Via::Webhook,
    )
    .await
    .unwrap();
    let (o, _) = store.create_order(&new_order(u, "key_race_0000000001")).await.unwrap();
    let id = o.order_id();

    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let store = store.clone();
            let via = [Via::Webhook, Via::Confirmation, Via::Reconciliation][i % 3];
            tokio::spawn(async move {
                orders::fulfil(store.as_ref(), id, &paid("pay_race", 750, "usd"), via)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let (mut credited, mut repeats) = (0, 0);
    let mut entries = std::collections::HashSet::new();
    for task in tasks {
        match task.await.unwrap() {
            FulfilOutcome::Credited { entry, .. } => {
                credited += 1;
                entries.insert(entry.id);
            }
            FulfilOutcome::AlreadyCredited { entry, .. } => {
                repeats += 1;
                entries.insert(entry.id);
            }
            held => panic!("{held:?}"),
        }
    }
    assert_eq!((credited, repeats), (1, 99));
    assert_eq!(entries.len(), 1, "every caller sees the one purchase row");
    assert_eq!(balance_and_purchases(store.as_ref(), u).await, (Credits(10_000), 2));
}
