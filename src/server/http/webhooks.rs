//! `POST /api/webhooks/whop`: Whop's signed deliveries. Verifies the raw bytes before anything
//! else (401, nothing stored, on failure), then keeps the delivery under its `webhook-id` so a
//! repeat is acknowledged without a second copy. Answers 5xx when it cannot store, so Whop retries.
//! A paid payment for a known order is stored, credited and settled in one transaction
//! (`webhook_apply::deliver`), so the answer follows the committed credit; any other delivery is
//! stored and then applied at once (`service::webhook_apply`); whatever that leaves pending (a
//! transient failure, a crash) the `webhook_apply` job retries. Once stored, the answer is 200
//! whatever applying did.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

use crate::server::service::webhook_apply::{self, Delivery};
use crate::server::state::AppState;
use crate::server::store::{NewWebhookEvent, Recorded, Store, StoreError, WebhookEventRow};
use crate::server::whop::verify::{verify, DeliveryHeaders, VerifyError};

/// Whop payment payloads are a few KiB; anything far larger is not a Whop delivery.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// How long the answer waits for the inline apply. Past it Whop gets its 200 anyway and the
/// apply carries on in the background (it is never cut off half-way).
const APPLY_WAIT: Duration = Duration::from_secs(5);

pub async fn receive_whop_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let delivery = DeliveryHeaders {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
    };

    let verified = match verify(delivery, &body, &state.webhook_secrets, chrono::Utc::now().timestamp()) {
        Ok(v) => v,
        Err(VerifyError::NoSecret) => {
            tracing::error!("webhook refused: WHOP_WEBHOOK_SECRET is not set");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_configured",
                "webhook verification is not configured",
            );
        }
        Err(e) => {
            tracing::warn!(reason = %e, webhook_id = delivery.id, "webhook signature rejected");
            return error(
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                "signature verification failed",
            );
        }
    };

    // What is kept must be exactly what was signed, so a body that is not UTF-8 is refused rather
    // than stored with replacement characters. Whop sends JSON, which is always UTF-8.
    let payload = match String::from_utf8(body.to_vec()) {
        Ok(text) => text,
        Err(_) => {
            tracing::warn!(webhook_id = %verified.webhook_id, "signed webhook body is not UTF-8");
            return error(StatusCode::BAD_REQUEST, "invalid_body", "body is not UTF-8");
        }
    };
    // Parsed leniently and only for the type: the raw text is what we keep.
    let event_type = serde_json::from_str::<Value>(&payload)
        .ok()
        .and_then(|v| v.get("type").and_then(Value::as_str).and_then(bounded_event_type))
        .unwrap_or_else(|| webhook_apply::UNREADABLE_TYPE.to_owned());

    let event = NewWebhookEvent {
        id: verified.webhook_id.clone(),
        event_type,
        payload,
        received_at: chrono::Utc::now(),
    };
    // A paid payment for a known order is stored, credited and settled in one transaction;
    // anything else (or if that path declines) is stored first and then applied.
    let (recorded, applied) = match deliver_now(state.store.clone(), event.clone()).await {
        Ok(Delivery::Credited) => (Ok(Recorded::Inserted), true),
        Ok(Delivery::Duplicate) => (Ok(Recorded::Duplicate), true),
        Ok(Delivery::NotTaken) => (state.store.record_webhook_event(&event).await, false),
        Err(e) => (Err(e), true),
    };
    if recorded.is_ok() {
        crate::server::metrics::webhook(crate::server::metrics::WebhookStage::Received, &event.event_type);
    }
    match recorded {
        Ok(Recorded::Inserted) => {
            tracing::info!(webhook_id = %event.id, event_type = %event.event_type, "webhook stored");
            if !applied {
                apply_now(state.store.clone(), event).await;
            }
            (StatusCode::OK, Json(json!({ "received": true })))
        }
        Ok(Recorded::Duplicate) => {
            tracing::info!(webhook_id = %event.id, "webhook repeat acknowledged");
            (StatusCode::OK, Json(json!({ "received": true, "duplicate": true })))
        }
        Err(e) => {
            tracing::error!(error = %e, webhook_id = %event.id, "webhook could not be stored");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "could not store the delivery; retry later",
            )
        }
    }
}

/// The one-transaction path (`webhook_apply::deliver`), on a task of its own so that a client
/// hanging up cannot cut it off between its commit and the waiting events it then applies.
/// A task that panicked counts as a failed store: answered 503, Whop retries, and the retry is
/// a duplicate if the transaction had committed.
async fn deliver_now(store: Arc<dyn Store>, event: NewWebhookEvent) -> Result<Delivery, StoreError> {
    let task = tokio::spawn(async move { webhook_apply::deliver(store.as_ref(), &event, chrono::Utc::now()).await });
    task.await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "webhook delivery task failed");
        // Reported as the worker it was crashing: an unavailable store, hence the 503.
        Err(StoreError::Database(sqlx::Error::WorkerCrashed))
    })
}

/// Applies a just-stored event, on a task of its own so that neither a client hanging up nor
/// the wait limit cancels it mid-way. Failures are left to the event row and the retry job.
async fn apply_now(store: Arc<dyn Store>, event: NewWebhookEvent) {
    let webhook_id = event.id.clone();
    let row = WebhookEventRow {
        id: event.id,
        event_type: event.event_type,
        received_at: event.received_at,
        payload: event.payload,
        status: "pending".into(),
        attempts: 0,
        last_error: None,
        processed_at: None,
        next_attempt_at: None,
        order_id: None,
        payment_id: None,
    };
    let task = tokio::spawn(async move { webhook_apply::process(store.as_ref(), &row, chrono::Utc::now()).await });
    match tokio::time::timeout(APPLY_WAIT, task).await {
        Ok(Ok(Ok(_))) => {}
        Ok(Ok(Err(e))) => {
            tracing::warn!(%webhook_id, error = %e, "webhook result not recorded; left pending for the retry job")
        }
        Ok(Err(e)) => tracing::error!(%webhook_id, error = %e, "webhook apply task failed; left for the retry job"),
        Err(_) => tracing::warn!(%webhook_id, ?APPLY_WAIT, "webhook apply still running; answered meanwhile"),
    }
}

/// Longest event type kept; Whop's are like `payment.succeeded`.
const MAX_EVENT_TYPE_LEN: usize = 100;

/// The event type when it is short printable ASCII; anything else (even from a signed sender) is
/// not kept, so a type cannot bloat the row or forge lines in the logs it is written to.
fn bounded_event_type(t: &str) -> Option<String> {
    let printable = t.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    (!t.is_empty() && t.len() <= MAX_EVENT_TYPE_LEN && printable).then(|| t.to_owned())
}

fn error(status: StatusCode, code: &str, message: &str) -> (StatusCode, Json<Value>) {
    (status, Json(json!({ "error": { "code": code, "message": message } })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_bounded_printable_ascii() {
        assert_eq!(
            bounded_event_type("payment.succeeded").as_deref(),
            Some("payment.succeeded")
        );
        assert_eq!(bounded_event_type("a b").as_deref(), Some("a b"));
        let longest = "t".repeat(MAX_EVENT_TYPE_LEN);
        assert_eq!(bounded_event_type(&longest), Some(longest.clone()));
        for bad in [
            "",
            "a\nb",
            "a\rb",
            "a\tb",
            "\u{1b}[31m",
            "réussi",
            "\u{7f}",
            &"t".repeat(MAX_EVENT_TYPE_LEN + 1),
        ] {
            assert_eq!(bounded_event_type(bad), None, "{bad:?}");
        }
    }
}
