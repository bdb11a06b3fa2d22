//! Applying stored Whop webhook events to orders and the ledger. The route stores a delivery
//! first and then applies it at once; the `webhook_apply` job applies whatever is still pending
//! (a crash between storing and applying, or a transient failure waiting for its retry time).
//! Both go through `process`, so an event is applied by the same code whoever gets to it, and
//! two of them racing on one event end in one grant (fulfil is idempotent; only a pending event
//! is settled).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::model::{OrderId, UserId};
use crate::server::service::orders::{self, PaidPayment, Via};
use crate::server::store::dispute::DisputeStage;
use crate::server::store::{
    DisputeApplication, DisputeOutcome, FulfilOutcome, OrderRow, RefundApplication, RefundOutcome, Store, StoreError,
    WebhookEventRow,
};
use crate::server::whop::types::{
    Dispute, DisputeStatus, Payment, PaymentStatus, PaymentSummary, Refund, RefundStatus, WebhookEnvelope,
};

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

/// Longest failure message copied from Whop onto an order (it is shown to the buyer).
const MAX_FAILURE_MESSAGE: usize = 500;

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
    /// far): retried on the same schedule as a transient failure, but never given up on, so
    /// the refund applies once the payment has.
    #[error("waiting: {0}")]
    Waiting(String),
    /// Trying again would give the same answer: the event is `failed` with this reason (a held
    /// payment, no matching order, a malformed payload).
    #[error("{reason}")]
    Permanent { reason: String, subject: Subject },
}

impl ApplyError {
    fn permanent(reason: impl Into<String>, subject: Subject) -> ApplyError {
        ApplyError::Permanent {
            reason: reason.into(),
            subject,
        }
    }
}

/// A store failure while applying. Every database error counts as transient (busy, locked,
/// restarting, unreachable): retrying a genuinely bad write only delays its `failed` by the
/// retry schedule, while treating a passing outage as permanent would lose a payment.
fn from_store(e: StoreError, subject: &Subject) -> ApplyError {
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
    if matches!(kind, "refund.created" | "refund.updated") {
        return refund(store, event, kind).await;
    }
    if matches!(kind, "dispute.created" | "dispute.updated") {
        return dispute(store, event, kind).await;
    }
    if !matches!(
        kind,
        "payment.succeeded" | "payment.failed" | "payment.pending" | "payment.created"
    ) {
        return Ok(Applied {
            outcome: Outcome::Ignored,
            subject: Subject::default(),
        });
    }
    let envelope: WebhookEnvelope<Payment> = envelope(event, kind)?;
    let payment = envelope.data;
    let order = find_order(store, &payment).await?;
    let subject = Subject::of(&payment, &order);

    match kind {
        "payment.succeeded" => succeeded(store, &payment, &order, subject).await,
        "payment.failed" => failed(store, &payment, &order, subject).await,
        _ => Ok(Applied {
            outcome: Outcome::Recorded,
            subject,
        }),
    }
}

async fn succeeded(
    store: &dyn Store,
    payment: &Payment,
    order: &OrderRow,
    subject: Subject,
) -> Result<Applied, ApplyError> {
    if payment.status != Some(PaymentStatus::Paid) {
        return Ok(Applied {
            outcome: Outcome::NotPaid,
            subject,
        });
    }
    let paid = paid_payment(payment).map_err(|reason| ApplyError::permanent(reason, subject.clone()))?;
    match orders::fulfil(store, order.order_id(), &paid, Via::Webhook).await {
        Ok(FulfilOutcome::Credited { .. }) => Ok(Applied {
            outcome: Outcome::Credited,
            subject,
        }),
        Ok(FulfilOutcome::AlreadyCredited { .. }) => Ok(Applied {
            outcome: Outcome::AlreadyCredited,
            subject,
        }),
        Ok(FulfilOutcome::Held { reason, .. }) => Err(ApplyError::permanent(reason, subject)),
        Err(e) => Err(from_store(e, &subject)),
    }
}

async fn failed(
    store: &dyn Store,
    payment: &Payment,
    order: &OrderRow,
    subject: Subject,
) -> Result<Applied, ApplyError> {
    if order.payment_method != "whop" {
        return Err(ApplyError::permanent("not a Whop order", subject));
    }
    let message = payment
        .failure_message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| m.chars().take(MAX_FAILURE_MESSAGE).collect::<String>())
        .unwrap_or_else(|| "Payment failed".to_owned());
    let changed = store
        .fail_order(order.order_id(), &message)
        .await
        .map_err(|e| from_store(e, &subject))?;
    Ok(Applied {
        outcome: if changed {
            Outcome::OrderFailed
        } else {
            Outcome::PaidOrderKept
        },
        subject,
    })
}

