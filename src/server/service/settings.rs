//! The admin settings: the Whop switch, the Whop beta list and the low-balance threshold. Each
//! change is parsed first (bad input changes nothing), written with its audit line in one
//! transaction, and this instance's gate cache is cleared so it applies here at once (other
//! instances read it within the cache's 3 s).

use chrono::Utc;

use crate::model::SettingsView;
use crate::server::service::auth::parse_email;
use crate::server::service::checkout::{CheckoutMemory, Gating, BETA_KEY, ENABLED_KEY};
use crate::server::service::low_balance::{parse_threshold, stored_threshold, THRESHOLD_KEY};
use crate::server::service::plans::actor;
use crate::server::store::{Store, StoreError, UserRow};
use crate::server::whop::WhopSetup;

/// Most addresses on the beta list (it is for a trial, not a customer list).
pub const MAX_BETA_EMAILS: usize = 500;
/// Most characters the beta field may hold.
pub const MAX_BETA_CHARS: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn view(store: &dyn Store, whop: &WhopSetup) -> Result<SettingsView, StoreError> {
    let gating = Gating::parse(
        store.setting(ENABLED_KEY).await?.as_deref(),
        store.setting(BETA_KEY).await?.as_deref(),
    );
    let threshold = stored_threshold(store.setting(THRESHOLD_KEY).await?.as_deref());
    Ok(SettingsView {
        whop_enabled: gating.enabled,
        beta_emails: gating.beta,
        low_balance_threshold: threshold.get(),
        whop_mode: whop.mode,
        whop_api_base: whop.client.base_url().to_string(),
    })
}

/// `on` / `off` (what the form sends).
pub fn parse_switch(raw: &str) -> Result<bool, SettingsError> {
    match raw.trim() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(SettingsError::Invalid("Choose on or off.".into())),
    }
}

/// Addresses separated by commas, semicolons, spaces or new lines: each a valid email, lowercased,
/// each once, at most `MAX_BETA_EMAILS`. Empty: everyone.
pub fn parse_beta(raw: &str) -> Result<Vec<String>, SettingsError> {
    if raw.len() > MAX_BETA_CHARS {
        return Err(SettingsError::Invalid(format!(
            "The beta list may hold at most {MAX_BETA_CHARS} characters."
        )));
    }
    let mut list: Vec<String> = Vec::new();
    for (i, part) in raw
        .split([',', ';', ' ', '\t', '\n', '\r'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        let email = parse_email(part).map_err(|_| {
            let shown: String = part.chars().filter(|c| !c.is_control()).take(60).collect();
            SettingsError::Invalid(format!("Entry {} ({shown:?}) is not an email address.", i + 1))
        })?;
        let email = email.to_lowercase();
        if !list.contains(&email) {
            list.push(email);
        }
        if list.len() > MAX_BETA_EMAILS {
            return Err(SettingsError::Invalid(format!(
                "The beta list may hold at most {MAX_BETA_EMAILS} addresses."
            )));
        }
    }
    Ok(list)
}

pub async fn set_whop_enabled(
    store: &dyn Store,
    memory: &CheckoutMemory,
    admin: &UserRow,
    raw: &str,
) -> Result<bool, SettingsError> {
    let on = parse_switch(raw)?;
    store
        .set_setting_audited(
            ENABLED_KEY,
            if on { "true" } else { "false" },
            &actor(admin),
            Utc::now(),
        )
        .await?;
    memory.gate.clear();
    Ok(on)
}

/// Returns how many addresses the list holds now (0: everyone).
pub async fn set_beta(
    store: &dyn Store,
    memory: &CheckoutMemory,
    admin: &UserRow,
    raw: &str,
) -> Result<usize, SettingsError> {
    let list = parse_beta(raw)?;
    store
        .set_setting_audited(BETA_KEY, &list.join("\n"), &actor(admin), Utc::now())
        .await?;
    memory.gate.clear();
    Ok(list.len())
}

pub async fn set_threshold(store: &dyn Store, admin: &UserRow, raw: &str) -> Result<i64, SettingsError> {
    let t = parse_threshold(raw).map_err(SettingsError::Invalid)?;
    store
        .set_setting_audited(THRESHOLD_KEY, &t.get().to_string(), &actor(admin), Utc::now())
        .await?;
    Ok(t.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_lists() {
        assert_eq!(
            parse_beta(" A@Example.com,\nb@example.com; a@example.com ").unwrap(),
            ["a@example.com", "b@example.com"]
        );
        assert!(parse_beta("").unwrap().is_empty());
        assert!(parse_beta("not-an-email").is_err());
        assert!(parse_beta("a@example.com, b@").is_err());
        let many: Vec<String> = (0..=MAX_BETA_EMAILS).map(|i| format!("u{i}@example.com")).collect();
        assert!(parse_beta(&many.join(",")).is_err());
        assert!(parse_beta(&many[..MAX_BETA_EMAILS].join(",")).is_ok());
        assert!(parse_beta(&"a".repeat(MAX_BETA_CHARS + 1)).is_err());
    }

    #[test]
    fn switch() {
        assert!(parse_switch("on").unwrap());
        assert!(!parse_switch(" off ").unwrap());
        assert!(parse_switch("true").is_err());
    }
}
