//! The data layer: one `Store` trait, one implementation per backend (SQLite, PostgreSQL), chosen
//! by the `DATABASE_URL` scheme. Services hold an `Arc<dyn Store>` and never see SQL.
//! Both implementations run the same contract suite (tests/store_contract.rs).

pub mod admin_event_queries;
pub mod admin_order_queries;
pub mod alert_queries;
pub mod api_key_cache;
pub mod audit;
pub mod deliver;
mod deliver_batch;
pub mod dispute;
mod error;
pub mod fulfil;
mod group_commit;
pub mod host_webhook_queries;
pub mod import_queries;
mod ledger_batch;
pub mod low_balance_queries;
pub mod order_queries;
pub mod plan_queries;
mod postgres;
mod queries;
pub mod reconcile_queries;
pub mod refund;
mod rows;
pub mod settings_queries;
pub mod sign_in_link_queries;
mod sql;
mod sqlite;
pub mod unmatched_queries;
mod user_ids;
pub mod widget_queries;

use std::sync::Arc;

use async_trait::async_trait;

pub use admin_event_queries::AdminEventQueries;
pub use admin_order_queries::AdminOrderQueries;
pub use alert_queries::{AlertQueries, AlertRow, DeliveryResult, NewAlert};
pub use deliver::Delivered;
pub use error::StoreError;
pub use host_webhook_queries::{
    ClaimedDelivery, HostAttempt, HostAttemptRow, HostDeliveryFilter, HostDeliveryNext, HostDeliveryRow,
    HostEndpointRow, HostWebhookQueries, NewHostEndpoint,
};
pub use import_queries::{ImportCounts, ImportQueries, ImportRefusal, LegacyOrder, LegacyUser};
pub use low_balance_queries::LowBalanceQueries;
pub use order_queries::OrderQueries;
pub use plan_queries::{PlanFields, PlanQueries};
pub use postgres::PgStore;
pub use queries::Queries;
pub use reconcile_queries::ReconcileQueries;
pub use rows::{
    ApiKeyRow, DisputeApplication, DisputeOutcome, FulfilOutcome, Fulfilment, NewApiKey, NewEntry, NewOrder,
    NewSimDelivery, NewUser, OrderRow, PlanRow, PostOutcome, RefundApplication, RefundOutcome, SimDeliveryRow,
    SimObjectRow, TransactionRow, UserRow, WebhookEventRow,
};
pub use settings_queries::SettingsQueries;
pub use sign_in_link_queries::{LinkOutcome, LinkSession, NewSignInLink, SignInLinkQueries, SignInLinkRow};
pub use sqlite::{SqliteStore, SqliteSynchronous};
pub use unmatched_queries::{
    AuditEntry, AuditRow, NewUnmatchedPayment, UnmatchedKind, UnmatchedPaymentRow, UnmatchedQueries,
};
pub use widget_queries::WidgetQueries;

