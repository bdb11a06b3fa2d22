//! Buying credits: the credits page, opening a Whop checkout, the manual request flow and the
//! payment status page. Thin: authenticate, parse, call `server::service::checkout`, map errors.

use leptos::prelude::*;

use crate::model::{AppError, CreditsPageView, OrderView, PaymentStatusView};

/// How many of the viewer's orders the credits page lists.
pub const RECENT_ORDERS: i64 = 10;

/// The plans on sale; signed in, also the balance, recent orders and whether Whop is on for them.
#[server(endpoint = "get_credits_page")]
pub async fn get_credits_page() -> Result<CreditsPageView, AppError> {
    use crate::model::{Cents, Credits, PlanView};
    use crate::server::fn_ctx::{fail, headers, state, viewer};
    use crate::server::service::{checkout, orders};

    let state = state()?;
    let headers = headers().await;
    let user = viewer(&state, &headers).await?;
    let store = state.store.as_ref();
    let plans = store.list_plans(false).await.map_err(|e| fail(e.into()))?;
    let plans = plans
        .into_iter()
        .map(|p| PlanView {
            id: p.id,
            name: p.plan_name,
            credits: Credits(p.credits_amount),
            price: p.price_cents.map(Cents),
            currency: p.currency,
        })
        .collect();
    let whop_enabled = checkout::whop_enabled_for(store, &state.checkout, user.as_ref().map(|u| u.email.as_str()))
        .await
        .map_err(|e| fail(e.into()))?;
    let (balance, orders) = match &user {
        None => (None, Vec::new()),
        Some(u) => {
            let rows = store
                .list_user_orders(u.user_id(), RECENT_ORDERS)
                .await
                .map_err(|e| fail(e.into()))?;
            (Some(u.balance()), rows.iter().map(orders::view).collect())
        }
    };
    Ok(CreditsPageView {
        plans,
        balance,
        orders,
        whop_enabled,
    })
}

/// Creates (or finds by `client_key`) the order and its Whop checkout, and sends the browser to
/// Whop's `purchase_url` (returned, and set as the redirect of a no-JS form post).
#[server(endpoint = "start_checkout")]
pub async fn start_checkout(plan_id: i64, client_key: String) -> Result<String, AppError> {
    use crate::server::fn_ctx::{fail, headers, require_user};
    use crate::server::service::checkout;

    let (state, user) = require_user().await?;
    let headers = headers().await;
    let uri = leptos_axum::extract::<axum::http::Uri>().await.ok();
    let authority = uri
        .as_ref()
        .and_then(|u| u.authority())
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            headers
                .get(axum::http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
    let proto = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok());
    let base = checkout::return_base(&state.web, proto, authority.as_deref()).map_err(|e| fail(e.into()))?;
    let buyer = checkout::Buyer {
        user: &user,
        client_key: &client_key,
        return_base: &base,
    };
    let url = checkout::start_checkout(state.store.as_ref(), &state.whop, &state.checkout, &buyer, plan_id)
        .await
        .map_err(|e| fail(e.into()))?;
    leptos_axum::redirect(&url);
    Ok(url)
}

/// The manual flow: a request an admin handles (custom-priced plan, or Whop off for this user).
#[server(endpoint = "request_plan")]
pub async fn request_plan(plan_id: i64, note: Option<String>, client_key: String) -> Result<OrderView, AppError> {
    use crate::server::fn_ctx::{fail, require_user};
    use crate::server::service::{checkout, orders};

    let (state, user) = require_user().await?;
    let order = checkout::request_manual(state.store.as_ref(), &user, plan_id, note.as_deref(), &client_key)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(orders::view(&order))
}

/// One order and the balance, for its owner or an admin (anyone else: 404, so ids cannot be
/// probed). While a Whop order is pending this also asks Whop (with backoff) whether it was paid.
#[server(endpoint = "get_payment_status")]
pub async fn get_payment_status(order_id: i64) -> Result<PaymentStatusView, AppError> {
    use crate::model::OrderId;
    use crate::server::fn_ctx::{fail, require_user};
    use crate::server::service::{checkout, orders};

    let (state, user) = require_user().await?;
    let store = state.store.as_ref();
    let not_found = || fail(AppError::NotFound("Order".into()));
    let mut order = store
        .order_by_id(OrderId(order_id))
        .await
        .map_err(|e| fail(e.into()))?
        .ok_or_else(not_found)?;
    if order.user_id != user.id && user.role != "admin" {
        return Err(not_found());
    }
    if order.payment_status == "pending" {
        match checkout::confirm_with_whop(store, &state.whop, &state.checkout, &order).await {
            Ok(None) => {}
            Ok(Some(_)) => {
                if let Some(fresh) = store.order_by_id(order.order_id()).await.map_err(|e| fail(e.into()))? {
                    order = fresh;
                }
            }
            // The webhook (and later polls) remain: the page just keeps waiting.
            Err(e) => tracing::warn!(order_id = order.id, error = %e, "confirming with Whop failed"),
        }
    }
    // The owner's balance (an admin looking at someone's order sees the owner's).
    let owner = store
        .user_by_id(order.user_id())
        .await
        .map_err(|e| fail(e.into()))?
        .ok_or_else(not_found)?;
    Ok(PaymentStatusView {
        order: orders::view(&order),
        balance: owner.balance(),
    })
}
