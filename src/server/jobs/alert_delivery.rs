//! Delivers new admin alerts to `ADMIN_ALERT_WEBHOOK_URL` (runs only when it is set): each due
//! alert is claimed with a conditional update (a lease on the row, so of several instances one
//! sends it), POSTed as JSON with a timeout, and then marked delivered, or retried with
//! exponential backoff (30 s doubling up to an hour), or failed once it is a day old. Nothing
//! that raises an alert waits for this. A sender that dies after the POST but before recording
//! it sends that alert again once the lease expires (at least once, never twice otherwise).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Job;
use crate::server::service::alerts;
use crate::server::store::{AlertRow, DeliveryResult, Store};

/// Alerts sent per step.
const BATCH: i64 = 20;
/// How long one POST may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claim keeps other instances off a row (far longer than a POST can take).
const LEASE: Duration = Duration::from_secs(120);
/// Waits between tries: 30 s, doubling, at most an hour.
const FIRST_RETRY_SECS: i64 = 30;
const MAX_RETRY_SECS: i64 = 3600;
/// An alert not delivered within this is given up (marked failed).
fn give_up_after() -> chrono::Duration {
    chrono::Duration::hours(24)
}

pub struct AlertDelivery {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    url: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertDeliveryReport {
    pub delivered: u32,
    pub retrying: u32,
    pub failed: u32,
}

/// The wait after the `attempts`-th failed try (1-based).
pub fn retry_delay(attempts: i32) -> chrono::Duration {
    let doublings = u32::try_from(attempts.max(1) - 1).unwrap_or(0).min(20);
    chrono::Duration::seconds((FIRST_RETRY_SECS << doublings).min(MAX_RETRY_SECS))
}

impl AlertDelivery {
    pub fn new(store: Arc<dyn Store>, url: String) -> anyhow::Result<AlertDelivery> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            // A webhook URL that redirects is misconfigured; following it could send the alert
            // somewhere nobody chose.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(AlertDelivery { store, client, url })
    }

    /// One step as of `now` (tests pass a later time instead of waiting for a retry).
    pub async fn run_at(&self, now: DateTime<Utc>) -> anyhow::Result<AlertDeliveryReport> {
        let lease_until = now + chrono::Duration::from_std(LEASE)?;
        let claimed = self.store.claim_due_alerts(now, lease_until, BATCH).await?;
        let mut report = AlertDeliveryReport::default();
        for alert in &claimed {
            let result = if now - alert.created_at > give_up_after() {
                DeliveryResult::Failed {
                    error: "not delivered within a day".into(),
                }
            } else {
                match self.send(alert).await {
                    Ok(()) => DeliveryResult::Delivered,
                    Err(error)
                        if now + retry_delay(alert.delivery_attempts + 1) - alert.created_at > give_up_after() =>
                    {
                        DeliveryResult::Failed { error }
                    }
                    Err(error) => DeliveryResult::Retry {
                        at: now + retry_delay(alert.delivery_attempts + 1),
                        error,
                    },
                }
            };
            match &result {
                DeliveryResult::Delivered => report.delivered += 1,
                DeliveryResult::Retry { error, at } => {
                    tracing::warn!(alert_id = alert.id, %error, next_attempt_at = %at, "alert delivery failed; will retry");
                    report.retrying += 1;
                }
                DeliveryResult::Failed { error } => {
                    tracing::error!(alert_id = alert.id, %error, "alert delivery given up");
                    report.failed += 1;
                }
            }
            self.store.finish_alert_delivery(alert.id, &result, now).await?;
        }
        Ok(report)
    }

    /// One POST; the error says what went wrong without the URL (it may hold a secret).
    async fn send(&self, alert: &AlertRow) -> Result<(), String> {
        let response = self
            .client
            .post(&self.url)
            .json(&alerts::payload(alert))
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    "timed out".to_owned()
                } else if e.is_connect() {
                    "could not connect".to_owned()
                } else {
                    "request failed".to_owned()
                }
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered HTTP {}", status.as_u16()))
        }
    }
}

#[async_trait]
impl Job for AlertDelivery {
    type Report = AlertDeliveryReport;

    fn name(&self) -> &'static str {
        "alert_delivery"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(5)
    }

    async fn run_once(&self) -> anyhow::Result<AlertDeliveryReport> {
        self.run_at(Utc::now()).await
    }

    fn is_noteworthy(&self, r: &AlertDeliveryReport) -> bool {
        *r != AlertDeliveryReport::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_30_seconds_up_to_an_hour() {
        let secs: Vec<i64> = (1..=9).map(|n| retry_delay(n).num_seconds()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(retry_delay(0).num_seconds(), 30);
        assert_eq!(retry_delay(i32::MAX).num_seconds(), 3600);
    }
}
