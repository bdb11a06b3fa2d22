//! The typed configuration, read once from the environment (and `.env`) at start-up.
//! A missing or malformed value stops the program with a message naming the variable and what
//! it expects, instead of failing later in the middle of a request.

use std::path::PathBuf;
use std::str::FromStr;

use leptos::config::LeptosOptions;
use secrecy::SecretString;

use crate::server::outbound::Destinations;
use crate::server::store::SqliteSynchronous;

mod host_origins;
mod limits;
pub use host_origins::HostOrigins;
pub use limits::Limits;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/atlas-credits.db";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the ledger lives: `sqlite://path` (the default) or `postgres://...`.
    pub database_url: String,
    /// Largest number of pooled database connections.
    pub database_max_connections: u32,
    /// SQLite only: how hard each commit is pushed to disk.
    pub sqlite_synchronous: SqliteSynchronous,
    /// Most ledger posts group-committed in one transaction (1: one transaction per post).
    pub ledger_batch_max: usize,
    pub log_format: LogFormat,
    /// Where the Leptos runtime options are read from (then overridden by `LEPTOS_*` variables).
    pub leptos_config_file: PathBuf,
    /// Secrets that sign Whop webhooks (several during a rotation). Empty: deliveries are refused.
    pub whop_webhook_secrets: Vec<SecretString>,
    /// The address users reach the app at (e.g. https://credits.example.com). Its origin is
    /// accepted for state-changing requests, and https makes the session cookie Secure.
    pub public_url: Option<String>,
    /// Take the client address from X-Forwarded-For (only behind a proxy that sets it).
    pub trust_proxy: bool,
    /// How many proxies of ours append to X-Forwarded-For (1..=10): the client address is the
    /// entry this far from the right. Only read with `trust_proxy`.
    pub trusted_proxy_hops: u8,
    pub whop: WhopConfig,
    /// How often reconciliation runs (`RECONCILE_INTERVAL_SECS`, default 60; 0 turns it off).
    pub reconcile_interval: Option<std::time::Duration>,
    /// `METRICS_TOKEN`: the bearer token `GET /metrics` asks for; None leaves it open (e.g.
    /// reachable only from the operator's network).
    pub metrics_token: Option<SecretString>,
    /// Where new admin alerts are POSTed as JSON (`ADMIN_ALERT_WEBHOOK_URL`, e.g. a Slack
    /// incoming webhook). May hold a secret in its path: never logged.
    pub admin_alert_webhook_url: Option<String>,
    /// `HOST_APP_ORIGINS`: the host app's origins, which may frame the widget and receive users
    /// back from a sign-in link's "Back to Atlas".
    pub host_app_origins: HostOrigins,
    /// Which addresses the host app's webhook endpoints may have: public ones only unless
    /// `HOST_WEBHOOKS_ALLOW_PRIVATE=true` (see `server::outbound`).
    pub host_webhook_destinations: Destinations,
    /// Timeouts and caps at the edges (HTTP connections, the host API, Whop calls).
    pub limits: Limits,
}

/// How the app reaches Whop: the built-in simulator (test mode) or a real Whop API (production
/// or sandbox, by base URL). Test mode must never be entered by accident: its checkout page
/// "pays" for free, so see `check_test_mode` for when it may start.
#[derive(Debug, Clone)]
pub enum WhopConfig {
    Simulated {
        /// `WHOP_MODE=simulated` was set. Otherwise test mode is only the default because no
        /// Whop key is configured, which is allowed on a loopback address only.
        explicit: bool,
        /// The simulator's webhook retry schedule (Whop's is 10, 20, 40 seconds).
        retry_schedule: Vec<std::time::Duration>,
        /// A fixed key for the simulated API (`WHOP_SIM_API_KEY`, e.g. for browser tests);
        /// otherwise one is made once and kept in settings.
        api_key: Option<SecretString>,
    },
    Live {
        base_url: String,
        api_key: SecretString,
        company_id: String,
        app_id: Option<String>,
    },
}

impl WhopConfig {
    pub fn is_simulated(&self) -> bool {
        matches!(self, WhopConfig::Simulated { .. })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("configuration error: {var} {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads any variable source (tests pass a map instead of touching the process environment).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());

        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError {
                var: "DATABASE_URL",
                problem: format!(
                    "must start with sqlite:, postgres:// or postgresql:// (got {:?})",
                    redact_url(&database_url)
                ),
            });
        }

