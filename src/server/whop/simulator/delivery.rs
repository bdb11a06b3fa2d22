//! Sends queued webhooks to the app over real HTTP, signed as Whop signs them, with Whop's retry
//! schedule after a non-2xx answer or no answer (10 s, 20 s, 40 s by default; then given up).

//! The loop that calls `deliver_due` is the `whop_simulator_delivery` job (server::jobs).

use chrono::Utc;

use super::actions::next_retry;
use super::Simulator;
use crate::server::store::{SimDeliveryRow, StoreError};
use crate::server::whop::verify::sign;

/// What one pass over the queue did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub delivered: usize,
    /// Answered non-2xx or not at all, and will be tried again.
    pub retrying: usize,
    /// Out of retries.
    pub failed: usize,
}

/// Attempts every delivery due now (at most `limit`), oldest first.
pub(super) async fn deliver_due(sim: &Simulator, limit: i64) -> Result<DeliveryReport, StoreError> {
    let mut report = DeliveryReport::default();
    for d in sim.store.sim_due(Utc::now(), limit).await? {
        match attempt(sim, d).await {
            "delivered" => report.delivered += 1,
            "pending" => report.retrying += 1,
            _ => report.failed += 1,
        }
    }
    Ok(report)
}

async fn attempt(sim: &Simulator, d: SimDeliveryRow) -> &'static str {
    let timestamp = Utc::now().timestamp();
    let signature = sign(&sim.webhook_secret, &d.webhook_id, timestamp, d.payload.as_bytes());
    let sent = sim
        .http
        .post(sim.webhook_url())
        .header("content-type", "application/json")
        .header("webhook-id", &d.webhook_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(d.payload.clone())
        .send()
        .await;
    let status = sent.as_ref().ok().map(|r| i32::from(r.status().as_u16()));
    let attempts = d.attempts + 1;
    let (state, next_at) = if status.is_some_and(|s| (200..300).contains(&s)) {
        ("delivered", Utc::now())
    } else {
        match next_retry(&sim.retry_schedule, attempts as usize) {
            Some(wait) => (
                "pending",
                Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
            ),
            None => ("failed", Utc::now()),
        }
    };
    tracing::info!(webhook_id = %d.webhook_id, event = %d.event_type, ?status, attempts, state, "simulator webhook attempt");
    if let Err(e) = sim
        .store
        .sim_record_attempt(d.id, state, attempts, next_at, status)
        .await
    {
        tracing::warn!(error = %e, "simulator could not record a delivery attempt");
    }
    state
}
