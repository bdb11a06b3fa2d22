//! Admin server functions for the host app's webhook endpoints and their deliveries. Each starts
//! with `require_admin`.

use leptos::prelude::*;

use crate::model::{AppError, CreatedWebhookEndpoint, HostDeliveryDetail, HostDeliveryPage, WebhookEndpointView};

/// Rows per page of the deliveries list.
pub const PAGE_SIZE: i64 = 25;

/// A positive id from a form: taken as text so that a malformed one is a clear 400.
#[cfg(feature = "ssr")]
fn positive_id(field: &str, raw: &str) -> Result<i64, AppError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id >= 1)
        .ok_or_else(|| crate::server::fn_ctx::fail(AppError::Invalid(format!("{field} must be a positive id"))))
}

#[server(endpoint = "admin_list_webhook_endpoints")]
pub async fn admin_list_webhook_endpoints() -> Result<Vec<WebhookEndpointView>, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::host_webhooks as svc;

    let (state, _) = require_admin().await?;
    let rows = state.store.list_host_endpoints().await.map_err(|e| fail(e.into()))?;
    Ok(rows.iter().map(svc::endpoint_view).collect())
}

/// `events`: comma-separated event types. Answers the secret, shown this once.
#[server(endpoint = "admin_create_webhook_endpoint")]
pub async fn admin_create_webhook_endpoint(
    url: String,
    events: String,
    description: Option<String>,
) -> Result<CreatedWebhookEndpoint, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::host_webhooks as svc;

    let (state, admin) = require_admin().await?;
    let (secret, row) = svc::create_endpoint(
        state.store.as_ref(),
        &format!("admin:{}", admin.id),
        &url,
        state.web.host_webhook_destinations,
        &[events],
        description.as_deref(),
    )
    .await
    .map_err(|e| fail(e.into()))?;
    Ok(CreatedWebhookEndpoint { id: row.id, secret })
}

/// `enabled`: `true` or `false`.
#[server(endpoint = "admin_set_webhook_endpoint_enabled")]
pub async fn admin_set_webhook_endpoint_enabled(id: String, enabled: String) -> Result<String, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::host_webhooks as svc;

    let (state, admin) = require_admin().await?;
    let id = positive_id("id", &id)?;
    let enabled = match enabled.trim() {
        "true" => true,
        "false" => false,
        _ => return Err(fail(AppError::Invalid("enabled must be true or false".into()))),
    };
    svc::set_enabled(state.store.as_ref(), &format!("admin:{}", admin.id), id, enabled)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(if enabled {
        format!("Endpoint #{id} enabled; its waiting deliveries resume.")
    } else {
        format!("Endpoint #{id} disabled; its deliveries are paused.")
    })
}

/// `status`: pending, delivered or failed (all when empty); `endpoint`: an endpoint id;
/// `before`: the page's keyset cursor.
#[server(endpoint = "admin_list_host_deliveries")]
pub async fn admin_list_host_deliveries(
    status: Option<String>,
    endpoint: Option<String>,
    before: Option<String>,
) -> Result<HostDeliveryPage, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::host_webhooks as svc;
    use crate::server::store::HostDeliveryFilter;

    let (state, _) = require_admin().await?;
    let given = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let filter = HostDeliveryFilter {
        status: given(status),
        endpoint_id: given(endpoint).map(|e| positive_id("endpoint", &e)).transpose()?,
    };
    let before = given(before).map(|b| positive_id("before", &b)).transpose()?;
    let rows = svc::deliveries(state.store.as_ref(), &filter, before, PAGE_SIZE + 1)
        .await
        .map_err(|e| fail(e.into()))?;
    let more = rows.len() as i64 > PAGE_SIZE;
    let items: Vec<_> = rows.iter().take(PAGE_SIZE as usize).map(svc::delivery_view).collect();
    let next_before = if more { items.last().map(|v| v.id) } else { None };
    Ok(HostDeliveryPage { items, next_before })
}

#[server(endpoint = "admin_host_delivery")]
pub async fn admin_host_delivery(id: String) -> Result<HostDeliveryDetail, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::host_webhooks as svc;

    let (state, _) = require_admin().await?;
    let id = positive_id("id", &id)?;
    let (row, attempts) = svc::delivery(state.store.as_ref(), id)
        .await
        .map_err(|e| fail(e.into()))?;
    let payload = serde_json::from_str::<serde_json::Value>(&row.payload)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| row.payload.clone());
    Ok(HostDeliveryDetail {
        delivery: svc::delivery_view(&row),
        payload,
        attempts: attempts.iter().map(svc::attempt_view).collect(),
    })
}

/// Sends a delivery again with the same `webhook-id` (audited with the reason).
#[server(endpoint = "admin_resend_host_delivery")]
pub async fn admin_resend_host_delivery(
    id: String,
    reason: String,
    confirm: Option<String>,
) -> Result<String, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::host_webhooks as svc;

    let (state, admin) = require_admin().await?;
    if confirm.as_deref() != Some("yes") {
        return Err(fail(AppError::Invalid("Tick the box to confirm the resend.".into())));
    }
    let id = positive_id("id", &id)?;
    svc::resend(state.store.as_ref(), &format!("admin:{}", admin.id), id, &reason)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(format!(
        "Delivery #{id} will be sent again within seconds, with the same webhook-id."
    ))
}
