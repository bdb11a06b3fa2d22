//! What the alerts page and the low-balance banner show (wire types; rows stay in
//! `server::store`).

use serde::{Deserialize, Serialize};

/// An admin alert as the admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertView {
    pub id: i64,
    /// payment_failed, unmatched_payment, webhook_failing, reconcile_error.
    pub kind: String,
    /// e.g. "Payment failed".
    pub kind_label: String,
    /// What it is about, e.g. `order:12`.
    pub subject: String,
    pub message: String,
    /// open, acknowledged.
    pub status: String,
    pub acknowledged_by: Option<String>,
    /// RFC 3339, UTC.
    pub acknowledged_at: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// Delivery to the alert webhook: pending, sending, delivered, failed.
    pub delivery: String,
}

/// One page of alerts, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertPage {
    pub items: Vec<AlertView>,
    /// Pass as `before` for the next page; None on the last.
    pub next_before: Option<i64>,
    pub open_count: i64,
}

/// The low-balance banner: shown once per crossing below the threshold until dismissed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LowBalanceNotice {
    /// Which crossing (the ledger row that took the balance below); sent back to dismiss it.
    pub crossing: i64,
    /// Formatted credits, e.g. "450".
    pub balance: String,
    pub threshold: String,
}
