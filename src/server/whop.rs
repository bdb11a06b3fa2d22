//! Everything that speaks Whop: webhook verification now; the API client and the simulator next.

pub mod client;
pub mod error;
pub mod http;
pub mod money;
pub mod types;
pub mod verify;
