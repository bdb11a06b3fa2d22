//! The store's error type: what a caller can act on (a named conflict, a refused spend) apart
//! from database failures, which are only logged and answered as "unavailable" or "internal".

use crate::model::Credits;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or answered with an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("store configuration: {0}")]
    Config(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique constraint refused the write; the name says which one.
    #[error("conflict on {0}")]
    Conflict(String),
    /// A spend would take the balance below zero; nothing was written.
    #[error("insufficient credits: balance is {balance}")]
    InsufficientCredits { balance: Credits },
}

impl StoreError {
    /// True when the cause is the database being unreachable rather than a bad request.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed
            )
        )
    }
}
