//! Payment events (`payment.created|pending|succeeded|failed`) and payments read back from Whop
//! by reconciliation: find the order, then credit it through the one fulfil path, or mark it
//! failed. A paid payment no order can take goes to the unmatched queue for an admin.

use serde_json::Value;

use super::{from_store, Applied, ApplyError, Outcome, Subject};
use crate::model::OrderId;
use crate::server::service::alerts;
use crate::server::service::orders::{self, PaidPayment, Via};
use crate::server::store::{FulfilOutcome, OrderRow, Store, UnmatchedKind};
use crate::server::whop::types::{Payment, PaymentStatus};

/// Longest failure message copied from Whop onto an order (it is shown to the buyer).
const MAX_FAILURE_MESSAGE: usize = 500;

/// Which payment event (reconciliation reads a paid payment as `Succeeded`, a failed one as
/// `Failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentEvent {
    Created,
    Pending,
    Succeeded,
    Failed,
}

impl PaymentEvent {
    pub fn parse(kind: &str) -> Option<PaymentEvent> {
        match kind {
            "payment.created" => Some(PaymentEvent::Created),
            "payment.pending" => Some(PaymentEvent::Pending),
            "payment.succeeded" => Some(PaymentEvent::Succeeded),
            "payment.failed" => Some(PaymentEvent::Failed),
            _ => None,
        }
    }
}

/// Applies one payment as Whop reported it. `raw` is the webhook body or API object it came from
/// (kept with an unmatched payment for the admin).
pub async fn apply_payment(
    store: &dyn Store,
    event: PaymentEvent,
    payment: &Payment,
    raw: &str,
    via: Via,
) -> Result<Applied, ApplyError> {
    let paid = event == PaymentEvent::Succeeded && payment.status == Some(PaymentStatus::Paid);
    let order = match find_order(store, payment).await {
        Ok(order) => order,
        Err(ApplyError::Permanent { reason, subject }) => {
            // Only money actually received for credits matters to an admin; the rest (unpaid
            // attempts, what else the Whop account sells) has nothing to act on.
            if !paid || !for_credits(store, payment, &subject).await? {
                return Ok(Applied {
                    outcome: Outcome::Ignored,
                    subject,
                });
            }
            return unmatched(store, payment, raw, &reason, subject).await;
        }
        Err(other) => return Err(other),
    };
    let subject = Subject::of(payment, &order);
    match event {
        PaymentEvent::Succeeded => succeeded(store, payment, raw, &order, subject, via).await,
        PaymentEvent::Failed => failed(store, payment, &order, subject).await,
        PaymentEvent::Created | PaymentEvent::Pending => Ok(Applied {
            outcome: Outcome::Recorded,
            subject,
        }),
    }
}

/// Whether a payment no order matches was still meant to buy credits: it names an order in its
/// metadata, or was paid for a plan or product a credits plan is sold under.
async fn for_credits(store: &dyn Store, payment: &Payment, subject: &Subject) -> Result<bool, ApplyError> {
    if payment.metadata.as_ref().and_then(|m| m.get("order_id")).is_some() {
        return Ok(true);
    }
    let plan = payment.plan.as_ref().map(|r| r.id.as_str());
    let product = payment.product.as_ref().map(|r| r.id.as_str());
    if plan.is_none() && product.is_none() {
        return Ok(false);
    }
    store
        .sells_credits(plan, product)
        .await
        .map_err(|e| from_store(e, subject))
}

/// Queues a paid payment no order can take (the reason says why) for an admin.
async fn unmatched(
    store: &dyn Store,
    payment: &Payment,
    raw: &str,
    reason: &str,
    subject: Subject,
) -> Result<Applied, ApplyError> {
    let paid = PaidPayment::from_whop(payment, raw.to_owned())
        .map_err(|e| ApplyError::permanent(format!("{reason}; {e}"), subject.clone()))?;
    let (row, new) = store
        .record_unmatched(&paid.unmatched(UnmatchedKind::NoOrder, reason, None))
        .await
        .map_err(|e| from_store(e, &subject))?;
    if new {
        tracing::warn!(payment_id = %payment.id, unmatched_id = row.id, %reason, "paid payment queued for an admin");
    }
    Ok(Applied {
        outcome: Outcome::Unmatched,
        subject,
    })
}

