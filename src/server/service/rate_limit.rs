//! Fixed-window rate limits kept in the database, so every app instance counts the same hits.

use crate::server::store::{Store, StoreError};

#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max_hits: i64,
    pub window_secs: i64,
}

/// Sign-in attempts: per client address, and per email (guessing one account's password).
pub const LOGIN_PER_IP: Limit = Limit {
    max_hits: 30,
    window_secs: 300,
};
pub const LOGIN_PER_EMAIL: Limit = Limit {
    max_hits: 10,
    window_secs: 300,
};
/// New accounts per client address.
pub const SIGNUP_PER_IP: Limit = Limit {
    max_hits: 10,
    window_secs: 3600,
};
pub const SIGNUP_PER_EMAIL: Limit = Limit {
    max_hits: 5,
    window_secs: 3600,
};

#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    #[error("Too many attempts. Please wait {retry_after_secs} seconds and try again.")]
    Limited { retry_after_secs: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counts a hit on `bucket`; refuses once the window's limit is passed.
pub async fn hit(store: &dyn Store, bucket: &str, limit: Limit) -> Result<(), RateLimitError> {
    let now = chrono::Utc::now().timestamp();
    let hits = store.rate_limit_hit(bucket, now, limit.window_secs).await?;
    if hits > limit.max_hits {
        tracing::warn!(bucket, hits, "rate limited");
        // The window began at most window_secs ago; an upper bound is honest enough to show.
        return Err(RateLimitError::Limited {
            retry_after_secs: limit.window_secs,
        });
    }
    Ok(())
}
