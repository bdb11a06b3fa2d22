//! The Whop API operations this app uses, over `http::Transport`. Methods, paths, query strings
//! and JSON bodies are what the official TypeScript SDK (`@whop/sdk` 0.0.42) sends for the same
//! call (checked byte for byte by tests/whop_client.rs against requests the SDK itself recorded).
//! One deliberate difference: every POST here carries an `Idempotency-Key` derived from our own
//! record (the SDK sends one only when asked, and then retries POSTs without one). `metadata`
//! objects go out with their keys sorted (serde_json's map), where the SDK keeps the caller's
//! order: the same JSON object, other bytes.

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

use super::error::WhopError;
use super::http::{encode_component, Call, ClientConfig, Transport};
use super::money::serde_cents;
use super::types::{CheckoutConfiguration, Page, Payment, PaymentStatus, Plan, Product, Visibility};
use crate::model::Cents;

/// Stop paging after this many pages, whatever Whop says (a guard against a cursor loop).
const MAX_PAGES: usize = 1000;

#[derive(Debug, Clone)]
pub struct WhopClient {
    transport: Transport,
}

/// A checkout for an existing plan (`plan_id`), with our metadata and where to come back to.
#[derive(Debug, Clone, Serialize)]
pub struct NewCheckout {
    pub plan_id: String,
    pub metadata: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct PaymentFilter {
    pub company_id: Option<String>,
    pub statuses: Vec<PaymentStatus>,
    pub checkout_configuration_ids: Vec<String>,
    pub created_after: Option<DateTime<Utc>>,
    /// Changed (paid, refunded, disputed...) after this time: how reconciliation reads changes.
    pub updated_after: Option<DateTime<Utc>>,
    /// Page size.
    pub first: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewPlan {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub product_id: String,
    /// `one_time` for credit packs.
    pub plan_type: String,
    #[serde(with = "serde_cents")]
    pub initial_price: Cents,
    pub currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// Only the fields set are sent (PATCH).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlanUpdate {
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_cents_skip")]
    pub initial_price: Option<Cents>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, Default)]
pub struct PlanFilter {
    pub visibilities: Vec<String>,
    pub product_ids: Vec<String>,
    pub first: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewProduct {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
}

#[derive(Serialize)]
struct RefundBody {
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_cents_skip")]
    partial_amount: Option<Cents>,
}

mod opt_cents_skip {
    use super::*;
    pub fn serialize<S: serde::Serializer>(c: &Option<Cents>, s: S) -> Result<S::Ok, S::Error> {
        super::super::money::serde_opt_cents::serialize(c, s)
    }
}

impl WhopClient {
    pub fn new(config: ClientConfig) -> Result<Self, WhopError> {
        Ok(WhopClient {
            transport: Transport::new(config)?,
        })
    }

    pub fn base_url(&self) -> &str {
        self.transport.base_url()
    }

    /// `POST /checkout_configurations`. The key should name our order, so a retried create never
    /// makes a second checkout.
    pub async fn create_checkout_configuration(
        &self,
        c: &NewCheckout,
        idempotency_key: &str,
    ) -> Result<CheckoutConfiguration, WhopError> {
        self.transport
            .send(post("/checkout_configurations".into(), json(c)?, idempotency_key))
            .await
    }

    /// `GET /payments/{id}`.
    pub async fn retrieve_payment(&self, id: &str) -> Result<Payment, WhopError> {
        self.transport
            .send(get(format!("/payments/{}", path_segment(id)), String::new()))
            .await
    }

    /// `GET /payments`, following the cursor to the last page.
    pub async fn list_payments(&self, f: &PaymentFilter) -> Result<Vec<Payment>, WhopError> {
        let mut q = Query::default();
        q.opt("company_id", f.company_id.as_deref());
        q.list("statuses", f.statuses.iter().map(|s| s.as_str()));
        q.list(
            "checkout_configuration_ids",
            f.checkout_configuration_ids.iter().map(String::as_str),
        );
        q.opt(
            "created_after",
            f.created_after
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                .as_deref(),
        );
        q.opt(
            "updated_after",
            f.updated_after
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                .as_deref(),
        );
        q.opt("first", f.first.map(|n| n.to_string()).as_deref());
        self.all_pages("/payments", q).await
    }

    /// `POST /payments/{id}/refund`: the whole payment, or `partial` of it. Returns the payment;
    /// the refund's outcome arrives by webhook (`refund.created`, `refund.updated`).
    pub async fn refund_payment(
        &self,
        id: &str,
        partial: Option<Cents>,
        idempotency_key: &str,
    ) -> Result<Payment, WhopError> {
        let body = json(&RefundBody {
            partial_amount: partial,
        })?;
        self.transport
            .send(post(
                format!("/payments/{}/refund", path_segment(id)),
                body,
                idempotency_key,
            ))
            .await
    }

    /// `POST /plans`.
    pub async fn create_plan(&self, p: &NewPlan, idempotency_key: &str) -> Result<Plan, WhopError> {
        self.transport
            .send(post("/plans".into(), json(p)?, idempotency_key))
            .await
    }

    /// `GET /plans/{id}`.
    pub async fn retrieve_plan(&self, id: &str) -> Result<Plan, WhopError> {
        self.transport
            .send(get(format!("/plans/{}", path_segment(id)), String::new()))
            .await
    }

