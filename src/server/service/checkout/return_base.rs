//! The address Whop sends the buyer back to after paying.

use super::CheckoutError;
use crate::server::state::WebSettings;

/// Where Whop sends the buyer back to: `PUBLIC_URL`'s origin when configured, else this request's
/// own origin: the scheme from `X-Forwarded-Proto` only behind a trusted proxy (else http), the
/// host from the request URI's authority or `Host`, which must be a plain `host[:port]`.
pub fn return_base(
    web: &WebSettings,
    forwarded_proto: Option<&str>,
    authority: Option<&str>,
) -> Result<String, CheckoutError> {
    if let Some(origin) = &web.public_origin {
        return Ok(origin.trim_end_matches('/').to_string());
    }
    let scheme = match forwarded_proto {
        // A proxy may append: the first value is what the client used.
        Some(p) if web.trust_proxy => match p.split(',').next().unwrap_or("").trim().to_ascii_lowercase().as_str() {
            "https" => "https",
            _ => "http",
        },
        _ => "http",
    };
    let host = authority.ok_or(CheckoutError::BadHost)?;
    if !is_host_and_port(host) {
        return Err(CheckoutError::BadHost);
    }
    Ok(format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// `name[:port]` or `[v6]:port`: letters, digits, dots and dashes, a numeric port.
fn is_host_and_port(s: &str) -> bool {
    if s.is_empty() || s.len() > 260 {
        return false;
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, tail)) => {
                let ok = !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
                if !ok {
                    return false;
                }
                match tail {
                    "" => return true,
                    t => match t.strip_prefix(':') {
                        Some(p) => ("x", Some(p)),
                        None => return false,
                    },
                }
            }
            None => return false,
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty() && label.len() <= 63 && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let port_ok = port.is_none_or(|p| {
        !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
    });
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_bases() {
        let mut web = WebSettings::default();
        assert_eq!(
            return_base(&web, None, Some("127.0.0.1:3000")).unwrap(),
            "http://127.0.0.1:3000"
        );
        // Not behind a trusted proxy: the header is ignored.
        assert_eq!(
            return_base(&web, Some("https"), Some("Example.com")).unwrap(),
            "http://example.com"
        );
        web.trust_proxy = true;
        assert_eq!(
            return_base(&web, Some("https, http"), Some("example.com")).unwrap(),
            "https://example.com"
        );
        assert_eq!(
            return_base(&web, Some("gopher"), Some("example.com")).unwrap(),
            "http://example.com"
        );
        assert_eq!(
            return_base(&web, None, Some("[::1]:8080")).unwrap(),
            "http://[::1]:8080"
        );
        for bad in [
            "",
            "evil.com/x",
            "evil.com@x",
            "a..b",
            "a:b:c",
            "a:99999",
            "a:",
            "[zz]",
            "x y",
            "évil.com",
        ] {
            assert!(return_base(&web, None, Some(bad)).is_err(), "{bad}");
        }
        assert!(return_base(&web, None, None).is_err());
        web.public_origin = Some("https://credits.example.com".into());
        assert_eq!(
            return_base(&web, Some("http"), Some("evil.com")).unwrap(),
            "https://credits.example.com"
        );
    }
}
