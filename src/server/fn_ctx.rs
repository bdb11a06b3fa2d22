//! What server functions share: the app state, the request's headers and client address, the
//! signed-in user, and answering errors with the right HTTP status.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;

use crate::model::AppError;
pub use crate::server::http::safe_next::safe_next;
use crate::server::http::{client_ip, session_cookie};
use crate::server::service::{auth, rate_limit};
use crate::server::state::AppState;
use crate::server::store::UserRow;

pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the server function context");
        AppError::Internal
    })
}

pub async fn headers() -> HeaderMap {
    leptos_axum::extract::<HeaderMap>().await.unwrap_or_default()
}

pub async fn client_address(state: &AppState, headers: &HeaderMap) -> String {
    let peer = leptos_axum::extract::<ConnectInfo<SocketAddr>>()
        .await
        .ok()
        .map(|c| c.0);
    client_ip::client_ip(headers, peer, state.web.proxy_trust())
}

/// Sets the response status that matches the error, and passes the error on.
pub fn fail(e: AppError) -> AppError {
    let status = match &e {
        AppError::Unauthorized | AppError::InvalidCredentials => StatusCode::UNAUTHORIZED,
        AppError::Forbidden => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Invalid(_) => StatusCode::BAD_REQUEST,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Internal | AppError::Transport(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if let Some(resp) = use_context::<ResponseOptions>() {
        resp.set_status(status);
    }
    e
}

/// The signed-in user, if the request carries a live session.
pub async fn viewer(state: &AppState, headers: &HeaderMap) -> Result<Option<UserRow>, AppError> {
    match session_cookie::session_token(headers, secure_cookies(state, headers)) {
        None => Ok(None),
        Some(token) => auth::session_user(state.store.as_ref(), &token)
            .await
            .map_err(|e| fail(e.into())),
    }
}

/// The signed-in user, or 401.
pub async fn require_user() -> Result<(AppState, UserRow), AppError> {
    let state = state()?;
    let headers = headers().await;
    match viewer(&state, &headers).await? {
        Some(user) => Ok((state, user)),
        None => Err(fail(AppError::Unauthorized)),
    }
}

/// The signed-in admin, or 401 (signed out) / 403 (not an admin).
pub async fn require_admin() -> Result<(AppState, UserRow), AppError> {
    let (state, user) = require_user().await?;
    if user.role == "admin" {
        Ok((state, user))
    } else {
        Err(fail(AppError::Forbidden))
    }
}

/// Whether cookies set on this response must be Secure.
pub fn secure_cookies(state: &AppState, headers: &HeaderMap) -> bool {
    session_cookie::is_secure(state.web.secure_cookies, headers)
}

pub fn set_cookie(value: HeaderValue) {
    if let Some(resp) = use_context::<ResponseOptions>() {
        resp.append_header(header::SET_COOKIE, value);
    }
}

/// Counts a sign-in or sign-up attempt against its per-address and per-email limits
/// (`(name, per_ip, per_email)`); 429 once either is passed. An invalid email is refused (400)
/// first, without counting: only real addresses become (hashed) bucket keys.
pub async fn guard_attempt(
    state: &AppState,
    headers: &HeaderMap,
    email: &str,
    (name, per_ip, per_email): (&str, rate_limit::Limit, rate_limit::Limit),
) -> Result<(), AppError> {
    let email = auth::parse_email(email).map_err(|e| fail(e.into()))?.to_lowercase();
    let ip = client_address(state, headers).await;
    let store = state.store.as_ref();
    rate_limit::hit(store, &rate_limit::bucket(name, "ip", &ip), per_ip)
        .await
        .map_err(|e| fail(e.into()))?;
    rate_limit::hit(store, &rate_limit::bucket(name, "email", &email), per_email)
        .await
        .map_err(|e| fail(e.into()))
}

/// Hands a new session to the browser and sends it on to `next` (see `safe_next`).
pub fn start_session(state: &AppState, headers: &HeaderMap, session: &auth::NewSession, next: Option<&str>) {
    use secrecy::ExposeSecret;
    for cookie in session_cookie::set_cookies(
        session.token.expose_secret(),
        session.expires_at,
        secure_cookies(state, headers),
    ) {
        set_cookie(cookie);
    }
    leptos_axum::redirect(&safe_next(next));
}
