//! The headers every response carries (src/server/http/security_headers.rs), over real HTTP: no
//! framing, no sniffing, no path in cross-site referrers, and HSTS exactly when the app is public
//! over https. The widget's frame, which Atlas may embed, is covered in tests/widget.rs.

use crate::common;

use common::{Db, TestApp};

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
        assert_eq!(
            get("content-security-policy").as_deref(),
            Some("frame-ancestors 'none'"),
            "{path}"
        );
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
