//! What every handler and server function can reach: the Leptos options and the store.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use secrecy::SecretString;

use crate::server::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub store: Arc<dyn Store>,
    /// Secrets that may sign Whop webhooks; empty refuses every delivery.
    pub webhook_secrets: Arc<Vec<SecretString>>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
