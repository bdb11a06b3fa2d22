//! Signing up, in and out, and who is signed in.

use leptos::prelude::*;

use crate::model::{AppError, Viewer};

/// Creates an account, signs it in and goes to `next` (or the account page).
#[server(endpoint = "sign_up")]
pub async fn sign_up(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    use crate::server::fn_ctx::*;
    use crate::server::service::{auth, rate_limit};

    let (state, headers) = (state()?, headers().await);
    guard_attempt(
        &state,
        &headers,
        &email,
        ("signup", rate_limit::SIGNUP_PER_IP, rate_limit::SIGNUP_PER_EMAIL),
    )
    .await?;
    let ua = headers.get("user-agent").and_then(|v| v.to_str().ok());
    let (_, session) = auth::sign_up(state.store.as_ref(), &email, password.into(), ua)
        .await
        .map_err(|e| fail(e.into()))?;
    start_session(&state, &headers, &session, next.as_deref());
    Ok(())
}

/// Signs in (ending this browser's previous session) and goes to `next`.
#[server(endpoint = "log_in")]
pub async fn log_in(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    use crate::server::fn_ctx::*;
    use crate::server::http::session_cookie;
    use crate::server::service::{auth, rate_limit};

    let (state, headers) = (state()?, headers().await);
    guard_attempt(
        &state,
        &headers,
        &email,
        ("login", rate_limit::LOGIN_PER_IP, rate_limit::LOGIN_PER_EMAIL),
    )
    .await?;
    let previous = session_cookie::presented_tokens(&headers);
    let ua = headers.get("user-agent").and_then(|v| v.to_str().ok());
    let (_, session) = auth::log_in(state.store.as_ref(), &email, password.into(), &previous, ua)
        .await
        .map_err(|e| fail(e.into()))?;
    start_session(&state, &headers, &session, next.as_deref());
    Ok(())
}

/// Ends the session (every session cookie the browser sent) and goes home.
#[server(endpoint = "log_out")]
pub async fn log_out() -> Result<(), AppError> {
    use crate::server::fn_ctx::*;
    use crate::server::http::session_cookie;
    use crate::server::service::auth;

    let state = state()?;
    let headers = headers().await;
    for token in session_cookie::presented_tokens(&headers) {
        auth::log_out(state.store.as_ref(), &token)
            .await
            .map_err(|e| fail(e.into()))?;
    }
    for cookie in session_cookie::clear_cookies(secure_cookies(&state, &headers)) {
        set_cookie(cookie);
    }
    leptos_axum::redirect("/");
    Ok(())
}

/// Who is signed in, if anyone.
#[server(endpoint = "get_viewer")]
pub async fn get_viewer() -> Result<Option<Viewer>, AppError> {
    use crate::model::Role;
    use crate::server::fn_ctx::*;

    use crate::server::http::session_cookie;
    use crate::server::service::sign_in_links;

    let state = state()?;
    let headers = headers().await;
    let Some(user) = viewer(&state, &headers).await? else {
        return Ok(None);
    };
    let back_url = match session_cookie::session_token(&headers, secure_cookies(&state, &headers)) {
        Some(token) => sign_in_links::back_url(
            state.store.as_ref(),
            &state.web.host_app_origins,
            &token,
            chrono::Utc::now(),
        )
        .await
        .map_err(|e| fail(e.into()))?,
        None => None,
    };
    Ok(Some(Viewer {
        email: user.email,
        role: Role::parse(&user.role),
        back_url,
    }))
}

/// The host app's home when exactly one origin is configured (`HOST_APP_ORIGINS`): where the
/// sign-in link problem page's "Back to Atlas" points. With none or several, we cannot know.
#[server(endpoint = "get_host_app_home")]
pub async fn get_host_app_home() -> Result<Option<String>, AppError> {
    let state = crate::server::fn_ctx::state()?;
    Ok(match state.web.host_app_origins.as_slice() {
        [only] => Some(format!("{only}/")),
        _ => None,
    })
}
