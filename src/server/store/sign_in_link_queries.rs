//! One-time sign-in links (`sign_in_links`) made by the host app for its users: created, consumed
//! once (the session they start written in the same transaction), and swept by housekeeping. SQL
//! shared by both backends (`impl_sign_in_link_queries!`, see `queries.rs` for why a macro); the
//! backend passes its BEGIN statement.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::StoreError;
use crate::model::UserId;

/// A link to keep: only the hash of its token is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSignInLink {
    pub token_hash: String,
    pub user: UserId,
    pub api_key_id: i64,
    pub return_to: String,
    pub back_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SignInLinkRow {
    pub token_hash: String,
    pub user_id: i64,
    pub api_key_id: i64,
    pub return_to: String,
    pub back_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

pub const SIGN_IN_LINK_COLUMNS: &str =
    "token_hash, user_id, api_key_id, return_to, back_url, created_at, expires_at, used_at";

/// The session a consumed link starts (its token's hash; the token goes to the browser).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSession {
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
}

/// What opening a link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutcome {
    /// The link was unused and unexpired: it is used now and the session exists.
    SignedIn {
        user: UserId,
        return_to: String,
        back_url: Option<String>,
    },
    /// Used before (by this browser or another); nothing written.
    Used,
    /// Expired unused; nothing written.
    Expired,
    /// No such link (or its user became an admin); nothing written.
    Unknown,
}

/// Marks the link used if it is unused and unexpired, in one statement, so of two opens only one
/// gets a row back: `$1` token hash, `$2` now. A link never signs in an admin (the role may have
/// changed since the link was made): an API key must not be a way into the admin pages.
pub const CONSUME_LINK: &str = "update sign_in_links set used_at = $2 \
     where token_hash = $1 and used_at is null and expires_at > $2 \
     and user_id in (select id from users where role <> 'admin') returning user_id, return_to, back_url";

#[async_trait]
pub trait SignInLinkQueries: Send + Sync {
    async fn create_sign_in_link(&self, link: &NewSignInLink) -> Result<(), StoreError>;
    async fn sign_in_link(&self, token_hash: &str) -> Result<Option<SignInLinkRow>, StoreError>;
    /// Uses the link and starts `session` for its user with its back_url, in one transaction; a
    /// link already used, expired or unknown writes nothing and says which.
    async fn consume_sign_in_link(
        &self,
        token_hash: &str,
        session: &LinkSession,
        now: DateTime<Utc>,
    ) -> Result<LinkOutcome, StoreError>;
    /// The back_url of an unexpired session (None for sessions from a log-in, or none at all).
    async fn session_back_url(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError>;
    /// Deletes links that expired before `before`; how many.
    async fn delete_expired_sign_in_links(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

macro_rules! impl_sign_in_link_queries {
    ($store:ty, $begin:literal) => {
        #[async_trait::async_trait]
        impl $crate::server::store::sign_in_link_queries::SignInLinkQueries for $store {
            async fn create_sign_in_link(
                &self,
                l: &$crate::server::store::sign_in_link_queries::NewSignInLink,
            ) -> Result<(), StoreError> {
                let _permit = self.write_permit().await;
                sqlx::query(
                    "insert into sign_in_links (token_hash, user_id, api_key_id, return_to, back_url, created_at, \
                     expires_at) values ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&l.token_hash)
                .bind(l.user.0)
                .bind(l.api_key_id)
                .bind(&l.return_to)
                .bind(&l.back_url)
                .bind(l.created_at)
                .bind(l.expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn sign_in_link(
                &self,
                token_hash: &str,
            ) -> Result<Option<$crate::server::store::sign_in_link_queries::SignInLinkRow>, StoreError> {
                use $crate::server::store::sign_in_link_queries::{SignInLinkRow, SIGN_IN_LINK_COLUMNS};
                let q = format!("select {SIGN_IN_LINK_COLUMNS} from sign_in_links where token_hash = $1");
                Ok(sqlx::query_as::<_, SignInLinkRow>(&q)
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn consume_sign_in_link(
                &self,
                token_hash: &str,
                session: &$crate::server::store::sign_in_link_queries::LinkSession,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::server::store::sign_in_link_queries::LinkOutcome, StoreError> {
                use $crate::server::store::sign_in_link_queries::{LinkOutcome, CONSUME_LINK};
                let _permit = self.write_permit().await;
                let mut tx = self.pool.begin_with($begin).await?;
                let used: Option<(i64, String, Option<String>)> = sqlx::query_as(CONSUME_LINK)
                    .bind(token_hash)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((user_id, return_to, back_url)) = used else {
                    // Nothing was changed; say why, for the page the browser is shown.
                    let row: Option<(
                        Option<chrono::DateTime<chrono::Utc>>,
                        chrono::DateTime<chrono::Utc>,
                    )> = sqlx::query_as("select used_at, expires_at from sign_in_links where token_hash = $1")
                        .bind(token_hash)
                        .fetch_optional(&mut *tx)
                        .await?;
                    tx.rollback().await?;
                    return Ok(match row {
                        Some((Some(_), _)) => LinkOutcome::Used,
                        Some((None, expires_at)) if expires_at <= now => LinkOutcome::Expired,
                        // Unknown, or its user is an admin now.
                        _ => LinkOutcome::Unknown,
                    });
                };
                sqlx::query(
                    "insert into sessions (token_hash, user_id, created_at, expires_at, user_agent, back_url) \
                     values ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&session.token_hash)
                .bind(user_id)
                .bind(now)
                .bind(session.expires_at)
                .bind(&session.user_agent)
                .bind(&back_url)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(LinkOutcome::SignedIn {
                    user: $crate::model::UserId(user_id),
                    return_to,
                    back_url,
                })
            }

            async fn session_back_url(
                &self,
                token_hash: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<String>, StoreError> {
                let row: Option<(Option<String>,)> =
                    sqlx::query_as("select back_url from sessions where token_hash = $1 and expires_at > $2")
                        .bind(token_hash)
                        .bind(now)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.and_then(|(url,)| url))
            }

            async fn delete_expired_sign_in_links(
                &self,
                before: chrono::DateTime<chrono::Utc>,
            ) -> Result<u64, StoreError> {
                let _permit = self.write_permit().await;
                let done = sqlx::query("delete from sign_in_links where expires_at < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_sign_in_link_queries;
