//! What happens when a buyer acts on the hosted checkout page (or the API refunds): payments,
//! refunds and disputes move through Whop's statuses, and each change is queued as a webhook
//! with a snapshot of the object at that moment (objects are made in `objects`, shaped by `wire`).

use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use super::api::{bad_request, load, to_json, SimError};
use super::objects::{new_dispute, new_payment, new_refund};
use super::wire::{DisputePayment, Envelope, MembershipStatus, Payment, RefundPayment};
use super::{new_id, now_iso, Simulator, ACCOUNT_ID};
use crate::model::Cents;
use crate::server::store::NewSimDelivery;
use crate::server::whop::types::{
    CheckoutConfiguration, DisputeStatus, PaymentStatus, PaymentSubstatus, Plan, Product, RefundStatus,
};

/// The buttons of the hosted checkout page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutAction {
    Pay,
    Decline,
    PayThenRefund,
    PayThenPartialRefund,
    DisputeWon,
    DisputeLost,
}

impl CheckoutAction {
    pub const ALL: [CheckoutAction; 6] = [
        CheckoutAction::Pay,
        CheckoutAction::Decline,
        CheckoutAction::PayThenRefund,
        CheckoutAction::PayThenPartialRefund,
        CheckoutAction::DisputeWon,
        CheckoutAction::DisputeLost,
    ];

    pub fn key(self) -> &'static str {
        match self {
            CheckoutAction::Pay => "pay",
            CheckoutAction::Decline => "decline",
            CheckoutAction::PayThenRefund => "pay_refund",
            CheckoutAction::PayThenPartialRefund => "pay_partial_refund",
            CheckoutAction::DisputeWon => "dispute_won",
            CheckoutAction::DisputeLost => "dispute_lost",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CheckoutAction::Pay => "Pay",
            CheckoutAction::Decline => "Decline the card",
            CheckoutAction::PayThenRefund => "Pay, then refund in full",
            CheckoutAction::PayThenPartialRefund => "Pay, then refund half",
            CheckoutAction::DisputeWon => "Pay, then dispute (won)",
            CheckoutAction::DisputeLost => "Pay, then dispute (lost)",
        }
    }

    pub fn parse(s: &str) -> Option<CheckoutAction> {
        CheckoutAction::ALL.into_iter().find(|a| a.key() == s)
    }
}

/// Events of one action, sent together (so delivery modes apply to the batch).
#[derive(Default)]
struct Batch(Vec<(String, String, String)>); // (webhook id, event type, body)

impl Batch {
    fn add<T: Serialize>(&mut self, event_type: &str, data: &T) {
        // The body's id and the webhook-id header are the same msg_ id.
        let id = new_id("msg");
        let body = to_json(&Envelope {
            id: &id,
            api_version: "v1",
            data,
            timestamp: now_iso(),
            event_type,
            company_id: ACCOUNT_ID,
        });
        self.0.push((id, event_type.to_string(), body));
    }

    async fn enqueue(self, sim: &Simulator) -> Result<(), SimError> {
        let mode = sim.delivery_mode();
        let n = self.0.len();
        let start = Utc::now() + chrono::Duration::milliseconds(mode.delay_ms as i64);
        for (i, (webhook_id, event_type, payload)) in self.0.into_iter().enumerate() {
            // In order: 20 ms apart; reordered: newest first.
            let slot = if mode.reorder { n - 1 - i } else { i };
            let due_at = start + chrono::Duration::milliseconds(20 * slot as i64);
            let copies = if mode.duplicate { 2 } else { 1 };
            for _ in 0..copies {
                sim.store
                    .sim_enqueue(&NewSimDelivery {
                        webhook_id: webhook_id.clone(),
                        event_type: event_type.clone(),
                        payload: payload.clone(),
                        status: if mode.drop { "dropped" } else { "pending" },
                        due_at,
                    })
                    .await?;
            }
        }
        Ok(())
    }
}

async fn save_payment(sim: &Simulator, p: &Payment) -> Result<(), SimError> {
    if !sim.store.sim_update("payment", &p.id, &to_json(p)).await? {
        sim.store.sim_insert("payment", &p.id, &to_json(p)).await?;
    }
    Ok(())
}

