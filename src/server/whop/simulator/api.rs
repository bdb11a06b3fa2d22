//! The simulated Whop API: the subset the app's client uses, with Whop's paths, bodies, error
//! shape (`{"error": {"code", "message"}}`), cursor pages and `Idempotency-Key` replay.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::wire::{ListedPayment, Page, PageInfo, Payment};
use super::{actions, new_id, now_iso, ApiFaults, DeliveryMode, Simulator, ACCOUNT_ID};
use crate::model::Cents;
use crate::server::ct::secret_eq;
use crate::server::state::AppState;
use crate::server::whop::money::serde_opt_cents;
use crate::server::whop::types::{CheckoutConfiguration, Plan, PlanType, Product, Visibility};

pub(super) struct SimError(StatusCode, &'static str, String);

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": { "code": self.1, "message": self.2 } }))).into_response()
    }
}

impl From<crate::server::store::StoreError> for SimError {
    fn from(e: crate::server::store::StoreError) -> Self {
        tracing::error!(error = %e, "simulator storage error");
        SimError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "simulator storage error".into(),
        )
    }
}

pub(super) fn bad_request(msg: impl Into<String>) -> SimError {
    SimError(StatusCode::BAD_REQUEST, "invalid_request", msg.into())
}

pub(super) fn not_found(what: &str) -> SimError {
    SimError(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
}

type SimResult = Result<Response, SimError>;

/// The simulator, after checking the caller's bearer key.
fn authorized(state: &AppState, headers: &HeaderMap) -> Result<Arc<Simulator>, SimError> {
    let sim = state.whop.simulator.clone().ok_or_else(|| not_found("simulator"))?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compared in constant time (digests of both), so response timing does not reveal the key.
    let matches = given.is_some_and(|given| secret_eq(given.as_bytes(), sim.api_key.expose_secret().as_bytes()));
    if !matches {
        return Err(SimError(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "invalid API key".into(),
        ));
    }
    Ok(sim)
}

fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, SimError> {
    serde_json::from_slice(bytes).map_err(|e| bad_request(format!("invalid body: {e}")))
}

fn ok_json(text: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], text).into_response()
}

pub(super) fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("simulator objects serialize")
}

/// A POST replayed by its Idempotency-Key, or run and remembered.
async fn idempotent<F, Fut>(sim: &Simulator, headers: &HeaderMap, scope: &str, run: F) -> SimResult
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<String, SimError>>,
{
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|k| format!("idem:{scope}:{k}"));
    if let Some(k) = &key {
        if let Some(prev) = sim.store.sim_get("idempotency", k).await? {
            return Ok((
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::HeaderName::from_static("idempotent-replayed"), "true"),
                ],
                prev.data,
            )
                .into_response());
        }
    }
    let text = run().await?;
    if let Some(k) = &key {
        sim.store.sim_insert("idempotency", k, &text).await?;
    }
    Ok(ok_json(text))
}

pub(super) async fn load<T: DeserializeOwned>(sim: &Simulator, kind: &str, id: &str) -> Result<T, SimError> {
    let row = sim.store.sim_get(kind, id).await?.ok_or_else(|| not_found(kind))?;
    serde_json::from_str(&row.data).map_err(|e| {
        tracing::error!(error = %e, kind, id, "simulator object unreadable");
        SimError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "corrupt simulator object".into(),
        )
    })
}

#[derive(Deserialize)]
struct CheckoutBody {
    plan_id: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    redirect_url: Option<String>,
}

