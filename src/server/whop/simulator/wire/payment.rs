//! The payment (`Shared.Payment`): `GET /payments/{id}`, `POST /payments/{id}/refund` and the
//! `payment.*` webhooks send all of it; `GET /payments` sends `ListedPayment`, the same payment
//! without the fields `PaymentListResponse` lacks.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Member, MembershipStatus, Never, User};
use crate::model::Cents;
use crate::server::whop::money::{serde_cents, serde_opt_cents};
use crate::server::whop::types::{DisputeStatus, PaymentStatus, PaymentSubstatus, RefundStatus};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub id: String,
    #[serde(with = "serde_cents")]
    pub amount_after_fees: Cents,
    pub application_fee: Option<Never>,
    pub auto_refunded: bool,
    pub billing_address: Option<Never>,
    pub billing_reason: Option<String>,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub checkout_configuration_id: Option<String>,
    pub company: Option<Company>,
    pub created_at: String,
    pub currency: String,
    pub dispute_alerted_at: Option<Never>,
    /// Newest first.
    pub disputes: Vec<PaymentDispute>,
    pub failure_message: Option<String>,
    pub financing_installments_count: Option<Never>,
    pub financing_transactions: Vec<Never>,
    pub last_payment_attempt: Option<String>,
    pub member: Option<Member>,
    pub membership: Option<Membership>,
    pub metadata: Option<Value>,
    pub next_payment_attempt: Option<Never>,
    pub paid_at: Option<String>,
    pub payment_method: Option<PaymentMethod>,
    pub payment_method_type: Option<String>,
    pub payments_failed: Option<u32>,
    pub plan: Option<Plan>,
    pub product: Option<Product>,
    pub promo_code: Option<Never>,
    pub refundable: bool,
    #[serde(with = "serde_opt_cents")]
    pub refunded_amount: Option<Cents>,
    pub refunded_at: Option<String>,
    /// Newest first.
    pub refunds: Vec<PaymentRefund>,
    pub resolutions: Vec<Never>,
    pub retryable: bool,
    pub risk_score: Option<Never>,
    pub risk_signals: Option<Never>,
    #[serde(with = "serde_cents")]
    pub settlement_amount: Cents,
    pub settlement_currency: String,
    pub settlement_exchange_rate: Option<Never>,
    pub shipping_address: Option<Never>,
    pub status: Option<PaymentStatus>,
    pub substatus: PaymentSubstatus,
    #[serde(with = "serde_opt_cents")]
    pub subtotal: Option<Cents>,
    pub tax_amount: Option<Never>,
    pub tax_behavior: Option<Never>,
    pub tax_refunded_amount: Option<Never>,
    pub three_ds_verified: bool,
    #[serde(with = "serde_opt_cents")]
    pub total: Option<Cents>,
    pub updated_at: String,
    #[serde(with = "serde_opt_cents")]
    pub usd_total: Option<Cents>,
    pub user: Option<User>,
    pub voidable: bool,
}

/// The selling company, as a payment names it (`account` elsewhere at this API version, but
/// `company` on payments and disputes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Company {
    pub id: String,
    pub route: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub id: String,
    pub phone_number: Option<Never>,
    pub status: MembershipStatus,
}

/// The card token the buyer paid with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub id: String,
    pub card: Option<Card>,
    pub created_at: String,
    pub payment_method_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub brand: Option<String>,
    pub exp_month: Option<u8>,
    /// Two digits, as Whop sends it (30 for 2030).
    pub exp_year: Option<u8>,
    pub last4: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub id: String,
    pub internal_notes: Option<String>,
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    pub metadata: Option<Value>,
    /// The product's slug in its public link.
    pub route: String,
    pub title: String,
}

/// One refund as listed inside a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRefund {
    pub id: String,
    #[serde(with = "serde_cents")]
    pub amount: Cents,
    pub created_at: String,
    pub currency: String,
    pub status: RefundStatus,
}

/// One dispute as listed inside a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDispute {
    pub id: String,
    #[serde(with = "serde_cents")]
    pub amount: Cents,
    pub currency: String,
    pub editable: Option<bool>,
    pub needs_response_by: Option<String>,
    pub notes: Option<Never>,
    pub reason: Option<String>,
    pub status: DisputeStatus,
}

