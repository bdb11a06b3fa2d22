//! The simulator's hosted checkout page: what Whop's would show (product, plan, price), a TEST
//! MODE banner, and buttons for every outcome worth testing. After the action the buyer goes to
//! the checkout's `redirect_url`, as on Whop.

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::actions::{self, CheckoutAction};
use super::api::load;
use crate::server::state::AppState;
use crate::server::whop::types::{CheckoutConfiguration, Plan, Product};

pub(super) async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(sim) = state.whop.simulator.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Ok(checkout) = load::<CheckoutConfiguration>(&sim, "checkout", &id).await else {
        return page(
            StatusCode::NOT_FOUND,
            "Checkout not found",
            "<p>This checkout link is not valid.</p>",
        );
    };
    let plan_id = checkout
        .plan
        .as_ref()
        .and_then(|p| p.get("id"))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let Ok(plan) = load::<Plan>(&sim, "plan", &plan_id).await else {
        return page(
            StatusCode::GONE,
            "Plan unavailable",
            "<p>The plan of this checkout no longer exists.</p>",
        );
    };
    let product_id = plan
        .product
        .as_ref()
        .and_then(|p| p.get("id"))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let product = load::<Product>(&sim, "product", &product_id)
        .await
        .ok()
        .and_then(|p| p.title)
        .unwrap_or_default();
    let currency = plan.currency.clone().unwrap_or_else(|| "usd".into());
    let price = plan.initial_price.map(|p| p.format(&currency)).unwrap_or_default();
    let buttons: String = CheckoutAction::ALL
        .iter()
        .map(|a| {
            let class = if *a == CheckoutAction::Pay { "primary" } else { "" };
            format!(
                r#"<button type="submit" name="action" value="{}" class="{class}">{}</button>"#,
                a.key(),
                a.label()
            )
        })
        .collect();
    let body = format!(
        r#"<p class="product">{product}</p>
<h1>{title}</h1>
<p class="price" id="price">{price}</p>
<form method="post" class="actions">{buttons}</form>
<p class="note">Nothing is charged: this page stands in for Whop's checkout and sends the same webhooks.</p>"#,
        product = esc(&product),
        title = esc(plan.title.as_deref().unwrap_or("Plan")),
    );
    page(
        StatusCode::OK,
        &format!("Checkout: {}", plan.title.unwrap_or_default()),
        &body,
    )
}

#[derive(Deserialize)]
pub(super) struct ActionForm {
    action: String,
}

pub(super) async fn act(State(state): State<AppState>, Path(id): Path<String>, Form(f): Form<ActionForm>) -> Response {
    let Some(sim) = state.whop.simulator.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(action) = CheckoutAction::parse(&f.action) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Unknown action",
            "<p>That button does not exist.</p>",
        );
    };
    let checkout = match load::<CheckoutConfiguration>(&sim, "checkout", &id).await {
        Ok(c) => c,
        Err(_) => {
            return page(
                StatusCode::NOT_FOUND,
                "Checkout not found",
                "<p>This checkout link is not valid.</p>",
            )
        }
    };
    match actions::run(&sim, &id, action).await {
        Ok(payment) => match checkout.redirect_url {
            Some(url) => Redirect::to(&url).into_response(),
            None => page(
                StatusCode::OK,
                "Done",
                &format!("<p>Payment <code>{}</code>: {}.</p>", esc(&payment.id), action.label()),
            ),
        },
        Err(e) => {
            let r = e.into_response();
            let status = r.status();
            page(
                status,
                "Checkout failed",
                "<p>The simulator could not complete this action.</p>",
            )
        }
    }
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Whop (test mode)</title><style>{CSS}</style></head>
<body><div class="banner" role="status">TEST MODE: simulated Whop checkout, no real money moves</div>
<main class="card">{body}</main></body></html>"#,
        title = esc(title)
    );
    (status, Html(html)).into_response()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const CSS: &str = "body{margin:0;font-family:system-ui,sans-serif;background:#f4f4f6;color:#15171c}\
.banner{background:#ffb020;color:#2b1d00;font-weight:700;text-align:center;padding:.6rem;letter-spacing:.02em}\
.card{max-width:30rem;margin:2rem auto;background:#fff;border-radius:14px;padding:1.5rem;box-shadow:0 4px 18px rgba(0,0,0,.07)}\
.product{color:#5b6272;margin:0}.price{font-size:1.8rem;font-weight:800;margin:.3rem 0 1.2rem}\
.actions{display:grid;gap:.6rem}button{min-height:44px;font:inherit;font-weight:600;border-radius:9px;border:1px solid #d8dbe4;background:#fff;cursor:pointer}\
button.primary{background:#ff6243;border-color:#ff6243;color:#fff}button:focus-visible{outline:3px solid #3b5bdb;outline-offset:2px}\
.note{color:#5b6272;font-size:.9rem;margin-top:1.2rem}";
