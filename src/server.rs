//! Everything that runs only on the server. Compiled with the `ssr` feature alone, so none of it
//! (database, HTTP client, secrets) can reach the WASM bundle.

pub mod cli;
pub mod config;
pub mod ct;
pub mod dotenv;
pub mod error;
pub mod fn_ctx;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod outbound;
pub mod router;
pub mod serve;
pub mod service;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod whop;
