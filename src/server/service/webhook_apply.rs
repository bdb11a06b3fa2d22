//! Applying stored Whop webhook events to orders and the ledger. The route stores a delivery
//! first and then applies it at once; the `webhook_apply` job applies whatever is still pending
//! (a crash between storing and applying, or a transient failure waiting for its retry time).
//! Both go through `process`, so an event is applied by the same code whoever gets to it, and
//! two of them racing on one event end in one grant (fulfil is idempotent; only a pending event
//! is settled). The route's common case, a paid payment crediting its order, is first tried as
//! one transaction (`deliver`); whatever that does not credit is stored and goes through
//! `process` as before.

mod deliver;
mod payments;
mod refunds_disputes;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use deliver::{deliver, Delivery};
pub use payments::{apply_payment, PaymentEvent};
pub use refunds_disputes::{apply_dispute, apply_refund, dispute_stage};

use crate::model::{OrderId, UserId};
use crate::server::service::alerts;
use crate::server::service::orders::Via;
use crate::server::store::{DisputeApplication, OrderRow, RefundApplication, Store, StoreError, WebhookEventRow};
use crate::server::whop::types::{Dispute, Payment, Refund, WebhookEnvelope};

/// Tries of one event before a transient failure becomes `failed` (the first included).
pub const MAX_ATTEMPTS: i32 = 10;

/// Wait after the n-th failed try (the last one repeats): about five hours from the first try
/// to giving up, long enough to ride out a database restart or a maintenance window.
pub const RETRY_DELAYS: [Duration; 5] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
    Duration::from_secs(3600),
];

/// The stored type of a delivery whose `type` could not be read (see the webhook route).
pub const UNREADABLE_TYPE: &str = "unknown";

/// What an event is about, as far as it was learned (for the logs and the event row).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    pub payment_id: Option<String>,
    pub order: Option<OrderId>,
    pub user: Option<UserId>,
}

impl Subject {
    fn of(payment: &Payment, order: &OrderRow) -> Subject {
        Subject {
            payment_id: Some(payment.id.clone()),
            order: Some(order.order_id()),
            user: Some(order.user_id()),
        }
    }
}

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `payment.succeeded`: the order is paid and credited now.
    Credited,
    /// `payment.succeeded` for a payment credited before (a repeat): nothing changed.
    AlreadyCredited,
    /// `payment.succeeded` whose payment is not `paid`: nothing credited.
    NotPaid,
    /// A paid payment no order matches: queued for an admin (`unmatched_payments`).
    Unmatched,
    /// A paid payment its order held (wrong amount or currency, paid twice): queued for an admin.
    Held,
    /// `payment.failed`: the order is failed with Whop's message.
    OrderFailed,
    /// `payment.failed` for an order that is paid: the order is left as it is.
    PaidOrderKept,
    /// `payment.created` / `payment.pending`: recorded; the order stays pending.
    Recorded,
    /// `refund.*` with status `succeeded`: recorded, its share of the credits clawed back.
    ClawedBack,
    /// `refund.*` for a refund applied before (a repeat): nothing changed.
    RefundAlreadyApplied,
    /// `refund.*` whose refund has not succeeded (pending, failed, ...): nothing taken back.
    RefundNotSucceeded,
    /// `dispute.*`: a hold or release written, or the order marked `disputed`.
    DisputeApplied,
    /// `dispute.*` whose stage is in the ledger already (a repeat): nothing changed.
    DisputeUnchanged,
    /// `refund.*` / `dispute.*` of a payment an admin resolved without crediting: nothing to take.
    NothingCredited,
    /// An event type this app does not act on.
    Ignored,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub outcome: Outcome,
    pub subject: Subject,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The database was busy or unreachable: try again later.
    #[error("transient: {0}")]
    Transient(String),
    /// Depends on something not applied yet (a refund of a payment that credited no order so
    /// far): retried on the same schedule as a transient failure, but never given up on, and
    /// woken the moment the payment is credited, so the refund applies once the payment has.
    #[error("waiting: {reason}")]
    Waiting { reason: String, payment_id: String },
    /// Trying again would give the same answer: the event is `failed` with this reason (a held
    /// payment, no matching order, a malformed payload).
    #[error("{reason}")]
    Permanent { reason: String, subject: Subject },
}

impl ApplyError {
    pub(crate) fn permanent(reason: impl Into<String>, subject: Subject) -> ApplyError {
        ApplyError::Permanent {
            reason: reason.into(),
            subject,
        }
    }
}