    /// `PATCH /plans/{id}` with only the fields set.
    pub async fn update_plan(&self, id: &str, u: &PlanUpdate) -> Result<Plan, WhopError> {
        let call = Call {
            method: Method::PATCH,
            path: format!("/plans/{}", path_segment(id)),
            query: String::new(),
            body: Some(json(u)?),
            idempotency_key: None,
        };
        self.transport.send(call).await
    }

    /// `DELETE /plans/{id}`; Whop answers `true`.
    pub async fn delete_plan(&self, id: &str) -> Result<bool, WhopError> {
        let call = Call {
            method: Method::DELETE,
            path: format!("/plans/{}", path_segment(id)),
            query: String::new(),
            body: None,
            idempotency_key: None,
        };
        self.transport.send(call).await
    }

    /// `GET /plans?account_id=...`, every page.
    pub async fn list_plans(&self, account_id: &str, f: &PlanFilter) -> Result<Vec<Plan>, WhopError> {
        let mut q = Query::default();
        q.opt("account_id", Some(account_id));
        q.list("visibilities", f.visibilities.iter().map(String::as_str));
        q.list("product_ids", f.product_ids.iter().map(String::as_str));
        q.opt("first", f.first.map(|n| n.to_string()).as_deref());
        self.all_pages("/plans", q).await
    }

    /// `POST /products` (plans belong to a product).
    pub async fn create_product(&self, p: &NewProduct, idempotency_key: &str) -> Result<Product, WhopError> {
        self.transport
            .send(post("/products".into(), json(p)?, idempotency_key))
            .await
    }

    /// Follows `page_info.end_cursor` (sent as `after`, last in the query, as the SDK does) until
    /// a page is empty or has no cursor.
    async fn all_pages<T: serde::de::DeserializeOwned>(&self, path: &str, q: Query) -> Result<Vec<T>, WhopError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut page_q = q.clone();
            page_q.opt("after", after.as_deref());
            let page: Page<T> = self.transport.send(get(path.to_string(), page_q.finish())).await?;
            let empty = page.data.is_empty();
            out.extend(page.data);
            match page.page_info.end_cursor.filter(|c| !c.is_empty()) {
                Some(c) if !empty => after = Some(c),
                _ => return Ok(out),
            }
        }
        Err(WhopError::Decode(format!("more than {MAX_PAGES} pages from {path}")))
    }
}

fn get(path: String, query: String) -> Call<'static> {
    Call {
        method: Method::GET,
        path,
        query,
        body: None,
        idempotency_key: None,
    }
}

fn post(path: String, body: Vec<u8>, idempotency_key: &str) -> Call<'_> {
    Call {
        method: Method::POST,
        path,
        query: String::new(),
        body: Some(body),
        idempotency_key: Some(idempotency_key),
    }
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>, WhopError> {
    serde_json::to_vec(v).map_err(|e| WhopError::Decode(format!("request body: {e}")))
}

/// A query string built in insertion order, arrays as `key[]=` (brackets percent-encoded, as
/// the SDK's `qs` does), values encoded per RFC 3986; absent values and empty arrays are left out.
#[derive(Debug, Clone, Default)]
struct Query(Vec<String>);

impl Query {
    fn opt(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.0
                .push(format!("{}={}", encode_component(key), encode_component(v)));
        }
    }

    fn list<'a>(&mut self, key: &str, values: impl Iterator<Item = &'a str>) {
        let k = encode_component(&format!("{key}[]"));
        for v in values {
            self.0.push(format!("{k}={}", encode_component(v)));
        }
    }

    fn finish(self) -> String {
        self.0.join("&")
    }
}

/// Encodes an id for a path segment like the SDK's `encodeURIPath`.
fn path_segment(id: &str) -> String {
    super::http::percent_encode(id, b"-._~!$&'()*+,;=:@")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_match_the_sdk() {
        let mut q = Query::default();
        q.opt("company_id", Some("biz_1"));
        q.list("statuses", ["paid", "open"].into_iter());
        q.list("checkout_configuration_ids", std::iter::empty());
        q.opt("created_after", Some("2026-01-01T00:00:00Z"));
        q.opt("query", Some("a b+c@d.com"));
        q.opt("missing", None);
        assert_eq!(
            q.finish(),
            "company_id=biz_1&statuses%5B%5D=paid&statuses%5B%5D=open&created_after=2026-01-01T00%3A00%3A00Z&query=a%20b%2Bc%40d.com"
        );
        assert_eq!(path_segment("pay_x/y"), "pay_x%2Fy");
    }

    #[test]
    fn bodies_match_the_sdk() {
        let body = json(&NewPlan {
            account_id: Some("biz_1".into()),
            product_id: "prod_1".into(),
            plan_type: "one_time".into(),
            initial_price: Cents(999),
            currency: "usd".into(),
            title: Some("Pack".into()),
            visibility: Some(Visibility::Hidden),
            metadata: Some(serde_json::json!({"pack": "p1"})),
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"account_id":"biz_1","product_id":"prod_1","plan_type":"one_time","initial_price":9.99,"currency":"usd","title":"Pack","visibility":"hidden","metadata":{"pack":"p1"}}"#
        );
        assert_eq!(json(&RefundBody { partial_amount: None }).unwrap(), b"{}");
        assert_eq!(
            json(&RefundBody {
                partial_amount: Some(Cents(1050))
            })
            .unwrap(),
            br#"{"partial_amount":10.5}"#
        );
        assert_eq!(
            json(&PlanUpdate {
                initial_price: Some(Cents(1200)),
                title: Some("New".into()),
                ..Default::default()
            })
            .unwrap(),
            br#"{"initial_price":12,"title":"New"}"#
        );
    }
}