        let database_max_connections = parse_or(
            "DATABASE_MAX_CONNECTIONS",
            get("DATABASE_MAX_CONNECTIONS"),
            10u32,
            "a whole number from 1 to 1000",
        )?;
        if !(1..=1000).contains(&database_max_connections) {
            return Err(ConfigError {
                var: "DATABASE_MAX_CONNECTIONS",
                problem: format!("must be a whole number from 1 to 1000 (got {database_max_connections})"),
            });
        }

        let ledger_batch_max = parse_or(
            "LEDGER_BATCH_MAX",
            get("LEDGER_BATCH_MAX"),
            crate::server::store::DEFAULT_LEDGER_BATCH,
            "a whole number from 1 to 1024",
        )?;
        if !(1..=1024).contains(&ledger_batch_max) {
            return Err(ConfigError {
                var: "LEDGER_BATCH_MAX",
                problem: format!("must be a whole number from 1 to 1024 (got {ledger_batch_max})"),
            });
        }

        let sqlite_synchronous = match get("SQLITE_SYNCHRONOUS") {
            None => SqliteSynchronous::Full,
            Some(v) => v.parse().map_err(|_| ConfigError {
                var: "SQLITE_SYNCHRONOUS",
                problem: format!("must be `full` or `normal` (got {v:?})"),
            })?,
        };

        let log_format = match get("LOG_FORMAT").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("text") | Some("pretty") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError {
                    var: "LOG_FORMAT",
                    problem: format!("must be `text` or `json` (got {other:?})"),
                })
            }
        };

        let leptos_config_file = PathBuf::from(get("LEPTOS_CONFIG_FILE").unwrap_or_else(|| "Leptos.toml".into()));

        let whop_webhook_secrets = get("WHOP_WEBHOOK_SECRET")
            .map(|raw| crate::server::whop::verify::parse_secrets(&raw))
            .unwrap_or_default();

        let public_url = match get("PUBLIC_URL") {
            None => None,
            Some(u) if (u.starts_with("http://") || u.starts_with("https://")) && u.len() > 8 => {
                Some(u.trim_end_matches('/').to_string())
            }
            Some(u) => {
                return Err(ConfigError {
                    var: "PUBLIC_URL",
                    problem: format!("must be an http:// or https:// address (got {u:?})"),
                })
            }
        };
        let trust_proxy = parse_flag("TRUST_PROXY", get("TRUST_PROXY"))?;
        let host_webhooks_allow_private =
            parse_flag("HOST_WEBHOOKS_ALLOW_PRIVATE", get("HOST_WEBHOOKS_ALLOW_PRIVATE"))?;

        let trusted_proxy_hops = parse_or(
            "TRUSTED_PROXY_HOPS",
            get("TRUSTED_PROXY_HOPS"),
            1u8,
            "a whole number from 1 to 10",
        )?;
        if !(1..=10).contains(&trusted_proxy_hops) {
            return Err(ConfigError {
                var: "TRUSTED_PROXY_HOPS",
                problem: format!("must be a whole number from 1 to 10 (got {trusted_proxy_hops})"),
            });
        }

        let reconcile_interval_secs = parse_or(
            "RECONCILE_INTERVAL_SECS",
            get("RECONCILE_INTERVAL_SECS"),
            60u32,
            "a whole number of seconds from 0 (off) to 86400",
        )?;
        if reconcile_interval_secs > 86_400 {
            return Err(ConfigError {
                var: "RECONCILE_INTERVAL_SECS",
                problem: format!(
                    "must be a whole number of seconds from 0 (off) to 86400 (got {reconcile_interval_secs})"
                ),
            });
        }

        let whop = whop_config(&get, &whop_webhook_secrets)?;
        let metrics_token = get("METRICS_TOKEN").map(|t| parse_metrics_token(&t)).transpose()?;
        let admin_alert_webhook_url = get("ADMIN_ALERT_WEBHOOK_URL")
            .map(|raw| alert_webhook_url(raw.trim()))
            .transpose()?;
        let host_app_origins = HostOrigins::parse(get("HOST_APP_ORIGINS").as_deref().unwrap_or(""))?;
        let limits = Limits::from_lookup(&get, trust_proxy)?;

        Ok(Config {
            limits,
            whop,
            host_app_origins,
            host_webhook_destinations: if host_webhooks_allow_private {
                Destinations::Any
            } else {
                Destinations::PublicOnly
            },
            admin_alert_webhook_url,
            reconcile_interval: (reconcile_interval_secs > 0)
                .then(|| std::time::Duration::from_secs(u64::from(reconcile_interval_secs))),
            public_url,
            trust_proxy,
            trusted_proxy_hops,
            database_url,
            database_max_connections,
            sqlite_synchronous,
            ledger_batch_max,
            log_format,
            leptos_config_file,
            whop_webhook_secrets,
            metrics_token,
        })
    }

    /// The Leptos runtime options: `Leptos.toml`, then `LEPTOS_*` variables on top.
    pub fn leptos_options(&self) -> Result<LeptosOptions, ConfigError> {
        let path = self.leptos_config_file.to_string_lossy().to_string();
        if !self.leptos_config_file.exists() {
            return Err(ConfigError {
                var: "LEPTOS_CONFIG_FILE",
                problem: format!("points to {path:?}, which does not exist (run from the project root, or set it)"),
            });
        }
        leptos::config::get_configuration(Some(&path))
            .map(|conf| conf.leptos_options)
            .map_err(|e| ConfigError {
                var: "LEPTOS_*",
                problem: format!("Leptos options could not be read from {path:?} and the environment: {e}"),
            })
    }
}

