//! Cross-site request refusal for cookie-authenticated state changes. A browser sends `Origin`
//! (or at least `Referer`) with every POST; when it names another site the request is refused
//! with 403 before it reaches a server function or form handler. SameSite=Lax cookies already
//! keep the session off most cross-site posts; this closes the rest (e.g. sibling subdomains).
//! The webhook route and the bearer-key API are exempt: they carry no cookies.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::server::state::{origin_of, AppState};

pub async fn refuse_cross_site(State(state): State<AppState>, req: Request<Body>, next: Next) -> Response {
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path();
    let exempt = path.starts_with("/api/webhooks/") || path.starts_with("/api/v1/");
    if changes_state && !exempt && is_foreign(&req, state.web.public_origin.as_deref()) {
        tracing::warn!(path, origin = ?req.headers().get(header::ORIGIN), "cross-site request refused");
        return (StatusCode::FORBIDDEN, "Cross-site request refused.").into_response();
    }
    next.run(req).await
}

fn is_foreign(req: &Request<Body>, public_origin: Option<&str>) -> bool {
    let headers = req.headers();
    let claimed = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| *o != "null")
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .map(origin_of)
        });
    let Some(claimed) = claimed else {
        // Neither header: not a browser form or fetch (browsers send Origin on POST); such a
        // client carries no victim's cookie, so there is nothing to forge.
        return headers.get(header::ORIGIN).is_some_and(|v| v == "null");
    };
    let claimed_host = claimed.split_once("://").map(|(_, h)| h).unwrap_or(&claimed);
    // HTTP/2 (and an HTTP/1.1 absolute-form target) names the host in the request URI's
    // authority (`:authority`), which then takes the place of `Host`.
    let own_host = match req.uri().authority() {
        Some(authority) => Some(authority.as_str()),
        None => headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    };
    let same_host = own_host.is_some_and(|h| h.eq_ignore_ascii_case(claimed_host));
    let public = public_origin.is_some_and(|p| p.eq_ignore_ascii_case(&claimed));
    !(same_host || public)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request<Body> {
        req_to("/api/log_in", headers)
    }

    fn req_to(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
        let mut b = Request::builder().method("POST").uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn same_site_passes_and_foreign_is_refused() {
        assert!(!is_foreign(
            &req(&[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000")]),
            None
        ));
        assert!(is_foreign(
            &req(&[("host", "127.0.0.1:3000"), ("origin", "http://evil.example")]),
            None
        ));
        assert!(is_foreign(
            &req(&[("host", "127.0.0.1:3000"), ("referer", "http://evil.example/x")]),
            None
        ));
        assert!(!is_foreign(
            &req(&[("host", "127.0.0.1:3000"), ("referer", "http://127.0.0.1:3000/login")]),
            None
        ));
        assert!(is_foreign(&req(&[("host", "a"), ("origin", "null")]), None));
        assert!(!is_foreign(
            &req(&[("host", "internal:8080"), ("origin", "https://credits.example.com")]),
            Some("https://credits.example.com")
        ));
        assert!(!is_foreign(&req(&[("host", "127.0.0.1:3000")]), None));
    }

    #[test]
    fn the_uri_authority_stands_for_host() {
        // As an HTTP/2 request arrives: `:authority` in the URI, no Host header.
        let h2 = "http://127.0.0.1:3000/api/log_in";
        assert!(!is_foreign(&req_to(h2, &[("origin", "http://127.0.0.1:3000")]), None));
        assert!(is_foreign(&req_to(h2, &[("origin", "http://evil.example")]), None));
        assert!(!is_foreign(
            &req_to(h2, &[("referer", "http://127.0.0.1:3000/login")]),
            None
        ));
        // The authority wins over a Host header that disagrees with it.
        assert!(is_foreign(
            &req_to(h2, &[("host", "evil.example"), ("origin", "http://evil.example")]),
            None
        ));
    }
}
