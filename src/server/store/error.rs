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

    /// The same failure again, for each caller of a group-committed batch that failed as one
    /// (`sqlx::Error` cannot be cloned). Keeps what callers act on: whether the database was
    /// unavailable (503, retry) and the message; anything else stays an internal database error.
    pub fn for_each_caller(&self) -> StoreError {
        let same = match self {
            StoreError::Database(sqlx::Error::PoolTimedOut) => sqlx::Error::PoolTimedOut,
            StoreError::Database(sqlx::Error::PoolClosed) => sqlx::Error::PoolClosed,
            StoreError::Database(sqlx::Error::WorkerCrashed) => sqlx::Error::WorkerCrashed,
            StoreError::Database(sqlx::Error::Io(e)) => sqlx::Error::Io(std::io::Error::new(e.kind(), e.to_string())),
            other => sqlx::Error::Protocol(other.to_string()),
        };
        StoreError::Database(same)
    }
}
