//! What every handler and server function can reach: the Leptos options and the store.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use secrecy::SecretString;

use crate::server::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub store: Arc<dyn Store>,
    /// Secrets that may sign Whop webhooks; empty refuses every delivery.
    pub webhook_secrets: Arc<Vec<SecretString>>,
    pub web: Arc<WebSettings>,
    pub whop: Arc<crate::server::whop::WhopSetup>,
    /// This instance's checkout locks and caches (gating settings, confirmation backoff).
    pub checkout: Arc<crate::server::service::checkout::CheckoutMemory>,
}

/// What the HTTP edge needs to know about how it is reached.
#[derive(Debug, Clone, Default)]
pub struct WebSettings {
    /// `scheme://host[:port]` users reach the app at, when configured.
    pub public_origin: Option<String>,
    /// Mark the session cookie Secure (the public URL is https).
    pub secure_cookies: bool,
    /// Read the client address from X-Forwarded-For.
    pub trust_proxy: bool,
    /// With `trust_proxy`: how many of our proxies append to X-Forwarded-For (0 counts as 1).
    pub trusted_proxy_hops: u8,
    /// `METRICS_TOKEN`: when set, `GET /metrics` needs it as a bearer token.
    pub metrics_token: Option<SecretString>,
    /// `HOST_APP_ORIGINS`: who may frame the widget and be linked back to.
    pub host_app_origins: crate::server::config::HostOrigins,
    /// `HTTP_REQUEST_TIMEOUT_SECS`: the host API and the webhook route answer 503 past it (None:
    /// no deadline).
    pub request_timeout: Option<std::time::Duration>,
    /// `HOST_WEBHOOKS_ALLOW_PRIVATE`: which addresses a webhook endpoint may be registered at.
    pub host_webhook_destinations: crate::server::outbound::Destinations,
}

impl WebSettings {
    pub fn from_config(c: &crate::server::config::Config) -> Self {
        WebSettings {
            public_origin: c.public_url.as_deref().map(origin_of),
            secure_cookies: c.public_url.as_deref().is_some_and(|u| u.starts_with("https://")),
            trust_proxy: c.trust_proxy,
            trusted_proxy_hops: c.trusted_proxy_hops,
            metrics_token: c.metrics_token.clone(),
            host_app_origins: c.host_app_origins.clone(),
            request_timeout: Some(c.limits.request_timeout),
            host_webhook_destinations: c.host_webhook_destinations,
        }
    }

    pub fn proxy_trust(&self) -> crate::server::http::client_ip::ProxyTrust {
        use crate::server::http::client_ip::ProxyTrust;
        if self.trust_proxy {
            ProxyTrust::Hops(self.trusted_proxy_hops.max(1))
        } else {
            ProxyTrust::None
        }
    }
}

/// `https://host:port/path?q` -> `https://host:port`.
pub fn origin_of(url: &str) -> String {
    match url.find("://") {
        Some(i) => match url[i + 3..].find('/') {
            Some(j) => url[..i + 3 + j].to_string(),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
