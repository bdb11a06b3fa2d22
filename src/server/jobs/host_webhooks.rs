//! Sends the host app its webhooks (`host_deliveries`), signed as Standard Webhooks: each due
//! delivery is claimed with a lease (a conditional update, so of several instances one sends it),
//! in order per user and endpoint (a delivery waits while an earlier one of the same user is
//! pending there), POSTed with a timeout and no redirects, and then marked delivered (2xx), or
//! retried on the Standard Webhooks schedule, or given up (with an admin alert). Every try is
//! recorded. A sender that dies after the POST but before recording it sends that delivery again
//! once the lease expires (at least once; the `webhook-id` lets Atlas drop the repeat).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Job;
use crate::server::outbound::Destinations;
use crate::server::service::{alerts, host_webhooks};
use crate::server::store::{ClaimedDelivery, HostAttempt, HostDeliveryNext, Store};

/// Deliveries sent per step.
const BATCH: i64 = 20;
/// How long one POST may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claim keeps other instances off a delivery (far longer than a POST can take).
const LEASE: Duration = Duration::from_secs(120);

pub struct HostWebhooks {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    destinations: Destinations,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostWebhooksReport {
    pub delivered: u32,
    pub retrying: u32,
    pub failed: u32,
}

impl HostWebhooks {
    /// `destinations`: which addresses endpoints may resolve to (`server::outbound`).
    pub fn new(store: Arc<dyn Store>, destinations: Destinations) -> anyhow::Result<HostWebhooks> {
        let client = destinations
            .client_builder()
            .timeout(TIMEOUT)
            // An endpoint that redirects is misconfigured; following it could send the event
            // somewhere nobody registered.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(HostWebhooks {
            store,
            client,
            destinations,
        })
    }

    /// One step as of `now` (tests pass a later time instead of waiting for a retry). The
    /// `webhook-timestamp` header is the real clock at sending, which receivers check.
    pub async fn run_at(&self, now: DateTime<Utc>) -> anyhow::Result<HostWebhooksReport> {
        let lease_until = now + chrono::Duration::from_std(LEASE)?;
        let claimed = self.store.claim_host_deliveries(now, lease_until, BATCH).await?;
        let mut report = HostWebhooksReport::default();
        for c in &claimed {
            let started = Instant::now();
            let result = self.send(c).await;
            let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
            let attempts = c.delivery.attempts.saturating_add(1);
            let (status_code, error) = match &result {
                Ok(code) if (200..300).contains(code) => (Some(*code), None),
                Ok(code) => (Some(*code), Some(format!("answered HTTP {code}"))),
                Err(e) => (None, Some(e.clone())),
            };
            let next = if error.is_none() {
                report.delivered += 1;
                HostDeliveryNext::Delivered
            } else if let Some(at) = host_webhooks::next_attempt(attempts, now) {
                report.retrying += 1;
                HostDeliveryNext::RetryAt(at)
            } else {
                report.failed += 1;
                HostDeliveryNext::Failed
            };
            let attempt = HostAttempt {
                attempted_at: now,
                status_code,
                error: error.clone(),
                duration_ms,
                next,
            };
            let recorded = self
                .store
                .finish_host_delivery(c.delivery.id, c.lease_until, &attempt)
                .await?;
            match next {
                HostDeliveryNext::Delivered => tracing::debug!(
                    delivery_id = c.delivery.id,
                    endpoint_id = c.delivery.endpoint_id,
                    attempts,
                    "host webhook delivered"
                ),
                HostDeliveryNext::RetryAt(at) => tracing::warn!(
                    delivery_id = c.delivery.id, endpoint_id = c.delivery.endpoint_id, attempts,
                    error = error.as_deref().unwrap_or(""), next_attempt_at = %at, "host webhook failed; will retry"
                ),
                HostDeliveryNext::Failed => {
                    tracing::error!(
                        delivery_id = c.delivery.id,
                        endpoint_id = c.delivery.endpoint_id,
                        attempts,
                        error = error.as_deref().unwrap_or(""),
                        "host webhook given up"
                    );
                    if recorded {
                        alerts::raise(
                            self.store.as_ref(),
                            host_webhooks::delivery_failed_alert(c.delivery.endpoint_id, c.delivery.id, now),
                        )
                        .await;
                    }
                }
            }
        }
        Ok(report)
    }

    /// One POST; the HTTP status, or what went wrong without the URL or the secret.
    async fn send(&self, c: &ClaimedDelivery) -> Result<i32, String> {
        let d = &c.delivery;
        // Checked again at sending: the endpoint may predate the policy, or the policy changed.
        // Names are checked by the client's resolver; literals never reach it.
        let url = reqwest::Url::parse(&d.endpoint_url).map_err(|_| "the endpoint's URL is not valid".to_owned())?;
        if let Some(refusal) = self.destinations.refuses_host(&url) {
            return Err(format!("not sent: {refusal}"));
        }
        let timestamp = Utc::now().timestamp();
        let signature = host_webhooks::signature(&c.secret, &d.message_id, timestamp, d.payload.as_bytes())?;
        let response = self
            .client
            .post(url)
            .header("webhook-id", &d.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header("content-type", "application/json")
            .body(d.payload.clone())
            .send()
            .await
            .map_err(|e| {
                if crate::server::outbound::refused_by_resolver(&e) {
                    "not sent: the host name resolves only to private, loopback or reserved addresses".to_owned()
                } else if e.is_timeout() {
                    "timed out".to_owned()
                } else if e.is_connect() {
                    "could not connect".to_owned()
                } else {
                    "request failed".to_owned()
                }
            })?;
        let code = i32::from(response.status().as_u16());
        Ok(code)
    }
}

#[async_trait]
impl Job for HostWebhooks {
    type Report = HostWebhooksReport;

    fn name(&self) -> &'static str {
        "host_webhooks"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(1)
    }

    async fn run_once(&self) -> anyhow::Result<HostWebhooksReport> {
        self.run_at(Utc::now()).await
    }

    fn is_noteworthy(&self, r: &HostWebhooksReport) -> bool {
        *r != HostWebhooksReport::default()
    }
}
