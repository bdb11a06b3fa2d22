//! The refund (`refund.created` / `refund.updated` data): the payment inside it is a summary of
//! its own shape (`RefundCreatedWebhookEvent.Data.Payment`), with the payment's metadata but
//! without its lists, company or payment method.

use serde::Serialize;
use serde_json::Value;

use super::{Member, MembershipSummary, Never, Payment, PaymentRefund, User};
use crate::model::Cents;
use crate::server::whop::money::{serde_cents, serde_opt_cents};
use crate::server::whop::types::RefundStatus;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refund {
    pub id: String,
    #[serde(with = "serde_cents")]
    pub amount: Cents,
    pub created_at: String,
    pub currency: String,
    pub payment: Option<RefundPayment>,
    /// The processor that returned the money (`RefundsAPI.PaymentProvider`).
    pub provider: String,
    pub provider_created_at: Option<String>,
    /// Bank trace references come from real card networks only.
    pub reference_status: Option<Never>,
    pub reference_type: Option<Never>,
    pub reference_value: Option<Never>,
    pub status: RefundStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefundPayment {
    pub id: String,
    pub billing_reason: Option<String>,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub created_at: String,
    pub currency: String,
    pub dispute_alerted_at: Option<Never>,
    pub member: Option<Member>,
    pub membership: Option<MembershipSummary>,
    pub metadata: Option<Value>,
    pub paid_at: Option<String>,
    pub payment_method_type: Option<String>,
    pub plan: Option<RefundPlan>,
    pub product: Option<RefundProduct>,
    #[serde(with = "serde_opt_cents")]
    pub subtotal: Option<Cents>,
    pub tax_amount: Option<Never>,
    pub tax_behavior: Option<Never>,
    pub tax_refunded_amount: Option<Never>,
    #[serde(with = "serde_opt_cents")]
    pub total: Option<Cents>,
    #[serde(with = "serde_opt_cents")]
    pub usd_total: Option<Cents>,
    pub user: Option<User>,
}

/// The plan inside a refund's payment: no internal notes there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefundPlan {
    pub id: String,
    pub metadata: Option<Value>,
}

/// The product inside a refund's payment: no route or title there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefundProduct {
    pub id: String,
    pub metadata: Option<Value>,
}

impl From<&Payment> for RefundPayment {
    fn from(p: &Payment) -> Self {
        RefundPayment {
            id: p.id.clone(),
            billing_reason: p.billing_reason.clone(),
            card_brand: p.card_brand.clone(),
            card_last4: p.card_last4.clone(),
            created_at: p.created_at.clone(),
            currency: p.currency.clone(),
            dispute_alerted_at: p.dispute_alerted_at,
            member: p.member.clone(),
            membership: p.membership.as_ref().map(MembershipSummary::from),
            metadata: p.metadata.clone(),
            paid_at: p.paid_at.clone(),
            payment_method_type: p.payment_method_type.clone(),
            plan: p.plan.as_ref().map(|plan| RefundPlan {
                id: plan.id.clone(),
                metadata: plan.metadata.clone(),
            }),
            product: p.product.as_ref().map(|product| RefundProduct {
                id: product.id.clone(),
                metadata: product.metadata.clone(),
            }),
            subtotal: p.subtotal,
            tax_amount: p.tax_amount,
            tax_behavior: p.tax_behavior,
            tax_refunded_amount: p.tax_refunded_amount,
            total: p.total,
            usd_total: p.usd_total,
            user: p.user.clone(),
        }
    }
}

impl Refund {
    /// The refund as its payment lists it.
    pub fn listed(&self) -> PaymentRefund {
        PaymentRefund {
            id: self.id.clone(),
            amount: self.amount,
            created_at: self.created_at.clone(),
            currency: self.currency.clone(),
            status: self.status,
        }
    }
}