/// A scrape token is sent in a header: printable ASCII without spaces, and long enough not to
/// be guessed (16 to 256 characters).
fn parse_metrics_token(raw: &str) -> Result<SecretString, ConfigError> {
    let t = raw.trim();
    let printable = t.bytes().all(|b| b.is_ascii_graphic());
    if !printable || !(16..=256).contains(&t.len()) {
        return Err(ConfigError {
            var: "METRICS_TOKEN",
            problem: "must be 16 to 256 printable ASCII characters without spaces (e.g. `openssl rand -hex 32`)".into(),
        });
    }
    Ok(SecretString::from(t.to_owned()))
}

/// An http(s) URL with a host, no credentials in it. The value itself is never echoed (a Slack
/// webhook's path is its secret).
fn alert_webhook_url(raw: &str) -> Result<String, ConfigError> {
    let bad = |problem: &str| ConfigError {
        var: "ADMIN_ALERT_WEBHOOK_URL",
        problem: problem.to_owned(),
    };
    if raw.len() > 2000 || raw.chars().any(char::is_control) {
        return Err(bad("must be an http:// or https:// URL of at most 2000 characters"));
    }
    let url = reqwest::Url::parse(raw).map_err(|_| bad("must be an http:// or https:// URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(bad("must be an http:// or https:// URL with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry a user name or password"));
    }
    Ok(url.to_string())
}

fn whop_config(get: &impl Fn(&str) -> Option<String>, secrets: &[SecretString]) -> Result<WhopConfig, ConfigError> {
    let api_key = get("WHOP_API_KEY");
    let mode = get("WHOP_MODE").map(|m| m.trim().to_ascii_lowercase());
    let (simulated, explicit) = match mode.as_deref() {
        Some("simulated") => (true, true),
        Some("live") => (false, true),
        None => (api_key.is_none(), false),
        Some(other) => {
            return Err(ConfigError {
                var: "WHOP_MODE",
                problem: format!("must be `simulated` or `live` (got {other:?})"),
            })
        }
    };
    if simulated {
        let retry_schedule = match get("WHOP_SIM_RETRY_SECS") {
            None => vec![10.0, 20.0, 40.0],
            Some(raw) => raw
                .split(',')
                .map(|p| {
                    p.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite() && *v >= 0.0 && *v <= 3600.0)
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| ConfigError {
                    var: "WHOP_SIM_RETRY_SECS",
                    problem: format!("must be comma-separated seconds, e.g. 10,20,40 (got {raw:?})"),
                })?,
        };
        let retry_schedule = retry_schedule
            .into_iter()
            .map(std::time::Duration::from_secs_f64)
            .collect();
        let api_key = get("WHOP_SIM_API_KEY").map(SecretString::from);
        return Ok(WhopConfig::Simulated {
            explicit,
            retry_schedule,
            api_key,
        });
    }
    let api_key = api_key.ok_or(ConfigError {
        var: "WHOP_API_KEY",
        problem: "is required when WHOP_MODE=live".into(),
    })?;
    let company_id = get("WHOP_COMPANY_ID").ok_or(ConfigError {
        var: "WHOP_COMPANY_ID",
        problem: "is required with a Whop API key (the biz_... id of the account that sells the credits)".into(),
    })?;
    if secrets.is_empty() {
        return Err(ConfigError {
            var: "WHOP_WEBHOOK_SECRET",
            problem: "is required with a Whop API key (the ws_... secret of the webhook endpoint)".into(),
        });
    }
    let base_url = get("WHOP_BASE_URL").unwrap_or_else(|| crate::server::whop::http::PRODUCTION_BASE_URL.to_string());
    if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
        return Err(ConfigError {
            var: "WHOP_BASE_URL",
            problem: format!("must be an http(s) URL (got {:?})", redact_url(&base_url)),
        });
    }
    Ok(WhopConfig::Live {
        base_url: base_url.trim_end_matches('/').to_string(),
        api_key: SecretString::from(api_key),
        company_id,
        app_id: get("WHOP_APP_ID"),
    })
}

