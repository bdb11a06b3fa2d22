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

    /// True when the cause is the database being unreachable or busy rather than a bad request:
    /// callers answer 503 so clients retry. Besides lost connections and pool timeouts, that is
    /// PostgreSQL refusing connections (not accepting them, too many, shutting down) and SQLite's
    /// file locked by another process past the busy timeout.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(e) => match e {
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(db) => {
                    let sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
                    db.code().is_some_and(|c| unavailable_code(sqlite, &c))
                }
                _ => false,
            },
            _ => false,
        }
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
            // Unavailable for another reason (a busy or refusing database): still unavailable.
            other if other.is_unavailable() => sqlx::Error::Io(std::io::Error::other(other.to_string())),
            other => sqlx::Error::Protocol(other.to_string()),
        };
        StoreError::Database(same)
    }
}

/// Database error codes that mean "not now" rather than "not this request".
fn unavailable_code(sqlite: bool, code: &str) -> bool {
    // SQLite's codes are numbers: the primary code is the low byte of the extended one.
    if sqlite {
        // BUSY, LOCKED, IOERR, FULL, CANTOPEN.
        return code
            .parse::<i32>()
            .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 10 | 13 | 14));
    }
    // PostgreSQL's SQLSTATE classes: 08 connection exception, 53 insufficient resources (too many
    // connections, disk full), 57 operator intervention (shutdown, terminated, cannot connect
    // now), 58 system error; and 55000, which is what a database that does not accept
    // connections (`ALLOW_CONNECTIONS false`) answers.
    ["08", "53", "57", "58"].iter().any(|class| code.starts_with(class)) || code == "55000"
}

#[cfg(test)]
mod tests {
    use super::unavailable_code;

    #[test]
    fn codes_that_mean_not_now() {
        for code in ["5", "517", "261", "6", "262", "10", "13", "14"] {
            assert!(unavailable_code(true, code), "{code}");
        }
        // All digits, like SQLite's, but PostgreSQL's: read as SQLSTATEs.
        for code in ["08006", "53300", "57P01", "57P03", "58030", "55000"] {
            assert!(unavailable_code(false, code), "{code}");
        }
        // Constraint violations, syntax errors, serialization failures: the request's own doing.
        for code in ["19", "2067", "1"] {
            assert!(!unavailable_code(true, code), "{code}");
        }
        for code in ["23505", "42601", "40001", "55P03", "22003"] {
            assert!(!unavailable_code(false, code), "{code}");
        }
    }
}
