//! One module per page.

pub mod account;
pub mod admin;
pub mod admin_alerts;
pub mod admin_audit;
pub mod admin_charts;
pub mod admin_host_webhooks;
pub mod admin_metrics;
pub mod admin_nav;
pub mod admin_orders;
pub mod admin_plans;
pub mod admin_settings;
pub mod admin_unmatched;
pub mod admin_webhooks;
pub mod credits;
pub mod forbidden;
pub mod home;
pub mod link_problem;
pub mod login;
pub mod low_balance_banner;
pub mod not_found;
pub mod payment_status;
pub mod signup;
