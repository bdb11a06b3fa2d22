//! Headers every response carries unless its handler chose its own:
//! - no page may be framed by another site (clickjacking: an admin tricked into pressing "Approve"
//!   or "Refund" inside someone else's page). The widget's frame sets its own
//!   Content-Security-Policy naming `HOST_APP_ORIGINS`, and is left alone;
//! - `nosniff`, and a referrer policy that never sends a path (which may hold an order id) to
//!   another site;
//! - HSTS when the app is served over https (`PUBLIC_URL`), so a browser never again tries it
//!   over plain http, where a session cookie could be stripped of its protection.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::server::state::AppState;

/// Two years, the value browsers' preload lists ask for.
const HSTS: &str = "max-age=63072000";

pub async fn add(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        );
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