/// A store failure while applying. Every database error counts as transient (busy, locked,
/// restarting, unreachable): retrying a genuinely bad write only delays its `failed` by the
/// retry schedule, while treating a passing outage as permanent would lose a payment.
pub(crate) fn from_store(e: StoreError, subject: &Subject) -> ApplyError {
    match e {
        StoreError::Database(_) | StoreError::Migrate(_) => ApplyError::Transient(e.to_string()),
        StoreError::NotFound("order") => ApplyError::permanent("no matching order", subject.clone()),
        other => ApplyError::permanent(other.to_string(), subject.clone()),
    }
}

/// Applies one stored event. Does not touch the event row (`process` settles it).
pub async fn apply(store: &dyn Store, event: &WebhookEventRow) -> Result<Applied, ApplyError> {
    let kind = event.event_type.as_str();
    if kind == UNREADABLE_TYPE {
        return Err(ApplyError::permanent(
            "malformed payload: no readable event type",
            Subject::default(),
        ));
    }
    if let Some(payment_event) = PaymentEvent::parse(kind) {
        let envelope: WebhookEnvelope<Payment> = envelope(event, kind)?;
        return apply_payment(store, payment_event, &envelope.data, &event.payload, Via::Webhook).await;
    }
    match kind {
        "refund.created" | "refund.updated" => {
            let refund: Refund = envelope(event, kind)?.data;
            let payment_id = refunds_disputes::embedded_payment_id(refund.payment.as_ref(), "refund")?;
            let currency = refund
                .currency
                .as_deref()
                .or(refund.payment.as_ref().and_then(|p| p.currency.as_deref()))
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    ApplyError::permanent(
                        "refund has no currency",
                        Subject {
                            payment_id: Some(payment_id.to_owned()),
                            ..Subject::default()
                        },
                    )
                })?;
            let application = RefundApplication {
                refund_id: refund.id.clone(),
                payment_id: payment_id.to_owned(),
                amount_cents: refund.amount.get(),
                currency: currency.to_owned(),
            };
            apply_refund(store, refund.status, &application).await
        }
        "dispute.created" | "dispute.updated" => {
            let dispute: Dispute = envelope(event, kind)?.data;
            let payment_id = refunds_disputes::embedded_payment_id(dispute.payment.as_ref(), "dispute")?;
            let application = DisputeApplication {
                dispute_id: dispute.id.clone(),
                payment_id: payment_id.to_owned(),
                stage: dispute_stage(dispute.status),
            };
            apply_dispute(store, &application).await
        }
        _ => Ok(Applied {
            outcome: Outcome::Ignored,
            subject: Subject::default(),
        }),
    }
}

/// The stored payload as Whop's envelope of `T`, whose own type must be the stored one.
fn envelope<T: serde::de::DeserializeOwned>(
    event: &WebhookEventRow,
    kind: &str,
) -> Result<WebhookEnvelope<T>, ApplyError> {
    let envelope: WebhookEnvelope<T> = serde_json::from_str(&event.payload)
        .map_err(|e| ApplyError::permanent(format!("malformed {kind} payload: {e}"), Subject::default()))?;
    if envelope.event_type != kind {
        return Err(ApplyError::permanent(
            format!("payload type does not match the stored type {kind}"),
            Subject::default(),
        ));
    }
    Ok(envelope)
}

/// How an event stands after one `process`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    Processed(Outcome),
    Ignored,
    /// Not applied, for good: the reason is on the event.
    Failed(String),
    /// A transient failure: still pending, tried again at this time.
    Retrying(DateTime<Utc>),
    /// Someone else (the route or another worker) settled it first.
    AlreadySettled,
}

/// The wait after the `attempts`-th failed try (1-based).
pub fn retry_delay(attempts: i32) -> Duration {
    let i = usize::try_from(attempts.max(1) - 1).unwrap_or(0);
    RETRY_DELAYS[i.min(RETRY_DELAYS.len() - 1)]
}

/// Applies a pending event and records the result on it: processed, ignored, failed, or (after
/// a transient failure) left pending with its next try time, `failed` after `MAX_ATTEMPTS`.
/// An error here means the result could not be recorded: the event stays pending and due.
/// A payment credited now also applies, at once, the refunds and disputes waiting for it.
pub async fn process(store: &dyn Store, event: &WebhookEventRow, now: DateTime<Utc>) -> Result<Settled, StoreError> {
    let (settled, subject) = settle(store, event, now).await?;
    if let (Settled::Processed(Outcome::Credited), Some(payment_id)) = (&settled, &subject.payment_id) {
        for waiting in store.pending_events_for_payment(payment_id).await? {
            if waiting.id != event.id {
                settle(store, &waiting, now).await?;
            }
        }
    }
    Ok(settled)
}

