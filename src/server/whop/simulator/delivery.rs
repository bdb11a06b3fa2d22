//! Sends queued webhooks to the app over real HTTP, signed as Whop signs them, with Whop's retry
//! schedule after a non-2xx answer or no answer (10 s, 20 s, 40 s by default; then given up).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::actions::next_retry;
use super::Simulator;
use crate::server::store::SimDeliveryRow;
use crate::server::whop::verify::sign;

const POLL: Duration = Duration::from_millis(100);

pub(super) async fn run(sim: Arc<Simulator>) {
    loop {
        match sim.store.sim_due(Utc::now(), 50).await {
            Ok(due) => {
                for d in due {
                    attempt(&sim, d).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "simulator could not read its delivery queue"),
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn attempt(sim: &Simulator, d: SimDeliveryRow) {
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
}
