//! The authorization matrix: every server function and every API route, called as anonymous,
//! as a user, as another user, as an admin, and with a revoked or invalid API key. Each answers
//! as it must, and no answer carries another person's data.

use crate::common;

use atlas_credits::model::{Credits, EntryKind};
use atlas_credits::server::service::api_keys;
use atlas_credits::server::service::ledger::{self, Actor, LedgerEntry};
use common::auth::Browser;
use common::{Db, TestApp};
use serde_json::Value;

both_backends!(server_functions, api_routes);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    UserA,
    UserB,
    Admin,
    RevokedKey,
    InvalidKey,
}

const EVERYONE: [Who; 6] = [
    Who::Anonymous,
    Who::UserA,
    Who::UserB,
    Who::Admin,
    Who::RevokedKey,
    Who::InvalidKey,
];

struct World {
    app: TestApp,
    a: Browser,
    b: Browser,
    admin: Browser,
    anon: Browser,
    live_key: String,
    revoked_key: String,
}

async fn world(db: Db) -> Option<World> {
    let app = TestApp::spawn(db).await?;
    let a = Browser::sign_up(&app, "alice@example.com").await;
    let b = Browser::sign_up(&app, "bob@example.com").await;
    let admin = Browser::sign_up(&app, "root@example.com").await;
    let store = app.db.store.as_ref();
    let root = store.user_by_email("root@example.com").await.unwrap().unwrap();
    store
        .set_user_credentials(root.user_id(), "admin", root.password_hash.as_deref().unwrap())
        .await
        .unwrap();
    let alice = store.user_by_email("alice@example.com").await.unwrap().unwrap();
    let grant = LedgerEntry::new(
        alice.user_id(),
        EntryKind::ManualGrant,
        Credits(4242),
        "test",
        "g1",
        Actor::System,
    )
    .unwrap()
    .with_reason("alice secret reason")
    .unwrap();
    ledger::post(store, &grant).await.unwrap();
    let (live_key, _) = api_keys::create(store, "live", "test").await.unwrap();
    let (revoked_key, row) = api_keys::create(store, "old", "test").await.unwrap();
    api_keys::revoke(store, row.id, "test").await.unwrap();
    let anon = Browser::new(&app);
    Some(World {
        app,
        a,
        b,
        admin,
        anon,
        live_key,
        revoked_key,
    })
}

impl World {
    /// A request as `who`: browsers carry their session cookie; key holders carry only the key.
    fn request(&self, who: Who, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let (browser, key) = match who {
            Who::Anonymous => (&self.anon, None),
            Who::UserA => (&self.a, None),
            Who::UserB => (&self.b, None),
            Who::Admin => (&self.admin, None),
            Who::RevokedKey => (&self.anon, Some(self.revoked_key.clone())),
            Who::InvalidKey => (&self.anon, Some(format!("ak_{}", "0".repeat(64)))),
        };
        let mut r = browser
            .client
            .request(method, self.app.url(path))
            .header("origin", &self.app.base);
        if let Some(k) = key {
            r = r.header("authorization", format!("Bearer {k}"));
        }
        r
    }

