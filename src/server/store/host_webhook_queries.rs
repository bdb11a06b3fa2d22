//! Signed webhooks to the host app: the endpoints Atlas registered, the outbox of events
//! (`host_events`) and one delivery per event and endpoint (`host_deliveries`, with every try in
//! `host_delivery_attempts`). Events are written by `emit_host_event!` inside the transaction of
//! the change they report; the `host_webhooks` job claims due deliveries with a lease (a
//! conditional update, so two instances never send one at once) and in order per user. SQL shared
//! by both backends (`impl_host_webhook_queries!`, see `queries.rs` for why a macro).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::unmatched_queries::AuditEntry;
use super::StoreError;

/// The events an endpoint can subscribe to. None is a prefix of another, and the list is fixed,
/// so the comma-list match below (`like '%,type,%'`) cannot confuse two of them.
pub const EVENT_TYPES: [&str; 7] = [
    "credits.purchased",
    "credits.refunded",
    "credits.disputed",
    "credits.spent",
    "balance.low",
    "order.failed",
    "order.manual_requested",
];

/// True (as a SQL fragment) when endpoint alias `ep` is enabled and wants the event type bound
/// at `$type` (a placeholder like `$2`); `$on` is a placeholder bound to `true`.
pub fn subscribed_sql(on: &str, ty: &str) -> String {
    format!("ep.enabled = {on} and (',' || ep.event_types || ',') like ('%,' || cast({ty} as text) || ',%')")
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct HostEndpointRow {
    pub id: i64,
    pub url: String,
    /// Needed to sign; never shown after creation.
    pub secret: String,
    /// Comma list of `EVENT_TYPES`.
    pub event_types: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub disabled_at: Option<DateTime<Utc>>,
}

pub const ENDPOINT_COLUMNS: &str =
    "id, url, secret, event_types, description, enabled, created_at, created_by, disabled_at";

#[derive(Debug, Clone)]
pub struct NewHostEndpoint {
    pub url: String,
    pub secret: String,
    pub event_types: String,
    pub description: Option<String>,
    pub created_by: String,
}

/// A delivery with what the list and the sender need of its event and endpoint.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct HostDeliveryRow {
    pub id: i64,
    pub event_id: i64,
    pub endpoint_id: i64,
    pub user_id: i64,
    /// pending, delivered, failed.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The `webhook-id`.
    pub message_id: String,
    pub event_type: String,
    pub payload: String,
    pub endpoint_url: String,
}

/// `HostDeliveryRow`'s columns over `host_deliveries d join host_events e join host_webhook_endpoints ep`.
pub const DELIVERY_SELECT: &str = "select d.id, d.event_id, d.endpoint_id, d.user_id, d.status, d.attempts, \
     d.next_attempt_at, d.lease_until, d.last_status_code, d.last_error, d.delivered_at, d.created_at, \
     e.message_id, e.event_type, e.payload, ep.url as endpoint_url \
     from host_deliveries d join host_events e on e.id = d.event_id \
     join host_webhook_endpoints ep on ep.id = d.endpoint_id";

/// A delivery claimed for sending, with the secret to sign it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub delivery: HostDeliveryRow,
    pub secret: String,
    /// The lease taken; finishing checks it, so a sender whose lease ran out (and whose delivery
    /// another instance took over) cannot overwrite that one's result.
    pub lease_until: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct HostAttemptRow {
    pub id: i64,
    pub delivery_id: i64,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostDeliveryFilter {
    pub status: Option<String>,
    pub endpoint_id: Option<i64>,
}

/// What became of one try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostDeliveryNext {
    Delivered,
    RetryAt(DateTime<Utc>),
    Failed,
}

#[derive(Debug, Clone)]
pub struct HostAttempt {
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub next: HostDeliveryNext,
}

