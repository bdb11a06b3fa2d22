//! The transport under every Whop call: authentication and version headers, idempotency keys on
//! POST, timeouts, and retries with exponential backoff and jitter on network errors, 408, 409,
//! 429 and 5xx (honouring Retry-After), then typed errors.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::error::WhopError;

/// The API version this app is written against (the one `@whop/sdk` 0.0.42 pins).
pub const API_VERSION_DATE: &str = "2026-07-20";
pub const PRODUCTION_BASE_URL: &str = "https://api.whop.com/api/v1";
pub const SANDBOX_BASE_URL: &str = "https://sandbox-api.whop.com/api/v1";

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Like Whop's own SDK: the first try and two retries, from 0.5 s doubling, capped at 8 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// e.g. https://api.whop.com/api/v1 (no trailing slash needed).
    pub base_url: String,
    pub api_key: SecretString,
    /// Sent as X-Whop-App-Id when set.
    pub app_id: Option<String>,
    pub connect_timeout: Duration,
    /// The whole request, per attempt.
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl ClientConfig {
    pub fn new(base_url: &str, api_key: SecretString) -> Self {
        ClientConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            app_id: None,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

/// A request ready to send (and to send again).
pub(super) struct Call<'a> {
    pub method: Method,
    /// Path below the base URL, starting with `/`.
    pub path: String,
    /// Already encoded query string, without `?` (empty for none).
    pub query: String,
    pub body: Option<Vec<u8>>,
    pub idempotency_key: Option<&'a str>,
}

#[derive(Clone)]
pub struct Transport {
    http: reqwest::Client,
    config: ClientConfig,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base_url", &self.config.base_url)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub fn new(config: ClientConfig) -> Result<Self, WhopError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| WhopError::Network(e.to_string()))?;
        Ok(Transport { http, config })
    }

    pub fn base_url(&self) -> &str {
        &self.config.base_url
    }

    fn headers(&self, call: &Call<'_>) -> Result<HeaderMap, WhopError> {
        let mut h = HeaderMap::new();
        let auth = HeaderValue::from_str(&format!("Bearer {}", self.config.api_key.expose_secret())).map_err(|_| {
            WhopError::InvalidRequest {
                status: 0,
                message: "the API key has invalid characters".into(),
            }
        })?;
        h.insert(AUTHORIZATION, auth);
        h.insert("api-version-date", HeaderValue::from_static(API_VERSION_DATE));
        h.insert(ACCEPT, HeaderValue::from_static("application/json"));
        h.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("atlas-credits/", env!("CARGO_PKG_VERSION"))),
        );
        if call.body.is_some() {
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(app) = &self.config.app_id {
            if let Ok(v) = HeaderValue::from_str(app) {
                h.insert("x-whop-app-id", v);
            }
        }
        if call.method == Method::POST {
            if let Some(key) = call.idempotency_key {
                let v = HeaderValue::from_str(key).map_err(|_| WhopError::InvalidRequest {
                    status: 0,
                    message: "invalid idempotency key".into(),
                })?;
                h.insert("idempotency-key", v);
            }
        }
        Ok(h)
    }

    /// Sends with retries and decodes a 2xx JSON answer.
    pub(super) async fn send<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, WhopError> {
        let bytes = self.send_raw(call).await?;
        serde_json::from_slice(&bytes).map_err(|e| WhopError::Decode(e.to_string()))
    }

    pub(super) async fn send_raw(&self, call: Call<'_>) -> Result<Vec<u8>, WhopError> {
        let url = if call.query.is_empty() {
            format!("{}{}", self.config.base_url, call.path)
        } else {
            format!("{}{}?{}", self.config.base_url, call.path, call.query)
        };
        let headers = self.headers(&call)?;
        crate::server::metrics::whop_call(call.method.as_str(), &call.path);
        let mut attempt = 1;
        loop {
            let mut req = self.http.request(call.method.clone(), &url).headers(headers.clone());
            if let Some(body) = &call.body {
                req = req.body(body.clone());
            }
            let outcome = req.send().await;
            let (error, retryable, retry_after) = match outcome {
                Ok(resp) if resp.status().is_success() => {
                    return resp
                        .bytes()
                        .await
                        .map(|b| b.to_vec())
                        .map_err(|e| WhopError::Network(e.to_string()));
                }
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = retry_after(resp.headers());
                    let should_retry = resp
                        .headers()
                        .get("x-should-retry")
                        .and_then(|v| v.to_str().ok())
                        .map(|v| v == "true");
                    let body = resp.bytes().await.unwrap_or_default();
                    // The server's explicit x-should-retry wins, as in Whop's SDK.
                    let retry = should_retry.unwrap_or_else(|| retryable_status(status));
                    (map_status(status, &body, retry_after), retry, retry_after)
                }
                Err(e) => (WhopError::Network(e.to_string()), true, None),
            };
            if !retryable || attempt >= self.config.retry.max_attempts {
                tracing::warn!(method = %call.method, path = %call.path, attempt, error = %error, "Whop call failed");
                crate::server::metrics::whop_error(call.method.as_str(), &call.path);
                return Err(error);
            }
            let delay = retry_after.unwrap_or_else(|| backoff(&self.config.retry, attempt));
            tracing::info!(method = %call.method, path = %call.path, attempt, ?delay, error = %error, "retrying Whop call");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

fn retryable_status(s: StatusCode) -> bool {
    s == StatusCode::REQUEST_TIMEOUT
        || s == StatusCode::CONFLICT
        || s == StatusCode::TOO_MANY_REQUESTS
        || s.is_server_error()
}

/// Exponential from `base_delay`, capped, minus up to 25 % jitter so clients do not retry in step.
pub fn backoff(p: &RetryPolicy, attempt: u32) -> Duration {
    let exp = p
        .base_delay
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(p.max_delay);
    let mut b = [0u8; 1];
    let _ = getrandom::getrandom(&mut b);
    let jitter = 1.0 - (f64::from(b[0]) / 255.0) * 0.25;
    exp.mul_f64(jitter)
}

/// `retry-after-ms` (milliseconds) or `retry-after` (seconds), capped at a minute.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let ms = h
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok());
    let secs = h
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok());
    // Cap before converting: "inf" or 1e20 parse as floats and would not fit a Duration.
    let secs = match (ms, secs) {
        (Some(ms), _) if ms >= 0.0 => ms / 1000.0,
        (_, Some(s)) if s >= 0.0 => s,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs.min(60.0)))
}

