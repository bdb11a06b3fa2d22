//! The host API under `/api/v1` over real HTTP, on both backends: users by external id, balance
//! and idempotent spends, bearer-key authentication, keyset-paged history, concurrent spends, and
//! the OpenAPI document kept true (every documented status is produced and every answer matches
//! its documented schema, checked by the small JSON Schema checker at the bottom of this file).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use atlas_credits::model::{Credits, EntryKind};
use atlas_credits::server::service::api_keys;
use atlas_credits::server::service::ledger::{self, Actor, LedgerEntry};
use atlas_credits::server::store::{Store, UserRow};
use common::{Db, TestApp};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

both_backends!(
    users_are_created_updated_and_validated,
    balance_and_idempotent_spends,
    every_route_requires_a_live_key,
    a_key_revoked_elsewhere_stops_within_the_cache_bound,
    transactions_page_newest_first,
    concurrent_spends_over_http,
    openapi_document_lists_exactly_the_routes,
    every_documented_status_matches_its_schema,
    concurrent_first_puts_create_one_user,
    padded_keys_and_wrong_methods_are_refused,
    spend_amounts_are_capped_even_in_debt,
    control_characters_are_refused,
    key_use_is_recorded_once_a_minute,
    a_signed_up_account_is_linked_only_when_asked,
);

/// Someone who signed up here with their email is the same person as the host app's user only
/// when the host app says so: without `link_existing_account` the taken email is a 409; with it
/// the account gets the external id, keeps its balance and sign-in, and is linked once.
async fn a_signed_up_account_is_linked_only_when_asked(db: Db) {
    let Some(api) = Api::spawn(db).await else { return };
    let signed_up = common::user(api.store(), "Ann@Example.com").await;
    let r = api.put_user("atlas-ann", &json!({ "email": "ann@example.com" })).await;
    assert_eq!(r.status, 409, "{r:?}");
    assert!(api.store().user_by_external_id("atlas-ann").await.unwrap().is_none());

    let r = api
        .put_user(
            "atlas-ann",
            &json!({ "email": "ann@example.com", "name": "Ann", "link_existing_account": true }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["external_id"], "atlas-ann");
    let linked = api.user("atlas-ann").await;
    assert_eq!((linked.id, linked.name.as_deref()), (signed_up.id, Some("Ann")));
    // Spends through the host API now reach the account the person signs in to.
    assert_eq!(api.balance("atlas-ann").await.body["balance"], 0);

    // Linked once: another external id cannot take the account over, asked or not.
    let r = api
        .put_user(
            "atlas-other",
            &json!({ "email": "ann@example.com", "link_existing_account": true }),
        )
        .await;
    assert_eq!(r.status, 409, "{r:?}");
    // Without a signed-up account, the flag simply creates the user.
    let r = api
        .put_user(
            "atlas-new",
            &json!({ "email": "new@example.com", "link_existing_account": true }),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    // Bad types are refused like any other malformed body.
    let r = api
        .put_user(
            "atlas-x",
            &json!({ "email": "x@example.com", "link_existing_account": "yes" }),
        )
        .await;
    assert_eq!(r.status, 400, "{r:?}");
}

/// A key with surrounding spaces would replay the unpadded key's spend while looking different,
/// so it is refused; a wrong method gets the same JSON error shape as everything else.
async fn padded_keys_and_wrong_methods_are_refused(db: Db) {
    let Some(api) = Api::spawn(db).await else { return };
    assert_eq!(
        api.put_user("u1", &json!({ "email": "u1@example.com" })).await.status,
        201
    );
    for key in [" k1", "k1 ", "\tk1"] {
        let r = send(
            api.req(Method::POST, "/users/u1/spend")
                .json(&json!({ "amount": 1, "idempotency_key": key })),
        )
        .await;
        assert_eq!(r.status, 400, "{key:?}");
        assert_eq!(r.body["error"]["code"], "invalid_request");
    }
    for (method, path) in [
        (Method::DELETE, "/users/u1"),
        (Method::POST, "/openapi.json"),
        (Method::GET, "/users/u1/spend"),
    ] {
        let r = send(api.req(method.clone(), path)).await;
        assert_eq!(r.status, 405, "{method} {path}");
        assert_eq!(r.body["error"]["code"], "method_not_allowed");
    }
}

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// One answer of the API: status, Content-Type and the body, which is always JSON.
#[derive(Debug)]
struct Resp {
    status: u16,
    content_type: String,
    body: Value,
}

async fn send(rb: RequestBuilder) -> Resp {
    let r = rb.send().await.expect("request sent");
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = r.text().await.expect("body read");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("answer {status} is not JSON ({e}): {text:?}"));
    Resp {
        status,
        content_type,
        body,
    }
}

/// Asserts an error answer: the status, `{"error": {"code", "message"}}` with a non-empty message.
#[track_caller]
fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{r:?}");
    assert!(r.content_type.starts_with("application/json"), "{r:?}");
    let top: Vec<&String> = r.body.as_object().expect("an object").keys().collect();
    assert_eq!(top, ["error"], "{r:?}");
    assert_eq!(r.body["error"]["code"], code, "{r:?}");
    let message = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(!message.trim().is_empty(), "an error needs a message: {r:?}");
}

/// The app, served over HTTP, with one live API key.
struct Api {
    app: TestApp,
    key: String,
}

impl Api {
    async fn spawn(db: Db) -> Option<Api> {
        let app = TestApp::spawn(db).await?;
        let (key, _) = api_keys::create(app.db.store.as_ref(), "host app", "test")
            .await
            .unwrap();
        Some(Api { app, key })
    }

    fn store(&self) -> &dyn Store {
        self.app.db.store.as_ref()
    }

    fn url(&self, path: &str) -> String {
        self.app.url(&format!("/api/v1{path}"))
    }

    /// A request without credentials.
    fn anon(&self, method: Method, path: &str) -> RequestBuilder {
        self.app.client.request(method, self.url(path))
    }

