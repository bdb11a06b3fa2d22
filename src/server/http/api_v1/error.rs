//! The API's one error type: each variant has a status and a stable `code`; internal causes are
//! logged and answered with a generic message.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::model::Credits;
use crate::server::service::host_users::HostError;
use crate::server::service::ledger::LedgerError;
use crate::server::service::sign_in_links::LinkError;
use crate::server::store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    Forbidden(String),
    NotFound(String),
    MethodNotAllowed,
    BadRequest(String),
    /// A 400 with its own code, for a refusal the caller may want to tell apart.
    Refused {
        code: &'static str,
        message: String,
    },
    PayloadTooLarge,
    UnsupportedMediaType,
    Conflict(String),
    InsufficientCredits {
        balance: Credits,
    },
    Unavailable,
    Internal,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid API key is required: Authorization: Bearer <key>".into(),
            ),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m.clone()),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m.clone()),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method".into(),
            ),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "invalid_request", m.clone()),
            ApiError::Refused { code, message } => (StatusCode::BAD_REQUEST, code, message.clone()),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is too large".into(),
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send JSON with Content-Type: application/json".into(),
            ),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m.clone()),
            ApiError::InsufficientCredits { balance } => (
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_credits",
                format!("the balance ({balance}) is too low for this spend"),
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service is temporarily unavailable".into(),
            ),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        let mut body = json!({ "error": { "code": code, "message": message } });
        if let ApiError::InsufficientCredits { balance } = self {
            body["error"]["balance"] = json!(balance.get());
        }
        (status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            tracing::error!(error = %e, "API: database unavailable");
            ApiError::Unavailable
        } else {
            tracing::error!(error = %e, "API: internal error");
            ApiError::Internal
        }
    }
}

impl From<HostError> for ApiError {
    fn from(e: HostError) -> Self {
        match e {
            HostError::Invalid(m) => ApiError::BadRequest(m),
            HostError::UnknownUser(_) => ApiError::NotFound(e.to_string()),
            HostError::EmailTaken => ApiError::Conflict(e.to_string()),
            HostError::Ledger(LedgerError::InsufficientCredits { balance }) => {
                ApiError::InsufficientCredits { balance }
            }
            HostError::Ledger(LedgerError::SourceConflict { .. }) => ApiError::Conflict(
                "this idempotency_key was already used for a different spend (another amount or user)".into(),
            ),
            HostError::Ledger(LedgerError::Invalid(m)) => ApiError::BadRequest(m),
            HostError::Ledger(LedgerError::UserNotFound) => ApiError::NotFound("user not found".into()),
            HostError::Ledger(LedgerError::Store(e)) | HostError::Store(e) => e.into(),
        }
    }
}

impl From<LinkError> for ApiError {
    fn from(e: LinkError) -> Self {
        let code = match e {
            LinkError::InvalidReturnTo => "invalid_return_to",
            LinkError::BackUrlNotConfigured => "back_url_not_configured",
            LinkError::BackUrlNotAllowed => "invalid_back_url",
            LinkError::AdminAccount => return ApiError::Forbidden(e.to_string()),
            LinkError::Host(e) => return e.into(),
            LinkError::Store(e) => return e.into(),
        };
        ApiError::Refused {
            code,
            message: e.to_string(),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge
            }
            r => ApiError::BadRequest(format!("invalid JSON body: {}", r.body_text())),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest(format!("invalid query: {}", r.body_text()))
    }
}
