//! Refunds applied from Whop's webhooks, over real HTTP with signed deliveries on both backends:
//! a succeeded refund claws back its share of the order's credits (rounded down, the last one
//! takes the remainder, never more than was granted), once per refund id; a pending refund takes
//! nothing; spent credits leave a debt; a refund that arrives before its payment waits for it.
//! Disputes hold what is left of the credits, release it when won and keep it when lost.

use crate::common;

use atlas_credits::model::{Credits, UserId};
use atlas_credits::server::jobs::webhook_apply::WebhookApplyReport;
use atlas_credits::server::jobs::WebhookApply;
use atlas_credits::server::service::webhook_apply::MAX_ATTEMPTS;
use atlas_credits::server::store::{NewEntry, OrderRow, PostOutcome, Store};
use atlas_credits::server::whop::types::{Dispute, DisputeStatus, Payment, PaymentSummary, RefundStatus};
use chrono::Utc;
use common::whop_events::{deliver, event, now, order, payment, refund, reload};
use common::{user, Db, TestApp};

both_backends!(
    a_full_refund_takes_back_exactly_the_credits_once,
    half_of_pro_takes_back_exactly_half,
    partial_refunds_never_take_more_than_was_granted,
    a_refund_of_spent_credits_leaves_a_debt,
    a_refund_before_its_payment_waits_for_it,
    a_lost_dispute_holds_the_credits_for_good,
    a_won_dispute_releases_exactly_the_hold,
    disputes_in_any_order_end_in_the_same_ledger,
);

/// The balance (checked equal to the ledger's sum) and the user's clawbacks, oldest first.
async fn balance_and_clawbacks(store: &dyn Store, u: UserId) -> (Credits, Vec<i64>) {
    let balance = common::checked_balance(store, u).await;
    let rows = store.list_transactions(u, None, 1000).await.unwrap();
    let mut clawbacks: Vec<i64> = rows
        .iter()
        .rev()
        .filter(|r| r.kind == "refund_clawback")
        .map(|r| {
            assert_eq!(r.source_kind, "whop_refund");
            r.amount
        })
        .collect();
    clawbacks.iter_mut().for_each(|a| *a = -*a);
    (balance, clawbacks)
}

async fn paid(app: &TestApp, u: UserId, key: &str, credits: i64, price: i64) -> (OrderRow, Payment) {
    let store = app.db.store.as_ref();
    let o = order(store, u, key, credits, price).await;
    let p = payment(&format!("pay_{key}"), &o);
    deliver(app, &format!("msg_pay_{key}"), "payment.succeeded", &p).await;
    assert_eq!(reload(store, &o).await.payment_status, "paid");
    (o, p)
}

// ---- the tests

async fn a_full_refund_takes_back_exactly_the_credits_once(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let (o, p) = paid(&app, u, "full", 5000, 750).await;
    assert_eq!(balance_and_clawbacks(store, u).await, (Credits(5000), vec![]));

    // Whop announces the refund as pending first: nothing is taken back yet.
    deliver(
        &app,
        "msg_rf_c",
        "refund.created",
        &refund("rf_full", &p, 750, RefundStatus::Pending),
    )
    .await;
    assert_eq!(event(store, "msg_rf_c").await.status, "processed");
    assert_eq!(balance_and_clawbacks(store, u).await, (Credits(5000), vec![]));
    assert_eq!(reload(store, &o).await.payment_status, "paid");

    let done = refund("rf_full", &p, 750, RefundStatus::Succeeded);
    deliver(&app, "msg_rf_u", "refund.updated", &done).await;
    let e = event(store, "msg_rf_u").await;
    assert_eq!((e.status.as_str(), e.order_id), ("processed", Some(o.id)), "{e:?}");
    assert_eq!(balance_and_clawbacks(store, u).await, (Credits(0), vec![5000]));
    assert_eq!(reload(store, &o).await.payment_status, "refunded");

    // Repeats, under the same and under a new webhook-id, change nothing.
    deliver(&app, "msg_rf_u", "refund.updated", &done).await;
    deliver(&app, "msg_rf_again", "refund.updated", &done).await;
    assert_eq!(event(store, "msg_rf_again").await.status, "processed");
    assert_eq!(balance_and_clawbacks(store, u).await, (Credits(0), vec![5000]));
}

