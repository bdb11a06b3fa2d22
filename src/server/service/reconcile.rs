//! Reconciliation: Whop retries a webhook only three times in about 70 seconds, so a missed
//! event would otherwise be lost. A pass asks Whop for (a) the payments of Whop orders still
//! pending after a grace period, by checkout id, and (b) every payment changed since the last
//! pass (with an overlap), and runs each through the same idempotent paths as the webhooks:
//! paid payments are credited (or queued for an admin), failed ones fail their order, and the
//! refunds and disputes a payment lists are applied by their own ids. Applying something twice
//! changes nothing, so overlaps and races with the webhooks are harmless.
//!
//! Refunds and disputes are read from the payments that changed: a refund or dispute that
//! changes changes its payment's `updated_at`, so one watermark covers all three. Whop's payment
//! list leaves out the refunds and disputes, so a listed payment that shows any (a refunded
//! amount, a refund or dispute sub-status) is fetched whole, which lists them (newest 100).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::server::service::orders::Via;
use crate::server::service::webhook_apply::{
    apply_dispute, apply_payment, apply_refund, dispute_stage, Applied, ApplyError, Outcome, PaymentEvent,
};
use crate::server::store::{DisputeApplication, RefundApplication, Store, StoreError};
use crate::server::whop::client::{PaymentFilter, WhopClient};
use crate::server::whop::error::WhopError;
use crate::server::whop::types::{Payment, PaymentStatus, PaymentSubstatus};

/// Orders younger than this are left to the webhook and the status page.
pub const PENDING_GRACE: Duration = Duration::from_secs(120);
/// Pending orders older than this are not asked about any more (their checkout has long
/// expired; `reconcile --since` reaches further back on demand).
pub const PENDING_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Each pass re-reads this much before the watermark, so a change Whop records with a slightly
/// earlier time than one already read (clock skew, the same second) is never skipped.
pub const OVERLAP: Duration = Duration::from_secs(600);
/// Without a watermark (the first pass ever), changes of this far back are read.
pub const FIRST_LOOKBACK: Duration = Duration::from_secs(3 * 24 * 3600);
/// Checkout ids per `GET /payments` call, and pending orders per pass.
const CHECKOUT_BATCH: usize = 25;
const PENDING_LIMIT: i64 = 500;

/// The watermark of payments read by `updated_after`.
pub const PAYMENTS_WATERMARK: &str = "payments_updated";

