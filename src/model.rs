//! Wire types shared by the server and the browser: money, credits and the views the pages show.
//! Nothing here knows about the database or secrets; rows live in `server::store`.

mod account;
mod admin;
mod admin_config;
mod admin_events;
mod admin_orders;
mod alerts;
mod error;
mod host_webhooks;
mod ledger;
mod money;
mod purchase;

pub use account::{AccountView, ApiKeyView, CreatedApiKey, Role, TransactionPage, Viewer};
pub use admin::{UnmatchedPage, UnmatchedPaymentView};
pub use admin_config::{PlanAdminView, SettingsView};
pub use admin_events::{
    format_secs, format_tenths, AuditPage, AuditView, DayMetrics, MetricsView, WebhookDetail, WebhookEventView,
    WebhookPage,
};
pub use admin_orders::{AdminOrderDetail, AdminOrderItem, AdminOrderPage, TimelineEntry};
pub use alerts::{AlertPage, AlertView, LowBalanceNotice};
pub use error::{AppError, HOST_USER_HINT};
pub use host_webhooks::{
    CreatedWebhookEndpoint, HostAttemptView, HostDeliveryDetail, HostDeliveryPage, HostDeliveryView,
    WebhookEndpointView, HOST_EVENT_TYPES,
};
pub use ledger::{EntryKind, OrderId, TransactionView, UnknownKind, UserId};
pub use money::{Cents, Credits};
pub use purchase::{CreditsPageView, OrderState, OrderView, PaymentStatusView, PlanView};

use serde::{Deserialize, Serialize};

/// Which Whop the app talks to; pages show a TEST MODE banner unless it is the real one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhopMode {
    /// The built-in simulator: nothing is charged.
    Simulated,
    /// Whop's sandbox: real API, no real money.
    Sandbox,
    Live,
}

/// What the status check on the home page shows: which store answers and how far it is migrated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemStatus {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The highest migration version applied to the database.
    pub schema_version: i64,
    /// How many credit plans are on sale.
    pub active_plans: i64,
    /// When the server answered (RFC 3339, UTC).
    pub checked_at: String,
    pub whop_mode: WhopMode,
}
