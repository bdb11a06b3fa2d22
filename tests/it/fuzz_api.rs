//! Fuzzing the host API's requests: hostile JSON bodies (unknown fields and types, amounts at
//! and past the integer limits, deep nesting, invalid UTF-8, wrong content types), paths and
//! queries on every route. The bulk goes through the app's real router in process (the same
//! extractors, services and database, without a socket per case), a smaller number over real
//! HTTP; both backends. Every answer is below 500 with the API's error shape, and the ledger
//! moves exactly by the spends that were accepted (a model kept alongside), never otherwise.

use crate::common;

use std::net::SocketAddr;

use atlas_credits::model::{Credits, EntryKind};
use atlas_credits::server::service::api_keys;
use atlas_credits::server::service::ledger::{self, Actor, LedgerEntry};
use axum::extract::ConnectInfo;
use common::fuzz::{self, deep_nesting, hostile_number, hostile_text, json_value};
use common::{Db, TestApp};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::HashMap;
use tower::ServiceExt;

both_backends!(hostile_requests_in_process, hostile_requests_over_http);

const USER: &str = "fz";
const START: i64 = 1_000_000_000;

#[derive(Clone)]
struct Case {
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

impl std::fmt::Debug for Case {
    /// The start of the body only: some are 100 KB.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let head = String::from_utf8_lossy(&self.body[..self.body.len().min(200)]);
        write!(
            f,
            "{} {} ({:?}) {} bytes: {head:?}",
            self.method,
            self.path,
            self.content_type,
            self.body.len()
        )
    }
}

/// A spend body, valid or nearly: each field may be replaced by something hostile.
fn spend_body() -> impl Strategy<Value = String> {
    (
        // Few amounts and keys, so that keys repeat: replays (same amount) and conflicts.
        prop_oneof![3 => (1i64..4).prop_map(|n| n.to_string()), 2 => hostile_number(), 1 => json_value()],
        prop_oneof![
            2 => "[a-z0-9]{1,8}".prop_map(|k| format!("\"k{k}\"")),
            2 => "[0-9]".prop_map(|k| format!("\"k{k}\"")),
            1 => hostile_text().prop_map(|t| serde_json::to_string(&t).unwrap()),
            1 => json_value(),
        ],
        prop::option::weighted(0.2, hostile_text()),
        prop::option::weighted(0.1, (hostile_text(), json_value())),
    )
        .prop_map(|(amount, key, reason, extra)| {
            let mut fields = vec![format!("\"amount\":{amount}"), format!("\"idempotency_key\":{key}")];
            if let Some(r) = reason {
                fields.push(format!("\"reason\":{}", serde_json::to_string(&r).unwrap()));
            }
            if let Some((k, v)) = extra {
                fields.push(format!("{}:{v}", serde_json::to_string(&k).unwrap()));
            }
            format!("{{{}}}", fields.join(","))
        })
}

fn user_body() -> impl Strategy<Value = String> {
    (
        hostile_text(),
        prop::option::of(hostile_text()),
        prop::option::of(json_value()),
    )
        .prop_map(|(email, name, link)| {
            let mut fields = vec![format!("\"email\":{}", serde_json::to_string(&email).unwrap())];
            if let Some(n) = name {
                fields.push(format!("\"name\":{}", serde_json::to_string(&n).unwrap()));
            }
            if let Some(l) = link {
                fields.push(format!("\"link_existing_account\":{l}"));
            }
            format!("{{{}}}", fields.join(","))
        })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => spend_body().prop_map(String::into_bytes),
        2 => user_body().prop_map(String::into_bytes),
        2 => json_value().prop_map(String::into_bytes),
        1 => deep_nesting().prop_map(String::into_bytes),
        1 => (spend_body(), prop::collection::vec((any::<u8>(), any::<prop::sample::Index>(), any::<u8>()), 1..6))
            .prop_map(|(b, changes)| {
                let mut b = b.into_bytes();
                for (how, at, byte) in changes {
                    fuzz::mutate(&mut b, how, at, byte);
                }
                b
            }),
        1 => Just(Vec::new()),
        // Past the 16 KiB cap.
        1 => (16_385usize..40_000).prop_map(|n| format!("{{\"amount\":1,\"idempotency_key\":\"{}\"}}", "k".repeat(n)).into_bytes()),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    // Half are spends much like the host app's (so the ledger moves and keys repeat), half
    // anything on any route.
    let spend = spend_body().prop_map(|b| Case {
        method: "POST",
        path: format!("/api/v1/users/{USER}/spend"),
        content_type: Some("application/json"),
        body: b.into_bytes(),
    });
    prop_oneof![spend, any_case()]
}