/// What one pass found and did. `errors` counts what failed for a reason that may pass (Whop or
/// the database unreachable): when any did, the watermark stays, so the next pass reads it again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileSummary {
    /// Payments read from Whop.
    pub checked: u32,
    /// Paid orders credited by this pass (their webhook had not done it).
    pub credited: u32,
    /// Orders marked failed by this pass.
    pub failed: u32,
    /// Refunds clawed back by this pass.
    pub clawed_back: u32,
    /// Dispute holds, releases or losses written by this pass.
    pub disputes: u32,
    /// Paid payments no order could take, now in the unmatched queue (new or already there).
    pub unmatched: u32,
    /// Refunds or disputes of payments not credited (yet): left for later.
    pub waiting: u32,
    /// Refused for good (e.g. a refund larger than the payment): logged, not retried.
    pub refused: u32,
    pub errors: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("cannot reach Whop: {0}")]
    Whop(#[from] WhopError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// One pass as of `now`. `since` (the CLI's `--since`) reads changes from then instead of the
/// watermark and asks about pending orders created since then. The watermark moves only after a
/// pass without errors.
pub async fn run_pass(
    store: &dyn Store,
    client: &WhopClient,
    company_id: &str,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<ReconcileSummary, ReconcileError> {
    let mut summary = ReconcileSummary::default();
    let chrono_of = |d: Duration| chrono::Duration::from_std(d).unwrap_or_default();

    // (a) Whop orders still pending after the grace period, asked about by checkout id.
    let from = since.unwrap_or(now - chrono_of(PENDING_MAX_AGE));
    let pending = store
        .pending_whop_orders(from, now - chrono_of(PENDING_GRACE), PENDING_LIMIT)
        .await?;
    let checkouts: Vec<String> = pending.iter().filter_map(|o| o.whop_checkout_id.clone()).collect();
    for batch in checkouts.chunks(CHECKOUT_BATCH) {
        let payments = client
            .list_payments(&PaymentFilter {
                checkout_configuration_ids: batch.to_vec(),
                ..PaymentFilter::default()
            })
            .await?;
        for p in payments {
            apply_one(store, client, p, &mut summary).await;
        }
    }

    // (b) Every payment changed since the watermark (less the overlap).
    let mark = match since {
        Some(s) => s,
        None => store
            .watermark(PAYMENTS_WATERMARK)
            .await?
            .unwrap_or(now - chrono_of(FIRST_LOOKBACK)),
    };
    let changed = client
        .list_payments(&PaymentFilter {
            company_id: Some(company_id.to_owned()),
            updated_after: Some(mark - chrono_of(OVERLAP)),
            ..PaymentFilter::default()
        })
        .await?;
    for p in changed {
        apply_one(store, client, p, &mut summary).await;
    }
    if summary.errors == 0 {
        // Everything read up to the start of this pass is applied (or queued, or waiting in
        // the webhook events): the next pass starts from here.
        let current = store.watermark(PAYMENTS_WATERMARK).await?;
        if current.is_none_or(|c| c < now) {
            store.set_watermark(PAYMENTS_WATERMARK, now).await?;
        }
    }
    tracing::info!(
        checked = summary.checked,
        credited = summary.credited,
        failed = summary.failed,
        clawed_back = summary.clawed_back,
        disputes = summary.disputes,
        unmatched = summary.unmatched,
        waiting = summary.waiting,
        refused = summary.refused,
        errors = summary.errors,
        "reconcile pass"
    );
    Ok(summary)
}

/// Whether a listed payment may have refunds or disputes to read (the list leaves them out).
fn needs_detail(p: &Payment) -> bool {
    p.refunds.is_none()
        && p.status == Some(PaymentStatus::Paid)
        && (p.substatus != Some(PaymentSubstatus::Succeeded) || p.refunded_amount.is_some_and(|c| c.get() > 0))
}

/// Applies what one payment says: its own state, then each refund and dispute it lists.
async fn apply_one(store: &dyn Store, client: &WhopClient, listed: Payment, summary: &mut ReconcileSummary) {
    summary.checked += 1;
    let p = if needs_detail(&listed) {
        match client.retrieve_payment(&listed.id).await {
            Ok(full) => full,
            Err(e) => {
                tracing::warn!(payment_id = %listed.id, error = %e, "reconcile: cannot read the payment; next pass");
                summary.errors += 1;
                return;
            }
        }
    } else {
        listed
    };
    let p = &p;
    let raw = serde_json::to_string(p).unwrap_or_default();
    let event = if p.status == Some(PaymentStatus::Paid) {
        Some(PaymentEvent::Succeeded)
    } else if p.substatus == Some(PaymentSubstatus::Failed) {
        Some(PaymentEvent::Failed)
    } else {
        None
    };
    if let Some(event) = event {
        let result = apply_payment(store, event, p, &raw, Via::Reconciliation).await;
        count(summary, &p.id, result);
    }
    for r in p.refunds.iter().flatten() {
        let application = RefundApplication {
            refund_id: r.id.clone(),
            payment_id: p.id.clone(),
            amount_cents: r.amount.get(),
            currency: r.currency.clone().or_else(|| p.currency.clone()).unwrap_or_default(),
        };
        let result = apply_refund(store, r.status, &application).await;
        count(summary, &p.id, result);
    }
    for d in p.disputes.iter().flatten() {
        let application = DisputeApplication {
            dispute_id: d.id.clone(),
            payment_id: p.id.clone(),
            stage: dispute_stage(d.status),
        };
        let result = apply_dispute(store, &application).await;
        count(summary, &p.id, result);
    }
}

fn count(summary: &mut ReconcileSummary, payment_id: &str, result: Result<Applied, ApplyError>) {
    match result {
        Ok(applied) => match applied.outcome {
            Outcome::Credited => summary.credited += 1,
            Outcome::OrderFailed => summary.failed += 1,
            Outcome::ClawedBack => summary.clawed_back += 1,
            Outcome::DisputeApplied => summary.disputes += 1,
            Outcome::Unmatched | Outcome::Held => summary.unmatched += 1,
            _ => {}
        },
        Err(ApplyError::Waiting { .. }) => summary.waiting += 1,
        Err(ApplyError::Permanent { reason, .. }) => {
            tracing::warn!(payment_id, %reason, "reconcile: not applied");
            summary.refused += 1;
        }
        Err(ApplyError::Transient(error)) => {
            tracing::warn!(payment_id, %error, "reconcile: will retry next pass");
            summary.errors += 1;
        }
    }
}
