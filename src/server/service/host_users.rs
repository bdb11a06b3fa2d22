//! The host app's view of users: created and updated by the host's own id (`external_id`), and
//! credits spent with the host's idempotency keys.

use crate::model::{Credits, EntryKind};
use crate::server::service::auth::parse_email;
use crate::server::service::ledger::{self, Actor, LedgerEntry, LedgerError, Posted};
use crate::server::service::text::refuse_control_chars;
use crate::server::store::{NewUser, Store, StoreError, UserRow};

pub const MAX_EXTERNAL_ID_CHARS: usize = 128;
pub const MAX_NAME_CHARS: usize = 200;
/// Largest single spend. Far above any real use, and small enough that no spend can overflow a
/// balance (i64) however deep in debt the user is.
pub const MAX_SPEND: i64 = 1_000_000_000_000;
/// Ledger source kind of host-app spends; the idempotency key is the source id.
pub const SPEND_SOURCE: &str = "host_spend";

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{0}")]
    Invalid(String),
    #[error("no user with external id {0:?}")]
    UnknownUser(String),
    #[error("the email is already used by another user")]
    EmailTaken,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn check_external_id(id: &str) -> Result<(), HostError> {
    let ok = !id.is_empty()
        && id.chars().count() <= MAX_EXTERNAL_ID_CHARS
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(HostError::Invalid(format!(
            "external_id must be 1 to {MAX_EXTERNAL_ID_CHARS} characters of letters, digits and - _ . : @"
        )))
    }
}

/// Creates or updates the user with this external id; returns it and whether it was created.
/// With `link_existing`, an account already signed up with this email (and not linked to another
/// external id) is linked to this external id instead of refused as a taken email: the host app
/// asks for it explicitly, it never happens on its own.
pub async fn upsert(
    store: &dyn Store,
    external_id: &str,
    email: &str,
    name: Option<&str>,
    link_existing: bool,
) -> Result<(UserRow, bool), HostError> {
    check_external_id(external_id)?;
    let email = parse_email(email).map_err(|_| HostError::Invalid("email is not a valid email address".into()))?;
    if let Some(name) = name {
        refuse_control_chars("name", name).map_err(HostError::Invalid)?;
    }
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.chars().count() > MAX_NAME_CHARS) {
        return Err(HostError::Invalid(format!(
            "name may have at most {MAX_NAME_CHARS} characters"
        )));
    }
    let conflict = |e: StoreError| match e {
        StoreError::Conflict(ref what) if what == "email" => HostError::EmailTaken,
        e => HostError::Store(e),
    };
    // Update first; create when absent. Two concurrent creates: the loser's insert hits the
    // unique external_id and retries as an update.
    for _ in 0..2 {
        if let Some(u) = store
            .update_external_user(external_id, &email, name)
            .await
            .map_err(conflict)?
        {
            return Ok((u, false));
        }
        if link_existing {
            if let Some(u) = store
                .link_external_user(&email, external_id, name)
                .await
                .map_err(conflict)?
            {
                tracing::info!(user_id = u.id, external_id, "existing account linked to the host app");
                return Ok((u, false));
            }
        }
        let created = store
            .create_user(&NewUser {
                email: email.clone(),
                password_hash: None,
                role: "user".into(),
                external_id: Some(external_id.to_string()),
                name: name.map(str::to_owned),
            })
            .await;
        match created {
            Ok(u) => return Ok((u, true)),
            // A concurrent create of this same external id may surface as either unique index
            // (SQLite reports the email index first): retry as an update when the id now exists.
            Err(StoreError::Conflict(ref what)) if what == "external_id" => continue,
            Err(StoreError::Conflict(ref what))
                if what == "email" && store.user_by_external_id(external_id).await?.is_some() =>
            {
                continue
            }
            Err(e) => return Err(conflict(e)),
        }
    }
    Err(HostError::Store(StoreError::Conflict("external_id".into())))
}

pub async fn user(store: &dyn Store, external_id: &str) -> Result<UserRow, HostError> {
    check_external_id(external_id)?;
    store
        .user_by_external_id(external_id)
        .await?
        .ok_or_else(|| HostError::UnknownUser(external_id.to_string()))
}

/// Spends `amount` credits (1 to `MAX_SPEND`) once per idempotency key.
pub async fn spend(
    store: &dyn Store,
    external_id: &str,
    amount: i64,
    idempotency_key: &str,
    reason: Option<&str>,
    api_key_id: i64,
) -> Result<Posted, HostError> {
    if !(1..=MAX_SPEND).contains(&amount) {
        return Err(HostError::Invalid(format!(
            "amount must be a whole number of credits from 1 to {MAX_SPEND}"
        )));
    }
    // Keys are compared exactly; surrounding spaces would make two keys that look different
    // replay each other, so they are refused.
    if idempotency_key.trim().is_empty()
        || idempotency_key.trim() != idempotency_key
        || idempotency_key.chars().count() > ledger::MAX_SOURCE_ID_CHARS
    {
        return Err(HostError::Invalid(format!(
            "idempotency_key must be 1 to {} characters, without leading or trailing spaces",
            ledger::MAX_SOURCE_ID_CHARS
        )));
    }
    // The id alone (remembered by the store after the first time): the post reads the balance.
    check_external_id(external_id)?;
    let user = store
        .user_id_by_external_id(external_id)
        .await?
        .ok_or_else(|| HostError::UnknownUser(external_id.to_string()))?;
    let entry = LedgerEntry::new(
        user,
        EntryKind::Spend,
        Credits(-amount),
        SPEND_SOURCE,
        idempotency_key,
        Actor::ApiKey(api_key_id),
    )?
    .with_reason(reason.unwrap_or(""))?;
    Ok(ledger::post(store, &entry).await?)
}