/// `refund.created` / `refund.updated`: a succeeded refund claws back its share of the credits
/// of the order its payment (`data.payment.id`, never metadata) credited.
async fn refund(store: &dyn Store, event: &WebhookEventRow, kind: &str) -> Result<Applied, ApplyError> {
    let envelope: WebhookEnvelope<Refund> = envelope(event, kind)?;
    let refund = envelope.data;
    let payment_id = embedded_payment_id(refund.payment.as_ref(), "refund")?;
    let subject = Subject {
        payment_id: Some(payment_id.to_owned()),
        ..Subject::default()
    };
    if refund.status != RefundStatus::Succeeded {
        // Only money actually returned takes credits back; its `refund.updated` follows.
        return Ok(Applied {
            outcome: Outcome::RefundNotSucceeded,
            subject,
        });
    }
    let currency = refund
        .currency
        .as_deref()
        .or(refund.payment.as_ref().and_then(|p| p.currency.as_deref()))
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApplyError::permanent("refund has no currency", subject.clone()))?;
    let application = RefundApplication {
        refund_id: refund.id.clone(),
        payment_id: payment_id.to_owned(),
        amount_cents: refund.amount.get(),
        currency: currency.to_owned(),
    };
    let with_order = |order: &OrderRow| Subject {
        order: Some(order.order_id()),
        user: Some(order.user_id()),
        ..subject.clone()
    };
    match store.refund_order(&application).await {
        Ok(RefundOutcome::ClawedBack { order, .. }) => Ok(Applied {
            outcome: Outcome::ClawedBack,
            subject: with_order(&order),
        }),
        Ok(RefundOutcome::AlreadyApplied { order }) => Ok(Applied {
            outcome: Outcome::RefundAlreadyApplied,
            subject: with_order(&order),
        }),
        Ok(RefundOutcome::PaymentNotCredited) => Err(ApplyError::Waiting(format!(
            "refund {} waits for payment {payment_id} to be credited",
            refund.id
        ))),
        Ok(RefundOutcome::Refused { order, reason }) => Err(ApplyError::permanent(reason, with_order(&order))),
        Err(e) => Err(from_store(e, &subject)),
    }
}

/// What a dispute status means for the credits: won (or a warning closed without a chargeback)
/// releases the hold, lost keeps it; anything else, `closed` without a verdict included, holds
/// until Whop says more.
fn dispute_stage(status: DisputeStatus) -> DisputeStage {
    match status {
        DisputeStatus::Won | DisputeStatus::WarningClosed => DisputeStage::Won,
        DisputeStatus::Lost => DisputeStage::Lost,
        _ => DisputeStage::Open,
    }
}

/// `dispute.created` / `dispute.updated`: hold, release or keep the credits of the order its
/// payment (`data.payment.id`, never metadata) credited.
async fn dispute(store: &dyn Store, event: &WebhookEventRow, kind: &str) -> Result<Applied, ApplyError> {
    let envelope: WebhookEnvelope<Dispute> = envelope(event, kind)?;
    let dispute = envelope.data;
    let payment_id = embedded_payment_id(dispute.payment.as_ref(), "dispute")?;
    let subject = Subject {
        payment_id: Some(payment_id.to_owned()),
        ..Subject::default()
    };
    let application = DisputeApplication {
        dispute_id: dispute.id.clone(),
        payment_id: payment_id.to_owned(),
        stage: dispute_stage(dispute.status),
    };
    let with_order = |order: &OrderRow| Subject {
        order: Some(order.order_id()),
        user: Some(order.user_id()),
        ..subject.clone()
    };
    match store.dispute_order(&application).await {
        Ok(DisputeOutcome::Applied { order }) => Ok(Applied {
            outcome: Outcome::DisputeApplied,
            subject: with_order(&order),
        }),
        Ok(DisputeOutcome::Unchanged { order }) => Ok(Applied {
            outcome: Outcome::DisputeUnchanged,
            subject: with_order(&order),
        }),
        Ok(DisputeOutcome::PaymentNotCredited) => Err(ApplyError::Waiting(format!(
            "dispute {} waits for payment {payment_id} to be credited",
            dispute.id
        ))),
        Err(e) => Err(from_store(e, &subject)),
    }
}

/// The order a payment is for: `metadata.order_id` (set by our checkout), else the checkout
/// configuration it was paid through. When both are there they must name the same order.
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