async fn succeeded(
    store: &dyn Store,
    payment: &Payment,
    raw: &str,
    order: &OrderRow,
    subject: Subject,
    via: Via,
) -> Result<Applied, ApplyError> {
    if payment.status != Some(PaymentStatus::Paid) {
        return Ok(Applied {
            outcome: Outcome::NotPaid,
            subject,
        });
    }
    let paid = PaidPayment::from_whop(payment, raw.to_owned())
        .map_err(|reason| ApplyError::permanent(reason, subject.clone()))?;
    let outcome = match orders::fulfil(store, order.order_id(), &paid, via).await {
        Ok(FulfilOutcome::Credited { .. }) => Outcome::Credited,
        Ok(FulfilOutcome::AlreadyCredited { .. }) => Outcome::AlreadyCredited,
        // `fulfil` queued it for an admin.
        Ok(FulfilOutcome::Held { .. }) => Outcome::Held,
        Err(e) => return Err(from_store(e, &subject)),
    };
    Ok(Applied { outcome, subject })
}

async fn failed(
    store: &dyn Store,
    payment: &Payment,
    order: &OrderRow,
    subject: Subject,
) -> Result<Applied, ApplyError> {
    if order.payment_method != "whop" {
        return Err(ApplyError::permanent("not a Whop order", subject));
    }
    let message = payment
        .failure_message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| m.chars().take(MAX_FAILURE_MESSAGE).collect::<String>())
        .unwrap_or_else(|| "Payment failed".to_owned());
    let changed = store
        .fail_order(order.order_id(), &message)
        .await
        .map_err(|e| from_store(e, &subject))?;
    if changed {
        alerts::raise(store, alerts::payment_failed(order.id, &payment.id, &message)).await;
    }
    Ok(Applied {
        outcome: if changed {
            Outcome::OrderFailed
        } else {
            Outcome::PaidOrderKept
        },
        subject,
    })
}

/// The order a payment is for: `metadata.order_id` (set by our checkout), else the checkout
/// configuration it was paid through. When both are there they must name the same order.
/// A `Permanent` error says why no order can take it.
pub(super) async fn find_order(store: &dyn Store, payment: &Payment) -> Result<OrderRow, ApplyError> {
    let partial = Subject {
        payment_id: Some(payment.id.clone()),
        ..Subject::default()
    };
    let by_metadata = metadata_order_id(payment.metadata.as_ref())
        .map_err(|reason| ApplyError::permanent(reason, partial.clone()))?;
    let checkout = payment.checkout_configuration_id.as_deref().filter(|c| !c.is_empty());
    let store_err = |e| from_store(e, &partial);

    let order = match (by_metadata, checkout) {
        (Some(id), checkout) => {
            let order = store.order_by_id(id).await.map_err(store_err)?;
            let Some(order) = order else {
                return Err(ApplyError::permanent("no matching order", partial));
            };
            if let Some(checkout) = checkout {
                let recorded = order.whop_checkout_id.as_deref();
                let other = match recorded {
                    Some(c) => (c != checkout).then(|| c.to_owned()),
                    // The order has no checkout on record (its creation stopped half-way); the
                    // checkout must then not belong to another order.
                    None => store
                        .order_by_checkout_id(checkout)
                        .await
                        .map_err(store_err)?
                        .filter(|o| o.id != order.id)
                        .map(|o| format!("order {}", o.id)),
                };
                if let Some(other) = other {
                    return Err(ApplyError::permanent(
                        format!(
                            "metadata names order {} but checkout {checkout} belongs to {other}: not credited",
                            order.id
                        ),
                        partial,
                    ));
                }
            }
            order
        }
        (None, Some(checkout)) => store
            .order_by_checkout_id(checkout)
            .await
            .map_err(store_err)?
            .ok_or_else(|| ApplyError::permanent("no matching order", partial.clone()))?,
        (None, None) => return Err(ApplyError::permanent("no matching order", partial)),
    };
    Ok(order)
}

