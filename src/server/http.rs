//! Plain axum routes mounted beside the Leptos routes.

pub mod api_v1;
pub mod client_ip;
pub mod deadline;
pub mod health;
pub mod metrics;
pub mod origin_check;
pub mod safe_next;
pub mod security_headers;
pub mod server_fn_status;
pub mod session_cookie;
pub mod sign_in_link;
pub mod transactions_csv;
pub mod webhooks;
pub mod widget;
