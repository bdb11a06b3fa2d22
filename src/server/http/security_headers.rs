//! Headers every response carries unless its handler chose its own:
//! - every app page (rendered by Leptos) gets a Content-Security-Policy that allows only what the
//!   page loads: this app's own files, the inline scripts Leptos writes carrying this response's
//!   nonce, and the compilation of the WASM bundle. An injected `<script>`, inline handler or style
//!   then does not run, and nothing can be sent to another origin by script;
//! - no page may be framed by another site (clickjacking: an admin tricked into pressing "Approve"
//!   or "Refund" inside someone else's page). The widget's frame sets its own
//!   Content-Security-Policy naming `HOST_APP_ORIGINS`, and is left alone;
//! - `nosniff`, and a referrer policy that never sends a path (which may hold an order id) to
//!   another site;
//! - HSTS when the app is served over https (`PUBLIC_URL`), so a browser never again tries it
//!   over plain http, where a session cookie could be stripped of its protection.
//!
//! The nonce is Leptos's own (the `nonce` feature: a fresh 128-bit value per render, written on
//! the hydration script and the streamed resource scripts). This middleware hands each request an
//! empty [`PageNonce`] slot; the page render copies its nonce into it ([`share_page_nonce`], in
//! the router's render context), and the policy is written from it once the response exists. So
//! the policy lives here, in one place, and the header names exactly the nonce on the scripts.

use std::sync::{Arc, OnceLock};

use axum::extract::{Request, State};
use axum::http::{header, request::Parts, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use leptos::config::{Env, LeptosOptions};
use leptos::nonce::{use_nonce, Nonce};
use leptos::prelude::use_context;

use crate::server::state::AppState;

/// Two years, the value browsers' preload lists ask for.
const HSTS: &str = "max-age=63072000";

/// For what no page renders (JSON, files, server functions, the simulator's own pages): it
/// runs no script of ours, so only framing is refused.
const NOT_A_PAGE: &str = "frame-ancestors 'none'";

/// Where a page render leaves its nonce for this middleware (a request extension).
#[derive(Clone, Default)]
pub struct PageNonce(Arc<OnceLock<Nonce>>);

/// Called in the render context of every page (and of the 404 page): copies the nonce Leptos
/// generated for this render into the request's slot. Outside a render it does nothing.
pub fn share_page_nonce() {
    let (Some(parts), Some(nonce)) = (use_context::<Parts>(), use_nonce()) else {
        return;
    };
    if let Some(slot) = parts.extensions.get::<PageNonce>() {
        // A render happens once per request; were there a second, the first nonce (the one
        // already on the page's scripts) stays.
        let _ = slot.0.set(nonce);
    }
}

/// The policy of an app page whose scripts carry `nonce`.
/// - `script-src`: the hydration script and streamed resource scripts carry the nonce; they
///   import `/pkg/*.js` ('self'; no 'strict-dynamic', which would refuse the bundle's
///   `<link rel=modulepreload>`, which carries no nonce). 'wasm-unsafe-eval' lets the bundle
///   compile its WASM, and allows no `eval` of JavaScript.
/// - `style-src 'self'`: the stylesheet; the pages have no inline style (a test checks no
///   violation happens on any page in the browser).
/// - `connect-src 'self'`: the WASM fetch and server functions. Under `cargo leptos watch`
///   (`LEPTOS_ENV=DEV`) also the live-reload websocket on the reload port.
/// - no `form-action`: Chrome applies it to the redirect after a form post, and the checkout
///   form is answered with a redirect to Whop's own origin.
pub fn page_policy(nonce: &str, options: &LeptosOptions) -> String {
    let reload = match options.env {
        Env::DEV => {
            let port = options.reload_external_port.unwrap_or(options.reload_port);
            format!(" ws://*:{port} wss://*:{port}")
        }
        Env::PROD => String::new(),
    };
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self'; connect-src 'self'{reload}; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'"
    )
}

pub async fn add(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let page_nonce = PageNonce::default();
    req.extensions_mut().insert(page_nonce.clone());
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        let policy = page_nonce
            .0
            .get()
            .and_then(|nonce| HeaderValue::from_str(&page_policy(nonce, &state.leptos_options)).ok())
            .unwrap_or(HeaderValue::from_static(NOT_A_PAGE));
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("strict-origin-when-cross-origin"));
    if state.web.secure_cookies {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_policy_names_the_nonce_and_allows_live_reload_only_in_development() {
        let mut options = LeptosOptions::builder().output_name("x").build();
        options.env = Env::PROD;
        let prod = page_policy("abc_-123", &options);
        assert!(
            prod.contains("script-src 'self' 'nonce-abc_-123' 'wasm-unsafe-eval';"),
            "{prod}"
        );
        assert!(prod.contains("connect-src 'self';"), "{prod}");
        assert!(!prod.contains("ws:"), "{prod}");
        assert!(!prod.contains("unsafe-inline"), "{prod}");
        assert!(!prod.contains("form-action"), "{prod}");
        options.env = Env::DEV;
        options.reload_port = 3001;
        let dev = page_policy("n", &options);
        assert!(dev.contains("connect-src 'self' ws://*:3001 wss://*:3001;"), "{dev}");
    }
}
