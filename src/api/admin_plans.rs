//! Admin server functions for plans: list, create, edit, archive/restore and retry the Whop push.
//! Each starts with `require_admin`; the work is in `server::service::plans`.

use leptos::prelude::*;

use crate::model::{AppError, PlanAdminView};

/// Every plan, archived ones included, in display order.
#[server(endpoint = "admin_list_plans")]
pub async fn admin_list_plans() -> Result<Vec<PlanAdminView>, AppError> {
    use crate::model::Cents;
    use crate::server::fn_ctx::{fail, require_admin};

    let (state, _) = require_admin().await?;
    let rows = state.store.list_plans(true).await.map_err(|e| fail(e.into()))?;
    Ok(rows
        .into_iter()
        .map(|p| PlanAdminView {
            id: p.id,
            price_label: p
                .price_cents
                .map_or_else(|| "Custom".to_string(), |c| Cents(c).format(&p.currency)),
            price_input: p
                .price_cents
                .map_or_else(|| "custom".to_string(), |c| format!("{}.{:02}", c / 100, c % 100)),
            name: p.plan_name,
            credits: p.credits_amount,
            price_cents: p.price_cents,
            currency: p.currency,
            sort_order: p.sort_order,
            active: p.active,
            sync_status: p.sync_status,
            sync_error: p.sync_error,
            synced_at: p
                .synced_at
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            whop_plan_id: p.whop_plan_id,
        })
        .collect())
}

/// Creates a plan and pushes it to Whop (a custom price stays off Whop).
#[server(endpoint = "admin_create_plan")]
pub async fn admin_create_plan(
    name: String,
    credits: String,
    price: String,
    currency: String,
    sort_order: String,
) -> Result<String, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::plans::{self, PlanInput};

    let (state, admin) = require_admin().await?;
    let input = PlanInput {
        name,
        credits,
        price,
        currency,
        sort_order,
    };
    let saved = plans::create(state.store.as_ref(), &state.whop, &state.checkout.locks, &admin, &input)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(saved.message("Created"))
}

/// Changes a plan (past orders keep what they copied) and pushes the change to Whop.
#[server(endpoint = "admin_update_plan")]
pub async fn admin_update_plan(
    id: i64,
    name: String,
    credits: String,
    price: String,
    currency: String,
    sort_order: String,
) -> Result<String, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::plans::{self, PlanInput};

    let (state, admin) = require_admin().await?;
    let input = PlanInput {
        name,
        credits,
        price,
        currency,
        sort_order,
    };
    let saved = plans::edit(
        state.store.as_ref(),
        &state.whop,
        &state.checkout.locks,
        &admin,
        id,
        &input,
    )
    .await
    .map_err(|e| fail(e.into()))?;
    Ok(saved.message("Saved"))
}

/// `active`: "false" archives (off sale, archived on Whop, never deleted), "true" restores.
#[server(endpoint = "admin_set_plan_active")]
pub async fn admin_set_plan_active(id: i64, active: String) -> Result<String, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::plans;

    let (state, admin) = require_admin().await?;
    let active = match active.trim() {
        "true" => true,
        "false" => false,
        _ => return Err(fail(AppError::Invalid("active must be true or false".into()))),
    };
    let saved = plans::set_active(
        state.store.as_ref(),
        &state.whop,
        &state.checkout.locks,
        &admin,
        id,
        active,
    )
    .await
    .map_err(|e| fail(e.into()))?;
    Ok(saved.message(if active { "Restored" } else { "Archived" }))
}

/// Pushes a plan to Whop again (after a failed sync).
#[server(endpoint = "admin_retry_plan_sync")]
pub async fn admin_retry_plan_sync(id: i64) -> Result<String, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::plans;

    let (state, admin) = require_admin().await?;
    let saved = plans::retry(state.store.as_ref(), &state.whop, &state.checkout.locks, &admin, id)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(saved.message("Pushed"))
}
