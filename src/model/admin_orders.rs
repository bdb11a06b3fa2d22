//! What the admin's orders pages show (wire types; rows stay in `server::store`).

use serde::{Deserialize, Serialize};

use super::Credits;

/// One row of `/admin/orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminOrderItem {
    pub id: i64,
    pub user_email: String,
    pub plan_name: String,
    pub credits: Credits,
    /// Formatted, e.g. "$7.50"; "custom" for a custom-priced order not priced yet.
    pub price: String,
    /// `manual` or `whop`.
    pub method: String,
    pub payment_status: String,
    /// The review status: pending, approved, rejected, cancelled.
    pub status: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// One page of orders, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminOrderPage {
    pub items: Vec<AdminOrderItem>,
    /// Pass as `before` for the next page; None on the last.
    pub next_before: Option<i64>,
    /// Manual orders waiting for review (the queue chip).
    pub queue_count: i64,
}

/// One line of an order's timeline, in time order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// RFC 3339, UTC.
    pub at: String,
    /// order, webhook, ledger, refund or audit.
    pub source: String,
    pub title: String,
    pub detail: Option<String>,
    /// A webhook event's id (links to `/admin/webhooks/{id}`).
    pub webhook_id: Option<String>,
}

/// `/admin/orders/{id}`: the order's facts, what can be done with it, and its timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminOrderDetail {
    pub item: AdminOrderItem,
    pub user_id: i64,
    pub user_balance: Credits,
    pub currency: String,
    pub notes: Option<String>,
    pub whop_payment_id: Option<String>,
    pub whop_checkout_id: Option<String>,
    pub failure_message: Option<String>,
    pub hold_reason: Option<String>,
    pub review_note: Option<String>,
    pub reviewed_by: Option<String>,
    /// A pending manual order: approve and reject are offered.
    pub reviewable: bool,
    /// Custom-priced (price 0): approving it asks for the agreed price.
    pub custom_price: bool,
    /// A credited Whop order with money left to refund: what is left, formatted.
    pub refundable: Option<String>,
    pub timeline: Vec<TimelineEntry>,
}
