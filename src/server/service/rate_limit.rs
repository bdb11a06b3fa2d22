//! Fixed-window rate limits kept in the database, so every app instance counts the same hits.
//! Bucket keys are `<name>:<kind>:<hash>`: the counted value (a client address, an email) is
//! chosen by the client, so it is hashed to keep every key the same short length.

use sha2::{Digest, Sha256};

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

/// The longest window above: a counter whose window began longer ago than this has ended.
pub const LONGEST_WINDOW_SECS: i64 = 3600;

/// The bucket key for counting `value` (e.g. an address) under `name:kind` (e.g. `login:ip`):
/// the first 32 hex digits (128 bits) of the value's SHA-256.
pub fn bucket(name: &str, kind: &str, value: &str) -> String {
    let digest = hex::encode(Sha256::digest(value.as_bytes()));
    format!("{name}:{kind}:{}", &digest[..32])
}

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

/// Deletes the counters of windows that have ended (for the periodic housekeeping job).
pub async fn prune_ended(store: &dyn Store, now_unix: i64) -> Result<u64, StoreError> {
    store.prune_rate_limits(now_unix - LONGEST_WINDOW_SECS).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_short_and_hide_the_value() {
        let b = bucket("login", "ip", "203.0.113.7");
        assert_eq!(b.len(), "login:ip:".len() + 32);
        assert!(b.starts_with("login:ip:") && !b.contains("203.0.113.7"));
        assert_eq!(b, bucket("login", "ip", "203.0.113.7"), "stable");
        assert_ne!(b, bucket("login", "ip", "203.0.113.8"));
        assert_ne!(b, bucket("signup", "ip", "203.0.113.7"));
        assert_eq!(
            bucket("login", "email", &"x".repeat(100_000)).len(),
            "login:email:".len() + 32
        );
    }

    #[test]
    fn the_longest_window_is_the_longest_limit() {
        let longest = [LOGIN_PER_IP, LOGIN_PER_EMAIL, SIGNUP_PER_IP, SIGNUP_PER_EMAIL]
            .iter()
            .map(|l| l.window_secs)
            .max();
        assert_eq!(longest, Some(LONGEST_WINDOW_SECS));
    }
}
