//! Server functions whose arguments cannot be read (a form that is not UTF-8, a number past i64,
//! a missing field) are refused by Leptos before our code runs, so the status our code would set
//! (`fn_ctx`: `Invalid` is 400) is never set and Leptos answers 500. The body already says what
//! it is (`AppError::Invalid`, from `from_server_fn_error`); this gives it its status: a client's
//! bad input is a 4xx, never a server error.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::model::AppError;

/// Error bodies are a short JSON message; anything longer is not one of ours.
const MAX_ERROR_BODY: usize = 64 * 1024;

pub async fn refused_arguments_are_400(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let server_fn = req.method() == Method::POST
        && path.starts_with("/api/")
        && !path.starts_with("/api/v1/")
        && !path.starts_with("/api/webhooks/");
    let response = next.run(req).await;
    if !server_fn || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else {
        parts.headers.remove(axum::http::header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    };
    if matches!(serde_json::from_slice::<AppError>(&bytes), Ok(AppError::Invalid(_))) {
        parts.status = StatusCode::BAD_REQUEST;
    }
    Response::from_parts(parts, Body::from(bytes))
}
