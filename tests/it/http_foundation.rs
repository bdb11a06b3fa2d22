//! The foundation over real HTTP, on both backends: health, readiness, the server function the
//! home page calls, server rendering, and the webhook route's verify-then-store contract.

use crate::common;

use atlas_credits::server::whop::verify::sign;
use common::{Db, TestApp, WEBHOOK_SECRET};
use secrecy::SecretString;
use serde_json::Value;

both_backends!(
    health_and_readiness,
    status_server_function,
    home_page_is_server_rendered,
    webhook_verify_then_store
);

async fn health_and_readiness(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["database"], if db == Db::Sqlite { "sqlite" } else { "postgres" });

    // With the database gone, readiness says so (and liveness does not).
    app.db.store.close().await;
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
}

async fn status_server_function(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let path = <atlas_credits::api::system::GetSystemStatus as leptos::server_fn::ServerFn>::PATH;
    let r = app
        .client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let s: atlas_credits::model::SystemStatus = r.json().await.unwrap();
    assert_eq!(s.backend, if db == Db::Sqlite { "sqlite" } else { "postgres" });
    assert_eq!(s.schema_version, app.db.store.schema_version().await.unwrap());
    assert!(s.schema_version >= 1);
    assert_eq!(s.active_plans, 3);
}

async fn home_page_is_server_rendered(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let r = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Credits for Atlas, paid in seconds"));
    assert!(html.contains("/pkg/atlas-credits.js"), "hydration script missing");
    let r = app.client.get(app.url("/nothing-here")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

fn signed(id: &str, body: &str, secret: &str, ts: i64) -> Vec<(&'static str, String)> {
    let sig = sign(&SecretString::from(secret.to_string()), id, ts, body.as_bytes());
    vec![
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", sig),
    ]
}

async fn post_webhook(app: &TestApp, headers: Vec<(&'static str, String)>, body: &str) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/webhooks/whop"))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req.send().await.unwrap()
}

async fn count_events(app: &TestApp) -> i64 {
    let url = &app.db.url;
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query_scalar("select count(*) from webhook_events")
            .fetch_one(&pool)
            .await
            .unwrap()
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query_scalar("select count(*) from webhook_events")
            .fetch_one(&pool)
            .await
            .unwrap()
    }
}

async fn webhook_verify_then_store(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let now = chrono::Utc::now().timestamp();
    let body = r#"{"id":"msg_1","type":"payment.succeeded","data":{"id":"pay_1"}}"#;

    // Bad signature, wrong secret, stale timestamp, missing headers: 401 and nothing stored.
    let mut bad = signed("msg_1", body, WEBHOOK_SECRET, now);
    bad[2].1 = "v1,AAAA".into();
    assert_eq!(post_webhook(&app, bad, body).await.status(), 401);
    assert_eq!(
        post_webhook(&app, signed("msg_1", body, "ws_other", now), body)
            .await
            .status(),
        401
    );
    assert_eq!(
        post_webhook(&app, signed("msg_1", body, WEBHOOK_SECRET, now - 301), body)
            .await
            .status(),
        401
    );
    assert_eq!(post_webhook(&app, vec![], body).await.status(), 401);
    let tampered = body.replace("pay_1", "pay_2");
    assert_eq!(
        post_webhook(&app, signed("msg_1", body, WEBHOOK_SECRET, now), &tampered)
            .await
            .status(),
        401
    );
    assert_eq!(count_events(&app).await, 0);

    // A verified delivery is stored once; its repeat is acknowledged and not stored again.
    let r = post_webhook(&app, signed("msg_1", body, WEBHOOK_SECRET, now), body).await;
    assert_eq!(r.status(), 200);
    let r = post_webhook(&app, signed("msg_1", body, WEBHOOK_SECRET, now), body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["duplicate"], true);
    assert_eq!(count_events(&app).await, 1);

    // Oversized bodies are refused before verification.
    let huge = "x".repeat(300 * 1024);
    assert_eq!(
        post_webhook(&app, signed("msg_2", &huge, WEBHOOK_SECRET, now), &huge)
            .await
            .status(),
        413
    );

    // When the store is down the route answers 5xx so Whop retries.
    app.db.store.close().await;
    let r = post_webhook(&app, signed("msg_3", body, WEBHOOK_SECRET, now), body).await;
    assert_eq!(r.status(), 503);
}

/// Unknown paths render the 404 page through the fallback handler with the same context as every
/// page: its header still learns the Whop mode (regression: the fallback once lacked the state,
/// and the header's resource panicked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_page_has_the_app_state() {
    let Some(app) = TestApp::spawn_simulated(Db::Sqlite).await else {
        return;
    };
    let r = app
        .client
        .get(app.url("/no/such/page"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let html = r.text().await.unwrap();
    assert!(html.contains("Page not found"), "{html}");
    assert!(
        html.contains("TEST MODE"),
        "the header's resources ran with the state: {html}"
    );
}

#[tokio::test]
async fn webhook_without_secret_is_refused_with_503() {
    let Some(app) = TestApp::spawn_with_secrets(Db::Sqlite, vec![]).await else {
        return;
    };
    let now = chrono::Utc::now().timestamp();
    let r = post_webhook(&app, signed("msg_1", "{}", WEBHOOK_SECRET, now), "{}").await;
    assert_eq!(r.status(), 503);
    assert_eq!(count_events(&app).await, 0);
}
