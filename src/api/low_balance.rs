//! The low-balance banner on /credits and /account (see `service::low_balance`).

use leptos::prelude::*;

use crate::model::{AppError, LowBalanceNotice};

/// The banner to show the signed-in user, if any.
#[server(endpoint = "get_low_balance_notice")]
pub async fn get_low_balance_notice() -> Result<Option<LowBalanceNotice>, AppError> {
    use crate::server::fn_ctx::{fail, require_user};
    use crate::server::service::low_balance;

    let (state, user) = require_user().await?;
    low_balance::notice(state.store.as_ref(), &user)
        .await
        .map_err(|e| fail(e.into()))
}

/// Hides the banner of crossing `crossing` until the balance goes back up and falls again.
#[server(endpoint = "dismiss_low_balance")]
pub async fn dismiss_low_balance(crossing: String) -> Result<(), AppError> {
    use crate::server::fn_ctx::{fail, require_user};
    use crate::server::service::low_balance;

    let (state, user) = require_user().await?;
    // Taken as text so that a malformed value is a clear 400.
    let crossing: i64 = crossing
        .trim()
        .parse()
        .map_err(|_| fail(AppError::Invalid("crossing must be a whole number".into())))?;
    low_balance::dismiss(state.store.as_ref(), &user, crossing)
        .await
        .map_err(|e| fail(e.into()))
}
