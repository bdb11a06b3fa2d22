//! The part of the store whose SQL is the same on both backends. The trait is implemented once,
//! by `impl_queries!`, for each backend's store type (both have a `pool` field; sqlx's query API
//! is the same over either pool), so the SQL text lives in one place. Backend-specific work
//! (locking in `post_entry`, booleans) stays in sqlite.rs and postgres.rs.
//!
//! Every write method starts with `let _permit = self.write_permit().await;` (one line, first in
//! the body): on SQLite that queues the write behind the others in this process (the database has
//! one writer; a queue is fair and fast where SQLite's busy handler sleeps and polls), on
//! PostgreSQL it is a no-op. A new write method must take it too.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::rows::{ApiKeyRow, NewApiKey, NewSimDelivery, NewUser, SimDeliveryRow, SimObjectRow, UserRow};
use super::{NewWebhookEvent, Recorded, StoreError, TransactionRow};
use crate::model::{Credits, UserId};

#[async_trait]
pub trait Queries: Send + Sync {
    /// A round trip to the database (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
    /// The highest applied migration version (0 before any).
    async fn schema_version(&self) -> Result<i64, StoreError>;

    /// Creates a user with a zero balance. A taken email (any case) or external id is a `Conflict`.
    async fn create_user(&self, user: &NewUser) -> Result<UserRow, StoreError>;
    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRow>, StoreError>;
    /// Case-insensitive.
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, StoreError>;
    async fn user_by_external_id(&self, external_id: &str) -> Result<Option<UserRow>, StoreError>;
    /// The id of the user with this external id; remembered once found (see `store::user_ids`).
    async fn user_id_by_external_id(&self, external_id: &str) -> Result<Option<UserId>, StoreError>;
    /// Sets email and name of the user with this external id. None when there is no such user.
    async fn update_external_user(
        &self,
        external_id: &str,
        email: &str,
        name: Option<&str>,
    ) -> Result<Option<UserRow>, StoreError>;
    /// Gives the user with this email (any case) that has no external id yet the external id
    /// `external_id` (and the name): the host app linking an account made by sign-up. None when
    /// there is no such user or it is linked already. A taken external id is a `Conflict`.
    async fn link_external_user(
        &self,
        email: &str,
        external_id: &str,
        name: Option<&str>,
    ) -> Result<Option<UserRow>, StoreError>;
    /// Sets role and password hash (create-admin).
    async fn set_user_credentials(&self, id: UserId, role: &str, password_hash: &str) -> Result<(), StoreError>;

