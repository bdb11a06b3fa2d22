//! Time and size limits at the edges: how long a client may take to send a request, how many
//! connections may be open, how long the host API and the webhook route may take to answer, and
//! how long a call to Whop may take. Each has a default that suits production; tests shorten them.

use std::time::Duration;

use super::ConfigError;
use crate::server::serve::ServeLimits;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// `HTTP_HEADER_TIMEOUT_SECS`, `HTTP_BODY_TIMEOUT_SECS`, `HTTP_MAX_CONNECTIONS`,
    /// `HTTP_MAX_CONNECTIONS_PER_ADDRESS`.
    pub serve: ServeLimits,
    /// `HTTP_REQUEST_TIMEOUT_SECS`: the host API and the Whop webhook route answer 503 (their
    /// callers retry) when a request takes longer, e.g. waiting on a database that is down.
    pub request_timeout: Duration,
    /// `WHOP_TIMEOUT_SECS`: one attempt of one Whop API request.
    pub whop_timeout: Duration,
    /// `WHOP_CHECKOUT_TIMEOUT_SECS`: the longest a buyer waits for Whop to open a checkout (every
    /// call and retry of that click together); past it the order fails with a message.
    pub whop_checkout_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            serve: ServeLimits::default(),
            request_timeout: Duration::from_secs(10),
            whop_timeout: Duration::from_secs(10),
            whop_checkout_timeout: Duration::from_secs(20),
        }
    }
}

impl Limits {
    /// `behind_proxy` (`TRUST_PROXY`): every connection then comes from our proxy, so there is no
    /// per-address cap unless one is set.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>, behind_proxy: bool) -> Result<Limits, ConfigError> {
        let d = Limits::default();
        let max_connections = count(get, "HTTP_MAX_CONNECTIONS", d.serve.max_connections, 1)?;
        let per_address_default = if behind_proxy {
            0
        } else {
            d.serve.max_connections_per_address
        };
        let max_connections_per_address = count(get, "HTTP_MAX_CONNECTIONS_PER_ADDRESS", per_address_default, 0)?;
        Ok(Limits {
            serve: ServeLimits {
                header_timeout: secs(get, "HTTP_HEADER_TIMEOUT_SECS", d.serve.header_timeout, 300)?,
                body_timeout: secs(get, "HTTP_BODY_TIMEOUT_SECS", d.serve.body_timeout, 600)?,
                max_connections,
                max_connections_per_address,
            },
            request_timeout: secs(get, "HTTP_REQUEST_TIMEOUT_SECS", d.request_timeout, 600)?,
            whop_timeout: secs(get, "WHOP_TIMEOUT_SECS", d.whop_timeout, 120)?,
            whop_checkout_timeout: secs(get, "WHOP_CHECKOUT_TIMEOUT_SECS", d.whop_checkout_timeout, 600)?,
        })
    }
}

/// A connection count from `min` to 100,000.
fn count(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: usize,
    min: usize,
) -> Result<usize, ConfigError> {
    let Some(v) = get(var) else {
        return Ok(default);
    };
    v.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (min..=100_000).contains(n))
        .ok_or_else(|| ConfigError {
            var,
            problem: format!("must be a whole number from {min} to 100000 (got {v:?})"),
        })
}

/// Seconds, fractions allowed (tests use `0.5`), from 0.1 to `max`.
fn secs(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: Duration,
    max: u32,
) -> Result<Duration, ConfigError> {
    let Some(raw) = get(var) else {
        return Ok(default);
    };
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && (0.1..=f64::from(max)).contains(s))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| ConfigError {
            var,
            problem: format!("must be a number of seconds from 0.1 to {max} (got {raw:?})"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn limits(vars: &[(&str, &str)]) -> Result<Limits, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Limits::from_lookup(&|k: &str| map.get(k).cloned(), false)
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(limits(&[]).unwrap(), Limits::default());
        let l = limits(&[
            ("HTTP_HEADER_TIMEOUT_SECS", "0.5"),
            ("HTTP_BODY_TIMEOUT_SECS", "2"),
            ("HTTP_MAX_CONNECTIONS", "8"),
            ("HTTP_MAX_CONNECTIONS_PER_ADDRESS", "0"),
            ("HTTP_REQUEST_TIMEOUT_SECS", "3"),
            ("WHOP_TIMEOUT_SECS", "1"),
            ("WHOP_CHECKOUT_TIMEOUT_SECS", "4"),
        ])
        .unwrap();
        assert_eq!(l.serve.header_timeout, Duration::from_millis(500));
        assert_eq!(l.serve.body_timeout, Duration::from_secs(2));
        assert_eq!(l.serve.max_connections, 8);
        assert_eq!(l.serve.max_connections_per_address, 0);
        assert_eq!(l.request_timeout, Duration::from_secs(3));
        assert_eq!(l.whop_timeout, Duration::from_secs(1));
        assert_eq!(l.whop_checkout_timeout, Duration::from_secs(4));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, bad) in [
            ("HTTP_HEADER_TIMEOUT_SECS", "0"),
            ("HTTP_HEADER_TIMEOUT_SECS", "301"),
            ("HTTP_BODY_TIMEOUT_SECS", "NaN"),
            ("HTTP_BODY_TIMEOUT_SECS", "inf"),
            ("HTTP_REQUEST_TIMEOUT_SECS", "-1"),
            ("WHOP_TIMEOUT_SECS", "ten"),
            ("WHOP_CHECKOUT_TIMEOUT_SECS", "1e9"),
            ("HTTP_MAX_CONNECTIONS", "0"),
            ("HTTP_MAX_CONNECTIONS", "100001"),
            ("HTTP_MAX_CONNECTIONS", "1.5"),
            ("HTTP_MAX_CONNECTIONS_PER_ADDRESS", "-1"),
            ("HTTP_MAX_CONNECTIONS_PER_ADDRESS", "100001"),
        ] {
            let e = limits(&[(var, bad)]).unwrap_err();
            assert_eq!(e.var, var, "{bad}");
        }
    }

    #[test]
    fn behind_a_proxy_there_is_no_per_address_cap_unless_set() {
        let none: HashMap<String, String> = HashMap::new();
        let direct = Limits::from_lookup(&|k: &str| none.get(k).cloned(), false).unwrap();
        assert_eq!(direct.serve.max_connections_per_address, 256);
        let proxied = Limits::from_lookup(&|k: &str| none.get(k).cloned(), true).unwrap();
        assert_eq!(proxied.serve.max_connections_per_address, 0);
        let set: HashMap<String, String> = [("HTTP_MAX_CONNECTIONS_PER_ADDRESS".to_string(), "50".to_string())].into();
        let proxied = Limits::from_lookup(&|k: &str| set.get(k).cloned(), true).unwrap();
        assert_eq!(proxied.serve.max_connections_per_address, 50);
    }
}
