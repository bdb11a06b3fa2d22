//! The manual flow: a request an admin handles (custom-priced plan, or Whop off for this user).

use super::{parse_client_key, CheckoutError};
use crate::server::store::{NewOrder, OrderRow, Store, StoreError, UserRow};

pub const MAX_NOTE_CHARS: usize = 1000;

/// The optional note of a manual request: trimmed, at most 1,000 characters, no control
/// characters except line breaks (`\r\n` is kept as `\n`). Empty means none.
pub fn parse_note(note: Option<&str>) -> Result<Option<String>, CheckoutError> {
    let Some(note) = note.map(|n| n.replace("\r\n", "\n")) else {
        return Ok(None);
    };
    let note = note.trim();
    if note.is_empty() {
        return Ok(None);
    }
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(CheckoutError::InvalidNote(format!(
            "The note is too long (at most {MAX_NOTE_CHARS} characters)."
        )));
    }
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(CheckoutError::InvalidNote(
            "The note contains characters that are not allowed.".into(),
        ));
    }
    Ok(Some(note.to_string()))
}

/// The manual flow: an order for an admin to handle (`payment_method = manual`), for a plan
/// without a price, or any plan when this user does not pay through Whop. Idempotent by key.
pub async fn request_manual(
    store: &dyn Store,
    user: &UserRow,
    plan_id: i64,
    note: Option<&str>,
    client_key: &str,
) -> Result<OrderRow, CheckoutError> {
    let client_key = parse_client_key(client_key)?;
    let note = parse_note(note)?;
    let plan = store
        .plan_by_id(plan_id)
        .await?
        .filter(|p| p.active)
        .ok_or(CheckoutError::PlanNotFound)?;
    let (order, created) = store
        .create_order(&NewOrder {
            user_id: user.user_id(),
            plan_name: plan.plan_name.clone(),
            credits_amount: plan.credits_amount,
            price_cents: plan.price_cents.unwrap_or(0),
            currency: plan.currency.clone(),
            payment_method: "manual",
            notes: note,
            client_key: Some(client_key.to_string()),
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => CheckoutError::KeyReused,
            e => e.into(),
        })?;
    if !created && (order.payment_method != "manual" || order.plan_name != plan.plan_name) {
        return Err(CheckoutError::KeyReused);
    }
    if created {
        tracing::info!(order_id = order.id, user_id = order.user_id, plan = %plan.plan_name, "manual request created");
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes() {
        assert_eq!(parse_note(None).unwrap(), None);
        assert_eq!(parse_note(Some("  \n ")).unwrap(), None);
        assert_eq!(parse_note(Some(" a\r\nb ")).unwrap().as_deref(), Some("a\nb"));
        assert!(parse_note(Some("a\u{7}b")).is_err());
        assert!(parse_note(Some("a\tb")).is_err());
        assert!(parse_note(Some(&"é".repeat(1000))).is_ok());
        assert!(parse_note(Some(&"é".repeat(1001))).is_err());
    }
}
