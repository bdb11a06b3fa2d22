use leptos::prelude::*;

use crate::model::{AppError, SystemStatus};

/// Reads the store's backend, schema version and plan count: proves the browser -> server ->
/// database path end to end.
#[server(endpoint = "get_system_status")]
pub async fn get_system_status() -> Result<SystemStatus, AppError> {
    use crate::server::state::AppState;

    let state = expect_context::<AppState>();
    crate::server::service::system::status(state.store.as_ref())
        .await
        .map_err(AppError::from)
}
