//! What the plans and settings admin pages show (wire types; rows stay in `server::store`).

use serde::{Deserialize, Serialize};

use super::WhopMode;

/// A plan as the admin sees it, with where it stands on Whop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanAdminView {
    pub id: i64,
    pub name: String,
    pub credits: i64,
    /// In cents; None: custom price (manual request flow only).
    pub price_cents: Option<i64>,
    /// Formatted, e.g. "$7.50", or "Custom".
    pub price_label: String,
    /// The price as the edit form shows it, e.g. "7.50" or "custom".
    pub price_input: String,
    pub currency: String,
    pub sort_order: i32,
    pub active: bool,
    /// synced, pending, failed or manual.
    pub sync_status: String,
    /// Whop's message when the last push failed.
    pub sync_error: Option<String>,
    /// RFC 3339, UTC.
    pub synced_at: Option<String>,
    pub whop_plan_id: Option<String>,
}

/// The settings page: the Whop switch, the beta list, the low-balance threshold, and which Whop
/// the app talks to (read-only, from the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsView {
    pub whop_enabled: bool,
    /// One email per line; empty: everyone.
    pub beta_emails: Vec<String>,
    pub low_balance_threshold: i64,
    pub whop_mode: WhopMode,
    /// The API base URL (never a key).
    pub whop_api_base: String,
}
