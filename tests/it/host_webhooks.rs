//! Signed webhooks to the host app: the outbox is written with the change it reports or not at
//! all, fan-out reaches only subscribed enabled endpoints, deliveries retry on the Standard
//! Webhooks schedule and keep each user's order, a resend keeps the `webhook-id`, and every
//! payload is checked on a real flow. Deliveries go over real HTTP to a small receiver in the test,
//! which verifies each signature with the independent `standardwebhooks` crate.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use atlas_credits::model::UserId;
use atlas_credits::server::jobs::host_webhooks::HostWebhooksReport;
use atlas_credits::server::jobs::{HostWebhooks, WebhookApply};
use atlas_credits::server::outbound::Destinations;
use atlas_credits::server::service::{admin_orders, api_keys, host_webhooks};
use atlas_credits::server::store::{
    HostDeliveryFilter, HostDeliveryRow, NewEntry, NewOrder, NewUser, PostOutcome, Store,
};
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use common::auth::Browser;
use common::sim_shop::{press, SimShop};
use common::whop_events::{deliver, order, payment};
use common::{user, Db, TestApp, TestDb};
use serde_json::{json, Value};

both_backends!(
    the_outbox_commits_with_the_ledger_or_not_at_all,
    fan_out_reaches_only_subscribed_enabled_endpoints,
    retries_follow_the_schedule_then_give_up,
    deliveries_keep_each_users_order,
    every_event_type_carries_its_payload,
    resend_keeps_the_webhook_id,
    the_cli_registers_lists_and_disables_endpoints,
    admins_register_endpoints_and_resend_over_http,
    two_senders_never_send_one_delivery_twice,
    private_addresses_are_refused_unless_allowed,
);

// ---- a receiving server

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    id: String,
    body: Value,
    answered: u16,
    /// The signature checked out with the `standardwebhooks` crate (not the product's code).
    verified: bool,
}

#[derive(Default)]
struct Inbox {
    /// Answer 500 to this many requests, then 200.
    fail_next: usize,
    /// The secret of the endpoint at `/hook/{n}` is `secrets[n]`.
    secrets: Vec<String>,
    got: Vec<Got>,
}

#[derive(Clone)]
struct Receiver {
    inbox: Arc<Mutex<Inbox>>,
    url: String,
}