fn map_status(status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> WhopError {
    let message = error_message(body).unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    let code = status.as_u16();
    match code {
        401 | 403 => WhopError::Unauthorized { status: code, message },
        404 => WhopError::NotFound { message },
        429 => WhopError::RateLimited { retry_after, message },
        500..=599 => WhopError::Server { status: code, message },
        _ => WhopError::InvalidRequest { status: code, message },
    }
}

/// Whop's `{"error": {"message": ...}}`, or a bare `message` / `error` string.
fn error_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let m = v
        .pointer("/error/message")
        .or_else(|| v.get("message"))
        .or_else(|| v.get("error").filter(|e| e.is_string()))?
        .as_str()?;
    Some(m.chars().take(500).collect())
}

/// Percent-encodes a query component (RFC 3986 unreserved characters kept).
pub fn encode_component(s: &str) -> String {
    percent_encode(s, b"-_.~")
}

/// Percent-encodes every byte but ASCII letters, digits and those in `keep`.
pub fn percent_encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy::default();
        let d1 = backoff(&p, 1);
        let d3 = backoff(&p, 3);
        assert!(d1 <= Duration::from_millis(500) && d1 >= Duration::from_millis(375));
        assert!(d3 <= Duration::from_secs(2) && d3 >= Duration::from_millis(1500));
        assert!(backoff(&p, 10) <= Duration::from_secs(8));
    }

    #[test]
    fn retry_after_is_capped_and_never_panics() {
        let mut h = reqwest::header::HeaderMap::new();
        for (name, value, expect) in [
            ("retry-after-ms", "50", Some(Duration::from_millis(50))),
            ("retry-after", "2", Some(Duration::from_secs(2))),
            ("retry-after", "1e20", Some(Duration::from_secs(60))),
            ("retry-after-ms", "inf", Some(Duration::from_secs(60))),
            ("retry-after", "-1", None),
            ("retry-after", "NaN", None),
            ("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT", None),
        ] {
            h.clear();
            h.insert(name, value.parse().unwrap());
            assert_eq!(retry_after(&h), expect, "{name}: {value}");
        }
    }

    #[test]
    fn reads_whop_error_messages() {
        assert_eq!(
            error_message(br#"{"error":{"code":"invalid_request","message":"bad plan"}}"#).as_deref(),
            Some("bad plan")
        );
        assert_eq!(
            error_message(br#"{"error":{"type":"rate_limit_exceeded","message":"Try again in 12 seconds."}}"#)
                .as_deref(),
            Some("Try again in 12 seconds.")
        );
        assert_eq!(error_message(b"<html>"), None);
    }
}
