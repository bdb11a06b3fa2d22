//! What the admin pages show (wire types; rows stay in `server::store`).

use serde::{Deserialize, Serialize};

/// A paid Whop payment that no order could take, as the admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmatchedPaymentView {
    pub id: i64,
    /// `pay_...`
    pub payment_id: String,
    /// "No matching order" or "Held by order N".
    pub kind_label: String,
    pub reason: String,
    pub email: Option<String>,
    /// Formatted, e.g. "$7.50".
    pub amount: String,
    pub checkout_id: Option<String>,
    pub whop_plan_id: Option<String>,
    /// open, attached, resolved.
    pub status: String,
    pub attached_order_id: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolution_note: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The webhook body or API object it came from, pretty-printed.
    pub raw_event: String,
}

/// One page of the unmatched queue, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmatchedPage {
    pub items: Vec<UnmatchedPaymentView>,
    /// Pass as `before` for the next page; None on the last.
    pub next_before: Option<i64>,
    pub open_count: i64,
}
