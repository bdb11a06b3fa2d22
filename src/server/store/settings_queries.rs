//! Admin settings written together with their audit line. SQL shared by both backends,
//! implemented per store type by `impl_settings_queries!` (see `queries.rs` for why a macro).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

#[async_trait]
pub trait SettingsQueries: Send + Sync {
    /// Sets `key` to `value` and writes the audit line (`settings.update`, subject
    /// `setting:KEY`, the old and new value) in one transaction. Returns the old value.
    async fn set_setting_audited(
        &self,
        key: &str,
        value: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError>;
}

macro_rules! impl_settings_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::server::store::settings_queries::SettingsQueries for $store {
            async fn set_setting_audited(
                &self,
                key: &str,
                value: &str,
                actor: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<String>, StoreError> {
                let _permit = self.write_permit().await;
                let mut tx = self.pool.begin().await?;
                let before: Option<String> = sqlx::query_scalar("select value from settings where key = $1")
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;
                sqlx::query(
                    "insert into settings (key, value, updated_at) values ($1, $2, $3) \
                     on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(key)
                .bind(value)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                $crate::server::store::audit::insert_audit!(
                    &mut *tx,
                    actor,
                    "settings.update",
                    format!("setting:{key}"),
                    before.as_ref().map(|v| serde_json::json!({ "value": v }).to_string()),
                    serde_json::json!({ "value": value }).to_string(),
                    now
                );
                tx.commit().await?;
                Ok(before)
            }
        }
    };
}
pub(crate) use impl_settings_queries;
