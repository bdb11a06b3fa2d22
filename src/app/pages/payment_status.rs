//! `/payment/status?order={id}`: where Whop sends the buyer back. Shows the order live until it
//! settles: the hydrated page asks the server every half second (each ask also lets the server
//! confirm the payment with Whop), so a credit shows within a second of being applied.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;

use crate::api::credits::get_payment_status;
use crate::app::components::{ErrorNote, Loading};
use crate::model::{AppError, OrderState, PaymentStatusView};

/// How often the page asks while the order is pending.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// After a failed ask (network, server busy) the page waits longer before the next.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(2);

type StatusResult = Result<PaymentStatusView, AppError>;

#[component]
pub fn PaymentStatusPage() -> impl IntoView {
    let query = use_query_map();
    let order_id = Memo::new(move |_| query.read().get("order").and_then(|s| s.trim().parse::<i64>().ok()));
    let first = Resource::new(move || order_id.get(), fetch);

    view! {
        <Title text="Payment status"/>
        <Suspense fallback=|| view! { <Loading label="Loading your order…"/> }>
            {move || Suspend::new(async move {
                match first.await {
                    Err(AppError::Unauthorized) => view! { <Redirect path=login_path(order_id.get_untracked())/> }.into_any(),
                    Err(AppError::NotFound(_)) => view! { <OrderNotFound/> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    Ok(status) => view! { <LiveStatus first=status/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

async fn fetch(order_id: Option<i64>) -> StatusResult {
    match order_id {
        Some(id) => get_payment_status(id).await,
        None => Err(AppError::NotFound("Order".into())),
    }
}

/// Back here after logging in. The path is percent-encoded: it carries its own query.
fn login_path(order_id: Option<i64>) -> String {
    let back = match order_id {
        Some(id) => format!("/payment/status%3Forder%3D{id}"),
        None => "/credits".to_string(),
    };
    format!("/login?next={back}")
}

/// The order as last seen, asked again every `POLL_EVERY` until it settles or the page is left.
#[component]
fn LiveStatus(first: PaymentStatusView) -> impl IntoView {
    let order_id = first.order.id;
    let latest = RwSignal::new(first);
    let poll = Action::new(move |_: &()| get_payment_status(order_id));
    let poll_result = poll.value();
    let timer = StoredValue::new(None::<TimeoutHandle>);

    // Effects run only in the browser: schedule the next ask after each answer. A transient error
    // keeps the last good state on screen and asks again a little later.
    Effect::new(move |_| {
        let wait = match poll_result.get() {
            Some(Ok(status)) => {
                let settled = status.order.state.is_settled();
                if latest.get_untracked() != status {
                    latest.set(status);
                }
                (!settled).then_some(POLL_EVERY)
            }
            Some(Err(AppError::NotFound(_) | AppError::Unauthorized)) => None,
            Some(Err(_)) => Some(RETRY_AFTER_ERROR),
            None => (!latest.get_untracked().order.state.is_settled()).then_some(POLL_EVERY),
        };
        if let Some(wait) = wait {
            match set_timeout_with_handle(
                move || {
                    poll.dispatch(());
                },
                wait,
            ) {
                Ok(handle) => timer.set_value(Some(handle)),
                Err(e) => leptos::logging::error!("could not schedule the status check: {e:?}"),
            }
        }
    });
    // Leaving the page stops the asking.
    on_cleanup(move || {
        if let Some(handle) = timer.try_update_value(|t| t.take()).flatten() {
            handle.clear();
        }
    });

    let lost = Memo::new(move |_| {
        matches!(
            poll_result.get(),
            Some(Err(AppError::NotFound(_) | AppError::Unauthorized))
        )
    });
    view! {
        <section class="card narrow status-card" aria-labelledby="status-heading">
            <h1 id="status-heading">"Payment status"</h1>
            <p class="muted" id="status-order">
                {move || latest.with(|s| format!("Order #{} · {} · {} credits", s.order.id, s.order.plan_name, s.order.credits))}
            </p>
            <div id="payment-status" aria-live="polite">
                {move || if lost.get() {
                    view! { <p class="error" role="alert">"This order can no longer be shown. Please log in again."</p> }.into_any()
                } else {
                    // Re-rendered only when what is shown changes, so the live region is not
                    // announced again on every ask.
                    let state = Memo::new(move |_| latest.with(|s| s.order.state.clone()));
                    view! { <StatusText state=state latest=latest/> }.into_any()
                }}
            </div>
        </section>
    }
    .into_any()
}

#[component]
fn StatusText(state: Memo<OrderState>, latest: RwSignal<PaymentStatusView>) -> impl IntoView {
    move || {
        let (credits, balance) = latest.with_untracked(|s| (s.order.credits, s.balance));
        match state.get() {
            OrderState::AwaitingPayment => view! {
                <div class="status pending" id="status-pending">
                    <span class="spinner" aria-hidden="true"></span>
                    <p class="status-line">"Confirming your payment…"</p>
                    <p class="muted">"This page updates by itself; there is no need to refresh it."</p>
                </div>
            }
            .into_any(),
            OrderState::Credited => view! {
                <div class="status ok" id="status-credited">
                    <p class="status-line">{format!("{credits} credits added. Your balance is {balance}.")}</p>
                    <p class="status-links">
                        <a class="button primary" href="/account">"Go to your account"</a>
                        <a class="button" href="/credits">"Buy more credits"</a>
                    </p>
                </div>
            }
            .into_any(),
            OrderState::Failed { reason } => view! {
                <div class="status bad" id="status-failed">
                    <p class="status-line">"Your payment did not go through."</p>
                    {reason.map(|r| view! { <p class="failure-reason">{format!("Reason: {r}")}</p> })}
                    <p class="status-links">
                        <a class="button primary" href="/credits">"Try again"</a>
                    </p>
                </div>
            }
            .into_any(),
            OrderState::AwaitingAdmin => view! {
                <div class="status wait" id="status-admin">
                    <p class="status-line">"Waiting for an admin"</p>
                    <p class="muted">"We received your request; an admin will contact you. Nothing has been charged."</p>
                    <p class="status-links"><a href="/credits">"Back to plans"</a></p>
                </div>
            }
            .into_any(),
            OrderState::Held => view! {
                <div class="status wait" id="status-held">
                    <p class="status-line">"Payment received; an admin is checking it"</p>
                    <p class="muted">"Your credits are added as soon as the check is done. You do not need to pay again."</p>
                    <p class="status-links"><a href="/account">"Go to your account"</a></p>
                </div>
            }
            .into_any(),
            OrderState::Rejected { reason } => view! {
                <div class="status bad" id="status-rejected">
                    <p class="status-line">"Your request was not approved"</p>
                    {reason.map(|r| view! { <p class="review-reason">{format!("Reason: {r}")}</p> })}
                    <p class="muted">"Nothing has been charged."</p>
                    <p class="status-links"><a href="/credits">"Back to plans"</a></p>
                </div>
            }
            .into_any(),
            OrderState::Other { label } => view! {
                <div class="status other" id="status-other">
                    <p class="status-line">{label}</p>
                    <p class="status-links"><a href="/credits">"Back to plans"</a>" · "<a href="/account">"Your account"</a></p>
                </div>
            }
            .into_any(),
        }
    }
}

/// Another user's order, or none at all: the same plain answer (and a 404 from the server).
#[component]
fn OrderNotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(axum::http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <Title text="Order not found"/>
        <section class="card narrow" id="order-not-found">
            <h1>"Order not found"</h1>
            <p>"There is no order at this address for your account."</p>
            <p><a href="/credits">"See the plans"</a></p>
        </section>
    }
    .into_any()
}
