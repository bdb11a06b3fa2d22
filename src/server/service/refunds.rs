//! Asking Whop to refund an order (the admin order page calls this). Only the request happens
//! here: credits move when Whop's `refund.updated` (or reconciliation) confirms the refund
//! succeeded, through the same path as every refund, so a refund that fails at the bank never
//! takes credits back and one made in Whop's own dashboard is handled the same way.

use chrono::Utc;
use serde_json::json;

use crate::model::{Cents, OrderId};
use crate::server::service::text::refuse_control_chars;
use crate::server::store::{AuditEntry, Store, StoreError, UserRow};
use crate::server::whop::error::WhopError;
use crate::server::whop::types::Payment;
use crate::server::whop::WhopSetup;

#[derive(Debug, thiserror::Error)]
pub enum RefundRequestError {
    #[error("no such order")]
    NotFound,
    #[error("{0}")]
    NotRefundable(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Whop(#[from] WhopError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What was asked of Whop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedRefund {
    pub order_id: OrderId,
    pub payment_id: String,
    pub amount: Cents,
    /// Whop's payment after the request (its refunds list shows the refund, usually pending).
    pub payment: Payment,
}

/// Asks Whop to refund `amount` of the order's payment (all that is left when None). The
/// Idempotency-Key names the order, the refunded total so far and the amount, so a double click
/// or a retried request refunds once, while a later, deliberate refund (after the first one has
/// been applied) gets a key of its own.
pub async fn request_refund(
    store: &dyn Store,
    whop: &WhopSetup,
    admin: &UserRow,
    order_id: OrderId,
    amount: Option<Cents>,
    reason: &str,
) -> Result<RequestedRefund, RefundRequestError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(RefundRequestError::Invalid(
            "a reason of at most 500 characters is required".into(),
        ));
    }
    refuse_control_chars("the reason", reason).map_err(RefundRequestError::Invalid)?;
    let order = store.order_by_id(order_id).await?.ok_or(RefundRequestError::NotFound)?;
    let (Some(payment_id), Some(_)) = (order.whop_payment_id.clone(), order.credited_at) else {
        return Err(RefundRequestError::NotRefundable(
            "only a Whop order that was paid and credited can be refunded".into(),
        ));
    };
    let refunded = store.order_refunded_cents(order_id).await?;
    let left = order.price_cents - refunded;
    if left <= 0 {
        return Err(RefundRequestError::NotRefundable(
            "this order is refunded in full".into(),
        ));
    }
    let amount = amount.unwrap_or(Cents(left));
    if amount.get() <= 0 || amount.get() > left {
        return Err(RefundRequestError::Invalid(format!(
            "the amount must be more than 0 and at most {}",
            Cents(left).format(&order.currency)
        )));
    }
    // Whop takes no partial amount for a full refund of what is left.
    let partial = (amount.get() < order.price_cents || refunded > 0).then_some(amount);
    let key = format!("refund-order-{}-{}-{}", order.id, refunded, amount.get());
    let payment = whop.client.refund_payment(&payment_id, partial, &key).await?;
    store
        .record_audit(
            &AuditEntry {
                // The same actor and subject as every admin action on an order, so the order's
                // timeline (`/admin/orders/ID`) finds the line.
                actor: crate::server::service::ledger::Actor::Admin(admin.user_id()).as_text(),
                action: "order.refund_requested".into(),
                subject: format!("order:{}", order.id),
                before: Some(json!({ "refunded_cents": refunded, "payment_status": order.payment_status }).to_string()),
                after: Some(
                    json!({ "requested_cents": amount.get(), "payment_id": payment_id, "reason": reason }).to_string(),
                ),
            },
            Utc::now(),
        )
        .await?;
    tracing::info!(order_id = order.id, payment_id = %payment_id, cents = amount.get(), admin = %admin.email, "refund requested from Whop");
    Ok(RequestedRefund {
        order_id,
        payment_id,
        amount,
        payment,
    })
}