impl Receiver {
    async fn start() -> Receiver {
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let shared = inbox.clone();
        let app = axum::Router::new().route(
            "/hook/{n}",
            axum::routing::post(move |Path(n): Path<usize>, headers: HeaderMap, body: Bytes| {
                let inbox = shared.clone();
                async move {
                    let mut inbox = inbox.lock().unwrap();
                    let verified = inbox.secrets.get(n).is_some_and(|s| {
                        standardwebhooks::Webhook::new(s)
                            .unwrap()
                            .verify(&body, &headers)
                            .is_ok()
                    }) && headers["content-type"] == "application/json";
                    let answered = if inbox.fail_next > 0 {
                        inbox.fail_next -= 1;
                        500
                    } else {
                        200
                    };
                    inbox.got.push(Got {
                        id: headers["webhook-id"].to_str().unwrap().to_string(),
                        body: serde_json::from_slice(&body).unwrap(),
                        answered,
                        verified,
                    });
                    StatusCode::from_u16(answered).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            inbox,
            url: format!("http://{addr}/hook"),
        }
    }

    /// Registers this receiver as an endpoint for `events` and keeps its secret to verify with.
    async fn register(&self, store: &dyn Store, events: &[&str]) -> i64 {
        let events: Vec<String> = events.iter().map(|e| e.to_string()).collect();
        let n = self.inbox.lock().unwrap().secrets.len();
        let url = format!("{}/{n}", self.url);
        let (secret, row) =
            host_webhooks::create_endpoint(store, "test", &url, Destinations::Any, &events, Some("receiver"))
                .await
                .unwrap();
        self.inbox.lock().unwrap().secrets.push(secret);
        row.id
    }

    fn fail_next(&self, n: usize) {
        self.inbox.lock().unwrap().fail_next = n;
    }

    fn got(&self) -> Vec<Got> {
        self.inbox.lock().unwrap().got.clone()
    }
}

// ---- helpers

/// Runs raw SQL on the test's database (a trigger, a count) through a pool of its own.
async fn raw(url: &str, sql: &str) {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

async fn count(url: &str, sql: &str) -> i64 {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let n = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    }
}

/// A trigger that makes every insert into the outbox fail: a failure after the ledger write and
/// before the commit.
async fn break_the_outbox(db: Db, url: &str) {
    let sql = match db {
        Db::Sqlite => {
            "create trigger host_events_broken before insert on host_events \
             begin select raise(abort, 'injected outbox failure'); end;"
        }
        Db::Postgres => {
            "create function host_events_broken() returns trigger language plpgsql as \
             $$ begin raise exception 'injected outbox failure'; end $$; \
             create trigger host_events_broken before insert on host_events \
             for each row execute function host_events_broken();"
        }
    };
    raw(url, sql).await;
}

async fn mend_the_outbox(db: Db, url: &str) {
    let sql = match db {
        Db::Sqlite => "drop trigger host_events_broken;",
        Db::Postgres => "drop trigger host_events_broken on host_events; drop function host_events_broken();",
    };
    raw(url, sql).await;
}

/// A ledger entry; a `spend` of `amount` takes it off the balance.
fn entry(u: UserId, kind: &'static str, amount: i64, source: &str) -> NewEntry {
    NewEntry {
        user_id: u.0,
        amount: if kind == "spend" { -amount } else { amount },
        kind,
        source_kind: "test".into(),
        source_id: source.into(),
        order_id: None,
        actor: "test".into(),
        reason: None,
        no_overdraft: kind == "spend",
    }
}

/// Posts an entry and returns its ledger id.
async fn post(store: &dyn Store, u: UserId, kind: &'static str, amount: i64, source: &str) -> i64 {
    match store.post_entry(&entry(u, kind, amount, source)).await.unwrap() {
        PostOutcome::Applied(row) => row.id,
        other => panic!("not applied: {other:?}"),
    }
}

async fn deliveries(store: &dyn Store) -> Vec<HostDeliveryRow> {
    store
        .list_host_deliveries(&HostDeliveryFilter::default(), None, 100)
        .await
        .unwrap()
}

/// A moment just after now in whole milliseconds: PostgreSQL keeps microseconds, so times derived
/// from it read back equal, and anything created before it is due.
fn due_now() -> DateTime<Utc> {
    (Utc::now() + Duration::milliseconds(1)).trunc_subsecs(3)
}

fn data(got: &Got) -> &Value {
    &got.body["data"]
}

// ---- tests

async fn the_outbox_commits_with_the_ledger_or_not_at_all(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let store = app.db.store.as_ref();
    let url = app.db.url.clone();
    host_webhooks::create_endpoint(
        store,
        "test",
        "http://127.0.0.1:9/hook",
        Destinations::Any,
        &["credits.purchased".into(), "credits.spent".into()],
        None,
    )
    .await
    .unwrap();
    let (key, _) = api_keys::create(store, "host", "test").await.unwrap();
    let r = app
        .client
        .put(app.url("/api/v1/users/atlas_1"))
        .bearer_auth(&key)
        .json(&json!({ "email": "one@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let u = store.user_by_external_id("atlas_1").await.unwrap().unwrap().user_id();
    // A grant nobody subscribes to: it writes no event.
    post(store, u, "admin_adjustment", 1000, "start").await;
    let o = order(store, u, "atomic", 25_000, 3250).await;
    let spend = || {
        app.client
            .post(app.url("/api/v1/users/atlas_1/spend"))
            .bearer_auth(&key)
            .json(&json!({ "amount": 100, "idempotency_key": "spend-1" }))
            .send()
    };

    break_the_outbox(db, &url).await;
    // The payment webhook is stored (200) but applying it fails at the outbox insert.
    deliver(&app, "msg_atomic_1", "payment.succeeded", &payment("pay_atomic", &o)).await;
    let r = spend().await.unwrap();
    assert!(r.status().is_server_error(), "{}", r.status());
    assert_eq!(store.user_by_id(u).await.unwrap().unwrap().credits_balance, 1000);
    assert_eq!(store.list_transactions(u, None, 10).await.unwrap().len(), 1);
    assert_eq!(count(&url, "select count(*) from host_events").await, 0);
    assert_eq!(count(&url, "select count(*) from host_deliveries").await, 0);
    assert!(store
        .order_by_id(o.order_id())
        .await
        .unwrap()
        .unwrap()
        .credited_at
        .is_none());

    mend_the_outbox(db, &url).await;
    WebhookApply::new(app.db.store.clone())
        .run_at(Utc::now() + Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(spend().await.unwrap().status(), 200);
    // A repeat of the spend writes nothing, so reports nothing.
    assert_eq!(spend().await.unwrap().status(), 200);
    assert_eq!(
        store.user_by_id(u).await.unwrap().unwrap().credits_balance,
        1000 + 25_000 - 100
    );
    let kinds: Vec<String> = store
        .list_transactions(u, None, 10)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .map(|t| t.kind)
        .collect();
    assert_eq!(kinds, ["admin_adjustment", "purchase", "spend"]);
    assert_eq!(
        count(
            &url,
            "select count(*) from host_events where event_type = 'credits.purchased'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &url,
            "select count(*) from host_events where event_type = 'credits.spent'"
        )
        .await,
        1
    );
    assert_eq!(count(&url, "select count(*) from host_events").await, 2);
}

async fn fan_out_reaches_only_subscribed_enabled_endpoints(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let store = t.store.as_ref();
    let u = user(store, "ann@example.com").await.user_id();
    post(store, u, "admin_adjustment", 5000, "start").await;
    // Nobody listens yet: a spend writes no event.
    post(store, u, "spend", 10, "s0").await;
    assert_eq!(count(&t.url, "select count(*) from host_events").await, 0);

    let create = |url: &'static str, events: &'static [&'static str]| async move {
        let events: Vec<String> = events.iter().map(|e| e.to_string()).collect();
        host_webhooks::create_endpoint(store, "test", url, Destinations::Any, &events, None)
            .await
            .unwrap()
            .1
            .id
    };
    let purchases = create("http://127.0.0.1:9/a", &["credits.purchased"]).await;
    let spends = create("http://127.0.0.1:9/b", &["credits.spent", "balance.low"]).await;
    let off = create("http://127.0.0.1:9/c", &["credits.spent"]).await;
    host_webhooks::set_enabled(store, "test", off, false).await.unwrap();

    // No endpoint wants a grant: nothing.
    post(store, u, "admin_adjustment", 10, "more").await;
    assert_eq!(count(&t.url, "select count(*) from host_events").await, 0);

    let spent = post(store, u, "spend", 10, "s1").await;
    let all = deliveries(store).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].endpoint_id, spends);
    assert_eq!(all[0].event_type, "credits.spent");
    let payload: Value = serde_json::from_str(&all[0].payload).unwrap();
    assert_eq!(payload["data"]["ledger_entry_id"], spent);
    assert_ne!(all[0].endpoint_id, purchases);

    // With the only subscriber disabled, a spend writes nothing again.
    host_webhooks::set_enabled(store, "test", spends, false).await.unwrap();
    post(store, u, "spend", 10, "s2").await;
    assert_eq!(count(&t.url, "select count(*) from host_events").await, 1);
    assert_eq!(deliveries(store).await.len(), 1);

    // Endpoint input is checked.
    for (url, events) in [
        ("ftp://x.example/", vec!["credits.spent".to_string()]),
        ("https://u:p@x.example/", vec!["credits.spent".to_string()]),
        ("https://x.example/", vec![]),
        ("https://x.example/", vec!["credits.stolen".to_string()]),
    ] {
        assert!(
            host_webhooks::create_endpoint(store, "test", url, Destinations::Any, &events, None)
                .await
                .is_err(),
            "{url} {events:?}"
        );
    }
    let one = vec!["order.failed".to_string()];
    for i in 3..host_webhooks::MAX_ENDPOINTS {
        host_webhooks::create_endpoint(
            store,
            "test",
            &format!("https://x.example/{i}"),
            Destinations::Any,
            &one,
            None,
        )
        .await
        .unwrap();
    }
    assert!(matches!(
        host_webhooks::create_endpoint(store, "test", "https://x.example/21", Destinations::Any, &one, None).await,
        Err(host_webhooks::HostWebhookError::TooMany)
    ));
}

async fn retries_follow_the_schedule_then_give_up(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let store = t.store.as_ref();
    let rx = Receiver::start().await;
    let endpoint = rx.register(store, &["credits.spent"]).await;
    let u = user(store, "ann@example.com").await.user_id();
    post(store, u, "admin_adjustment", 5000, "start").await;
    let job = HostWebhooks::new(t.store.clone(), Destinations::Any).unwrap();

    // Fails three times, then is delivered; each retry comes exactly on schedule.
    rx.fail_next(3);
    post(store, u, "spend", 10, "s1").await;
    let t0 = due_now();
    let retrying = HostWebhooksReport {
        retrying: 1,
        ..Default::default()
    };
    assert_eq!(job.run_at(t0).await.unwrap(), retrying);
    let d = deliveries(store).await.remove(0);
    assert_eq!(d.next_attempt_at, t0 + Duration::seconds(5));
    assert_eq!(
        job.run_at(t0 + Duration::seconds(4)).await.unwrap(),
        HostWebhooksReport::default()
    );
    let t1 = t0 + Duration::seconds(5);
    assert_eq!(job.run_at(t1).await.unwrap(), retrying);
    assert_eq!(
        job.run_at(t1 + Duration::seconds(299)).await.unwrap(),
        HostWebhooksReport::default()
    );
    let t2 = t1 + Duration::seconds(300);
    assert_eq!(job.run_at(t2).await.unwrap(), retrying);
    let t3 = t2 + Duration::seconds(1800);
    let delivered = job.run_at(t3).await.unwrap();
    assert_eq!(delivered.delivered, 1);
    let d = store.host_delivery(d.id).await.unwrap().unwrap();
    assert_eq!(
        (d.status.as_str(), d.attempts, d.last_status_code),
        ("delivered", 4, Some(200))
    );
    let attempts = store.host_delivery_attempts(d.id).await.unwrap();
    let codes: Vec<Option<i32>> = attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [Some(500), Some(500), Some(500), Some(200)]);
    let times: Vec<DateTime<Utc>> = attempts.iter().map(|a| a.attempted_at).collect();
    assert_eq!(times, [t0, t1, t2, t3]);
    assert_eq!(attempts[0].error.as_deref(), Some("answered HTTP 500"));
    let got = rx.got();
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|g| g.verified && g.id == d.message_id), "{got:?}");

    // Always failing: eight tries over the whole schedule, then given up with one alert.
    rx.fail_next(usize::MAX);
    post(store, u, "spend", 10, "s2").await;
    let mut at = due_now();
    let id = deliveries(store).await[0].id;
    for n in 1..=8 {
        let report = job.run_at(at).await.unwrap();
        let d = store.host_delivery(id).await.unwrap().unwrap();
        assert_eq!(d.attempts, n);
        if n < 8 {
            assert_eq!(report, retrying);
            assert_eq!(d.status, "pending");
            assert_eq!(
                d.next_attempt_at - at,
                Duration::seconds(host_webhooks::RETRY_SCHEDULE_SECS[n as usize - 1])
            );
            at = d.next_attempt_at;
        } else {
            assert_eq!(report.failed, 1);
            assert_eq!(d.status, "failed");
        }
    }
    assert_eq!(
        job.run_at(at + Duration::days(3)).await.unwrap(),
        HostWebhooksReport::default()
    );
    let alerts = store.list_alerts(None, None, 10).await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].subject, format!("webhook_endpoint:{endpoint}"));