    async fn server_fn(&self, who: Who, name: &str, form: &[(&str, &str)]) -> (u16, String) {
        let r = self
            .request(who, reqwest::Method::POST, &format!("/api/{name}"))
            .form(form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

fn no_leak(who: Who, body: &str) {
    if who != Who::UserA {
        assert!(!body.contains("alice"), "{who:?} saw alice's data: {body}");
        assert!(!body.contains("4242"), "{who:?} saw alice's balance: {body}");
    }
}

async fn server_functions(db: Db) {
    let Some(w) = world(db).await else { return };

    for who in EVERYONE {
        // Public: status, and who am I (only ever yourself).
        let (s, body) = w.server_fn(who, "get_system_status", &[]).await;
        assert_eq!(s, 200, "{who:?} get_system_status");
        let (s, body_v) = w.server_fn(who, "get_viewer", &[]).await;
        assert_eq!(s, 200);
        let viewer: Value = serde_json::from_str(&body_v).unwrap();
        let expected = match who {
            Who::UserA => "alice@example.com",
            Who::UserB => "bob@example.com",
            Who::Admin => "root@example.com",
            _ => "",
        };
        if expected.is_empty() {
            assert_eq!(viewer, Value::Null, "{who:?}");
        } else {
            assert_eq!(viewer["email"], expected, "{who:?}");
        }
        no_leak(who, &body);

        // The account and its history: yours only.
        let (s, body) = w.server_fn(who, "get_account", &[]).await;
        match who {
            Who::Anonymous | Who::RevokedKey | Who::InvalidKey => assert_eq!(s, 401, "{who:?} get_account"),
            _ => {
                assert_eq!(s, 200, "{who:?} get_account");
                let acct: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(acct["email"], expected);
                assert_eq!(acct["balance"], if who == Who::UserA { 4242 } else { 0 });
            }
        }
        no_leak(who, &body);
        let (s, body) = w.server_fn(who, "list_my_transactions", &[]).await;
        match who {
            Who::Anonymous | Who::RevokedKey | Who::InvalidKey => assert_eq!(s, 401, "{who:?} list_my_transactions"),
            _ => {
                assert_eq!(s, 200);
                let page: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(
                    page["items"].as_array().unwrap().len(),
                    usize::from(who == Who::UserA),
                    "{who:?}"
                );
            }
        }
        no_leak(who, &body);
        let r = w
            .request(who, reqwest::Method::GET, "/account/transactions.csv")
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        let body = r.text().await.unwrap();
        match who {
            Who::Anonymous | Who::RevokedKey | Who::InvalidKey => assert_eq!(s, 401, "{who:?} csv"),
            _ => assert_eq!(s, 200),
        }
        no_leak(who, &body);

        // The low-balance banner: your own only (nobody here is below the threshold).
        for (name, form) in [
            ("get_low_balance_notice", vec![]),
            ("dismiss_low_balance", vec![("crossing", "1")]),
        ] {
            let (s, body) = w.server_fn(who, name, &form).await;
            match who {
                Who::Anonymous | Who::RevokedKey | Who::InvalidKey => assert_eq!(s, 401, "{who:?} {name}"),
                _ => assert_eq!(s, 200, "{who:?} {name}: {body}"),
            }
            no_leak(who, &body);
        }

        // Admin only.
        let admin_expect = match who {
            Who::Admin => 200,
            Who::UserA | Who::UserB => 403,
            _ => 401,
        };
        let (s, body) = w.server_fn(who, "admin_list_api_keys", &[]).await;
        assert_eq!(s, admin_expect, "{who:?} admin_list_api_keys");
        if s != 200 {
            assert!(!body.contains("live"), "{who:?} saw key names");
        }
        let before = w.app.db.store.list_api_keys().await.unwrap().len();
        let (s, body) = w
            .server_fn(who, "admin_create_api_key", &[("name", "made-by-test")])
            .await;
        assert_eq!(s, admin_expect, "{who:?} admin_create_api_key");
        let after = w.app.db.store.list_api_keys().await.unwrap().len();
        assert_eq!(after - before, usize::from(s == 200), "{who:?} created a key: {body}");
        let victim = w
            .app
            .db
            .store
            .list_api_keys()
            .await
            .unwrap()
            .into_iter()
            .find(|k| k.revoked_at.is_none())
            .unwrap();
        let (s, _) = w
            .server_fn(who, "admin_revoke_api_key", &[("id", &victim.id.to_string())])
            .await;
        assert_eq!(s, admin_expect, "{who:?} admin_revoke_api_key");
        let still_live = w
            .app
            .db
            .store
            .list_api_keys()
            .await
            .unwrap()
            .iter()
            .any(|k| k.id == victim.id && k.revoked_at.is_none());
        assert_eq!(still_live, s != 200, "{who:?} revoke changed a key without the right");

        // The unmatched-payments queue (empty here: a non-admin must not even learn that).
        for (name, form) in [
            ("admin_unmatched_count", vec![]),
            ("admin_list_unmatched", vec![]),
            (
                "admin_attach_unmatched",
                vec![
                    ("id", "1"),
                    ("email", "alice@example.com"),
                    ("credits", "5"),
                    ("reason", "x"),
                    ("confirm", "yes"),
                ],
            ),
            ("admin_resolve_unmatched", vec![("id", "1"), ("reason", "x")]),
            ("admin_alert_count", vec![]),
            ("admin_list_alerts", vec![]),
            ("admin_acknowledge_alert", vec![("id", "1")]),
            ("admin_acknowledge_all_alerts", vec![("up_to", "1")]),
        ] {
            let (s, body) = w.server_fn(who, name, &form).await;
            let expect = match (who, name) {
                // An admin acting on a payment that is not there: 404, nothing written.
                (Who::Admin, "admin_attach_unmatched" | "admin_resolve_unmatched" | "admin_acknowledge_alert") => 404,
                _ => admin_expect,
            };
            assert_eq!(s, expect, "{who:?} {name}: {body}");
            no_leak(who, &body);
        }

        // The webhook log (with replay), the audit log and the metrics.
        for (name, form) in [
            ("admin_list_webhooks", vec![]),
            ("admin_webhook", vec![("id", "msg_none")]),
            (
                "admin_replay_webhook",
                vec![("id", "msg_none"), ("reason", "x"), ("confirm", "yes")],
            ),
            ("admin_list_audit", vec![]),
            ("admin_metrics", vec![]),
        ] {
            let (s, body) = w.server_fn(who, name, &form).await;
            let expect = match (who, name) {
                // An admin asking for an event that is not there: 404, nothing written.
                (Who::Admin, "admin_webhook" | "admin_replay_webhook") => 404,
                _ => admin_expect,
            };
            assert_eq!(s, expect, "{who:?} {name}: {body}");
            no_leak(who, &body);
        }
        // The host app's webhook endpoints and deliveries (none delivered here: 404 for the admin).
        let endpoints_before = w.app.db.store.list_host_endpoints().await.unwrap().len();
        for (name, form) in [
            ("admin_list_webhook_endpoints", vec![]),
            (
                "admin_create_webhook_endpoint",
                vec![("url", "http://127.0.0.1:9/authz"), ("events", "order.failed")],
            ),
            (
                "admin_set_webhook_endpoint_enabled",
                vec![("id", "999"), ("enabled", "false")],
            ),
            ("admin_list_host_deliveries", vec![]),
            ("admin_host_delivery", vec![("id", "1")]),
            (
                "admin_resend_host_delivery",
                vec![("id", "1"), ("reason", "x"), ("confirm", "yes")],
            ),
        ] {
            let (s, body) = w.server_fn(who, name, &form).await;
            let expect = match (who, name) {
                (
                    Who::Admin,
                    "admin_set_webhook_endpoint_enabled" | "admin_host_delivery" | "admin_resend_host_delivery",
                ) => 404,
                _ => admin_expect,
            };
            assert_eq!(s, expect, "{who:?} {name}: {body}");
            no_leak(who, &body);
        }
        let endpoints_after = w.app.db.store.list_host_endpoints().await.unwrap().len();
        assert_eq!(
            endpoints_after - endpoints_before,
            usize::from(who == Who::Admin),
            "{who:?} registered an endpoint without the right"
        );
        // Plans and settings (the admin's Whop here is a closed port: a save is kept as failed).
        let plans_before = w.app.db.store.list_plans(true).await.unwrap().len();
        for (name, form) in [
            ("admin_list_plans", vec![]),
            (
                "admin_create_plan",
                vec![
                    ("name", "Authz plan"),
                    ("credits", "10"),
                    ("price", "1.00"),
                    ("currency", "usd"),
                    ("sort_order", "0"),
                ],
            ),
            (
                "admin_update_plan",
                vec![
                    ("id", "999999"),
                    ("name", "Nope"),
                    ("credits", "10"),
                    ("price", "1.00"),
                    ("currency", "usd"),
                    ("sort_order", "0"),
                ],
            ),
            ("admin_set_plan_active", vec![("id", "999999"), ("active", "false")]),
            ("admin_retry_plan_sync", vec![("id", "999999")]),
            ("admin_get_settings", vec![]),
            ("admin_set_whop_enabled", vec![("enabled", "on")]),
            ("admin_set_whop_beta", vec![("emails", "")]),
            ("admin_set_low_balance_threshold", vec![("threshold", "1000")]),
        ] {
            let (s, body) = w.server_fn(who, name, &form).await;
            let expect = match (who, name) {
                // An admin acting on a plan that is not there: 404, nothing written.
                (Who::Admin, "admin_update_plan" | "admin_set_plan_active" | "admin_retry_plan_sync") => 404,
                _ => admin_expect,
            };
            assert_eq!(s, expect, "{who:?} {name}: {body}");
            no_leak(who, &body);
        }
        // Orders (none exist here: an admin's actions on order 1 find nothing, 404).
        for (name, form) in [
            ("admin_list_orders", vec![]),
            ("admin_get_order", vec![("id", "1")]),
            (
                "admin_approve_order",
                vec![("id", "1"), ("reason", "x"), ("confirm", "yes")],
            ),
            ("admin_reject_order", vec![("id", "1"), ("reason", "x")]),
            (
                "admin_refund_order",
                vec![("id", "1"), ("reason", "x"), ("confirm", "yes")],
            ),
            (
                "admin_adjust_credits",
                vec![
                    ("user_id", "999999"),
                    ("credits", "5"),
                    ("reason", "x"),
                    ("key", "authz-matrix-key-0001"),
                    ("confirm", "yes"),
                ],
            ),
        ] {
            let (s, body) = w.server_fn(who, name, &form).await;
            let expect = match (who, name) {
                (Who::Admin, "admin_list_orders") => 200,
                (Who::Admin, _) => 404,
                _ => admin_expect,
            };
            assert_eq!(s, expect, "{who:?} {name}: {body}");
            no_leak(who, &body);
        }
        let plans_after = w.app.db.store.list_plans(true).await.unwrap().len();
        assert_eq!(
            plans_after - plans_before,
            usize::from(who == Who::Admin),
            "{who:?} created a plan"
        );
    }

    // Pages follow the same rules (as a browser asks for them).
    for (who, path, status) in [
        (Who::Anonymous, "/account", 302),
        (Who::UserB, "/account", 200),
        (Who::Anonymous, "/credits", 200),
        (Who::UserA, "/credits", 200),
        (Who::Admin, "/credits", 200),
        // No order 1 yet (orders are made last, below): signed out, log in first; signed in,
        // not found, as for an order of someone else's.
        (Who::Anonymous, "/payment/status?order=1", 302),
        (Who::UserB, "/payment/status?order=1", 404),
        (Who::Anonymous, "/admin", 302),
        (Who::UserA, "/admin", 403),
        (Who::Admin, "/admin", 200),
        (Who::Anonymous, "/admin/unmatched", 302),
        (Who::UserA, "/admin/unmatched", 403),
        (Who::Admin, "/admin/unmatched", 200),
        (Who::Anonymous, "/admin/webhooks", 302),
        (Who::UserA, "/admin/webhooks", 403),
        (Who::Admin, "/admin/webhooks", 200),
        (Who::Anonymous, "/admin/webhooks/msg_none", 302),
        (Who::UserA, "/admin/webhooks/msg_none", 403),
        (Who::Admin, "/admin/webhooks/msg_none", 404),
        (Who::Anonymous, "/admin/audit", 302),
        (Who::UserA, "/admin/audit", 403),
        (Who::Admin, "/admin/audit", 200),
        (Who::Anonymous, "/admin/metrics", 302),
        (Who::UserA, "/admin/metrics", 403),
        (Who::Admin, "/admin/metrics", 200),
        (Who::Anonymous, "/admin/plans", 302),
        (Who::UserA, "/admin/plans", 403),
        (Who::Admin, "/admin/plans", 200),
        (Who::Anonymous, "/admin/settings", 302),
        (Who::UserA, "/admin/settings", 403),
        (Who::Admin, "/admin/settings", 200),
        (Who::Anonymous, "/admin/orders", 302),
        (Who::UserA, "/admin/orders", 403),
        (Who::Admin, "/admin/orders", 200),
        (Who::Anonymous, "/admin/orders/1", 302),
        (Who::UserA, "/admin/orders/1", 403),
        (Who::Admin, "/admin/orders/1", 404),
        (Who::Anonymous, "/admin/alerts", 302),
        (Who::UserA, "/admin/alerts", 403),
        (Who::Admin, "/admin/alerts", 200),
        (Who::Anonymous, "/admin/webhook-endpoints", 302),
        (Who::UserA, "/admin/webhook-endpoints", 403),
        (Who::Admin, "/admin/webhook-endpoints", 200),
        (Who::Anonymous, "/admin/webhook-endpoints/deliveries/1", 302),
        (Who::UserA, "/admin/webhook-endpoints/deliveries/1", 403),
        (Who::Admin, "/admin/webhook-endpoints/deliveries/1", 404),
    ] {
        let r = w
            .request(who, reqwest::Method::GET, path)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{who:?} {path}");
        no_leak(who, &r.text().await.unwrap());
    }

    // Last (its orders would show on the admin pages above): the buyer's side: the page data and the two public facts for everyone; an order's status
    // for its owner and admins only (an admin following a user's link sees what they see), and
    // nothing about it for anyone else.
    let store = w.app.db.store.as_ref();
    let alice = store.user_by_email("alice@example.com").await.unwrap().unwrap();
    let order = common::whop_events::order(store, alice.user_id(), "authz", 25_000, 3250).await;
    let order_id = order.id.to_string();
    let enterprise = store
        .list_plans(false)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.price_cents.is_none())
        .unwrap()
        .id
        .to_string();
    for who in EVERYONE {
        let signed_in = matches!(who, Who::UserA | Who::UserB | Who::Admin);
        for name in ["get_whop_mode", "get_host_app_home", "get_credits_page"] {
            let (s, body) = w.server_fn(who, name, &[]).await;
            assert_eq!(s, 200, "{who:?} {name}: {body}");
            no_leak(who, &body);
        }
        let (s, body) = w.server_fn(who, "get_payment_status", &[("order_id", &order_id)]).await;
        let expect = match who {
            Who::UserA | Who::Admin => 200,
            Who::UserB => 404,
            _ => 401,
        };
        assert_eq!(s, expect, "{who:?} get_payment_status of alice's order: {body}");
        if who != Who::Admin {
            no_leak(who, &body);
        }
        let key = format!("authz-request-{who:?}-0123456789");
        let (s, body) = w
            .server_fn(who, "request_plan", &[("plan_id", &enterprise), ("client_key", &key)])
            .await;
        assert_eq!(s, if signed_in { 200 } else { 401 }, "{who:?} request_plan: {body}");
        no_leak(who, &body);
        let key = format!("authz-checkout-{who:?}-0123456789");
        let (s, body) = w
            .server_fn(who, "start_checkout", &[("plan_id", &enterprise), ("client_key", &key)])
            .await;
        if !signed_in {
            assert_eq!(s, 401, "{who:?} start_checkout: {body}");
        } else {
            // Enterprise is not sold at Whop: refused for anyone signed in, with a message.
            assert_eq!(s, 400, "{who:?} start_checkout: {body}");
        }
        no_leak(who, &body);
    }
}

async fn api_routes(db: Db) {
    let Some(w) = world(db).await else { return };
    let store = w.app.db.store.as_ref();
    let routes: [(reqwest::Method, &str, Option<Value>); 6] = [
        (
            reqwest::Method::PUT,
            "/api/v1/users/host-1",
            Some(serde_json::json!({ "email": "host1@example.com" })),
        ),
        (reqwest::Method::GET, "/api/v1/users/host-1/balance", None),
        (
            reqwest::Method::POST,
            "/api/v1/users/host-1/spend",
            Some(serde_json::json!({ "amount": 1, "idempotency_key": "k1" })),
        ),
        (reqwest::Method::GET, "/api/v1/users/host-1/transactions", None),
        (reqwest::Method::POST, "/api/v1/users/host-1/sessions", None),
        (reqwest::Method::POST, "/api/v1/users/host-1/widget-tokens", None),
    ];
    // Sessions do not open the API, and bad keys change nothing.
    for who in EVERYONE {
        for (method, path, body) in &routes {
            let mut r = w.request(who, method.clone(), path);
            if let Some(b) = body {
                r = r.json(b);
            }
            let r = r.send().await.unwrap();
            assert_eq!(r.status(), 401, "{who:?} {method} {path}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized");
        }
    }
    assert!(
        store.user_by_external_id("host-1").await.unwrap().is_none(),
        "nothing was created without a key"
    );

    // With a live key each answers (the spend with 402: the new user has no credits).
    let expected = [201, 200, 402, 200, 201, 201];
    for ((method, path, body), want) in routes.iter().zip(expected) {
        let mut r = w
            .anon
            .client
            .request(method.clone(), w.app.url(path))
            .bearer_auth(&w.live_key);
        if let Some(b) = body {
            r = r.json(b);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status().as_u16(), want, "live key {method} {path}");
    }
    // The API never reaches a session user's data by guessing: alice has no external id.
    let r = w
        .anon
        .client
        .get(w.app.url("/api/v1/users/alice@example.com/balance"))
        .bearer_auth(&w.live_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// Public by design, each tested where it belongs (tests/it/accounts.rs): anyone may try to sign up,
/// log in or log out.
const PUBLIC_ELSEWHERE: [&str; 3] = ["sign_up", "log_in", "log_out"];

/// Every server function the app registers is named in this file, or in `PUBLIC_ELSEWHERE`: one
/// cannot be added without deciding, here, who may call it.
#[test]
fn every_server_function_is_in_the_matrix() {
    let source = include_str!("authz_matrix.rs");
    let registered: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.trim_start_matches("/api/").to_string())
        .collect();
    assert!(registered.len() > 40, "the registry: {registered:?}");
    let missing: Vec<_> = registered
        .iter()
        .filter(|name| !PUBLIC_ELSEWHERE.contains(&name.as_str()) && !source.contains(&format!("\"{name}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "server functions with no row in the matrix: {missing:?}"
    );
}

/// Every route of the host API (`src/server/http/api_v1.rs`) has a row in `api_routes`: a new
/// route cannot be added without deciding, here, that a session or a bad key does not open it.
#[test]
fn every_api_route_is_in_the_matrix() {
    let router = include_str!("../../src/server/http/api_v1.rs");
    let source = include_str!("authz_matrix.rs");
    let routes: Vec<String> = router
        .match_indices("\"/users/")
        .filter_map(|(at, _)| router[at + 1..].split('"').next())
        .map(|route| format!("/api/v1{}", route.replace("{external_id}", "host-1")))
        .collect();
    assert!(routes.len() >= 6, "the routes: {routes:?}");
    let missing: Vec<_> = routes
        .iter()
        .filter(|route| !source.contains(&format!("\"{route}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "host API routes with no row in the matrix: {missing:?}"
    );
}
