//! Admin server functions for the unmatched-payments queue. Each starts with `require_admin`.

use leptos::prelude::*;

use crate::model::{AppError, UnmatchedPage};

/// Rows per page of the queue.
pub const PAGE_SIZE: i64 = 25;

/// How many payments wait for an admin (the badge in the admin header).
#[server(endpoint = "admin_unmatched_count")]
pub async fn admin_unmatched_count() -> Result<i64, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};

    let (state, _) = require_admin().await?;
    state.store.count_open_unmatched().await.map_err(|e| fail(e.into()))
}

/// `status`: open (default), attached, resolved or all; `before`: the page's keyset cursor.
#[server(endpoint = "admin_list_unmatched")]
pub async fn admin_list_unmatched(status: Option<String>, before: Option<i64>) -> Result<UnmatchedPage, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::unmatched;

    let (state, _) = require_admin().await?;
    let status = match status.as_deref().map(str::trim).unwrap_or("open") {
        "all" => None,
        s @ ("open" | "attached" | "resolved") => Some(s),
        _ => {
            return Err(AppError::Invalid(
                "status must be open, attached, resolved or all".into(),
            ))
        }
    };
    let store = state.store.as_ref();
    let rows = store
        .list_unmatched(status, before, PAGE_SIZE + 1)
        .await
        .map_err(|e| fail(e.into()))?;
    let open_count = store.count_open_unmatched().await.map_err(|e| fail(e.into()))?;
    let more = rows.len() as i64 > PAGE_SIZE;
    let items: Vec<_> = rows.iter().take(PAGE_SIZE as usize).map(unmatched::view).collect();
    let next_before = if more { items.last().map(|v| v.id) } else { None };
    Ok(UnmatchedPage {
        items,
        next_before,
        open_count,
    })
}

/// Credits the account with `email` `credits` for unmatched payment `id`.
#[server(endpoint = "admin_attach_unmatched")]
pub async fn admin_attach_unmatched(
    id: i64,
    email: String,
    credits: String,
    reason: String,
    confirm: Option<String>,
) -> Result<String, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::unmatched;

    let (state, admin) = require_admin().await?;
    if confirm.as_deref() != Some("yes") {
        return Err(AppError::Invalid("Tick the box to confirm the credits.".into()));
    }
    let credits: i64 = credits
        .trim()
        .replace([',', '_'], "")
        .parse()
        .map_err(|_| AppError::Invalid("Credits must be a whole number.".into()))?;
    let order = unmatched::attach(state.store.as_ref(), &admin, id, &email, credits, &reason)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(format!(
        "Credited {} credits to {} as order #{}.",
        crate::model::Credits(credits),
        email.trim(),
        order.id
    ))
}

/// Closes unmatched payment `id` without crediting anyone.
#[server(endpoint = "admin_resolve_unmatched")]
pub async fn admin_resolve_unmatched(id: i64, reason: String) -> Result<String, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::unmatched;

    let (state, admin) = require_admin().await?;
    unmatched::resolve(state.store.as_ref(), &admin, id, &reason)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok("Marked resolved. No credits were granted.".into())
}
