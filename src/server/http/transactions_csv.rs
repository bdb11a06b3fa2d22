//! `GET /account/transactions.csv`: the signed-in user's whole history as CSV (newest first).

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::server::http::session_cookie;
use crate::server::service::auth;
use crate::server::state::AppState;

const PAGE: i64 = 500;

pub async fn download(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let store = state.store.as_ref();
    let secure = session_cookie::is_secure(state.web.secure_cookies, &headers);
    let user = match session_cookie::session_token(&headers, secure) {
        Some(token) => auth::session_user(store, &token).await,
        None => Ok(None),
    };
    let user = match user {
        Ok(Some(u)) => u,
        Ok(None) => return (StatusCode::UNAUTHORIZED, "Please sign in to download your history.").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "CSV export: session lookup failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "Please try again in a moment.").into_response();
        }
    };

    let mut csv = String::from("id,created_at,kind,amount,balance_after,reason\n");
    let mut before = None;
    loop {
        let rows = match store.list_transactions(user.user_id(), before, PAGE).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "CSV export failed");
                return (StatusCode::SERVICE_UNAVAILABLE, "Please try again in a moment.").into_response();
            }
        };
        for r in &rows {
            csv.push_str(&format!(
                "{},{},{},{},{},{}\n",
                r.id,
                r.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                r.kind,
                r.amount,
                r.balance_after,
                csv_field(r.reason.as_deref().unwrap_or(""))
            ));
        }
        if (rows.len() as i64) < PAGE {
            break;
        }
        before = rows.last().map(|r| r.id);
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"atlas-credits-history.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        csv,
    )
        .into_response()
}

/// Quotes a field when needed, and defuses spreadsheet formulas (a leading = + - @).
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn quotes_and_defuses() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
    }
}
