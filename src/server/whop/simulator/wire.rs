//! Whop's objects as the simulator WRITES them: every field that the types of `@whop/sdk` 0.0.42
//! (API version 2026-07-20) give each object, nullable ones as `null`, and nothing else.
//!
//! `whop::types` holds the lenient READ types (the real client and the webhook route parse with
//! them); they would serialise only the fields the app reads, so payloads written with them were
//! not Whop's. An app tested against the simulator must see what Whop sends, no more (code relying
//! on a field Whop never sends passes every test and fails live) and no less. The stored
//! simulator objects are these, verbatim, so the read types still read them.
//! tests/simulator_payloads.rs records every payload and response in a fixture that
//! scripts/whop-sdk-requests/typecheck-payloads.mjs type-checks against the SDK (`make check-sim-payloads`).

mod dispute;
mod payment;
mod refund;

use serde::{Deserialize, Serialize};

pub use dispute::{Dispute, DisputeCompany, DisputePayment, DisputePlan, DisputeProduct};
pub use payment::{
    Card, Company, ListedPayment, Membership, Payment, PaymentDispute, PaymentMethod, PaymentRefund, Plan, Product,
};
pub use refund::{Refund, RefundPayment};

/// A value the simulator never has (a promo code, a shipping address, an application fee, ...):
/// a field of this type is always `null`, or an empty list, by construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Never {}

/// `Shared.MembershipStatus`: the two a one-time purchase goes through here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipStatus {
    /// Made with the checkout, before the card is charged.
    Drafted,
    /// Paid: access granted (a one-time plan never renews, so it stays active).
    Active,
}

/// The buyer (`Payment.User`, the same in every embedding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub username: String,
}

/// The buyer as a member of the company (`Payment.Member`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    pub phone: Option<String>,
}

/// The membership inside a refund's or dispute's payment: no phone number there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipSummary {
    pub id: String,
    pub status: MembershipStatus,
}

impl From<&Membership> for MembershipSummary {
    fn from(m: &Membership) -> Self {
        MembershipSummary {
            id: m.id.clone(),
            status: m.status,
        }
    }
}

/// A v1 webhook body (`PaymentSucceededWebhookEvent` and its siblings). The SDK's events have
/// these six fields only: no `api_version_date` or `previous_attributes` at this version.
#[derive(Debug, Serialize)]
pub struct Envelope<'a, T> {
    pub id: &'a str,
    pub api_version: &'static str,
    pub data: &'a T,
    /// When the event was sent (ISO 8601).
    pub timestamp: String,
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub company_id: &'a str,
}

/// A cursor page. The SDK's `CursorPageResponse` declares only `end_cursor` (the one field its
/// pager reads); Whop's documented page info has these four (whop-api.md,
/// "Pagination"). The cursor is `null` on the last page, where the SDK and our client stop.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub page_info: PageInfo,
}

#[derive(Debug, Serialize)]
pub struct PageInfo {
    pub end_cursor: Option<String>,
    pub start_cursor: Option<String>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}
