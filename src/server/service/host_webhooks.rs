//! Signed webhooks to the host app: registering endpoints (admin page and CLI), the retry
//! schedule and the signature of each delivery, and the admin's view and resend of deliveries.
//! The events themselves are written by the store inside the change they report
//! (`emit_host_event!`); the `host_webhooks` job sends them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::model::{HostAttemptView, HostDeliveryView, WebhookEndpointView};
use crate::server::outbound::Destinations;
use crate::server::service::text::refuse_control_chars;
use crate::server::store::host_webhook_queries::EVENT_TYPES;
use crate::server::store::{
    AuditEntry, HostAttemptRow, HostDeliveryFilter, HostDeliveryRow, HostEndpointRow, NewAlert, NewHostEndpoint, Store,
    StoreError,
};

pub const SECRET_PREFIX: &str = "whsec_";
pub const MAX_ENDPOINTS: i64 = 20;
pub const MAX_URL_CHARS: usize = 2000;
pub const MAX_DESCRIPTION_CHARS: usize = 200;
pub const MAX_REASON_CHARS: usize = 500;
/// Events an endpoint gets when the caller does not choose: everything but `credits.spent`,
/// which fires on every spend and is only sent to endpoints that ask for it.
pub const DEFAULT_EVENT_TYPES: [&str; 6] = [
    "credits.purchased",
    "credits.refunded",
    "credits.disputed",
    "balance.low",
    "order.failed",
    "order.manual_requested",
];

/// Waits after each failed try, the Standard Webhooks schedule: 5 s, 5 min, 30 min, 2 h, 5 h,
/// 10 h, 10 h (27.6 hours in all, so an endpoint down for a day still gets everything). A try
/// failing after the last wait gives the delivery up.
pub const RETRY_SCHEDULE_SECS: [i64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];

/// When to try again after the `attempts`-th failed try (1-based), or None: give up.
pub fn next_attempt(attempts: i32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let i = usize::try_from(attempts.checked_sub(1)?).ok()?;
    RETRY_SCHEDULE_SECS
        .get(i)
        .map(|secs| now + chrono::Duration::seconds(*secs))
}

#[derive(Debug, thiserror::Error)]
pub enum HostWebhookError {
    #[error("{0}")]
    Invalid(String),
    #[error("At most {MAX_ENDPOINTS} endpoints can be registered; disable or reuse one.")]
    TooMany,
    #[error("No such endpoint.")]
    EndpointNotFound,
    #[error("No such delivery.")]
    DeliveryNotFound,
    #[error("This delivery is already waiting to be sent.")]
    AlreadyPending,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A URL Atlas can be reached at: http or https, a host, no user or password in it (they would
/// be shown on the admin page and logged by proxies), at most `MAX_URL_CHARS`, no control
/// characters or spaces, and (unless `destinations` allows any) not an address literal or name
/// that is private or local (`server::outbound`; names are checked again when resolved).
pub fn validate_url(raw: &str, destinations: Destinations) -> Result<String, HostWebhookError> {
    let invalid = |m: &str| Err(HostWebhookError::Invalid(m.to_string()));
    let url = raw.trim();
    if url.is_empty() {
        return invalid("Enter the endpoint's URL.");
    }
    if url.chars().count() > MAX_URL_CHARS {
        return invalid("The URL is too long (at most 2000 characters).");
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return invalid("The URL may not contain spaces or control characters.");
    }
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return invalid("That is not a valid URL.");
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return invalid("The URL must start with https:// (or http://).");
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return invalid("The URL must name a host.");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return invalid("The URL may not contain a user name or password.");
    }
    if destinations.refuses_host(&parsed).is_some() {
        return invalid(
            "The URL points at a private, loopback or reserved address. Webhooks go only to public \
             addresses unless the server runs with HOST_WEBHOOKS_ALLOW_PRIVATE=true.",
        );
    }
    Ok(url.to_string())
}

/// Event names from the fixed list, comma separated; at least one, each once, in list order.
pub fn parse_event_types<S: AsRef<str>>(chosen: &[S]) -> Result<String, HostWebhookError> {
    let mut wanted = Vec::new();
    for name in chosen.iter().flat_map(|s| s.as_ref().split(',')) {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        if !EVENT_TYPES.contains(&name) {
            let shown: String = name.chars().filter(|c| !c.is_control()).take(40).collect();
            return Err(HostWebhookError::Invalid(format!(
                "Unknown event type {shown:?}; choose from {}.",
                EVENT_TYPES.join(", ")
            )));
        }
        wanted.push(name);
    }
    let list: Vec<&str> = EVENT_TYPES.iter().copied().filter(|t| wanted.contains(t)).collect();
    if list.is_empty() {
        return Err(HostWebhookError::Invalid("Choose at least one event type.".into()));
    }
    Ok(list.join(","))
}

fn validate_description(raw: Option<&str>) -> Result<Option<String>, HostWebhookError> {
    let Some(d) = raw.map(str::trim).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    refuse_control_chars("The description", d).map_err(HostWebhookError::Invalid)?;
    if d.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(HostWebhookError::Invalid(format!(
            "The description is too long (at most {MAX_DESCRIPTION_CHARS} characters)."
        )));
    }
    Ok(Some(d.to_string()))
}

