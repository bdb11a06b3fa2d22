//! Sign-in links from the host app over real HTTP, on both backends: the API that makes them
//! (keys, unknown users, `return_to` and `back_url` checks), opening one (a normal session, once
//! only, even when opened twice at the same moment), expired and malformed links, "Back to Atlas",
//! the log-in page's hint for passwordless users, and the token kept out of the logs.

use crate::common;

use atlas_credits::model::{AppError, HOST_USER_HINT};
use atlas_credits::server::jobs::{Housekeeping, Job};
use atlas_credits::server::service::{api_keys, auth};
use atlas_credits::server::store::{NewSignInLink, Store, UserRow};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{Duration, Utc};
use common::auth::{Browser, PASSWORD};
use common::{Db, TestApp};
use serde_json::{json, Value};

both_backends!(
    a_link_signs_the_browser_in_once,
    expired_links_show_the_expired_page_and_are_swept,
    malformed_and_unknown_links_show_the_invalid_page,
    the_api_needs_a_live_key_and_a_known_user,
    return_to_must_be_a_path_here,
    back_url_must_be_on_a_listed_origin,
    back_url_is_checked_again_when_shown,
    a_browser_signed_in_as_someone_else_is_switched,
    concurrent_opens_make_one_session,
    links_never_sign_in_an_admin,
    tokens_never_reach_the_logs,
    passwordless_users_get_the_hint_not_an_error,
);

const ATLAS: &str = "https://atlas.example.com";

/// The app with one live API key.
struct Host {
    app: TestApp,
    key: String,
}

impl Host {
    async fn spawn(db: Db, vars: &[(&str, &str)]) -> Option<Host> {
        let app = TestApp::spawn_with_env(db, vars).await?;
        let (key, _) = api_keys::create(app.db.store.as_ref(), "atlas", "test").await.unwrap();
        Some(Host { app, key })
    }

    fn store(&self) -> &dyn Store {
        self.app.db.store.as_ref()
    }

    /// Creates the host user `id` (no password) and returns its row.
    async fn user(&self, id: &str) -> UserRow {
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
        self.store().user_by_external_id(id).await.unwrap().unwrap()
    }

    /// `POST /api/v1/users/{id}/sessions` with `body` (None: no body at all).
    async fn make_link(&self, id: &str, body: Option<Value>) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut r = self
            .app
            .client
            .post(self.app.url(&format!("/api/v1/users/{id}/sessions")))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        (status, r.json().await.unwrap(), headers)
    }

    /// A link's URL (asserting 201).
    async fn link(&self, id: &str, body: Option<Value>) -> String {
        let (status, body, _) = self.make_link(id, body).await;
        assert_eq!(status, 201, "{body}");
        body["url"].as_str().unwrap().to_string()
    }
}

fn token_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