    /// A request with the live key.
    fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.anon(method, path).bearer_auth(&self.key)
    }

    async fn put_user(&self, id: &str, body: &Value) -> Resp {
        send(self.req(Method::PUT, &format!("/users/{id}")).json(body)).await
    }

    /// Creates the user over the API (201) and returns its row.
    async fn create_user(&self, id: &str) -> UserRow {
        let r = self
            .put_user(id, &json!({ "email": format!("{id}@example.com") }))
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        self.user(id).await
    }

    async fn user(&self, id: &str) -> UserRow {
        self.store()
            .user_by_external_id(id)
            .await
            .unwrap()
            .expect("user exists")
    }

    async fn balance(&self, id: &str) -> Resp {
        send(self.req(Method::GET, &format!("/users/{id}/balance"))).await
    }

    async fn balance_of(&self, id: &str) -> i64 {
        let r = self.balance(id).await;
        assert_eq!(r.status, 200, "{r:?}");
        r.body["balance"].as_i64().unwrap()
    }

    async fn spend(&self, id: &str, body: &Value) -> Resp {
        send(self.req(Method::POST, &format!("/users/{id}/spend")).json(body)).await
    }

    async fn transactions(&self, id: &str, query: &str) -> Resp {
        send(self.req(Method::GET, &format!("/users/{id}/transactions{query}"))).await
    }

    /// Grants credits straight through the ledger (as an admin would).
    async fn grant(&self, id: &str, amount: i64, source: &str) {
        let user = self.user(id).await;
        let entry = LedgerEntry::new(
            user.user_id(),
            EntryKind::ManualGrant,
            Credits(amount),
            "test",
            source,
            Actor::System,
        )
        .unwrap();
        assert!(ledger::post(self.store(), &entry).await.unwrap().applied);
    }

    async fn ledger_sum(&self, id: &str) -> i64 {
        self.store()
            .ledger_sum(self.user(id).await.user_id())
            .await
            .unwrap()
            .get()
    }

    async fn row_count(&self, id: &str) -> usize {
        let user = self.user(id).await.user_id();
        self.store().list_transactions(user, None, 1000).await.unwrap().len()
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Users
// ---------------------------------------------------------------------------------------------

async fn users_are_created_updated_and_validated(db: Db) {
    let Some(api) = Api::spawn(db).await else {
        return;
    };

    // Created, then updated; the answer echoes the fields.
    let r = api
        .put_user("u-1", &json!({ "email": "ann@example.com", "name": "Ann" }))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        r.body,
        json!({ "external_id": "u-1", "email": "ann@example.com", "name": "Ann", "balance": 0 })
    );
    let r = api
        .put_user("u-1", &json!({ "email": "ann.b@example.com", "name": "Ann B" }))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body,
        json!({ "external_id": "u-1", "email": "ann.b@example.com", "name": "Ann B", "balance": 0 })
    );
    let stored = api.user("u-1").await;
    assert_eq!(
        (stored.email.as_str(), stored.name.as_deref()),
        ("ann.b@example.com", Some("Ann B"))
    );

    // An update reports the current balance.
    api.grant("u-1", 42, "g1").await;
    let r = api
        .put_user("u-1", &json!({ "email": "ann.b@example.com", "name": null }))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body,
        json!({ "external_id": "u-1", "email": "ann.b@example.com", "name": null, "balance": 42 })
    );

    // The email of another external user, in any case, is a conflict; nothing is created.
    let r = api.put_user("u-2", &json!({ "email": "ANN.B@Example.COM" })).await;
    assert_error(&r, 409, "conflict");
    assert!(api.store().user_by_external_id("u-2").await.unwrap().is_none());
    assert_error(&api.balance("u-2").await, 404, "not_found");
    // ... also when an existing user tries to take it.
    api.create_user("u-3").await;
    assert_error(
        &api.put_user("u-3", &json!({ "email": "Ann.B@example.com" })).await,
        409,
        "conflict",
    );
    assert_eq!(api.user("u-3").await.email, "u-3@example.com");
    // The same user may change the case of its own email.
    let r = api.put_user("u-1", &json!({ "email": "Ann.B@Example.com" })).await;
    assert_eq!(r.status, 200, "{r:?}");

    // External ids: 1 to 128 of letters, digits and - _ . : @
    let longest = "x".repeat(128);
    for ok in [longest.as_str(), "A-z_0.9:@"] {
        let r = api
            .put_user(ok, &json!({ "email": format!("{}@ok.example.com", ok.len()) }))
            .await;
        assert_eq!(r.status, 201, "{ok}: {r:?}");
        assert_eq!(r.body["external_id"], ok);
    }
    let too_long = "x".repeat(129);
    let invalid = [
        ("a%20b", "a b"),
        ("a%2Fb", "a/b"),
        ("a%25b", "a%b"),
        ("a+b", "a+b"),
        ("%C3%A9t%C3%A9", "été"),
        ("a%00b", "a\0b"),
        (too_long.as_str(), too_long.as_str()),
    ];
    for (encoded, decoded) in invalid {
        let r = api.put_user(encoded, &json!({ "email": "bad-id@example.com" })).await;
        assert_error(&r, 400, "invalid_request");
        assert_error(&api.balance(encoded).await, 400, "invalid_request");
        // (PostgreSQL text cannot hold NUL, so a lookup error also means "not stored".)
        assert!(api.store().user_by_external_id(decoded).await.ok().flatten().is_none());
    }
    assert!(api.store().user_by_email("bad-id@example.com").await.unwrap().is_none());

    // Unknown JSON field: refused, nothing created.
    let r = api
        .put_user("u-4", &json!({ "email": "u4@example.com", "nickname": "x" }))
        .await;
    assert_error(&r, 400, "invalid_request");
    assert!(api.store().user_by_external_id("u-4").await.unwrap().is_none());
    assert!(api.store().user_by_email("u4@example.com").await.unwrap().is_none());

    // Malformed JSON, a JSON value that is not the object, a missing email.
    for raw in [
        r#"{"email":"#,
        "",
        "[]",
        "null",
        r#"{"name":"No Email"}"#,
        r#"{"email":42}"#,
    ] {
        let r = send(
            api.req(Method::PUT, "/users/u-4")
                .header("content-type", "application/json")
                .body(raw),
        )
        .await;
        assert_error(&r, 400, "invalid_request");
    }

    // No Content-Type, or not JSON: 415.
    let raw = r#"{"email":"u4@example.com"}"#;
    assert_error(
        &send(api.req(Method::PUT, "/users/u-4").body(raw)).await,
        415,
        "unsupported_media_type",
    );
    let r = send(
        api.req(Method::PUT, "/users/u-4")
            .header("content-type", "text/plain")
            .body(raw),
    )
    .await;
    assert_error(&r, 415, "unsupported_media_type");
    assert!(api.store().user_by_external_id("u-4").await.unwrap().is_none());

    // Bodies up to 16 KiB are read; one byte more is 413 and nothing is created.
    let padded = |len: usize| {
        let head = r#"{"email":"big@example.com""#;
        format!("{head}{}}}", " ".repeat(len - head.len() - 1))
    };
    assert_eq!(padded(16 * 1024 + 1).len(), 16 * 1024 + 1);
    let r = send(
        api.req(Method::PUT, "/users/big")
            .header("content-type", "application/json")
            .body(padded(16 * 1024 + 1)),
    )
    .await;
    assert_error(&r, 413, "payload_too_large");
    assert!(api.store().user_by_external_id("big").await.unwrap().is_none());
    let r = send(
        api.req(Method::PUT, "/users/big")
            .header("content-type", "application/json")
            .body(padded(100 * 1024)),
    )
    .await;
    assert_error(&r, 413, "payload_too_large");
    let r = send(
        api.req(Method::PUT, "/users/big")
            .header("content-type", "application/json")
            .body(padded(16 * 1024)),
    )
    .await;
    assert_eq!(r.status, 201, "a body of exactly 16 KiB is accepted: {r:?}");

    // Invalid emails and names.
    for email in [
        "",
        "   ",
        "not-an-email",
        "a@b",
        "@example.com",
        "a b@example.com",
        "a@@example.com",
    ] {
        let r = api.put_user("u-5", &json!({ "email": email })).await;
        assert_error(&r, 400, "invalid_request");
    }
    let r = api
        .put_user("u-5", &json!({ "email": "u5@example.com", "name": "n".repeat(201) }))
        .await;
    assert_error(&r, 400, "invalid_request");
    assert!(api.store().user_by_external_id("u-5").await.unwrap().is_none());
    let r = api
        .put_user("u-5", &json!({ "email": "u5@example.com", "name": "n".repeat(200) }))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// 2. Balance and spend
// ---------------------------------------------------------------------------------------------

