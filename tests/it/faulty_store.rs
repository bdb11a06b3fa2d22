//! A `Store` that delegates every method to the real one and fails on purpose where the
//! simulation asks it to: before the inner write (nothing is written, like an aborted
//! transaction) or after it committed (the caller sees a failure though the write happened, like
//! a connection lost while the commit's answer was on its way). Faults are keyed by the object
//! they are about (a `pay_` id, a webhook id, ...), not by call order, so seeds running at once
//! on one app each hit only their own faults whoever's path reaches the object first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use atlas_credits::model::{Credits, OrderId, UserId};
use atlas_credits::server::store::admin_event_queries::{AuditFilter, MetricsFacts, WebhookFilter};
use atlas_credits::server::store::admin_order_queries::{
    AdminOrderQueries, AdminOrderRow, OrderFilter, OrderRefundRow, Review, ReviewOutcome,
};
use atlas_credits::server::store::AdminEventQueries;
use atlas_credits::server::store::{
    AlertQueries, AlertRow, DeliveryResult, ImportCounts, ImportQueries, ImportRefusal, LegacyOrder, LegacyUser,
    LowBalanceQueries, NewAlert,
};
use atlas_credits::server::store::{
    ApiKeyRow, AuditEntry, AuditRow, Backend, Delivered, DisputeApplication, DisputeOutcome, FulfilOutcome, Fulfilment,
    NewApiKey, NewEntry, NewOrder, NewSimDelivery, NewUnmatchedPayment, NewUser, NewWebhookEvent, OrderQueries,
    OrderRow, PlanFields, PlanQueries, PlanRow, PostOutcome, Queries, ReconcileQueries, Recorded, RefundApplication,
    RefundOutcome, SettingsQueries, SimDeliveryRow, SimObjectRow, Store, StoreError, TransactionRow,
    UnmatchedPaymentRow, UnmatchedQueries, UserRow, WebhookEventRow, WidgetQueries,
};
use atlas_credits::server::store::{
    ClaimedDelivery, HostAttempt, HostAttemptRow, HostDeliveryFilter, HostDeliveryRow, HostEndpointRow,
    HostWebhookQueries, NewHostEndpoint,
};
use atlas_credits::server::store::{LinkOutcome, LinkSession, NewSignInLink, SignInLinkQueries, SignInLinkRow};
use chrono::{DateTime, Utc};

/// When an injected failure happens relative to the real write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Nothing is written.
    Before,
    /// Written and committed, then reported as failed.
    After,
}

/// The store methods a fault can be put on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    RecordWebhookEvent,
    SettleWebhookEvent,
    RetryWebhookEvent,
    FulfilOrder,
    RefundOrder,
    DisputeOrder,
    RecordUnmatched,
    FailOrder,
    WakeEventsForPayment,
    PostEntry,
    /// The one-transaction delivery (`Store::deliver_payment`), keyed by webhook id.
    DeliverPayment,
}

/// Faults waiting to fire, per (method, key); each fires once.
#[derive(Default)]
pub struct Faults {
    armed: Mutex<HashMap<(Method, String), Vec<When>>>,
    pub fired: AtomicU64,
}

impl Faults {
    pub fn arm(&self, method: Method, key: &str, when: When) {
        let mut armed = self.armed.lock().unwrap();
        armed.entry((method, key.to_owned())).or_default().push(when);
    }

    /// Removes every fault still armed on `key` (a seed's final phase runs without faults).
    pub fn disarm(&self, key: &str) {
        self.armed.lock().unwrap().retain(|(_, k), _| k != key);
    }

    fn armed(&self, method: Method, key: &str) -> bool {
        self.armed.lock().unwrap().contains_key(&(method, key.to_owned()))
    }

    fn take(&self, method: Method, key: &str) -> Option<When> {
        let mut armed = self.armed.lock().unwrap();
        let slot = (method, key.to_owned());
        let queue = armed.get_mut(&slot)?;
        let when = queue.remove(0);
        if queue.is_empty() {
            armed.remove(&slot);
        }
        self.fired.fetch_add(1, Ordering::Relaxed);
        Some(when)
    }
}

/// A transient database failure, as a pool that timed out reports it.
fn injected() -> StoreError {
    StoreError::Database(sqlx::Error::PoolTimedOut)
}

pub struct FaultyStore {
    pub inner: Arc<dyn Store>,
    pub faults: Arc<Faults>,
}

