//! What happens when a buyer acts on the hosted checkout page (or the API refunds): payments,
//! refunds and disputes are created with Whop's field names and statuses, and each change is
//! queued as a webhook with a snapshot of the object at that moment.

use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use super::api::{bad_request, load, to_json, SimError};
use super::{new_id, now_iso, Simulator, ACCOUNT_ID};
use crate::model::Cents;
use crate::server::store::NewSimDelivery;
use crate::server::whop::types::{
    CheckoutConfiguration, Dispute, DisputeStatus, Payment, PaymentDispute, PaymentRefund, PaymentStatus,
    PaymentSubstatus, PaymentSummary, Plan, Ref, Refund, RefundStatus, WebhookEnvelope,
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
        let id = new_id("msg");
        let envelope = WebhookEnvelope {
            id: id.clone(),
            api_version: Some("v1".into()),
            event_type: event_type.to_string(),
            timestamp: Some(now_iso()),
            company_id: Some(ACCOUNT_ID.into()),
            data,
        };
        // The body's id and the webhook-id header are the same msg_ id.
        self.0.push((id, event_type.to_string(), to_json(&envelope)));
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
    let product = plan
        .product
        .as_ref()
        .and_then(|p| p.get("id"))
        .and_then(|v| v.as_str())
        .map(|id| Ref {
            id: id.into(),
            metadata: None,
        });
    let total = plan.initial_price.unwrap_or(Cents::ZERO);
    let now = now_iso();

    let mut batch = Batch::default();
    let mut payment = Payment {
        id: new_id("pay"),
        status: Some(PaymentStatus::Open),
        substatus: Some(PaymentSubstatus::Pending),
        total: Some(total),
        subtotal: Some(total),
        refunded_amount: None,
        currency: plan.currency.clone().or(Some("usd".into())),
        metadata: checkout.metadata.clone(),
        checkout_configuration_id: Some(checkout.id.clone()),
        plan: Some(Ref {
            id: plan.id.clone(),
            metadata: plan.metadata.clone(),
        }),
        product,
        user: Some(
            serde_json::json!({ "id": "user_simulated", "email": "buyer@example.com", "name": "Test Buyer", "username": "testbuyer" }),
        ),
        paid_at: None,
        refunded_at: None,
        created_at: Some(now.clone()),
        updated_at: Some(now.clone()),
        failure_message: None,
        refunds: Some(Vec::new()),
        disputes: Some(Vec::new()),
    };
    save_payment(sim, &payment).await?;
    batch.add("payment.created", &payment);

    if action == CheckoutAction::Decline {
        payment.substatus = Some(PaymentSubstatus::Failed);
        payment.failure_message = Some("Your card was declined.".into());
        payment.updated_at = Some(now_iso());
        save_payment(sim, &payment).await?;
        batch.add("payment.failed", &payment);
        batch.enqueue(sim).await?;
        return Ok(payment);
    }

    payment.status = Some(PaymentStatus::Paid);
    payment.substatus = Some(PaymentSubstatus::Succeeded);
    payment.paid_at = Some(now_iso());
    payment.updated_at = payment.paid_at.clone();
    save_payment(sim, &payment).await?;
    batch.add("payment.succeeded", &payment);

    match action {
        CheckoutAction::PayThenRefund => refund_into(sim, &mut payment, None, &mut batch).await?,
        CheckoutAction::PayThenPartialRefund => {
            refund_into(sim, &mut payment, Some(Cents(total.get() / 2)), &mut batch).await?
        }
        CheckoutAction::DisputeWon | CheckoutAction::DisputeLost => {
            let won = action == CheckoutAction::DisputeWon;
            let mut dispute = Dispute {
                id: new_id("dspt"),
                amount: total,
                currency: payment.currency.clone(),
                status: DisputeStatus::NeedsResponse,
                reason: Some("fraudulent".into()),
                created_at: Some(now_iso()),
                payment: Some(PaymentSummary::from(&payment)),
            };
            payment.substatus = Some(PaymentSubstatus::DisputeNeedsResponse);
            payment.disputes = Some(vec![PaymentDispute {
                id: dispute.id.clone(),
                amount: total,
                status: dispute.status,
                reason: dispute.reason.clone(),
            }]);
            save_payment(sim, &payment).await?;
            sim.store.sim_insert("dispute", &dispute.id, &to_json(&dispute)).await?;
            batch.add("dispute.created", &dispute);

            dispute.status = if won { DisputeStatus::Won } else { DisputeStatus::Lost };
            payment.substatus = Some(if won {
                PaymentSubstatus::DisputeWon
            } else {
                PaymentSubstatus::DisputeLost
            });
            payment.disputes = Some(vec![PaymentDispute {
                id: dispute.id.clone(),
                amount: total,
                status: dispute.status,
                reason: dispute.reason.clone(),
            }]);
            payment.updated_at = Some(now_iso());
            save_payment(sim, &payment).await?;
            sim.store.sim_update("dispute", &dispute.id, &to_json(&dispute)).await?;
            batch.add("dispute.updated", &dispute);
        }
        _ => {}
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
    let mut refund = Refund {
        id: new_id("rf"),
        amount,
        currency: payment.currency.clone(),
        status: RefundStatus::Pending,
        created_at: Some(now_iso()),
        payment: Some(PaymentSummary::from(&*payment)),
    };
    sim.store.sim_insert("refund", &refund.id, &to_json(&refund)).await?;
    batch.add("refund.created", &refund);

    refund.status = RefundStatus::Succeeded;
    let refunded = Cents(refunded.get() + amount.get());
    payment.refunded_amount = Some(refunded);
    payment.refunded_at = Some(now_iso());
    payment.substatus = Some(if refunded == total {
        PaymentSubstatus::Refunded
    } else {
        PaymentSubstatus::PartiallyRefunded
    });
    payment.updated_at = payment.refunded_at.clone();
    let mut refunds = payment.refunds.take().unwrap_or_default();
    refunds.insert(
        0,
        PaymentRefund {
            id: refund.id.clone(),
            amount,
            currency: refund.currency.clone(),
            status: refund.status,
            created_at: refund.created_at.clone(),
        },
    );
    payment.refunds = Some(refunds);
    save_payment(sim, payment).await?;
    sim.store.sim_update("refund", &refund.id, &to_json(&refund)).await?;
    batch.add("refund.updated", &refund);
    Ok(())
}

/// How long after a failed attempt the next one is due, or None when retries are used up.
pub fn next_retry(schedule: &[Duration], attempts_so_far: usize) -> Option<Duration> {
    schedule.get(attempts_so_far.checked_sub(1)?).copied()
}
