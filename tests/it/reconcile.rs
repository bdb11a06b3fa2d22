//! Reconciliation against the built-in simulator with every webhook dropped, on both backends:
//! one pass credits what was paid, claws back what was refunded, applies disputes, fails what
//! was declined and queues what no order can take; a second pass changes nothing; pending orders
//! are asked about by checkout after the grace period; a pass that cannot reach Whop moves
//! nothing; one instance at a time holds the lease; and `atlas-credits reconcile` does the same
//! from the command line against a running server's simulator.

use crate::common;

use std::time::Duration;

use atlas_credits::model::{Credits, UserId};
use atlas_credits::server::jobs::reconcile::{ReconcileReport, LEASE};
use atlas_credits::server::jobs::Reconcile;
use atlas_credits::server::service::reconcile::{ReconcileSummary, PAYMENTS_WATERMARK};
use atlas_credits::server::store::{NewOrder, Store};
use atlas_credits::server::whop::simulator::DeliveryMode;
use chrono::Utc;
use common::sim_shop::{press, SimShop};
use common::{user, Db, TestApp};

both_backends!(
    one_pass_applies_everything_the_webhooks_missed,
    pending_orders_are_asked_about_after_the_grace_period,
    a_pass_that_cannot_reach_whop_moves_nothing,
    the_lease_has_one_holder_at_a_time,
    the_reconcile_command_asks_the_running_servers_simulator,
);

async fn simulated_without_webhooks(db: Db) -> Option<(TestApp, SimShop)> {
    let app = TestApp::spawn_simulated(db).await?;
    app.state
        .whop
        .simulator
        .as_ref()
        .unwrap()
        .set_delivery_mode(DeliveryMode {
            drop: true,
            ..DeliveryMode::default()
        });
    let shop = SimShop::open(&app).await;
    Some((app, shop))
}

fn job(app: &TestApp) -> Reconcile {
    Reconcile::new(app.db.store.clone(), app.state.whop.clone(), Duration::from_secs(60))
}

async fn pass(app: &TestApp, at: chrono::DateTime<Utc>) -> ReconcileSummary {
    match job(app).run_at(at).await.unwrap() {
        ReconcileReport::Pass(s) => s,
        other => panic!("no pass: {other:?}"),
    }
}

async fn balance(store: &dyn Store, u: UserId) -> Credits {
    common::checked_balance(store, u).await
}

async fn one_pass_applies_everything_the_webhooks_missed(db: Db) {
    let Some((app, shop)) = simulated_without_webhooks(db).await else {
        return;
    };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let mut orders = Vec::new();
    for action in [
        "pay",
        "pay_refund",
        "pay_partial_refund",
        "dispute_lost",
        "dispute_won",
        "decline",
    ] {
        let (o, url) = shop.order(&app, u, action, true).await;
        press(&app, &url, action).await;
        orders.push(o);
    }
    let (orphan, url) = shop.order(&app, u, "orphan", false).await;
    press(&app, &url, "pay").await;
    for o in &orders {
        let o = store.order_by_id(o.order_id()).await.unwrap().unwrap();
        assert_eq!(o.payment_status, "pending", "no webhook arrived: {o:?}");
    }

    let first = pass(&app, Utc::now()).await;
    assert_eq!(
        first,
        ReconcileSummary {
            checked: 7,
            credited: 5,
            failed: 1,
            clawed_back: 2,
            disputes: 2,
            unmatched: 1,
            ..ReconcileSummary::default()
        }
    );
    // 25,000 paid + 0 refunded + 12,500 half refunded + 0 lost + 25,000 won.
    assert_eq!(balance(store, u).await, Credits(62_500));
    let status = |i: usize| {
        let id = orders[i].order_id();
        async move { store.order_by_id(id).await.unwrap().unwrap().payment_status }
    };
    assert_eq!(status(0).await, "paid");
    assert_eq!(status(1).await, "refunded");
    assert_eq!(status(2).await, "partially_refunded");
    assert_eq!(status(3).await, "disputed");
    assert_eq!(status(4).await, "paid");
    assert_eq!(status(5).await, "failed");
    let queued = store.list_unmatched(Some("open"), None, 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].email.as_deref(), Some("buyer@example.com"));
    let orphan = store.order_by_id(orphan.order_id()).await.unwrap().unwrap();
    assert_eq!(
        orphan.payment_status, "pending",
        "a payment that names no order credits none"
    );
    assert!(store.watermark(PAYMENTS_WATERMARK).await.unwrap().is_some());

    // A second pass reads the same payments (the overlap) and changes nothing.
    let second = pass(&app, Utc::now()).await;
    assert_eq!(
        (
            second.credited,
            second.failed,
            second.clawed_back,
            second.disputes,
            second.errors
        ),
        (0, 0, 0, 0, 0),
        "{second:?}"
    );
    assert_eq!(balance(store, u).await, Credits(62_500));
    assert_eq!(store.count_open_unmatched().await.unwrap(), 1);
}

