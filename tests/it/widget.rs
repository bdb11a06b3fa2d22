//! The credits widget over real HTTP on both databases: tokens from the host API, the balance
//! they read (and nothing else), the frame's Content-Security-Policy from HOST_APP_ORIGINS, and
//! the rest of the app refusing to be framed.

use crate::common;

use atlas_credits::model::{Credits, EntryKind};
use atlas_credits::server::service::api_keys;
use atlas_credits::server::service::ledger::{self, Actor, LedgerEntry};
use atlas_credits::server::service::widget::{self, TOKEN_PREFIX};
use atlas_credits::server::store::Store;
use chrono::{Duration, Utc};
use common::{Db, TestApp};
use serde_json::{json, Value};

both_backends!(
    tokens_are_issued_to_a_live_key_for_a_known_user,
    a_token_reads_one_balance_and_nothing_else,
    the_frame_may_be_embedded_only_by_the_host_app,
);

const HOST: &str = "https://atlas.example.com";

struct Host {
    app: TestApp,
    key: String,
}

impl Host {
    async fn spawn(db: Db, origins: &str) -> Option<Host> {
        let app = TestApp::spawn_with_env(db, &[("HOST_APP_ORIGINS", origins)]).await?;
        let (key, _) = api_keys::create(app.db.store.as_ref(), "atlas", "test").await.unwrap();
        Some(Host { app, key })
    }

    fn store(&self) -> &dyn Store {
        self.app.db.store.as_ref()
    }

