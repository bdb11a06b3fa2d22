//! Hostile bodies sent to the server functions the pages call (`POST /api/{name}`, form-encoded),
//! over real HTTP on both backends: oversized, not UTF-8, nested keys thousands deep, numbers past
//! i64, unknown fields. Each is answered below 500, the server keeps serving, and nothing is
//! written. (The host API and the webhook route have their own: `fuzz_api.rs`, `fuzz_webhooks.rs`,
//! `api_v1.rs`, `webhook_route.rs`.)

use crate::common;

use atlas_credits::model::UserId;
use common::auth::Browser;
use common::{Db, TestApp};

both_backends!(hostile_forms_are_refused_and_change_nothing);

async fn post(b: &Browser, app: &TestApp, endpoint: &str, content_type: &str, body: Vec<u8>) -> u16 {
    let r = b
        .client
        .post(app.url(&format!("/api/{endpoint}")))
        .header("origin", &b.origin)
        .header("accept", "application/json")
        .header("content-type", content_type)
        .body(body)
        .send()
        .await;
    match r {
        Ok(r) => r.status().as_u16(),
        // An oversized body may be refused before it is read, the connection closed under it.
        Err(e) => {
            assert!(e.is_request() || e.is_body(), "{e}");
            413
        }
    }
}

async fn hostile_forms_are_refused_and_change_nothing(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let b = Browser::sign_up(&app, "forms@example.com").await;
    let form = "application/x-www-form-urlencoded";
    let deep_key = format!("plan_id{}=1&client_key=key-aaaaaaaaaaaaaaaa", "[a]".repeat(5000));
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        // 3 MB of form.
        (
            "log_in",
            form,
            format!("email=a%40b.c&password={}", "p".repeat(3 << 20)).into_bytes(),
        ),
        // Not UTF-8. (Percent-encoded bytes that are not UTF-8 are decoded with U+FFFD in their
        // place, as browsers do, so that is an odd but valid email, not an error.)
        ("log_in", form, b"email=\xff\xfe&password=\xc3\x28".to_vec()),
        (
            "sign_up",
            form,
            b"email=\xff@x.y&password=\xc3\x28aaaaaaaaaaaa".to_vec(),
        ),
        // Keys nested 5,000 deep.
        ("start_checkout", form, deep_key.into_bytes()),
        // Numbers past i64, negative, not numbers.
        (
            "start_checkout",
            form,
            b"plan_id=99999999999999999999&client_key=key-aaaaaaaaaaaaaaaa".to_vec(),
        ),
        (
            "start_checkout",
            form,
            b"plan_id=-9223372036854775808&client_key=key-aaaaaaaaaaaaaaaa".to_vec(),
        ),
        (
            "start_checkout",
            form,
            b"plan_id=1e400&client_key=key-aaaaaaaaaaaaaaaa".to_vec(),
        ),
        (
            "request_plan",
            form,
            b"plan_id=0x10&client_key=key-aaaaaaaaaaaaaaaa&note=%00%1b[31m".to_vec(),
        ),
        // Unknown and repeated fields, missing ones.
        (
            "start_checkout",
            form,
            b"plan_id=1&plan_id=2&client_key=k&admin=true".to_vec(),
        ),
        ("start_checkout", form, Vec::new()),
        // Not a form at all.
        (
            "start_checkout",
            "application/json",
            br#"{"plan_id":[[[[[[[[[[1]]]]]]]]]]}"#.to_vec(),
        ),
        ("log_in", "text/plain", b"\x00\x01\x02".to_vec()),
    ];
    for (endpoint, content_type, body) in cases {
        let head = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        let status = post(&b, &app, endpoint, content_type, body).await;
        assert!((400..500).contains(&status), "{status} for {endpoint} {head:?}");
    }
    // Still serving, and nothing was ordered.
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let u = app.db.store.user_by_email("forms@example.com").await.unwrap().unwrap();
    assert!(app
        .db
        .store
        .list_user_orders(UserId(u.id), 10)
        .await
        .unwrap()
        .is_empty());
}