/// A new signing secret: `whsec_` and 24 random bytes in base64, the Standard Webhooks form.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 24];
    getrandom::getrandom(&mut bytes).expect("the OS random source is available");
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The `webhook-signature` value of one delivery: HMAC-SHA256 keyed with the secret's bytes
/// (base64 after `whsec_`), over `{id}.{timestamp}.{body}`.
pub fn signature(secret: &str, message_id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let key = STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .map_err(|_| "the endpoint's secret is not base64".to_string())?;
    Ok(crate::server::whop::verify::sign_with_key(
        &key, message_id, timestamp, body,
    ))
}

/// Registers an endpoint; returns its secret (to show once) and its row.
pub async fn create_endpoint(
    store: &dyn Store,
    actor: &str,
    url: &str,
    destinations: Destinations,
    event_types: &[String],
    description: Option<&str>,
) -> Result<(String, HostEndpointRow), HostWebhookError> {
    let url = validate_url(url, destinations)?;
    let event_types = parse_event_types(event_types)?;
    let description = validate_description(description)?;
    let secret = new_secret();
    let audit = AuditEntry {
        actor: actor.to_string(),
        action: "webhook_endpoint.create".into(),
        subject: String::new(),
        before: None,
        after: None,
    };
    let row = store
        .create_host_endpoint(
            &NewHostEndpoint {
                url,
                secret: secret.clone(),
                event_types,
                description,
                created_by: actor.to_string(),
            },
            MAX_ENDPOINTS,
            &audit,
            Utc::now(),
        )
        .await?
        .ok_or(HostWebhookError::TooMany)?;
    tracing::info!(endpoint_id = row.id, actor, "host webhook endpoint registered");
    Ok((secret, row))
}

/// Enables or disables an endpoint (audited). Disabling stops new events reaching it and pauses
/// its pending deliveries; enabling resumes them. Doing what is done already is not an error.
pub async fn set_enabled(store: &dyn Store, actor: &str, id: i64, enabled: bool) -> Result<(), HostWebhookError> {
    if store.host_endpoint(id).await?.is_none() {
        return Err(HostWebhookError::EndpointNotFound);
    }
    let audit = AuditEntry {
        actor: actor.to_string(),
        action: if enabled {
            "webhook_endpoint.enable"
        } else {
            "webhook_endpoint.disable"
        }
        .into(),
        subject: format!("webhook_endpoint:{id}"),
        before: None,
        after: None,
    };
    if store.set_host_endpoint_enabled(id, enabled, &audit, Utc::now()).await? {
        tracing::info!(endpoint_id = id, actor, enabled, "host webhook endpoint switched");
    }
    Ok(())
}

/// Sends a delivery again (delivered or given up): pending and due now, its retry schedule from
/// the start, the same event and so the same `webhook-id`. Audited with the admin's reason.
pub async fn resend(store: &dyn Store, actor: &str, id: i64, reason: &str) -> Result<(), HostWebhookError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(HostWebhookError::Invalid("Give a reason for the resend.".into()));
    }
    refuse_control_chars("The reason", reason).map_err(HostWebhookError::Invalid)?;
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(HostWebhookError::Invalid(format!(
            "The reason is too long (at most {MAX_REASON_CHARS} characters)."
        )));
    }
    let row = store
        .host_delivery(id)
        .await?
        .ok_or(HostWebhookError::DeliveryNotFound)?;
    let audit = AuditEntry {
        actor: actor.to_string(),
        action: "webhook_delivery.resend".into(),
        subject: format!("webhook_delivery:{id}"),
        before: None,
        after: Some(json!({ "status": "pending", "webhook_id": row.message_id, "reason": reason }).to_string()),
    };
    if !store.resend_host_delivery(id, &audit, Utc::now()).await? {
        return Err(HostWebhookError::AlreadyPending);
    }
    tracing::info!(delivery_id = id, actor, "host webhook delivery resent");
    Ok(())
}

