//! The payments, refunds and disputes the simulator creates, with every value it has to make up
//! in one place: one test buyer, a member of the simulated company, paying a one-time plan with
//! a Visa ending 4242 (Stripe's test card); no tax, fees, promo code, risk score or dispute
//! evidence. How they change afterwards is in `actions`.

use chrono::{DateTime, Utc};

use super::wire::{
    Card, Company, Dispute, DisputeCompany, DisputePayment, DisputePlan, DisputeProduct, Member, Membership,
    MembershipStatus, Payment, PaymentMethod, Plan, Product, Refund, RefundPayment, User,
};
use super::{iso, new_id, ACCOUNT_ID};
use crate::model::Cents;
use crate::server::whop::types::{self, DisputeStatus, PaymentStatus, PaymentSubstatus, RefundStatus};

/// The simulated company's name and the slug of its store page.
const COMPANY_TITLE: &str = "Atlas Credits (test mode)";
const COMPANY_ROUTE: &str = "atlas-credits-test-mode";
const CARD_BRAND: &str = "visa";
const CARD_LAST4: &str = "4242";
/// The processor the simulated money moves through (`RefundsAPI.PaymentProvider`).
const PROVIDER: &str = "stripe";
/// How long a company has to answer a new dispute before it is decided without evidence.
const DISPUTE_RESPONSE_DAYS: i64 = 7;

fn buyer() -> User {
    User {
        id: "user_simulated".into(),
        email: Some("buyer@example.com".into()),
        name: Some("Test Buyer".into()),
        username: "testbuyer".into(),
    }
}

/// A new payment for `plan` through `checkout`, before the card is charged: open and pending,
/// its membership drafted.
pub(super) fn new_payment(
    checkout: &types::CheckoutConfiguration,
    plan: &types::Plan,
    product: Option<&types::Product>,
    now: &str,
) -> Payment {
    let total = plan.initial_price.unwrap_or(Cents::ZERO);
    let currency = plan.currency.clone().unwrap_or_else(|| "usd".into());
    Payment {
        id: new_id("pay"),
        // No fees are simulated: the company keeps the whole total.
        amount_after_fees: total,
        application_fee: None,
        auto_refunded: false,
        billing_address: None,
        billing_reason: Some("one_time".into()),
        card_brand: Some(CARD_BRAND.into()),
        card_last4: Some(CARD_LAST4.into()),
        checkout_configuration_id: Some(checkout.id.clone()),
        company: Some(Company {
            id: ACCOUNT_ID.into(),
            route: COMPANY_ROUTE.into(),
            title: COMPANY_TITLE.into(),
        }),
        created_at: now.into(),
        currency: currency.clone(),
        dispute_alerted_at: None,
        disputes: Vec::new(),
        failure_message: None,
        financing_installments_count: None,
        financing_transactions: Vec::new(),
        last_payment_attempt: None,
        member: Some(Member {
            id: "mber_simulated".into(),
            phone: None,
        }),
        membership: Some(Membership {
            id: new_id("mem"),
            phone_number: None,
            status: MembershipStatus::Drafted,
        }),
        metadata: checkout.metadata.clone(),
        next_payment_attempt: None,
        paid_at: None,
        payment_method: Some(PaymentMethod {
            id: new_id("payt"),
            card: Some(Card {
                brand: Some(CARD_BRAND.into()),
                exp_month: Some(12),
                exp_year: Some(30),
                last4: Some(CARD_LAST4.into()),
            }),
            created_at: now.into(),
            payment_method_type: "card".into(),
        }),
        payment_method_type: Some("card".into()),
        payments_failed: Some(0),
        plan: Some(Plan {
            id: plan.id.clone(),
            internal_notes: plan.internal_notes.clone(),
            metadata: plan.metadata.clone(),
        }),
        product: product.map(|p| {
            let title = p.title.clone().unwrap_or_default();
            Product {
                id: p.id.clone(),
                metadata: p.metadata.clone(),
                route: slug(&title),
                title,
            }
        }),
        promo_code: None,
        refundable: false,
        refunded_amount: None,
        refunded_at: None,
        refunds: Vec::new(),
        resolutions: Vec::new(),
        // The simulator has no retry endpoint, and a declined one-time checkout is bought anew.
        retryable: false,
        risk_score: None,
        risk_signals: None,
        settlement_amount: total,
        settlement_currency: currency.clone(),
        settlement_exchange_rate: None,
        shipping_address: None,
        status: Some(PaymentStatus::Open),
        substatus: PaymentSubstatus::Pending,
        subtotal: Some(total),
        tax_amount: None,
        tax_behavior: None,
        tax_refunded_amount: None,
        three_ds_verified: false,
        total: Some(total),
        updated_at: now.into(),
        // Only a USD total is its own USD value; the simulator knows no exchange rates.
        usd_total: (currency == "usd").then_some(total),
        user: Some(buyer()),
        voidable: false,
    }
}

/// A pending refund of `amount` of `payment`.
pub(super) fn new_refund(payment: &Payment, amount: Cents, now: &str) -> Refund {
    Refund {
        id: new_id("rf"),
        amount,
        created_at: now.into(),
        currency: payment.currency.clone(),
        payment: Some(RefundPayment::from(payment)),
        provider: PROVIDER.into(),
        // The simulated processor takes the refund the moment it is asked.
        provider_created_at: Some(now.into()),
        reference_status: None,
        reference_type: None,
        reference_value: None,
        status: RefundStatus::Pending,
    }
}

/// A chargeback of the whole of `payment`, waiting for the company's response.
pub(super) fn new_dispute(payment: &Payment, now: DateTime<Utc>) -> Dispute {
    let user = payment.user.as_ref();
    Dispute {
        id: new_id("dspt"),
        access_activity_log: None,
        amount: payment.total.unwrap_or(Cents::ZERO),
        billing_address: None,
        cancellation_policy_attachment: None,
        cancellation_policy_disclosure: None,
        company: payment.company.as_ref().map(|c| DisputeCompany {
            id: c.id.clone(),
            title: c.title.clone(),
        }),
        created_at: Some(iso(now)),
        currency: payment.currency.clone(),
        customer_communication_attachment: None,
        customer_email_address: user.and_then(|u| u.email.clone()),
        customer_name: user.and_then(|u| u.name.clone()),
        editable: Some(true),
        needs_response_by: Some(iso(now + chrono::Duration::days(DISPUTE_RESPONSE_DAYS))),
        notes: None,
        payment: Some(DisputePayment::from(payment)),
        plan: payment.plan.as_ref().map(|p| DisputePlan { id: p.id.clone() }),
        product: payment.product.as_ref().map(|p| DisputeProduct {
            id: p.id.clone(),
            title: p.title.clone(),
        }),
        product_description: None,
        reason: Some("fraudulent".into()),
        refund_policy_attachment: None,
        refund_policy_disclosure: None,
        refund_refusal_explanation: None,
        service_date: None,
        status: DisputeStatus::NeedsResponse,
        uncategorized_attachment: None,
        visa_rdr: false,
    }
}

/// A product's slug for its `route`, made from its title (simulated products are created with a
/// title only): lower case, words joined by `-`.
fn slug(title: &str) -> String {
    let lower = title.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        "product".into()
    } else {
        words.join("-")
    }
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn slugs_are_lower_case_words_joined_by_dashes() {
        assert_eq!(slug("Atlas Credits"), "atlas-credits");
        assert_eq!(slug("  Pro -- 5,000 credits! "), "pro-5-000-credits");
        assert_eq!(slug("***"), "product");
    }
}
