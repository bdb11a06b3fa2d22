//! The admin metrics of a period, from our own tables: the store reads the facts, the
//! arithmetic is `metrics_math`.

use chrono::{DateTime, Utc};

use crate::model::{DayMetrics, MetricsView};
use crate::server::service::metrics_math::{
    group_by_day, median, percentile, period_bounds, period_days, rate_tenths, seconds_between, sum_by_day,
};
use crate::server::store::{Store, StoreError};

/// The periods offered, in days.
pub const PERIODS: [u32; 3] = [7, 30, 90];
pub const DEFAULT_PERIOD: u32 = 30;

/// Rows read per list at most (a period with more shows `truncated`): bounded memory whatever
/// the table sizes.
pub const FETCH_LIMIT: i64 = 200_000;

/// The period of `raw` days when it is one of `PERIODS`.
pub fn parse_period(raw: Option<&str>) -> Option<u32> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Some(DEFAULT_PERIOD),
        Some(s) => s.parse::<u32>().ok().filter(|d| PERIODS.contains(d)),
    }
}

/// The metrics of the `days` UTC days ending with `now`'s day.
pub async fn compute(store: &dyn Store, days: u32, now: DateTime<Utc>) -> Result<MetricsView, StoreError> {
    let today = now.date_naive();
    let (from, to) = period_bounds(today, days);
    let facts = store.metrics_facts(from, to, FETCH_LIMIT).await?;
    let day_list = period_days(today, days);

    let paid_at = |f: fn(&crate::server::store::admin_event_queries::PaidOrderFact) -> i64| {
        facts.paid.iter().map(|p| (p.paid_at, f(p))).collect::<Vec<_>>()
    };
    let revenue = sum_by_day(&day_list, &paid_at(|p| p.price_cents));
    let credits = sum_by_day(&day_list, &paid_at(|p| p.credits_amount));
    let orders = sum_by_day(&day_list, &paid_at(|_| 1));
    let refunds: Vec<_> = facts.refunds.iter().map(|r| (r.created_at, r.amount_cents)).collect();
    let refunded = sum_by_day(&day_list, &refunds);

    // Time to credit: Whop payments only (a manual order's wait is the admin's, below).
    let ttc: Vec<(DateTime<Utc>, i64)> = facts
        .paid
        .iter()
        .filter(|p| p.payment_method == "whop")
        .filter_map(|p| p.credited_at.map(|c| (p.paid_at, seconds_between(p.paid_at, c))))
        .collect();
    let ttc_values: Vec<i64> = ttc.iter().map(|(_, s)| *s).collect();
    let ttc_by_day = group_by_day(&day_list, &ttc);
    let waits: Vec<i64> = facts
        .approved_manual
        .iter()
        .map(|m| seconds_between(m.created_at, m.credited_at))
        .collect();

    let days_view = day_list
        .iter()
        .enumerate()
        .map(|(i, d)| DayMetrics {
            date: d.format("%Y-%m-%d").to_string(),
            revenue_cents: revenue[i],
            credits_sold: credits[i],
            paid_orders: orders[i],
            refunded_cents: refunded[i],
            time_to_credit_median_secs: median(&ttc_by_day[i]),
        })
        .collect();
    let fetched = [facts.paid.len(), facts.refunds.len(), facts.approved_manual.len()];
    Ok(MetricsView {
        period_days: days,
        from: day_list.first().map(|d| d.to_string()).unwrap_or_default(),
        to: today.to_string(),
        whop_orders_created: facts.whop_created,
        whop_orders_paid: facts.whop_created_paid,
        whop_orders_failed: facts.whop_created_failed,
        conversion_tenths: rate_tenths(facts.whop_created_paid, facts.whop_created),
        success_rate_tenths: rate_tenths(
            facts.whop_created_paid,
            facts.whop_created_paid + facts.whop_created_failed,
        ),
        time_to_credit_count: ttc_values.len() as i64,
        time_to_credit_median_secs: median(&ttc_values),
        time_to_credit_p95_secs: percentile(&ttc_values, 95),
        revenue_cents: revenue.iter().sum(),
        credits_sold: credits.iter().sum(),
        refunds: facts.refunds.len() as i64,
        refunded_cents: refunded.iter().sum(),
        manual_approved: waits.len() as i64,
        manual_wait_median_secs: median(&waits),
        manual_wait_p95_secs: percentile(&waits, 95),
        disputes: facts.disputes,
        unmatched: facts.unmatched,
        days: days_view,
        truncated: fetched.iter().any(|n| *n as i64 >= FETCH_LIMIT),
    })
}
