//! The headers every response carries (src/server/http/security_headers.rs), over real HTTP: no
//! framing, no sniffing, no path in cross-site referrers, HSTS exactly when the app is public
//! over https, and on every app page a Content-Security-Policy whose nonce is fresh per response
//! and is the one on the page's scripts. The widget's frame, which Atlas may embed, is covered in
//! tests/it/widget.rs; that no page trips its policy in a real browser, in end2end/tests/csp.spec.ts.

use std::collections::HashSet;

use crate::common;

use common::auth::Browser;
use common::{Db, TestApp};

both_backends!(every_page_names_a_fresh_nonce_that_its_scripts_carry);

/// Pages, an API answer, a static file, a 404, a redirect and an error: every kind of response.
const PATHS: [&str; 8] = [
    "/",
    "/login",
    "/account",
    "/admin/orders",
    "/api/v1/openapi.json",
    "/api/v1/users/u1/balance",
    "/favicon.svg",
    "/no-such-page",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_response_refuses_framing_and_sniffing_and_keeps_paths_to_itself() {
    let Some(app) = TestApp::spawn(Db::Sqlite).await else {
        return;
    };
    for path in PATHS {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        let h = r.headers();
        let get = |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_owned());
        let csp = get("content-security-policy").unwrap_or_default();
        assert!(csp.ends_with("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(get("x-frame-options").as_deref(), Some("DENY"), "{path}");
        assert_eq!(get("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
        assert_eq!(
            get("referrer-policy").as_deref(),
            Some("strict-origin-when-cross-origin"),
            "{path}"
        );
        assert_eq!(
            get("strict-transport-security"),
            None,
            "no HSTS over plain http: {path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hsts_is_sent_when_the_public_url_is_https() {
    let Some(app) = TestApp::spawn_with_env(Db::Sqlite, &[("PUBLIC_URL", "https://credits.example.com")]).await else {
        return;
    };
    for path in PATHS {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            r.headers()
                .get("strict-transport-security")
                .map(|v| v.to_str().unwrap()),
            Some("max-age=63072000"),
            "{path}"
        );
    }
}

/// Every page there is, as an admin sees it (so the admin pages render, not their 403), the 404
/// page, and pages a signed-out visitor sees.
const ADMIN_PAGES: [&str; 19] = [
    "/",
    "/login",
    "/signup",
    "/credits",
    "/account",
    "/payment/status?order=999999",
    "/auth/link-problem",
    "/admin",
    "/admin/orders",
    "/admin/plans",
    "/admin/settings",
    "/admin/unmatched",
    "/admin/webhooks",
    "/admin/audit",
    "/admin/metrics?days=7",
    "/admin/alerts",
    "/admin/webhook-endpoints",
    "/admin/orders/999999",
    "/no-such-page",
];
const SIGNED_OUT_PAGES: [&str; 3] = ["/", "/login", "/admin/orders"];

/// The policy an app page must carry, spelled out here rather than taken from the code, so a
/// change to it is a change to this test too.
fn expected_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
}

/// GETs an app page and answers the nonce its policy names, after checking the policy is the
/// app's whole policy, that every `<script>` on the page carries that nonce (there is at least
/// the hydration script), and that the page has no inline style the policy would block.
async fn page_nonce(client: &reqwest::Client, app: &TestApp, path: &str) -> String {
    let r = client.get(app.url(path)).send().await.unwrap();
    let status = r.status();
    let h = r.headers().clone();
    let html = r.text().await.unwrap();
    let content_type = h.get("content-type").map(|v| v.to_str().unwrap()).unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{path}: {status} {content_type}");
    assert_eq!(
        h.get("x-frame-options").map(|v| v.to_str().unwrap()),
        Some("DENY"),
        "{path}"
    );
    let csp = h
        .get_all("content-security-policy")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(csp.len(), 1, "{path}: one policy, not {csp:?}");
    let csp = &csp[0];
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("{path} ({status}): no nonce in {csp}"));
    // 128 random bits, base64url: a browser accepts it, and it is not guessable.
    assert_eq!(nonce.len(), 22, "{path}: {nonce}");
    assert!(
        nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{path}: {nonce}"
    );
    assert_eq!(csp, &expected_policy(nonce), "{path}");

    let scripts: Vec<&str> = html
        .split("<script")
        .skip(1)
        .map(|s| &s[..s.find('>').unwrap()])
        .collect();
    assert!(!scripts.is_empty(), "{path}: no script on the page");
    let attr = format!(" nonce=\"{nonce}\"");
    for s in &scripts {
        assert!(
            s.contains(&attr),
            "{path}: a script without the response's nonce: <script{s}>"
        );
    }
    assert!(
        html.contains("type=\"module\""),
        "{path}: the hydration script is missing"
    );
    assert!(
        !html.contains("<style") && !html.contains(" style=\""),
        "{path}: an inline style"
    );
    nonce.to_owned()
}

async fn every_page_names_a_fresh_nonce_that_its_scripts_carry(db: Db) {
    // The site root is the public folder, so /favicon.svg is a file whether or not a bundle was
    // built (the Leptos options come from this file, not from the test's variables).
    let dir = tempfile::tempdir().unwrap();
    let leptos_toml = dir.path().join("Leptos.toml");
    let site_root = concat!(env!("CARGO_MANIFEST_DIR"), "/public");
    std::fs::write(
        &leptos_toml,
        format!(
            "[package.metadata.leptos]\noutput-name = \"atlas-credits\"\nsite-root = \"{site_root}\"\nenv = \"PROD\"\n"
        ),
    )
    .unwrap();
    let Some(app) = TestApp::spawn_with_env(db, &[("LEPTOS_CONFIG_FILE", leptos_toml.to_str().unwrap())]).await else {
        return;
    };
    let (admin, _) = Browser::sign_up_admin(&app, "csp-admin@example.com").await;
    let mut seen = HashSet::new();
    for path in ADMIN_PAGES {
        let nonce = page_nonce(&admin.client, &app, path).await;
        assert!(seen.insert(nonce.clone()), "{path}: nonce {nonce} was used before");
    }
    for path in SIGNED_OUT_PAGES {
        let nonce = page_nonce(&app.client, &app, path).await;
        assert!(seen.insert(nonce.clone()), "{path}: nonce {nonce} was used before");
    }
    // The same page twice: two nonces.
    let again = page_nonce(&app.client, &app, "/").await;
    assert!(seen.insert(again), "/ twice, the same nonce");

    // What is not a page (JSON, a file, a server function) runs none of our scripts: it keeps
    // the framing rule alone, with no nonce to leak or reuse.
    let not_pages = [
        app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap(),
        app.client.get(app.url("/favicon.svg")).send().await.unwrap(),
        app.client.get(app.url("/healthz")).send().await.unwrap(),
        admin.call(&app, "/api/get_viewer", &[]).await,
    ];
    for r in not_pages {
        assert!(r.status().is_success(), "{}: {}", r.url(), r.status());
        assert_eq!(
            r.headers().get("content-security-policy").map(|v| v.to_str().unwrap()),
            Some("frame-ancestors 'none'"),
            "{}",
            r.url()
        );
    }
}
