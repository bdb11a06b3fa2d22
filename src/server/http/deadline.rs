//! A deadline for the routes machines call (the host API and Whop's webhooks): past
//! `HTTP_REQUEST_TIMEOUT_SECS` the caller gets 503, which both retry, instead of a connection
//! that hangs while, say, the database is unreachable. Cutting a handler short is safe on these
//! routes: a database transaction that is dropped rolls back; a spend or a delivery retried after
//! a 503 meets its idempotency key; the webhook's inline apply runs on a task of its own.
//! Pages and server functions have no such deadline: a checkout waits on Whop under its own
//! (`WHOP_CHECKOUT_TIMEOUT_SECS`), and must not be cut between Whop's answer and our record of it.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::server::state::AppState;

pub async fn answer_within(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(limit) = state.web.request_timeout else {
        return next.run(req).await;
    };
    let path = crate::server::router::trace_path(req.uri().path()).into_owned();
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%path, ?limit, "request not answered in time: 503");
            let mut r = (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": { "code": "unavailable", "message": "the service is temporarily unavailable; retry later" } })),
            )
                .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
    }
}
