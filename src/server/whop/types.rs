//! Whop's objects as the API (version 2026-07-20) sends them, read leniently: unknown fields are
//! ignored, most fields are optional, and every enum keeps an `Unknown` catch-all so a new value
//! from Whop never breaks parsing. Money fields become `Cents` here (see `money`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::money::{serde_cents, serde_opt_cents};
use crate::model::Cents;

/// Payment `status` (Whop's ReceiptStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Draft,
    Open,
    Paid,
    Pending,
    Uncollectible,
    Unresolved,
    Void,
    #[serde(other)]
    Unknown,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Draft => "draft",
            PaymentStatus::Open => "open",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Pending => "pending",
            PaymentStatus::Uncollectible => "uncollectible",
            PaymentStatus::Unresolved => "unresolved",
            PaymentStatus::Void => "void",
            PaymentStatus::Unknown => "unknown",
        }
    }
}

/// Payment `substatus` (Whop's FriendlyReceiptStatus): the ones the app acts on, and the rest.
/// (`Unknown` is never written: the simulator only sets the named ones.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentSubstatus {
    Succeeded,
    Pending,
    Failed,
    Canceled,
    Refunded,
    AutoRefunded,
    PartiallyRefunded,
    DisputeNeedsResponse,
    DisputeUnderReview,
    DisputeWon,
    DisputeLost,
    DisputeClosed,
    OpenDispute,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    RequiresAction,
    Succeeded,
    Failed,
    Canceled,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    WarningNeedsResponse,
    WarningUnderReview,
    WarningClosed,
    NeedsResponse,
    UnderReview,
    Won,
    Lost,
    Closed,
    Other,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Visible,
    Hidden,
    Archived,
    QuickLink,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanType {
    OneTime,
    Renewal,
    #[serde(other)]
    Unknown,
}

/// An `{id, ...}` reference to another object.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ref {
    pub id: String,
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// One refund as listed inside a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRefund {
    pub id: String,
    #[serde(with = "serde_cents")]
    pub amount: Cents,
    #[serde(default)]
    pub currency: Option<String>,
    pub status: RefundStatus,
    #[serde(default)]
    pub created_at: Option<String>,
}

/// One dispute as listed inside a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDispute {
    pub id: String,
    #[serde(with = "serde_cents")]
    pub amount: Cents,
    pub status: DisputeStatus,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: String,
    #[serde(default)]
    pub status: Option<PaymentStatus>,
    #[serde(default)]
    pub substatus: Option<PaymentSubstatus>,
    #[serde(default, with = "serde_opt_cents")]
    pub total: Option<Cents>,
    #[serde(default, with = "serde_opt_cents")]
    pub subtotal: Option<Cents>,
    #[serde(default, with = "serde_opt_cents")]
    pub refunded_amount: Option<Cents>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub checkout_configuration_id: Option<String>,
    #[serde(default)]
    pub plan: Option<Ref>,
    #[serde(default)]
    pub product: Option<Ref>,
    #[serde(default)]
    pub user: Option<Value>,
    #[serde(default)]
    pub paid_at: Option<String>,
    #[serde(default)]
    pub refunded_at: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub failure_message: Option<String>,
    #[serde(default)]
    pub refunds: Option<Vec<PaymentRefund>>,
    #[serde(default)]
    pub disputes: Option<Vec<PaymentDispute>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub plan_type: Option<PlanType>,
    #[serde(default, with = "serde_opt_cents")]
    pub initial_price: Option<Cents>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub visibility: Option<Visibility>,
    #[serde(default)]
    pub internal_notes: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub product: Option<Value>,
    #[serde(default)]
    pub purchase_url: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub visibility: Option<Visibility>,
    #[serde(default)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutConfiguration {
    pub id: String,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// Where to send the buyer.
    #[serde(default)]
    pub purchase_url: Option<String>,
    #[serde(default)]
    pub plan: Option<Value>,
    #[serde(default)]
    pub created_at: Option<String>,
}

/// The payment summary inside a refund or dispute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentSummary {
    pub id: String,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default, with = "serde_opt_cents")]
    pub total: Option<Cents>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub plan: Option<Ref>,
    #[serde(default)]
    pub product: Option<Ref>,
    #[serde(default)]
    pub paid_at: Option<String>,
}

impl From<&Payment> for PaymentSummary {
    fn from(p: &Payment) -> Self {
        PaymentSummary {
            id: p.id.clone(),
            metadata: p.metadata.clone(),
            total: p.total,
            currency: p.currency.clone(),
            plan: p.plan.clone(),
            product: p.product.clone(),
            paid_at: p.paid_at.clone(),
        }
    }
}

/// `refund.created` / `refund.updated` data, and `GET /refunds/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    #[serde(with = "serde_cents")]
    pub amount: Cents,
    #[serde(default)]
    pub currency: Option<String>,
    pub status: RefundStatus,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub payment: Option<PaymentSummary>,
}

/// `dispute.created` / `dispute.updated` data, and `GET /disputes/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    pub id: String,
    #[serde(with = "serde_cents")]
    pub amount: Cents,
    #[serde(default)]
    pub currency: Option<String>,
    pub status: DisputeStatus,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub payment: Option<PaymentSummary>,
}

/// A v1 webhook body: `{id, api_version, type, timestamp, company_id, data}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookEnvelope<T> {
    pub id: String,
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub company_id: Option<String>,
    pub data: T,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PageInfo {
    #[serde(default)]
    pub end_cursor: Option<String>,
    #[serde(default)]
    pub has_next_page: Option<bool>,
}

/// A cursor page: `{ "data": [...], "page_info": {...} }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    #[serde(default)]
    pub page_info: PageInfo,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_payments_leniently() {
        let p: Payment = serde_json::from_str(
            r#"{"id":"pay_1","status":"paid","substatus":"brand_new_state","total":32.5,"refunded_amount":null,
                "currency":"usd","metadata":{"order_id":"7"},"extra_field":{"x":1},
                "refunds":[{"id":"rf_1","amount":10.43,"currency":"usd","status":"succeeded","created_at":"2026-01-01T00:00:00Z"}]}"#,
        )
        .unwrap();
        assert_eq!(p.status, Some(PaymentStatus::Paid));
        assert_eq!(p.substatus, Some(PaymentSubstatus::Unknown));
        assert_eq!(p.total, Some(Cents(3250)));
        assert_eq!(p.refunded_amount, None);
        assert_eq!(p.refunds.unwrap()[0].amount, Cents(1043));
        let minimal: Payment = serde_json::from_str(r#"{"id":"pay_2"}"#).unwrap();
        assert_eq!(minimal.status, None);
        assert!(
            serde_json::from_str::<Payment>(r#"{"id":"pay_3","total":0.001}"#).is_err(),
            "sub-cent money is refused"
        );
    }
}