    /// The sum of the user's ledger rows (the balance must always equal it).
    async fn ledger_sum(&self, user: UserId) -> Result<Credits, StoreError>;
    /// The user's ledger rows, newest first, below `before_id` (keyset pagination).
    async fn list_transactions(
        &self,
        user: UserId,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<TransactionRow>, StoreError>;

    async fn create_session(
        &self,
        token_hash: &str,
        user: UserId,
        expires_at: DateTime<Utc>,
        user_agent: Option<&str>,
    ) -> Result<(), StoreError>;
    /// The user of an unexpired session.
    async fn session_user(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<UserRow>, StoreError>;
    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;
    /// Removes expired sessions; returns how many.
    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Ends every session of one user (e.g. when create-admin changes their role or password);
    /// returns how many.
    async fn delete_user_sessions(&self, user: UserId) -> Result<u64, StoreError>;

    /// Writes the key and its `api_key.create` audit line (actor: `created_by`) together.
    async fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRow, StoreError>;
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError>;
    /// Revokes the key with its `api_key.revoke` audit line by `actor`, together. False (and
    /// nothing written) when the key does not exist or was revoked already.
    async fn revoke_api_key(&self, id: i64, actor: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// The unrevoked key with this hash (a read: recording its use is `record_api_key_use`).
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyRow>, StoreError>;
    /// Sets the key's `last_used_at` to `now` unless it is already at or after `stale_before`;
    /// true when it wrote. Conditional, so concurrent requests (and instances) write about once
    /// per interval instead of once per request.
    async fn record_api_key_use(
        &self,
        id: i64,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Counts one hit in a fixed window; returns the hits in the current window including this one.
    async fn rate_limit_hit(&self, bucket: &str, now_unix: i64, window_secs: i64) -> Result<i64, StoreError>;
    /// Deletes counters whose window began before `older_than_unix` (the caller passes now minus
    /// the longest window, so only ended windows go); returns how many.
    async fn prune_rate_limits(&self, older_than_unix: i64) -> Result<u64, StoreError>;

    /// Stores a verified webhook delivery under its `webhook-id`; a repeat reports `Duplicate`.
    async fn record_webhook_event(&self, event: &NewWebhookEvent) -> Result<Recorded, StoreError>;
    /// Every stored delivery (id, type, raw payload), oldest first.
    async fn list_webhook_events(&self) -> Result<Vec<(String, String, String)>, StoreError>;

    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Sets a setting unless it exists; returns the value now stored (first writer wins).
    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError>;

    // The Whop simulator's state (test mode).
    /// Inserts an object; false (and nothing written) when the id exists.
    async fn sim_insert(&self, kind: &str, id: &str, data: &str) -> Result<bool, StoreError>;
    /// Replaces an object's JSON; false when there is no such object.
    async fn sim_update(&self, kind: &str, id: &str, data: &str) -> Result<bool, StoreError>;
    async fn sim_get(&self, kind: &str, id: &str) -> Result<Option<SimObjectRow>, StoreError>;
    async fn sim_delete(&self, kind: &str, id: &str) -> Result<bool, StoreError>;
    /// Objects of a kind in creation order, after `after_seq`.
    async fn sim_list(&self, kind: &str, after_seq: i64, limit: i64) -> Result<Vec<SimObjectRow>, StoreError>;
    async fn sim_enqueue(&self, d: &NewSimDelivery) -> Result<(), StoreError>;
    /// Pending deliveries due by `now`, oldest due first.
    async fn sim_due(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<SimDeliveryRow>, StoreError>;
    async fn sim_record_attempt(
        &self,
        id: i64,
        status: &str,
        attempts: i32,
        next_attempt_at: DateTime<Utc>,
        last_status: Option<i32>,
    ) -> Result<(), StoreError>;
    async fn sim_deliveries(&self) -> Result<Vec<SimDeliveryRow>, StoreError>;
}

macro_rules! impl_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::server::store::queries::Queries for $store {
            async fn ping(&self) -> Result<(), StoreError> {
                // Per backend: SQLite must also be writable (see `SqliteStore::ready_check`).
                self.ready_check().await
            }

            async fn schema_version(&self) -> Result<i64, StoreError> {
                let v: Option<i64> = sqlx::query_scalar("select max(version) from _sqlx_migrations where success")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(v.unwrap_or(0))
            }

            async fn create_user(&self, user: &NewUser) -> Result<UserRow, StoreError> {
                let _permit = self.write_permit().await;
                sqlx::query_as::<_, UserRow>(sql::INSERT_USER)
                    .bind(&user.email)
                    .bind(&user.password_hash)
                    .bind(&user.role)
                    .bind(&user.external_id)
                    .bind(&user.name)
                    .bind(chrono::Utc::now())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| StoreError::from_unique(e, sql::user_conflict))
            }

            async fn user_by_id(&self, id: UserId) -> Result<Option<UserRow>, StoreError> {
                let q = format!("select {} from users where id = $1", sql::USER_COLUMNS);
                Ok(sqlx::query_as::<_, UserRow>(&q).bind(id.0).fetch_optional(&self.pool).await?)
            }

            async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, StoreError> {
                let q = format!("select {} from users where lower(email) = lower($1)", sql::USER_COLUMNS);
                Ok(sqlx::query_as::<_, UserRow>(&q).bind(email).fetch_optional(&self.pool).await?)
            }

            async fn user_by_external_id(&self, external_id: &str) -> Result<Option<UserRow>, StoreError> {
                let q = format!("select {} from users where external_id = $1", sql::USER_COLUMNS);
                Ok(sqlx::query_as::<_, UserRow>(&q).bind(external_id).fetch_optional(&self.pool).await?)
            }

            async fn user_id_by_external_id(&self, external_id: &str) -> Result<Option<UserId>, StoreError> {
                if let Some(id) = self.user_ids.get(external_id) {
                    return Ok(Some(UserId(id)));
                }
                let id: Option<i64> = sqlx::query_scalar("select id from users where external_id = $1")
                    .bind(external_id)
                    .fetch_optional(&self.pool)
                    .await?;
                if let Some(id) = id {
                    self.user_ids.remember(external_id, id);
                }
                Ok(id.map(UserId))
            }

            async fn update_external_user(&self, external_id: &str, email: &str, name: Option<&str>) -> Result<Option<UserRow>, StoreError> {
                let _permit = self.write_permit().await;
                let q = format!(
                    "update users set email = $1, name = $2, updated_at = $3 where external_id = $4 returning {}",
                    sql::USER_COLUMNS
                );
                sqlx::query_as::<_, UserRow>(&q)
                    .bind(email)
                    .bind(name)
                    .bind(chrono::Utc::now())
                    .bind(external_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| StoreError::from_unique(e, sql::user_conflict))
            }

            async fn link_external_user(&self, email: &str, external_id: &str, name: Option<&str>) -> Result<Option<UserRow>, StoreError> {
                let _permit = self.write_permit().await;
                let q = format!(
                    "update users set external_id = $1, name = coalesce($2, name), updated_at = $3 \
                     where lower(email) = lower($4) and external_id is null returning {}",
                    sql::USER_COLUMNS
                );
                sqlx::query_as::<_, UserRow>(&q)
                    .bind(external_id)
                    .bind(name)
                    .bind(chrono::Utc::now())
                    .bind(email)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| StoreError::from_unique(e, sql::user_conflict))
            }

            async fn set_user_credentials(&self, id: UserId, role: &str, password_hash: &str) -> Result<(), StoreError> {
                let _permit = self.write_permit().await;
                sqlx::query("update users set role = $1, password_hash = $2, updated_at = $3 where id = $4")
                    .bind(role)
                    .bind(password_hash)
                    .bind(chrono::Utc::now())
                    .bind(id.0)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn ledger_sum(&self, user: UserId) -> Result<Credits, StoreError> {
                let sum: i64 = sqlx::query_scalar(sql::LEDGER_SUM).bind(user.0).fetch_one(&self.pool).await?;
                Ok(Credits(sum))
            }

            async fn list_transactions(&self, user: UserId, before_id: Option<i64>, limit: i64) -> Result<Vec<TransactionRow>, StoreError> {
                Ok(sqlx::query_as::<_, TransactionRow>(sql::TX_PAGE)
                    .bind(user.0)
                    .bind(before_id.unwrap_or(i64::MAX))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn create_session(
                &self,
                token_hash: &str,
                user: UserId,
                expires_at: chrono::DateTime<chrono::Utc>,
                user_agent: Option<&str>,
            ) -> Result<(), StoreError> {
                let _permit = self.write_permit().await;
                sqlx::query("insert into sessions (token_hash, user_id, created_at, expires_at, user_agent) values ($1, $2, $3, $4, $5)")
                    .bind(token_hash)
                    .bind(user.0)
                    .bind(chrono::Utc::now())
                    .bind(expires_at)
                    .bind(user_agent)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn session_user(&self, token_hash: &str, now: chrono::DateTime<chrono::Utc>) -> Result<Option<UserRow>, StoreError> {
                let q = format!(
                    "select {} from users where id = (select user_id from sessions where token_hash = $1 and expires_at > $2)",
                    sql::USER_COLUMNS
                );
                Ok(sqlx::query_as::<_, UserRow>(&q).bind(token_hash).bind(now).fetch_optional(&self.pool).await?)
            }

            async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
                let _permit = self.write_permit().await;
                sqlx::query("delete from sessions where token_hash = $1").bind(token_hash).execute(&self.pool).await?;
                Ok(())
            }

            async fn delete_expired_sessions(&self, now: chrono::DateTime<chrono::Utc>) -> Result<u64, StoreError> {
                let _permit = self.write_permit().await;
                let done = sqlx::query("delete from sessions where expires_at <= $1").bind(now).execute(&self.pool).await?;
                Ok(done.rows_affected())
            }

            async fn delete_user_sessions(&self, user: UserId) -> Result<u64, StoreError> {
                let _permit = self.write_permit().await;
                let done = sqlx::query("delete from sessions where user_id = $1").bind(user.0).execute(&self.pool).await?;
                Ok(done.rows_affected())
            }

            async fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRow, StoreError> {
                let _permit = self.write_permit().await;
                let now = chrono::Utc::now();
                let mut tx = self.pool.begin().await?;
                let q = format!(
                    "insert into api_keys (name, key_hash, key_prefix, created_by, created_at) values ($1, $2, $3, $4, $5) returning {}",
                    sql::API_KEY_COLUMNS
                );
                let row = sqlx::query_as::<_, ApiKeyRow>(&q)
                    .bind(&key.name)
                    .bind(&key.key_hash)
                    .bind(&key.key_prefix)
                    .bind(&key.created_by)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                // A key opens the host API: who made it is audited with it (never the secret).
                $crate::server::store::audit::insert_audit!(
                    &mut *tx,
                    &key.created_by,
                    "api_key.create",
                    format!("api_key:{}", row.id),
                    None::<String>,
                    serde_json::json!({ "name": row.name, "prefix": row.key_prefix }).to_string(),
                    now
                );
                tx.commit().await?;
                Ok(row)
            }

            async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
                let q = format!("select {} from api_keys order by id desc", sql::API_KEY_COLUMNS);
                Ok(sqlx::query_as::<_, ApiKeyRow>(&q).fetch_all(&self.pool).await?)
            }

            async fn revoke_api_key(&self, id: i64, actor: &str, now: chrono::DateTime<chrono::Utc>) -> Result<bool, StoreError> {
                let _permit = self.write_permit().await;
                let mut tx = self.pool.begin().await?;
                let q = format!(
                    "update api_keys set revoked_at = $1 where id = $2 and revoked_at is null returning {}",
                    sql::API_KEY_COLUMNS
                );
                let revoked = sqlx::query_as::<_, ApiKeyRow>(&q)
                    .bind(now)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = revoked else {
                    // Unknown or revoked already: nothing changed, so nothing to audit.
                    tx.rollback().await?;
                    return Ok(false);
                };
                $crate::server::store::audit::insert_audit!(
                    &mut *tx,
                    actor,
                    "api_key.revoke",
                    format!("api_key:{id}"),
                    serde_json::json!({ "name": row.name, "prefix": row.key_prefix }).to_string(),
                    serde_json::json!({ "revoked_at": now.to_rfc3339() }).to_string(),
                    now
                );
                tx.commit().await?;
                // Committed: this instance stops taking the key at once (store::api_key_cache).
                self.api_keys.forget_all();
                Ok(true)
            }

            async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyRow>, StoreError> {
                if let Some(row) = self.api_keys.get(key_hash) {
                    return Ok(Some(row));
                }
                let (generation, read_at) = (self.api_keys.generation(), std::time::Instant::now());
                let q = format!("select {} from api_keys where key_hash = $1 and revoked_at is null", sql::API_KEY_COLUMNS);
                let row = sqlx::query_as::<_, ApiKeyRow>(&q).bind(key_hash).fetch_optional(&self.pool).await?;
                if let Some(row) = &row {
                    self.api_keys.remember(key_hash, row, generation, read_at);
                }
                Ok(row)
            }

            async fn record_api_key_use(
                &self,
                id: i64,
                now: chrono::DateTime<chrono::Utc>,
                stale_before: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, StoreError> {
                let _permit = self.write_permit().await;
                let done = sqlx::query(
                    "update api_keys set last_used_at = $2 where id = $1 and (last_used_at is null or last_used_at < $3)",
                )
                .bind(id)
                .bind(now)
                .bind(stale_before)
                .execute(&self.pool)
                .await?;
                // Written, or not because a use at or after `stale_before` is recorded already:
                // either way the remembered key must not ask to record it again.
                self.api_keys.note_use(id, now);
                Ok(done.rows_affected() == 1)
            }

            async fn rate_limit_hit(&self, bucket: &str, now_unix: i64, window_secs: i64) -> Result<i64, StoreError> {
                let _permit = self.write_permit().await;
                // One statement, so concurrent hits on several instances count exactly.
                let hits: i64 = sqlx::query_scalar(
                    "insert into rate_limits (bucket, window_start, hits) values ($1, $2, 1) \
                     on conflict (bucket) do update set \
                       hits = case when rate_limits.window_start <= $2 - $3 then 1 else rate_limits.hits + 1 end, \
                       window_start = case when rate_limits.window_start <= $2 - $3 then $2 else rate_limits.window_start end \
                     returning cast(hits as bigint)",
                )
                .bind(bucket)
                .bind(now_unix)
                .bind(window_secs)
                .fetch_one(&self.pool)
                .await?;
                Ok(hits)
            }

            async fn prune_rate_limits(&self, older_than_unix: i64) -> Result<u64, StoreError> {
                let _permit = self.write_permit().await;
                let done = sqlx::query("delete from rate_limits where window_start < $1")
                    .bind(older_than_unix)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn record_webhook_event(&self, e: &NewWebhookEvent) -> Result<Recorded, StoreError> {
                let _permit = self.write_permit().await;
                let done = sqlx::query(
                    "insert into webhook_events (id, event_type, received_at, payload) values ($1, $2, $3, $4) \
                     on conflict (id) do nothing",
                )
                .bind(&e.id)
                .bind(&e.event_type)
                .bind(e.received_at)
                .bind(&e.payload)
                .execute(&self.pool)
                .await?;
                Ok(if done.rows_affected() == 1 { Recorded::Inserted } else { Recorded::Duplicate })
            }

            async fn list_webhook_events(&self) -> Result<Vec<(String, String, String)>, StoreError> {
                Ok(sqlx::query_as("select id, event_type, payload from webhook_events order by received_at, id")
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
                Ok(sqlx::query_scalar("select value from settings where key = $1").bind(key).fetch_optional(&self.pool).await?)
            }

            async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
                let _permit = self.write_permit().await;
                sqlx::query("insert into settings (key, value, updated_at) values ($1, $2, $3) on conflict (key) do nothing")
                    .bind(key)
                    .bind(value)
                    .bind(chrono::Utc::now())
                    .execute(&self.pool)
                    .await?;
                Ok(sqlx::query_scalar("select value from settings where key = $1").bind(key).fetch_one(&self.pool).await?)
            }

            async fn sim_insert(&self, kind: &str, id: &str, data: &str) -> Result<bool, StoreError> {
                let _permit = self.write_permit().await;
                let done = sqlx::query(
                    "insert into whop_sim_objects (id, kind, data, updated_at) values ($1, $2, $3, $4) on conflict (id) do nothing",
                )
                .bind(id)
                .bind(kind)
                .bind(data)
                .bind(chrono::Utc::now())
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn sim_update(&self, kind: &str, id: &str, data: &str) -> Result<bool, StoreError> {
                let _permit = self.write_permit().await;
                let done = sqlx::query("update whop_sim_objects set data = $1, updated_at = $2 where kind = $3 and id = $4")
                    .bind(data)
                    .bind(chrono::Utc::now())
                    .bind(kind)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn sim_get(&self, kind: &str, id: &str) -> Result<Option<SimObjectRow>, StoreError> {
                Ok(sqlx::query_as("select seq, id, kind, data from whop_sim_objects where kind = $1 and id = $2")
                    .bind(kind)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn sim_delete(&self, kind: &str, id: &str) -> Result<bool, StoreError> {
                let _permit = self.write_permit().await;
                let done = sqlx::query("delete from whop_sim_objects where kind = $1 and id = $2")
                    .bind(kind)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn sim_list(&self, kind: &str, after_seq: i64, limit: i64) -> Result<Vec<SimObjectRow>, StoreError> {
                Ok(sqlx::query_as(
                    "select seq, id, kind, data from whop_sim_objects where kind = $1 and seq > $2 order by seq limit $3",
                )
                .bind(kind)
                .bind(after_seq)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn sim_enqueue(&self, d: &NewSimDelivery) -> Result<(), StoreError> {
                let _permit = self.write_permit().await;
                sqlx::query(
                    "insert into whop_sim_deliveries (webhook_id, event_type, payload, status, attempts, next_attempt_at, created_at) \
                     values ($1, $2, $3, $4, 0, $5, $6)",
                )
                .bind(&d.webhook_id)
                .bind(&d.event_type)
                .bind(&d.payload)
                .bind(d.status)
                .bind(d.due_at)
                .bind(chrono::Utc::now())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn sim_due(&self, now: chrono::DateTime<chrono::Utc>, limit: i64) -> Result<Vec<SimDeliveryRow>, StoreError> {
                Ok(sqlx::query_as(
                    "select id, webhook_id, event_type, payload, status, attempts, next_attempt_at, last_status \
                     from whop_sim_deliveries where status = 'pending' and next_attempt_at <= $1 \
                     order by next_attempt_at, id limit $2",
                )
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn sim_record_attempt(
                &self,
                id: i64,
                status: &str,
                attempts: i32,
                next_attempt_at: chrono::DateTime<chrono::Utc>,
                last_status: Option<i32>,
            ) -> Result<(), StoreError> {
                let _permit = self.write_permit().await;
                sqlx::query(
                    "update whop_sim_deliveries set status = $1, attempts = $2, next_attempt_at = $3, last_status = $4 where id = $5",
                )
                .bind(status)
                .bind(attempts)
                .bind(next_attempt_at)
                .bind(last_status)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn sim_deliveries(&self) -> Result<Vec<SimDeliveryRow>, StoreError> {
                Ok(sqlx::query_as(
                    "select id, webhook_id, event_type, payload, status, attempts, next_attempt_at, last_status \
                     from whop_sim_deliveries order by id",
                )
                .fetch_all(&self.pool)
                .await?)
            }
        }
    };
}
pub(crate) use impl_queries;
