//! What the low-balance banner needs: the crossing is derived from the ledger
//! (`credit_transactions.balance_after`), so no ledger write path has to know about it; only the
//! crossing a user dismissed is stored. SQL shared by both backends (`impl_low_balance_queries!`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::model::UserId;

#[async_trait]
pub trait LowBalanceQueries: Send + Sync {
    /// The ledger row that last took the user's balance below `threshold`: the first row below it
    /// after the last row at or above it. None when the balance is not below it (or the user has
    /// no ledger rows). Both lookups walk the (user_id, id) index from the newest row.
    async fn low_balance_crossing(&self, user: UserId, threshold: i64) -> Result<Option<i64>, StoreError>;
    /// The crossing this user dismissed last, if any.
    async fn dismissed_low_balance(&self, user: UserId) -> Result<Option<i64>, StoreError>;
    /// Remembers that the user dismissed the banner of this crossing.
    async fn dismiss_low_balance(
        &self,
        user: UserId,
        crossing_tx_id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

macro_rules! impl_low_balance_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::server::store::low_balance_queries::LowBalanceQueries for $store {
            async fn low_balance_crossing(
                &self,
                user: $crate::model::UserId,
                threshold: i64,
            ) -> Result<Option<i64>, StoreError> {
                Ok(sqlx::query_scalar(
                    "select min(id) from credit_transactions where user_id = $1 and balance_after < $2 \
                     and id > coalesce((select max(id) from credit_transactions \
                     where user_id = $1 and balance_after >= $2), 0)",
                )
                .bind(user.0)
                .bind(threshold)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn dismissed_low_balance(&self, user: $crate::model::UserId) -> Result<Option<i64>, StoreError> {
                Ok(
                    sqlx::query_scalar("select crossing_tx_id from low_balance_dismissals where user_id = $1")
                        .bind(user.0)
                        .fetch_optional(&self.pool)
                        .await?,
                )
            }

            async fn dismiss_low_balance(
                &self,
                user: $crate::model::UserId,
                crossing_tx_id: i64,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), StoreError> {
                let _permit = self.write_permit().await;
                sqlx::query(
                    "insert into low_balance_dismissals (user_id, crossing_tx_id, dismissed_at) values ($1, $2, $3) \
                     on conflict (user_id) do update set crossing_tx_id = excluded.crossing_tx_id, \
                     dismissed_at = excluded.dismissed_at",
                )
                .bind(user.0)
                .bind(crossing_tx_id)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_low_balance_queries;