async fn half_of_pro_takes_back_exactly_half(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let (o, p) = paid(&app, u, "pro", 25_000, 3250).await;
    deliver(
        &app,
        "msg_half",
        "refund.updated",
        &refund("rf_half", &p, 1625, RefundStatus::Succeeded),
    )
    .await;
    assert_eq!(balance_and_clawbacks(store, u).await, (Credits(12_500), vec![12_500]));
    assert_eq!(reload(store, &o).await.payment_status, "partially_refunded");

    // The rest: the order is refunded and every credit is back.
    deliver(
        &app,
        "msg_rest",
        "refund.updated",
        &refund("rf_rest", &p, 1625, RefundStatus::Succeeded),
    )
    .await;
    assert_eq!(
        balance_and_clawbacks(store, u).await,
        (Credits(0), vec![12_500, 12_500])
    );
    assert_eq!(reload(store, &o).await.payment_status, "refunded");
}

async fn partial_refunds_never_take_more_than_was_granted(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    // 5,000 credits for $7.50: one cent is worth 6.67 credits, so every part rounds.
    let (o, p) = paid(&app, u, "parts", 5000, 750).await;
    let mut refunded = 0;
    let mut taken = Vec::new();
    for (i, cents) in [1, 100, 299].into_iter().enumerate() {
        let r = refund(&format!("rf_part{i}"), &p, cents, RefundStatus::Succeeded);
        deliver(&app, &format!("msg_part{i}"), "refund.updated", &r).await;
        refunded += cents;
        taken.push(5000 * refunded / 750 - taken.iter().sum::<i64>());
        let (balance, clawbacks) = balance_and_clawbacks(store, u).await;
        assert_eq!(clawbacks, taken, "after {refunded} cents");
        assert!(
            clawbacks.iter().sum::<i64>() * 750 <= 5000 * refunded,
            "never more than the share"
        );
        assert_eq!(balance, Credits(5000 - clawbacks.iter().sum::<i64>()));
        assert_eq!(reload(store, &o).await.payment_status, "partially_refunded");
    }
    assert_eq!(taken, vec![6, 667, 1993]);

    // More than is left to refund is refused for good, and takes nothing.
    let too_much = refund("rf_too_much", &p, 351, RefundStatus::Succeeded);
    deliver(&app, "msg_too_much", "refund.updated", &too_much).await;
    let e = event(store, "msg_too_much").await;
    assert_eq!(e.status, "failed", "{e:?}");
    assert!(
        e.last_error.as_deref().unwrap_or_default().contains("refunded total"),
        "{e:?}"
    );

    // The last refund takes exactly the remainder.
    let last = refund("rf_last", &p, 350, RefundStatus::Succeeded);
    deliver(&app, "msg_last", "refund.updated", &last).await;
    let (balance, clawbacks) = balance_and_clawbacks(store, u).await;
    assert_eq!((balance, clawbacks.iter().sum::<i64>()), (Credits(0), 5000));
    assert_eq!(clawbacks.last(), Some(&(5000 - 6 - 667 - 1993)));
    assert_eq!(reload(store, &o).await.payment_status, "refunded");
}

async fn a_refund_of_spent_credits_leaves_a_debt(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let (_, p) = paid(&app, u, "spent", 5000, 750).await;
    let spent = store
        .post_entry(&NewEntry {
            user_id: u.0,
            amount: -4000,
            kind: "spend",
            source_kind: "api".into(),
            source_id: "use_1".into(),
            order_id: None,
            actor: "user:1".into(),
            reason: Some("used".into()),
            no_overdraft: true,
        })
        .await
        .unwrap();
    assert!(matches!(spent, PostOutcome::Applied(_)), "{spent:?}");

    deliver(
        &app,
        "msg_debt",
        "refund.updated",
        &refund("rf_debt", &p, 750, RefundStatus::Succeeded),
    )
    .await;
    // The clawback applies in full: the balance goes negative (a debt), still the ledger's sum.
    assert_eq!(balance_and_clawbacks(store, u).await, (Credits(-4000), vec![5000]));
}

