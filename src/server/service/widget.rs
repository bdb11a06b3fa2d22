//! The credits widget on the host app's pages. Atlas's backend asks for a read-only token per page
//! view (`issue`); the widget's frame shows that user's balance with it (`balance`). A token can do
//! nothing else: buying goes through a sign-in link that Atlas's backend makes when the user
//! clicks "Buy credits", so a token copied out of a page never opens an account.

use chrono::{DateTime, Duration, Utc};

use crate::server::service::auth::{random_token, token_hash};
use crate::server::service::host_users::{self, HostError};
use crate::server::service::low_balance::{stored_threshold, THRESHOLD_KEY};
use crate::server::store::{Store, StoreError};

pub const TOKEN_PREFIX: &str = "wt_";
/// How long a token lasts unless the host app asks otherwise: an hour of a page left open.
pub const DEFAULT_TTL_SECS: i64 = 3600;
/// The longest a host app may ask for: a day.
pub const MAX_TTL_SECS: i64 = 86_400;
pub const MIN_TTL_SECS: i64 = 60;

/// A token to hand to the widget (the secret is shown once; only its hash is stored).
#[derive(Debug)]
pub struct IssuedToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// What the widget shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WidgetBalance {
    pub balance: i64,
    /// Below the admins' low-balance threshold (never when the threshold is 0, i.e. off).
    pub low: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum WidgetError {
    /// Unknown, malformed or expired: the widget asks for a page reload.
    #[error("the widget token is not valid (it may have expired)")]
    InvalidToken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Issues a token for the user with this external id, valid `ttl_secs` (default an hour).
pub async fn issue(
    store: &dyn Store,
    external_id: &str,
    api_key_id: i64,
    ttl_secs: Option<i64>,
    now: DateTime<Utc>,
) -> Result<IssuedToken, HostError> {
    let ttl = ttl_secs.unwrap_or(DEFAULT_TTL_SECS);
    if !(MIN_TTL_SECS..=MAX_TTL_SECS).contains(&ttl) {
        return Err(HostError::Invalid(format!(
            "ttl_secs must be a whole number of seconds from {MIN_TTL_SECS} to {MAX_TTL_SECS}"
        )));
    }
    let user = host_users::user(store, external_id).await?;
    let token = format!("{TOKEN_PREFIX}{}", random_token());
    let expires_at = now + Duration::seconds(ttl);
    store
        .create_widget_token(&token_hash(&token), user.user_id(), api_key_id, now, expires_at)
        .await?;
    Ok(IssuedToken { token, expires_at })
}

/// The balance the token may read. A token of the wrong shape is refused before the database.
pub async fn balance(store: &dyn Store, token: &str, now: DateTime<Utc>) -> Result<WidgetBalance, WidgetError> {
    if !well_formed(token) {
        return Err(WidgetError::InvalidToken);
    }
    let user = store
        .widget_token_user(&token_hash(token), now)
        .await?
        .ok_or(WidgetError::InvalidToken)?;
    let threshold = stored_threshold(store.setting(THRESHOLD_KEY).await?.as_deref());
    Ok(WidgetBalance {
        balance: user.credits_balance,
        low: threshold.0 > 0 && user.credits_balance < threshold.0,
    })
}

/// `wt_` and 64 lower-case hex digits, as `issue` makes them.
fn well_formed(token: &str) -> bool {
    token
        .strip_prefix(TOKEN_PREFIX)
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tokens_of_the_issued_shape_reach_the_database() {
        assert!(well_formed(&format!("wt_{}", "0a".repeat(32))));
        for bad in [
            String::new(),
            "wt_".into(),
            format!("wt_{}", "0A".repeat(32)),
            format!("wt_{}", "0a".repeat(33)),
            format!("ak_{}", "0a".repeat(32)),
            format!("wt_{}\n", "0a".repeat(32)),
            format!("wt_{}é", "0a".repeat(31)),
        ] {
            assert!(!well_formed(&bad), "{bad:?}");
        }
    }
}
