//! Admin-only server functions. Each starts with `require_admin` (401 signed out, 403 non-admin).

use leptos::prelude::*;

use crate::model::{ApiKeyView, AppError, CreatedApiKey};

#[server(endpoint = "admin_list_api_keys")]
pub async fn admin_list_api_keys() -> Result<Vec<ApiKeyView>, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::api_keys;

    let (state, _) = require_admin().await?;
    let rows = state.store.list_api_keys().await.map_err(|e| fail(e.into()))?;
    Ok(rows.iter().map(api_keys::view).collect())
}

#[server(endpoint = "admin_create_api_key")]
pub async fn admin_create_api_key(name: String) -> Result<CreatedApiKey, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::api_keys;

    let (state, admin) = require_admin().await?;
    let (key, row) = api_keys::create(state.store.as_ref(), &name, &format!("admin:{}", admin.id))
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(CreatedApiKey {
        key,
        view: api_keys::view(&row),
    })
}

#[server(endpoint = "admin_revoke_api_key")]
pub async fn admin_revoke_api_key(id: i64) -> Result<(), AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::api_keys;

    let (state, admin) = require_admin().await?;
    api_keys::revoke(state.store.as_ref(), id, &format!("admin:{}", admin.id))
        .await
        .map_err(|e| fail(e.into()))
}
