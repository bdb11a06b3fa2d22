//! Everything that speaks Whop: the API client, webhook verification, exact money conversion,
//! and the built-in simulator used in test mode.

pub mod client;
pub mod error;
pub mod http;
pub mod money;
pub mod simulator;
pub mod types;
pub mod verify;

use std::sync::Arc;

use secrecy::SecretString;

use crate::model::WhopMode;
use crate::server::config::{Limits, WhopConfig};
use crate::server::store::{Store, StoreError};
use client::WhopClient;
use http::ClientConfig;
use simulator::Simulator;

/// How this instance talks to Whop, shared by everything that does.
#[derive(Clone)]
pub struct WhopSetup {
    pub mode: WhopMode,
    pub client: WhopClient,
    /// The `biz_...` account that sells the credits.
    pub company_id: String,
    /// Present in test mode.
    pub simulator: Option<Arc<Simulator>>,
    /// How long a buyer waits for a checkout to open (`WHOP_CHECKOUT_TIMEOUT_SECS`).
    pub checkout_timeout: std::time::Duration,
}

impl WhopSetup {
    /// Builds the client for the configured Whop, or sets up the simulator at `own_base` (the
    /// app's own address) and points the client at it (its delivery job is started with the
    /// other jobs, by `startup`). Returns the setup and the webhook secrets
    /// to accept (the simulator's is added in test mode).
    pub async fn start(
        config: &WhopConfig,
        limits: &Limits,
        store: Arc<dyn Store>,
        own_base: &str,
        configured_secrets: &[SecretString],
    ) -> Result<(WhopSetup, Vec<SecretString>), StoreError> {
        let client_config = |base: &str, key: SecretString| {
            let mut cc = ClientConfig::new(base, key);
            // Per attempt; `checkout_timeout` bounds a buyer's whole wait.
            cc.timeout = limits.whop_timeout;
            cc.connect_timeout = cc.connect_timeout.min(limits.whop_timeout);
            cc
        };
        let mut secrets = configured_secrets.to_vec();
        let setup = match config {
            WhopConfig::Simulated {
                retry_schedule,
                api_key,
                ..
            } => {
                let sim = Simulator::start(store, own_base, retry_schedule.clone(), api_key.clone()).await?;
                secrets.push(sim.webhook_secret.clone());
                let client = WhopClient::new(client_config(&sim.api_base(), sim.api_key.clone()))
                    .map_err(|e| StoreError::Config(e.to_string()))?;
                WhopSetup {
                    mode: WhopMode::Simulated,
                    client,
                    company_id: simulator::ACCOUNT_ID.into(),
                    simulator: Some(sim),
                    checkout_timeout: limits.whop_checkout_timeout,
                }
            }
            WhopConfig::Live {
                base_url,
                api_key,
                company_id,
                app_id,
            } => {
                let mut cc = client_config(base_url, api_key.clone());
                cc.app_id = app_id.clone();
                let client = WhopClient::new(cc).map_err(|e| StoreError::Config(e.to_string()))?;
                let mode = if base_url.contains("sandbox") {
                    WhopMode::Sandbox
                } else {
                    WhopMode::Live
                };
                WhopSetup {
                    mode,
                    client,
                    company_id: company_id.clone(),
                    simulator: None,
                    checkout_timeout: limits.whop_checkout_timeout,
                }
            }
        };
        Ok((setup, secrets))
    }
}
