//! The built-in Whop simulator (test mode, the default without a Whop API key). It speaks the
//! subset of Whop's API this app uses at its own base URL (`/_sim/whop/api/v1`), so the real
//! client code runs end to end; keeps its objects in the app's database; serves a hosted
//! checkout page with a TEST MODE banner; and delivers signed webhooks over real HTTP to the
//! app's webhook route with Whop's retry schedule. Tests can tell it to duplicate, delay,
//! reorder or drop deliveries.

mod actions;
mod api;
mod checkout_page;
mod delivery;
mod faults;
mod objects;
mod wire;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::{get, post, put};
use axum::Router;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

pub use actions::CheckoutAction;
pub use delivery::DeliveryReport;
pub use faults::ApiFaults;

use crate::server::service::auth::random_token;
use crate::server::state::AppState;
use crate::server::store::{Store, StoreError};

/// The account id the simulator reports (Whop's `biz_...`).
pub const ACCOUNT_ID: &str = "biz_simulated";
/// Where the simulator lives under the app's own address.
pub const MOUNT: &str = "/_sim/whop";

/// How the next deliveries are to be mangled (tests set this; all off by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryMode {
    /// Send every event twice, with the same webhook-id.
    pub duplicate: bool,
    /// Hold every event back this long before its first attempt.
    pub delay_ms: u64,
    /// Send the events of one action newest first.
    pub reorder: bool,
    /// Never send (the delivery is recorded as dropped).
    pub drop: bool,
}

pub struct Simulator {
    store: Arc<dyn Store>,
    /// The bearer key the simulated API accepts.
    pub api_key: SecretString,
    /// The secret its webhooks are signed with (the app verifies with it in test mode).
    pub webhook_secret: SecretString,
    /// The app's own address, e.g. http://127.0.0.1:3000.
    base: String,
    retry_schedule: Vec<Duration>,
    mode: Mutex<DeliveryMode>,
    faults: faults::FaultState,
    http: reqwest::Client,
}

impl Simulator {
    /// Loads the simulator's key and secret from settings (made once, on first start, so they
    /// survive restarts and are shared by instances on one database).
    pub async fn start(
        store: Arc<dyn Store>,
        base: &str,
        retry_schedule: Vec<Duration>,
        fixed_api_key: Option<SecretString>,
    ) -> Result<Arc<Simulator>, StoreError> {
        let api_key = match fixed_api_key {
            Some(k) => k.expose_secret().to_string(),
            None => {
                store
                    .setting_or_insert("whop_sim_api_key", &format!("sim_{}", random_token()))
                    .await?
            }
        };
        let secret = store
            .setting_or_insert("whop_sim_webhook_secret", &format!("ws_{}", random_token()))
            .await?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| StoreError::Config(format!("simulator HTTP client: {e}")))?;
        Ok(Arc::new(Simulator {
            store,
            api_key: SecretString::from(api_key),
            webhook_secret: SecretString::from(secret),
            base: base.trim_end_matches('/').to_string(),
            retry_schedule,
            mode: Mutex::new(DeliveryMode::default()),
            faults: faults::FaultState::default(),
            http,
        }))
    }

    /// The base URL the Whop client uses in test mode.
    pub fn api_base(&self) -> String {
        format!("{}{MOUNT}/api/v1", self.base)
    }

    pub fn purchase_url(&self, checkout_id: &str) -> String {
        format!("{}{MOUNT}/checkout/{checkout_id}", self.base)
    }

    fn webhook_url(&self) -> String {
        format!("{}/api/webhooks/whop", self.base)
    }

    pub fn delivery_mode(&self) -> DeliveryMode {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_delivery_mode(&self, m: DeliveryMode) {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner()) = m;
    }

    pub fn api_faults(&self) -> ApiFaults {
        self.faults.get()
    }

    /// Makes the simulated API slow or failing (see `faults`); `ApiFaults::default()` heals it.
    pub fn set_api_faults(&self, f: ApiFaults) {
        self.faults.set(f);
    }

    /// Sends the deliveries due now (at most `limit`); the `whop_simulator_delivery` job calls
    /// this in a loop.
    pub async fn deliver_due(&self, limit: i64) -> Result<DeliveryReport, StoreError> {
        delivery::deliver_due(self, limit).await
    }
}

/// The simulator's routes, mounted at `MOUNT` only in test mode. The faults set through
/// `/control/api` apply to Whop's API only, not to the control routes or the checkout page.
pub fn routes(sim: Arc<Simulator>) -> Router<AppState> {
    let whop_api = Router::new()
        .route("/checkout_configurations", post(api::create_checkout))
        .route("/payments", get(api::list_payments))
        .route("/payments/{id}", get(api::get_payment))
        .route("/payments/{id}/refund", post(api::refund_payment))
        .route("/plans", post(api::create_plan).get(api::list_plans))
        .route(
            "/plans/{id}",
            get(api::get_plan).patch(api::update_plan).delete(api::delete_plan),
        )
        .route("/products", post(api::create_product))
        .route_layer(axum::middleware::from_fn_with_state(sim, faults::inject));
    Router::new()
        .route("/checkout/{id}", get(checkout_page::show).post(checkout_page::act))
        .route("/control/delivery", put(api::set_delivery_mode))
        .route("/control/deliveries", get(api::list_deliveries))
        .route("/control/api", put(api::set_api_faults).get(api::get_api_faults))
        .nest("/api/v1", whop_api)
}

/// `prefix_` + 16 random hex characters, like Whop's ids.
fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", &random_token()[..16])
}

fn now_iso() -> String {
    iso(chrono::Utc::now())
}

/// Whop's timestamp format: ISO 8601 in UTC, to the millisecond.
fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
