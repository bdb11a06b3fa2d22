//! `POST /api/v1/users/{external_id}/sessions`: a one-time sign-in link for a host user.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::{optional_body, ApiError, Caller};
use crate::server::service::checkout::return_base;
use crate::server::service::sign_in_links::{self, LinkRequest};
use crate::server::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionBody {
    #[serde(default)]
    pub return_to: Option<String>,
    #[serde(default)]
    pub back_url: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SessionLink {
    pub url: String,
    pub expires_at: String,
}

/// 201 `{url, expires_at}`. The body is optional: none (or an empty one) takes the defaults.
pub async fn create_session(
    State(state): State<AppState>,
    Extension(Caller(key)): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Path(external_id) = path?;
    let body: CreateSessionBody = optional_body::parse(&headers, body)?;
    let authority = uri.authority().map(|a| a.as_str().to_owned()).or_else(|| {
        headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    let proto = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok());
    let base = return_base(&state.web, proto, authority.as_deref())
        .map_err(|_| ApiError::BadRequest("the Host header is not a plain host[:port]".into()))?;
    let link = sign_in_links::create(
        state.store.as_ref(),
        &state.web.host_app_origins,
        &base,
        LinkRequest {
            external_id: &external_id,
            return_to: body.return_to.as_deref(),
            back_url: body.back_url.as_deref(),
            api_key_id: key.id,
        },
        chrono::Utc::now(),
    )
    .await?;
    let mut response = (
        StatusCode::CREATED,
        Json(SessionLink {
            url: link.url.expose_secret().to_owned(),
            expires_at: link.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }),
    )
        .into_response();
    // The answer is a credential: no cache along the way may keep it.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