async fn balance_and_idempotent_spends(db: Db) {
    let Some(api) = Api::spawn(db).await else {
        return;
    };

    assert_error(&api.balance("ghost").await, 404, "not_found");
    let r = api
        .spend("ghost", &json!({ "amount": 1, "idempotency_key": "g" }))
        .await;
    assert_error(&r, 404, "not_found");

    api.create_user("u1").await;
    let r = api.balance("u1").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, json!({ "external_id": "u1", "balance": 0, "in_debt": false }));
    api.grant("u1", 100, "g1").await;
    assert_eq!(api.balance_of("u1").await, 100);

    // Spend 30 with k1; the same key again replays the first result and spends nothing.
    let r = api
        .spend(
            "u1",
            &json!({ "amount": 30, "idempotency_key": "k1", "reason": "render" }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let tx = r.body["transaction_id"].as_i64().expect("transaction_id");
    assert_eq!(
        r.body,
        json!({ "transaction_id": tx, "external_id": "u1", "amount": 30, "balance": 70, "idempotency_key": "k1", "replayed": false })
    );
    let r = api
        .spend(
            "u1",
            &json!({ "amount": 30, "idempotency_key": "k1", "reason": "render" }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body,
        json!({ "transaction_id": tx, "external_id": "u1", "amount": 30, "balance": 70, "idempotency_key": "k1", "replayed": true })
    );
    assert_eq!(api.balance_of("u1").await, 70);
    assert_eq!(api.row_count("u1").await, 2);

    // k1 for another amount, or for another user: 409, nothing spent.
    let r = api.spend("u1", &json!({ "amount": 31, "idempotency_key": "k1" })).await;
    assert_error(&r, 409, "conflict");
    api.create_user("u2").await;
    api.grant("u2", 50, "g2").await;
    let r = api.spend("u2", &json!({ "amount": 30, "idempotency_key": "k1" })).await;
    assert_error(&r, 409, "conflict");
    assert_eq!(api.balance_of("u1").await, 70);
    assert_eq!(api.balance_of("u2").await, 50);
    assert_eq!(api.row_count("u2").await, 1);

    // Too much: 402 with the balance; nothing spent.
    let r = api
        .spend("u1", &json!({ "amount": 1000, "idempotency_key": "k2" }))
        .await;
    assert_error_402(&r, 70);
    let r = api
        .spend("u1", &json!({ "amount": MAX_SPEND, "idempotency_key": "k-max" }))
        .await;
    assert_error_402(&r, 70);
    assert_eq!(api.balance_of("u1").await, 70);
    assert_eq!(api.row_count("u1").await, 2);

    // A refused key is not burnt: once there is enough, the same key spends (once).
    api.grant("u1", 1000, "g3").await;
    let r = api
        .spend("u1", &json!({ "amount": 1000, "idempotency_key": "k2" }))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        (r.body["balance"].as_i64(), r.body["replayed"].as_bool()),
        (Some(70), Some(false))
    );
    let r = api
        .spend("u1", &json!({ "amount": 1000, "idempotency_key": "k2" }))
        .await;
    assert_eq!((r.status, r.body["replayed"].as_bool()), (200, Some(true)), "{r:?}");
    assert_eq!(api.balance_of("u1").await, 70);

    // Malformed spends: 400, nothing spent and the keys are not used up.
    let long_key = "k".repeat(256);
    let long_reason = "r".repeat(501);
    let refused = [
        json!({ "amount": 0, "idempotency_key": "bad-1" }),
        json!({ "amount": -5, "idempotency_key": "bad-2" }),
        json!({ "amount": 1.5, "idempotency_key": "bad-3" }),
        json!({ "amount": "10", "idempotency_key": "bad-4" }),
        json!({ "amount": null, "idempotency_key": "bad-5" }),
        json!({ "idempotency_key": "bad-6" }),
        json!({ "amount": 1 }),
        json!({ "amount": 1, "idempotency_key": "" }),
        json!({ "amount": 1, "idempotency_key": "   " }),
        json!({ "amount": 1, "idempotency_key": 7 }),
        json!({ "amount": 1, "idempotency_key": long_key }),
        json!({ "amount": 1, "idempotency_key": "bad-7", "reason": long_reason }),
        json!({ "amount": 1, "idempotency_key": "bad-8", "extra": true }),
    ];
    for body in &refused {
        let r = api.spend("u1", body).await;
        assert_error(&r, 400, "invalid_request");
    }
    let r = send(
        api.req(Method::POST, "/users/u1/spend")
            .header("content-type", "application/json")
            .body(r#"{"amount": 1, "idempotency_key": "bad-9""#),
    )
    .await;
    assert_error(&r, 400, "invalid_request");
    let r = send(
        api.req(Method::POST, "/users/u1/spend")
            .body(r#"{"amount":1,"idempotency_key":"bad-10"}"#),
    )
    .await;
    assert_error(&r, 415, "unsupported_media_type");
    assert_eq!(api.balance_of("u1").await, 70);
    assert_eq!(api.row_count("u1").await, 4);

    // The limits themselves are accepted.
    let r = api
        .spend(
            "u1",
            &json!({ "amount": 1, "idempotency_key": "k".repeat(255), "reason": "r".repeat(500) }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    // A refused spend's key is still free.
    let r = api
        .spend("u1", &json!({ "amount": 1, "idempotency_key": "bad-7" }))
        .await;
    assert_eq!((r.status, r.body["replayed"].as_bool()), (200, Some(false)), "{r:?}");

    // After all of it the balance is the ledger's sum.
    let r = api.balance("u1").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["balance"], api.ledger_sum("u1").await);
    assert_eq!(r.body, json!({ "external_id": "u1", "balance": 68, "in_debt": false }));
    assert_eq!(api.ledger_sum("u2").await, 50);
}

#[track_caller]
fn assert_error_402(r: &Resp, balance: i64) {
    assert_eq!(r.status, 402, "{r:?}");
    assert_eq!(r.body["error"]["code"], "insufficient_credits", "{r:?}");
    assert_eq!(r.body["error"]["balance"], balance, "{r:?}");
    assert!(!r.body["error"]["message"].as_str().unwrap_or("").is_empty(), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// 3. Authentication
// ---------------------------------------------------------------------------------------------

async fn every_route_requires_a_live_key(db: Db) {
    let Some(api) = Api::spawn(db).await else {
        return;
    };
    api.create_user("u1").await;
    api.grant("u1", 10, "g1").await;
    let (revoked, row) = api_keys::create(api.store(), "old", "test").await.unwrap();
    // The key works until it is revoked.
    assert_eq!(
        send(api.anon(Method::GET, "/users/u1/balance").bearer_auth(&revoked))
            .await
            .status,
        200
    );
    api_keys::revoke(api.store(), row.id, "test").await.unwrap();

    let zeros = format!("ak_{}", "0".repeat(64));
    let bad_headers: Vec<Option<String>> = vec![
        None,
        Some("Bearer garbage".into()),
        Some(format!("Bearer {zeros}")),
        Some(format!("Bearer {revoked}")),
        Some("Basic dXNlcjpwYXNzd29yZA==".into()),
        Some(format!("Basic {}", api.key)),
        Some("Bearer ".into()),
        Some(format!("Token {}", api.key)),
    ];
    for (i, header) in bad_headers.iter().enumerate() {
        let with = |rb: RequestBuilder| match header {
            Some(h) => rb.header("authorization", h),
            None => rb,
        };
        let key = format!("evil-{i}");
        let calls = [
            with(api.anon(Method::PUT, "/users/u1")).json(&json!({ "email": "evil@example.com", "name": "Evil" })),
            with(api.anon(Method::PUT, "/users/evil")).json(&json!({ "email": "evil@example.com" })),
            with(api.anon(Method::GET, "/users/u1/balance")),
            with(api.anon(Method::POST, "/users/u1/spend")).json(&json!({ "amount": 5, "idempotency_key": key })),
            with(api.anon(Method::GET, "/users/u1/transactions")),
            with(api.anon(Method::GET, "/users/ghost/balance")),
            with(api.anon(Method::POST, "/users/u1/widget-tokens")),
            with(api.anon(Method::POST, "/users/u1/sessions")),
        ];
        for rb in calls {
            let r = send(rb).await;
            assert_error(&r, 401, "unauthorized");
        }
    }

    // Nothing changed: the user, the balance, the ledger; the refused keys are unused.
    let u = api.user("u1").await;
    assert_eq!((u.email.as_str(), u.name.as_deref()), ("u1@example.com", None));
    assert!(api.store().user_by_external_id("evil").await.unwrap().is_none());
    assert_eq!(api.balance_of("u1").await, 10);
    assert_eq!(api.row_count("u1").await, 1);
    let r = api
        .spend("u1", &json!({ "amount": 1, "idempotency_key": "evil-3" }))
        .await;
    assert_eq!((r.status, r.body["replayed"].as_bool()), (200, Some(false)), "{r:?}");

    // The document needs no key; unknown routes are JSON 404s with or without one.
    let r = send(api.anon(Method::GET, "/openapi.json")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.content_type.starts_with("application/json"), "{r:?}");
    assert!(r.body["openapi"].is_string());
    for path in ["/nope", "/users/u1/nope", "/users", "/users/"] {
        assert_error(&send(api.anon(Method::GET, path)).await, 404, "not_found");
        assert_error(&send(api.req(Method::GET, path)).await, 404, "not_found");
    }
}

/// Live keys are remembered for `api_key_cache::TTL` (a read less per call). A key revoked
/// through another store (another instance) stops working here within that bound; through this
/// store, at once (`every_route_requires_a_live_key`).
async fn a_key_revoked_elsewhere_stops_within_the_cache_bound(db: Db) {
    let Some(api) = Api::spawn(db).await else {
        return;
    };
    api.create_user("u1").await;
    let (key, row) = api_keys::create(api.store(), "other", "test").await.unwrap();
    let call = || send(api.anon(Method::GET, "/users/u1/balance").bearer_auth(&key));
    assert_eq!(call().await.status, 200);
    let elsewhere = api.app.db.attach().await;
    api_keys::revoke(elsewhere.store.as_ref(), row.id, "test")
        .await
        .unwrap();
    tokio::time::sleep(atlas_credits::server::store::api_key_cache::TTL + std::time::Duration::from_millis(200)).await;
    assert_eq!(call().await.status, 401);
    // And the key that stays live still works.
    assert_eq!(api.balance("u1").await.status, 200);
}

/// An authenticated call reads the key; its use is written at most once a minute. Regression:
/// every call (even `GET /balance`) wrote `last_used_at`, a database write per request.
async fn key_use_is_recorded_once_a_minute(db: Db) {
    let Some(api) = Api::spawn(db).await else {
        return;
    };
    api.create_user("u1").await;
    let key_row = || async {
        let keys = api.store().list_api_keys().await.unwrap();
        keys.into_iter().find(|k| k.name == "host app").expect("the key")
    };
    let first = key_row().await.last_used_at.expect("the first call recorded the use");
    assert!(chrono::Utc::now() - first < chrono::Duration::seconds(60));
    for i in 0..20 {
        let r = if i % 2 == 0 {
            api.balance("u1").await
        } else {
            api.transactions("u1", "").await
        };
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(key_row().await.last_used_at, Some(first), "call {i} wrote last_used_at");
    }

    // Once the recorded use is older than a minute, the next call records it again (once).
    let id = key_row().await.id;
    // Whole seconds: PostgreSQL keeps microseconds, so a nanosecond time would not round-trip.
    let old = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now() - chrono::Duration::seconds(120), 0);
    let far = chrono::Utc::now() + chrono::Duration::days(1);
    assert!(api.store().record_api_key_use(id, old, far).await.unwrap());
    assert_eq!(key_row().await.last_used_at, Some(old));
    let before = chrono::Utc::now();
    assert_eq!(api.balance("u1").await.status, 200);
    let renewed = key_row().await.last_used_at.unwrap();
    assert!(renewed >= before - chrono::Duration::seconds(1), "{renewed} {before}");
    assert_eq!(api.balance("u1").await.status, 200);
    assert_eq!(key_row().await.last_used_at, Some(renewed));
    // The conditional write itself: a fresh use is not overwritten.
    let now = chrono::Utc::now();
    assert!(!api
        .store()
        .record_api_key_use(id, now, now - chrono::Duration::seconds(60))
        .await
        .unwrap());
}

// ---------------------------------------------------------------------------------------------
// 4. Transactions
// ---------------------------------------------------------------------------------------------

async fn transactions_page_newest_first(db: Db) {
    let Some(api) = Api::spawn(db).await else {
        return;
    };
    let user = api.create_user("u1").await.user_id();
    let r = api.transactions("u1", "").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, json!({ "data": [], "next_before": null }));

    // 7 rows: grants through the ledger, spends through the API.
    let mut spend_keys = BTreeMap::new();
    api.grant("u1", 10, "g1").await;
    for (amount, key) in [(1, "s1"), (2, "s2")] {
        let r = api
            .spend(
                "u1",
                &json!({ "amount": amount, "idempotency_key": key, "reason": format!("job {key}") }),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        spend_keys.insert(r.body["transaction_id"].as_i64().unwrap(), key);
    }
    api.grant("u1", 5, "g2").await;
    api.grant("u1", 7, "g3").await;
    for (amount, key) in [(3, "s3"), (4, "s4")] {
        let r = api
            .spend("u1", &json!({ "amount": amount, "idempotency_key": key }))
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        spend_keys.insert(r.body["transaction_id"].as_i64().unwrap(), key);
    }
    let stored = api.store().list_transactions(user, None, 100).await.unwrap();
    assert_eq!(stored.len(), 7);

    // Pages of 3, newest first, until next_before is null.
    let mut seen: Vec<Value> = Vec::new();
    let mut query = "?limit=3".to_string();
    let mut sizes = Vec::new();
    loop {
        let r = api.transactions("u1", &query).await;
        assert_eq!(r.status, 200, "{r:?}");
        let page = r.body["data"].as_array().unwrap().clone();
        sizes.push(page.len());
        seen.extend(page);
        match r.body["next_before"].as_i64() {
            Some(before) => {
                assert_eq!(Some(before), seen.last().and_then(|t| t["id"].as_i64()));
                query = format!("?limit=3&before={before}");
            }
            None => {
                assert!(r.body["next_before"].is_null(), "{r:?}");
                break;
            }
        }
        assert!(sizes.len() < 10, "pagination does not end");
    }
    assert_eq!(sizes, [3, 3, 1]);
    let ids: Vec<i64> = seen.iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first, each once: {ids:?}");
    let stored_ids: Vec<i64> = stored.iter().map(|t| t.id).collect();
    assert_eq!(ids, stored_ids, "every row exactly once");

    // The rows themselves.
    let balance = api.balance_of("u1").await;
    assert_eq!(balance, 12);
    assert_eq!(seen[0]["balance_after"], balance);
    for (t, row) in seen.iter().zip(&stored) {
        assert_eq!(t["amount"], row.amount);
        assert_eq!(t["balance_after"], row.balance_after);
        assert_eq!(t["kind"], row.kind.as_str());
        let created = t["created_at"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok(), "{created}");
        match t["kind"].as_str().unwrap() {
            "spend" => {
                let key = spend_keys[&row.id];
                assert_eq!(t["idempotency_key"], key, "{t}");
                assert!(row.amount < 0);
                let reason = if ["s1", "s2"].contains(&key) {
                    json!(format!("job {key}"))
                } else {
                    Value::Null
                };
                assert_eq!(t["reason"], reason, "{t}");
            }
            "manual_grant" => {
                assert!(t.as_object().unwrap().contains_key("idempotency_key"), "{t}");
                assert_eq!(t["idempotency_key"], Value::Null, "{t}");
                assert!(row.amount > 0);
            }
            other => panic!("unexpected kind {other}"),
        }
    }
    assert_eq!(seen.iter().filter(|t| t["kind"] == "spend").count(), 4);

    // The default and the largest page hold all; before= an old id pages from there.
    for q in ["", "?limit=200"] {
        let r = api.transactions("u1", q).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body["data"].as_array().unwrap().len(), 7);
        assert!(r.body["next_before"].is_null());
    }
    let r = api.transactions("u1", &format!("?before={}", ids[5])).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["data"][0]["id"], ids[6]);

    // Bad queries: 400; unknown user: 404.
    for q in [
        "?limit=0",
        "?limit=201",
        "?limit=-1",
        "?limit=abc",
        "?limit=1.5",
        "?before=abc",
        "?foo=1",
        "?limit=3&cursor=9",
    ] {
        assert_error(&api.transactions("u1", q).await, 400, "invalid_request");
    }
    assert_error(&api.transactions("ghost", "").await, 404, "not_found");
    assert_error(&api.transactions("a%20b", "").await, 400, "invalid_request");
}

// ---------------------------------------------------------------------------------------------
// 5. Concurrency
// ---------------------------------------------------------------------------------------------

async fn concurrent_spends_over_http(db: Db) {
    let Some(api) = Api::spawn(db).await else {
        return;
    };
    api.create_user("u1").await;
    api.grant("u1", 20, "g1").await;

    // 50 spends of 1 with distinct keys against a balance of 20.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..50 {
        let rb = api
            .req(Method::POST, "/users/u1/spend")
            .json(&json!({ "amount": 1, "idempotency_key": format!("c-{i}") }));
        set.spawn(send(rb));
    }
    let answers = set.join_all().await;
    let ok: Vec<&Resp> = answers.iter().filter(|r| r.status == 200).collect();
    let refused: Vec<&Resp> = answers.iter().filter(|r| r.status == 402).collect();
    assert_eq!((ok.len(), refused.len()), (20, 30), "{answers:?}");
    for r in &refused {
        assert_eq!(r.body["error"]["code"], "insufficient_credits", "{r:?}");
    }
    let txs: BTreeSet<i64> = ok.iter().map(|r| r.body["transaction_id"].as_i64().unwrap()).collect();
    assert_eq!(txs.len(), 20);
    assert!(ok.iter().all(|r| r.body["replayed"] == false));
    let mut balances: Vec<i64> = ok.iter().map(|r| r.body["balance"].as_i64().unwrap()).collect();
    balances.sort();
    assert_eq!(balances, (0..20).collect::<Vec<_>>(), "each spend saw its own balance");
    assert_eq!(api.balance_of("u1").await, 0);
    assert_eq!(api.ledger_sum("u1").await, 0);

    // 20 spends with one shared new key: one applies, all answer with its transaction.
    api.grant("u1", 5, "g2").await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let rb = api
            .req(Method::POST, "/users/u1/spend")
            .json(&json!({ "amount": 3, "idempotency_key": "shared" }));
        set.spawn(send(rb));
    }
    let answers = set.join_all().await;
    assert!(answers.iter().all(|r| r.status == 200), "{answers:?}");
    let fresh = answers.iter().filter(|r| r.body["replayed"] == false).count();
    assert_eq!(fresh, 1, "{answers:?}");
    let txs: BTreeSet<i64> = answers
        .iter()
        .map(|r| r.body["transaction_id"].as_i64().unwrap())
        .collect();
    assert_eq!(txs.len(), 1, "{answers:?}");
    assert!(answers.iter().all(|r| r.body["balance"] == 2), "{answers:?}");
    assert_eq!(api.balance_of("u1").await, 2);
    assert_eq!(api.ledger_sum("u1").await, 2);
}

/// Concurrent first PUTs of one new user create it once (201) and update it otherwise (200).
/// Regression: on SQLite the losing INSERT violates both unique indexes and SQLite reports
/// `users_email_lower` first; `host_users::upsert` once answered 409 "email already used" for the
/// user's own email instead of retrying as an update (a host retrying a timed-out PUT got a 409).
async fn concurrent_first_puts_create_one_user(db: Db) {
    let Some(api) = Api::spawn(db).await else {
        return;
    };
    for round in 0..10 {
        let id = format!("race-{round}");
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let rb = api
                .req(Method::PUT, &format!("/users/{id}"))
                .json(&json!({ "email": format!("{id}@example.com"), "name": "Racer" }));
            set.spawn(send(rb));
        }
        let answers = set.join_all().await;
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        for r in &answers {
            *statuses.entry(r.status).or_default() += 1;
        }
        assert_eq!(
            statuses,
            BTreeMap::from([(200, 19), (201, 1)]),
            "round {round}: one create, the rest updates; got {:?}",
            answers.iter().find(|r| r.status >= 400)
        );
        let expected =
            json!({ "external_id": id, "email": format!("{id}@example.com"), "name": "Racer", "balance": 0 });
        assert!(answers.iter().all(|r| r.body == expected), "{answers:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 5b. Integer and text edges
// ---------------------------------------------------------------------------------------------

/// Largest spend the API takes (10^12 credits).
const MAX_SPEND: i64 = 1_000_000_000_000;

/// Amounts are 1 to 10^12. Regression: a spend of i64::MAX by a user in debt overflowed the
/// balance arithmetic and answered 500; 10^12 + 1 was a 402 instead of a 400.
async fn spend_amounts_are_capped_even_in_debt(db: Db) {
    let Some(api) = Api::spawn(db).await else {
        return;
    };
    let debtor = api.create_user("debtor").await;
    api.grant("debtor", 10, "g1").await;
    let clawback = LedgerEntry::new(
        debtor.user_id(),
        EntryKind::RefundClawback,
        Credits(-15),
        "test",
        "refund-1",
        Actor::System,
    )
    .unwrap();
    assert!(ledger::post(api.store(), &clawback).await.unwrap().applied);
    assert_eq!(api.balance_of("debtor").await, -5);

    for (i, amount) in [i64::MAX, MAX_SPEND + 1, -1, 0, i64::MIN].into_iter().enumerate() {
        let r = api
            .spend(
                "debtor",
                &json!({ "amount": amount, "idempotency_key": format!("big-{i}") }),
            )
            .await;
        assert_error(&r, 400, "invalid_request");
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("amount") && message.contains("1000000000000"),
            "{message}"
        );
    }
    assert_eq!(api.balance_of("debtor").await, -5);
    assert_eq!(api.ledger_sum("debtor").await, -5);
    assert_eq!(api.row_count("debtor").await, 2);

    // The cap itself is a valid spend.
    let rich = api.create_user("rich").await;
    api.grant("rich", MAX_SPEND, "g2").await;
    let r = api
        .spend("rich", &json!({ "amount": MAX_SPEND, "idempotency_key": "all" }))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        (r.body["amount"].as_i64(), r.body["balance"].as_i64()),
        (Some(MAX_SPEND), Some(0))
    );
    assert_eq!(api.store().ledger_sum(rich.user_id()).await.unwrap().get(), 0);
}

/// Control characters in a name, reason or idempotency key are refused with 400 on both
/// backends. Regression: SQLite stored a NUL where PostgreSQL failed with a 500.
async fn control_characters_are_refused(db: Db) {
    let Some(api) = Api::spawn(db).await else {
        return;
    };
    // A new user with such a name is not created; an existing one keeps its name.
    for name in ["A\0B", "A\nB", "A\tB", "A\u{7f}", "A\u{85}B"] {
        let r = api
            .put_user("u-ctl", &json!({ "email": "ctl@example.com", "name": name }))
            .await;
        assert_error(&r, 400, "invalid_request");
        assert!(
            r.body["error"]["message"].as_str().unwrap().contains("control"),
            "{r:?}"
        );
    }
    assert!(api.store().user_by_external_id("u-ctl").await.unwrap().is_none());
    assert!(api.store().user_by_email("ctl@example.com").await.unwrap().is_none());
    api.create_user("u1").await;
    let r = api
        .put_user("u1", &json!({ "email": "u1@example.com", "name": "x\0y" }))
        .await;
    assert_error(&r, 400, "invalid_request");
    assert_eq!(api.user("u1").await.name, None);

    // Spends with such a reason or key spend nothing.
    api.grant("u1", 10, "g1").await;
    let refused = [
        json!({ "amount": 1, "idempotency_key": "k1", "reason": "a\0b" }),
        json!({ "amount": 1, "idempotency_key": "k2", "reason": "line\nbreak" }),
        json!({ "amount": 1, "idempotency_key": "k\u{0}3" }),
        json!({ "amount": 1, "idempotency_key": "k\u{9b}4" }),
    ];
    for body in &refused {
        assert_error(&api.spend("u1", body).await, 400, "invalid_request");
    }
    assert_eq!(api.balance_of("u1").await, 10);
    assert_eq!(api.row_count("u1").await, 1);
    // The refused key "k1" is still free.
    let r = api.spend("u1", &json!({ "amount": 1, "idempotency_key": "k1" })).await;
    assert_eq!((r.status, r.body["replayed"].as_bool()), (200, Some(false)), "{r:?}");

    // API key names follow the same rule.
    let before = api.store().list_api_keys().await.unwrap().len();
    for name in ["key\0", "key\nname"] {
        assert!(matches!(
            api_keys::create(api.store(), name, "test").await,
            Err(api_keys::ApiKeyError::InvalidName)
        ));
    }
    assert_eq!(api.store().list_api_keys().await.unwrap().len(), before);

    // A lone surrogate escape is not a string JSON can carry: 400, nothing stored.
    for (method, path, raw) in [
        (
            Method::PUT,
            "/users/u-sur",
            r#"{"email":"sur@example.com","name":"\ud800"}"#,
        ),
        (
            Method::POST,
            "/users/u1/spend",
            r#"{"amount":1,"idempotency_key":"\ud800"}"#,
        ),
        (
            Method::POST,
            "/users/u1/spend",
            r#"{"amount":1,"idempotency_key":"k5","reason":"a\udc00"}"#,
        ),
    ] {
        let r = send(
            api.req(method, path)
                .header("content-type", "application/json")
                .body(raw),
        )
        .await;
        assert_error(&r, 400, "invalid_request");
    }
    assert!(api.store().user_by_external_id("u-sur").await.unwrap().is_none());
    assert_eq!(api.balance_of("u1").await, 9);
    assert_eq!(api.row_count("u1").await, 2);
}

// ---------------------------------------------------------------------------------------------
// 6. The OpenAPI document
// ---------------------------------------------------------------------------------------------

async fn fetch_spec(api: &Api) -> OpenApi {
    let r = send(api.anon(Method::GET, "/openapi.json")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.content_type.starts_with("application/json"), "{r:?}");
    OpenApi::new(r.body)
}

const OPERATIONS: [(&str, &str); 7] = [
    ("GET", "/openapi.json"),
    ("GET", "/users/{external_id}/balance"),
    ("GET", "/users/{external_id}/transactions"),
    ("POST", "/users/{external_id}/sessions"),
    ("POST", "/users/{external_id}/spend"),
    ("POST", "/users/{external_id}/widget-tokens"),
    ("PUT", "/users/{external_id}"),
];

async fn openapi_document_lists_exactly_the_routes(db: Db) {
    let Some(api) = Api::spawn(db).await else {
        return;
    };
    let spec = fetch_spec(&api).await;
    let version = spec.doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1."), "OpenAPI 3.1, not {version}");
    assert_eq!(spec.doc["servers"][0]["url"], "/api/v1");
    let expected: BTreeSet<(String, String)> = OPERATIONS.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(spec.operations(), expected);

    // Every $ref resolves; every schema uses only keywords the checker understands.
    spec.audit();

    // Keys are required everywhere but for the document itself; every keyed operation documents 401.
    assert_eq!(spec.doc["security"], json!([{ "bearer": [] }]));
    assert_eq!(spec.doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    for (method, path) in OPERATIONS {
        let op = spec.operation(method, path);
        let open = op.get("security") == Some(&json!([]));
        assert_eq!(open, path == "/openapi.json", "{method} {path}");
        assert_eq!(spec.statuses(method, path).contains(&401), !open, "{method} {path}");
        // Path parameters are declared.
        if path.contains("{external_id}") {
            let params: Vec<&Value> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| spec.deref(p))
                .collect();
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == "external_id" && p["in"] == "path" && p["required"] == true),
                "{method} {path}"
            );
        }
    }

    // The checker itself: it accepts what it should and refuses what it should.
    let schema = |name: &str| json!({ "$ref": format!("#/components/schemas/{name}") });
    let accepts = |name: &str, v: Value| {
        let errors = spec.errors(&schema(name), &v);
        assert!(errors.is_empty(), "{name} should accept {v}: {errors:?}");
    };
    let refuses = |name: &str, v: Value| {
        assert!(!spec.errors(&schema(name), &v).is_empty(), "{name} should refuse {v}");
    };
    accepts("PutUser", json!({ "email": "a@example.com" }));
    accepts("PutUser", json!({ "email": "a@example.com", "name": null }));
    refuses("PutUser", json!({ "email": "a@example.com", "nick": "x" })); // additionalProperties
    refuses("PutUser", json!({ "name": "x" })); // required
    refuses("PutUser", json!({ "email": 1 })); // type
    refuses("PutUser", json!({ "email": "a@example.com", "name": 1 })); // type list
    refuses("PutUser", json!({ "email": "a@example.com", "name": "n".repeat(201) })); // maxLength
    refuses("PutUser", json!([])); // type object
    refuses("Spend", json!({ "amount": 0, "idempotency_key": "k" })); // minimum
    refuses("Spend", json!({ "amount": 1.5, "idempotency_key": "k" })); // integer
    refuses("Spend", json!({ "amount": 1, "idempotency_key": "" })); // minLength
    accepts(
        "TransactionList",
        json!({ "data": [{ "id": 1, "kind": "spend", "amount": -1, "balance_after": 0, "reason": null,
                "idempotency_key": "k", "created_at": "2024-01-01T00:00:00.000Z" }], "next_before": null }),
    );
    refuses(
        "TransactionList",
        json!({ "data": [{ "id": 1, "kind": "gift", "amount": -1, "balance_after": 0, "reason": null,
                "idempotency_key": "k", "created_at": "2024-01-01T00:00:00.000Z" }], "next_before": null }),
    ); // enum inside items behind a $ref
    refuses("TransactionList", json!({ "data": [{}], "next_before": 3 })); // required inside items
    refuses("TransactionList", json!({ "data": [], "next_before": "3" }));
    refuses(
        "InsufficientCredits",
        json!({ "error": { "code": "conflict", "message": "m", "balance": 1 } }),
    ); // const
    refuses(
        "InsufficientCredits",
        json!({ "error": { "code": "insufficient_credits", "message": "m" } }),
    );
    refuses("Error", json!({ "error": { "code": "x" } }));
}

