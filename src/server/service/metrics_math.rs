//! The arithmetic of the admin metrics, kept free of the database so it can be tested on its
//! own: rates in tenths of a percent, median and nearest-rank percentiles, and UTC day buckets
//! that include the days without sales.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// `num / den` in tenths of a percent, rounded half up (2 of 3 -> 667, i.e. 66.7 %); None when
/// `den` is zero or either is negative.
pub fn rate_tenths(num: i64, den: i64) -> Option<i64> {
    if den <= 0 || num < 0 {
        return None;
    }
    let n = i128::from(num) * 1000 * 2 + i128::from(den);
    i64::try_from(n / (i128::from(den) * 2)).ok()
}

/// The median of `values` (the mean of the two middle ones for an even count, rounded down);
/// None for none.
pub fn median(values: &[i64]) -> Option<i64> {
    let mut v = values.to_vec();
    v.sort_unstable();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some(((i128::from(v[n / 2 - 1]) + i128::from(v[n / 2])).div_euclid(2)) as i64),
    }
}

/// The `p`-th percentile (1..=100) by nearest rank: the smallest value with at least p % of the
/// values at or below it. None for no values or a p out of range.
pub fn percentile(values: &[i64], p: u32) -> Option<i64> {
    if values.is_empty() || !(1..=100).contains(&p) {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = (v.len() * p as usize).div_ceil(100);
    v.get(rank.max(1) - 1).copied()
}

/// Whole seconds from `from` to `to` (never negative: a clock step back counts as zero).
pub fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_seconds().max(0)
}

/// The UTC days of a period of `days` days ending with `today`, oldest first.
pub fn period_days(today: NaiveDate, days: u32) -> Vec<NaiveDate> {
    (0..i64::from(days))
        .rev()
        .map(|back| today - Duration::days(back))
        .collect()
}

/// The period's bounds as times: the first day's midnight (inclusive) to the midnight after
/// `today` (exclusive).
pub fn period_bounds(today: NaiveDate, days: u32) -> (DateTime<Utc>, DateTime<Utc>) {
    let first = today - Duration::days(i64::from(days.max(1)) - 1);
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or_default();
    (midnight(first), midnight(today + Duration::days(1)))
}

/// Sums `(time, amount)` into one total per day of `days` (zero for days without any); values
/// outside the days are left out.
pub fn sum_by_day(days: &[NaiveDate], values: &[(DateTime<Utc>, i64)]) -> Vec<i64> {
    let mut out = vec![0i64; days.len()];
    for (at, amount) in values {
        if let Some(i) = day_index(days, at.date_naive()) {
            out[i] = out[i].saturating_add(*amount);
        }
    }
    out
}

/// The values of each day of `days`, grouped (for a per-day median).
pub fn group_by_day(days: &[NaiveDate], values: &[(DateTime<Utc>, i64)]) -> Vec<Vec<i64>> {
    let mut out = vec![Vec::new(); days.len()];
    for (at, v) in values {
        if let Some(i) = day_index(days, at.date_naive()) {
            out[i].push(*v);
        }
    }
    out
}

fn day_index(days: &[NaiveDate], d: NaiveDate) -> Option<usize> {
    let first = *days.first()?;
    let i = usize::try_from((d - first).num_days()).ok()?;
    (i < days.len() && days[i] == d).then_some(i)
}
