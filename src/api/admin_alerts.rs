//! Admin server functions for alerts. Each starts with `require_admin`.

use leptos::prelude::*;

use crate::model::{AlertPage, AppError};

/// Rows per page of the alerts list.
pub const PAGE_SIZE: i64 = 25;

/// An alert id from a form: taken as text so that a malformed one is a clear 400, not a
/// framework error.
#[cfg(feature = "ssr")]
fn alert_id(field: &str, raw: &str) -> Result<i64, AppError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id >= 1)
        .ok_or_else(|| crate::server::fn_ctx::fail(AppError::Invalid(format!("{field} must be a positive alert id"))))
}

/// How many alerts are open (the badge in the admin header).
#[server(endpoint = "admin_alert_count")]
pub async fn admin_alert_count() -> Result<i64, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};

    let (state, _) = require_admin().await?;
    state.store.count_open_alerts().await.map_err(|e| fail(e.into()))
}

/// `status`: open (default), acknowledged or all; `before`: the page's keyset cursor.
#[server(endpoint = "admin_list_alerts")]
pub async fn admin_list_alerts(status: Option<String>, before: Option<String>) -> Result<AlertPage, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::alerts;

    let (state, _) = require_admin().await?;
    let status = match status.as_deref().map(str::trim).unwrap_or("open") {
        "all" => None,
        s @ ("open" | "acknowledged") => Some(s),
        _ => {
            return Err(fail(AppError::Invalid(
                "status must be open, acknowledged or all".into(),
            )))
        }
    };
    let before = before
        .as_deref()
        .filter(|b| !b.trim().is_empty())
        .map(|b| alert_id("before", b))
        .transpose()?;
    let store = state.store.as_ref();
    let rows = store
        .list_alerts(status, before, PAGE_SIZE + 1)
        .await
        .map_err(|e| fail(e.into()))?;
    let open_count = store.count_open_alerts().await.map_err(|e| fail(e.into()))?;
    let more = rows.len() as i64 > PAGE_SIZE;
    let items: Vec<_> = rows.iter().take(PAGE_SIZE as usize).map(alerts::view).collect();
    let next_before = if more { items.last().map(|v| v.id) } else { None };
    Ok(AlertPage {
        items,
        next_before,
        open_count,
    })
}

/// Acknowledges alert `id`.
#[server(endpoint = "admin_acknowledge_alert")]
pub async fn admin_acknowledge_alert(id: String) -> Result<String, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::alerts;

    let (state, admin) = require_admin().await?;
    let id = alert_id("id", &id)?;
    alerts::acknowledge(state.store.as_ref(), &admin, id)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(format!("Alert #{id} acknowledged."))
}

/// Acknowledges every open alert up to `up_to` (the newest one on the admin's screen).
#[server(endpoint = "admin_acknowledge_all_alerts")]
pub async fn admin_acknowledge_all_alerts(up_to: String) -> Result<String, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::alerts;

    let (state, admin) = require_admin().await?;
    let up_to = alert_id("up_to", &up_to)?;
    let n = alerts::acknowledge_all(state.store.as_ref(), &admin, up_to)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(match n {
        0 => "No open alerts to acknowledge.".into(),
        1 => "1 alert acknowledged.".into(),
        n => format!("{n} alerts acknowledged."),
    })
}
