//! Read-only widget tokens (migration 0013): the host app's backend gets one per page view, and
//! the widget on that page reads the user's balance with it. SQL shared by both backends
//! (`impl_widget_queries!`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{StoreError, UserRow};
use crate::model::UserId;

#[async_trait]
pub trait WidgetQueries: Send + Sync {
    /// Stores a new token's hash for `user`, issued with API key `api_key_id`.
    async fn create_widget_token(
        &self,
        token_hash: &str,
        user: UserId,
        api_key_id: i64,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The user of an unexpired token, or None.
    async fn widget_token_user(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<UserRow>, StoreError>;

    /// Deletes tokens that expired before `before`; returns how many.
    async fn delete_expired_widget_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

macro_rules! impl_widget_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::server::store::widget_queries::WidgetQueries for $store {
            async fn create_widget_token(
                &self,
                token_hash: &str,
                user: $crate::model::UserId,
                api_key_id: i64,
                now: chrono::DateTime<chrono::Utc>,
                expires_at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), StoreError> {
                let _permit = self.write_permit().await;
                sqlx::query(
                    "insert into widget_tokens (token_hash, user_id, api_key_id, created_at, expires_at) \
                     values ($1, $2, $3, $4, $5)",
                )
                .bind(token_hash)
                .bind(user.0)
                .bind(api_key_id)
                .bind(now)
                .bind(expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn widget_token_user(
                &self,
                token_hash: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<UserRow>, StoreError> {
                let q = format!(
                    "select {} from users where id = \
                     (select user_id from widget_tokens where token_hash = $1 and expires_at > $2)",
                    super::sql::USER_COLUMNS
                );
                Ok(sqlx::query_as::<_, UserRow>(&q)
                    .bind(token_hash)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn delete_expired_widget_tokens(
                &self,
                before: chrono::DateTime<chrono::Utc>,
            ) -> Result<u64, StoreError> {
                let _permit = self.write_permit().await;
                let done = sqlx::query("delete from widget_tokens where expires_at <= $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}
pub(crate) use impl_widget_queries;