/// One trait's impl: `pass` methods delegate as they are, `faulty` ones first take the fault
/// armed on (method, key). Generates the whole impl so that `async_trait` sees plain methods.
macro_rules! delegate {
    (impl $trait:ident {
        pass { $( fn $p:ident(&self $(, $pa:ident : $pt:ty)*) -> $pr:ty; )* }
        faulty { $( fn $f:ident(&self $(, $fa:ident : $ft:ty)*) -> $fr:ty => $method:ident[$key:expr]; )* }
        $($extra:tt)*
    }) => {
        #[async_trait]
        impl $trait for FaultyStore {
            $( async fn $p(&self $(, $pa: $pt)*) -> $pr { self.inner.$p($($pa),*).await } )*
            $( async fn $f(&self $(, $fa: $ft)*) -> $fr {
                let fault = self.faults.take(Method::$method, &$key);
                if fault == Some(When::Before) {
                    return Err(injected());
                }
                let result = self.inner.$f($($fa),*).await;
                if fault == Some(When::After) && result.is_ok() {
                    return Err(injected());
                }
                result
            } )*
            $($extra)*
        }
    };
}

delegate! {
impl Queries {
    pass {
        fn ping(&self) -> Result<(), StoreError>;
        fn schema_version(&self) -> Result<i64, StoreError>;
        fn create_user(&self, user: &NewUser) -> Result<UserRow, StoreError>;
        fn user_by_id(&self, id: UserId) -> Result<Option<UserRow>, StoreError>;
        fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, StoreError>;
        fn user_by_external_id(&self, external_id: &str) -> Result<Option<UserRow>, StoreError>;
        fn user_id_by_external_id(&self, external_id: &str) -> Result<Option<UserId>, StoreError>;
        fn update_external_user(&self, external_id: &str, email: &str, name: Option<&str>) -> Result<Option<UserRow>, StoreError>;
        fn link_external_user(&self, email: &str, external_id: &str, name: Option<&str>) -> Result<Option<UserRow>, StoreError>;
        fn set_user_credentials(&self, id: UserId, role: &str, password_hash: &str) -> Result<(), StoreError>;
        fn ledger_sum(&self, user: UserId) -> Result<Credits, StoreError>;
        fn list_transactions(&self, user: UserId, before_id: Option<i64>, limit: i64) -> Result<Vec<TransactionRow>, StoreError>;
        fn create_session(&self, token_hash: &str, user: UserId, expires_at: DateTime<Utc>, user_agent: Option<&str>) -> Result<(), StoreError>;
        fn session_user(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<UserRow>, StoreError>;
        fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;
        fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
        fn delete_user_sessions(&self, user: UserId) -> Result<u64, StoreError>;
        fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRow, StoreError>;
        fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, StoreError>;
        fn revoke_api_key(&self, id: i64, actor: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
        fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyRow>, StoreError>;
        fn record_api_key_use(&self, id: i64, now: DateTime<Utc>, stale_before: DateTime<Utc>) -> Result<bool, StoreError>;
        fn rate_limit_hit(&self, bucket: &str, now_unix: i64, window_secs: i64) -> Result<i64, StoreError>;
        fn prune_rate_limits(&self, older_than_unix: i64) -> Result<u64, StoreError>;
        fn list_webhook_events(&self) -> Result<Vec<(String, String, String)>, StoreError>;
        fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;
        fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError>;
        fn sim_insert(&self, kind: &str, id: &str, data: &str) -> Result<bool, StoreError>;
        fn sim_update(&self, kind: &str, id: &str, data: &str) -> Result<bool, StoreError>;
        fn sim_get(&self, kind: &str, id: &str) -> Result<Option<SimObjectRow>, StoreError>;
        fn sim_delete(&self, kind: &str, id: &str) -> Result<bool, StoreError>;
        fn sim_list(&self, kind: &str, after_seq: i64, limit: i64) -> Result<Vec<SimObjectRow>, StoreError>;
        fn sim_enqueue(&self, d: &NewSimDelivery) -> Result<(), StoreError>;
        fn sim_due(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<SimDeliveryRow>, StoreError>;
        fn sim_record_attempt(&self, id: i64, status: &str, attempts: i32, next_attempt_at: DateTime<Utc>, last_status: Option<i32>) -> Result<(), StoreError>;
        fn sim_deliveries(&self) -> Result<Vec<SimDeliveryRow>, StoreError>;
    }
    faulty {
        fn record_webhook_event(&self, event: &NewWebhookEvent) -> Result<Recorded, StoreError> => RecordWebhookEvent[event.id];
    }
}
}

delegate! {
impl OrderQueries {
    pass {
        fn plan_by_id(&self, id: i64) -> Result<Option<PlanRow>, StoreError>;
        fn set_plan_whop_ids(&self, plan: i64, product_id: Option<&str>, whop_plan_id: Option<&str>) -> Result<PlanRow, StoreError>;
        fn create_order(&self, order: &NewOrder) -> Result<(OrderRow, bool), StoreError>;
        fn order_by_id(&self, id: OrderId) -> Result<Option<OrderRow>, StoreError>;
        fn order_by_checkout_id(&self, checkout_id: &str) -> Result<Option<OrderRow>, StoreError>;
        fn list_user_orders(&self, user: UserId, limit: i64) -> Result<Vec<OrderRow>, StoreError>;
        fn set_order_checkout(&self, order: OrderId, checkout_id: &str, whop_plan_id: &str) -> Result<bool, StoreError>;
        fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;
        fn webhook_event(&self, id: &str) -> Result<Option<WebhookEventRow>, StoreError>;
        fn due_webhook_events(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<WebhookEventRow>, StoreError>;
    }
    faulty {
        fn fail_order(&self, order: OrderId, message: &str) -> Result<bool, StoreError> => FailOrder[order.0.to_string()];
        fn settle_webhook_event(&self, id: &str, status: &str, error: Option<&str>, order: Option<OrderId>, payment_id: Option<&str>, now: DateTime<Utc>) -> Result<bool, StoreError> => SettleWebhookEvent[id];
        fn retry_webhook_event(&self, id: &str, error: &str, payment_id: Option<&str>, next_attempt_at: DateTime<Utc>) -> Result<(), StoreError> => RetryWebhookEvent[id];
    }
}
}

delegate! {
impl UnmatchedQueries {
    pass {
        fn unmatched_by_id(&self, id: i64) -> Result<Option<UnmatchedPaymentRow>, StoreError>;
        fn unmatched_by_payment(&self, payment_id: &str) -> Result<Option<UnmatchedPaymentRow>, StoreError>;
        fn list_unmatched(&self, status: Option<&str>, before_id: Option<i64>, limit: i64) -> Result<Vec<UnmatchedPaymentRow>, StoreError>;
        fn count_open_unmatched(&self) -> Result<i64, StoreError>;
        fn close_unmatched(&self, id: i64, status: &str, attached_order: Option<OrderId>, note: &str, audit: &AuditEntry, now: DateTime<Utc>) -> Result<bool, StoreError>;
        fn record_audit(&self, entry: &AuditEntry, now: DateTime<Utc>) -> Result<(), StoreError>;
        fn list_audit(&self, limit: i64) -> Result<Vec<AuditRow>, StoreError>;
    }
    faulty {
        fn record_unmatched(&self, p: &NewUnmatchedPayment) -> Result<(UnmatchedPaymentRow, bool), StoreError> => RecordUnmatched[p.payment_id];
    }
}
}

delegate! {
impl ReconcileQueries {
    pass {
        fn take_lease(&self, name: &str, holder: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError>;
        fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
        fn watermark(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
        fn set_watermark(&self, name: &str, value: DateTime<Utc>) -> Result<(), StoreError>;
        fn pending_whop_orders(&self, from: DateTime<Utc>, to: DateTime<Utc>, limit: i64) -> Result<Vec<OrderRow>, StoreError>;
        fn sells_credits(&self, whop_plan_id: Option<&str>, whop_product_id: Option<&str>) -> Result<bool, StoreError>;
        fn order_refunded_cents(&self, order: OrderId) -> Result<i64, StoreError>;
        fn pending_events_for_payment(&self, payment_id: &str) -> Result<Vec<WebhookEventRow>, StoreError>;
    }
    faulty {
        fn wake_events_for_payment(&self, payment_id: &str, now: DateTime<Utc>) -> Result<u64, StoreError> => WakeEventsForPayment[payment_id];
    }
}
}

delegate! {
impl AdminEventQueries {
    pass {
        fn list_webhook_page(&self, f: &WebhookFilter, limit: i64) -> Result<Vec<WebhookEventRow>, StoreError>;
        fn reopen_webhook_event(&self, id: &str) -> Result<bool, StoreError>;
        fn count_pending_webhook_events(&self) -> Result<i64, StoreError>;
        fn list_audit_page(&self, f: &AuditFilter, limit: i64) -> Result<Vec<AuditRow>, StoreError>;
        fn metrics_facts(&self, from: DateTime<Utc>, to: DateTime<Utc>, limit: i64) -> Result<MetricsFacts, StoreError>;
    }
    faulty {}
}
}

delegate! {
impl PlanQueries {
    pass {
        fn plan_by_name(&self, name: &str) -> Result<Option<PlanRow>, StoreError>;
        fn insert_plan(&self, f: &PlanFields, sync_status: &str, actor: &str, now: DateTime<Utc>) -> Result<PlanRow, StoreError>;
        fn update_plan(&self, id: i64, f: &PlanFields, sync_status: &str, actor: &str, action: &str, now: DateTime<Utc>) -> Result<Option<PlanRow>, StoreError>;
        fn set_plan_sync(&self, id: i64, status: &str, error: Option<&str>, now: DateTime<Utc>) -> Result<PlanRow, StoreError>;
        fn swap_whop_plan(&self, id: i64, expected: Option<&str>, whop_plan_id: &str, revision: i32, now: DateTime<Utc>) -> Result<PlanRow, StoreError>;
    }
    faulty {}
}
}

delegate! {
impl AlertQueries {
    pass {
        fn raise_alert(&self, alert: &NewAlert, now: DateTime<Utc>) -> Result<bool, StoreError>;
        fn alert_by_id(&self, id: i64) -> Result<Option<AlertRow>, StoreError>;
        fn list_alerts(&self, status: Option<&str>, before_id: Option<i64>, limit: i64) -> Result<Vec<AlertRow>, StoreError>;
        fn count_open_alerts(&self) -> Result<i64, StoreError>;
        fn acknowledge_alert(&self, id: i64, audit: &AuditEntry, now: DateTime<Utc>) -> Result<bool, StoreError>;
        fn acknowledge_all_alerts(&self, up_to_id: i64, audit: &AuditEntry, now: DateTime<Utc>) -> Result<u64, StoreError>;
        fn claim_due_alerts(&self, now: DateTime<Utc>, lease_until: DateTime<Utc>, limit: i64) -> Result<Vec<AlertRow>, StoreError>;
        fn finish_alert_delivery(&self, id: i64, result: &DeliveryResult, now: DateTime<Utc>) -> Result<(), StoreError>;
    }
    faulty {}
}
}

delegate! {
impl HostWebhookQueries {
    pass {
        fn create_host_endpoint(&self, e: &NewHostEndpoint, max: i64, audit: &AuditEntry, now: DateTime<Utc>) -> Result<Option<HostEndpointRow>, StoreError>;
        fn list_host_endpoints(&self) -> Result<Vec<HostEndpointRow>, StoreError>;
        fn host_endpoint(&self, id: i64) -> Result<Option<HostEndpointRow>, StoreError>;
        fn set_host_endpoint_enabled(&self, id: i64, enabled: bool, audit: &AuditEntry, now: DateTime<Utc>) -> Result<bool, StoreError>;
        fn list_host_deliveries(&self, filter: &HostDeliveryFilter, before_id: Option<i64>, limit: i64) -> Result<Vec<HostDeliveryRow>, StoreError>;
        fn host_delivery(&self, id: i64) -> Result<Option<HostDeliveryRow>, StoreError>;
        fn host_delivery_attempts(&self, delivery: i64) -> Result<Vec<HostAttemptRow>, StoreError>;
        fn claim_host_deliveries(&self, now: DateTime<Utc>, lease_until: DateTime<Utc>, limit: i64) -> Result<Vec<ClaimedDelivery>, StoreError>;
        fn finish_host_delivery(&self, id: i64, lease_until: DateTime<Utc>, attempt: &HostAttempt) -> Result<bool, StoreError>;
        fn resend_host_delivery(&self, id: i64, audit: &AuditEntry, now: DateTime<Utc>) -> Result<bool, StoreError>;
    }
    faulty {}
}
}

delegate! {
impl SettingsQueries {
    pass {
        fn set_setting_audited(&self, key: &str, value: &str, actor: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError>;
    }
    faulty {}
}
}

delegate! {
impl AdminOrderQueries {
    pass {
        fn list_orders(&self, filter: &OrderFilter, before_id: Option<i64>, limit: i64) -> Result<Vec<AdminOrderRow>, StoreError>;
        fn count_manual_queue(&self) -> Result<i64, StoreError>;
        fn order_webhook_events(&self, order: OrderId) -> Result<Vec<WebhookEventRow>, StoreError>;
        fn order_transactions(&self, order: OrderId) -> Result<Vec<TransactionRow>, StoreError>;
        fn order_refunds(&self, order: OrderId) -> Result<Vec<OrderRefundRow>, StoreError>;
        fn audit_for(&self, subject: &str, limit: i64) -> Result<Vec<AuditRow>, StoreError>;
        fn approve_manual_order(&self, review: &Review, now: DateTime<Utc>) -> Result<ReviewOutcome, StoreError>;
        fn reject_manual_order(&self, review: &Review, now: DateTime<Utc>) -> Result<ReviewOutcome, StoreError>;
        fn post_entry_audited(&self, entry: &NewEntry, audit: &AuditEntry) -> Result<PostOutcome, StoreError>;
    }
    faulty {}
}
}

delegate! {
impl LowBalanceQueries {
    pass {
        fn low_balance_crossing(&self, user: UserId, threshold: i64) -> Result<Option<i64>, StoreError>;
        fn dismissed_low_balance(&self, user: UserId) -> Result<Option<i64>, StoreError>;
        fn dismiss_low_balance(&self, user: UserId, crossing_tx_id: i64, now: DateTime<Utc>) -> Result<(), StoreError>;
    }
    faulty {}
}
}

delegate! {
impl ImportQueries {
    pass {
        fn import_legacy(&self, users: &[LegacyUser], orders: &[LegacyOrder], now: DateTime<Utc>) -> Result<Result<ImportCounts, ImportRefusal>, StoreError>;
    }
    faulty {}
}
}

delegate! {
impl SignInLinkQueries {
    pass {
        fn create_sign_in_link(&self, link: &NewSignInLink) -> Result<(), StoreError>;
        fn sign_in_link(&self, token_hash: &str) -> Result<Option<SignInLinkRow>, StoreError>;
        fn consume_sign_in_link(&self, token_hash: &str, session: &LinkSession, now: DateTime<Utc>) -> Result<LinkOutcome, StoreError>;
        fn session_back_url(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError>;
        fn delete_expired_sign_in_links(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    }
    faulty {}
}
}

delegate! {
impl WidgetQueries {
    pass {
        fn create_widget_token(&self, token_hash: &str, user: UserId, api_key_id: i64, now: DateTime<Utc>, expires_at: DateTime<Utc>) -> Result<(), StoreError>;
        fn widget_token_user(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<UserRow>, StoreError>;
        fn delete_expired_widget_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    }
    faulty {}
}
}

delegate! {
impl Store {
    pass {
        fn migrate(&self) -> Result<(), StoreError>;
        fn count_active_plans(&self) -> Result<i64, StoreError>;
        fn list_plans(&self, include_archived: bool) -> Result<Vec<PlanRow>, StoreError>;
    }
    faulty {
        fn post_entry(&self, entry: &NewEntry) -> Result<PostOutcome, StoreError> => PostEntry[entry.source_id];
        fn fulfil_order(&self, f: &Fulfilment) -> Result<FulfilOutcome, StoreError> => FulfilOrder[f.payment_id];
        fn refund_order(&self, r: &RefundApplication) -> Result<RefundOutcome, StoreError> => RefundOrder[r.refund_id];
        fn dispute_order(&self, d: &DisputeApplication) -> Result<DisputeOutcome, StoreError> => DisputeOrder[d.dispute_id];
    }

    /// Faults of its own (`DeliverPayment`). A fault armed on a write this transaction stands
    /// for (storing the event, crediting the payment, waking its events, settling the event)
    /// makes it decline, writing nothing, as it declines a payment it does not credit: the
    /// route then stores and applies step by step, where that fault fires as armed.
    async fn deliver_payment(&self, event: &NewWebhookEvent, f: &Fulfilment, now: DateTime<Utc>) -> Result<Delivered, StoreError> {
        let steps = [
            (Method::RecordWebhookEvent, event.id.as_str()),
            (Method::SettleWebhookEvent, event.id.as_str()),
            (Method::FulfilOrder, f.payment_id.as_str()),
            (Method::WakeEventsForPayment, f.payment_id.as_str()),
        ];
        if steps.iter().any(|(method, key)| self.faults.armed(*method, key)) {
            return Ok(Delivered::NotCredited("a fault is armed on a step".into()));
        }
        let fault = self.faults.take(Method::DeliverPayment, &event.id);
        if fault == Some(When::Before) {
            return Err(injected());
        }
        let result = self.inner.deliver_payment(event, f, now).await;
        if fault == Some(When::After) && result.is_ok() {
            return Err(injected());
        }
        result
    }

    fn backend(&self) -> Backend {
        self.inner.backend()
    }

    async fn close(&self) {
        self.inner.close().await
    }
}
}
