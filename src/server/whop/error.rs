//! What can go wrong talking to Whop, typed so callers can decide (retry later, show the
//! message, alert an operator). The body of an error answer is kept only as Whop's message.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhopError {
    /// 401/403: the API key is wrong, revoked or lacks a permission.
    #[error("Whop refused the credentials ({status}): {message}")]
    Unauthorized { status: u16, message: String },
    #[error("not found on Whop: {message}")]
    NotFound { message: String },
    /// 429 after every retry.
    #[error("rate limited by Whop (retry after {retry_after:?}): {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    /// 400/409/422...: Whop's own message says what is wrong with the request.
    #[error("Whop refused the request ({status}): {message}")]
    InvalidRequest { status: u16, message: String },
    /// 5xx after every retry.
    #[error("Whop server error ({status}): {message}")]
    Server { status: u16, message: String },
    /// No answer: connection refused, reset, DNS, or a timeout.
    #[error("network error talking to Whop: {0}")]
    Network(String),
    /// Whop did not answer within the time a caller allows for the whole operation (every
    /// request and retry of it together; see `WHOP_CHECKOUT_TIMEOUT_SECS`).
    #[error("Whop did not answer within {0:?}")]
    TimedOut(Duration),
    /// An answer we could not read.
    #[error("unexpected answer from Whop: {0}")]
    Decode(String),
}

impl WhopError {
    /// Worth trying again later (the operation may still succeed).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            WhopError::RateLimited { .. } | WhopError::Server { .. } | WhopError::Network(_) | WhopError::TimedOut(_)
        )
    }
}
