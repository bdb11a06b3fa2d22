//! Server functions, grouped by what they serve. Each one authenticates, parses, calls a plain
//! service in `crate::server` and maps its error to `AppError`; bodies run on the server only.

pub mod account;
pub mod admin;
pub mod admin_alerts;
pub mod admin_events;
pub mod admin_host_webhooks;
pub mod admin_orders;
pub mod admin_plans;
pub mod admin_settings;
pub mod admin_unmatched;
pub mod auth;
pub mod credits;
pub mod low_balance;
pub mod system;