pub(super) async fn create_checkout(State(state): State<AppState>, headers: HeaderMap, bytes: Bytes) -> SimResult {
    let sim = authorized(&state, &headers)?;
    let b: CheckoutBody = body(&bytes)?;
    idempotent(&sim, &headers, "checkout", || async {
        let plan_id = b.plan_id.ok_or_else(|| bad_request("plan_id is required"))?;
        let plan: Plan = load(&sim, "plan", &plan_id)
            .await
            .map_err(|_| bad_request(format!("plan {plan_id} does not exist")))?;
        let id = new_id("ch");
        let checkout = CheckoutConfiguration {
            purchase_url: Some(sim.purchase_url(&id)),
            id,
            account_id: Some(ACCOUNT_ID.into()),
            mode: Some("payment".into()),
            metadata: b.metadata,
            redirect_url: b.redirect_url,
            plan: Some(json!({ "id": plan.id, "plan_type": "one_time", "currency": plan.currency })),
            created_at: Some(now_iso()),
        };
        let text = to_json(&checkout);
        sim.store.sim_insert("checkout", &checkout.id, &text).await?;
        Ok(text)
    })
    .await
}

pub(super) async fn get_payment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> SimResult {
    let sim = authorized(&state, &headers)?;
    let row = sim
        .store
        .sim_get("payment", &id)
        .await?
        .ok_or_else(|| not_found("payment"))?;
    Ok(ok_json(row.data))
}

/// Query pairs with `key[]` arrays gathered.
struct Params(Vec<(String, String)>);

impl Params {
    fn one(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }
    fn many(&self, k: &str) -> Vec<&str> {
        let bracket = format!("{k}[]");
        self.0
            .iter()
            .filter(|(key, _)| *key == bracket)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    fn first(&self) -> Result<usize, SimError> {
        match self.one("first") {
            None => Ok(25),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| bad_request("first must be 1 to 100")),
        }
    }
    fn after(&self) -> Result<i64, SimError> {
        match self.one("after") {
            None => Ok(0),
            Some(v) => v.parse().map_err(|_| bad_request("invalid cursor")),
        }
    }
}

/// One cursor page of `kind` objects that pass `keep`, oldest first. A row that does not read
/// as `T` (stored by an older simulator, in a database kept across versions) is left out with a
/// warning rather than failing every list.
async fn page<T: DeserializeOwned>(
    sim: &Simulator,
    kind: &str,
    p: &Params,
    keep: impl Fn(&T) -> bool,
) -> Result<(Vec<T>, PageInfo), SimError> {
    let (first, start) = (p.first()?, p.after()?);
    let mut after = start;
    let mut data = Vec::new();
    let (mut start_cursor, mut end_cursor) = (None, None);
    let mut more = false;
    'scan: loop {
        let rows = sim.store.sim_list(kind, after, 200).await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            after = row.seq;
            let obj: T = match serde_json::from_str(&row.data) {
                Ok(obj) => obj,
                Err(e) => {
                    tracing::warn!(error = %e, kind, id = %row.id, "simulator object unreadable, left out of the list");
                    continue;
                }
            };
            if keep(&obj) {
                if data.len() == first {
                    more = true;
                    break 'scan;
                }
                data.push(obj);
                let cursor = row.seq.to_string();
                start_cursor.get_or_insert_with(|| cursor.clone());
                end_cursor = Some(cursor);
            }
        }
    }
    let info = PageInfo {
        end_cursor: if more { end_cursor } else { None },
        start_cursor,
        has_next_page: more,
        has_previous_page: start > 0,
    };
    Ok((data, info))
}

