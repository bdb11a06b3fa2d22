//! Plain async services: the business rules. They take the store, never a request.

pub mod alerts;
pub mod api_keys;
pub mod auth;
pub mod checkout;
pub mod host_users;
pub mod import;
pub mod ledger;
pub mod low_balance;
pub mod orders;
pub mod rate_limit;
pub mod reconcile;
pub mod refunds;
pub mod system;
pub mod text;
pub mod unmatched;
pub mod webhook_apply;
