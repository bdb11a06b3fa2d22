//! `GET /api/v1/openapi.json`: the API's OpenAPI 3.1 document, kept true by
//! tests/api_v1.rs (every documented operation is called and its answers checked against the
//! documented schemas; every route is documented).

use axum::http::header;
use axum::response::IntoResponse;

pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