async fn a_refund_before_its_payment_waits_for_it(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.clone();
    let u = user(store.as_ref(), "ann@example.com").await.user_id();
    let o = order(store.as_ref(), u, "early", 5000, 750).await;
    let p = payment("pay_early", &o);

    // The refund arrives first (Whop does not promise an order): it waits, pending.
    let r = refund("rf_early", &p, 750, RefundStatus::Succeeded);
    deliver(&app, "msg_early", "refund.updated", &r).await;
    let e = event(store.as_ref(), "msg_early").await;
    assert_eq!((e.status.as_str(), e.attempts), ("pending", 1), "{e:?}");
    assert!(e.last_error.as_deref().unwrap_or_default().contains("waits"), "{e:?}");
    assert_eq!(balance_and_clawbacks(store.as_ref(), u).await, (Credits(0), vec![]));

    // However often the job tries meanwhile, even past its usual last try, it keeps waiting.
    let job = WebhookApply::new(store.clone());
    let mut at = e.next_attempt_at.expect("a retry time");
    for _ in 0..MAX_ATTEMPTS + 2 {
        at += chrono::Duration::days(1);
        let report = job.run_at(at).await.unwrap();
        assert_eq!(
            report,
            WebhookApplyReport {
                retried: 1,
                ..Default::default()
            }
        );
    }
    let e = event(store.as_ref(), "msg_early").await;
    assert_eq!(e.status, "pending", "{e:?}");
    assert_eq!(reload(store.as_ref(), &o).await.payment_status, "pending");

    // The payment arrives and credits, and its delivery applies the waiting refund at once,
    // before it answers; the job then has nothing left to do.
    deliver(&app, "msg_pay_early", "payment.succeeded", &p).await;
    let e = event(store.as_ref(), "msg_early").await;
    assert_eq!((e.status.as_str(), e.order_id), ("processed", Some(o.id)), "{e:?}");
    assert_eq!(balance_and_clawbacks(store.as_ref(), u).await, (Credits(0), vec![5000]));
    assert_eq!(reload(store.as_ref(), &o).await.payment_status, "refunded");
    at += chrono::Duration::days(1);
    assert_eq!(job.run_at(at).await.unwrap(), WebhookApplyReport::default());
}

// ---- disputes

fn dispute(dp_id: &str, p: &Payment, status: DisputeStatus) -> Dispute {
    Dispute {
        id: dp_id.into(),
        amount: p.total.unwrap(),
        currency: Some("usd".into()),
        status,
        reason: Some("fraudulent".into()),
        created_at: Some(now()),
        payment: Some(PaymentSummary {
            metadata: None,
            ..PaymentSummary::from(p)
        }),
    }
}

/// The user's dispute rows (kind, amount), oldest first.
async fn dispute_rows(store: &dyn Store, u: UserId) -> Vec<(String, i64)> {
    let rows = store.list_transactions(u, None, 1000).await.unwrap();
    rows.iter()
        .rev()
        .filter(|r| r.kind.starts_with("dispute_"))
        .map(|r| {
            assert_eq!(r.source_kind, "whop_dispute");
            (r.kind.clone(), r.amount)
        })
        .collect()
}

