//! `GET /auth/link/{token}`: opens a sign-in link the host app made. On success the browser gets
//! a normal session cookie and goes to the link's `return_to`; otherwise it goes to the problem
//! page (`/auth/link-problem?reason=used|expired|invalid`), which explains and offers a way back.
//! The token is in the path, so the request's span never records it (see `router::trace_path`).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

use crate::server::http::session_cookie;
use crate::server::service::sign_in_links::{self, PROBLEM_PATH};
use crate::server::state::AppState;

pub async fn open_link(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    // axum routes HEAD to GET handlers; a link checker's HEAD must not use the link up.
    if method == Method::HEAD {
        let mut r = (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET")]).into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return r;
    }
    // A path that does not even decode is just another invalid link.
    let token = path.map(|Path(t)| t).unwrap_or_default();
    let previous = session_cookie::presented_tokens(&headers);
    let ua = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let opened = sign_in_links::open(state.store.as_ref(), &token, &previous, ua, chrono::Utc::now()).await;
    let mut response = match opened {
        Ok(Ok(opened)) => {
            let secure = session_cookie::is_secure(state.web.secure_cookies, &headers);
            let mut r = see_other(&opened.return_to);
            // A browser signed in as someone else is switched: its old cookie is overwritten
            // (and that session was ended by `open`).
            for cookie in
                session_cookie::set_cookies(opened.session.token.expose_secret(), opened.session.expires_at, secure)
            {
                r.headers_mut().append(header::SET_COOKIE, cookie);
            }
            r
        }
        Ok(Err(problem)) => {
            tracing::info!(reason = problem.reason(), "sign-in link refused");
            see_other(&format!("{PROBLEM_PATH}?reason={}", problem.reason()))
        }
        Err(e) => {
            tracing::error!(error = %e, "opening a sign-in link failed");
            let status = if e.is_unavailable() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            (
                status,
                "Something went wrong on our side. Please ask Atlas for a new link.",
            )
                .into_response()
        }
    };
    let h = response.headers_mut();
    // The link's URL must not travel on as a Referer, nor be kept by a cache.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    // `return_to` passed `safe_next` and the problem path is ours: both are valid header values.
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}