/// Runs a checkout-page action; returns the payment it made.
pub async fn run(sim: &Simulator, checkout_id: &str, action: CheckoutAction) -> Result<Payment, SimError> {
    let checkout: CheckoutConfiguration = load(sim, "checkout", checkout_id).await?;
    let plan_id = checkout
        .plan
        .as_ref()
        .and_then(|p| p.get("id"))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let plan: Plan = load(sim, "plan", &plan_id).await?;
    let product = match plan.product.as_ref().and_then(|p| p.get("id")).and_then(|v| v.as_str()) {
        Some(id) => Some(load::<Product>(sim, "product", id).await?),
        None => None,
    };

    let mut batch = Batch::default();
    let mut payment = new_payment(&checkout, &plan, product.as_ref(), &now_iso());
    save_payment(sim, &payment).await?;
    batch.add("payment.created", &payment);

    let attempt = now_iso();
    payment.last_payment_attempt = Some(attempt.clone());
    payment.updated_at = attempt.clone();
    if action == CheckoutAction::Decline {
        payment.substatus = PaymentSubstatus::Failed;
        payment.failure_message = Some("Your card was declined.".into());
        payment.payments_failed = Some(1);
        save_payment(sim, &payment).await?;
        batch.add("payment.failed", &payment);
        batch.enqueue(sim).await?;
        return Ok(payment);
    }

    payment.status = Some(PaymentStatus::Paid);
    payment.substatus = PaymentSubstatus::Succeeded;
    payment.paid_at = Some(attempt);
    payment.refundable = true;
    if let Some(m) = payment.membership.as_mut() {
        m.status = MembershipStatus::Active;
    }
    save_payment(sim, &payment).await?;
    batch.add("payment.succeeded", &payment);

    let total = payment.total.unwrap_or(Cents::ZERO);
    match action {
        CheckoutAction::PayThenRefund => refund_into(sim, &mut payment, None, &mut batch).await?,
        CheckoutAction::PayThenPartialRefund => {
            refund_into(sim, &mut payment, Some(Cents(total.get() / 2)), &mut batch).await?
        }
        CheckoutAction::DisputeWon | CheckoutAction::DisputeLost => {
            let won = action == CheckoutAction::DisputeWon;
            let mut dispute = new_dispute(&payment, Utc::now());
            payment.substatus = PaymentSubstatus::DisputeNeedsResponse;
            payment.disputes = vec![dispute.listed()];
            payment.updated_at = dispute.created_at.clone().unwrap_or_else(now_iso);
            save_payment(sim, &payment).await?;
            sim.store.sim_insert("dispute", &dispute.id, &to_json(&dispute)).await?;
            batch.add("dispute.created", &dispute);

            // Decided without evidence: the window to respond is closed either way.
            dispute.status = if won { DisputeStatus::Won } else { DisputeStatus::Lost };
            dispute.editable = Some(false);
            payment.substatus = if won {
                PaymentSubstatus::DisputeWon
            } else {
                PaymentSubstatus::DisputeLost
            };
            payment.disputes = vec![dispute.listed()];
            payment.updated_at = now_iso();
            dispute.payment = Some(DisputePayment::from(&payment));
            save_payment(sim, &payment).await?;
            sim.store.sim_update("dispute", &dispute.id, &to_json(&dispute)).await?;
            batch.add("dispute.updated", &dispute);
        }
        CheckoutAction::Pay | CheckoutAction::Decline => {}
    }
    batch.enqueue(sim).await?;
    Ok(payment)
}

/// `POST /payments/{id}/refund`: the rest of the payment, or `partial` of it.
pub async fn refund(sim: &Simulator, payment_id: &str, partial: Option<Cents>) -> Result<Payment, SimError> {
    let mut payment: Payment = load(sim, "payment", payment_id).await?;
    let mut batch = Batch::default();
    refund_into(sim, &mut payment, partial, &mut batch).await?;
    batch.enqueue(sim).await?;
    Ok(payment)
}

async fn refund_into(
    sim: &Simulator,
    payment: &mut Payment,
    partial: Option<Cents>,
    batch: &mut Batch,
) -> Result<(), SimError> {
    if payment.status != Some(PaymentStatus::Paid) {
        return Err(bad_request("only paid payments can be refunded"));
    }
    // As with the card networks behind Whop (Stripe refuses `charge_disputed`), a payment under
    // dispute, or lost to one, cannot be refunded: the dispute decides where the money goes. A
    // won dispute frees it again.
    if payment
        .disputes
        .iter()
        .any(|d| !matches!(d.status, DisputeStatus::Won | DisputeStatus::WarningClosed))
    {
        return Err(bad_request("a disputed payment cannot be refunded"));
    }
    let total = payment.total.unwrap_or(Cents::ZERO);
    let refunded = payment.refunded_amount.unwrap_or(Cents::ZERO);
    let left = Cents(total.get() - refunded.get());
    let amount = partial.unwrap_or(left);
    if amount.get() <= 0 || amount > left {
        return Err(bad_request(format!(
            "refund amount must be more than 0 and at most {}",
            crate::server::whop::money::format_major(left)
        )));
    }
    let mut refund = new_refund(payment, amount, &now_iso());
    sim.store.sim_insert("refund", &refund.id, &to_json(&refund)).await?;
    batch.add("refund.created", &refund);

    refund.status = RefundStatus::Succeeded;
    let refunded = Cents(refunded.get() + amount.get());
    let now = now_iso();
    payment.refunded_amount = Some(refunded);
    payment.refunded_at = Some(now.clone());
    payment.substatus = if refunded == total {
        PaymentSubstatus::Refunded
    } else {
        PaymentSubstatus::PartiallyRefunded
    };
    payment.refundable = refunded < total;
    payment.updated_at = now;
    payment.refunds.insert(0, refund.listed());
    refund.payment = Some(RefundPayment::from(&*payment));
    save_payment(sim, payment).await?;
    sim.store.sim_update("refund", &refund.id, &to_json(&refund)).await?;
    batch.add("refund.updated", &refund);
    Ok(())
}

/// How long after a failed attempt the next one is due, or None when retries are used up.
pub fn next_retry(schedule: &[Duration], attempts_so_far: usize) -> Option<Duration> {
    schedule.get(attempts_so_far.checked_sub(1)?).copied()
}
