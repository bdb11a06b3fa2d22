//! Admin server functions for orders: the list, one order, and the actions on orders and
//! balances. Each starts with `require_admin`; the rules live in `service::admin_orders`.

use leptos::prelude::*;

use crate::model::{AdminOrderDetail, AdminOrderPage, AppError};

/// Actions that move money need the confirm box ticked (its value is "yes").
#[cfg(feature = "ssr")]
fn confirmed(confirm: Option<&str>, what: &str) -> Result<(), AppError> {
    if confirm == Some("yes") {
        Ok(())
    } else {
        Err(crate::server::fn_ctx::fail(AppError::Invalid(format!(
            "Tick the box to confirm {what}."
        ))))
    }
}

/// A number from a form field: a clear 400 when it is not one (an `i64` argument that fails to
/// deserialize would be answered by the framework with a 500).
#[cfg(feature = "ssr")]
fn number(field: &str, text: &str) -> Result<i64, AppError> {
    text.trim()
        .parse()
        .map_err(|_| crate::server::fn_ctx::fail(AppError::Invalid(format!("{field} must be a whole number."))))
}

/// One page of orders, newest first, below `before`. Filters: `payment_status`, `status` (review),
/// `method` (manual, whop), `email` (the account's, exact), `from` and `to` (days, UTC).
#[server(endpoint = "admin_list_orders")]
pub async fn admin_list_orders(
    payment_status: Option<String>,
    status: Option<String>,
    method: Option<String>,
    email: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
) -> Result<AdminOrderPage, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::admin_orders::{self, ListQuery};

    let (state, _) = require_admin().await?;
    let before = match before.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        Some(b) => Some(number("The page cursor", b)?),
        None => None,
    };
    let q = ListQuery {
        payment_status,
        status,
        method,
        email,
        from,
        to,
    };
    admin_orders::list(state.store.as_ref(), &q, before)
        .await
        .map_err(|e| fail(e.into()))
}

/// The order's facts and timeline.
#[server(endpoint = "admin_get_order")]
pub async fn admin_get_order(id: String) -> Result<AdminOrderDetail, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::admin_orders;

    let (state, _) = require_admin().await?;
    let id = number("The order id", &id)?;
    admin_orders::detail(state.store.as_ref(), id)
        .await
        .map_err(|e| fail(e.into()))
}

/// Approves pending manual order `id` (granting its credits once); `price` (dollars) for a
/// custom-priced order.
#[server(endpoint = "admin_approve_order")]
pub async fn admin_approve_order(
    id: String,
    price: Option<String>,
    reason: String,
    confirm: Option<String>,
) -> Result<String, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::admin_orders;

    let (state, admin) = require_admin().await?;
    let id = number("The order id", &id)?;
    confirmed(confirm.as_deref(), "the credits")?;
    let order = admin_orders::approve(state.store.as_ref(), &admin, id, price.as_deref(), &reason)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(format!(
        "Approved order #{}: {} credits granted{}.",
        order.id,
        order.credits(),
        if order.price_cents > 0 {
            format!(" at {}", crate::model::Cents(order.price_cents).format(&order.currency))
        } else {
            String::new()
        }
    ))
}

/// Rejects pending manual order `id`; its owner sees `reason`.
#[server(endpoint = "admin_reject_order")]
pub async fn admin_reject_order(id: String, reason: String) -> Result<String, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::admin_orders;

    let (state, admin) = require_admin().await?;
    let id = number("The order id", &id)?;
    let order = admin_orders::reject(state.store.as_ref(), &admin, id, &reason)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(format!("Rejected order #{}. The user sees your reason.", order.id))
}

/// Asks Whop to refund Whop order `id`: `amount` in dollars, empty for all that is left.
#[server(endpoint = "admin_refund_order")]
pub async fn admin_refund_order(
    id: String,
    amount: Option<String>,
    reason: String,
    confirm: Option<String>,
) -> Result<String, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::admin_orders;

    let (state, admin) = require_admin().await?;
    let id = number("The order id", &id)?;
    confirmed(confirm.as_deref(), "the refund")?;
    admin_orders::refund(
        state.store.as_ref(),
        &state.whop,
        &admin,
        id,
        amount.as_deref(),
        &reason,
    )
    .await
    .map_err(|e| fail(e.into()))
}

/// Adds (or, negative, removes) `credits` for the account with `email`, or with `user_id`.
/// `key` is the form's one-time key: a double submit posts once.
#[server(endpoint = "admin_adjust_credits")]
pub async fn admin_adjust_credits(
    email: Option<String>,
    user_id: Option<String>,
    credits: String,
    reason: String,
    key: String,
    confirm: Option<String>,
) -> Result<String, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::admin_orders::{self, AdjustTarget};

    let (state, admin) = require_admin().await?;
    confirmed(confirm.as_deref(), "the adjustment")?;
    let target = match (email, user_id) {
        (_, Some(id)) => AdjustTarget::User(number("The user id", &id)?),
        (Some(e), None) => AdjustTarget::Email(e),
        (None, None) => return Err(fail(AppError::Invalid("Enter the account's email.".into()))),
    };
    let (user, row, applied) = admin_orders::adjust(state.store.as_ref(), &admin, target, &credits, &reason, &key)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(format!(
        "{} {:+} credits for {}: the balance is now {}.",
        if applied { "Posted" } else { "Already posted" },
        row.amount,
        user.email,
        row.balance_after()
    ))
}
