//! A fresh delivery of a paid `payment.succeeded`, stored, credited and settled in one
//! transaction (`Store::deliver_payment`): the webhook route's common case, one commit instead
//! of three or four. What this path does not take (another event type, a payment that is not
//! paid, no matching order, a repeat of a credited payment, a hold, an error) has written
//! nothing, and the route stores it and applies it step by step (`process`), which records
//! every other outcome: failed with its reason, retrying, held for an admin.

use chrono::{DateTime, Utc};

use super::payments::find_order;
use super::{settle, Outcome, PaymentEvent, Settled, Subject};
use crate::server::service::orders::PaidPayment;
use crate::server::store::{Delivered, Fulfilment, NewWebhookEvent, Store, StoreError};
use crate::server::whop::types::{Payment, PaymentStatus, WebhookEnvelope};

/// What `deliver` did with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// This webhook id was stored before: nothing done (a repeat).
    Duplicate,
    /// Stored, credited and settled, committed together.
    Credited,
    /// Not for this path: nothing written; store and apply it step by step.
    NotTaken,
}

/// Takes a verified delivery through the one-transaction path when it is a paid payment for a
/// known order. An error means the transaction could not run (the database is unavailable):
/// nothing was stored.
pub async fn deliver(store: &dyn Store, event: &NewWebhookEvent, now: DateTime<Utc>) -> Result<Delivery, StoreError> {
    let Some((payment, fulfilment)) = paid_payment(store, event).await else {
        return Ok(Delivery::NotTaken);
    };
    let (order, entry, waiting) = match store.deliver_payment(event, &fulfilment, now).await? {
        Delivered::Duplicate => return Ok(Delivery::Duplicate),
        Delivered::NotCredited(why) => {
            tracing::debug!(webhook_id = %event.id, %why, "webhook not credited in one transaction; applying step by step");
            return Ok(Delivery::NotTaken);
        }
        Delivered::Credited { order, entry, waiting } => (order, entry, waiting),
    };
    // The same records as `orders::fulfil` and `process` leave for a credit.
    let subject = Subject::of(&payment, &order);
    tracing::info!(
        order_id = order.id,
        payment_id = %payment.id,
        user_id = order.user_id,
        credits = entry.amount,
        balance = entry.balance_after,
        via = ?crate::server::service::orders::Via::Webhook,
        "order credited"
    );
    crate::server::metrics::webhook_settled(&Settled::Processed(Outcome::Credited), &event.event_type);
    tracing::info!(
        webhook_id = %event.id,
        event_type = %event.event_type,
        order_id = order.id,
        payment_id = %payment.id,
        user_id = subject.user.map(|u| u.0),
        outcome = ?Outcome::Credited,
        "webhook applied"
    );
    // The refunds and disputes that arrived before their payment apply now. The credit is
    // committed whatever happens here: a failure leaves them due for the `webhook_apply` job.
    for waiting in waiting {
        if let Err(e) = settle(store, &waiting, now).await {
            tracing::warn!(webhook_id = %waiting.id, error = %e, "waiting event not applied; left for the retry job");
        }
    }
    Ok(Delivery::Credited)
}

/// The payment and what would credit its order, when the event is a paid `payment.succeeded`
/// whose order is found; `None` for anything the step-by-step path is to judge.
async fn paid_payment(store: &dyn Store, event: &NewWebhookEvent) -> Option<(Payment, Fulfilment)> {
    if PaymentEvent::parse(&event.event_type) != Some(PaymentEvent::Succeeded) {
        return None;
    }
    let envelope: WebhookEnvelope<Payment> = serde_json::from_str(&event.payload).ok()?;
    if envelope.event_type != event.event_type || envelope.data.status != Some(PaymentStatus::Paid) {
        return None;
    }
    let payment = envelope.data;
    let order = find_order(store, &payment).await.ok()?;
    // The raw text is kept only with an unmatched payment, which this path never records.
    let paid = PaidPayment::from_whop(&payment, String::new()).ok()?;
    let fulfilment = Fulfilment {
        order_id: order.order_id(),
        payment_id: paid.payment_id,
        amount_cents: paid.amount.get(),
        currency: paid.currency,
        paid_at: paid.paid_at,
    };
    Some((payment, fulfilment))
}
