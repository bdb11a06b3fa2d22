//! Admin alerts: conditions an admin should see (a failed payment, a payment in the unmatched
//! queue, a webhook event that keeps failing, a reconciliation error). Raising is one insert
//! keyed by a dedupe key, so the same condition raises once; it never fails or holds up the
//! work that raised it (a failed insert is logged and dropped). Admins list and acknowledge
//! alerts (audited); the `alert_delivery` job POSTs new ones to `ADMIN_ALERT_WEBHOOK_URL`.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::model::AlertView;
use crate::server::store::{AlertRow, AuditEntry, NewAlert, Store, StoreError, UserRow};

/// A webhook event raises an alert at this failed attempt (once per event, not per attempt).
pub const FAILING_EVENT_ATTEMPTS: i32 = 3;
/// Longest message kept on an alert (they quote outside text, e.g. Whop's failure message).
const MAX_MESSAGE_CHARS: usize = 1000;

/// Raises `alert` unless its condition was raised before. Never fails: an error is logged.
pub async fn raise(store: &dyn Store, mut alert: NewAlert) {
    if alert.message.chars().count() > MAX_MESSAGE_CHARS {
        alert.message = alert.message.chars().take(MAX_MESSAGE_CHARS).collect();
    }
    match store.raise_alert(&alert, Utc::now()).await {
        Ok(true) => {
            tracing::warn!(kind = alert.kind, subject = %alert.subject, message = %alert.message, "admin alert raised")
        }
        Ok(false) => {}
        Err(e) => tracing::error!(kind = alert.kind, subject = %alert.subject, error = %e, "admin alert not recorded"),
    }
}

/// Whop reported a payment failed for one of our orders.
pub fn payment_failed(order_id: i64, payment_id: &str, message: &str) -> NewAlert {
    NewAlert {
        kind: "payment_failed",
        subject: format!("order:{order_id}"),
        message: format!("Payment {payment_id} for order #{order_id} failed: {message}"),
        dedupe_key: format!("payment_failed:{payment_id}"),
    }
}

/// A stored webhook event failed `attempts` times (or for good).
pub fn webhook_failing(webhook_id: &str, event_type: &str, detail: &str) -> NewAlert {
    NewAlert {
        kind: "webhook_failing",
        subject: format!("webhook:{webhook_id}"),
        message: format!("Webhook event {webhook_id} ({event_type}) keeps failing: {detail}"),
        dedupe_key: format!("webhook_failing:{webhook_id}"),
    }
}

/// A reconciliation pass failed or had errors. At most one alert per hour while it goes on.
pub fn reconcile_error(now: DateTime<Utc>, detail: &str) -> NewAlert {
    NewAlert {
        kind: "reconcile_error",
        subject: "reconcile".into(),
        message: format!("Reconciliation with Whop failed: {detail}"),
        dedupe_key: format!("reconcile_error:{}", now.format("%Y-%m-%dT%H")),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("no such alert")]
    NotFound,
    #[error("this alert was already acknowledged")]
    NotOpen,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn actor(admin: &UserRow) -> String {
    format!("admin:{}", admin.id)
}

/// Acknowledges one open alert (audited in the same transaction).
pub async fn acknowledge(store: &dyn Store, admin: &UserRow, id: i64) -> Result<(), AlertError> {
    let row = store.alert_by_id(id).await?.ok_or(AlertError::NotFound)?;
    if row.status != "open" {
        return Err(AlertError::NotOpen);
    }
    let audit = AuditEntry {
        actor: actor(admin),
        action: "alert.acknowledge".into(),
        subject: format!("alert:{id}"),
        before: Some(json!({ "status": "open", "kind": row.kind, "subject": row.subject }).to_string()),
        after: Some(json!({ "status": "acknowledged" }).to_string()),
    };
    if !store.acknowledge_alert(id, &audit, Utc::now()).await? {
        return Err(AlertError::NotOpen);
    }
    Ok(())
}

/// Acknowledges every open alert up to `up_to_id` (the newest the admin saw, so one raised
/// meanwhile stays open); how many.
pub async fn acknowledge_all(store: &dyn Store, admin: &UserRow, up_to_id: i64) -> Result<u64, AlertError> {
    let audit = AuditEntry {
        actor: actor(admin),
        action: "alert.acknowledge_all".into(),
        subject: "alerts".into(),
        before: Some(json!({ "status": "open" }).to_string()),
        after: None,
    };
    Ok(store.acknowledge_all_alerts(up_to_id, &audit, Utc::now()).await?)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn view(row: &AlertRow) -> AlertView {
    AlertView {
        id: row.id,
        kind: row.kind.clone(),
        kind_label: kind_label(&row.kind).to_owned(),
        subject: row.subject.clone(),
        message: row.message.clone(),
        status: row.status.clone(),
        acknowledged_by: row.acknowledged_by.clone(),
        acknowledged_at: row.acknowledged_at.map(rfc3339),
        created_at: rfc3339(row.created_at),
        delivery: row.delivery_status.clone(),
    }
}

pub fn kind_label(kind: &str) -> &'static str {
    match kind {
        "payment_failed" => "Payment failed",
        "unmatched_payment" => "Unmatched payment",
        "webhook_failing" => "Webhook failing",
        "reconcile_error" => "Reconciliation error",
        _ => "Alert",
    }
}

/// The JSON POSTed to `ADMIN_ALERT_WEBHOOK_URL`: `text` is what Slack (and most chat webhooks)
/// show; the rest is for machines.
pub fn payload(row: &AlertRow) -> serde_json::Value {
    json!({
        "text": format!("[Atlas Credits] {}: {}", kind_label(&row.kind), row.message),
        "id": row.id,
        "kind": row.kind,
        "subject": row.subject,
        "created_at": rfc3339(row.created_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_keys_name_the_condition() {
        assert_eq!(payment_failed(3, "pay_1", "x").dedupe_key, "payment_failed:pay_1");
        assert_eq!(
            webhook_failing("msg_1", "payment.succeeded", "x").dedupe_key,
            "webhook_failing:msg_1"
        );
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:59:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(reconcile_error(t, "x").dedupe_key, "reconcile_error:2026-01-02T03");
    }
}