async fn pending_orders_are_asked_about_after_the_grace_period(db: Db) {
    let Some((app, shop)) = simulated_without_webhooks(db).await else {
        return;
    };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let (o, url) = shop.order(&app, u, "late", true).await;
    press(&app, &url, "pay").await;
    // Changes were read up to an hour from now: only the pending orders' checkouts are asked about.
    // (Microseconds: what PostgreSQL keeps.)
    let later =
        chrono::DateTime::from_timestamp_micros((Utc::now() + chrono::Duration::hours(1)).timestamp_micros()).unwrap();
    store.set_watermark(PAYMENTS_WATERMARK, later).await.unwrap();

    let young = pass(&app, Utc::now()).await;
    assert_eq!(
        (young.checked, young.credited),
        (0, 0),
        "inside the grace period: {young:?}"
    );
    let old = pass(&app, Utc::now() + chrono::Duration::minutes(3)).await;
    assert_eq!((old.checked, old.credited), (1, 1), "{old:?}");
    let o = store.order_by_id(o.order_id()).await.unwrap().unwrap();
    assert!(o.credited_at.is_some(), "{o:?}");
    assert_eq!(balance(store, u).await, Credits(25_000));
    assert_eq!(
        store.watermark(PAYMENTS_WATERMARK).await.unwrap(),
        Some(later),
        "the watermark never moves back"
    );
}

async fn a_pass_that_cannot_reach_whop_moves_nothing(db: Db) {
    // Not simulated: the configured Whop (port 9) never answers.
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let (o, _) = store
        .create_order(&NewOrder {
            user_id: u,
            plan_name: "Pro".into(),
            credits_amount: 25_000,
            price_cents: 3250,
            currency: "usd".into(),
            payment_method: "whop",
            notes: None,
            client_key: Some("key_unreachable_0123456789".into()),
        })
        .await
        .unwrap();
    store.set_order_checkout(o.order_id(), "ch_x", "plan_x").await.unwrap();
    let r = job(&app).run_at(Utc::now() + chrono::Duration::minutes(3)).await;
    assert!(r.is_err(), "{r:?}");
    assert_eq!(store.watermark(PAYMENTS_WATERMARK).await.unwrap(), None);
    // The lease was given back: the next try (here or elsewhere) runs at once.
    let now = Utc::now();
    assert!(store
        .take_lease(LEASE, "another", now, now + chrono::Duration::minutes(10))
        .await
        .unwrap());
}

async fn the_lease_has_one_holder_at_a_time(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    let now = Utc::now();
    let until = now + chrono::Duration::minutes(10);
    assert!(store.take_lease(LEASE, "a", now, until).await.unwrap());
    assert!(!store.take_lease(LEASE, "b", now, until).await.unwrap(), "held by a");
    assert!(
        store.take_lease(LEASE, "a", now, until).await.unwrap(),
        "a renews its own"
    );
    // The job of another instance steps aside.
    assert_eq!(job(&app).run_at(now).await.unwrap(), ReconcileReport::NotLeaseHolder);
    // Expired: anyone may take it.
    assert!(store
        .take_lease(
            LEASE,
            "b",
            until + chrono::Duration::seconds(1),
            until + chrono::Duration::minutes(10)
        )
        .await
        .unwrap());
    // Released: free at once.
    store.release_lease(LEASE, "b").await.unwrap();
    assert!(store.take_lease(LEASE, "c", now, until).await.unwrap());
    // Racing takers: exactly one wins.
    store.release_lease(LEASE, "c").await.unwrap();
    let takers = (0..8).map(|i| {
        let store = app.db.store.clone();
        tokio::spawn(async move { store.take_lease(LEASE, &format!("r{i}"), now, until).await.unwrap() })
    });
    let mut won = 0;
    for t in takers {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
}

async fn the_reconcile_command_asks_the_running_servers_simulator(db: Db) {
    let Some((app, shop)) = simulated_without_webhooks(db).await else {
        return;
    };
    let store = app.db.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    let (o, url) = shop.order(&app, u, "cli", true).await;
    press(&app, &url, "pay").await;

    let run = |args: Vec<&'static str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_atlas-credits"));
        c.arg("reconcile")
            .args(args)
            .env("DATABASE_URL", &app.db.url)
            .env("WHOP_MODE", "simulated")
            .env("PUBLIC_URL", &app.base)
            .env(
                "LEPTOS_CONFIG_FILE",
                concat!(env!("CARGO_MANIFEST_DIR"), "/Leptos.toml"),
            )
            .env_remove("WHOP_API_KEY")
            .env_remove("WHOP_SIM_API_KEY")
            .env_remove("RUST_LOG");
        // The server runs on this test's runtime: wait for the command off it.
        tokio::task::spawn_blocking(move || c.output().unwrap())
    };
    let out = run(vec![]).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 credited"), "{stdout}");
    assert!(stdout.contains(&app.base), "names the Whop it asked: {stdout}");
    assert!(store
        .order_by_id(o.order_id())
        .await
        .unwrap()
        .unwrap()
        .credited_at
        .is_some());
    assert_eq!(balance(store, u).await, Credits(25_000));

    // Again, from a given day: nothing new. A day that is not one is refused.
    let out = run(vec!["--since", "2026-01-01"]).await.unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 credited"));
    let out = run(vec!["--since", "yesterday"]).await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since"));
    assert_eq!(balance(store, u).await, Credits(25_000));
}
