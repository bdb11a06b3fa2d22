//! Where to send a browser after it signs in (`next`): a same-site path, or `/account`.
//!
//! `next` comes from the client and ends up in a `Location` header, so it must neither lead off
//! site nor be an invalid header value (that would fail after the session was made). Browsers
//! drop tabs and newlines from URLs, read `\` as `/` and `//host` as another site, so a path
//! like `/<TAB>/evil.example` becomes `//evil.example`. Rather than listing the tricks, only a
//! conservative alphabet of URL path and query characters is accepted.

/// Where to go when `next` is missing or refused.
pub const FALLBACK: &str = "/account";
/// Longer is refused (no page of ours needs it; it bounds the header we send).
pub const MAX_LEN: usize = 512;

/// `next` when it is a safe same-site path, else `/account`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_safe(n) => n.to_string(),
        _ => FALLBACK.to_string(),
    }
}

/// True when `next` is a same-site path this module would send a browser to as it is (for
/// callers that refuse a bad value instead of falling back, e.g. a sign-in link's `return_to`).
pub fn is_safe(next: &str) -> bool {
    next.len() <= MAX_LEN
        && next.starts_with('/')
        && next.chars().all(allowed)
        && !next.contains("//")
        && percent_decode(next).is_some_and(|decoded| decoded_is_safe(&decoded))
}

/// ASCII letters and digits, and the URL path/query punctuation that needs no escaping.
fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/?%#".contains(c)
}

/// Once decoded, a browser or a later hop may act on what the escapes hide.
fn decoded_is_safe(decoded: &str) -> bool {
    !decoded.starts_with("//")
        && !decoded
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
}

/// Decodes `%XX` escapes once; None when a `%` is not followed by two hex digits.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_site_paths_pass() {
        for ok in [
            "/",
            "/admin",
            "/account?tab=history&page=2",
            "/account#top",
            "/a-b_c.d~e/f:g@h!$'()*+,;=",
            "/search?q=caf%C3%A9",
            "/search?q=a+b",
        ] {
            assert_eq!(safe_next(Some(ok)), ok, "{ok:?}");
        }
    }

    #[test]
    fn hostile_values_fall_back() {
        let long = format!("/{}", "a".repeat(MAX_LEN));
        for bad in [
            "//evil.example",
            "///evil.example",
            "/\\evil",
            "\\\\evil",
            "https://evil.example",
            "https:evil",
            "evil.example",
            "",
            " /admin",
            "/%09/evil.example",
            "/\t/evil",
            "/\n/evil",
            "/\r\n/evil",
            "/%01",
            "/\u{1}",
            "/%5C%5Cevil",
            "/%5cevil",
            "/%2F%2Fevil",
            "/%2f/evil",
            "/ /evil",
            "/%20/evil",
            "/\u{2028}",
            "/%E2%80%A8",
            "/\u{a0}",
            "/é",
            "/a//b",
            "/login?next=//evil.example",
            "/%",
            "/%4",
            "/%zz",
            "/%7F",
            "/\"onload",
            "/<script>",
            "/a`b",
            "/{x}",
            "/a|b",
            "/^",
            long.as_str(),
        ] {
            assert_eq!(safe_next(Some(bad)), FALLBACK, "{bad:?}");
        }
        assert_eq!(safe_next(None), FALLBACK);
    }

    #[test]
    fn every_accepted_value_is_a_valid_header_value() {
        // The fallback and anything accepted must never make `Location` fail.
        for n in ["/admin", "/x?y=%41#z", FALLBACK] {
            assert!(axum::http::HeaderValue::from_str(&safe_next(Some(n))).is_ok());
        }
        for b in 0u8..=255 {
            let raw = format!("/{}", char::from(b));
            let out = safe_next(Some(&raw));
            assert!(axum::http::HeaderValue::from_str(&out).is_ok(), "{b}");
            assert!(!out.starts_with("//"), "{b}");
        }
    }

    #[test]
    fn length_is_bounded() {
        let at_limit = format!("/{}", "a".repeat(MAX_LEN - 1));
        assert_eq!(safe_next(Some(&at_limit)), at_limit);
    }
}
