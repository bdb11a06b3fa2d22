//! No secret reaches a log line. The whole app runs in test mode with every log line captured (at
//! debug, the app's own code at trace) through a full day of business: an account signs up and
//! logs in, the host app uses its API key (users, a spend, a widget token, a sign-in link that is
//! opened), a Pro purchase is paid on the simulator and its signed webhooks applied, an admin
//! refunds half of it, and a signed webhook goes to Atlas's endpoint. Then the captured text must
//! hold none of the secrets that passed through, nor anything shaped like a signature.

use crate::common;

use std::time::{Duration, Instant};

use atlas_credits::model::Credits;
use atlas_credits::server::outbound::Destinations;
use atlas_credits::server::service::{api_keys, host_webhooks};
use axum::http::StatusCode;
use common::auth::{Browser, PASSWORD};
use common::sim_shop::{press, SimShop};
use common::{Db, TestApp, WEBHOOK_SECRET};
use serde_json::{json, Value};

both_backends!(no_secret_reaches_the_logs);

const SIM_API_KEY: &str = "sim_log_test_key_6b1d0e";

async fn no_secret_reaches_the_logs(db: Db) {
    let logs = common::logs::captured();
    let Some(app) = TestApp::spawn_with_env(
        db,
        &[
            ("WHOP_MODE", "simulated"),
            ("WHOP_SIM_RETRY_SECS", "0.2,0.4"),
            ("WHOP_SIM_API_KEY", SIM_API_KEY),
            ("HOST_APP_ORIGINS", "https://atlas.example.com"),
        ],
    )
    .await
    else {
        return;
    };
    let store = app.db.store.as_ref();
    let mut secrets: Vec<(&str, String)> = vec![
        ("password", PASSWORD.to_owned()),
        ("Whop webhook secret", WEBHOOK_SECRET.to_owned()),
        ("simulator API key", SIM_API_KEY.to_owned()),
    ];

    // A person signs up, and logs in again from a client whose cookie we read.
    let (admin, _) = Browser::sign_up_admin(&app, "root@example.com").await;
    let login = app
        .client
        .post(app.url("/api/log_in"))
        .header("origin", &app.base)
        .header("accept", "application/json")
        .form(&[("email", "root@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(login.status().is_success(), "{}", login.status());
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    let session = cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
    assert!(session.len() >= 32, "{cookie}");
    let page = app
        .client
        .get(app.url("/account"))
        .header("cookie", format!("atlas_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    secrets.push(("session token", session));

    // Atlas's backend: its key, a user, a spend, a widget token, a sign-in link opened.
    let (key, _) = api_keys::create(store, "atlas", "test").await.unwrap();
    let api = |method: reqwest::Method, path: &str| {
        app.client
            .request(method, app.url(&format!("/api/v1{path}")))
            .bearer_auth(&key)
    };
    let r = api(reqwest::Method::PUT, "/users/atlas-ann")
        .json(&json!({ "email": "ann@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let widget: Value = api(reqwest::Method::POST, "/users/atlas-ann/widget-tokens")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let widget_token = widget["token"].as_str().unwrap().to_owned();
    let r = app
        .client
        .get(app.url("/widget/balance"))
        .bearer_auth(&widget_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let link: Value = api(reqwest::Method::POST, "/users/atlas-ann/sessions")
        .json(&json!({ "back_url": "https://atlas.example.com/app" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link_url = link["url"].as_str().unwrap().to_owned();
    assert_eq!(app.client.get(&link_url).send().await.unwrap().status(), 303);
    secrets.push(("API key", key.clone()));
    secrets.push(("widget token", widget_token));
    secrets.push(("sign-in link token", link_url.rsplit('/').next().unwrap().to_owned()));

    // Atlas's webhook endpoint, with its secret.
    let receiver = receiver().await;
    let (whsec, _) = host_webhooks::create_endpoint(
        store,
        "cli",
        &receiver,
        Destinations::Any,
        &["credits.purchased".into(), "credits.refunded".into()],
        None,
    )
    .await
    .unwrap();
    secrets.push(("endpoint secret", whsec.clone()));
    secrets.push(("endpoint key", whsec.trim_start_matches("whsec_").to_owned()));
    let sim_secret = store.setting("whop_sim_webhook_secret").await.unwrap();
    if let Some(s) = sim_secret {
        secrets.push(("simulator webhook secret", s));
    }

    // A Pro purchase paid on the simulator, then half refunded by an admin.
    let ann = store.user_by_external_id("atlas-ann").await.unwrap().unwrap().user_id();
    let r = api(reqwest::Method::POST, "/users/atlas-ann/spend")
        .json(&json!({ "amount": 1, "idempotency_key": "too-early" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYMENT_REQUIRED.as_u16());
    let shop = SimShop::open(&app).await;
    let (order, purchase_url) = shop.order(&app, ann, "logs", true).await;
    press(&app, &purchase_url, "pay").await;
    wait_for(&app, ann, Credits(25_000)).await;
    let (s, body) = admin
        .call_fn(
            &app,
            "admin_refund_order",
            &[
                ("id", &order.id.to_string()),
                ("amount", "16.25"),
                ("reason", "asked"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{body}");
    wait_for(&app, ann, Credits(12_500)).await;
    let r = api(reqwest::Method::POST, "/users/atlas-ann/spend")
        .json(&json!({ "amount": 100, "idempotency_key": "job-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Both events reached Atlas, signed.
    let start = Instant::now();
    while common::logs::text(&logs).matches("host webhook delivered").count() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no delivery to Atlas was logged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let text = common::logs::text(&logs);
    // The capture works and saw the whole day (so a missing secret means it was not logged).
    for seen in [
        "order credited",
        "webhook applied",
        "signed in by a sign-in link",
        "host webhook delivered",
    ] {
        assert!(text.contains(seen), "the logs never said {seen:?}");
    }
    for (what, secret) in &secrets {
        assert!(!secret.is_empty());
        assert!(!text.contains(secret.as_str()), "the {what} was logged");
    }
    // Nothing shaped like a Standard Webhooks signature (ours to Atlas, or the simulator's to us).
    let signature = text.match_indices("v1,").any(|(i, _)| {
        let rest = &text[i + 3..];
        rest.len() >= 43
            && rest[..43]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    });
    assert!(!signature, "a webhook signature was logged");
}

/// A receiver for Atlas's webhooks that answers 204 to everything; returns its URL.
async fn receiver() -> String {
    let app = axum::Router::new().route("/hook", axum::routing::post(|| async { StatusCode::NO_CONTENT }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/hook")
}

async fn wait_for(app: &TestApp, u: atlas_credits::model::UserId, want: Credits) {
    for _ in 0..200 {
        if common::checked_balance(app.db.store.as_ref(), u).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the balance never reached {want}");
}
