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
    /// The entry would take the balance past what an i64 holds; nothing was written.
    #[error("the balance would be out of range")]
    BalanceOutOfRange,
    /// A spend would take the balance below zero; nothing was written.
    #[error("insufficient credits: balance is {balance}")]
    InsufficientCredits { balance: Credits },
}

impl StoreError {
    /// Turns a unique-constraint violation into `Conflict` naming what collided; other errors pass.
    pub fn from_unique(e: sqlx::Error, what: impl Fn(&str) -> String) -> StoreError {
        match e.as_database_error() {
            Some(db) if db.is_unique_violation() => {
                let detail = db
                    .constraint()
                    .map(str::to_owned)
                    .unwrap_or_else(|| db.message().to_owned());
                StoreError::Conflict(what(&detail))
            }
            _ => StoreError::Database(e),
        }
    }

    /// True when the cause is the database being unreachable rather than a bad request.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed)
        )
    }
}