/// One request per documented (operation, status) the API can produce; each answer's status must
/// be documented for its operation and its body must match the documented schema. Request bodies
/// that succeed must match the documented request schema; bodies refused for their shape must not.
async fn every_documented_status_matches_its_schema(db: Db) {
    let Some(api) = Api::spawn(db).await else {
        return;
    };
    let spec = fetch_spec(&api).await;
    let mut check = Conformance {
        spec: &spec,
        seen: BTreeSet::new(),
    };
    let bad_key = format!("ak_{}", "0".repeat(64));
    let big = format!(r#"{{"email":"big@example.com","name":"{}"}}"#, "n".repeat(17 * 1024));

    // PUT /users/{external_id}
    let (m, p) = ("PUT", "/users/{external_id}");
    let body = json!({ "email": "ann@example.com", "name": "Ann" });
    let r = api.put_user("ann", &body).await;
    check.answer(m, p, &r, 201);
    check.request_ok(m, p, &body);
    let body = json!({ "email": "ann@example.com", "name": null });
    let r = api.put_user("ann", &body).await;
    check.answer(m, p, &r, 200);
    check.request_ok(m, p, &body);
    let body = json!({ "email": "bob@example.com" });
    let r = api.put_user("bob", &body).await;
    check.answer(m, p, &r, 201);
    check.request_ok(m, p, &body);
    let body = json!({ "email": "ann@example.com", "nick": "A" });
    check.answer(m, p, &api.put_user("ann", &body).await, 400);
    check.request_refused(m, p, &body);
    let body = json!({ "email": "ann@example.com", "name": "n".repeat(201) });
    check.answer(m, p, &api.put_user("ann", &body).await, 400);
    check.request_refused(m, p, &body);
    check.answer(
        m,
        p,
        &api.put_user("a%20b", &json!({ "email": "x@example.com" })).await,
        400,
    );
    let r = send(
        api.anon(Method::PUT, "/users/ann")
            .json(&json!({ "email": "ann@example.com" })),
    )
    .await;
    check.answer(m, p, &r, 401);
    check.answer(
        m,
        p,
        &api.put_user("bob", &json!({ "email": "ANN@example.com" })).await,
        409,
    );
    let r = send(
        api.req(Method::PUT, "/users/big")
            .header("content-type", "application/json")
            .body(big.clone()),
    )
    .await;
    check.answer(m, p, &r, 413);
    let r = send(
        api.req(Method::PUT, "/users/ann")
            .body(r#"{"email":"ann@example.com"}"#),
    )
    .await;
    check.answer(m, p, &r, 415);

    // GET /users/{external_id}/balance
    let (m, p) = ("GET", "/users/{external_id}/balance");
    api.grant("ann", 10, "g1").await;
    check.answer(m, p, &api.balance("ann").await, 200);
    check.answer(m, p, &api.balance("a%20b").await, 400);
    let r = send(api.anon(Method::GET, "/users/ann/balance").bearer_auth(&bad_key)).await;
    check.answer(m, p, &r, 401);
    check.answer(m, p, &api.balance("ghost").await, 404);

    // POST /users/{external_id}/spend
    let (m, p) = ("POST", "/users/{external_id}/spend");
    let body = json!({ "amount": 4, "idempotency_key": "k1", "reason": "render" });
    check.answer(m, p, &api.spend("ann", &body).await, 200);
    check.request_ok(m, p, &body);
    let r = api.spend("ann", &body).await;
    check.answer(m, p, &r, 200);
    assert_eq!(r.body["replayed"], true);
    let body = json!({ "amount": 1, "idempotency_key": "k2", "reason": null });
    check.answer(m, p, &api.spend("ann", &body).await, 200);
    check.request_ok(m, p, &body);
    let body = json!({ "amount": 1, "idempotency_key": "k3" });
    check.answer(m, p, &api.spend("ann", &body).await, 200);
    check.request_ok(m, p, &body);
    for body in [
        json!({ "amount": 0, "idempotency_key": "b1" }),
        json!({ "amount": MAX_SPEND + 1, "idempotency_key": "b1" }),
        json!({ "amount": 1.5, "idempotency_key": "b2" }),
        json!({ "amount": "10", "idempotency_key": "b3" }),
        json!({ "amount": 1 }),
        json!({ "amount": 1, "idempotency_key": "" }),
        json!({ "amount": 1, "idempotency_key": "k".repeat(256) }),
        json!({ "amount": 1, "idempotency_key": "b4", "reason": "r".repeat(501) }),
        json!({ "amount": 1, "idempotency_key": "b5", "extra": 1 }),
    ] {
        check.answer(m, p, &api.spend("ann", &body).await, 400);
        check.request_refused(m, p, &body);
    }
    let r = send(
        api.anon(Method::POST, "/users/ann/spend")
            .json(&json!({ "amount": 1, "idempotency_key": "x" })),
    )
    .await;
    check.answer(m, p, &r, 401);
    let r = api
        .spend("ann", &json!({ "amount": 1000, "idempotency_key": "k4" }))
        .await;
    check.answer(m, p, &r, 402);
    assert_eq!(r.body["error"]["balance"], 4);
    check.answer(
        m,
        p,
        &api.spend("ghost", &json!({ "amount": 1, "idempotency_key": "k5" }))
            .await,
        404,
    );
    check.answer(
        m,
        p,
        &api.spend("ann", &json!({ "amount": 2, "idempotency_key": "k1" })).await,
        409,
    );
    let r = send(
        api.req(Method::POST, "/users/ann/spend")
            .header("content-type", "application/json")
            .body(big),
    )
    .await;
    check.answer(m, p, &r, 413);
    let r = send(
        api.req(Method::POST, "/users/ann/spend")
            .body(r#"{"amount":1,"idempotency_key":"k6"}"#),
    )
    .await;
    check.answer(m, p, &r, 415);

    // GET /users/{external_id}/transactions
    let (m, p) = ("GET", "/users/{external_id}/transactions");
    check.answer(m, p, &api.transactions("ann", "").await, 200);
    let r = api.transactions("ann", "?limit=1").await;
    check.answer(m, p, &r, 200);
    assert!(r.body["next_before"].is_i64());
    check.answer(m, p, &api.transactions("ann", "?limit=0").await, 400);
    check.answer(m, p, &api.transactions("ann", "?foo=1").await, 400);
    let r = send(api.anon(Method::GET, "/users/ann/transactions")).await;
    check.answer(m, p, &r, 401);
    check.answer(m, p, &api.transactions("ghost", "").await, 404);

    // POST /users/{external_id}/sessions (the body is optional; tests/sign_in_links.rs covers
    // what the link does)
    let (m, p) = ("POST", "/users/{external_id}/sessions");
    check.answer(m, p, &send(api.req(Method::POST, "/users/ann/sessions")).await, 201);
    let body = json!({ "return_to": "/account" });
    check.answer(
        m,
        p,
        &send(api.req(Method::POST, "/users/ann/sessions").json(&body)).await,
        201,
    );
    check.request_ok_optional(m, p, &body);
    for body in [
        json!({ "return_to": "//evil.example" }),
        json!({ "back_url": "https://atlas.example.com/" }),
        json!({ "extra": 1 }),
    ] {
        let r = send(api.req(Method::POST, "/users/ann/sessions").json(&body)).await;
        check.answer(m, p, &r, 400);
    }
    check.request_refused_optional(m, p, &json!({ "extra": 1 }));
    let r = send(api.anon(Method::POST, "/users/ann/sessions").bearer_auth(&bad_key)).await;
    check.answer(m, p, &r, 401);
    check.answer(m, p, &send(api.req(Method::POST, "/users/ghost/sessions")).await, 404);
    let admin = api.create_user("adm").await;
    api.store()
        .set_user_credentials(admin.user_id(), "admin", "unused-hash")
        .await
        .unwrap();
    check.answer(m, p, &send(api.req(Method::POST, "/users/adm/sessions")).await, 403);
    let r = send(
        api.req(Method::POST, "/users/ann/sessions")
            .header("content-type", "application/json")
            .body(format!(r#"{{"return_to":"/{}"}}"#, "a".repeat(17 * 1024))),
    )
    .await;
    check.answer(m, p, &r, 413);
    let r = send(
        api.req(Method::POST, "/users/ann/sessions")
            .body(r#"{"return_to":"/account"}"#),
    )
    .await;
    check.answer(m, p, &r, 415);

    // POST /users/{external_id}/widget-tokens (the body is optional; tests/widget.rs covers what
    // the token can do)
    let (m, p) = ("POST", "/users/{external_id}/widget-tokens");
    check.answer(
        m,
        p,
        &send(api.req(Method::POST, "/users/ann/widget-tokens")).await,
        201,
    );
    let body = json!({ "ttl_secs": 600 });
    check.answer(
        m,
        p,
        &send(api.req(Method::POST, "/users/ann/widget-tokens").json(&body)).await,
        201,
    );
    check.request_ok_optional(m, p, &body);
    for body in [
        json!({ "ttl_secs": 59 }),
        json!({ "ttl_secs": "600" }),
        json!({ "extra": 1 }),
    ] {
        let r = send(api.req(Method::POST, "/users/ann/widget-tokens").json(&body)).await;
        check.answer(m, p, &r, 400);
    }
    check.request_refused_optional(m, p, &json!({ "ttl_secs": 86_401 }));
    let r = send(api.anon(Method::POST, "/users/ann/widget-tokens").bearer_auth(&bad_key)).await;
    check.answer(m, p, &r, 401);
    check.answer(
        m,
        p,
        &send(api.req(Method::POST, "/users/ghost/widget-tokens")).await,
        404,
    );
    let r = send(
        api.req(Method::POST, "/users/ann/widget-tokens")
            .header("content-type", "application/json")
            .body(format!(r#"{{"ttl_secs":1{}}}"#, " ".repeat(17 * 1024))),
    )
    .await;
    check.answer(m, p, &r, 413);
    let r = send(
        api.req(Method::POST, "/users/ann/widget-tokens")
            .body(r#"{"ttl_secs":600}"#),
    )
    .await;
    check.answer(m, p, &r, 415);

    // GET /openapi.json
    let r = send(api.anon(Method::GET, "/openapi.json")).await;
    check.answer("GET", "/openapi.json", &r, 200);

    // With the database gone every keyed operation answers 503 (documented, JSON error).
    api.app.db.store.close().await;
    check.answer(
        "PUT",
        "/users/{external_id}",
        &api.put_user("ann", &json!({ "email": "ann@example.com" })).await,
        503,
    );
    check.answer(
        "GET",
        "/users/{external_id}/balance",
        &send(api.req(Method::GET, "/users/ann/balance")).await,
        503,
    );
    check.answer(
        "POST",
        "/users/{external_id}/spend",
        &send(
            api.req(Method::POST, "/users/ann/spend")
                .json(&json!({ "amount": 1, "idempotency_key": "k9" })),
        )
        .await,
        503,
    );
    check.answer(
        "GET",
        "/users/{external_id}/transactions",
        &api.transactions("ann", "").await,
        503,
    );
    check.answer(
        "POST",
        "/users/{external_id}/sessions",
        &send(api.req(Method::POST, "/users/ann/sessions")).await,
        503,
    );
    check.answer(
        "POST",
        "/users/{external_id}/widget-tokens",
        &send(api.req(Method::POST, "/users/ann/widget-tokens")).await,
        503,
    );

    // Every documented status was produced (but 500, which a test cannot provoke without
    // breaking the code), and nothing undocumented was.
    let documented: BTreeSet<(String, String, u16)> = OPERATIONS
        .iter()
        .flat_map(|(m, p)| {
            spec.statuses(m, p)
                .into_iter()
                .filter(|s| *s != 500)
                .map(move |s| (m.to_string(), p.to_string(), s))
        })
        .collect();
    assert_eq!(check.seen, documented);
}

/// Records the (operation, status) pairs observed and checks each answer against the document.
struct Conformance<'a> {
    spec: &'a OpenApi,
    seen: BTreeSet<(String, String, u16)>,
}

impl Conformance<'_> {
    #[track_caller]
    fn answer(&mut self, method: &str, path: &str, r: &Resp, expected: u16) {
        assert_eq!(r.status, expected, "{method} {path}: {r:?}");
        let response = self
            .spec
            .response(method, path, r.status)
            .unwrap_or_else(|| panic!("{method} {path} answered {} which is not documented: {r:?}", r.status));
        let schema = response["content"]["application/json"]
            .get("schema")
            .unwrap_or_else(|| panic!("{method} {path} {}: no application/json schema documented", r.status));
        assert!(r.content_type.starts_with("application/json"), "{method} {path}: {r:?}");
        let errors = self.spec.errors(schema, &r.body);
        assert!(
            errors.is_empty(),
            "{method} {path} {}: the body does not match the documented schema: {errors:?}\n{}",
            r.status,
            r.body
        );
        self.seen.insert((method.to_string(), path.to_string(), r.status));
    }

    #[track_caller]
    fn request_ok(&self, method: &str, path: &str, body: &Value) {
        let errors = self.spec.errors(self.spec.request_schema(method, path), body);
        assert!(
            errors.is_empty(),
            "{method} {path}: accepted body {body} does not match the documented schema: {errors:?}"
        );
    }

    /// `request_ok` for an operation whose body is optional.
    #[track_caller]
    fn request_ok_optional(&self, method: &str, path: &str, body: &Value) {
        let errors = self.spec.errors(self.spec.optional_request_schema(method, path), body);
        assert!(
            errors.is_empty(),
            "{method} {path}: accepted body {body} does not match the documented schema: {errors:?}"
        );
    }

    #[track_caller]
    fn request_refused_optional(&self, method: &str, path: &str, body: &Value) {
        let errors = self.spec.errors(self.spec.optional_request_schema(method, path), body);
        assert!(
            !errors.is_empty(),
            "{method} {path}: refused body {body} matches the documented schema"
        );
    }

    #[track_caller]
    fn request_refused(&self, method: &str, path: &str, body: &Value) {
        let errors = self.spec.errors(self.spec.request_schema(method, path), body);
        assert!(
            !errors.is_empty(),
            "{method} {path}: refused body {body} matches the documented schema"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A small JSON Schema checker for the keywords the document uses (serde_json only)
// ---------------------------------------------------------------------------------------------

/// Keywords the checker validates.
const ASSERTIONS: &[&str] = &[
    "$ref",
    "type",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
];
/// Keywords that assert nothing (annotations; `format` is an annotation by default in 2020-12).
const ANNOTATIONS: &[&str] = &["description", "format", "default", "title", "examples", "deprecated"];
const HTTP_METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

struct OpenApi {
    doc: Value,
}

impl OpenApi {
    fn new(doc: Value) -> Self {
        OpenApi { doc }
    }

    /// The value a local `$ref` ("#/a/b") points at.
    fn target(&self, reference: &str) -> &Value {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("only local $refs are supported: {reference}"));
        self.doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("unresolved $ref {reference}"))
    }

    /// Follows `$ref`s (of parameters, responses, schemas) to the object they name.
    fn deref<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        for _ in 0..32 {
            match v.get("$ref").and_then(Value::as_str) {
                Some(r) => v = self.target(r),
                None => return v,
            }
        }
        panic!("$ref chain too long")
    }

    /// Every (METHOD, path) the document describes.
    fn operations(&self) -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().expect("paths") {
            for (key, _) in self.deref(item).as_object().expect("a path item") {
                if HTTP_METHODS.contains(&key.as_str()) {
                    out.insert((key.to_uppercase(), path.clone()));
                }
            }
        }
        out
    }

    #[track_caller]
    fn operation(&self, method: &str, path: &str) -> &Value {
        let item = self.doc["paths"]
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not documented"));
        self.deref(item)
            .get(method.to_lowercase())
            .unwrap_or_else(|| panic!("{method} {path} is not documented"))
    }

    /// The documented statuses of an operation.
    fn statuses(&self, method: &str, path: &str) -> BTreeSet<u16> {
        self.operation(method, path)["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .map(|s| {
                s.parse()
                    .unwrap_or_else(|_| panic!("{method} {path}: status {s} is not a number"))
            })
            .collect()
    }

    /// The documented response for a status (its `$ref` followed), if any.
    fn response(&self, method: &str, path: &str, status: u16) -> Option<&Value> {
        self.operation(method, path)["responses"]
            .get(status.to_string())
            .map(|r| self.deref(r))
    }

    #[track_caller]
    fn request_schema(&self, method: &str, path: &str) -> &Value {
        let body = self.deref(&self.operation(method, path)["requestBody"]);
        assert_eq!(body["required"], true, "{method} {path}: the body is required");
        body["content"]["application/json"]
            .get("schema")
            .unwrap_or_else(|| panic!("{method} {path}: no application/json request schema"))
    }

    /// The request schema of an operation whose body is documented as optional.
    fn optional_request_schema(&self, method: &str, path: &str) -> &Value {
        let body = self.deref(&self.operation(method, path)["requestBody"]);
        assert_eq!(body["required"], false, "{method} {path}: the body is optional");
        body["content"]["application/json"]
            .get("schema")
            .unwrap_or_else(|| panic!("{method} {path}: no application/json request schema"))
    }

    /// Why `value` does not match `schema`; empty when it does.
    fn errors(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut out = Vec::new();
        self.walk(schema, value, "$", &mut out);
        out
    }

    fn walk(&self, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
        let s = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                out.push(format!("{at}: no value is allowed here"));
                return;
            }
            Value::Object(s) => s,
            other => panic!("a schema must be an object or a boolean, not {other}"),
        };
        for (keyword, arg) in s {
            match keyword.as_str() {
                "$ref" => self.walk(self.target(arg.as_str().expect("$ref is a string")), value, at, out),
                "type" => {
                    let types: Vec<&str> = match arg {
                        Value::String(t) => vec![t.as_str()],
                        Value::Array(ts) => ts.iter().map(|t| t.as_str().expect("a type name")).collect(),
                        other => panic!("bad type {other}"),
                    };
                    if !types.iter().any(|t| is_type(value, t)) {
                        out.push(format!("{at}: {value} is not of type {types:?}"));
                    }
                }
                "required" => {
                    if let Some(obj) = value.as_object() {
                        for name in arg.as_array().expect("required is a list") {
                            let name = name.as_str().expect("a property name");
                            if !obj.contains_key(name) {
                                out.push(format!("{at}: missing required property {name:?}"));
                            }
                        }
                    }
                }
                "properties" => {
                    if let Some(obj) = value.as_object() {
                        for (name, sub) in arg.as_object().expect("properties is an object") {
                            if let Some(v) = obj.get(name) {
                                self.walk(sub, v, &format!("{at}.{name}"), out);
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    if let Some(obj) = value.as_object() {
                        let declared = s.get("properties").and_then(Value::as_object);
                        for (name, v) in obj {
                            if declared.is_some_and(|d| d.contains_key(name)) {
                                continue;
                            }
                            if arg == &Value::Bool(false) {
                                out.push(format!("{at}: property {name:?} is not allowed"));
                            } else {
                                self.walk(arg, v, &format!("{at}.{name}"), out);
                            }
                        }
                    }
                }
                "items" => {
                    if let Some(items) = value.as_array() {
                        for (i, v) in items.iter().enumerate() {
                            self.walk(arg, v, &format!("{at}[{i}]"), out);
                        }
                    }
                }
                "enum" => {
                    if !arg
                        .as_array()
                        .expect("enum is a list")
                        .iter()
                        .any(|e| json_eq(e, value))
                    {
                        out.push(format!("{at}: {value} is not one of {arg}"));
                    }
                }
                "const" => {
                    if !json_eq(arg, value) {
                        out.push(format!("{at}: {value} is not {arg}"));
                    }
                }
                "minimum" | "maximum" => {
                    if let (Some(n), Some(limit)) = (value.as_f64(), arg.as_f64()) {
                        let ok = if keyword == "minimum" { n >= limit } else { n <= limit };
                        if !ok {
                            out.push(format!("{at}: {value} breaks {keyword} {arg}"));
                        }
                    }
                }
                "minLength" | "maxLength" => {
                    if let (Some(text), Some(limit)) = (value.as_str(), arg.as_u64()) {
                        let n = text.chars().count() as u64;
                        let ok = if keyword == "minLength" { n >= limit } else { n <= limit };
                        if !ok {
                            out.push(format!("{at}: a string of {n} characters breaks {keyword} {arg}"));
                        }
                    }
                }
                k if ANNOTATIONS.contains(&k) => {}
                k => panic!("the checker does not support the schema keyword {k:?} (at {at}): extend it"),
            }
        }
    }

    /// Every `$ref` in the document resolves, and every body schema (request, response, component)
    /// uses only keywords the checker knows, so nothing is silently skipped.
    fn audit(&self) {
        fn refs(spec: &OpenApi, v: &Value) {
            match v {
                Value::Object(o) => {
                    if let Some(r) = o.get("$ref") {
                        spec.target(r.as_str().expect("$ref is a string"));
                    }
                    o.values().for_each(|v| refs(spec, v));
                }
                Value::Array(a) => a.iter().for_each(|v| refs(spec, v)),
                _ => {}
            }
        }
        fn keywords(schema: &Value, at: &str) {
            let Some(s) = schema.as_object() else {
                assert!(schema.is_boolean(), "{at}: a schema must be an object or a boolean");
                return;
            };
            for (k, v) in s {
                assert!(
                    ASSERTIONS.contains(&k.as_str()) || ANNOTATIONS.contains(&k.as_str()),
                    "{at}: the checker does not support the keyword {k:?}"
                );
                match k.as_str() {
                    "properties" => v
                        .as_object()
                        .unwrap()
                        .iter()
                        .for_each(|(name, sub)| keywords(sub, &format!("{at}/properties/{name}"))),
                    "items" | "additionalProperties" => keywords(v, &format!("{at}/{k}")),
                    _ => {}
                }
            }
        }
        refs(self, &self.doc);
        for (name, schema) in self.doc["components"]["schemas"].as_object().expect("schemas") {
            keywords(schema, &format!("#/components/schemas/{name}"));
        }
        for (method, path) in self.operations() {
            let op = self.operation(&method, &path);
            let mut bodies: Vec<&Value> = Vec::new();
            if let Some(body) = op.get("requestBody") {
                bodies.push(self.deref(body));
            }
            for response in op["responses"].as_object().expect("responses").values() {
                bodies.push(self.deref(response));
            }
            for body in bodies {
                for (media, content) in body["content"].as_object().into_iter().flatten() {
                    assert_eq!(media, "application/json", "{method} {path}");
                    keywords(&content["schema"], &format!("{method} {path}"));
                }
            }
        }
    }
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "number" => v.is_number(),
        // JSON Schema: a number with a zero fractional part is an integer.
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        other => panic!("unknown JSON Schema type {other:?}"),
    }
}

/// JSON equality as JSON Schema defines it (1 and 1.0 are equal).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}