/// The `pay_` id of the payment a refund or dispute embeds (how they are matched to orders).
fn embedded_payment_id<'a>(payment: Option<&'a PaymentSummary>, what: &str) -> Result<&'a str, ApplyError> {
    payment
        .map(|p| p.id.trim())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApplyError::permanent(format!("{what} names no payment"), Subject::default()))
}

async fn find_order(store: &dyn Store, payment: &Payment) -> Result<OrderRow, ApplyError> {
    let partial = Subject {
        payment_id: Some(payment.id.clone()),
        ..Subject::default()
    };
    let by_metadata = metadata_order_id(payment.metadata.as_ref())
        .map_err(|reason| ApplyError::permanent(reason, partial.clone()))?;
    let checkout = payment.checkout_configuration_id.as_deref().filter(|c| !c.is_empty());
    let store_err = |e| from_store(e, &partial);

    let order = match (by_metadata, checkout) {
        (Some(id), checkout) => {
            let order = store.order_by_id(id).await.map_err(store_err)?;
            let Some(order) = order else {
                return Err(ApplyError::permanent("no matching order", partial));
            };
            if let Some(checkout) = checkout {
                let recorded = order.whop_checkout_id.as_deref();
                let other = match recorded {
                    Some(c) => (c != checkout).then(|| c.to_owned()),
                    // The order has no checkout on record (its creation stopped half-way); the
                    // checkout must then not belong to another order.
                    None => store
                        .order_by_checkout_id(checkout)
                        .await
                        .map_err(store_err)?
                        .filter(|o| o.id != order.id)
                        .map(|o| format!("order {}", o.id)),
                };
                if let Some(other) = other {
                    let subject = Subject {
                        order: Some(order.order_id()),
                        user: Some(order.user_id()),
                        ..partial
                    };
                    return Err(ApplyError::permanent(
                        format!(
                            "metadata names order {} but checkout {checkout} belongs to {other}: not credited",
                            order.id
                        ),
                        subject,
                    ));
                }
            }
            order
        }
        (None, Some(checkout)) => store
            .order_by_checkout_id(checkout)
            .await
            .map_err(store_err)?
            .ok_or_else(|| ApplyError::permanent("no matching order", partial.clone()))?,
        (None, None) => return Err(ApplyError::permanent("no matching order", partial)),
    };
    Ok(order)
}

/// `metadata.order_id` when present: a positive integer, as a JSON integer or as its decimal
/// digits in a string (no sign, spaces or leading zeros). Anything else there is refused rather
/// than guessed at.
fn metadata_order_id(metadata: Option<&Value>) -> Result<Option<OrderId>, String> {
    let refused = |v: &Value| {
        let shown: String = v.to_string().chars().take(40).collect();
        format!("metadata.order_id is not an order id: {shown}")
    };
    let Some(value) = metadata.and_then(|m| m.get("order_id")) else {
        return Ok(None);
    };
    let id = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let canonical = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0');
            canonical.then(|| s.parse::<i64>().ok()).flatten()
        }
        _ => None,
    };
    match id {
        Some(id) if id > 0 => Ok(Some(OrderId(id))),
        _ => Err(refused(value)),
    }
}

