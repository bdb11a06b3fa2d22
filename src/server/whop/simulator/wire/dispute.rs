//! The dispute (`dispute.created` / `dispute.updated` data, `DisputesAPI.Dispute`). Its payment
//! is a summary WITHOUT metadata, plan or product (the plan and product sit on the dispute
//! itself): a dispute reaches its order through `payment.id` only.

use serde::Serialize;

use super::{Member, MembershipSummary, Never, Payment, PaymentDispute, User};
use crate::model::Cents;
use crate::server::whop::money::{serde_cents, serde_opt_cents};
use crate::server::whop::types::DisputeStatus;

/// The evidence fields (`*_attachment`, `*_disclosure`, `notes`, `service_date`, ...) stay null:
/// the simulator decides its disputes without evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dispute {
    pub id: String,
    pub access_activity_log: Option<Never>,
    #[serde(with = "serde_cents")]
    pub amount: Cents,
    pub billing_address: Option<Never>,
    pub cancellation_policy_attachment: Option<Never>,
    pub cancellation_policy_disclosure: Option<Never>,
    pub company: Option<DisputeCompany>,
    pub created_at: Option<String>,
    pub currency: String,
    pub customer_communication_attachment: Option<Never>,
    pub customer_email_address: Option<String>,
    pub customer_name: Option<String>,
    pub editable: Option<bool>,
    pub needs_response_by: Option<String>,
    pub notes: Option<Never>,
    pub payment: Option<DisputePayment>,
    pub plan: Option<DisputePlan>,
    pub product: Option<DisputeProduct>,
    pub product_description: Option<Never>,
    pub reason: Option<String>,
    pub refund_policy_attachment: Option<Never>,
    pub refund_policy_disclosure: Option<Never>,
    pub refund_refusal_explanation: Option<Never>,
    pub service_date: Option<Never>,
    pub status: DisputeStatus,
    pub uncategorized_attachment: Option<Never>,
    pub visa_rdr: bool,
}

impl Dispute {
    /// The dispute as its payment lists it.
    pub fn listed(&self) -> PaymentDispute {
        PaymentDispute {
            id: self.id.clone(),
            amount: self.amount,
            currency: self.currency.clone(),
            editable: self.editable,
            needs_response_by: self.needs_response_by.clone(),
            notes: self.notes,
            reason: self.reason.clone(),
            status: self.status,
        }
    }
}

/// The company a dispute is filed against: no route here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisputeCompany {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisputePlan {
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisputeProduct {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisputePayment {
    pub id: String,
    pub billing_reason: Option<String>,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub created_at: String,
    pub currency: String,
    pub dispute_alerted_at: Option<Never>,
    pub member: Option<Member>,
    pub membership: Option<MembershipSummary>,
    pub paid_at: Option<String>,
    pub payment_method_type: Option<String>,
    #[serde(with = "serde_opt_cents")]
    pub subtotal: Option<Cents>,
    #[serde(with = "serde_opt_cents")]
    pub total: Option<Cents>,
    #[serde(with = "serde_opt_cents")]
    pub usd_total: Option<Cents>,
    pub user: Option<User>,
}

impl From<&Payment> for DisputePayment {
    fn from(p: &Payment) -> Self {
        DisputePayment {
            id: p.id.clone(),
            billing_reason: p.billing_reason.clone(),
            card_brand: p.card_brand.clone(),
            card_last4: p.card_last4.clone(),
            created_at: p.created_at.clone(),
            currency: p.currency.clone(),
            dispute_alerted_at: p.dispute_alerted_at,
            member: p.member.clone(),
            membership: p.membership.as_ref().map(MembershipSummary::from),
            paid_at: p.paid_at.clone(),
            payment_method_type: p.payment_method_type.clone(),
            subtotal: p.subtotal,
            total: p.total,
            usd_total: p.usd_total,
            user: p.user.clone(),
        }
    }
}
