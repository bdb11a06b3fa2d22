//! Facts about the running system, for the status check and readiness.

use crate::model::{SystemStatus, WhopMode};
use crate::server::store::{Store, StoreError};

pub async fn status(store: &dyn Store, whop_mode: WhopMode) -> Result<SystemStatus, StoreError> {
    let schema_version = store.schema_version().await?;
    let active_plans = store.count_active_plans().await?;
    Ok(SystemStatus {
        backend: store.backend().as_str().to_string(),
        schema_version,
        active_plans,
        checked_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        whop_mode,
    })
}
