//! `HOST_APP_ORIGINS`: the web origins of the host app (Atlas) that may embed the widget and that
//! a sign-in link's "Back to Atlas" address may point to. Anything else is refused, so a link or
//! a frame can never send a user to, or be framed by, a site the operator did not name.

use super::ConfigError;

/// At most this many origins: the list goes into a response header on every widget request.
const MAX_ORIGINS: usize = 20;
/// Longest URL accepted as a `back_url`.
pub const MAX_URL_LEN: usize = 2000;

/// The configured host-app origins, each normalised to `scheme://host[:port]` (lower case, no
/// default port, no trailing slash).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostOrigins(Vec<String>);

impl HostOrigins {
    /// Parses a comma-separated list. Empty means "no host app": links have no `back_url` and
    /// the widget may be framed by no one.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let bad = |problem: String| ConfigError {
            var: "HOST_APP_ORIGINS",
            problem,
        };
        let mut origins = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let origin = origin_of(part).ok_or_else(|| {
                bad(format!(
                    "must be comma-separated origins like https://atlas.example.com, each without a path, query or \
                     user name ({:?} is not one)",
                    part.chars().take(80).collect::<String>()
                ))
            })?;
            let bare = reqwest::Url::parse(part)
                .is_ok_and(|u| u.path() == "/" && u.query().is_none() && u.fragment().is_none());
            if !bare {
                return Err(bad(format!(
                    "must list bare origins without a path or query ({:?} would be read as {origin:?}; write that)",
                    part.chars().take(80).collect::<String>()
                )));
            }
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        if origins.len() > MAX_ORIGINS {
            return Err(bad(format!(
                "lists {} origins; at most {MAX_ORIGINS} are allowed",
                origins.len()
            )));
        }
        Ok(HostOrigins(origins))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// A URL the host app gave us (a `back_url`), accepted only when it is a plain http(s) URL
    /// without credentials or control characters whose origin is listed. Returns it normalised.
    pub fn accept_url(&self, raw: &str) -> Option<String> {
        if raw.len() > MAX_URL_LEN || raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return None;
        }
        let url = reqwest::Url::parse(raw).ok()?;
        let origin = origin_of(raw)?;
        self.0.contains(&origin).then(|| url.to_string())
    }

    /// The `frame-ancestors` source list for pages the host app may frame: the listed origins,
    /// or `'none'` when there are none.
    pub fn frame_ancestors(&self) -> String {
        if self.0.is_empty() {
            "'none'".to_owned()
        } else {
            self.0.join(" ")
        }
    }
}

/// `scheme://host[:port]` of an http(s) URL without credentials, or None.
fn origin_of(raw: &str) -> Option<String> {
    let url = reqwest::Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let host = url.host_str().filter(|h| !h.is_empty())?;
    let origin = match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    };
    Some(origin.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_parsed_normalised_and_deduplicated() {
        let o = HostOrigins::parse(" https://Atlas.example.com , http://localhost:3000/,https://atlas.example.com")
            .unwrap();
        assert_eq!(o.as_slice(), ["https://atlas.example.com", "http://localhost:3000"]);
        assert_eq!(o.frame_ancestors(), "https://atlas.example.com http://localhost:3000");
        assert_eq!(HostOrigins::parse("").unwrap().frame_ancestors(), "'none'");
        assert_eq!(
            HostOrigins::parse("https://atlas.example.com:443").unwrap().as_slice(),
            ["https://atlas.example.com"]
        );
    }

    #[test]
    fn anything_but_a_bare_origin_is_refused() {
        for bad in [
            "atlas.example.com",
            "ftp://atlas.example.com",
            "https://atlas.example.com/app",
            "https://atlas.example.com?x=1",
            "https://user:pw@atlas.example.com",
            "javascript:alert(1)",
            "https://",
        ] {
            assert!(HostOrigins::parse(bad).is_err(), "{bad}");
        }
        let many = (0..21)
            .map(|i| format!("https://h{i}.example.com"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(HostOrigins::parse(&many).is_err());
    }

    #[test]
    fn back_urls_must_be_on_a_listed_origin() {
        let o = HostOrigins::parse("https://atlas.example.com").unwrap();
        assert_eq!(
            o.accept_url("https://atlas.example.com/billing?tab=credits").as_deref(),
            Some("https://atlas.example.com/billing?tab=credits")
        );
        for bad in [
            "https://evil.example.com/",
            "https://atlas.example.com.evil.com/",
            "http://atlas.example.com/",
            "https://atlas.example.com@evil.com/",
            "https://u:p@atlas.example.com/",
            "https://atlas.example.com/\n",
            "https://atlas.example.com/ x",
            "//atlas.example.com/",
            "/billing",
            "javascript://atlas.example.com/%0aalert(1)",
        ] {
            assert_eq!(o.accept_url(bad), None, "{bad:?}");
        }
        let long = format!("https://atlas.example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(o.accept_url(&long), None);
    }
}
