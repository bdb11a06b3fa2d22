use leptos::prelude::*;

use crate::model::{AppError, SystemStatus, WhopMode};

/// Reads the store's backend, schema version and plan count: proves the browser -> server ->
/// database path end to end.
#[server(endpoint = "get_system_status")]
pub async fn get_system_status() -> Result<SystemStatus, AppError> {
    let state = crate::server::fn_ctx::state()?;
    crate::server::service::system::status(state.store.as_ref(), state.whop.mode)
        .await
        .map_err(AppError::from)
}

/// Which Whop this instance talks to (pages show a TEST MODE banner unless it is the real one).
#[server(endpoint = "get_whop_mode")]
pub async fn get_whop_mode() -> Result<WhopMode, AppError> {
    Ok(crate::server::fn_ctx::state()?.whop.mode)
}
