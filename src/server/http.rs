//! Plain axum routes mounted beside the Leptos routes.

pub mod health;
pub mod webhooks;
