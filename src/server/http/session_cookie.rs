//! The session cookie: `<name>=<token>; Path=/; HttpOnly; SameSite=Lax`, plus `Secure` when the
//! app is served over https. The token is random; the database keeps only its hash.
//!
//! Cookie tossing: a sibling subdomain (or a plain-http page on the same host) can set an
//! `atlas_session` cookie for our host, and the browser then sends it beside ours. So:
//! - when Secure, the cookie is named `__Host-atlas_session`, which only our own https
//!   responses can set, and only that name signs a request in;
//! - a request carrying more than one session cookie (either name, or one name twice) is
//!   treated as signed out instead of guessing which one is ours.

use axum::http::{header, HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};

use crate::server::service::auth::{SECURE_SESSION_COOKIE, SESSION_COOKIE};

/// More than this many session cookies are not worth looking at (see `presented_tokens`).
const MAX_PRESENTED: usize = 4;

/// The cookie name for this response: `__Host-atlas_session` when Secure, else `atlas_session`.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// Every session cookie the request carries, of either name, in order: (name, value).
fn session_cookies(headers: &HeaderMap) -> Vec<(&'static str, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter_map(|(name, value)| {
            [SESSION_COOKIE, SECURE_SESSION_COOKIE]
                .into_iter()
                .find(|known| *known == name.trim())
                .map(|known| (known, value.trim().to_string()))
        })
        .collect()
}

/// The session token that signs this request in: the one session cookie the request carries,
/// if it has the name this app sets (`secure` as for `set_cookie`). None when signed out,
/// including when the request carries several session cookies (one may have been tossed).
pub fn session_token(headers: &HeaderMap, secure: bool) -> Option<String> {
    match session_cookies(headers).as_slice() {
        [] => None,
        [(name, value)] => (*name == cookie_name(secure) && !value.is_empty()).then(|| value.clone()),
        several => {
            tracing::warn!(
                count = several.len(),
                "request carries several session cookies (cookie tossing?): treated as signed out"
            );
            None
        }
    }
}

/// Every session token the browser sent, whatever its name (a few at most), for ending them on
/// log-in and log-out. Ending a session whose token one holds is harmless, even a tossed one.
pub fn presented_tokens(headers: &HeaderMap) -> Vec<String> {
    session_cookies(headers)
        .into_iter()
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
        .take(MAX_PRESENTED)
        .collect()
}

/// True when the request reached us over https (directly or through a proxy that says so).
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// Whether the session cookie is Secure (and so `__Host-` named) for this request: always when
/// the public URL is https, else when a proxy says the request came over https.
pub fn is_secure(configured_secure: bool, headers: &HeaderMap) -> bool {
    configured_secure || is_https(headers)
}

/// The Set-Cookie values that hand out a session: when Secure, first the removal of a plain-named
/// cookie (left over from before `__Host-`, or from plain http), which would otherwise sit beside
/// the new one and make every request count as signed out; then the cookie itself.
pub fn set_cookies(token: &str, expires_at: DateTime<Utc>, secure: bool) -> Vec<HeaderValue> {
    let mut out = Vec::with_capacity(2);
    if secure {
        out.push(clear_named(SESSION_COOKIE, true));
    }
    out.push(set_cookie(token, expires_at, secure));
    out
}

fn set_cookie(token: &str, expires_at: DateTime<Utc>, secure: bool) -> HeaderValue {
    let max_age = (expires_at - Utc::now()).num_seconds().max(0);
    let name = cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .expect("token is hex")
}

/// The Set-Cookie values that remove the session cookie (log-out): the name in use, and when
/// Secure also the plain name, for the reason given at `set_cookies`.
pub fn clear_cookies(secure: bool) -> Vec<HeaderValue> {
    if secure {
        vec![
            clear_named(SECURE_SESSION_COOKIE, true),
            clear_named(SESSION_COOKIE, true),
        ]
    } else {
        vec![clear_named(SESSION_COOKIE, false)]
    }
}

