//! `/credits`: the plans on sale, the buyer's balance and their recent orders. Each priced plan
//! opens a Whop checkout; a custom-priced plan (or every plan, when Whop payments are off for this
//! buyer) goes through the manual request flow. Works as plain form posts before the WASM loads.

mod plan_forms;

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::credits::get_credits_page;
use crate::app::client_key;
use crate::app::components::{ErrorNote, Loading};
use crate::app::pages::low_balance_banner::LowBalanceBanner;
use crate::model::{Credits, CreditsPageView, OrderState, OrderView, PlanView};
use plan_forms::{BuyForm, RequestForm};

/// What every plan card needs besides its plan.
#[derive(Clone)]
struct Buyer {
    signed_in: bool,
    whop_enabled: bool,
    /// The base of this page view's idempotency keys (see `client_key`).
    key_base: String,
    /// The orders list; a request made on this page is added to it.
    orders: RwSignal<Vec<OrderView>>,
}

#[component]
pub fn CreditsPage() -> impl IntoView {
    let page = Resource::new(|| (), |_| get_credits_page());
    // Made where the page renders (on the server for a first visit) and carried into hydration
    // with the page, so the key in a no-JS form and the key the hydrated button sends agree.
    let key_base = Resource::new(|| (), |_| async { client_key::new_base() });

    view! {
        <Title text="Buy credits"/>
        <h1>"Buy credits"</h1>
        <Suspense fallback=|| view! { <Loading label="Loading plans…"/> }>
            {move || Suspend::new(async move {
                let key_base = key_base.await;
                match page.await {
                    Ok(view) => view! { <CreditsBody view=view key_base=key_base/> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn CreditsBody(view: CreditsPageView, key_base: String) -> impl IntoView {
    let CreditsPageView {
        plans,
        balance,
        orders,
        whop_enabled,
    } = view;
    let buyer = Buyer {
        signed_in: balance.is_some(),
        whop_enabled,
        key_base,
        orders: RwSignal::new(orders),
    };
    let orders = buyer.orders;
    view! {
        {match balance {
            Some(balance) => view! { <LowBalanceBanner/> <BalanceLine balance=balance/> }.into_any(),
            None => view! {
                <div class="notice info" id="signed-out-notice">
                    <a class="button primary small" href="/login?next=/credits">"Log in to buy"</a>
                    <span>" New here? " <a href="/signup?next=/credits">"Create an account"</a>" first."</span>
                </div>
            }.into_any(),
        }}
        {(buyer.signed_in && !whop_enabled).then(|| view! {
            <p class="notice info" id="manual-only">
                "Card payments are not open for your account yet. Request a plan and an admin will contact you."
            </p>
        })}
        <Plans plans=plans buyer=buyer.clone()/>
        {buyer.signed_in.then(|| view! { <Orders orders=orders/> })}
    }
    .into_any()
}

#[component]
fn BalanceLine(balance: Credits) -> impl IntoView {
    let debt = balance.is_negative().then(|| Credits(balance.get().saturating_neg()));
    view! {
        <section class="card balance-line" aria-labelledby="credits-balance-heading">
            <h2 id="credits-balance-heading">"Your balance"</h2>
            <p class="balance" id="credits-balance" class:negative=debt.is_some()>
                {balance.to_string()}
                <span class="unit">" credits"</span>
            </p>
            {debt.map(|d| view! {
                <div class="notice warn" id="debt-notice" role="note">
                    <strong>{format!("You owe {d} credits.")}</strong>
                    " Credits from a refunded or disputed payment were already spent. Your next purchase "
                    "pays this back first."
                </div>
            })}
        </section>
    }
    .into_any()
}

#[component]
fn Plans(plans: Vec<PlanView>, buyer: Buyer) -> impl IntoView {
    if plans.is_empty() {
        return view! { <p class="empty card" id="plans-empty">"No plans are on sale right now. Please check back soon."</p> }
            .into_any();
    }
    view! {
        <section aria-labelledby="plans-heading">
            <h2 id="plans-heading" class="visually-hidden">"Plans"</h2>
            <ul class="plans" id="plans">
                {plans.into_iter().map(|plan| view! { <PlanCard plan=plan buyer=buyer.clone()/> }).collect_view()}
            </ul>
        </section>
    }
    .into_any()
}

#[component]
fn PlanCard(plan: PlanView, buyer: Buyer) -> impl IntoView {
    let heading_id = format!("plan-{}-name", plan.id);
    let price = plan.price.map(|p| p.format(&plan.currency));
    let per_thousand = plan.price_per_thousand().map(|p| p.format(&plan.currency));
    let action = if !buyer.signed_in {
        None
    } else if buyer.whop_enabled && plan.price.is_some() {
        Some(view! { <BuyForm plan=plan.clone() key_base=buyer.key_base.clone()/> }.into_any())
    } else {
        Some(view! { <RequestForm plan=plan.clone() key_base=buyer.key_base.clone() orders=buyer.orders/> }.into_any())
    };
    view! {
        <li class="card plan" aria-labelledby=heading_id.clone()>
            <h3 id=heading_id.clone()>{plan.name.clone()}</h3>
            <p class="plan-credits">{format!("{} credits", plan.credits)}</p>
            <p class="plan-price" class:custom=price.is_none()>{price.clone().unwrap_or_else(|| "Custom pricing".to_string())}</p>
            <p class="plan-rate muted">
                {per_thousand.map(|p| format!("{p} per 1,000 credits")).unwrap_or_else(|| "Talk to us about volume".to_string())}
            </p>
            <div class="plan-action">{action}</div>
        </li>
    }
    .into_any()
}

#[component]
fn Orders(orders: RwSignal<Vec<OrderView>>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="orders-heading">
            <h2 id="orders-heading">"Your orders"</h2>
            <Show
                when=move || !orders.read().is_empty()
                fallback=|| view! { <p class="empty" id="orders-empty">"No orders yet. Plans you buy or request show up here."</p> }
            >
                <div class="table-wrap">
                    <table class="orders" id="orders">
                        <thead>
                            <tr>
                                <th scope="col" class="wide-only">"Date"</th>
                                <th scope="col">"Plan"</th>
                                <th scope="col" class="num">"Credits"</th>
                                <th scope="col" class="num wide-only">"Price"</th>
                                <th scope="col">"Status"</th>
                            </tr>
                        </thead>
                        <tbody>
                            <For each=move || orders.get() key=|o| (o.id, state_label(&o.state)) let:order>
                                <OrderRow order=order/>
                            </For>
                        </tbody>
                    </table>
                </div>
            </Show>
        </section>
    }
    .into_any()
}

#[component]
fn OrderRow(order: OrderView) -> impl IntoView {
    let date = order.created_at.get(..10).unwrap_or(&order.created_at).to_string();
    let price = if order.payment_method == "manual" && order.price == crate::model::Cents::ZERO {
        "Custom".to_string()
    } else {
        order.price.format(&order.currency)
    };
    let status_href = format!("/payment/status?order={}", order.id);
    view! {
        <tr data-order-id=order.id.to_string()>
            <td class="wide-only"><time datetime=order.created_at.clone()>{date}</time></td>
            <td>{order.plan_name.clone()}</td>
            <td class="num">{order.credits.to_string()}</td>
            <td class="num wide-only">{price}</td>
            <td>
                <a href=status_href class=format!("state state-{}", state_class(&order.state))>
                    {state_label(&order.state)}
                </a>
                {review_reason(&order.state).map(|r| view! { <p class="review-reason">{r}</p> })}
            </td>
        </tr>
    }
    .into_any()
}

/// A short label for an order's state, as the orders list shows it.
pub fn state_label(state: &OrderState) -> String {
    match state {
        OrderState::AwaitingPayment => "Awaiting payment".into(),
        OrderState::Credited => "Credited".into(),
        OrderState::Failed { .. } => "Failed".into(),
        OrderState::AwaitingAdmin => "Waiting for an admin".into(),
        OrderState::Held => "Held for review".into(),
        OrderState::Rejected { .. } => "Rejected".into(),
        OrderState::Other { label } => label.clone(),
    }
}

/// The admin's reason for turning a request down, as its owner sees it.
pub fn review_reason(state: &OrderState) -> Option<String> {
    match state {
        OrderState::Rejected { reason: Some(r) } => Some(format!("Reason: {r}")),
        _ => None,
    }
}

/// The colour a state is shown in.
pub fn state_class(state: &OrderState) -> &'static str {
    match state {
        OrderState::Credited => "ok",
        OrderState::Failed { .. } | OrderState::Rejected { .. } => "bad",
        OrderState::AwaitingPayment | OrderState::AwaitingAdmin | OrderState::Held => "wait",
        OrderState::Other { .. } => "other",
    }
}