    // A given-up delivery no longer holds back the user's next one.
    rx.fail_next(0);
    post(store, u, "spend", 10, "s3").await;
    assert_eq!(job.run_at(Utc::now()).await.unwrap().delivered, 1);
}

async fn deliveries_keep_each_users_order(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let store = t.store.as_ref();
    let rx = Receiver::start().await;
    rx.register(store, &["credits.spent"]).await;
    let ann = user(store, "ann@example.com").await.user_id();
    let bob = user(store, "bob@example.com").await.user_id();
    post(store, ann, "admin_adjustment", 5000, "a").await;
    post(store, bob, "admin_adjustment", 5000, "b").await;
    let job = HostWebhooks::new(t.store.clone(), Destinations::Any).unwrap();

    rx.fail_next(1);
    let a1 = post(store, ann, "spend", 10, "a1").await;
    let t0 = Utc::now();
    job.run_at(t0).await.unwrap();
    let a2 = post(store, ann, "spend", 20, "a2").await;
    let b1 = post(store, bob, "spend", 30, "b1").await;
    // Ann's second spend waits behind her first (retrying at t0 + 5 s); Bob's is not held up.
    let report = job.run_at(t0 + Duration::seconds(1)).await.unwrap();
    assert_eq!(report.delivered, 1);
    job.run_at(t0 + Duration::seconds(2)).await.unwrap();
    job.run_at(t0 + Duration::seconds(5)).await.unwrap();
    job.run_at(t0 + Duration::seconds(6)).await.unwrap();
    let sent: Vec<(i64, u16)> = rx
        .got()
        .iter()
        .map(|g| (data(g)["ledger_entry_id"].as_i64().unwrap(), g.answered))
        .collect();
    assert_eq!(sent, [(a1, 500), (b1, 200), (a1, 200), (a2, 200)]);
}

