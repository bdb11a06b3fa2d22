//! The unmatched-payments queue: paid Whop payments no order could take. Nothing here is ever
//! credited on its own; an admin attaches a payment to a user (an order is made for it and
//! credited through the one fulfil path) or marks it resolved (e.g. refunded at Whop). Each
//! action needs a reason and writes an audit log line in the same transaction as the change.

use chrono::Utc;
use serde_json::json;

use crate::model::{Cents, Credits, OrderId};
use crate::server::service::orders::{self, PaidPayment, Via};
use crate::server::service::text::refuse_control_chars;
use crate::server::store::{
    AuditEntry, FulfilOutcome, NewOrder, OrderRow, Store, StoreError, UnmatchedPaymentRow, UserRow,
};

/// Most credits one attach may grant (a typo guard far above any plan).
pub const MAX_ATTACH_CREDITS: i64 = 1_000_000_000;
const MAX_REASON_CHARS: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum UnmatchedError {
    #[error("no such unmatched payment")]
    NotFound,
    #[error("this payment was already {0}")]
    NotOpen(String),
    #[error("no account has the email {0}")]
    UnknownUser(String),
    #[error("{0}")]
    Invalid(String),
    /// Fulfil refused the payment (e.g. it was credited to another order meanwhile).
    #[error("not credited: {0}")]
    NotCredited(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The admin's reason: required, one line, at most 500 characters.
fn reason(text: &str) -> Result<String, UnmatchedError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(UnmatchedError::Invalid("a reason is required".into()));
    }
    if t.chars().count() > MAX_REASON_CHARS {
        return Err(UnmatchedError::Invalid(format!(
            "the reason may be at most {MAX_REASON_CHARS} characters"
        )));
    }
    refuse_control_chars("the reason", t).map_err(UnmatchedError::Invalid)?;
    Ok(t.to_owned())
}

async fn open_row(store: &dyn Store, id: i64) -> Result<UnmatchedPaymentRow, UnmatchedError> {
    let row = store.unmatched_by_id(id).await?.ok_or(UnmatchedError::NotFound)?;
    if row.status != "open" {
        return Err(UnmatchedError::NotOpen(row.status));
    }
    Ok(row)
}

fn audit(admin: &UserRow, action: &str, row: &UnmatchedPaymentRow, after: serde_json::Value) -> AuditEntry {
    AuditEntry {
        actor: admin.email.clone(),
        action: action.to_owned(),
        subject: format!("payment {}", row.payment_id),
        before: Some(json!({ "status": row.status, "reason": row.reason }).to_string()),
        after: Some(after.to_string()),
    }
}

/// Credits the user with this email `credits` for the payment: an order is made for it (price
/// and currency as paid) and fulfilled. Safe to repeat after a crash half-way: the order is
/// keyed on the payment and fulfil credits a payment once.
pub async fn attach(
    store: &dyn Store,
    admin: &UserRow,
    id: i64,
    user_email: &str,
    credits: i64,
    reason_text: &str,
) -> Result<OrderRow, UnmatchedError> {
    let note = reason(reason_text)?;
    if !(1..=MAX_ATTACH_CREDITS).contains(&credits) {
        return Err(UnmatchedError::Invalid(format!(
            "credits must be a whole number from 1 to {}",
            Credits(MAX_ATTACH_CREDITS)
        )));
    }
    let row = open_row(store, id).await?;
    let email = user_email.trim();
    let user = store
        .user_by_email(email)
        .await?
        .ok_or_else(|| UnmatchedError::UnknownUser(email.chars().take(80).collect()))?;
    let (order, _) = store
        .create_order(&NewOrder {
            user_id: user.user_id(),
            plan_name: format!("Whop payment {}", row.payment_id),
            credits_amount: credits,
            price_cents: row.amount_cents,
            currency: row.currency.clone(),
            payment_method: "whop",
            notes: Some(note.clone()),
            client_key: Some(format!("attach-{}", row.payment_id)),
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => UnmatchedError::NotOpen("being attached to another account".into()),
            other => other.into(),
        })?;
    let mut paid = PaidPayment::new(&row.payment_id, Cents(row.amount_cents), &row.currency, row.created_at);
    paid.raw = row.raw_event.clone();
    match orders::fulfil(store, OrderId(order.id), &paid, Via::Admin).await? {
        FulfilOutcome::Credited { .. } | FulfilOutcome::AlreadyCredited { .. } => {}
        FulfilOutcome::Held { reason, .. } => return Err(UnmatchedError::NotCredited(reason)),
    }
    let after = json!({
        "status": "attached",
        "order_id": order.id,
        "user": user.email,
        "credits": credits,
        "note": note,
    });
    store
        .close_unmatched(
            id,
            "attached",
            Some(OrderId(order.id)),
            &note,
            &audit(admin, "unmatched_payment.attach", &row, after),
            Utc::now(),
        )
        .await?;
    let order = store
        .order_by_id(OrderId(order.id))
        .await?
        .ok_or(StoreError::NotFound("order"))?;
    tracing::info!(payment_id = %row.payment_id, order_id = order.id, user_id = user.id, credits, admin = %admin.email, "unmatched payment attached");
    Ok(order)
}

/// Closes the payment without crediting anyone (refunded at Whop, a test, a duplicate...).
/// Refunds and disputes waiting for it then settle with nothing to take back.
pub async fn resolve(store: &dyn Store, admin: &UserRow, id: i64, reason_text: &str) -> Result<(), UnmatchedError> {
    let note = reason(reason_text)?;
    let row = open_row(store, id).await?;
    let after = json!({ "status": "resolved", "note": note });
    let now = Utc::now();
    let closed = store
        .close_unmatched(
            id,
            "resolved",
            None,
            &note,
            &audit(admin, "unmatched_payment.resolve", &row, after),
            now,
        )
        .await?;
    if !closed {
        return Err(UnmatchedError::NotOpen("closed by someone else".into()));
    }
    store.wake_events_for_payment(&row.payment_id, now).await?;
    tracing::info!(payment_id = %row.payment_id, admin = %admin.email, "unmatched payment resolved");
    Ok(())
}

/// How a queued payment looks to the admin.
pub fn view(row: &UnmatchedPaymentRow) -> crate::model::UnmatchedPaymentView {
    let raw_event = serde_json::from_str::<serde_json::Value>(&row.raw_event)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| row.raw_event.clone());
    crate::model::UnmatchedPaymentView {
        id: row.id,
        payment_id: row.payment_id.clone(),
        kind_label: match (row.kind.as_str(), row.order_id) {
            ("held", Some(order)) => format!("Held by order #{order}"),
            ("held", None) => "Held".into(),
            _ => "No matching order".into(),
        },
        reason: row.reason.clone(),
        email: row.email.clone(),
        amount: Cents(row.amount_cents).format(&row.currency),
        checkout_id: row.checkout_id.clone(),
        whop_plan_id: row.whop_plan_id.clone(),
        status: row.status.clone(),
        attached_order_id: row.attached_order_id,
        resolved_by: row.resolved_by.clone(),
        resolution_note: row.resolution_note.clone(),
        created_at: row.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        raw_event,
    }
}
