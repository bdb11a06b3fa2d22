//! Admin server functions for the webhook log (with replay), the audit log and the metrics.
//! Each starts with `require_admin`.

use leptos::prelude::*;

use crate::model::{AppError, AuditPage, MetricsView, WebhookDetail, WebhookPage};

/// Rows per page of the logs.
pub const PAGE_SIZE: i64 = 50;

/// `status`: pending, processed, failed, ignored or all; `event_type`: exact; `before`: the
/// cursor the previous page returned.
#[server(endpoint = "admin_list_webhooks")]
pub async fn admin_list_webhooks(
    status: Option<String>,
    event_type: Option<String>,
    before: Option<String>,
) -> Result<WebhookPage, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::admin_events as svc;

    let (state, _) = require_admin().await?;
    let filter =
        svc::webhook_filter(status.as_deref(), event_type.as_deref(), before.as_deref()).map_err(|e| fail(e.into()))?;
    let rows = state
        .store
        .list_webhook_page(&filter, PAGE_SIZE + 1)
        .await
        .map_err(|e| fail(e.into()))?;
    let more = rows.len() as i64 > PAGE_SIZE;
    let rows = &rows[..rows.len().min(PAGE_SIZE as usize)];
    Ok(WebhookPage {
        items: rows.iter().map(svc::webhook_view).collect(),
        next_before: if more { rows.last().map(svc::cursor_of) } else { None },
    })
}

#[server(endpoint = "admin_webhook")]
pub async fn admin_webhook(id: String) -> Result<WebhookDetail, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::admin_events as svc;

    let (state, _) = require_admin().await?;
    let id = svc::webhook_id(&id).map_err(|e| fail(e.into()))?;
    svc::webhook_detail(state.store.as_ref(), &id)
        .await
        .map_err(|e| fail(e.into()))
}

/// Re-applies a stored event through the idempotent apply path; returns what it did.
#[server(endpoint = "admin_replay_webhook")]
pub async fn admin_replay_webhook(id: String, reason: String, confirm: Option<String>) -> Result<String, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::admin_events as svc;

    let (state, admin) = require_admin().await?;
    if confirm.as_deref() != Some("yes") {
        return Err(fail(AppError::Invalid("Tick the box to confirm the replay.".into())));
    }
    let id = svc::webhook_id(&id).map_err(|e| fail(e.into()))?;
    svc::replay(state.store.as_ref(), &admin, &id, &reason, chrono::Utc::now())
        .await
        .map_err(|e| fail(e.into()))
}

/// `actor` / `action`: exact, or a prefix ending in `*` (e.g. `webhook.*`).
#[server(endpoint = "admin_list_audit")]
pub async fn admin_list_audit(
    actor: Option<String>,
    action: Option<String>,
    before: Option<i64>,
) -> Result<AuditPage, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::admin_events as svc;

    let (state, _) = require_admin().await?;
    let filter = svc::audit_filter(actor.as_deref(), action.as_deref(), before).map_err(|e| fail(e.into()))?;
    let rows = state
        .store
        .list_audit_page(&filter, PAGE_SIZE + 1)
        .await
        .map_err(|e| fail(e.into()))?;
    let more = rows.len() as i64 > PAGE_SIZE;
    let items: Vec<_> = rows.iter().take(PAGE_SIZE as usize).map(svc::audit_view).collect();
    let next_before = if more { items.last().map(|a| a.id) } else { None };
    Ok(AuditPage { items, next_before })
}

/// The metrics of the last `days` days (7, 30 or 90; default 30).
#[server(endpoint = "admin_metrics")]
pub async fn admin_metrics(days: Option<String>) -> Result<MetricsView, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::dashboard_metrics;

    let (state, _) = require_admin().await?;
    let days = dashboard_metrics::parse_period(days.as_deref())
        .ok_or_else(|| fail(AppError::Invalid("days must be 7, 30 or 90".into())))?;
    dashboard_metrics::compute(state.store.as_ref(), days, chrono::Utc::now())
        .await
        .map_err(|e| fail(e.into()))
}