async fn every_event_type_carries_its_payload(db: Db) {
    let Some(app) = TestApp::spawn_simulated(db).await else {
        return;
    };
    let store = app.db.store.as_ref();
    let rx = Receiver::start().await;
    rx.register(store, &host_webhooks::DEFAULT_EVENT_TYPES).await;
    rx.register(store, &["credits.spent"]).await;
    let ann = store
        .create_user(&NewUser {
            email: "ann@example.com".into(),
            password_hash: None,
            role: "user".into(),
            external_id: Some("atlas_7".into()),
            name: None,
        })
        .await
        .unwrap();
    let u = ann.user_id();
    let shop = SimShop::open(&app).await;
    let mut orders = Vec::new();
    for (key, action) in [
        ("paid", "pay"),
        ("refunded", "pay_partial_refund"),
        ("disputed", "dispute_lost"),
        ("declined", "decline"),
    ] {
        let (o, url) = shop.order(&app, u, key, true).await;
        press(&app, &url, action).await;
        orders.push(o);
    }
    let manual = NewOrder {
        user_id: u,
        plan_name: "Pro".into(),
        credits_amount: 25_000,
        price_cents: 3250,
        currency: "usd".into(),
        payment_method: "manual",
        notes: None,
        client_key: Some("key_manual_0123456789".into()),
    };
    let (manual_order, created) = store.create_order(&manual).await.unwrap();
    assert!(created);
    // The same request again creates nothing, and reports nothing.
    assert!(!store.create_order(&manual).await.unwrap().1);

    // Wait for the purchases to land, then spend down below the low-balance threshold (1,000).
    let wait_for = |n: usize, what: &'static str| {
        let rx = rx.clone();
        async move {
            let start = Instant::now();
            loop {
                let got = rx.got();
                if got.iter().filter(|g| g.body["type"] == what).count() >= n {
                    return got;
                }
                assert!(start.elapsed() < StdDuration::from_secs(20), "no {n} {what}: {got:#?}");
                tokio::time::sleep(StdDuration::from_millis(50)).await;
            }
        }
    };
    wait_for(2, "credits.disputed").await;
    wait_for(1, "credits.refunded").await;
    wait_for(1, "order.failed").await;
    // An admin approves the manual order: a purchase too, by method manual.
    let admin = store
        .create_user(&NewUser {
            email: "root@example.com".into(),
            password_hash: None,
            role: "admin".into(),
            external_id: None,
            name: None,
        })
        .await
        .unwrap();
    admin_orders::approve(store, &admin, manual_order.id, None, "Paid by invoice")
        .await
        .unwrap();
    wait_for(4, "credits.purchased").await;
    let balance = store.user_by_id(u).await.unwrap().unwrap().credits_balance;
    let spend_id = post(store, u, "spend", balance - 500, "down").await;
    wait_for(1, "balance.low").await;
    let got = {
        wait_for(1, "credits.spent").await;
        wait_for(1, "order.manual_requested").await;
        rx.got()
    };

    assert!(got.iter().all(|g| g.verified && g.answered == 200), "{got:#?}");
    for g in &got {
        let d = data(g);
        assert_eq!(d["external_id"], "atlas_7", "{g:?}");
        assert_eq!(d["user_id"], u.0, "{g:?}");
        assert!(d["balance"].is_i64() && d["credits"].is_i64(), "{g:?}");
        assert!(g.body["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(g.id.starts_with("msg_"));
        assert!(d.get("email").is_none(), "no PII: {g:?}");
    }
    let of = |ty: &str| -> Vec<&Value> { got.iter().filter(|g| g.body["type"] == ty).map(data).collect() };

    let bought = of("credits.purchased");
    assert_eq!(bought.len(), 4, "{bought:#?}");
    for b in &bought {
        assert_eq!(
            (
                b["credits"].as_i64(),
                b["price_cents"].as_i64(),
                b["currency"].as_str(),
                b["plan"].as_str()
            ),
            (Some(25_000), Some(3250), Some("usd"), Some("Pro"))
        );
        assert!(b["ledger_entry_id"].is_i64());
    }
    let by_manual: Vec<&&Value> = bought.iter().filter(|b| b["method"] == "manual").collect();
    assert_eq!(by_manual.len(), 1, "{bought:#?}");
    assert_eq!(by_manual[0]["order_id"], manual_order.id);
    let mut bought_orders: Vec<i64> = bought.iter().map(|b| b["order_id"].as_i64().unwrap()).collect();
    bought_orders.sort();
    assert_eq!(
        bought_orders,
        [orders[0].id, orders[1].id, orders[2].id, manual_order.id]
    );

    let refunded = of("credits.refunded");
    assert_eq!(refunded.len(), 1);
    let r = refunded[0];
    assert_eq!(r["order_id"], orders[1].id);
    assert_eq!(r["credits"], -12_500);
    assert_eq!(r["refund_amount_cents"], 1625);
    assert!(r["refund_id"].as_str().unwrap().starts_with("rf_"), "{r}");
    assert_eq!(r["payment_status"], "partially_refunded");

    let disputed = of("credits.disputed");
    let statuses: Vec<&str> = disputed.iter().map(|d| d["dispute_status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["open", "lost"]);
    assert_eq!(disputed[0]["credits"], -25_000);
    assert_eq!(disputed[1]["credits"], 0);
    assert_eq!(disputed[1]["payment_status"], "disputed");
    assert!(disputed
        .iter()
        .all(|d| d["order_id"] == orders[2].id && d["dispute_id"].is_string()));

    let failed = of("order.failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["order_id"], orders[3].id);
    assert_eq!(failed[0]["reason"], "payment_failed");
    assert_eq!(failed[0]["ledger_entry_id"], Value::Null);

    let manual = of("order.manual_requested");
    assert_eq!(manual.len(), 1);
    assert_eq!(manual[0]["order_id"], manual_order.id);
    assert_eq!(manual[0]["requested_credits"], 25_000);
    assert_eq!(manual[0]["plan"], "Pro");

    // credits.spent only reaches the endpoint that asked for it.
    let spent = of("credits.spent");
    assert_eq!(spent.len(), 1, "one subscriber");
    assert_eq!(spent[0]["ledger_entry_id"], spend_id);
    assert_eq!(spent[0]["credits"], -(balance - 500));
    assert_eq!(spent[0]["balance"], 500);

    let low = of("balance.low");
    assert_eq!(low.len(), 1);
    assert_eq!(low[0]["threshold"], 1000);
    assert_eq!(low[0]["balance"], 500);
    assert_eq!(low[0]["ledger_entry_id"], spend_id);

    // A further debit below the threshold is no new crossing.
    post(store, u, "spend", 100, "further").await;
    tokio::time::sleep(StdDuration::from_millis(1500)).await;
    assert_eq!(rx.got().iter().filter(|g| g.body["type"] == "balance.low").count(), 1);
}

async fn resend_keeps_the_webhook_id(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let store = t.store.as_ref();
    let rx = Receiver::start().await;
    rx.register(store, &["credits.spent"]).await;
    let u = user(store, "ann@example.com").await.user_id();
    post(store, u, "admin_adjustment", 5000, "start").await;
    post(store, u, "spend", 10, "s1").await;
    let job = HostWebhooks::new(t.store.clone(), Destinations::Any).unwrap();
    assert_eq!(job.run_at(Utc::now()).await.unwrap().delivered, 1);
    let d = deliveries(store).await.remove(0);

    assert!(matches!(
        host_webhooks::resend(store, "admin:1", d.id, " ").await,
        Err(host_webhooks::HostWebhookError::Invalid(_))
    ));
    host_webhooks::resend(store, "admin:1", d.id, "Atlas lost it")
        .await
        .unwrap();
    // Pending already: a second resend is refused.
    assert!(matches!(
        host_webhooks::resend(store, "admin:1", d.id, "again").await,
        Err(host_webhooks::HostWebhookError::AlreadyPending)
    ));
    assert_eq!(job.run_at(Utc::now()).await.unwrap().delivered, 1);
    let got = rx.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id, got[1].id);
    assert_eq!(got[0].body, got[1].body);
    let audit = store
        .audit_for(&format!("webhook_delivery:{}", d.id), 10)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "webhook_delivery.resend");
    assert_eq!(audit[0].actor, "admin:1");
    assert!(audit[0].after_value.as_deref().unwrap().contains("Atlas lost it"));
    assert_eq!(store.host_delivery_attempts(d.id).await.unwrap().len(), 2);
}

/// `atlas-credits webhook-endpoints ...` against the test's database, as an operator runs it.
fn cli(db_url: &str, args: &[&str]) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_atlas-credits"));
    c.arg("webhook-endpoints").args(args);
    for var in [
        "LOG_FORMAT",
        "RUST_LOG",
        "WHOP_MODE",
        "WHOP_API_KEY",
        "WHOP_WEBHOOK_SECRET",
        "PUBLIC_URL",
        "HOST_WEBHOOKS_ALLOW_PRIVATE",
    ] {
        c.env_remove(var);
    }
    c.env("DATABASE_URL", db_url).output().unwrap()
}

async fn the_cli_registers_lists_and_disables_endpoints(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let url = t.url.clone();
    let run = |args: Vec<&'static str>| {
        let url = url.clone();
        async move { tokio::task::spawn_blocking(move || cli(&url, &args)).await.unwrap() }
    };
    let out = run(vec![
        "add",
        "--url",
        "https://atlas.example/hooks",
        "--events",
        "balance.low,credits.purchased",
        "--description",
        "Atlas prod",
    ])
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let secret = stdout
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .expect("the secret is printed");
    assert!(secret.starts_with("whsec_"), "{stdout}");
    let id: i64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("shown only now"));

    // A loopback address is refused (HOST_WEBHOOKS_ALLOW_PRIVATE is not set), with the reason.
    let out = run(vec!["add", "--url", "http://127.0.0.1:8080/x"]).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("private"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The default subscribes to everything but credits.spent.
    let out = run(vec!["add", "--url", "http://203.0.114.7:8080/x"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = run(vec!["list"]).await;
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        listed.contains(&format!(
            "{id}\tenabled\thttps://atlas.example/hooks\tcredits.purchased,balance.low\tAtlas prod"
        )),
        "{listed}"
    );
    assert!(
        listed.contains(&host_webhooks::DEFAULT_EVENT_TYPES.join(",")),
        "{listed}"
    );
    assert!(!listed.contains("whsec_"), "the list never shows a secret: {listed}");

    let id_arg: &'static str = Box::leak(id.to_string().into_boxed_str());
    let out = run(vec!["disable", id_arg]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = String::from_utf8_lossy(&run(vec!["list"]).await.stdout).to_string();
    assert!(listed.contains(&format!("{id}\tdisabled\t")), "{listed}");
    let endpoint = t.store.host_endpoint(id).await.unwrap().unwrap();
    assert!(!endpoint.enabled && endpoint.disabled_at.is_some());
    assert_eq!(endpoint.secret, secret);
    let audit = t.store.audit_for(&format!("webhook_endpoint:{id}"), 10).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["webhook_endpoint.disable", "webhook_endpoint.create"]);
    assert!(audit.iter().all(|a| a.actor == "cli"));

    for bad in [
        vec!["add", "--url", "https://user:pw@atlas.example/"],
        vec!["add", "--url", "https://atlas.example/", "--events", "credits.stolen"],
        vec!["disable", "999"],
    ] {
        let out = run(bad.clone()).await;
        assert!(!out.status.success(), "{bad:?}");
    }
    assert_eq!(t.store.list_host_endpoints().await.unwrap().len(), 2);
}

async fn admins_register_endpoints_and_resend_over_http(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let store = app.db.store.as_ref();
    let (admin, admin_row) = Browser::sign_up_admin(&app, "root@example.com").await;
    let someone = Browser::sign_up(&app, "someone@example.com").await;
    let rx = Receiver::start().await;
    let url = format!("{}/0", rx.url);

    // Hostile input is refused with a message, and nothing is registered.
    for (bad_url, events) in [
        ("javascript:alert(1)", "credits.spent"),
        ("https://a.example/\u{0}", "credits.spent"),
        (url.as_str(), ""),
        (url.as_str(), "credits.spent,drop table"),
    ] {
        let (s, body) = admin
            .call_fn(
                &app,
                "admin_create_webhook_endpoint",
                &[("url", bad_url), ("events", events)],
            )
            .await;
        assert_eq!(s, 400, "{bad_url} {events}: {body}");
    }
    assert!(store.list_host_endpoints().await.unwrap().is_empty());

    let (s, created) = admin
        .call_fn(
            &app,
            "admin_create_webhook_endpoint",
            &[("url", &url), ("events", "credits.spent"), ("description", "Atlas")],
        )
        .await;
    assert_eq!(s, 200, "{created}");
    rx.inbox
        .lock()
        .unwrap()
        .secrets
        .push(created["secret"].as_str().unwrap().to_string());
    // The list never shows the secret again.
    let (s, listed) = admin.call_fn(&app, "admin_list_webhook_endpoints", &[]).await;
    assert_eq!(s, 200);
    assert_eq!(listed[0]["url"], url.as_str());
    assert!(!listed.to_string().contains("whsec_"), "{listed}");
    let page = admin
        .client
        .get(app.url("/admin/webhook-endpoints"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&url) && html.contains("Add endpoint") && !html.contains("whsec_"));

    // The background job delivers a spend.
    let u = user(store, "ann@example.com").await.user_id();
    post(store, u, "admin_adjustment", 100, "start").await;
    post(store, u, "spend", 10, "s1").await;
    let start = Instant::now();
    while rx.got().is_empty() {
        assert!(start.elapsed() < StdDuration::from_secs(10), "never delivered");
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    // The receiver has it; the sender marks it delivered once the answer is in: wait for that.
    let page = loop {
        let (s, page) = admin
            .call_fn(&app, "admin_list_host_deliveries", &[("status", "delivered")])
            .await;
        assert_eq!(s, 200, "{page}");
        if page["items"].as_array().is_some_and(|items| !items.is_empty()) {
            break page;
        }
        assert!(
            start.elapsed() < StdDuration::from_secs(10),
            "never marked delivered: {page}"
        );
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    };
    let id = page["items"][0]["id"].as_i64().unwrap().to_string();
    let (s, detail) = admin.call_fn(&app, "admin_host_delivery", &[("id", &id)]).await;
    assert_eq!(s, 200);
    assert_eq!(detail["delivery"]["webhook_id"], rx.got()[0].id.as_str());
    assert_eq!(detail["attempts"].as_array().unwrap().len(), 1);

    // Only an admin resends, with a reason and a confirmation; the same webhook-id goes again.
    let resend = [("id", id.as_str()), ("reason", "Atlas lost it"), ("confirm", "yes")];
    let (s, _) = someone.call_fn(&app, "admin_resend_host_delivery", &resend).await;
    assert_eq!(s, 403);
    let (s, _) = admin
        .call_fn(
            &app,
            "admin_resend_host_delivery",
            &[("id", id.as_str()), ("reason", "x")],
        )
        .await;
    assert_eq!(s, 400, "the confirmation is required");
    let (s, body) = admin.call_fn(&app, "admin_resend_host_delivery", &resend).await;
    assert_eq!(s, 200, "{body}");
    let start = Instant::now();
    while rx.got().len() < 2 {
        assert!(start.elapsed() < StdDuration::from_secs(10), "never resent");
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    let got = rx.got();
    assert_eq!(got[0].id, got[1].id);
    assert!(got.iter().all(|g| g.verified));
    let audit = store.audit_for(&format!("webhook_delivery:{id}"), 10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, format!("admin:{}", admin_row.id));
    let page = admin
        .client
        .get(app.url(&format!("/admin/webhook-endpoints/deliveries/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(&got[0].id));

    // Disabling pauses: a new spend waits, enabling sends it.
    let endpoint = listed[0]["id"].as_i64().unwrap().to_string();
    let (s, _) = admin
        .call_fn(
            &app,
            "admin_set_webhook_endpoint_enabled",
            &[("id", &endpoint), ("enabled", "false")],
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = someone
        .call_fn(
            &app,
            "admin_set_webhook_endpoint_enabled",
            &[("id", &endpoint), ("enabled", "true")],
        )
        .await;
    assert_eq!(s, 403);
    post(store, u, "spend", 10, "s2").await;
    assert_eq!(
        count(&app.db.url, "select count(*) from host_events").await,
        1,
        "no fan-out while disabled"
    );
}

async fn two_senders_never_send_one_delivery_twice(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let store = t.store.as_ref();
    let rx = Receiver::start().await;
    rx.register(store, &["credits.spent"]).await;
    for i in 0..8 {
        let u = user(store, &format!("u{i}@example.com")).await.user_id();
        post(store, u, "admin_adjustment", 100, &format!("g{i}")).await;
        post(store, u, "spend", 10, &format!("s{i}")).await;
    }
    // Two instances' senders, stepping at the same moment.
    let a = HostWebhooks::new(t.store.clone(), Destinations::Any).unwrap();
    let b = HostWebhooks::new(t.store.clone(), Destinations::Any).unwrap();
    let now = due_now();
    let (ra, rb) = tokio::join!(a.run_at(now), b.run_at(now));
    assert_eq!(ra.unwrap().delivered + rb.unwrap().delivered, 8);
    let mut ids: Vec<String> = rx.got().into_iter().map(|g| g.id).collect();
    assert_eq!(ids.len(), 8);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8, "each delivery sent once");
    let attempts = count(&t.url, "select count(*) from host_delivery_attempts").await;
    assert_eq!(attempts, 8);
}

/// Server-side request forgery: by default an endpoint may not be (or resolve to) a private,
/// loopback or reserved address. Registering one over HTTP is refused with a message; one already
/// stored (registered before, or while allowed) is never connected to, by literal or by name
/// (`localhost` resolves to loopback), and its try records why. Allowed, the same endpoints get
/// their events: the receiver is reachable, so the refusals above are the guard's.
async fn private_addresses_are_refused_unless_allowed(db: Db) {
    let Some(app) = TestApp::spawn_with_env(db, &[("HOST_WEBHOOKS_ALLOW_PRIVATE", "false")]).await else {
        return;
    };
    let store = app.db.store.as_ref();
    let (admin, _) = Browser::sign_up_admin(&app, "root@example.com").await;
    let rx = Receiver::start().await;
    let literal = format!("{}/0", rx.url);
    let by_name = literal.replace("127.0.0.1", "localhost");
    for url in [
        literal.as_str(),
        by_name.as_str(),
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x",
    ] {
        let (s, body) = admin
            .call_fn(
                &app,
                "admin_create_webhook_endpoint",
                &[("url", url), ("events", "credits.spent")],
            )
            .await;
        assert_eq!(s, 400, "{url}: {body}");
        assert!(body.to_string().contains("private"), "{body}");
    }
    assert!(store.list_host_endpoints().await.unwrap().is_empty());
    drop(app);

    // Stored anyway (as before the guard existed): one by address, one by name. On a database of
    // its own, with no app whose sender would race the two below.
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let store = t.store.as_ref();
    rx.register(store, &["credits.spent"]).await;
    let events = vec!["credits.spent".to_string()];
    let (secret, _) = host_webhooks::create_endpoint(
        store,
        "test",
        &format!("{}/1", rx.url).replace("127.0.0.1", "localhost"),
        Destinations::Any,
        &events,
        None,
    )
    .await
    .unwrap();
    rx.inbox.lock().unwrap().secrets.push(secret);
    let u = user(store, "ann@example.com").await.user_id();
    post(store, u, "admin_adjustment", 100, "start").await;
    post(store, u, "spend", 10, "s1").await;

    let guarded = HostWebhooks::new(t.store.clone(), Destinations::PublicOnly).unwrap();
    let report = guarded.run_at(due_now()).await.unwrap();
    assert_eq!(report.retrying, 2, "{report:?}");
    assert!(rx.got().is_empty(), "a private address was contacted: {:?}", rx.got());
    for d in deliveries(store).await {
        let tries = store.host_delivery_attempts(d.id).await.unwrap();
        let error = tries[0].error.as_deref().unwrap_or_default();
        assert!(error.starts_with("not sent:") && error.contains("private"), "{error}");
        assert_eq!(tries[0].status_code, None);
    }

    let open = HostWebhooks::new(t.store.clone(), Destinations::Any).unwrap();
    let report = open.run_at(due_now() + Duration::days(1)).await.unwrap();
    assert_eq!(report.delivered, 2, "{report:?}");
    let got = rx.got();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|g| g.verified), "{got:?}");
}
