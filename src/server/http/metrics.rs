//! `GET /metrics`: the process's counters and a few database gauges in Prometheus text format,
//! for operators who scrape. With `METRICS_TOKEN` set it answers only requests carrying
//! `Authorization: Bearer <token>` (compared in constant time); 401 otherwise.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

use crate::server::ct::secret_eq;
use crate::server::metrics::{render, Gauges};
use crate::server::state::AppState;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.web.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !secret_eq(given.trim().as_bytes(), token.expose_secret().as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "metrics need the bearer token\n",
            )
                .into_response();
        }
    }
    // The gauges are a nicety: a database that does not answer still leaves the counters.
    let store = state.store.as_ref();
    let gauges = Gauges {
        open_unmatched: store.count_open_unmatched().await.unwrap_or(-1),
        pending_webhooks: store.count_pending_webhook_events().await.unwrap_or(-1),
    };
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], render(gauges)).into_response()
}
