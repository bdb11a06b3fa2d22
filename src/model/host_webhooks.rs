//! What the webhook-endpoints admin page shows: the host app's endpoints and the deliveries to
//! them (wire types; rows and secrets stay in `server::store`).

use serde::{Deserialize, Serialize};

/// The events an endpoint can subscribe to, in display order. `credits.spent` fires on every
/// spend and is off unless chosen.
pub const HOST_EVENT_TYPES: [&str; 7] = [
    "credits.purchased",
    "credits.refunded",
    "credits.disputed",
    "credits.spent",
    "balance.low",
    "order.failed",
    "order.manual_requested",
];

/// An endpoint, without its secret (shown once, at creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpointView {
    pub id: i64,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub created_by: String,
}

/// The answer to registering an endpoint: its secret, this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedWebhookEndpoint {
    pub id: i64,
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostDeliveryView {
    pub id: i64,
    pub endpoint_id: i64,
    pub endpoint_url: String,
    pub event_type: String,
    /// The `webhook-id` header, the same on every try and resend.
    pub webhook_id: String,
    /// pending, delivered, failed.
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    /// When a pending delivery is tried next (RFC 3339, UTC).
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

/// One page of deliveries, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostDeliveryPage {
    pub items: Vec<HostDeliveryView>,
    /// Pass as `before` for the next page; None on the last.
    pub next_before: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostAttemptView {
    pub attempted_at: String,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// A delivery with its payload and every try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostDeliveryDetail {
    pub delivery: HostDeliveryView,
    /// The JSON body, pretty-printed.
    pub payload: String,
    pub attempts: Vec<HostAttemptView>,
}
