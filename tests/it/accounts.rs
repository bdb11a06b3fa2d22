//! Accounts over real HTTP on both backends: sign-up, log-in, log-out, sessions (cookie
//! attributes, rotation, expiry), rate limits, cross-site refusal, guarded pages, CSV export.

use crate::common;

use atlas_credits::model::{Credits, EntryKind};
use atlas_credits::server::service::auth::token_hash;
use atlas_credits::server::service::ledger::{self, Actor, LedgerEntry};
use common::auth::{Browser, PASSWORD};
use common::{Db, TestApp};
use serde_json::Value;

both_backends!(
    sign_up_log_out_log_in,
    session_cookie_attributes_and_rotation,
    expired_and_forged_sessions_are_signed_out,
    sign_up_refuses_bad_input_and_taken_emails,
    login_is_rate_limited_per_email,
    cross_site_posts_are_refused,
    guarded_pages_redirect_or_refuse,
    csv_export_is_the_users_own_history,
    history_pages_by_keyset,
    sign_up_is_rate_limited_per_address,
    forged_forwarded_for_does_not_dodge_the_address_limit,
    invalid_emails_are_refused_before_counting,
    next_never_leads_off_site_or_fails,
    several_session_cookies_mean_signed_out,
    create_admin_needs_consent_to_take_over_an_account,
);

/// A log-in attempt as sent through our proxy, which appended `forwarded_for`'s last entry.
async fn log_in_via_proxy(app: &TestApp, email: &str, forwarded_for: &str) -> reqwest::StatusCode {
    app.client
        .post(app.url("/api/log_in"))
        .header("origin", &app.base)
        .header("accept", "application/json")
        .header("x-forwarded-for", forwarded_for)
        .form(&[("email", email), ("password", "wrong password!")])
        .send()
        .await
        .unwrap()
        .status()
}

async fn forged_forwarded_for_does_not_dodge_the_address_limit(db: Db) {
    let Some(app) = TestApp::spawn_with_env(db, &[("TRUST_PROXY", "true"), ("TRUSTED_PROXY_HOPS", "1")]).await else {
        return;
    };
    // One real client (203.0.113.7, appended by the proxy) writes a new first entry each time,
    // and a new email each time so the per-email limit never applies.
    for i in 0..40 {
        let status = log_in_via_proxy(&app, &format!("u{i}@example.com"), &format!("10.0.{i}.1, 203.0.113.7")).await;
        let expected = if i < 30 { 401 } else { 429 };
        assert_eq!(status, expected, "attempt {i}");
    }
    // Another real client is not limited by it.
    assert_eq!(
        log_in_via_proxy(&app, "x@example.com", "203.0.113.7, 203.0.113.8").await,
        401
    );
}