async fn a_lost_dispute_holds_the_credits_for_good(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let (o, p) = paid(&app, u, "lost", 5000, 750).await;
    // A quarter refunded first: the dispute can only hold what is left.
    deliver(
        &app,
        "msg_q",
        "refund.updated",
        &refund("rf_q", &p, 250, RefundStatus::Succeeded),
    )
    .await;
    assert_eq!(balance_and_clawbacks(store, u).await, (Credits(3334), vec![1666]));

    let open = dispute("dp_lost", &p, DisputeStatus::NeedsResponse);
    deliver(&app, "msg_dp_c", "dispute.created", &open).await;
    assert_eq!(event(store, "msg_dp_c").await.status, "processed");
    assert_eq!(dispute_rows(store, u).await, vec![("dispute_hold".into(), -3334)]);
    assert_eq!(balance_and_clawbacks(store, u).await.0, Credits(0));
    deliver(&app, "msg_dp_c2", "dispute.created", &open).await;

    let lost = dispute("dp_lost", &p, DisputeStatus::Lost);
    deliver(&app, "msg_dp_u", "dispute.updated", &lost).await;
    deliver(&app, "msg_dp_u2", "dispute.updated", &lost).await;
    assert_eq!(dispute_rows(store, u).await, vec![("dispute_hold".into(), -3334)]);
    assert_eq!(balance_and_clawbacks(store, u).await.0, Credits(0));
    assert_eq!(reload(store, &o).await.payment_status, "disputed");
}

async fn a_won_dispute_releases_exactly_the_hold(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let (o, p) = paid(&app, u, "won", 5000, 750).await;
    deliver(
        &app,
        "msg_w_c",
        "dispute.created",
        &dispute("dp_won", &p, DisputeStatus::UnderReview),
    )
    .await;
    assert_eq!(balance_and_clawbacks(store, u).await.0, Credits(0));
    deliver(
        &app,
        "msg_w_u",
        "dispute.updated",
        &dispute("dp_won", &p, DisputeStatus::Won),
    )
    .await;
    deliver(
        &app,
        "msg_w_u2",
        "dispute.updated",
        &dispute("dp_won", &p, DisputeStatus::Won),
    )
    .await;
    assert_eq!(
        dispute_rows(store, u).await,
        vec![("dispute_hold".into(), -5000), ("dispute_release".into(), 5000)]
    );
    assert_eq!(balance_and_clawbacks(store, u).await.0, Credits(5000));
    assert_eq!(reload(store, &o).await.payment_status, "paid");
}

async fn disputes_in_any_order_end_in_the_same_ledger(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.clone();
    let u = user(store.as_ref(), "ann@example.com").await.user_id();
    // Won before open: the hold and its release, once; the late open changes nothing.
    let (_, p) = paid(&app, u, "rev", 5000, 750).await;
    deliver(
        &app,
        "msg_r_u",
        "dispute.updated",
        &dispute("dp_rev", &p, DisputeStatus::Won),
    )
    .await;
    deliver(
        &app,
        "msg_r_c",
        "dispute.created",
        &dispute("dp_rev", &p, DisputeStatus::NeedsResponse),
    )
    .await;
    assert_eq!(
        dispute_rows(store.as_ref(), u).await,
        vec![("dispute_hold".into(), -5000), ("dispute_release".into(), 5000)]
    );
    assert_eq!(balance_and_clawbacks(store.as_ref(), u).await.0, Credits(5000));

    // A dispute before its payment waits for it, then holds.
    let o = order(store.as_ref(), u, "late", 5000, 750).await;
    let late = payment("pay_late", &o);
    deliver(
        &app,
        "msg_l_c",
        "dispute.created",
        &dispute("dp_late", &late, DisputeStatus::NeedsResponse),
    )
    .await;
    let e = event(store.as_ref(), "msg_l_c").await;
    assert_eq!(e.status, "pending", "{e:?}");
    deliver(&app, "msg_pay_late", "payment.succeeded", &late).await;
    assert_eq!(event(store.as_ref(), "msg_l_c").await.status, "processed");
    assert_eq!(balance_and_clawbacks(store.as_ref(), u).await.0, Credits(5000));
    let job = WebhookApply::new(store.clone());
    let report = job.run_at(Utc::now() + chrono::Duration::days(1)).await.unwrap();
    assert_eq!(report, WebhookApplyReport::default(), "nothing left waiting");
}
