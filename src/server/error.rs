//! Mapping internal errors to what crosses a boundary. Policy: a caller sees what it can act on
//! (not found, invalid input, insufficient credits); everything else is logged here with its cause
//! and answered with a generic message, so internals never reach a browser or API client.

use crate::model::AppError;
use crate::server::store::StoreError;

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => AppError::NotFound(what.to_string()),
            StoreError::InsufficientCredits { balance } => {
                AppError::Invalid(format!("Not enough credits: the balance is {balance}."))
            }
            e if e.is_unavailable() => {
                tracing::error!(error = %e, "database unavailable");
                AppError::Unavailable
            }
            e => {
                tracing::error!(error = %e, "internal error");
                AppError::Internal
            }
        }
    }
}
