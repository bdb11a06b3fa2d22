//! The low-balance threshold (admin setting `low_balance_threshold`): a user whose balance falls
//! below it is told so once per crossing. Kept here, apart from the settings page and the banner,
//! so that both read the value through the same parser.
//!
//! The crossing is derived from the ledger, not tracked by the write paths: the first ledger row
//! below the threshold after the last row at or above it (`LowBalanceQueries`). A user dismisses
//! that crossing (its row id is stored); a top-up back to the threshold ends it, and the next fall
//! is a new row, so a new crossing and a new banner.

use crate::model::Credits;
use crate::model::LowBalanceNotice;
use crate::server::store::{Store, StoreError, UserRow};

pub const THRESHOLD_KEY: &str = "low_balance_threshold";
/// Used while no admin has set a value: a fifth of the smallest plan (Starter, 5,000 credits).
pub const DEFAULT_THRESHOLD: Credits = Credits(1_000);
/// Far above any plan, far below the integer limit.
pub const MAX_THRESHOLD: i64 = 1_000_000_000;

/// The stored value. Absent or unreadable (edited by hand) falls back to the default rather than
/// switching the warning off; `0` is how an admin switches it off.
pub fn stored_threshold(raw: Option<&str>) -> Credits {
    raw.and_then(|v| parse_threshold(v).ok()).unwrap_or(DEFAULT_THRESHOLD)
}

/// An admin's entry: a whole number of credits from 0 (off) to `MAX_THRESHOLD`; thousands
/// separators (`,` `_` and spaces) are accepted.
pub fn parse_threshold(raw: &str) -> Result<Credits, String> {
    let digits: String = raw.trim().chars().filter(|c| !matches!(c, ',' | '_' | ' ')).collect();
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "The threshold must be a whole number of credits from 0 to {}.",
            Credits(MAX_THRESHOLD)
        ));
    }
    match digits.parse::<i64>() {
        Ok(n) if n <= MAX_THRESHOLD => Ok(Credits(n)),
        _ => Err(format!(
            "The threshold must be at most {} credits.",
            Credits(MAX_THRESHOLD)
        )),
    }
}

/// The crossing to show `user`, if their balance is below the threshold and they have not
/// dismissed this crossing. Threshold 0 is off.
pub async fn current_crossing(store: &dyn Store, user: &UserRow) -> Result<Option<(i64, Credits)>, StoreError> {
    let threshold = stored_threshold(store.setting(THRESHOLD_KEY).await?.as_deref());
    if threshold.0 == 0 || user.credits_balance >= threshold.0 {
        return Ok(None);
    }
    Ok(store
        .low_balance_crossing(user.user_id(), threshold.0)
        .await?
        .map(|crossing| (crossing, threshold)))
}

/// The banner for `user`, or None (above the threshold, off, or dismissed).
pub async fn notice(store: &dyn Store, user: &UserRow) -> Result<Option<LowBalanceNotice>, StoreError> {
    let Some((crossing, threshold)) = current_crossing(store, user).await? else {
        return Ok(None);
    };
    if store.dismissed_low_balance(user.user_id()).await? == Some(crossing) {
        return Ok(None);
    }
    Ok(Some(LowBalanceNotice {
        crossing,
        balance: Credits(user.credits_balance).to_string(),
        threshold: threshold.to_string(),
    }))
}

/// Dismisses the banner of `crossing`. Only the user's current crossing can be dismissed (an
/// old or made-up id changes nothing), so a later crossing always shows.
pub async fn dismiss(store: &dyn Store, user: &UserRow, crossing: i64) -> Result<(), StoreError> {
    if let Some((current, _)) = current_crossing(store, user).await? {
        if current == crossing {
            store
                .dismiss_low_balance(user.user_id(), crossing, chrono::Utc::now())
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_entries() {
        assert_eq!(parse_threshold(" 2,500 "), Ok(Credits(2_500)));
        assert_eq!(parse_threshold("0"), Ok(Credits(0)));
        assert_eq!(parse_threshold("1_000_000_000"), Ok(Credits(MAX_THRESHOLD)));
        for bad in [
            "",
            "-5",
            "1.5",
            "1e3",
            "abc",
            "1000000001",
            "99999999999999999999",
            "+3",
            "１",
        ] {
            assert!(parse_threshold(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn stored_values_fall_back_to_the_default() {
        assert_eq!(stored_threshold(None), DEFAULT_THRESHOLD);
        assert_eq!(stored_threshold(Some("garbage")), DEFAULT_THRESHOLD);
        assert_eq!(stored_threshold(Some("0")), Credits(0));
        assert_eq!(stored_threshold(Some("250")), Credits(250));
    }
}