use crate::server::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[async_trait]
/// Everything the app asks of its database. `Queries` holds the methods whose SQL is shared by
/// both backends; the ones here differ per backend.
pub trait Store:
    Queries
    + OrderQueries
    + UnmatchedQueries
    + ReconcileQueries
    + AdminEventQueries
    + PlanQueries
    + SettingsQueries
    + AdminOrderQueries
    + AlertQueries
    + LowBalanceQueries
    + ImportQueries
    + SignInLinkQueries
    + WidgetQueries
    + HostWebhookQueries
    + Send
    + Sync
    + 'static
{
    fn backend(&self) -> Backend;

    /// Applies every pending migration of this backend's folder.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// How many plans are on sale.
    async fn count_active_plans(&self) -> Result<i64, StoreError>;

    /// Posts one ledger entry: the row, the new balance, `balance_after`, committed before it
    /// returns. Concurrent posts are group-committed (several in one transaction, see
    /// `store::group_commit`), each with its own result.
    /// An entry whose (kind, source) exists already writes nothing and reports `AlreadyApplied`
    /// with the existing row. With `no_overdraft`, an entry that would leave the balance below
    /// zero fails with `InsufficientCredits` (checked under the same lock as the write).
    async fn post_entry(&self, entry: &NewEntry) -> Result<PostOutcome, StoreError>;

    /// Credits an order for a Whop payment: the order becomes paid and one `purchase` entry is
    /// posted, in one transaction under the order's lock. A repeat of the same payment writes
    /// nothing (`AlreadyCredited`); a wrong amount or currency, or a second payment for an order
    /// already paid, is not credited (`Held`, the reason kept on the order).
    async fn fulfil_order(&self, f: &Fulfilment) -> Result<FulfilOutcome, StoreError>;

    /// A fresh webhook delivery of a paid payment, in one transaction (see `store::deliver`):
    /// stores the event settled `processed`, credits the order as `fulfil_order` does and wakes
    /// the events waiting for the payment, or writes nothing at all. A webhook id stored before
    /// writes nothing (`Duplicate`); anything but a credit is rolled back (`NotCredited`) for
    /// the caller to store and apply step by step.
    async fn deliver_payment(
        &self,
        event: &NewWebhookEvent,
        f: &Fulfilment,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Delivered, StoreError>;

    /// Applies a succeeded Whop refund to the order its payment credited: records it and claws
    /// back its share of the credits (see `store::refund`), in one transaction. A repeat
    /// changes nothing; a payment that credited no order yet writes nothing.
    async fn refund_order(&self, r: &RefundApplication) -> Result<RefundOutcome, StoreError>;

    /// Reflects a Whop dispute on the order its payment credited (hold, release, lost; see
    /// `store::dispute`), in one transaction. Repeats and any arrival order end alike; a
    /// payment that credited no order yet writes nothing.
    async fn dispute_order(&self, d: &DisputeApplication) -> Result<DisputeOutcome, StoreError>;

    /// Credit plans in display order; archived ones only when asked.
    async fn list_plans(&self, include_archived: bool) -> Result<Vec<PlanRow>, StoreError>;

    /// Closes the pool, waiting for connections in use.
    async fn close(&self);
}

/// A verified delivery to keep.
#[derive(Debug, Clone)]
pub struct NewWebhookEvent {
    pub id: String,
    pub event_type: String,
    pub payload: String,
    pub received_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Inserted,
    Duplicate,
}

/// Options that shape the connection pool, from the typed config.
/// How long a request waits for a pooled connection, or on SQLite for another process's write
/// lock, before failing (answered 503). Short, so an unreachable or locked database fails
/// requests in seconds instead of holding them (it was 15 s).
pub const DATABASE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long the readiness check waits for the database.
pub const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub url: String,
    pub max_connections: u32,
    pub sqlite_synchronous: SqliteSynchronous,
    /// Most ledger posts in one group-committed transaction (`LEDGER_BATCH_MAX`).
    pub ledger_batch_max: usize,
}

/// The default of `LEDGER_BATCH_MAX`.
pub const DEFAULT_LEDGER_BATCH: usize = group_commit::MAX_BATCH;

impl From<&Config> for ConnectOptions {
    fn from(c: &Config) -> Self {
        ConnectOptions {
            url: c.database_url.clone(),
            max_connections: c.database_max_connections,
            sqlite_synchronous: c.sqlite_synchronous,
            ledger_batch_max: c.ledger_batch_max,
        }
    }
}

/// Opens the store the URL names. Does not migrate: callers decide (serve and migrate do).
pub async fn connect(opts: &ConnectOptions) -> Result<Arc<dyn Store>, StoreError> {
    match Backend::from_url(&opts.url) {
        Some(Backend::Sqlite) => Ok(Arc::new(SqliteStore::connect(opts).await?)),
        Some(Backend::Postgres) => Ok(Arc::new(PgStore::connect(opts).await?)),
        None => Err(StoreError::Config(format!(
            "unsupported DATABASE_URL scheme: {}",
            crate::server::config::redact_url(&opts.url)
        ))),
    }
}
