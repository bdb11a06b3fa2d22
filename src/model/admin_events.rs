//! What the webhook log, audit log and metrics pages show (wire types).

use serde::{Deserialize, Serialize};

/// A stored Whop webhook event, as a row of the admin's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEventView {
    /// `msg_...`
    pub id: String,
    pub event_type: String,
    /// pending, processed, failed, ignored.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// RFC 3339, UTC.
    pub received_at: String,
    pub order_id: Option<i64>,
    pub payment_id: Option<String>,
}

/// One page of the webhook log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookPage {
    pub items: Vec<WebhookEventView>,
    /// Pass as `before` for the next page; None on the last.
    pub next_before: Option<String>,
}

/// One event with its payload, pretty-printed (shown as text, never as markup).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDetail {
    pub event: WebhookEventView,
    pub payload: String,
    pub processed_at: Option<String>,
    pub next_attempt_at: Option<String>,
}

/// An audit log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditView {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// The JSON before and after, pretty-printed.
    pub before: Option<String>,
    pub after: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub items: Vec<AuditView>,
    pub next_before: Option<i64>,
}

/// One UTC day of the metrics period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayMetrics {
    /// YYYY-MM-DD.
    pub date: String,
    pub revenue_cents: i64,
    pub credits_sold: i64,
    pub paid_orders: i64,
    pub refunded_cents: i64,
    /// Median seconds from Whop's paid_at to our credited_at of that day's Whop payments.
    pub time_to_credit_median_secs: Option<i64>,
}

/// The success metrics of one period, from our own tables. Rates are in tenths of a percent
/// (667 = 66.7 %) so they stay exact integers on the wire; None when there is nothing to divide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsView {
    pub period_days: u32,
    /// First and last day of the period (UTC, inclusive).
    pub from: String,
    pub to: String,
    pub whop_orders_created: i64,
    pub whop_orders_paid: i64,
    pub whop_orders_failed: i64,
    pub conversion_tenths: Option<i64>,
    pub success_rate_tenths: Option<i64>,
    pub time_to_credit_count: i64,
    pub time_to_credit_median_secs: Option<i64>,
    pub time_to_credit_p95_secs: Option<i64>,
    pub revenue_cents: i64,
    pub credits_sold: i64,
    pub refunds: i64,
    pub refunded_cents: i64,
    pub manual_approved: i64,
    pub manual_wait_median_secs: Option<i64>,
    pub manual_wait_p95_secs: Option<i64>,
    pub disputes: i64,
    pub unmatched: i64,
    /// Every day of the period, days without sales included.
    pub days: Vec<DayMetrics>,
    /// The period held more rows than are read at once: per-day figures cover the first ones.
    pub truncated: bool,
}

/// "66.7%" from tenths of a percent.
pub fn format_tenths(t: i64) -> String {
    format!("{}.{}%", t / 10, t % 10)
}

/// "4 s", "2 min 5 s", "3 h 20 min", "2 d 4 h": a duration as a person reads it.
pub fn format_secs(s: i64) -> String {
    let s = s.max(0);
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}
