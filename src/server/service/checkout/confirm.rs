//! The status page's confirmation with Whop: a lost or late webhook never leaves a paid user
//! waiting.

use super::{CheckoutError, CheckoutMemory};
use crate::model::OrderId;
use crate::server::service::orders::{self, PaidPayment, Via};
use crate::server::store::{FulfilOutcome, OrderRow, Store};
use crate::server::whop::client::PaymentFilter;
use crate::server::whop::types::PaymentStatus;
use crate::server::whop::WhopSetup;

/// Asks Whop whether a pending Whop order's checkout was paid, and if so credits it through the
/// one fulfil path. Called by the status page; rate-limited by `ConfirmBackoff` (so most calls
/// return `Ok(None)` without calling Whop). Never reads anything the browser sent.
pub async fn confirm_with_whop(
    store: &dyn Store,
    whop: &WhopSetup,
    memory: &CheckoutMemory,
    order: &OrderRow,
) -> Result<Option<FulfilOutcome>, CheckoutError> {
    let Some(checkout_id) = order.whop_checkout_id.as_deref() else {
        return Ok(None);
    };
    if order.payment_method != "whop" || order.payment_status != "pending" || order.hold_reason.is_some() {
        return Ok(None);
    }
    if !memory
        .confirmations
        .claim(order.id, order.created_at, chrono::Utc::now())
    {
        return Ok(None);
    }
    let payments = whop
        .client
        .list_payments(&PaymentFilter {
            checkout_configuration_ids: vec![checkout_id.to_string()],
            ..Default::default()
        })
        .await?;
    let mut last = None;
    for p in payments {
        // The filter is Whop's; the check is ours.
        if p.status != Some(PaymentStatus::Paid)
            || p.checkout_configuration_id.as_deref().is_some_and(|c| c != checkout_id)
        {
            continue;
        }
        let raw = serde_json::to_string(&p).unwrap_or_default();
        let paid = match PaidPayment::from_whop(&p, raw) {
            Ok(paid) => paid,
            Err(reason) => {
                tracing::warn!(order_id = order.id, payment_id = %p.id, %reason, "paid payment not usable");
                continue;
            }
        };
        last = Some(orders::fulfil(store, OrderId(order.id), &paid, Via::Confirmation).await?);
    }
    Ok(last)
}
