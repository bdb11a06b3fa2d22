//! The session cookie: `atlas_session=<token>; HttpOnly; SameSite=Lax; Path=/`, plus `Secure`
//! when the app is served over https. The token is random; the database keeps only its hash.

use axum::http::{header, HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};

use crate::server::service::auth::SESSION_COOKIE;

/// The session token the browser sent, if any.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

/// True when the request reached us over https (directly or through a proxy that says so).
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

pub fn set_cookie(token: &str, expires_at: DateTime<Utc>, secure: bool) -> HeaderValue {
    let max_age = (expires_at - Utc::now()).num_seconds().max(0);
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .expect("token is hex")
}

pub fn clear_cookie(secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"
    ))
    .expect("static")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_among_other_cookies() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; atlas_session=abc; b=2"));
        assert_eq!(session_token(&h).as_deref(), Some("abc"));
        h.insert(header::COOKIE, HeaderValue::from_static("atlas_session="));
        assert_eq!(session_token(&h), None);
    }

    #[test]
    fn cookie_attributes() {
        let c = set_cookie("tok", Utc::now() + chrono::Duration::days(1), true);
        let c = c.to_str().unwrap();
        assert!(c.starts_with("atlas_session=tok; Path=/; HttpOnly; SameSite=Lax; Max-Age="));
        assert!(c.ends_with("; Secure"));
        assert!(!set_cookie("tok", Utc::now(), false)
            .to_str()
            .unwrap()
            .contains("Secure"));
        assert!(clear_cookie(false).to_str().unwrap().contains("Max-Age=0"));
    }
}