/// The payment in our terms: amount (`total`, what the creator receives before fees), currency,
/// and when it was paid (`paid_at`, else now).
fn paid_payment(p: &Payment) -> Result<PaidPayment, String> {
    let amount = p.total.ok_or("payment has no total")?;
    let currency = p
        .currency
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or("payment has no currency")?;
    let paid_at = p
        .paid_at
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(Utc::now);
    Ok(PaidPayment {
        payment_id: p.id.clone(),
        amount,
        currency: currency.to_owned(),
        paid_at,
    })
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
pub async fn process(store: &dyn Store, event: &WebhookEventRow, now: DateTime<Utc>) -> Result<Settled, StoreError> {
    let webhook_id = event.id.as_str();
    let event_type = event.event_type.as_str();
    let result = apply(store, event).await;
    let (settled, won) = match &result {
        Ok(Applied {
            outcome: Outcome::Ignored,
            ..
        }) => {
            let won = store
                .settle_webhook_event(webhook_id, "ignored", None, None, now)
                .await?;
            (Settled::Ignored, won)
        }
        Ok(Applied { outcome, subject }) => {
            let won = store
                .settle_webhook_event(webhook_id, "processed", None, subject.order, now)
                .await?;
            (Settled::Processed(*outcome), won)
        }
        Err(ApplyError::Permanent { reason, subject }) => {
            let won = store
                .settle_webhook_event(webhook_id, "failed", Some(reason), subject.order, now)
                .await?;
            (Settled::Failed(reason.clone()), won)
        }
        Err(ApplyError::Transient(error)) => {
            let attempts = event.attempts.saturating_add(1);
            if attempts >= MAX_ATTEMPTS {
                let reason = format!("gave up after {attempts} attempts: {error}");
                let won = store
                    .settle_webhook_event(webhook_id, "failed", Some(&reason), None, now)
                    .await?;
                (Settled::Failed(reason), won)
            } else {
                let at = now + chrono::Duration::from_std(retry_delay(attempts)).unwrap_or_default();
                store.retry_webhook_event(webhook_id, error, at).await?;
                (Settled::Retrying(at), true)
            }
        }
        Err(ApplyError::Waiting(reason)) => {
            let attempts = event.attempts.saturating_add(1);
            let at = now + chrono::Duration::from_std(retry_delay(attempts)).unwrap_or_default();
            store.retry_webhook_event(webhook_id, reason, at).await?;
            (Settled::Retrying(at), true)
        }
    };
    let subject = match &result {
        Ok(a) => a.subject.clone(),
        Err(ApplyError::Permanent { subject, .. }) => subject.clone(),
        Err(ApplyError::Transient(_) | ApplyError::Waiting(_)) => Subject::default(),
    };
    let order_id = subject.order.map(|o| o.0);
    let user_id = subject.user.map(|u| u.0);
    let payment_id = subject.payment_id.as_deref();
    if !won {
        tracing::info!(
            webhook_id,
            event_type,
            order_id,
            payment_id,
            user_id,
            "webhook event settled elsewhere"
        );
        return Ok(Settled::AlreadySettled);
    }
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
            tracing::warn!(webhook_id, event_type, order_id, payment_id, user_id, %reason, "webhook failed")
        }
        Settled::Retrying(at) => tracing::warn!(
            webhook_id,
            event_type,
            attempts = event.attempts + 1,
            next_attempt_at = %at,
            error = %result.as_ref().err().map(ToString::to_string).unwrap_or_default(),
            "webhook apply failed; will retry"
        ),
        Settled::AlreadySettled => {}
    }
    Ok(settled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_order_ids_are_parsed_strictly() {
        let id = |v: Value| metadata_order_id(Some(&json!({ "order_id": v })));
        assert_eq!(id(json!("42")), Ok(Some(OrderId(42))));
        assert_eq!(id(json!(42)), Ok(Some(OrderId(42))));
        assert_eq!(id(Value::Null), Ok(None));
        assert_eq!(metadata_order_id(None), Ok(None));
        assert_eq!(metadata_order_id(Some(&json!({ "user_id": "1" }))), Ok(None));
        assert_eq!(metadata_order_id(Some(&json!("not an object"))), Ok(None));
        for bad in [
            json!(""),
            json!("0"),
            json!("042"),
            json!("+42"),
            json!("-42"),
            json!(" 42"),
            json!("42 "),
            json!("4_2"),
            json!("42.0"),
            json!("99999999999999999999"),
            json!(0),
            json!(-3),
            json!(42.0),
            json!(4.2),
            json!(true),
            json!(["42"]),
            json!({ "id": 42 }),
        ] {
            assert!(id(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn retries_back_off_and_cap() {
        let secs: Vec<u64> = (1..=MAX_ATTEMPTS).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(secs, [5, 30, 120, 600, 3600, 3600, 3600, 3600, 3600, 3600]);
        assert_eq!(retry_delay(0).as_secs(), 5);
    }

    #[test]
    fn paid_payments_need_a_total_and_a_currency() {
        // Money is read from the raw JSON text (exact decimals), so parse text, not a Value.
        let p: Payment = serde_json::from_str(
            r#"{"id":"pay_1","status":"paid","total":7.5,"currency":"usd","paid_at":"2026-01-02T03:04:05Z"}"#,
        )
        .unwrap();
        let paid = paid_payment(&p).unwrap();
        assert_eq!(paid.amount.get(), 750);
        assert_eq!(paid.paid_at.to_rfc3339(), "2026-01-02T03:04:05+00:00");
        let no_time = Payment {
            paid_at: Some("yesterday".into()),
            ..p.clone()
        };
        let before = Utc::now();
        assert!(paid_payment(&no_time).unwrap().paid_at >= before);
        assert!(paid_payment(&Payment {
            total: None,
            ..p.clone()
        })
        .is_err());
        assert!(paid_payment(&Payment {
            currency: Some(String::new()),
            ..p
        })
        .is_err());
    }
}