/// A `GET /payments` item (`PaymentListResponse`): the payment without its disputes, refunds,
/// resolutions, financing, risk, settlement amount and rate, refunded tax and 3-D Secure flag,
/// which that type does not have.
#[derive(Debug, Serialize)]
pub struct ListedPayment<'a> {
    id: &'a str,
    #[serde(with = "serde_cents")]
    amount_after_fees: Cents,
    application_fee: Option<Never>,
    auto_refunded: bool,
    billing_address: Option<Never>,
    billing_reason: Option<&'a str>,
    card_brand: Option<&'a str>,
    card_last4: Option<&'a str>,
    checkout_configuration_id: Option<&'a str>,
    company: Option<&'a Company>,
    created_at: &'a str,
    currency: &'a str,
    dispute_alerted_at: Option<Never>,
    failure_message: Option<&'a str>,
    last_payment_attempt: Option<&'a str>,
    member: Option<&'a Member>,
    membership: Option<&'a Membership>,
    metadata: Option<&'a Value>,
    next_payment_attempt: Option<Never>,
    paid_at: Option<&'a str>,
    payment_method: Option<&'a PaymentMethod>,
    payment_method_type: Option<&'a str>,
    payments_failed: Option<u32>,
    plan: Option<&'a Plan>,
    product: Option<&'a Product>,
    promo_code: Option<Never>,
    refundable: bool,
    #[serde(with = "serde_opt_cents")]
    refunded_amount: Option<Cents>,
    refunded_at: Option<&'a str>,
    retryable: bool,
    settlement_currency: &'a str,
    shipping_address: Option<Never>,
    status: Option<PaymentStatus>,
    substatus: PaymentSubstatus,
    #[serde(with = "serde_opt_cents")]
    subtotal: Option<Cents>,
    tax_amount: Option<Never>,
    tax_behavior: Option<Never>,
    #[serde(with = "serde_opt_cents")]
    total: Option<Cents>,
    updated_at: &'a str,
    #[serde(with = "serde_opt_cents")]
    usd_total: Option<Cents>,
    user: Option<&'a User>,
    voidable: bool,
}

impl<'a> From<&'a Payment> for ListedPayment<'a> {
    fn from(p: &'a Payment) -> Self {
        ListedPayment {
            id: &p.id,
            amount_after_fees: p.amount_after_fees,
            application_fee: p.application_fee,
            auto_refunded: p.auto_refunded,
            billing_address: p.billing_address,
            billing_reason: p.billing_reason.as_deref(),
            card_brand: p.card_brand.as_deref(),
            card_last4: p.card_last4.as_deref(),
            checkout_configuration_id: p.checkout_configuration_id.as_deref(),
            company: p.company.as_ref(),
            created_at: &p.created_at,
            currency: &p.currency,
            dispute_alerted_at: p.dispute_alerted_at,
            failure_message: p.failure_message.as_deref(),
            last_payment_attempt: p.last_payment_attempt.as_deref(),
            member: p.member.as_ref(),
            membership: p.membership.as_ref(),
            metadata: p.metadata.as_ref(),
            next_payment_attempt: p.next_payment_attempt,
            paid_at: p.paid_at.as_deref(),
            payment_method: p.payment_method.as_ref(),
            payment_method_type: p.payment_method_type.as_deref(),
            payments_failed: p.payments_failed,
            plan: p.plan.as_ref(),
            product: p.product.as_ref(),
            promo_code: p.promo_code,
            refundable: p.refundable,
            refunded_amount: p.refunded_amount,
            refunded_at: p.refunded_at.as_deref(),
            retryable: p.retryable,
            settlement_currency: &p.settlement_currency,
            shipping_address: p.shipping_address,
            status: p.status,
            substatus: p.substatus,
            subtotal: p.subtotal,
            tax_amount: p.tax_amount,
            tax_behavior: p.tax_behavior,
            total: p.total,
            updated_at: &p.updated_at,
            usd_total: p.usd_total,
            user: p.user.as_ref(),
            voidable: p.voidable,
        }
    }
}