    async fn user(&self, id: &str, balance: i64) {
        let r = self
            .app
            .client
            .put(self.app.url(&format!("/api/v1/users/{id}")))
            .bearer_auth(&self.key)
            .json(&json!({ "email": format!("{id}@example.com") }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        if balance != 0 {
            let u = self.store().user_by_external_id(id).await.unwrap().unwrap();
            let entry = LedgerEntry::new(
                u.user_id(),
                EntryKind::ManualGrant,
                Credits(balance),
                "test",
                &format!("grant-{id}"),
                Actor::System,
            )
            .unwrap();
            ledger::post(self.store(), &entry).await.unwrap();
        }
    }

    /// POST .../widget-tokens with `body` (None: no body at all): (status, JSON answer).
    async fn issue(&self, id: &str, body: Option<&str>) -> (u16, Value) {
        let mut rb = self
            .app
            .client
            .post(self.app.url(&format!("/api/v1/users/{id}/widget-tokens")))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            rb = rb.header("content-type", "application/json").body(b.to_owned());
        }
        let r = rb.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn token(&self, id: &str) -> String {
        let (s, body) = self.issue(id, None).await;
        assert_eq!(s, 201, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    async fn balance(&self, auth: Option<&str>) -> (u16, Value) {
        let mut rb = self.app.client.get(self.app.url("/widget/balance"));
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.headers()["cache-control"], "no-store");
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

async fn tokens_are_issued_to_a_live_key_for_a_known_user(db: Db) {
    let Some(host) = Host::spawn(db, HOST).await else {
        return;
    };
    host.user("u1", 0).await;

    let before = Utc::now();
    let (s, body) = host.issue("u1", None).await;
    assert_eq!(s, 201, "{body}");
    let token = body["token"].as_str().unwrap();
    assert!(
        token.starts_with(TOKEN_PREFIX) && token.len() == TOKEN_PREFIX.len() + 64,
        "{token}"
    );
    let expires: chrono::DateTime<Utc> = body["expires_at"].as_str().unwrap().parse().unwrap();
    let ttl = (expires - before).num_seconds();
    assert!((3595..=3605).contains(&ttl), "an hour by default: {ttl}");
    // Two tokens are two different secrets.
    assert_ne!(host.token("u1").await, token);

    let (s, body) = host.issue("u1", Some(r#"{"ttl_secs": 86400}"#)).await;
    assert_eq!(s, 201, "{body}");
    let (s, _) = host.issue("u1", Some("  ")).await;
    assert_eq!(s, 201, "an empty body takes the defaults");

    for (bad, want) in [
        (r#"{"ttl_secs": 59}"#, 400),
        (r#"{"ttl_secs": 86401}"#, 400),
        (r#"{"ttl_secs": -1}"#, 400),
        (r#"{"ttl_secs": 9223372036854775808}"#, 400),
        (r#"{"ttl_secs": "60"}"#, 400),
        (r#"{"ttl": 60}"#, 400),
        ("[", 400),
    ] {
        let (s, body) = host.issue("u1", Some(bad)).await;
        assert_eq!(s, want, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{bad}: {body}");
    }
    let (s, body) = host.issue("ghost", None).await;
    assert_eq!((s, body["error"]["code"].as_str()), (404, Some("not_found")));
    let (s, _) = host.issue("bad%20id", None).await;
    assert_eq!(s, 400);

    // JSON only under its content type; no key, no token.
    let r = host
        .app
        .client
        .post(host.app.url("/api/v1/users/u1/widget-tokens"))
        .bearer_auth(&host.key)
        .body(r#"{"ttl_secs": 60}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = host
        .app
        .client
        .post(host.app.url("/api/v1/users/u1/widget-tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

async fn a_token_reads_one_balance_and_nothing_else(db: Db) {
    let Some(host) = Host::spawn(db, HOST).await else {
        return;
    };
    host.user("rich", 5000).await;
    host.user("poor", 300).await;
    let rich = host.token("rich").await;
    let poor = host.token("poor").await;

    // Below the default low-balance threshold (1,000) is "low".
    let (s, body) = host.balance(Some(&format!("Bearer {rich}"))).await;
    assert_eq!((s, body), (200, json!({ "balance": 5000, "low": false })));
    let (s, body) = host.balance(Some(&format!("Bearer {poor}"))).await;
    assert_eq!((s, body), (200, json!({ "balance": 300, "low": true })));

    // An expired token, a made-up one, another scheme, the API key, nothing: 401, same answer.
    let u = host.store().user_by_external_id("rich").await.unwrap().unwrap();
    let expired = format!("{TOKEN_PREFIX}{}", "ab".repeat(32));
    let key_id = host.store().list_api_keys().await.unwrap()[0].id;
    host.store()
        .create_widget_token(
            &atlas_credits::server::service::auth::token_hash(&expired),
            u.user_id(),
            key_id,
            Utc::now() - Duration::hours(2),
            Utc::now() - Duration::seconds(1),
        )
        .await
        .unwrap();
    let made_up = format!("{TOKEN_PREFIX}{}", "cd".repeat(32));
    for auth in [
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {made_up}")),
        Some(format!("Basic {rich}")),
        Some(format!("Bearer {}", host.key)),
        Some(format!("Bearer  {rich}")),
        Some(format!("Bearer {}", "x".repeat(5000))),
        None,
    ] {
        let (s, body) = host.balance(auth.as_deref()).await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (401, Some("invalid_token")),
            "{auth:?}"
        );
    }
    assert!(matches!(
        widget::balance(host.store(), &expired, Utc::now()).await,
        Err(widget::WidgetError::InvalidToken)
    ));

    // A widget token is not an API key: it can neither read through the API nor spend.
    let r = host
        .app
        .client
        .post(host.app.url("/api/v1/users/rich/spend"))
        .bearer_auth(&rich)
        .json(&json!({ "amount": 1, "idempotency_key": "widget-spend" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = host
        .app
        .client
        .get(host.app.url("/api/v1/users/poor/balance"))
        .bearer_auth(&rich)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(common::checked_balance(host.store(), u.user_id()).await, Credits(5000));
}

async fn the_frame_may_be_embedded_only_by_the_host_app(db: Db) {
    let Some(host) = Host::spawn(db, "https://atlas.example.com, http://localhost:3000").await else {
        return;
    };
    let get = |path: &str| host.app.client.get(host.app.url(path)).send();

    let r = get("/widget").await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        csp.ends_with("frame-ancestors https://atlas.example.com http://localhost:3000"),
        "{csp}"
    );
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(
        r.headers().get("x-frame-options").is_none(),
        "the frame must be framable by the host"
    );
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"data-host-origins="https://atlas.example.com http://localhost:3000""#));
    assert!(!html.contains("<script>"), "no inline script (the CSP would block it)");

    // Without HOST_APP_ORIGINS no one may frame it.
    let Some(alone) = Host::spawn(db, "").await else { return };
    let r = alone.app.client.get(alone.app.url("/widget")).send().await.unwrap();
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .ends_with("frame-ancestors 'none'"));

    // Every other page refuses to be framed at all (clickjacking on admin actions).
    for path in [
        "/",
        "/login",
        "/credits",
        "/admin",
        "/api/v1/openapi.json",
        "/healthz",
        "/no-such-page",
    ] {
        let r = get(path).await.unwrap();
        // Pages carry their whole policy (tests/it/security_headers.rs); it ends the same way.
        let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.ends_with("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(r.headers()["x-frame-options"], "DENY", "{path}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
    }

    // The widget's own files: small, typed, no WASM.
    let mut total = 0;
    for (path, kind) in [
        ("/widget.js", "text/javascript"),
        ("/widget/frame.js", "text/javascript"),
        ("/widget/frame.css", "text/css"),
    ] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        total += r.bytes().await.unwrap().len();
    }
    let frame = get("/widget").await.unwrap().bytes().await.unwrap().len();
    assert!(total + frame < 8 * 1024, "the widget is {} bytes in all", total + frame);
}
