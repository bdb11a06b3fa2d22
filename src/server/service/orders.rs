//! Orders and the one fulfil path. Whatever learns that a Whop payment succeeded (the webhook,
//! its repeats, the status page's confirmation with Whop, a later reconciliation) calls `fulfil`,
//! which credits the order exactly once (see `store::fulfil`). Also how an order looks to its owner.

use chrono::{DateTime, Utc};

use crate::model::{Cents, Credits, OrderId, OrderState, OrderView};
use crate::server::store::{FulfilOutcome, Fulfilment, OrderRow, Store, StoreError};

/// A payment Whop reports as paid, in our terms (money already converted to cents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidPayment {
    /// `pay_...`
    pub payment_id: String,
    pub amount: Cents,
    pub currency: String,
    pub paid_at: DateTime<Utc>,
}

/// Who noticed the payment, for the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Webhook,
    Confirmation,
    Reconciliation,
}

/// Credits `order` for `payment`, once, ever.
pub async fn fulfil(
    store: &dyn Store,
    order: OrderId,
    payment: &PaidPayment,
    via: Via,
) -> Result<FulfilOutcome, StoreError> {
    let outcome = store
        .fulfil_order(&Fulfilment {
            order_id: order,
            payment_id: payment.payment_id.clone(),
            amount_cents: payment.amount.get(),
            currency: payment.currency.clone(),
            paid_at: payment.paid_at,
        })
        .await?;
    match &outcome {
        FulfilOutcome::Credited { order, entry } => tracing::info!(
            order_id = order.id,
            payment_id = %payment.payment_id,
            user_id = order.user_id,
            credits = entry.amount,
            balance = entry.balance_after,
            ?via,
            "order credited"
        ),
        FulfilOutcome::AlreadyCredited { order, .. } => tracing::info!(
            order_id = order.id,
            payment_id = %payment.payment_id,
            user_id = order.user_id,
            ?via,
            "payment already credited"
        ),
        FulfilOutcome::Held { order, reason } => tracing::warn!(
            order_id = order.id,
            payment_id = %payment.payment_id,
            user_id = order.user_id,
            reason = %reason,
            ?via,
            "payment held for an admin"
        ),
    }
    Ok(outcome)
}

/// Where an order stands, from its row.
pub fn state_of(o: &OrderRow) -> OrderState {
    match (o.payment_method.as_str(), o.payment_status.as_str(), o.status.as_str()) {
        (_, "paid", _) if o.credited_at.is_some() => OrderState::Credited,
        (_, _, "approved") if o.payment_method == "manual" => OrderState::Credited,
        (_, _, "rejected") => OrderState::Other {
            label: "Rejected".into(),
        },
        (_, _, "cancelled") => OrderState::Other {
            label: "Cancelled".into(),
        },
        (_, "pending", _) | (_, "paid", _) if o.hold_reason.is_some() => OrderState::Held,
        ("manual", "pending", _) => OrderState::AwaitingAdmin,
        (_, "pending", _) => OrderState::AwaitingPayment,
        (_, "failed", _) => OrderState::Failed {
            reason: o.failure_message.clone(),
        },
        (_, "refunded", _) => OrderState::Other {
            label: "Refunded".into(),
        },
        (_, "partially_refunded", _) => OrderState::Other {
            label: "Partially refunded".into(),
        },
        (_, "disputed", _) => OrderState::Other {
            label: "Disputed".into(),
        },
        (_, other, _) => OrderState::Other {
            label: other.to_string(),
        },
    }
}

pub fn view(o: &OrderRow) -> OrderView {
    OrderView {
        id: o.id,
        plan_name: o.plan_name.clone(),
        credits: Credits(o.credits_amount),
        price: Cents(o.price_cents),
        currency: o.currency.clone(),
        payment_method: o.payment_method.clone(),
        state: state_of(o),
        created_at: o.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}