fn clear_named(name: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")).expect("static")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append(header::COOKIE, HeaderValue::from_str(l).unwrap());
        }
        h
    }

    #[test]
    fn finds_the_session_among_other_cookies() {
        let h = cookies(&["a=1; atlas_session=abc; b=2"]);
        assert_eq!(session_token(&h, false).as_deref(), Some("abc"));
        assert_eq!(session_token(&cookies(&["atlas_session="]), false), None);
        assert_eq!(session_token(&cookies(&["other=1"]), false), None);
        let h = cookies(&["a=1; __Host-atlas_session=abc"]);
        assert_eq!(session_token(&h, true).as_deref(), Some("abc"));
    }

    #[test]
    fn only_the_name_in_use_signs_in() {
        // Over https only `__Host-` counts: a plain cookie may have been tossed by a subdomain.
        assert_eq!(session_token(&cookies(&["atlas_session=abc"]), true), None);
        // Over http browsers never send `__Host-` cookies; one that arrives is not ours.
        assert_eq!(session_token(&cookies(&["__Host-atlas_session=abc"]), false), None);
        // Cookie names are case-sensitive.
        assert_eq!(session_token(&cookies(&["Atlas_Session=abc"]), false), None);
    }

    #[test]
    fn several_session_cookies_mean_signed_out() {
        for (lines, secure) in [
            (&["atlas_session=a; atlas_session=b"][..], false),
            (&["atlas_session=a", "atlas_session=b"][..], false),
            (&["__Host-atlas_session=a; atlas_session=b"][..], true),
            (&["atlas_session=b; __Host-atlas_session=a"][..], true),
            (&["__Host-atlas_session=a; __Host-atlas_session=a"][..], true),
            (&["atlas_session=a; atlas_session="][..], false),
        ] {
            assert_eq!(session_token(&cookies(lines), secure), None, "{lines:?}");
        }
        // Still all ended on log-in / log-out.
        let h = cookies(&["__Host-atlas_session=a; x=1", "atlas_session=b"]);
        assert_eq!(presented_tokens(&h), vec!["a".to_string(), "b".to_string()]);
        let many = cookies(&["atlas_session=1; atlas_session=2; atlas_session=3; atlas_session=4; atlas_session=5"]);
        assert_eq!(presented_tokens(&many).len(), MAX_PRESENTED);
    }

    #[test]
    fn cookie_attributes() {
        let c = set_cookie("tok", Utc::now() + chrono::Duration::days(1), true);
        let c = c.to_str().unwrap();
        assert!(c.starts_with("__Host-atlas_session=tok; Path=/; HttpOnly; SameSite=Lax; Max-Age="));
        assert!(c.ends_with("; Secure") && !c.contains("Domain"), "{c}");
        let plain = set_cookie("tok", Utc::now(), false);
        let plain = plain.to_str().unwrap();
        assert!(
            plain.starts_with("atlas_session=tok;") && !plain.contains("Secure"),
            "{plain}"
        );

        let handed: Vec<String> = set_cookies("tok", Utc::now(), true)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert_eq!(handed.len(), 2);
        assert!(handed[0].starts_with("atlas_session=;") && handed[0].contains("Max-Age=0"));
        assert!(handed[1].starts_with("__Host-atlas_session=tok;"));
        assert_eq!(set_cookies("tok", Utc::now(), false).len(), 1);

        let cleared: Vec<String> = clear_cookies(true)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert_eq!(cleared.len(), 2);
        assert!(cleared[0].starts_with("__Host-atlas_session=;") && cleared[0].ends_with("Max-Age=0; Secure"));
        assert!(cleared[1].starts_with("atlas_session=;") && cleared[1].contains("Max-Age=0"));
        let cleared = clear_cookies(false);
        assert_eq!(cleared.len(), 1);
        assert!(cleared[0].to_str().unwrap().starts_with("atlas_session=; Path=/"));
    }

    #[test]
    fn secure_when_configured_or_forwarded_https() {
        assert!(is_secure(true, &HeaderMap::new()));
        assert!(!is_secure(false, &HeaderMap::new()));
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-proto", HeaderValue::from_static("HTTPS"));
        assert!(is_secure(false, &h));
    }
}