pub async fn deliveries(
    store: &dyn Store,
    filter: &HostDeliveryFilter,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<HostDeliveryRow>, HostWebhookError> {
    if let Some(s) = &filter.status {
        if !matches!(s.as_str(), "pending" | "delivered" | "failed") {
            return Err(HostWebhookError::Invalid("Unknown status filter.".into()));
        }
    }
    Ok(store
        .list_host_deliveries(filter, before_id, limit.clamp(1, 200))
        .await?)
}

pub async fn delivery(store: &dyn Store, id: i64) -> Result<(HostDeliveryRow, Vec<HostAttemptRow>), HostWebhookError> {
    let row = store
        .host_delivery(id)
        .await?
        .ok_or(HostWebhookError::DeliveryNotFound)?;
    let attempts = store.host_delivery_attempts(id).await?;
    Ok((row, attempts))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn endpoint_view(row: &HostEndpointRow) -> WebhookEndpointView {
    WebhookEndpointView {
        id: row.id,
        url: row.url.clone(),
        event_types: row.event_types.split(',').map(str::to_string).collect(),
        description: row.description.clone(),
        enabled: row.enabled,
        created_at: rfc3339(row.created_at),
        created_by: row.created_by.clone(),
    }
}

pub fn delivery_view(row: &HostDeliveryRow) -> HostDeliveryView {
    HostDeliveryView {
        id: row.id,
        endpoint_id: row.endpoint_id,
        endpoint_url: row.endpoint_url.clone(),
        event_type: row.event_type.clone(),
        webhook_id: row.message_id.clone(),
        status: row.status.clone(),
        attempts: row.attempts,
        last_status_code: row.last_status_code,
        last_error: row.last_error.clone(),
        next_attempt_at: (row.status == "pending").then(|| rfc3339(row.next_attempt_at)),
        created_at: rfc3339(row.created_at),
        delivered_at: row.delivered_at.map(rfc3339),
    }
}

pub fn attempt_view(row: &HostAttemptRow) -> HostAttemptView {
    HostAttemptView {
        attempted_at: rfc3339(row.attempted_at),
        status_code: row.status_code,
        error: row.error.clone(),
        duration_ms: row.duration_ms,
    }
}

/// A delivery was given up: one alert per endpoint per hour, however many fail in it.
pub fn delivery_failed_alert(endpoint_id: i64, delivery_id: i64, now: DateTime<Utc>) -> NewAlert {
    NewAlert {
        // The alerts table's kinds are fixed by an older migration; this is a failing webhook.
        kind: "webhook_failing",
        subject: format!("webhook_endpoint:{endpoint_id}"),
        message: format!(
            "Webhook delivery #{delivery_id} to endpoint #{endpoint_id} (the host app) was given up after every retry"
        ),
        dedupe_key: format!("host_webhook_failed:{endpoint_id}:{}", now.format("%Y-%m-%dT%H")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in ["https://atlas.example/hooks", "http://1.1.1.1:8080/x?y=1"] {
            assert!(validate_url(ok, Destinations::PublicOnly).is_ok(), "{ok}");
        }
        // A host app on our own network, when the operator allows it.
        let local = "http://127.0.0.1:8080/x";
        assert!(validate_url(local, Destinations::Any).is_ok());
        assert!(validate_url(local, Destinations::PublicOnly).is_err());
        let long = format!("https://a.example/{}", "x".repeat(2000));
        for bad in [
            "",
            "ftp://a.example/",
            "https://user:pw@a.example/",
            "https://user@a.example/",
            "https://a.example/\u{0}",
            "https://a.example/a b",
            "not a url",
            "https://",
            "mailto:a@b.example",
            long.as_str(),
            "http://169.254.169.254/latest/meta-data/",
            "http://localhost:5432/",
        ] {
            assert!(validate_url(bad, Destinations::PublicOnly).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn event_types() {
        assert_eq!(
            parse_event_types(&["order.failed, credits.purchased", "credits.purchased"]).unwrap(),
            "credits.purchased,order.failed"
        );
        assert!(parse_event_types::<&str>(&[]).is_err());
        assert!(parse_event_types(&[" , "]).is_err());
        assert!(parse_event_types(&["credits.purchased,credits.spentx"]).is_err());
        assert!(parse_event_types(&["order.manual%requested"]).is_err());
    }

    #[test]
    fn schedule_covers_more_than_a_day_then_gives_up() {
        let t0 = Utc::now();
        let mut t = t0;
        for n in 1..=7 {
            t = next_attempt(n, t).unwrap();
        }
        assert_eq!((t - t0).num_seconds(), 5 + 300 + 1800 + 7200 + 18_000 + 36_000 + 36_000);
        assert!(t - t0 > chrono::Duration::days(1));
        assert_eq!(next_attempt(8, t0), None);
        assert_eq!(next_attempt(0, t0), None);
        assert_eq!(next_attempt(i32::MIN, t0), None);
    }

    #[test]
    fn the_page_offers_the_store_s_event_types() {
        assert_eq!(crate::model::HOST_EVENT_TYPES, EVENT_TYPES);
    }

    #[test]
    fn secrets_are_standard_webhooks_secrets() {
        let s = new_secret();
        assert!(s.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&s[6..]).unwrap().len(), 24);
        assert_ne!(s, new_secret());
        assert!(signature(&s, "msg_1", 1, b"{}").unwrap().starts_with("v1,"));
    }
}