/// A well-formed token nobody handed out.
fn fresh_token(seed: u8) -> String {
    URL_SAFE_NO_PAD.encode([seed; 32])
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// Opens `url` in `b` (not following the redirect); the response.
async fn open(b: &Browser, url: &str) -> reqwest::Response {
    b.client.get(url).send().await.unwrap()
}

/// The problem page a refused link leads to: its status and HTML.
async fn problem_page(app: &TestApp, b: &Browser, location: &str) -> (u16, String) {
    assert!(location.starts_with("/auth/link-problem?reason="), "{location}");
    let r = b.client.get(app.url(location)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Whom the browser is signed in as (the header's server function).
async fn viewer(app: &TestApp, b: &Browser) -> Value {
    let (status, body) = b.call_fn(app, "get_viewer", &[]).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn a_link_signs_the_browser_in_once(db: Db) {
    let Some(h) = Host::spawn(db, &[]).await else { return };
    let ann = h.user("atlas-ann").await;
    let before = Utc::now();
    let (status, body, headers) = h.make_link("atlas-ann", Some(json!({ "return_to": "/account" }))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    let url = body["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/auth/link/", h.app.base)), "{url}");
    let token = token_of(url);
    assert_eq!(token.len(), 43);
    let expires = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    let lifetime = expires.with_timezone(&Utc) - before;
    assert!(lifetime > Duration::minutes(4) && lifetime <= Duration::minutes(5) + Duration::seconds(1));
    // Only the token's hash is kept.
    let row = h.store().sign_in_link(&auth::token_hash(token)).await.unwrap().unwrap();
    assert_eq!(
        (row.user_id, row.return_to.as_str(), row.used_at),
        (ann.id, "/account", None)
    );

    let b = Browser::new(&h.app);
    // A link checker's HEAD does not use the link up.
    let r = b.client.head(url).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert!(set_cookies(&r).is_empty());
    let r = open(&b, url).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let cookies = set_cookies(&r);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let session = cookies[0]
        .strip_prefix("atlas_session=")
        .and_then(|c| c.split(';').next())
        .unwrap();
    assert!(
        cookies[0].contains("; Path=/; HttpOnly; SameSite=Lax; Max-Age="),
        "{cookies:?}"
    );
    // A normal session: the same table, found by the cookie's hash, the usual 30 days.
    let signed_in = auth::session_user(h.store(), session).await.unwrap().unwrap();
    assert_eq!(signed_in.id, ann.id);
    let max_age: i64 = cookies[0].split("Max-Age=").nth(1).unwrap().parse().unwrap();
    assert!(max_age > 29 * 86400, "{max_age}");
    assert_eq!(viewer(&h.app, &b).await["email"], "atlas-ann@example.com");
    let page = b.client.get(h.app.url("/credits")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("atlas-ann@example.com"));

    // Used once: a second open (this browser or another) signs nobody in.
    let row = h.store().sign_in_link(&auth::token_hash(token)).await.unwrap().unwrap();
    assert!(row.used_at.is_some());
    let other = Browser::new(&h.app);
    for b in [&b, &other] {
        let r = open(b, url).await;
        assert_eq!(r.status(), 303);
        assert!(set_cookies(&r).is_empty());
        assert_eq!(r.headers()["cache-control"], "no-store");
        let (status, html) = problem_page(&h.app, b, &location(&r)).await;
        assert_eq!(status, 410);
        assert!(
            html.contains("already used") && html.contains(r#"href="/login""#),
            "{html}"
        );
        assert!(!html.contains(token));
        // No host origin configured: no "Back to Atlas" to offer.
        assert!(!html.contains("Back to Atlas"));
    }
    assert!(viewer(&h.app, &other).await.is_null());
    assert_eq!(h.store().delete_user_sessions(ann.user_id()).await.unwrap(), 1);
}

async fn expired_links_show_the_expired_page_and_are_swept(db: Db) {
    let Some(h) = Host::spawn(db, &[("HOST_APP_ORIGINS", ATLAS)]).await else {
        return;
    };
    let ann = h.user("atlas-ann").await;
    let key = h.store().list_api_keys().await.unwrap()[0].id;
    let now = Utc::now();
    let expired = |token: &str, ago: Duration| NewSignInLink {
        token_hash: auth::token_hash(token),
        user: ann.user_id(),
        api_key_id: key,
        return_to: "/credits".into(),
        back_url: None,
        created_at: now - ago - Duration::minutes(5),
        expires_at: now - ago,
    };
    let (just, old) = (fresh_token(1), fresh_token(2));
    h.store()
        .create_sign_in_link(&expired(&just, Duration::seconds(1)))
        .await
        .unwrap();
    h.store()
        .create_sign_in_link(&expired(&old, Duration::hours(25)))
        .await
        .unwrap();

    let b = Browser::new(&h.app);
    let r = open(&b, &h.app.url(&format!("/auth/link/{just}"))).await;
    assert_eq!(r.status(), 303);
    assert!(set_cookies(&r).is_empty());
    let (status, html) = problem_page(&h.app, &b, &location(&r)).await;
    assert_eq!(status, 410);
    assert!(html.contains("expired") && html.contains(r#"href="/login""#), "{html}");
    // One host origin: the page leads back to it.
    assert!(
        html.contains(&format!(r#"href="{ATLAS}/""#)) && html.contains("Back to Atlas"),
        "{html}"
    );
    assert!(!html.contains(&just));
    assert!(viewer(&h.app, &b).await.is_null());
    // Still unused: an expired link is refused without being marked.
    let row = h.store().sign_in_link(&auth::token_hash(&just)).await.unwrap().unwrap();
    assert_eq!(row.used_at, None);

    // Housekeeping deletes links expired more than a day ago; a late click on a recent one still
    // gets "expired".
    // (The app's own housekeeping step runs at start-up too; should it come late, it deletes the
    // old link first and this step finds nothing. The rows are what counts.)
    let report = Housekeeping::new(h.app.db.store.clone()).run_once().await.unwrap();
    assert!(report.expired_sign_in_links <= 1, "{report:?}");
    assert!(h.store().sign_in_link(&auth::token_hash(&old)).await.unwrap().is_none());
    assert!(h
        .store()
        .sign_in_link(&auth::token_hash(&just))
        .await
        .unwrap()
        .is_some());
}

async fn malformed_and_unknown_links_show_the_invalid_page(db: Db) {
    let Some(h) = Host::spawn(db, &[]).await else { return };
    h.user("atlas-ann").await;
    let real = h.link("atlas-ann", None).await;
    let t = token_of(&real).to_string();
    let b = Browser::new(&h.app);
    for bad in [
        fresh_token(9),             // well formed, never handed out
        t[..42].to_string(),        // short
        format!("{t}A"),            // long
        "x".repeat(5000),           // very long
        format!("{}%2F", &t[..40]), // outside the alphabet
        format!("{}+-=", &t[..40]),
        format!("{}%00", &t[..40]),
        format!("{}%C3%A9", &t[..41]),
        t.to_uppercase(),
    ] {
        let r = open(&b, &h.app.url(&format!("/auth/link/{bad}"))).await;
        assert_eq!(r.status(), 303, "{bad}");
        assert!(set_cookies(&r).is_empty());
        assert_eq!(location(&r), "/auth/link-problem?reason=invalid", "{bad}");
    }
    let (status, html) = problem_page(&h.app, &b, "/auth/link-problem?reason=invalid").await;
    assert_eq!(status, 404);
    assert!(
        html.contains("not valid") && html.contains(r#"href="/login""#),
        "{html}"
    );
    // The malformed attempts did not touch the real link.
    let r = open(&b, &real).await;
    assert_eq!(location(&r), "/credits", "the default return_to");
}

async fn the_api_needs_a_live_key_and_a_known_user(db: Db) {
    let Some(h) = Host::spawn(db, &[]).await else { return };
    h.user("atlas-ann").await;
    let (revoked, row) = api_keys::create(h.store(), "old", "test").await.unwrap();
    api_keys::revoke(h.store(), row.id, "test").await.unwrap();
    let url = h.app.url("/api/v1/users/atlas-ann/sessions");
    let wrong = format!("ak_{}", "0".repeat(64));
    for key in [None, Some(wrong.as_str()), Some(revoked.as_str()), Some("")] {
        let mut r = h.app.client.post(&url);
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 401, "{key:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let (status, body, _) = h.make_link("ghost", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    let (status, _, _) = h.make_link("a%20b", None).await;
    assert_eq!(status, 400);
    // An empty JSON object and an empty body take the defaults.
    assert_eq!(h.make_link("atlas-ann", Some(json!({}))).await.0, 201);
    let r = h
        .app
        .client
        .post(&url)
        .bearer_auth(&h.key)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // A browser's session opens nothing here.
    let b = Browser::sign_up(&h.app, "bob@example.com").await;
    let r = b.client.post(&url).header("origin", &b.origin).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

async fn return_to_must_be_a_path_here(db: Db) {
    let Some(h) = Host::spawn(db, &[]).await else { return };
    h.user("atlas-ann").await;
    let long = format!("/{}", "a".repeat(600));
    for bad in [
        "//evil.com",
        "https://evil.com",
        "/\\evil",
        "\\\\evil",
        "/\t/evil.com",
        "/\n",
        "/a\u{0}",
        "/%0a",
        "javascript:alert(1)",
        "credits",
        "",
        long.as_str(),
    ] {
        let (status, body, _) = h.make_link("atlas-ann", Some(json!({ "return_to": bad }))).await;
        assert_eq!(status, 400, "{bad:?}");
        assert_eq!(body["error"]["code"], "invalid_return_to", "{bad:?}");
    }
    assert_eq!(
        h.make_link("atlas-ann", Some(json!({ "return_to": 5 }))).await.1["error"]["code"],
        "invalid_request"
    );
    let b = Browser::new(&h.app);
    for (asked, lands) in [
        (Some("/account"), "/account"),
        (Some("/credits?plan=2"), "/credits?plan=2"),
        (None, "/credits"),
    ] {
        let url = h.link("atlas-ann", Some(json!({ "return_to": asked }))).await;
        assert_eq!(location(&open(&b, &url).await), lands);
    }
}

async fn back_url_must_be_on_a_listed_origin(db: Db) {
    // Without HOST_APP_ORIGINS no back_url is accepted.
    let Some(h) = Host::spawn(db, &[]).await else { return };
    h.user("atlas-ann").await;
    let (status, body, _) = h
        .make_link("atlas-ann", Some(json!({ "back_url": format!("{ATLAS}/billing") })))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("back_url_not_configured"))
    );
    drop(h);

    let Some(h) = Host::spawn(db, &[("HOST_APP_ORIGINS", &format!("{ATLAS}, http://localhost:3000"))]).await else {
        return;
    };
    h.user("atlas-ann").await;
    for bad in [
        "https://evil.example.com/billing",
        "https://atlas.example.com.evil.com/",
        "http://atlas.example.com/billing",
        "https://atlas.example.com:8443/",
        "javascript:alert(1)",
        "https://user:pw@atlas.example.com/",
        "https://user@atlas.example.com/",
        "https://atlas.example.com/\n",
        "/billing",
        "",
    ] {
        let (status, body, _) = h.make_link("atlas-ann", Some(json!({ "back_url": bad }))).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_back_url")),
            "{bad:?}"
        );
    }
    let url = h
        .link(
            "atlas-ann",
            Some(json!({ "back_url": format!("{ATLAS}/billing?from=credits") })),
        )
        .await;
    let b = Browser::new(&h.app);
    assert_eq!(location(&open(&b, &url).await), "/credits");
    let html = b
        .client
        .get(h.app.url("/credits"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("← Back to Atlas"), "{html}");
    assert!(
        html.contains(r#"href="https://atlas.example.com/billing?from=credits" rel="noopener""#),
        "{html}"
    );
    // On every page of the session, and not for a session from a log-in.
    let account = b
        .client
        .get(h.app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(account.contains("← Back to Atlas"));
    let plain = Browser::sign_up(&h.app, "bob@example.com").await;
    let html = plain
        .client
        .get(h.app.url("/credits"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("bob@example.com") && !html.contains("Back to Atlas"));
    // Two origins: the problem page cannot know which is home.
    let (_, html) = problem_page(&h.app, &Browser::new(&h.app), "/auth/link-problem?reason=used").await;
    assert!(!html.contains("Back to Atlas"));
}

/// HOST_APP_ORIGINS may change after a link was made: the stored back_url is shown only while its
/// origin is still listed.
async fn back_url_is_checked_again_when_shown(db: Db) {
    let Some(h) = Host::spawn(db, &[("HOST_APP_ORIGINS", ATLAS)]).await else {
        return;
    };
    let ann = h.user("atlas-ann").await;
    let key = h.store().list_api_keys().await.unwrap()[0].id;
    let token = fresh_token(3);
    h.store()
        .create_sign_in_link(&NewSignInLink {
            token_hash: auth::token_hash(&token),
            user: ann.user_id(),
            api_key_id: key,
            return_to: "/credits".into(),
            back_url: Some("https://old-atlas.example.com/billing".into()),
            created_at: Utc::now(),
            expires_at: Utc::now() + Duration::minutes(5),
        })
        .await
        .unwrap();
    let b = Browser::new(&h.app);
    assert_eq!(
        location(&open(&b, &h.app.url(&format!("/auth/link/{token}"))).await),
        "/credits"
    );
    assert_eq!(viewer(&h.app, &b).await["email"], "atlas-ann@example.com");
    assert!(viewer(&h.app, &b).await["back_url"].is_null());
    let html = b
        .client
        .get(h.app.url("/credits"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("Back to Atlas") && !html.contains("old-atlas"), "{html}");
}

async fn a_browser_signed_in_as_someone_else_is_switched(db: Db) {
    let Some(h) = Host::spawn(db, &[]).await else { return };
    let ann = h.user("atlas-ann").await;
    let b = Browser::sign_up(&h.app, "bob@example.com").await;
    let bob = h.store().user_by_email("bob@example.com").await.unwrap().unwrap();
    // Bob is also signed in elsewhere; that session stays.
    let elsewhere = Browser::new(&h.app);
    let (s, _) = elsewhere
        .call_fn(
            &h.app,
            "log_in",
            &[("email", "bob@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert!(s.is_success() || s.is_redirection(), "{s}");
    assert_eq!(viewer(&h.app, &b).await["email"], "bob@example.com");

    let url = h.link("atlas-ann", None).await;
    let r = open(&b, &url).await;
    assert_eq!(r.status(), 303);
    assert_eq!(viewer(&h.app, &b).await["email"], "atlas-ann@example.com");
    let html = b
        .client
        .get(h.app.url("/credits"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("atlas-ann@example.com") && !html.contains("bob@example.com"));
    // The browser's old session was ended; bob's other one was not.
    assert_eq!(viewer(&h.app, &elsewhere).await["email"], "bob@example.com");
    assert_eq!(h.store().delete_user_sessions(bob.user_id()).await.unwrap(), 1);
    assert_eq!(h.store().delete_user_sessions(ann.user_id()).await.unwrap(), 1);
}

async fn concurrent_opens_make_one_session(db: Db) {
    let Some(h) = Host::spawn(db, &[]).await else { return };
    let ann = h.user("atlas-ann").await;
    for round in 0..3 {
        let url = h.link("atlas-ann", Some(json!({ "return_to": "/account" }))).await;
        let opens: Vec<_> = (0..8)
            .map(|_| {
                let b = Browser::new(&h.app);
                let url = url.clone();
                tokio::spawn(async move {
                    let r = b.client.get(&url).send().await.unwrap();
                    (r.status().as_u16(), location(&r), set_cookies(&r).len())
                })
            })
            .collect();
        let mut results: Vec<(u16, String, usize)> = Vec::new();
        for open in opens {
            results.push(open.await.unwrap());
        }
        let signed_in: Vec<_> = results.iter().filter(|(_, l, _)| l == "/account").collect();
        assert_eq!(signed_in.len(), 1, "round {round}: {results:?}");
        assert_eq!(signed_in[0].2, 1);
        for (status, l, cookies) in &results {
            assert_eq!(*status, 303);
            assert!(
                l == "/account" || (l == "/auth/link-problem?reason=used" && *cookies == 0),
                "{results:?}"
            );
        }
        assert_eq!(
            h.store().delete_user_sessions(ann.user_id()).await.unwrap(),
            1,
            "round {round}"
        );
    }
}

/// An API key must not be a way into the admin pages: no link for an admin, and a link made
/// before its user became an admin no longer works.
async fn links_never_sign_in_an_admin(db: Db) {
    let Some(h) = Host::spawn(db, &[]).await else { return };
    let ann = h.user("atlas-ann").await;
    let url = h.link("atlas-ann", None).await;
    h.store()
        .set_user_credentials(ann.user_id(), "admin", "unused-hash")
        .await
        .unwrap();
    let (status, body, _) = h.make_link("atlas-ann", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let b = Browser::new(&h.app);
    let r = open(&b, &url).await;
    assert!(set_cookies(&r).is_empty());
    assert_eq!(location(&r), "/auth/link-problem?reason=invalid");
    assert!(viewer(&h.app, &b).await.is_null());
    assert_eq!(h.store().delete_user_sessions(ann.user_id()).await.unwrap(), 0);
}

/// Everything the app logs while this test binary runs (installed once; tests run one at a time).
async fn tokens_never_reach_the_logs(db: Db) {
    let logs = common::logs::captured();
    let Some(h) = Host::spawn(db, &[]).await else { return };
    h.user("atlas-ann").await;
    let url = h.link("atlas-ann", Some(json!({ "return_to": "/account?x=1" }))).await;
    let token = token_of(&url).to_string();
    let b = Browser::new(&h.app);
    assert_eq!(location(&open(&b, &url).await), "/account?x=1");
    assert_eq!(open(&b, &url).await.status(), 303); // used: refused, logged
    let near_miss = format!("{}A", &token[..42]);
    open(&b, &h.app.url(&format!("/auth/link/{near_miss}?q={token}"))).await;
    b.client.get(h.app.url("/credits?secret=sesame")).send().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let text = common::logs::text(&logs);
    // The capture works: the requests' spans are there, with the path redacted.
    assert!(text.contains("/auth/link/[redacted]"), "no request spans captured");
    assert!(text.contains("signed in by a sign-in link"));
    assert!(text.contains("path=/credits"), "other paths are kept");
    for secret in [token.as_str(), &token[..20], &near_miss, "sesame"] {
        assert!(!text.contains(secret), "{secret:?} was logged");
    }
}

async fn passwordless_users_get_the_hint_not_an_error(db: Db) {
    let Some(h) = Host::spawn(db, &[]).await else { return };
    // The log-in page explains, to everyone.
    let html = h
        .app
        .client
        .get(h.app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(HOST_USER_HINT), "{html}");
    assert!(HOST_USER_HINT.contains("Came here from Atlas?"));

    // A host user has no password: a log-in fails like a wrong password, with the same hint.
    let ann = h.user("atlas-ann").await;
    assert!(ann.password_hash.is_none());
    Browser::sign_up(&h.app, "bob@example.com").await;
    let mut answers = Vec::new();
    for email in ["atlas-ann@example.com", "bob@example.com", "nobody@example.com"] {
        let b = Browser::new(&h.app);
        let started = std::time::Instant::now();
        let (status, body) = b
            .call_fn(
                &h.app,
                "log_in",
                &[("email", email), ("password", "not the password 123")],
            )
            .await;
        assert_eq!(status, 401, "{email}: {body}");
        assert!(viewer(&h.app, &b).await.is_null());
        answers.push((body, started.elapsed()));
    }
    // The browser shows the error's message: the usual one, with the hint.
    let error: AppError = serde_json::from_value(answers[0].0.clone()).unwrap();
    assert_eq!(error, AppError::InvalidCredentials);
    let message = error.to_string();
    assert!(
        message.starts_with("Email or password is incorrect.") && message.contains(HOST_USER_HINT),
        "{message}"
    );
    assert!(
        answers.iter().all(|(body, _)| *body == answers[0].0),
        "one answer for all"
    );
    // The password check ran for the passwordless user too (argon2 takes milliseconds, not µs).
    assert!(
        answers[0].1 >= std::time::Duration::from_millis(5),
        "{:?}",
        answers[0].1
    );
}
