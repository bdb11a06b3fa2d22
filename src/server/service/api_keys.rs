//! API keys for the host app. A key is 32 random bytes shown once at creation; the database keeps
//! its SHA-256 (keys are random, so a fast hash is enough) and a short prefix to recognise it.

use chrono::Utc;

use crate::model::ApiKeyView;
use crate::server::service::auth::{random_token, token_hash};
use crate::server::service::text::refuse_control_chars;
use crate::server::store::{ApiKeyRow, NewApiKey, Store, StoreError};

pub const KEY_PREFIX: &str = "ak_";
pub const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("Give the key a name of 1 to {MAX_NAME_CHARS} characters, without control characters.")]
    InvalidName,
    #[error("API key not found or already revoked.")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a key, audited as `created_by`; returns the secret (to show once) and its row.
pub async fn create(store: &dyn Store, name: &str, created_by: &str) -> Result<(String, ApiKeyRow), ApiKeyError> {
    let control = refuse_control_chars("name", name).is_err();
    let name = name.trim();
    if control || name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiKeyError::InvalidName);
    }
    let key = format!("{KEY_PREFIX}{}", random_token());
    let row = store
        .create_api_key(&NewApiKey {
            name: name.to_string(),
            key_hash: token_hash(&key),
            key_prefix: key[..KEY_PREFIX.len() + 8].to_string(),
            created_by: created_by.to_string(),
        })
        .await?;
    tracing::info!(key_id = row.id, created_by, "API key created");
    Ok((key, row))
}

/// Revokes a key; `actor` (e.g. `admin:7`) is audited with it.
pub async fn revoke(store: &dyn Store, id: i64, actor: &str) -> Result<(), ApiKeyError> {
    if store.revoke_api_key(id, actor, Utc::now()).await? {
        tracing::info!(key_id = id, actor, "API key revoked");
        Ok(())
    } else {
        Err(ApiKeyError::NotFound)
    }
}

/// How often a key's use is recorded at most (`last_used_at` is kept to about this precision).
pub const USE_RECORD_INTERVAL_SECS: i64 = 60;

/// The live key a bearer token names, if any. A read; its use is written only when the stored
/// `last_used_at` is older than `USE_RECORD_INTERVAL_SECS`, so a busy host app does not add a
/// write (and on SQLite a wait for the single writer) to every call.
pub async fn authenticate(store: &dyn Store, bearer: &str) -> Result<Option<ApiKeyRow>, StoreError> {
    if !bearer.starts_with(KEY_PREFIX) || bearer.len() > 200 {
        return Ok(None);
    }
    let Some(key) = store.api_key_by_hash(&token_hash(bearer)).await? else {
        return Ok(None);
    };
    let now = Utc::now();
    let stale_before = now - chrono::Duration::seconds(USE_RECORD_INTERVAL_SECS);
    if key.last_used_at.is_none_or(|t| t < stale_before) {
        // Bookkeeping only: a failure to record it must not refuse a valid key.
        if let Err(e) = store.record_api_key_use(key.id, now, stale_before).await {
            tracing::warn!(key_id = key.id, error = %e, "could not record API key use");
        }
    }
    Ok(Some(key))
}

pub fn view(row: &ApiKeyRow) -> ApiKeyView {
    let ts = |t: &chrono::DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    ApiKeyView {
        id: row.id,
        name: row.name.clone(),
        prefix: row.key_prefix.clone(),
        created_by: row.created_by.clone(),
        created_at: ts(&row.created_at),
        last_used_at: row.last_used_at.as_ref().map(ts),
        revoked_at: row.revoked_at.as_ref().map(ts),
    }
}
