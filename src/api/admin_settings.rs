//! Admin server functions for settings: the Whop switch, the beta list and the low-balance
//! threshold. Each starts with `require_admin`; the work is in `server::service::settings`.

use leptos::prelude::*;

use crate::model::{AppError, SettingsView};

#[server(endpoint = "admin_get_settings")]
pub async fn admin_get_settings() -> Result<SettingsView, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::settings;

    let (state, _) = require_admin().await?;
    settings::view(state.store.as_ref(), &state.whop)
        .await
        .map_err(|e| fail(e.into()))
}

/// `enabled`: "on" or "off".
#[server(endpoint = "admin_set_whop_enabled")]
pub async fn admin_set_whop_enabled(enabled: String) -> Result<String, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::settings;

    let (state, admin) = require_admin().await?;
    let on = settings::set_whop_enabled(state.store.as_ref(), &state.checkout, &admin, &enabled)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(if on {
        "Whop payments are on.".into()
    } else {
        "Whop payments are off: every plan now uses the request flow.".into()
    })
}

/// `emails`: addresses separated by commas or new lines; empty: everyone.
#[server(endpoint = "admin_set_whop_beta")]
pub async fn admin_set_whop_beta(emails: String) -> Result<String, AppError> {
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::settings;

    let (state, admin) = require_admin().await?;
    let n = settings::set_beta(state.store.as_ref(), &state.checkout, &admin, &emails)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(match n {
        0 => "Beta list cleared: everyone sees Whop checkout.".into(),
        1 => "Saved: only 1 listed user sees Whop checkout.".into(),
        n => format!("Saved: only the {n} listed users see Whop checkout."),
    })
}

#[server(endpoint = "admin_set_low_balance_threshold")]
pub async fn admin_set_low_balance_threshold(threshold: String) -> Result<String, AppError> {
    use crate::model::Credits;
    use crate::server::fn_ctx::{fail, require_admin};
    use crate::server::service::settings;

    let (state, admin) = require_admin().await?;
    let t = settings::set_threshold(state.store.as_ref(), &admin, &threshold)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(if t == 0 {
        "Low-balance warning switched off.".into()
    } else {
        format!("Users are warned below {} credits.", Credits(t))
    })
}
