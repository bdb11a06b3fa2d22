//! Orders and the one fulfil path. Whatever learns that a Whop payment succeeded (the webhook,
//! its repeats, the status page's confirmation with Whop, a later reconciliation) calls `fulfil`,
//! which credits the order exactly once (see `store::fulfil`). Also how an order looks to its owner.

use chrono::{DateTime, Utc};

use crate::model::{Cents, Credits, OrderId, OrderState, OrderView};
use crate::server::store::{
    FulfilOutcome, Fulfilment, NewUnmatchedPayment, OrderRow, Store, StoreError, UnmatchedKind,
};
use crate::server::whop::types::Payment;

/// A payment Whop reports as paid, in our terms (money already converted to cents), with what an
/// admin needs to know about it should it not be credited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidPayment {
    /// `pay_...`
    pub payment_id: String,
    pub amount: Cents,
    pub currency: String,
    pub paid_at: DateTime<Utc>,
    pub payer_email: Option<String>,
    pub whop_user_id: Option<String>,
    pub checkout_id: Option<String>,
    pub whop_plan_id: Option<String>,
    /// The webhook body or API object the payment was read from.
    pub raw: String,
}

impl PaidPayment {
    /// A payment known only by its id and money (tests, admin tools).
    pub fn new(payment_id: &str, amount: Cents, currency: &str, paid_at: DateTime<Utc>) -> PaidPayment {
        PaidPayment {
            payment_id: payment_id.to_owned(),
            amount,
            currency: currency.to_owned(),
            paid_at,
            payer_email: None,
            whop_user_id: None,
            checkout_id: None,
            whop_plan_id: None,
            raw: "{}".to_owned(),
        }
    }

    /// Whop's payment in our terms: amount (`total`, what the creator receives before fees),
    /// currency, and when it was paid (`paid_at`, else now). Whether it is paid is the caller's
    /// question.
    pub fn from_whop(p: &Payment, raw: String) -> Result<PaidPayment, String> {
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
        let user_field = |k: &str| {
            p.user
                .as_ref()
                .and_then(|u| u.get(k))
                .and_then(|v| v.as_str())
                .map(|v| v.chars().take(320).collect::<String>())
        };
        Ok(PaidPayment {
            payment_id: p.id.clone(),
            amount,
            currency: currency.to_owned(),
            paid_at,
            payer_email: user_field("email"),
            whop_user_id: user_field("id"),
            checkout_id: p.checkout_configuration_id.clone(),
            whop_plan_id: p.plan.as_ref().map(|r| r.id.clone()),
            raw,
        })
    }

    /// This payment queued for an admin, for `reason`.
    pub fn unmatched(&self, kind: UnmatchedKind, reason: &str, order: Option<OrderId>) -> NewUnmatchedPayment {
        NewUnmatchedPayment {
            payment_id: self.payment_id.clone(),
            kind,
            reason: reason.to_owned(),
            order_id: order,
            email: self.payer_email.clone(),
            amount_cents: self.amount.get(),
            currency: self.currency.clone(),
            checkout_id: self.checkout_id.clone(),
            whop_plan_id: self.whop_plan_id.clone(),
            whop_user_id: self.whop_user_id.clone(),
            raw_event: self.raw.clone(),
        }
    }
}

/// Who noticed the payment, for the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Webhook,
    Confirmation,
    Reconciliation,
    /// An admin attached an unmatched payment to a user.
    Admin,
}

/// Credits `order` for `payment`, once, ever. A payment the order holds (wrong amount or
/// currency, the order paid already) goes to the unmatched queue for an admin; a credited one
/// wakes the refunds and disputes that were waiting for it.
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
    match &outcome {
        FulfilOutcome::Held { order, reason } => {
            store
                .record_unmatched(&payment.unmatched(UnmatchedKind::Held, reason, Some(order.order_id())))
                .await?;
        }
        FulfilOutcome::Credited { .. } => {
            // Due now rather than at their next retry (the webhook path also applies them at once).
            let woken = store.wake_events_for_payment(&payment.payment_id, Utc::now()).await?;
            if woken > 0 {
                tracing::info!(payment_id = %payment.payment_id, events = woken, "woke events waiting for this payment");
            }
        }
        FulfilOutcome::AlreadyCredited { .. } => {}
    }
    Ok(outcome)
}

/// Where an order stands, from its row.
pub fn state_of(o: &OrderRow) -> OrderState {
    match (o.payment_method.as_str(), o.payment_status.as_str(), o.status.as_str()) {
        (_, "paid", _) if o.credited_at.is_some() => OrderState::Credited,
        (_, _, "approved") if o.payment_method == "manual" => OrderState::Credited,
        (_, _, "rejected") => OrderState::Rejected {
            reason: o.review_note.clone(),
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