pub(super) async fn list_payments(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> SimResult {
    let sim = authorized(&state, &headers)?;
    let p = Params(q);
    let statuses: Vec<String> = p.many("statuses").into_iter().map(str::to_owned).collect();
    let checkouts: Vec<String> = p
        .many("checkout_configuration_ids")
        .into_iter()
        .map(str::to_owned)
        .collect();
    let time = |name: &str| -> Result<Option<chrono::DateTime<chrono::FixedOffset>>, SimError> {
        p.one(name)
            .map(|t| {
                chrono::DateTime::parse_from_rfc3339(t).map_err(|_| bad_request(format!("{name} must be ISO 8601")))
            })
            .transpose()
    };
    let created_after = time("created_after")?;
    let updated_after = time("updated_after")?;
    let after = |stamp: Option<&str>, bound: Option<chrono::DateTime<chrono::FixedOffset>>| {
        bound.is_none_or(|b| {
            stamp
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                .is_some_and(|c| c > b)
        })
    };
    let (payments, page_info) = page::<Payment>(&sim, "payment", &p, |pay| {
        let status_ok = statuses.is_empty() || pay.status.is_some_and(|s| statuses.iter().any(|w| w == s.as_str()));
        let ch_ok = checkouts.is_empty()
            || pay
                .checkout_configuration_id
                .as_ref()
                .is_some_and(|c| checkouts.contains(c));
        let time_ok = after(Some(&pay.created_at), created_after) && after(Some(&pay.updated_at), updated_after);
        status_ok && ch_ok && time_ok
    })
    .await?;
    // Listed without the fields PaymentListResponse lacks (refunds, disputes, ...).
    let data: Vec<ListedPayment> = payments.iter().map(ListedPayment::from).collect();
    Ok(ok_json(to_json(&Page { data, page_info })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    #[serde(default, with = "serde_opt_cents")]
    partial_amount: Option<Cents>,
}

pub(super) async fn refund_payment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> SimResult {
    let sim = authorized(&state, &headers)?;
    let b: RefundBody = if bytes.is_empty() {
        RefundBody { partial_amount: None }
    } else {
        body(&bytes)?
    };
    idempotent(&sim, &headers, &format!("refund:{id}"), || async {
        let payment = actions::refund(&sim, &id, b.partial_amount).await?;
        Ok(to_json(&payment))
    })
    .await
}

#[derive(Deserialize)]
struct PlanBody {
    product_id: Option<String>,
    #[serde(default)]
    plan_type: Option<PlanType>,
    #[serde(default, with = "serde_opt_cents")]
    initial_price: Option<Cents>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    visibility: Option<Visibility>,
    #[serde(default)]
    metadata: Option<Value>,
}

pub(super) async fn create_plan(State(state): State<AppState>, headers: HeaderMap, bytes: Bytes) -> SimResult {
    let sim = authorized(&state, &headers)?;
    let b: PlanBody = body(&bytes)?;
    idempotent(&sim, &headers, "plan", || async {
        let product_id = b.product_id.ok_or_else(|| bad_request("product_id is required"))?;
        load::<Product>(&sim, "product", &product_id)
            .await
            .map_err(|_| bad_request(format!("product {product_id} does not exist")))?;
        if b.initial_price.is_some_and(|p| p.get() < 0) {
            return Err(bad_request("initial_price must not be negative"));
        }
        let now = now_iso();
        let plan = Plan {
            id: new_id("plan"),
            title: b.title,
            description: b.description,
            plan_type: Some(b.plan_type.unwrap_or(PlanType::OneTime)),
            initial_price: Some(b.initial_price.unwrap_or(Cents::ZERO)),
            currency: Some(b.currency.unwrap_or_else(|| "usd".into())),
            visibility: Some(b.visibility.unwrap_or(Visibility::Visible)),
            internal_notes: None,
            metadata: b.metadata,
            product: Some(json!({ "id": product_id })),
            purchase_url: None,
            created_at: Some(now.clone()),
            updated_at: Some(now),
        };
        let text = to_json(&plan);
        sim.store.sim_insert("plan", &plan.id, &text).await?;
        Ok(text)
    })
    .await
}

pub(super) async fn get_plan(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> SimResult {
    let sim = authorized(&state, &headers)?;
    let row = sim.store.sim_get("plan", &id).await?.ok_or_else(|| not_found("plan"))?;
    Ok(ok_json(row.data))
}

pub(super) async fn update_plan(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> SimResult {
    let sim = authorized(&state, &headers)?;
    let b: PlanBody = body(&bytes)?;
    let mut plan: Plan = load(&sim, "plan", &id).await?;
    if let Some(p) = b.initial_price {
        if p.get() < 0 {
            return Err(bad_request("initial_price must not be negative"));
        }
        plan.initial_price = Some(p);
    }
    plan.title = b.title.or(plan.title);
    plan.description = b.description.or(plan.description);
    plan.visibility = b.visibility.or(plan.visibility);
    plan.metadata = b.metadata.or(plan.metadata);
    plan.updated_at = Some(now_iso());
    let text = to_json(&plan);
    sim.store.sim_update("plan", &id, &text).await?;
    Ok(ok_json(text))
}

pub(super) async fn delete_plan(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> SimResult {
    let sim = authorized(&state, &headers)?;
    if !sim.store.sim_delete("plan", &id).await? {
        return Err(not_found("plan"));
    }
    Ok(ok_json("true".into()))
}

pub(super) async fn list_plans(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> SimResult {
    let sim = authorized(&state, &headers)?;
    let p = Params(q);
    if p.one("account_id").is_none() {
        return Err(bad_request("account_id is required"));
    }
    let visibilities: Vec<String> = p.many("visibilities").into_iter().map(str::to_owned).collect();
    let products: Vec<String> = p.many("product_ids").into_iter().map(str::to_owned).collect();
    let (data, page_info) = page::<Plan>(&sim, "plan", &p, |plan| {
        let vis = plan.visibility.and_then(|v| serde_json::to_value(v).ok());
        let vis_ok = visibilities.is_empty()
            || vis
                .as_ref()
                .and_then(Value::as_str)
                .is_some_and(|v| visibilities.iter().any(|w| w == v));
        let product = plan.product.as_ref().and_then(|p| p.get("id")).and_then(Value::as_str);
        let product_ok = products.is_empty() || product.is_some_and(|id| products.iter().any(|w| w == id));
        vis_ok && product_ok
    })
    .await?;
    Ok(ok_json(to_json(&Page { data, page_info })))
}

#[derive(Deserialize)]
struct ProductBody {
    title: Option<String>,
    #[serde(default)]
    visibility: Option<Visibility>,
}

pub(super) async fn create_product(State(state): State<AppState>, headers: HeaderMap, bytes: Bytes) -> SimResult {
    let sim = authorized(&state, &headers)?;
    let b: ProductBody = body(&bytes)?;
    idempotent(&sim, &headers, "product", || async {
        let title = b
            .title
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| bad_request("title is required"))?;
        let product = Product {
            id: new_id("prod"),
            title: Some(title),
            visibility: Some(b.visibility.unwrap_or(Visibility::Visible)),
            metadata: None,
        };
        let text = to_json(&product);
        sim.store.sim_insert("product", &product.id, &text).await?;
        Ok(text)
    })
    .await
}

pub(super) async fn set_delivery_mode(State(state): State<AppState>, headers: HeaderMap, bytes: Bytes) -> SimResult {
    let sim = authorized(&state, &headers)?;
    let mode: DeliveryMode = body(&bytes)?;
    sim.set_delivery_mode(mode);
    tracing::info!(?mode, "simulator delivery mode set");
    Ok(ok_json(to_json(&mode)))
}

/// `PUT /control/api`: makes the simulated Whop API slow or failing (`ApiFaults`).
pub(super) async fn set_api_faults(State(state): State<AppState>, headers: HeaderMap, bytes: Bytes) -> SimResult {
    let sim = authorized(&state, &headers)?;
    let faults = ApiFaults::parse(&bytes).map_err(bad_request)?;
    sim.set_api_faults(faults);
    tracing::info!(?faults, "simulator API faults set");
    Ok(ok_json(to_json(&faults)))
}

pub(super) async fn get_api_faults(State(state): State<AppState>, headers: HeaderMap) -> SimResult {
    let sim = authorized(&state, &headers)?;
    Ok(ok_json(to_json(&sim.api_faults())))
}

pub(super) async fn list_deliveries(State(state): State<AppState>, headers: HeaderMap) -> SimResult {
    let sim = authorized(&state, &headers)?;
    let rows = sim.store.sim_deliveries().await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|d| {
            json!({
                "id": d.id, "webhook_id": d.webhook_id, "event_type": d.event_type, "status": d.status,
                "attempts": d.attempts, "last_status": d.last_status,
            })
        })
        .collect();
    Ok(ok_json(to_json(&list)))
}