fn parse_or<T: FromStr>(var: &'static str, raw: Option<String>, default: T, expected: &str) -> Result<T, ConfigError> {
    match raw {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| ConfigError {
            var,
            problem: format!("must be {expected} (got {v:?})"),
        }),
    }
}

impl Config {
    /// Refuses to start test mode where it could be mistaken for production. Test mode chosen by
    /// default (no `WHOP_API_KEY`, no `WHOP_MODE`) is allowed only when the app listens on a
    /// loopback address and `PUBLIC_URL` is not https: a Whop key secret that failed to mount
    /// on a server must stop it, not turn its checkout into a free one.
    pub fn check_test_mode(&self, listening_on: std::net::SocketAddr) -> Result<(), ConfigError> {
        let WhopConfig::Simulated { explicit: false, .. } = self.whop else {
            return Ok(());
        };
        let https = self.public_url.as_deref().is_some_and(|u| u.starts_with("https://"));
        if listening_on.ip().is_loopback() && !https {
            return Ok(());
        }
        Err(ConfigError {
            var: "WHOP_API_KEY",
            problem: format!(
                "is not set, so payments would go to the built-in Whop simulator (test mode), whose checkout \
                 page pays for free. Test mode is only the default when the app listens on a loopback address \
                 (LEPTOS_SITE_ADDR is {listening_on}) and PUBLIC_URL is not https (PUBLIC_URL is {}). For real \
                 payments set WHOP_API_KEY, WHOP_COMPANY_ID and WHOP_WEBHOOK_SECRET; to run test mode here on \
                 purpose set WHOP_MODE=simulated.",
                self.public_url.as_deref().unwrap_or("unset")
            ),
        })
    }
}

