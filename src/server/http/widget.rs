//! The credits widget: `/widget.js` (the loader a host page includes), `/widget` (the frame it
//! adds, which only the host app's origins may embed), and `/widget/balance` (what the frame reads
//! with its token). Plain HTML, CSS and a few lines of script: the widget needs no WASM, and its
//! frame's Content-Security-Policy allows nothing but this app's own files.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde_json::json;

use crate::server::service::widget::{self, WidgetError};
use crate::server::state::AppState;

pub const LOADER_JS: &str = include_str!("widget/loader.js");
pub const FRAME_JS: &str = include_str!("widget/frame.js");
pub const FRAME_CSS: &str = include_str!("widget/frame.css");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/widget.js",
            get(|| async { asset("text/javascript; charset=utf-8", LOADER_JS) }),
        )
        .route("/widget", get(frame))
        .route(
            "/widget/frame.js",
            get(|| async { asset("text/javascript; charset=utf-8", FRAME_JS) }),
        )
        .route(
            "/widget/frame.css",
            get(|| async { asset("text/css; charset=utf-8", FRAME_CSS) }),
        )
        .route("/widget/balance", get(balance))
}

/// The loader and the frame's files: cached for five minutes, so a fix reaches host pages soon.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The frame: framable only by `HOST_APP_ORIGINS` (none when unset), loading only its own script
/// and stylesheet, talking only to this app.
async fn frame(State(state): State<AppState>) -> Response {
    let origins = &state.web.host_app_origins;
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors {}",
        origins.frame_ancestors()
    );
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>Your credits</title>\
         <link rel=\"stylesheet\" href=\"/widget/frame.css\"></head><body>\
         <div id=\"widget\" class=\"w\"><p class=\"bal\"><span class=\"label\">Your credits</span>\
         <strong id=\"amount\" aria-live=\"polite\">Loading…</strong></p>\
         <p id=\"note\" class=\"note\" role=\"status\" hidden></p>\
         <a id=\"buy\" class=\"buy\" target=\"_top\" hidden>Buy credits</a></div>\
         <script src=\"/widget/frame.js\" data-host-origins=\"{}\"></script></body></html>",
        escape_attr(&origins.as_slice().join(" "))
    );
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        html,
    )
        .into_response();
    match HeaderValue::from_str(&csp) {
        Ok(v) => {
            response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
        // Origins are parsed URLs, so this cannot happen; if it did, the frame must not be framable.
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
    response
}

/// `GET /widget/balance` with `Authorization: Bearer wt_...`: `{balance, low}`, or 401.
async fn balance(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    match widget::balance(state.store.as_ref(), token, Utc::now()).await {
        Ok(b) => (no_store, Json(json!({ "balance": b.balance, "low": b.low }))).into_response(),
        Err(WidgetError::InvalidToken) => (
            StatusCode::UNAUTHORIZED,
            no_store,
            Json(json!({ "error": { "code": "invalid_token", "message": "the widget token is unknown or expired" } })),
        )
            .into_response(),
        Err(WidgetError::Store(e)) => {
            tracing::error!(error = %e, "widget balance: store error");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                no_store,
                Json(json!({ "error": { "code": "unavailable", "message": "try again shortly" } })),
            )
                .into_response()
        }
    }
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
