//! The host-app API under `/api/v1`: JSON over plain axum routes, authenticated by
//! `Authorization: Bearer <API key>`. Errors are `{"error": {"code", "message"}}`.

mod error;
mod openapi;
mod optional_body;
mod sessions;
mod users;
mod widget_tokens;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;

pub use error::ApiError;

use crate::server::service::api_keys;
use crate::server::state::AppState;
use crate::server::store::ApiKeyRow;

/// Requests are small JSON objects; anything bigger is refused with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub fn routes(state: AppState) -> Router<AppState> {
    let authed = Router::new()
        .route("/users/{external_id}", put(users::put_user))
        .route("/users/{external_id}/balance", get(users::get_balance))
        .route("/users/{external_id}/spend", post(users::post_spend))
        .route("/users/{external_id}/sessions", post(sessions::create_session))
        .route("/users/{external_id}/transactions", get(users::get_transactions))
        .route(
            "/users/{external_id}/widget-tokens",
            post(widget_tokens::post_widget_token),
        )
        .route_layer(middleware::from_fn_with_state(state, require_api_key));
    Router::new()
        .route("/openapi.json", get(openapi::serve))
        .merge(authed)
        .fallback(|| async { ApiError::NotFound("no such API route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The API key that authenticated the request (inserted by `require_api_key`).
#[derive(Debug, Clone)]
pub struct Caller(pub ApiKeyRow);

async fn require_api_key(State(state): State<AppState>, mut req: Request, next: Next) -> Result<Response, ApiError> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?;
    let key = api_keys::authenticate(state.store.as_ref(), bearer)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    req.extensions_mut().insert(Caller(key));
    Ok(next.run(req).await)
}
