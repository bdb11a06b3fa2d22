//! The integration tests, as one test binary. Each file here was once its own binary, and each
//! linked the whole app: 38 of them made a debug `target/` of over 30 GB and minutes of linking.
//! Run one file's tests with a filter: `cargo test --features ssr --test it widget::`.
#![cfg(feature = "ssr")]

// First, so that `both_backends!` is in scope in every module below.
#[macro_use]
mod common;
mod faulty_store;

mod accounts;
mod admin_api_keys;
mod admin_metrics;
mod admin_metrics_counters;
mod admin_orders;
mod admin_plans;
mod admin_settings;
mod admin_webhooks;
mod alerts;
mod api_v1;
mod authz_matrix;
mod binary;
mod checkout;
mod crash_storm;
mod db_outage;
mod db_outage_storm;
mod fuzz_api;
mod fuzz_import;
mod fuzz_webhooks;
mod group_commit;
mod host_webhooks;
mod hostile_forms;
mod http_foundation;
mod import;
mod jobs;
mod ledger_properties;
mod log_secrets;
mod low_balance;
mod orders_store;
mod reconcile;
mod refunds;
mod security_headers;
mod sign_in_links;
mod simulation;
mod simulator_payloads;
mod slow_clients;
mod sql_guard;
mod store_contract;
mod two_instances;
mod unmatched;
mod webhook_apply;
mod webhook_one_tx;
mod webhook_route;
mod webhook_vectors;
mod whop_client;
mod whop_faults;
mod whop_outage;
mod whop_simulator;
mod widget;