/// `process` for one event, returning also what the event was about.
async fn settle(
    store: &dyn Store,
    event: &WebhookEventRow,
    now: DateTime<Utc>,
) -> Result<(Settled, Subject), StoreError> {
    let webhook_id = event.id.as_str();
    let event_type = event.event_type.as_str();
    let result = apply(store, event).await;
    let subject = match &result {
        Ok(a) => a.subject.clone(),
        Err(ApplyError::Permanent { subject, .. }) => subject.clone(),
        Err(ApplyError::Waiting { payment_id, .. }) => Subject {
            payment_id: Some(payment_id.clone()),
            ..Subject::default()
        },
        Err(ApplyError::Transient(_)) => Subject::default(),
    };
    let order_id = subject.order.map(|o| o.0);
    let user_id = subject.user.map(|u| u.0);
    let payment_id = subject.payment_id.as_deref();
    let (settled, won) = match &result {
        Ok(Applied {
            outcome: Outcome::Ignored,
            ..
        }) => {
            let won = store
                .settle_webhook_event(webhook_id, "ignored", None, subject.order, payment_id, now)
                .await?;
            (Settled::Ignored, won)
        }
        Ok(Applied { outcome, .. }) => {
            let won = store
                .settle_webhook_event(webhook_id, "processed", None, subject.order, payment_id, now)
                .await?;
            (Settled::Processed(*outcome), won)
        }
        Err(ApplyError::Permanent { reason, .. }) => {
            let won = store
                .settle_webhook_event(webhook_id, "failed", Some(reason), subject.order, payment_id, now)
                .await?;
            (Settled::Failed(reason.clone()), won)
        }
        Err(ApplyError::Transient(error)) => {
            let attempts = event.attempts.saturating_add(1);
            if attempts >= MAX_ATTEMPTS {
                let reason = format!("gave up after {attempts} attempts: {error}");
                let won = store
                    .settle_webhook_event(webhook_id, "failed", Some(&reason), None, None, now)
                    .await?;
                (Settled::Failed(reason), won)
            } else {
                let at = now + chrono::Duration::from_std(retry_delay(attempts)).unwrap_or_default();
                store.retry_webhook_event(webhook_id, error, None, at).await?;
                (Settled::Retrying(at), true)
            }
        }
        Err(ApplyError::Waiting { reason, .. }) => {
            let attempts = event.attempts.saturating_add(1);
            let at = now + chrono::Duration::from_std(retry_delay(attempts)).unwrap_or_default();
            store.retry_webhook_event(webhook_id, reason, payment_id, at).await?;
            (Settled::Retrying(at), true)
        }
    };
    if !won {
        tracing::info!(
            webhook_id,
            event_type,
            order_id,
            payment_id,
            user_id,
            "webhook event settled elsewhere"
        );
        return Ok((Settled::AlreadySettled, subject));
    }
    crate::server::metrics::webhook_settled(&settled, event_type);
    match &settled {
        Settled::Processed(outcome) => {
            tracing::info!(
                webhook_id,
                event_type,
                order_id,
                payment_id,
                user_id,
                ?outcome,
                "webhook applied"
            )
        }
        Settled::Ignored => tracing::info!(webhook_id, event_type, "webhook ignored"),
        Settled::Failed(reason) => {
            tracing::warn!(webhook_id, event_type, order_id, payment_id, user_id, %reason, "webhook failed");
            alerts::raise(store, alerts::webhook_failing(webhook_id, event_type, reason)).await;
        }
        Settled::Retrying(at) => {
            let error = result.as_ref().err().map(ToString::to_string).unwrap_or_default();
            tracing::warn!(
                webhook_id,
                event_type,
                attempts = event.attempts + 1,
                next_attempt_at = %at,
                %error,
                "webhook apply failed; will retry"
            );
            // A transient failure that keeps coming (not a refund waiting for its payment).
            let transient = matches!(result, Err(ApplyError::Transient(_)));
            if transient && event.attempts + 1 >= alerts::FAILING_EVENT_ATTEMPTS {
                let detail = format!("{} failed attempts, the last: {error}", event.attempts + 1);
                alerts::raise(store, alerts::webhook_failing(webhook_id, event_type, &detail)).await;
            }
        }
        Settled::AlreadySettled => {}
    }
    Ok((settled, subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_cap() {
        let secs: Vec<u64> = (1..=MAX_ATTEMPTS).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(secs, [5, 30, 120, 600, 3600, 3600, 3600, 3600, 3600, 3600]);
        assert_eq!(retry_delay(0).as_secs(), 5);
    }
}
