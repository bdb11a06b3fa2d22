//! A shop at the built-in Whop simulator: the Pro plan sold there, orders with real checkouts,
//! and the hosted checkout page's buttons pressed as a browser would.
#![allow(dead_code)]

use atlas_credits::model::{Cents, UserId};
use atlas_credits::server::store::{NewOrder, OrderRow};
use atlas_credits::server::whop::client::{NewCheckout, NewPlan, NewProduct};
use atlas_credits::server::whop::simulator::ACCOUNT_ID;
use atlas_credits::server::whop::types::Visibility;
use serde_json::json;

use super::TestApp;

pub struct SimShop {
    pub plan_id: String,
}

impl SimShop {
    /// Pro ($32.50, 25,000 credits) made at the simulator and recorded on the local Pro plan.
    pub async fn open(app: &TestApp) -> SimShop {
        let whop = &app.state.whop.client;
        let product = whop
            .create_product(
                &NewProduct {
                    title: "Atlas Credits".into(),
                    account_id: Some(ACCOUNT_ID.into()),
                    visibility: Some(Visibility::Hidden),
                },
                "product-shop",
            )
            .await
            .unwrap();
        let plan = whop
            .create_plan(
                &NewPlan {
                    account_id: Some(ACCOUNT_ID.into()),
                    product_id: product.id.clone(),
                    plan_type: "one_time".into(),
                    initial_price: Cents(3250),
                    currency: "usd".into(),
                    title: Some("Pro".into()),
                    visibility: Some(Visibility::Hidden),
                    metadata: None,
                },
                "plan-shop",
            )
            .await
            .unwrap();
        let store = app.db.store.as_ref();
        let pro = store
            .list_plans(false)
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.plan_name == "Pro")
            .unwrap();
        store
            .set_plan_whop_ids(pro.id, Some(&product.id), Some(&plan.id))
            .await
            .unwrap();
        SimShop { plan_id: plan.id }
    }

    /// A Pro order with its checkout; `with_metadata: false` makes a checkout that names no order
    /// (and is not recorded on the order), as a payment through an old link would be.
    pub async fn order(&self, app: &TestApp, u: UserId, key: &str, with_metadata: bool) -> (OrderRow, String) {
        let store = app.db.store.as_ref();
        let (o, _) = store
            .create_order(&NewOrder {
                user_id: u,
                plan_name: "Pro".into(),
                credits_amount: 25_000,
                price_cents: 3250,
                currency: "usd".into(),
                payment_method: "whop",
                notes: None,
                client_key: Some(format!("key_shop_{key}_0123456789")),
            })
            .await
            .unwrap();
        let metadata = if with_metadata {
            json!({ "order_id": o.id.to_string(), "user_id": u.0.to_string() })
        } else {
            json!({})
        };
        let ch = app
            .state
            .whop
            .client
            .create_checkout_configuration(
                &NewCheckout {
                    plan_id: self.plan_id.clone(),
                    metadata,
                    redirect_url: Some(app.url(&format!("/payment/status?order={}", o.id))),
                },
                &format!("shop-order-{key}"),
            )
            .await
            .unwrap();
        if with_metadata {
            assert!(store
                .set_order_checkout(o.order_id(), &ch.id, &self.plan_id)
                .await
                .unwrap());
        }
        let o = store.order_by_id(o.order_id()).await.unwrap().unwrap();
        (o, ch.purchase_url.unwrap())
    }
}

/// Presses a button on the simulator's hosted checkout page, as a browser would.
pub async fn press(app: &TestApp, purchase_url: &str, action: &str) {
    let page = app.client.get(purchase_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let r = app
        .client
        .post(purchase_url)
        .header("origin", &app.base)
        .form(&[("action", action)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
}
