//! `POST /api/v1/users/{external_id}/widget-tokens`: a read-only token for the credits widget on
//! one of the host app's pages (see `service::widget`).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::{optional_body, ApiError, Caller};
use crate::server::service::widget;
use crate::server::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetTokenBody {
    /// Seconds the token lasts (60 to 86400; default 3600).
    #[serde(default)]
    pub ttl_secs: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct WidgetTokenResult {
    pub token: String,
    pub expires_at: String,
}

/// 201 `{token, expires_at}`. The body is optional: none (or an empty one) takes the defaults.
pub async fn post_widget_token(
    State(state): State<AppState>,
    Extension(Caller(key)): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Path(external_id) = path?;
    let body: WidgetTokenBody = optional_body::parse(&headers, body)?;
    let issued = widget::issue(state.store.as_ref(), &external_id, key.id, body.ttl_secs, Utc::now()).await?;
    Ok((
        StatusCode::CREATED,
        // The token is a credential: no cache along the way may keep it.
        [(header::CACHE_CONTROL, "no-store")],
        Json(WidgetTokenResult {
            token: issued.token,
            expires_at: issued.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }),
    ))
}
