//! Refunds and disputes, from webhooks or from the payments reconciliation reads back: matched
//! to the order by the `pay_` id of the payment they are about (never by metadata, which Whop's
//! dispute payment does not carry), then clawed back, held or released once each.

use super::{from_store, Applied, ApplyError, Outcome, Subject};
use crate::server::store::dispute::DisputeStage;
use crate::server::store::{DisputeApplication, DisputeOutcome, OrderRow, RefundApplication, RefundOutcome, Store};
use crate::server::whop::types::{DisputeStatus, PaymentSummary, RefundStatus};

/// What a dispute status means for the credits: won (or a warning closed without a chargeback)
/// releases the hold, lost keeps it; anything else, `closed` without a verdict included, holds
/// until Whop says more.
pub fn dispute_stage(status: DisputeStatus) -> DisputeStage {
    match status {
        DisputeStatus::Won | DisputeStatus::WarningClosed => DisputeStage::Won,
        DisputeStatus::Lost => DisputeStage::Lost,
        _ => DisputeStage::Open,
    }
}

/// The `pay_` id of the payment a refund or dispute embeds (how they are matched to orders).
pub fn embedded_payment_id<'a>(payment: Option<&'a PaymentSummary>, what: &str) -> Result<&'a str, ApplyError> {
    payment
        .map(|p| p.id.trim())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApplyError::permanent(format!("{what} names no payment"), Subject::default()))
}

fn with_order(subject: &Subject, order: &OrderRow) -> Subject {
    Subject {
        order: Some(order.order_id()),
        user: Some(order.user_id()),
        ..subject.clone()
    }
}

/// A refund (`status` as Whop reports it): a succeeded one claws back its share of the credits.
pub async fn apply_refund(
    store: &dyn Store,
    status: RefundStatus,
    application: &RefundApplication,
) -> Result<Applied, ApplyError> {
    let subject = Subject {
        payment_id: Some(application.payment_id.clone()),
        ..Subject::default()
    };
    if status != RefundStatus::Succeeded {
        // Only money actually returned takes credits back; its `refund.updated` follows.
        return Ok(Applied {
            outcome: Outcome::RefundNotSucceeded,
            subject,
        });
    }
    match store.refund_order(application).await {
        Ok(RefundOutcome::ClawedBack { order, .. }) => Ok(Applied {
            outcome: Outcome::ClawedBack,
            subject: with_order(&subject, &order),
        }),
        Ok(RefundOutcome::AlreadyApplied { order }) => Ok(Applied {
            outcome: Outcome::RefundAlreadyApplied,
            subject: with_order(&subject, &order),
        }),
        Ok(RefundOutcome::PaymentNotCredited) => {
            not_credited(store, subject, &format!("refund {}", application.refund_id)).await
        }
        Ok(RefundOutcome::Refused { order, reason }) => {
            Err(ApplyError::permanent(reason, with_order(&subject, &order)))
        }
        Err(e) => Err(from_store(e, &subject)),
    }
}

/// A dispute: hold, release or keep the credits of the order its payment credited.
pub async fn apply_dispute(store: &dyn Store, application: &DisputeApplication) -> Result<Applied, ApplyError> {
    let subject = Subject {
        payment_id: Some(application.payment_id.clone()),
        ..Subject::default()
    };
    match store.dispute_order(application).await {
        Ok(DisputeOutcome::Applied { order }) => Ok(Applied {
            outcome: Outcome::DisputeApplied,
            subject: with_order(&subject, &order),
        }),
        Ok(DisputeOutcome::Unchanged { order }) => Ok(Applied {
            outcome: Outcome::DisputeUnchanged,
            subject: with_order(&subject, &order),
        }),
        Ok(DisputeOutcome::PaymentNotCredited) => {
            not_credited(store, subject, &format!("dispute {}", application.dispute_id)).await
        }
        Err(e) => Err(from_store(e, &subject)),
    }
}

/// A refund or dispute of a payment that credited nothing (yet). It waits for the payment to be
/// credited (the webhook may be late, or an admin may attach it), unless an admin has resolved
/// that payment without crediting it: then there is nothing to take back, ever.
async fn not_credited(store: &dyn Store, subject: Subject, what: &str) -> Result<Applied, ApplyError> {
    let payment_id = subject.payment_id.clone().unwrap_or_default();
    let queued = store
        .unmatched_by_payment(&payment_id)
        .await
        .map_err(|e| from_store(e, &subject))?;
    if queued.is_some_and(|u| u.status == "resolved") {
        return Ok(Applied {
            outcome: Outcome::NothingCredited,
            subject,
        });
    }
    Err(ApplyError::Waiting {
        reason: format!("{what} waits for payment {payment_id} to be credited"),
        payment_id,
    })
}