async fn invalid_emails_are_refused_before_counting(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let b = Browser::new(&app);
    for (path, email) in [
        ("/api/log_in", "not-an-email"),
        ("/api/log_in", &"x".repeat(10_000)),
        ("/api/sign_up", "a b@example.com"),
    ] {
        let r = b.call(&app, path, &[("email", email), ("password", PASSWORD)]).await;
        assert_eq!(r.status(), 400, "{path}");
        assert!(r.text().await.unwrap().contains("Enter a valid email address."));
    }
    // Nothing was counted: no bucket exists to prune.
    assert_eq!(app.db.store.prune_rate_limits(i64::MAX).await.unwrap(), 0);
    // A valid attempt counts once per address and once per (lowercased) email.
    let r = b
        .call(
            &app,
            "/api/log_in",
            &[("email", " Who@Example.com "), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 401);
    let r = b
        .call(
            &app,
            "/api/log_in",
            &[("email", "who@example.COM"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 401);
    assert_eq!(app.db.store.prune_rate_limits(i64::MAX).await.unwrap(), 2);
}

/// Logs in with a raw form body, so `next` reaches the server exactly as a browser would send it.
async fn log_in_raw(app: &TestApp, body: String) -> reqwest::Response {
    app.client
        .post(app.url("/api/log_in"))
        .header("origin", &app.base)
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("the server answers (no panic)")
}

async fn next_never_leads_off_site_or_fails(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    Browser::sign_up(&app, "ann@example.com").await;
    let creds = format!("email=ann%40example.com&password={}", PASSWORD.replace(' ', "+"));
    // Decoded by the form: a control character (not a valid header value), a tab a browser
    // would drop (leaving //evil.example), backslashes, and percent-escapes of the same.
    for next in [
        "/%01",
        "/%09/evil.example",
        "/%5C%5Cevil.example",
        "/%0D%0ASet-Cookie:+x=1",
        "/%2509/evil.example",
        "/%252F%252Fevil.example",
        "%2F%2Fevil.example",
    ] {
        let r = log_in_raw(&app, format!("{creds}&next={next}")).await;
        assert!(r.status().is_success(), "{next}: {}", r.status());
        assert_eq!(r.headers().get("location").unwrap(), "/account", "{next}");
        assert!(session_cookie(&r).is_some(), "{next}: still signed in");
    }
    let r = log_in_raw(&app, format!("{creds}&next=/account%3Ftab%3Dhistory")).await;
    assert_eq!(r.headers().get("location").unwrap(), "/account?tab=history");
}

async fn several_session_cookies_mean_signed_out(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let r = Browser::new(&app)
        .call(
            &app,
            "/api/sign_up",
            &[("email", "ann@example.com"), ("password", PASSWORD)],
        )
        .await;
    let token = token_of(&session_cookie(&r).unwrap());
    let signed_in = |cookie: String, https: bool| {
        let app = &app;
        async move {
            let mut get_viewer = app
                .client
                .post(app.url("/api/get_viewer"))
                .header("origin", &app.base)
                .header("accept", "application/json")
                .header("cookie", &cookie);
            let mut page = app
                .client
                .get(app.url("/account"))
                .header("accept", "text/html")
                .header("cookie", &cookie);
            let mut csv = app
                .client
                .get(app.url("/account/transactions.csv"))
                .header("cookie", &cookie);
            if https {
                get_viewer = get_viewer.header("x-forwarded-proto", "https");
                page = page.header("x-forwarded-proto", "https");
                csv = csv.header("x-forwarded-proto", "https");
            }
            let viewer: Value = get_viewer.send().await.unwrap().json().await.unwrap();
            let page = page.send().await.unwrap().status();
            let csv = csv.send().await.unwrap().status();
            // All three read the session the same way.
            assert_eq!(page == 200, viewer != Value::Null, "{cookie} page {page}");
            assert_eq!(csv == 200, viewer != Value::Null, "{cookie} csv {csv}");
            viewer != Value::Null
        }
    };
    assert!(signed_in(format!("atlas_session={token}"), false).await);
    assert!(signed_in(format!("a=1; atlas_session={token}; b=2"), false).await);
    // Over https only the `__Host-` name signs in.
    assert!(signed_in(format!("__Host-atlas_session={token}"), true).await);
    assert!(!signed_in(format!("atlas_session={token}"), true).await);
    for cookie in [
        format!("atlas_session={token}; atlas_session=tossed"),
        format!("atlas_session=tossed; atlas_session={token}"),
        format!("atlas_session={token}; atlas_session={token}"),
        format!("atlas_session={token}; __Host-atlas_session=tossed"),
    ] {
        assert!(!signed_in(cookie.clone(), false).await, "{cookie}");
    }
    assert!(!signed_in(format!("__Host-atlas_session={token}; atlas_session=tossed"), true).await);
    // Two Cookie header lines count together.
    let r = app
        .client
        .get(app.url("/account"))
        .header("accept", "text/html")
        .header("cookie", format!("atlas_session={token}"))
        .header("cookie", "atlas_session=tossed")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers().get("location").unwrap(), "/login?next=/account");
}

async fn create_admin_needs_consent_to_take_over_an_account(db: Db) {
    use atlas_credits::server::service::auth::{self, AdminOutcome};
    let Some(app) = TestApp::spawn(db).await else { return };
    let store = app.db.store.as_ref();
    // Someone registers the operator's address first and stays signed in.
    let squatter = Browser::sign_up(&app, "ops@example.com").await;
    let new_password = "the operator's new password";
    let hash = auth::hash_password(new_password.to_string().into()).await.unwrap();

    let outcome = auth::create_or_promote_admin(store, "OPS@example.com", &hash, false)
        .await
        .unwrap();
    assert!(
        matches!(outcome, AdminOutcome::NeedsPromoteExisting { ref role } if role == "user"),
        "{outcome:?}"
    );
    assert_eq!(viewer(&app, &squatter).await["role"], "user", "nothing changed");
    let user = store.user_by_email("ops@example.com").await.unwrap().unwrap();
    assert_eq!(user.role, "user");
    assert_ne!(user.password_hash.as_deref(), Some(hash.as_str()));

    let outcome = auth::create_or_promote_admin(store, "ops@example.com", &hash, true)
        .await
        .unwrap();
    assert!(
        matches!(outcome, AdminOutcome::Promoted { sessions_ended: 1, ref user } if user.role == "admin"),
        "{outcome:?}"
    );
    assert_eq!(viewer(&app, &squatter).await, Value::Null, "the old session is over");
    let r = squatter
        .call(
            &app,
            "/api/log_in",
            &[("email", "ops@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 401, "the old password is gone");

    // The operator signs in; re-running on an admin resets the password, ending its sessions.
    let operator = Browser::new(&app);
    let r = operator
        .call(
            &app,
            "/api/log_in",
            &[("email", "ops@example.com"), ("password", new_password)],
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(viewer(&app, &operator).await["role"], "admin");
    let outcome = auth::create_or_promote_admin(store, "ops@example.com", &hash, false)
        .await
        .unwrap();
    assert!(
        matches!(outcome, AdminOutcome::PasswordReset { sessions_ended: 1, .. }),
        "{outcome:?}"
    );
    assert_eq!(viewer(&app, &operator).await, Value::Null);

    // A new email simply becomes an admin.
    let outcome = auth::create_or_promote_admin(store, "new@example.com", &hash, false)
        .await
        .unwrap();
    assert!(
        matches!(outcome, AdminOutcome::Created(ref u) if u.role == "admin"),
        "{outcome:?}"
    );
}

async fn sign_up_is_rate_limited_per_address(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let b = Browser::new(&app);
    for i in 0..10 {
        let r = b
            .call(
                &app,
                "/api/sign_up",
                &[("email", &format!("n{i}@example.com")), ("password", PASSWORD)],
            )
            .await;
        assert!(r.status().is_success(), "sign-up {i}: {}", r.status());
    }
    let r = b
        .call(
            &app,
            "/api/sign_up",
            &[("email", "n10@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 429, "the 11th sign-up from one address within the hour");
    assert!(r.text().await.unwrap().contains("Too many attempts"));
    assert!(app.db.store.user_by_email("n10@example.com").await.unwrap().is_none());
}

async fn history_pages_by_keyset(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let b = Browser::sign_up(&app, "pages@example.com").await;
    let store = app.db.store.as_ref();
    let u = store
        .user_by_email("pages@example.com")
        .await
        .unwrap()
        .unwrap()
        .user_id();
    for i in 0..25 {
        let e = LedgerEntry::new(
            u,
            EntryKind::ManualGrant,
            Credits(i + 1),
            "test",
            &format!("p{i}"),
            Actor::System,
        )
        .unwrap();
        ledger::post(store, &e).await.unwrap();
    }
    let first: Value = b
        .call(&app, "/api/list_my_transactions", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 20);
    assert_eq!(first["items"][0]["amount"], 25, "newest first");
    let before = first["next_before"].as_i64().expect("a second page");
    let second: Value = b
        .call(&app, "/api/list_my_transactions", &[("before", &before.to_string())])
        .await
        .json()
        .await
        .unwrap();
    let amounts: Vec<i64> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, vec![5, 4, 3, 2, 1]);
    assert_eq!(second["next_before"], Value::Null);
}

async fn viewer(app: &TestApp, b: &Browser) -> Value {
    let r = b.call(app, "/api/get_viewer", &[]).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The session cookie a response sets (either name), not the removal of a leftover one.
fn session_cookie(r: &reqwest::Response) -> Option<String> {
    let cookies: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with("atlas_session=") || v.starts_with("__Host-atlas_session="))
        .collect();
    cookies
        .iter()
        .find(|v| !v.contains("Max-Age=0"))
        .or(cookies.first())
        .map(|v| v.to_string())
}

fn token_of(cookie: &str) -> String {
    cookie
        .trim_start_matches("__Host-")
        .trim_start_matches("atlas_session=")
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

async fn sign_up_log_out_log_in(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let b = Browser::sign_up(&app, "Ann@Example.com").await;
    assert_eq!(
        viewer(&app, &b).await,
        serde_json::json!({ "email": "Ann@Example.com", "role": "user" })
    );

    let r = b.call(&app, "/api/log_out", &[]).await;
    assert!(r.status().is_success(), "{}", r.status());
    assert!(
        session_cookie(&r).unwrap().contains("Max-Age=0"),
        "logout clears the cookie"
    );
    assert_eq!(viewer(&app, &b).await, Value::Null);

    // Wrong password and unknown email get the same answer.
    let wrong = b
        .call(
            &app,
            "/api/log_in",
            &[("email", "ann@example.com"), ("password", "not the password")],
        )
        .await;
    assert_eq!(wrong.status(), 401);
    let wrong_body = wrong.text().await.unwrap();
    let unknown = b
        .call(
            &app,
            "/api/log_in",
            &[("email", "nobody@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(unknown.text().await.unwrap(), wrong_body);
    assert!(wrong_body.contains("InvalidCredentials"), "{wrong_body}");
    assert_eq!(viewer(&app, &b).await, Value::Null);

    // The email matches whatever its case.
    let ok = b
        .call(
            &app,
            "/api/log_in",
            &[("email", "ANN@example.COM"), ("password", PASSWORD), ("next", "/admin")],
        )
        .await;
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(
        ok.headers().get("location").unwrap(),
        "/admin",
        "goes back where it was sent from"
    );
    assert_eq!(viewer(&app, &b).await["email"], "Ann@Example.com");

    // An off-site `next` is ignored.
    let ok = b
        .call(
            &app,
            "/api/log_in",
            &[
                ("email", "ann@example.com"),
                ("password", PASSWORD),
                ("next", "//evil.example"),
            ],
        )
        .await;
    assert_eq!(ok.headers().get("location").unwrap(), "/account");
}

async fn session_cookie_attributes_and_rotation(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let b = Browser::new(&app);
    let r = b
        .call(
            &app,
            "/api/sign_up",
            &[("email", "a@example.com"), ("password", PASSWORD)],
        )
        .await;
    let cookie = session_cookie(&r).expect("sign-up sets the session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http: not Secure");
    let first = token_of(&cookie);
    assert!(app
        .db
        .store
        .session_user(&token_hash(&first), chrono::Utc::now())
        .await
        .unwrap()
        .is_some());
    assert!(
        app.db
            .store
            .session_user(&first, chrono::Utc::now())
            .await
            .unwrap()
            .is_none(),
        "the database keeps the hash, not the token"
    );

    // Behind https the cookie is Secure.
    let r = b
        .client
        .post(app.url("/api/log_in"))
        .header("origin", &b.origin)
        .header("x-forwarded-proto", "https")
        .form(&[("email", "a@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let second_cookie = session_cookie(&r).unwrap();
    assert!(second_cookie.contains("; Secure"), "{second_cookie}");
    assert!(
        second_cookie.starts_with("__Host-atlas_session=") && !second_cookie.contains("Domain"),
        "a Secure session cookie carries the __Host- prefix: {second_cookie}"
    );
    let set: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        set.iter()
            .any(|c| c.starts_with("atlas_session=;") && c.contains("Max-Age=0")),
        "the plain-named cookie is removed beside it: {set:?}"
    );

    // Logging in again ended the browser's previous session (rotation).
    let second = token_of(&second_cookie);
    assert_ne!(first, second);
    assert!(app
        .db
        .store
        .session_user(&token_hash(&first), chrono::Utc::now())
        .await
        .unwrap()
        .is_none());
    assert!(app
        .db
        .store
        .session_user(&token_hash(&second), chrono::Utc::now())
        .await
        .unwrap()
        .is_some());

    // Logging out over https removes the `__Host-` cookie and ends its session.
    let r = app
        .client
        .post(app.url("/api/log_out"))
        .header("origin", &b.origin)
        .header("x-forwarded-proto", "https")
        .header("cookie", format!("__Host-atlas_session={second}"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
    let cleared: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("__Host-atlas_session=;") && c.contains("Max-Age=0") && c.contains("Secure")),
        "{cleared:?}"
    );
    assert!(app
        .db
        .store
        .session_user(&token_hash(&second), chrono::Utc::now())
        .await
        .unwrap()
        .is_none());
}

async fn expired_and_forged_sessions_are_signed_out(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let user = common::user(app.db.store.as_ref(), "old@example.com").await;
    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    app.db
        .store
        .create_session(&token_hash("expired-token"), user.user_id(), past, None)
        .await
        .unwrap();
    for token in ["expired-token", "forged-token", ""] {
        let r = app
            .client
            .post(app.url("/api/get_account"))
            .header("cookie", format!("atlas_session={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "token {token:?}");
    }
    assert_eq!(
        app.db.store.delete_expired_sessions(chrono::Utc::now()).await.unwrap(),
        1
    );
}

async fn sign_up_refuses_bad_input_and_taken_emails(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let b = Browser::new(&app);
    let short = b
        .call(
            &app,
            "/api/sign_up",
            &[("email", "a@example.com"), ("password", "short")],
        )
        .await;
    assert_eq!(short.status(), 400);
    assert!(short.text().await.unwrap().contains("at least 10 characters"));
    let bad_email = b
        .call(
            &app,
            "/api/sign_up",
            &[("email", "not-an-email"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(bad_email.status(), 400);
    assert!(
        app.db.store.user_by_email("a@example.com").await.unwrap().is_none(),
        "nothing was created"
    );

    Browser::sign_up(&app, "a@example.com").await;
    let taken = b
        .call(
            &app,
            "/api/sign_up",
            &[("email", "A@EXAMPLE.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(taken.status(), 409);
    assert!(taken.text().await.unwrap().contains("already exists"));
    let hash = app
        .db
        .store
        .user_by_email("a@example.com")
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
}

async fn login_is_rate_limited_per_email(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    Browser::sign_up(&app, "target@example.com").await;
    let b = Browser::new(&app);
    for i in 0..10 {
        let r = b
            .call(
                &app,
                "/api/log_in",
                &[("email", "target@example.com"), ("password", "wrong password!")],
            )
            .await;
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    let r = b
        .call(
            &app,
            "/api/log_in",
            &[("email", "Target@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 429, "even the right password waits once the limit is hit");
    assert!(session_cookie(&r).is_none());
    assert!(r.text().await.unwrap().contains("Too many attempts"));
    // Other accounts are not locked by it.
    Browser::sign_up(&app, "other@example.com").await;
    let r = b
        .call(
            &app,
            "/api/log_in",
            &[("email", "other@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert!(r.status().is_success());
}

async fn cross_site_posts_are_refused(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let b = Browser::sign_up(&app, "a@example.com").await;
    for (header, value) in [
        ("origin", "http://evil.example"),
        ("referer", "http://evil.example/page"),
        ("origin", "null"),
    ] {
        let r = b
            .client
            .post(app.url("/api/log_out"))
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{header}: {value}");
    }
    assert_eq!(
        viewer(&app, &b).await["email"],
        "a@example.com",
        "the refused logout did nothing"
    );
    let r = app
        .client
        .post(app.url("/api/sign_up"))
        .header("origin", "http://evil.example")
        .form(&[("email", "x@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(app.db.store.user_by_email("x@example.com").await.unwrap().is_none());
}

async fn make_admin(app: &TestApp, email: &str) {
    let u = app.db.store.user_by_email(email).await.unwrap().unwrap();
    app.db
        .store
        .set_user_credentials(u.user_id(), "admin", u.password_hash.as_deref().unwrap())
        .await
        .unwrap();
}

async fn guarded_pages_redirect_or_refuse(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    for (path, next) in [("/account", "/login?next=/account"), ("/admin", "/login?next=/admin")] {
        // As a browser asks for a page (a plain form post or link: Accept text/html).
        let r = app
            .client
            .get(app.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302, "{path}");
        assert_eq!(r.headers().get("location").unwrap(), next);
    }
    let user = Browser::sign_up(&app, "u@example.com").await;
    let r = user.client.get(app.url("/account")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("u@example.com"));
    let r = user.client.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Not allowed"));

    let admin = Browser::sign_up(&app, "boss@example.com").await;
    make_admin(&app, "boss@example.com").await;
    let r = admin.client.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("API keys"));
}

async fn csv_export_is_the_users_own_history(db: Db) {
    let Some(app) = TestApp::spawn(db).await else { return };
    let r = app
        .client
        .get(app.url("/account/transactions.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let a = Browser::sign_up(&app, "a@example.com").await;
    Browser::sign_up(&app, "b@example.com").await;
    let store = app.db.store.as_ref();
    let ua = store.user_by_email("a@example.com").await.unwrap().unwrap().user_id();
    let ub = store.user_by_email("b@example.com").await.unwrap().unwrap().user_id();
    let grant = |u, n: i64, src: &str, reason: &str| {
        LedgerEntry::new(u, EntryKind::ManualGrant, Credits(n), "test", src, Actor::System)
            .unwrap()
            .with_reason(reason)
            .unwrap()
    };
    ledger::post(store, &grant(ua, 5, "a1", "welcome, friend"))
        .await
        .unwrap();
    ledger::post(store, &grant(ua, 7, "a2", "=HYPERLINK(\"x\")"))
        .await
        .unwrap();
    ledger::post(store, &grant(ub, 999, "b1", "not yours")).await.unwrap();

    let r = a.client.get(app.url("/account/transactions.csv")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(r
        .headers()
        .get("content-disposition")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("attachment"));
    let body = r.text().await.unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "id,created_at,kind,amount,balance_after,reason");
    assert_eq!(lines.len(), 3, "{body}");
    assert!(
        lines[1].contains(",manual_grant,7,12,\"'=HYPERLINK(\"\"x\"\")\""),
        "{body}"
    );
    assert!(lines[2].ends_with(",manual_grant,5,5,\"welcome, friend\""), "{body}");
    assert!(!body.contains("999"));
}