#[async_trait]
pub trait HostWebhookQueries: Send + Sync {
    /// Registers an endpoint unless `max` exist already (None), with the audit line, in one
    /// transaction.
    async fn create_host_endpoint(
        &self,
        e: &NewHostEndpoint,
        max: i64,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<Option<HostEndpointRow>, StoreError>;
    async fn list_host_endpoints(&self) -> Result<Vec<HostEndpointRow>, StoreError>;
    async fn host_endpoint(&self, id: i64) -> Result<Option<HostEndpointRow>, StoreError>;
    /// Enables or disables an endpoint, with the audit line; false when it was so already (or
    /// does not exist): nothing written.
    async fn set_host_endpoint_enabled(
        &self,
        id: i64,
        enabled: bool,
        audit: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Newest first, below `before_id` (keyset pagination).
    async fn list_host_deliveries(
        &self,
        filter: &HostDeliveryFilter,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<HostDeliveryRow>, StoreError>;
    async fn host_delivery(&self, id: i64) -> Result<Option<HostDeliveryRow>, StoreError>;
    /// A delivery's tries, oldest first.
    async fn host_delivery_attempts(&self, delivery: i64) -> Result<Vec<HostAttemptRow>, StoreError>;
    /// Claims up to `limit` due deliveries until `lease_until`: pending, due by `now`, not in
    /// flight (no lease, or an expired one: its sender died), their endpoint enabled, and no
    /// earlier event of the same user still pending for the same endpoint. Each row is claimed by
    /// a conditional update, so of two instances racing only one gets it.
    async fn claim_host_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;
    /// Records a try of a claimed delivery (its attempts row and the delivery's new state) in one
    /// transaction; false (nothing written) when the lease is no longer ours.
    async fn finish_host_delivery(
        &self,
        id: i64,
        lease_until: DateTime<Utc>,
        attempt: &HostAttempt,
    ) -> Result<bool, StoreError>;
    /// Makes a delivery pending and due at `now` again (same event, so the same `webhook-id`),
    /// its retry schedule from the start, with the audit line; false when it is pending already
    /// or does not exist.
    async fn resend_host_delivery(&self, id: i64, audit: &AuditEntry, now: DateTime<Utc>) -> Result<bool, StoreError>;
}

/// The event types some enabled endpoint wants, read in the open transaction `$tx` as one
/// comma list (empty when nobody listens). The spend path asks this once and skips the emit
/// macros when their type is not in it, so a spend nobody listens to costs this one read.
macro_rules! wanted_host_events {
    ($tx:ident) => {{
        let lists: Vec<String> =
            sqlx::query_scalar("select event_types from host_webhook_endpoints where enabled = $1")
                .bind(true)
                .fetch_all(&mut *$tx)
                .await?;
        format!(",{},", lists.join(","))
    }};
}
pub(crate) use wanted_host_events;

/// Whether `wanted` (from `wanted_host_events!`) holds `ty`.
pub fn wants(wanted: &str, ty: &str) -> bool {
    wanted.contains(&format!(",{ty},"))
}

/// Writes a host event in the open transaction `$tx`, before its commit: nothing when no enabled
/// endpoint wants `$ty` (one indexed read, so a spend nobody listens to costs one cheap
/// statement), else the outbox row and one pending delivery per subscribed enabled endpoint.
/// `$data` is the event's `data` object; the user's ids and new balance are added here, and
/// `credits` (0), `order_id` and `ledger_entry_id` (null) when it has none. Evaluates to
/// `Result<bool, StoreError>` (true when written).
macro_rules! emit_host_event {
    ($tx:ident, $user_id:expr, $ty:expr, $data:expr, $now:expr) => {{
        let user_id: i64 = $user_id;
        let ty: &str = $ty;
        let now: chrono::DateTime<chrono::Utc> = $now;
        let q = format!(
            "select u.external_id, u.credits_balance from users u where u.id = $1 and exists \
             (select 1 from host_webhook_endpoints ep where {})",
            $crate::server::store::host_webhook_queries::subscribed_sql("$3", "$2")
        );
        let listening: Option<(Option<String>, i64)> = sqlx::query_as(&q)
            .bind(user_id)
            .bind(ty)
            .bind(true)
            .fetch_optional(&mut *$tx)
            .await?;
        match listening {
            None => Ok::<bool, StoreError>(false),
            Some((external_id, balance)) => {
                let mut data: serde_json::Value = $data;
                // Read in this transaction after the change: the balance it left.
                data["balance"] = serde_json::json!(balance);
                data["external_id"] = serde_json::json!(external_id);
                data["user_id"] = serde_json::json!(user_id);
                for key in ["credits", "order_id", "ledger_entry_id"] {
                    if data.get(key).is_none() {
                        data[key] = if key == "credits" { serde_json::json!(0) } else { serde_json::Value::Null };
                    }
                }
                let payload = serde_json::json!({
                    "type": ty,
                    "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "data": data,
                })
                .to_string();
                let message_id = format!("msg_{}", $crate::server::service::auth::random_token());
                let event_id: i64 = sqlx::query_scalar(
                    "insert into host_events (message_id, user_id, event_type, payload, created_at) \
                     values ($1, $2, $3, $4, $5) returning id",
                )
                .bind(&message_id)
                .bind(user_id)
                .bind(ty)
                .bind(&payload)
                .bind(now)
                .fetch_one(&mut *$tx)
                .await?;
                let q = format!(
                    "insert into host_deliveries (event_id, endpoint_id, user_id, status, attempts, \
                     next_attempt_at, created_at) select $1, ep.id, $2, 'pending', 0, $3, $3 \
                     from host_webhook_endpoints ep where {}",
                    $crate::server::store::host_webhook_queries::subscribed_sql("$5", "$4")
                );
                sqlx::query(&q)
                    .bind(event_id)
                    .bind(user_id)
                    .bind(now)
                    .bind(ty)
                    .bind(true)
                    .execute(&mut *$tx)
                    .await?;
                Ok(true)
            }
        }
    }};
}
pub(crate) use emit_host_event;

/// `balance.low` when a debit took the user's balance from `$before` (at or above the
/// low-balance threshold) to `$after` (below it). The threshold is the admin setting, read in the
/// same transaction and only when some endpoint listens. `$data` as for `emit_host_event!`
/// (`credits` and `threshold` are added here).
macro_rules! emit_balance_low {
    ($tx:ident, $user_id:expr, $before:expr, $after:expr, $data:expr, $now:expr) => {{
        let (before, after): (i64, i64) = ($before, $after);
        if after < before {
            // One row (the stored value, or null) when some endpoint listens; none otherwise.
            let q = format!(
                "select (select value from settings where key = $1) as v \
                 where exists (select 1 from host_webhook_endpoints ep where {})",
                $crate::server::store::host_webhook_queries::subscribed_sql("$3", "$2"),
            );
            let setting: Option<Option<String>> = sqlx::query_scalar(&q)
                .bind($crate::server::service::low_balance::THRESHOLD_KEY)
                .bind("balance.low")
                .bind(true)
                .fetch_optional(&mut *$tx)
                .await?;
            if let Some(raw) = setting {
                let threshold = $crate::server::service::low_balance::stored_threshold(raw.as_deref()).0;
                if threshold > 0 && before >= threshold && after < threshold {
                    let mut data: serde_json::Value = $data;
                    data["credits"] = serde_json::json!(after - before);
                    data["threshold"] = serde_json::json!(threshold);
                    $crate::server::store::host_webhook_queries::emit_host_event!(
                        $tx,
                        $user_id,
                        "balance.low",
                        data,
                        $now
                    )?;
                }
            }
        }
    }};
}
pub(crate) use emit_balance_low;

macro_rules! impl_host_webhook_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::server::store::host_webhook_queries::HostWebhookQueries for $store {
            async fn create_host_endpoint(
                &self,
                e: &$crate::server::store::host_webhook_queries::NewHostEndpoint,
                max: i64,
                audit: &$crate::server::store::AuditEntry,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<$crate::server::store::host_webhook_queries::HostEndpointRow>, StoreError> {
                use $crate::server::store::host_webhook_queries::{HostEndpointRow, ENDPOINT_COLUMNS};
                let _permit = self.write_permit().await;
                let mut tx = self.pool.begin().await?;
                // Serialises concurrent creations on PostgreSQL so the cap holds (SQLite has one
                // writer anyway).
                if $crate::server::store::Store::backend(self) == $crate::server::store::Backend::Postgres {
                    sqlx::query("lock table host_webhook_endpoints in share row exclusive mode")
                        .execute(&mut *tx)
                        .await?;
                }
                let count: i64 = sqlx::query_scalar("select count(*) from host_webhook_endpoints")
                    .fetch_one(&mut *tx)
                    .await?;
                if count >= max {
                    tx.rollback().await?;
                    return Ok(None);
                }
                let q = format!(
                    "insert into host_webhook_endpoints (url, secret, event_types, description, enabled, \
                     created_at, created_by) values ($1, $2, $3, $4, $5, $6, $7) returning {ENDPOINT_COLUMNS}"
                );
                let row = sqlx::query_as::<_, HostEndpointRow>(&q)
                    .bind(&e.url)
                    .bind(&e.secret)
                    .bind(&e.event_types)
                    .bind(&e.description)
                    .bind(true)
                    .bind(now)
                    .bind(&e.created_by)
                    .fetch_one(&mut *tx)
                    .await?;
                let after = serde_json::json!({
                    "id": row.id, "url": row.url, "event_types": row.event_types, "description": row.description,
                })
                .to_string();
                $crate::server::store::audit::insert_audit!(&mut *tx, &audit.actor, &audit.action, format!("webhook_endpoint:{}", row.id), &audit.before, after, now);
                tx.commit().await?;
                Ok(Some(row))
            }

            async fn list_host_endpoints(
                &self,
            ) -> Result<Vec<$crate::server::store::host_webhook_queries::HostEndpointRow>, StoreError> {
                use $crate::server::store::host_webhook_queries::{HostEndpointRow, ENDPOINT_COLUMNS};
                let q = format!("select {ENDPOINT_COLUMNS} from host_webhook_endpoints order by id");
                Ok(sqlx::query_as::<_, HostEndpointRow>(&q).fetch_all(&self.pool).await?)
            }

            async fn host_endpoint(
                &self,
                id: i64,
            ) -> Result<Option<$crate::server::store::host_webhook_queries::HostEndpointRow>, StoreError> {
                use $crate::server::store::host_webhook_queries::{HostEndpointRow, ENDPOINT_COLUMNS};
                let q = format!("select {ENDPOINT_COLUMNS} from host_webhook_endpoints where id = $1");
                Ok(sqlx::query_as::<_, HostEndpointRow>(&q).bind(id).fetch_optional(&self.pool).await?)
            }

            async fn set_host_endpoint_enabled(
                &self,
                id: i64,
                enabled: bool,
                audit: &$crate::server::store::AuditEntry,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, StoreError> {
                let _permit = self.write_permit().await;
                let mut tx = self.pool.begin().await?;
                let done = sqlx::query(
                    "update host_webhook_endpoints set enabled = $1, \
                     disabled_at = case when $1 then null else $2 end where id = $3 and enabled <> $1",
                )
                .bind(enabled)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                $crate::server::store::audit::insert_audit!(&mut *tx, &audit.actor, &audit.action, &audit.subject, serde_json::json!({ "enabled": !enabled }).to_string(), serde_json::json!({ "enabled": enabled }).to_string(), now);
                tx.commit().await?;
                Ok(true)
            }

            async fn list_host_deliveries(
                &self,
                filter: &$crate::server::store::host_webhook_queries::HostDeliveryFilter,
                before_id: Option<i64>,
                limit: i64,
            ) -> Result<Vec<$crate::server::store::host_webhook_queries::HostDeliveryRow>, StoreError> {
                use $crate::server::store::host_webhook_queries::{HostDeliveryRow, DELIVERY_SELECT};
                // Only the filters given appear, so each shape can use its index.
                let mut clauses = vec!["d.id < $1".to_string()];
                if filter.status.is_some() {
                    clauses.push(format!("d.status = ${}", clauses.len() + 1));
                }
                if filter.endpoint_id.is_some() {
                    clauses.push(format!("d.endpoint_id = ${}", clauses.len() + 1));
                }
                let q = format!(
                    "{DELIVERY_SELECT} where {} order by d.id desc limit ${}",
                    clauses.join(" and "),
                    clauses.len() + 1
                );
                let mut query = sqlx::query_as::<_, HostDeliveryRow>(&q).bind(before_id.unwrap_or(i64::MAX));
                if let Some(s) = &filter.status {
                    query = query.bind(s.clone());
                }
                if let Some(e) = filter.endpoint_id {
                    query = query.bind(e);
                }
                Ok(query.bind(limit).fetch_all(&self.pool).await?)
            }

            async fn host_delivery(
                &self,
                id: i64,
            ) -> Result<Option<$crate::server::store::host_webhook_queries::HostDeliveryRow>, StoreError> {
                use $crate::server::store::host_webhook_queries::{HostDeliveryRow, DELIVERY_SELECT};
                let q = format!("{DELIVERY_SELECT} where d.id = $1");
                Ok(sqlx::query_as::<_, HostDeliveryRow>(&q).bind(id).fetch_optional(&self.pool).await?)
            }

            async fn host_delivery_attempts(
                &self,
                delivery: i64,
            ) -> Result<Vec<$crate::server::store::host_webhook_queries::HostAttemptRow>, StoreError> {
                Ok(sqlx::query_as(
                    "select id, delivery_id, attempted_at, status_code, error, duration_ms \
                     from host_delivery_attempts where delivery_id = $1 order by id",
                )
                .bind(delivery)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn claim_host_deliveries(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> Result<Vec<$crate::server::store::host_webhook_queries::ClaimedDelivery>, StoreError> {
                use $crate::server::store::host_webhook_queries::{ClaimedDelivery, HostDeliveryRow, DELIVERY_SELECT};
                // The conditions of a due delivery, over alias `d`; `$1` is now.
                const DUE: &str = "d.status = 'pending' and d.next_attempt_at <= $1 \
                     and (d.lease_until is null or d.lease_until < $1) \
                     and not exists (select 1 from host_deliveries p where p.endpoint_id = d.endpoint_id \
                     and p.user_id = d.user_id and p.status = 'pending' and p.event_id < d.event_id)";
                let q = format!(
                    "select d.id from host_deliveries d join host_webhook_endpoints ep on ep.id = d.endpoint_id \
                     where ep.enabled = $2 and {DUE} order by d.event_id limit $3"
                );
                // PostgreSQL keeps microseconds: the lease must read back equal to what was written.
                let lease_until = chrono::SubsecRound::trunc_subsecs(lease_until, 6);
                let candidates: Vec<i64> = sqlx::query_scalar(&q)
                    .bind(now)
                    .bind(true)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                let mut claimed = Vec::new();
                for id in candidates {
                    let _permit = self.write_permit().await;
                    // The row's own conditions stand in the UPDATE's WHERE, not in a subquery: when
                    // another sender holds the row, PostgreSQL waits and then re-checks only these
                    // against the row as that sender left it (a subquery would still see the old
                    // snapshot, and both senders would claim it).
                    let q = "update host_deliveries set lease_until = $2 where id = $3 and status = 'pending' \
                         and next_attempt_at <= $1 and (lease_until is null or lease_until < $1) \
                         and not exists (select 1 from host_deliveries p \
                         where p.endpoint_id = host_deliveries.endpoint_id and p.user_id = host_deliveries.user_id \
                         and p.status = 'pending' and p.event_id < host_deliveries.event_id)";
                    let done = sqlx::query(q).bind(now).bind(lease_until).bind(id).execute(&self.pool).await?;
                    if done.rows_affected() != 1 {
                        continue;
                    }
                    let q = format!("{DELIVERY_SELECT} where d.id = $1");
                    let delivery = sqlx::query_as::<_, HostDeliveryRow>(&q).bind(id).fetch_one(&self.pool).await?;
                    let secret: String =
                        sqlx::query_scalar("select secret from host_webhook_endpoints where id = $1")
                            .bind(delivery.endpoint_id)
                            .fetch_one(&self.pool)
                            .await?;
                    claimed.push(ClaimedDelivery { delivery, secret, lease_until });
                }
                Ok(claimed)
            }

            async fn finish_host_delivery(
                &self,
                id: i64,
                lease_until: chrono::DateTime<chrono::Utc>,
                a: &$crate::server::store::host_webhook_queries::HostAttempt,
            ) -> Result<bool, StoreError> {
                use $crate::server::store::host_webhook_queries::HostDeliveryNext;
                let _permit = self.write_permit().await;
                let mut tx = self.pool.begin().await?;
                let (status, next, delivered) = match a.next {
                    HostDeliveryNext::Delivered => ("delivered", a.attempted_at, Some(a.attempted_at)),
                    HostDeliveryNext::RetryAt(at) => ("pending", at, None),
                    HostDeliveryNext::Failed => ("failed", a.attempted_at, None),
                };
                let done = sqlx::query(
                    "update host_deliveries set status = $1, attempts = attempts + 1, next_attempt_at = $2, \
                     lease_until = null, last_status_code = $3, last_error = $4, delivered_at = $5 \
                     where id = $6 and status = 'pending' and lease_until = $7",
                )
                .bind(status)
                .bind(next)
                .bind(a.status_code)
                .bind(&a.error)
                .bind(delivered)
                .bind(id)
                .bind(lease_until)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                sqlx::query(
                    "insert into host_delivery_attempts (delivery_id, attempted_at, status_code, error, duration_ms) \
                     values ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(a.attempted_at)
                .bind(a.status_code)
                .bind(&a.error)
                .bind(a.duration_ms)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn resend_host_delivery(
                &self,
                id: i64,
                audit: &$crate::server::store::AuditEntry,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, StoreError> {
                let _permit = self.write_permit().await;
                let mut tx = self.pool.begin().await?;
                let before: Option<(String, i32)> =
                    sqlx::query_as("select status, attempts from host_deliveries where id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let done = sqlx::query(
                    "update host_deliveries set status = 'pending', attempts = 0, next_attempt_at = $1, \
                     lease_until = null where id = $2 and status <> 'pending'",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                let Some((status, attempts)) = before.filter(|_| done.rows_affected() == 1) else {
                    tx.rollback().await?;
                    return Ok(false);
                };
                $crate::server::store::audit::insert_audit!(&mut *tx, &audit.actor, &audit.action, &audit.subject, serde_json::json!({ "status": status, "attempts": attempts }).to_string(), &audit.after, now);
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}
pub(crate) use impl_host_webhook_queries;