/// Hides every credential in a database (or any) URL so it can be logged or shown in an error:
/// the password of the user-info part, and the value of any query parameter that names a
/// secret (`password`, `sslpassword`, `token`, `secret`, `key`...), percent-encoded or not.
pub fn redact_url(url: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = redact_userinfo(before_query);
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if names_a_secret(k) => format!("{k}=***"),
                _ => pair.to_string(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

/// `scheme://user:pass@host/db` -> `scheme://user:***@host/db`.
fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let creds = &authority[..at];
            let user = creds.split_once(':').map(|(u, _)| u);
            match user {
                Some(user) => format!("{}{user}:***{}", &url[..scheme_end], &rest[at..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

fn names_a_secret(key: &str) -> bool {
    let key = percent_decode_lossy(key).to_ascii_lowercase();
    ["pass", "secret", "token", "key", "auth", "credential"]
        .iter()
        .any(|word| key.contains(word))
}

fn percent_decode_lossy(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A yes/no variable: unset, `false`, `0` or `no` is off; `true`, `1` or `yes` is on; anything
/// else is a mistake to report rather than guess at.
fn parse_flag(var: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("0") | Some("false") | Some("no") => Ok(false),
        Some("1") | Some("true") | Some("yes") => Ok(true),
        Some(other) => Err(ConfigError {
            var,
            problem: format!("must be true or false (got {other:?})"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn the_alert_webhook_url_must_be_http_with_a_host() {
        assert_eq!(config(&[]).unwrap().admin_alert_webhook_url, None);
        let ok = config(&[(
            "ADMIN_ALERT_WEBHOOK_URL",
            " https://hooks.slack.com/services/T0/B0/secret ",
        )])
        .unwrap();
        assert_eq!(
            ok.admin_alert_webhook_url.as_deref(),
            Some("https://hooks.slack.com/services/T0/B0/secret")
        );
        for bad in [
            "hooks.slack.com/x",
            "ftp://example.com/x",
            "javascript:alert(1)",
            "http://",
            "https://user:pw@example.com/x",
            "https://exa mple.com/",
            "file:///etc/passwd",
        ] {
            let e = config(&[("ADMIN_ALERT_WEBHOOK_URL", bad)]).unwrap_err();
            assert_eq!(e.var, "ADMIN_ALERT_WEBHOOK_URL", "{bad}");
            assert!(!e.to_string().contains("secret"), "never echoes the value");
        }
    }

    #[test]
    fn defaults_to_embedded_sqlite() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.sqlite_synchronous, SqliteSynchronous::Full);
        assert_eq!(c.database_max_connections, 10);
        assert!(!c.trust_proxy);
        assert_eq!(c.trusted_proxy_hops, 1);
    }

    #[test]
    fn trusted_proxy_hops_from_1_to_10() {
        let c = config(&[("TRUST_PROXY", "true"), ("TRUSTED_PROXY_HOPS", "2")]).unwrap();
        assert!(c.trust_proxy);
        assert_eq!(c.trusted_proxy_hops, 2);
        assert_eq!(config(&[("TRUSTED_PROXY_HOPS", "10")]).unwrap().trusted_proxy_hops, 10);
        for bad in ["0", "11", "-1", "two", "1.5", "300"] {
            let e = config(&[("TRUSTED_PROXY_HOPS", bad)]).unwrap_err();
            assert_eq!(e.var, "TRUSTED_PROXY_HOPS", "{bad}");
            assert!(e.to_string().contains("1 to 10"), "{e}");
        }
    }

    #[test]
    fn names_the_variable_that_is_wrong() {
        let e = config(&[("DATABASE_URL", "mysql://x")]).unwrap_err();
        assert_eq!(e.var, "DATABASE_URL");
        let e = config(&[("LOG_FORMAT", "xml")]).unwrap_err();
        assert_eq!(e.var, "LOG_FORMAT");
        assert!(e.to_string().contains("json"));
        let e = config(&[("DATABASE_MAX_CONNECTIONS", "many")]).unwrap_err();
        assert_eq!(e.var, "DATABASE_MAX_CONNECTIONS");
        for bad in ["0", "1025", "-1", "many"] {
            let e = config(&[("LEDGER_BATCH_MAX", bad)]).unwrap_err();
            assert_eq!(e.var, "LEDGER_BATCH_MAX", "{bad}");
        }
        let e = config(&[("DATABASE_MAX_CONNECTIONS", "0")]).unwrap_err();
        assert_eq!(e.var, "DATABASE_MAX_CONNECTIONS");
        let e = config(&[("SQLITE_SYNCHRONOUS", "off")]).unwrap_err();
        assert_eq!(e.var, "SQLITE_SYNCHRONOUS");
        let e = config(&[("PUBLIC_URL", "credits.example.com")]).unwrap_err();
        assert_eq!(e.var, "PUBLIC_URL");
        let e = config(&[("TRUST_PROXY", "maybe")]).unwrap_err();
        assert_eq!(e.var, "TRUST_PROXY");
        let e = config(&[("WHOP_API_KEY", "k")]).unwrap_err();
        assert_eq!(e.var, "WHOP_COMPANY_ID");
        let e = config(&[("WHOP_API_KEY", "k"), ("WHOP_COMPANY_ID", "biz_1")]).unwrap_err();
        assert_eq!(e.var, "WHOP_WEBHOOK_SECRET");
        let e = config(&[("WHOP_MODE", "live")]).unwrap_err();
        assert_eq!(e.var, "WHOP_API_KEY");
        let e = config(&[("WHOP_MODE", "prod")]).unwrap_err();
        assert_eq!(e.var, "WHOP_MODE");
        let e = config(&[("WHOP_SIM_RETRY_SECS", "1,x")]).unwrap_err();
        assert_eq!(e.var, "WHOP_SIM_RETRY_SECS");
    }

    #[test]
    fn accepts_postgres_and_json_logs() {
        let c = config(&[
            ("DATABASE_URL", "postgres://u:p@h/db"),
            ("LOG_FORMAT", "JSON"),
            ("SQLITE_SYNCHRONOUS", "normal"),
        ])
        .unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.sqlite_synchronous, SqliteSynchronous::Normal);
    }

    #[test]
    fn whop_mode_follows_the_api_key() {
        assert!(config(&[]).unwrap().whop.is_simulated());
        let live = config(&[
            ("WHOP_API_KEY", "k"),
            ("WHOP_COMPANY_ID", "biz_1"),
            ("WHOP_WEBHOOK_SECRET", "ws_1"),
        ])
        .unwrap();
        match live.whop {
            WhopConfig::Live {
                base_url, company_id, ..
            } => {
                assert_eq!(base_url, "https://api.whop.com/api/v1");
                assert_eq!(company_id, "biz_1");
            }
            other => panic!("{other:?}"),
        }
        let sandbox = config(&[
            ("WHOP_API_KEY", "k"),
            ("WHOP_COMPANY_ID", "biz_1"),
            ("WHOP_WEBHOOK_SECRET", "ws_1"),
            ("WHOP_BASE_URL", "https://sandbox-api.whop.com/api/v1/"),
        ])
        .unwrap();
        assert!(
            matches!(sandbox.whop, WhopConfig::Live { ref base_url, .. } if base_url == "https://sandbox-api.whop.com/api/v1")
        );
        let forced = config(&[
            ("WHOP_API_KEY", "k"),
            ("WHOP_MODE", "simulated"),
            ("WHOP_SIM_RETRY_SECS", "0.1,0.2"),
        ])
        .unwrap();
        assert!(matches!(forced.whop, WhopConfig::Simulated { ref retry_schedule, .. } if retry_schedule.len() == 2));
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
        // Every credential form sqlx accepts in a PostgreSQL URL.
        for (url, secret) in [
            ("postgres://u@h/db?password=hunter2", "hunter2"),
            ("postgres://u@h/db?sslmode=require&PASSWORD=hunter2", "hunter2"),
            ("postgres://u@h/db?%70assword=hunter2", "hunter2"),
            ("postgres://u@h/db?sslpassword=hunter2&application_name=x", "hunter2"),
            ("postgres://u:hunter2@h/db?options=a@b", "hunter2"),
            ("postgres://u:p%40ss@h/db", "p%40ss"),
            ("https://u:hunter2@api.example/v1?api_key=k2", "hunter2"),
            ("https://api.example/v1?token=hunter2", "hunter2"),
        ] {
            let r = redact_url(url);
            assert!(!r.contains(secret), "{url} -> {r}");
        }
        assert_eq!(
            redact_url("postgres://u@h/db?sslmode=require&password=x"),
            "postgres://u@h/db?sslmode=require&password=***"
        );
        assert_eq!(
            redact_url("postgres://u:p@h/db?options=a@b"),
            "postgres://u:***@h/db?options=a@b"
        );
    }

    fn sim(vars: &[(&str, &str)]) -> Config {
        config(vars).unwrap()
    }

    #[test]
    fn test_mode_by_default_only_on_loopback_without_https() {
        let loopback: std::net::SocketAddr = "127.0.0.1:3000".parse().unwrap();
        let v6_loopback: std::net::SocketAddr = "[::1]:3000".parse().unwrap();
        let public: std::net::SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let default = sim(&[]);
        assert!(default.check_test_mode(loopback).is_ok());
        assert!(default.check_test_mode(v6_loopback).is_ok());
        let e = default.check_test_mode(public).unwrap_err();
        assert_eq!(e.var, "WHOP_API_KEY");
        for var in [
            "WHOP_MODE=simulated",
            "WHOP_COMPANY_ID",
            "WHOP_WEBHOOK_SECRET",
            "PUBLIC_URL",
            "LEPTOS_SITE_ADDR",
        ] {
            assert!(e.to_string().contains(var), "{var}: {e}");
        }
        // A blank key (a secret that failed to mount) is no key.
        assert!(sim(&[("WHOP_API_KEY", "  ")]).check_test_mode(public).is_err());
        // https in front of a loopback listener (a proxy): a real site, so refused too.
        let behind_proxy = sim(&[("PUBLIC_URL", "https://credits.example.com")]);
        assert!(behind_proxy.check_test_mode(loopback).is_err());
        // Chosen on purpose, it may run anywhere.
        assert!(sim(&[("WHOP_MODE", "simulated")]).check_test_mode(public).is_ok());
        // Live mode is never refused here.
        let live = sim(&[
            ("WHOP_API_KEY", "k"),
            ("WHOP_COMPANY_ID", "biz_1"),
            ("WHOP_WEBHOOK_SECRET", "ws_1"),
        ]);
        assert!(live.check_test_mode(public).is_ok());
    }
}
