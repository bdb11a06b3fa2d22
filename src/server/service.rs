//! Plain async services: the business rules. They take the store, never a request.

pub mod admin_events;
pub mod admin_orders;
pub mod alerts;
pub mod api_keys;
pub mod auth;
pub mod checkout;
pub mod dashboard_metrics;
pub mod host_users;
pub mod host_webhooks;
pub mod import;
pub mod ledger;
pub mod low_balance;
pub mod metrics_math;
pub mod orders;
pub mod plan_sync;
pub mod plans;
pub mod rate_limit;
pub mod reconcile;
pub mod refunds;
pub mod settings;
pub mod sign_in_links;
pub mod system;
pub mod text;
pub mod unmatched;
pub mod webhook_apply;
pub mod widget;
