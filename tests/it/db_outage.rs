//! The database unavailable for a while, on both backends, over real HTTP: PostgreSQL refusing
//! every connection (the test's own database set to `ALLOW_CONNECTIONS false` and its sessions
//! terminated; the server itself keeps running for everyone else) and SQLite's file write-locked
//! by another connection holding `BEGIN EXCLUSIVE`. Meanwhile a Whop delivery and a spend are
//! answered 503 (both callers retry), `/readyz` says not ready, and nothing is half-written; once
//! the database is back the very same requests succeed, by themselves, exactly once.

use crate::common;

use std::time::Duration;

use atlas_credits::model::{Credits, EntryKind, UserId};
use atlas_credits::server::service::api_keys;
use atlas_credits::server::service::ledger::{self, Actor, LedgerEntry};
use atlas_credits::server::whop::verify::sign;
use common::whop_events;
use common::{Db, TestApp, WEBHOOK_SECRET};
use secrecy::SecretString;
use serde_json::{json, Value};
use sqlx::Connection;

both_backends!(an_outage_answers_503_writes_nothing_and_recovers_by_itself);

/// A request must be answered (503) well before this, not held while the database is away: the
/// longest database wait is 5 s (`store::DATABASE_WAIT`).
const ANSWER_BOUND: Duration = Duration::from_secs(9);

/// Makes the test's database unavailable until `end`.
pub(crate) enum Outage {
    Postgres { admin: sqlx::PgPool, name: String },
    Sqlite { locker: sqlx::SqliteConnection },
}

impl Outage {
    pub(crate) async fn start(db: Db, url: &str) -> Outage {
        match db {
            Db::Postgres => {
                let admin = sqlx::PgPool::connect(&common::postgres_url().unwrap()).await.unwrap();
                let name = url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
                sqlx::query(&format!("alter database {name} allow_connections false"))
                    .execute(&admin)
                    .await
                    .unwrap();
                sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1")
                    .bind(&name)
                    .execute(&admin)
                    .await
                    .unwrap();
                Outage::Postgres { admin, name }
            }
            Db::Sqlite => {
                let mut locker = sqlx::SqliteConnection::connect(url).await.unwrap();
                sqlx::query("begin exclusive").execute(&mut locker).await.unwrap();
                Outage::Sqlite { locker }
            }
        }
    }

    pub(crate) async fn end(self) {
        match self {
            Outage::Postgres { admin, name } => {
                sqlx::query(&format!("alter database {name} allow_connections true"))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
            }
            Outage::Sqlite { mut locker } => {
                sqlx::query("rollback").execute(&mut locker).await.unwrap();
                locker.close().await.unwrap();
            }
        }
    }
}

struct Call {
    status: u16,
    body: Value,
}

async fn send(rb: reqwest::RequestBuilder) -> Call {
    let r = rb.timeout(ANSWER_BOUND).send().await.expect("answered in time");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    Call {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

async fn an_outage_answers_503_writes_nothing_and_recovers_by_itself(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let store = app.db.store.as_ref();
    let (key, _) = api_keys::create(store, "host app", "test").await.unwrap();
    let api = |method: reqwest::Method, path: &str| {
        app.client
            .request(method, app.url(&format!("/api/v1{path}")))
            .bearer_auth(&key)
    };
    let r = send(api(reqwest::Method::PUT, "/users/ann").json(&json!({ "email": "ann@example.com" }))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ann = UserId(store.user_by_external_id("ann").await.unwrap().unwrap().id);
    let grant = LedgerEntry::new(ann, EntryKind::ManualGrant, Credits(1000), "test", "g1", Actor::System).unwrap();
    ledger::post(store, &grant).await.unwrap();
    // One spend before: the key's use is recorded now, not in the middle of the outage.
    let spend =
        |k: &str| api(reqwest::Method::POST, "/users/ann/spend").json(&json!({ "amount": 100, "idempotency_key": k }));
    assert_eq!(send(spend("before")).await.status, 200);
    let order = whop_events::order(store, ann, "outage", 5000, 750).await;
    let payment = whop_events::payment("pay_outage", &order);
    let delivery = whop_events::body("msg_outage", "payment.succeeded", &payment);
    let deliver = || {
        let ts = chrono::Utc::now().timestamp();
        let signature = sign(
            &SecretString::from(WEBHOOK_SECRET.to_string()),
            "msg_outage",
            ts,
            delivery.as_bytes(),
        );
        app.client
            .post(app.url("/api/webhooks/whop"))
            .header("content-type", "application/json")
            .header("webhook-id", "msg_outage")
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(delivery.clone())
    };

    let outage = Outage::start(db, &app.db.url).await;
    // Whop is told to retry; so is the host app; the load balancer takes the instance out.
    let r = send(deliver()).await;
    assert_eq!(r.status, 503, "{}", r.body);
    let r = send(spend("during")).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "unavailable", "{}", r.body);
    let r = send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(
        (r.status, &r.body["status"]),
        (503, &json!("unavailable")),
        "{}",
        r.body
    );
    match db {
        // PostgreSQL refuses reads too.
        Db::Postgres => assert_eq!(send(api(reqwest::Method::GET, "/users/ann/balance")).await.status, 503),
        // SQLite's readers are not blocked by a writer (WAL): balances are still served.
        Db::Sqlite => {
            let r = send(api(reqwest::Method::GET, "/users/ann/balance")).await;
            assert_eq!((r.status, &r.body["balance"]), (200, &json!(900)), "{}", r.body);
        }
    }
    // The process is alive throughout.
    assert_eq!(send(app.client.get(app.url("/healthz"))).await.status, 200);
    outage.end().await;

    // Nothing of the refused requests was written.
    assert!(store.webhook_event("msg_outage").await.unwrap().is_none());
    assert_eq!(common::checked_balance(store, ann).await, Credits(900));
    assert_eq!(store.list_transactions(ann, None, 100).await.unwrap().len(), 2);

    // Back by itself: the pool reconnects, and the same requests (as their senders retry them)
    // now succeed.
    let r = send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(deliver()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(spend("during")).await;
    assert_eq!((r.status, &r.body["replayed"]), (200, &json!(false)), "{}", r.body);
    // And exactly once: a second retry of each changes nothing.
    assert_eq!(send(deliver()).await.body["duplicate"], true);
    assert_eq!(send(spend("during")).await.body["replayed"], true);
    let credited = whop_events::reload(store, &order).await;
    assert_eq!(credited.payment_status, "paid");
    assert_eq!(common::checked_balance(store, ann).await, Credits(900 + 5000 - 100));
    assert_eq!(store.list_transactions(ann, None, 100).await.unwrap().len(), 4);
}