/// `metadata.order_id` when present: a positive integer, as a JSON integer or as its decimal
/// digits in a string (no sign, spaces or leading zeros). Anything else there is refused rather
/// than guessed at.
fn metadata_order_id(metadata: Option<&Value>) -> Result<Option<OrderId>, String> {
    let refused = |v: &Value| {
        let shown: String = v.to_string().chars().take(40).collect();
        format!("metadata.order_id is not an order id: {shown}")
    };
    let Some(value) = metadata.and_then(|m| m.get("order_id")) else {
        return Ok(None);
    };
    let id = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let canonical = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0');
            canonical.then(|| s.parse::<i64>().ok()).flatten()
        }
        _ => None,
    };
    match id {
        Some(id) if id > 0 => Ok(Some(OrderId(id))),
        _ => Err(refused(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    #[test]
    fn metadata_order_ids_are_parsed_strictly() {
        let id = |v: Value| metadata_order_id(Some(&json!({ "order_id": v })));
        assert_eq!(id(json!("42")), Ok(Some(OrderId(42))));
        assert_eq!(id(json!(42)), Ok(Some(OrderId(42))));
        assert_eq!(id(Value::Null), Ok(None));
        assert_eq!(metadata_order_id(None), Ok(None));
        assert_eq!(metadata_order_id(Some(&json!({ "user_id": "1" }))), Ok(None));
        assert_eq!(metadata_order_id(Some(&json!("not an object"))), Ok(None));
        for bad in [
            json!(""),
            json!("0"),
            json!("042"),
            json!("+42"),
            json!("-42"),
            json!(" 42"),
            json!("42 "),
            json!("4_2"),
            json!("42.0"),
            json!("99999999999999999999"),
            json!(0),
            json!(-3),
            json!(42.0),
            json!(4.2),
            json!(true),
            json!(["42"]),
            json!({ "id": 42 }),
        ] {
            assert!(id(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn paid_payments_need_a_total_and_a_currency() {
        // Money is read from the raw JSON text (exact decimals), so parse text, not a Value.
        let p: Payment = serde_json::from_str(
            r#"{"id":"pay_1","status":"paid","total":7.5,"currency":"usd","paid_at":"2026-01-02T03:04:05Z",
                "user":{"id":"user_1","email":"a@example.com"},"plan":{"id":"plan_1"},"checkout_configuration_id":"ch_1"}"#,
        )
        .unwrap();
        let paid = PaidPayment::from_whop(&p, "{}".into()).unwrap();
        assert_eq!(paid.amount.get(), 750);
        assert_eq!(paid.paid_at.to_rfc3339(), "2026-01-02T03:04:05+00:00");
        assert_eq!(paid.payer_email.as_deref(), Some("a@example.com"));
        assert_eq!(paid.whop_user_id.as_deref(), Some("user_1"));
        assert_eq!(paid.whop_plan_id.as_deref(), Some("plan_1"));
        assert_eq!(paid.checkout_id.as_deref(), Some("ch_1"));
        let no_time = Payment {
            paid_at: Some("yesterday".into()),
            ..p.clone()
        };
        let before = Utc::now();
        assert!(PaidPayment::from_whop(&no_time, String::new()).unwrap().paid_at >= before);
        let no_total = Payment {
            total: None,
            ..p.clone()
        };
        assert!(PaidPayment::from_whop(&no_total, String::new()).is_err());
        let no_currency = Payment {
            currency: Some(String::new()),
            ..p
        };
        assert!(PaidPayment::from_whop(&no_currency, String::new()).is_err());
    }
}