fn any_case() -> impl Strategy<Value = Case> {
    let id = prop_oneof![
        8 => Just(USER.to_string()),
        1 => hostile_text().prop_map(|t| percent_encode(&t)),
        1 => "[a-z]{1,8}",
    ];
    let route = prop::sample::select(vec![
        ("POST", "/spend"),
        ("POST", "/spend"),
        ("POST", "/spend"),
        ("PUT", ""),
        ("GET", "/balance"),
        ("GET", "/transactions"),
        ("POST", "/sessions"),
        ("POST", "/widget-tokens"),
        ("DELETE", "/spend"),
    ]);
    let query = prop_oneof![
        3 => Just(String::new()),
        1 => (hostile_number(), hostile_number()).prop_map(|(l, b)| format!("?limit={}&before={}", percent_encode(&l), percent_encode(&b))),
        1 => hostile_text().prop_map(|t| format!("?{}", percent_encode(&t))),
    ];
    let content_type = prop::sample::select(vec![
        Some("application/json"),
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ]);
    (id, route, query, content_type, body()).prop_map(|(id, (method, tail), query, content_type, body)| Case {
        method,
        path: format!("/api/v1/users/{id}{tail}{query}"),
        content_type,
        body,
    })
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// What the API answered: the status and the body as JSON.
struct Answer {
    status: u16,
    body: Value,
}

/// The ledger model: the balance the accepted spends leave, by idempotency key.
struct Model {
    balance: i64,
    spent: HashMap<String, i64>,
}

impl Model {
    /// Checks one answer against the rules, and follows an accepted spend.
    fn check(&mut self, c: &Case, a: &Answer) {
        assert!(a.status < 500, "{} for {c:?}: {}", a.status, a.body);
        if a.status >= 400 {
            // The API's error shape, with a code and a message.
            let e = &a.body["error"];
            assert!(e["code"].is_string() && e["message"].is_string(), "{c:?}: {}", a.body);
            return;
        }
        if c.method == "POST" && c.path.starts_with(&format!("/api/v1/users/{USER}/spend")) {
            let key = a.body["idempotency_key"].as_str().expect("a key").to_string();
            let amount = a.body["amount"].as_i64().expect("an amount");
            assert!((1..=START).contains(&amount), "{c:?}: {}", a.body);
            if a.body["replayed"] == true {
                // The first result again (its balance then): nothing spent now.
                assert_eq!(
                    self.spent.get(&key),
                    Some(&amount),
                    "a replay of an unknown spend: {c:?}"
                );
            } else {
                assert!(self.spent.insert(key, amount).is_none(), "a key spent twice: {c:?}");
                self.balance -= amount;
                assert_eq!(a.body["balance"].as_i64(), Some(self.balance), "{c:?}: {}", a.body);
            }
        }
    }
}

async fn setup(db: Db) -> Option<(TestApp, String)> {
    let app = TestApp::spawn(db).await?;
    let store = app.db.store.as_ref();
    let (key, _) = api_keys::create(store, "host app", "test").await.unwrap();
    let r = app
        .client
        .put(app.url(&format!("/api/v1/users/{USER}")))
        .bearer_auth(&key)
        .json(&serde_json::json!({ "email": "fz@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let user = store.user_by_external_id(USER).await.unwrap().unwrap();
    let grant = LedgerEntry::new(
        user.user_id(),
        EntryKind::ManualGrant,
        Credits(START),
        "test",
        "g",
        Actor::System,
    )
    .unwrap();
    ledger::post(store, &grant).await.unwrap();
    Some((app, key))
}

async fn finish(app: &TestApp, model: &Model) {
    let store = app.db.store.as_ref();
    let user = store.user_by_external_id(USER).await.unwrap().unwrap();
    assert_eq!(
        common::checked_balance(store, user.user_id()).await,
        Credits(model.balance)
    );
    let rows = store.list_transactions(user.user_id(), None, 100_000).await.unwrap();
    assert_eq!(
        rows.len(),
        1 + model.spent.len(),
        "one row per accepted spend, besides the grant"
    );
}

async fn hostile_requests_in_process(db: Db) {
    let Some((app, key)) = setup(db).await else {
        return;
    };
    let router = atlas_credits::server::router::build(app.state.clone());
    let mut model = Model {
        balance: START,
        spent: HashMap::new(),
    };
    // At least 10,000 cases of the host API's bodies in CI, over both databases (issue 13).
    let n = match db {
        Db::Sqlite => fuzz::cases(8000),
        Db::Postgres => fuzz::cases(8000) / 4,
    };
    for c in fuzz::sample(case, n) {
        let mut req = axum::http::Request::builder()
            .method(c.method)
            .uri(&c.path)
            .header("authorization", format!("Bearer {key}"));
        if let Some(ct) = c.content_type {
            req = req.header("content-type", ct);
        }
        let mut req = req.body(axum::body::Body::from(c.body.clone())).unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 9))));
        let r = router.clone().oneshot(req).await.unwrap();
        let status = r.status().as_u16();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let body =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        if c.body.len() > 16 * 1024 && c.method != "GET" && c.method != "DELETE" {
            assert!(matches!(status, 401 | 404 | 413 | 415), "{status} for {c:?}");
        }
        model.check(&c, &Answer { status, body });
    }
    assert!(
        !model.spent.is_empty(),
        "some spends were accepted, so the model was exercised"
    );
    finish(&app, &model).await;
}

async fn hostile_requests_over_http(db: Db) {
    let Some((app, key)) = setup(db).await else {
        return;
    };
    let mut model = Model {
        balance: START,
        spent: HashMap::new(),
    };
    // A connection per request: after an early answer (415 or 413 before the body is read) the
    // server closes the connection, and a pooled client would send the next request into it.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    for c in fuzz::sample(case, fuzz::http_cases(150)) {
        let method = reqwest::Method::from_bytes(c.method.as_bytes()).unwrap();
        let mut req = client
            .request(method, app.url(&c.path))
            .bearer_auth(&key)
            .body(c.body.clone());
        if let Some(ct) = c.content_type {
            req = req.header("content-type", ct);
        }
        let r = match req.send().await {
            Ok(r) => r,
            // Over the 16 KiB cap the server answers 413 at once and closes the connection
            // without reading the rest; a client still writing sees the connection end. (The
            // in-process run above checks that answer is 413.)
            Err(e) if c.body.len() > 16 * 1024 => {
                assert!(e.is_request() || e.is_body(), "{e} for {c:?}");
                continue;
            }
            Err(e) => panic!("{e} for {c:?}"),
        };
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        model.check(&c, &Answer { status, body });
    }
    finish(&app, &model).await;
}
