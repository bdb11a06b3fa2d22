//! The two ways to get a plan: "Buy" (a Whop checkout) and "Request" (an admin follows up). Both
//! are forms that post without JavaScript and are taken over by the hydrated page.

use leptos::form::ActionForm;
use leptos::prelude::*;

use crate::api::credits::{RequestPlan, StartCheckout};
use crate::app::client_key;
use crate::app::components::ErrorNote;
use crate::model::{AppError, OrderView, PlanView};

/// Whether trying again needs a fresh key: the server answered and refused or failed the order.
/// A transport error may hide an order that was made, so its retry keeps the key and finds it.
fn needs_fresh_key(error: &AppError) -> bool {
    !matches!(error, AppError::Transport(_))
}

#[component]
pub fn BuyForm(plan: PlanView, key_base: String) -> impl IntoView {
    let action = ServerAction::<StartCheckout>::new();
    let attempt = RwSignal::new(0u32);
    let plan_id = plan.id;
    let key = move || client_key::for_plan(&key_base, plan_id, attempt.get());
    let result = action.value();

    // On success go to Whop's checkout. The server fn's redirect would reach the router's hook,
    // which navigates inside the app for a same-origin URL (the simulator's checkout is one, and
    // is not a page of this app), so the browser is sent there for real.
    Effect::new(move |_| match result.get() {
        Some(Ok(url)) => {
            if let Err(e) = window().location().assign(&url) {
                leptos::logging::error!("could not open the checkout: {e:?}");
            }
        }
        Some(Err(e)) if needs_fresh_key(&e) => attempt.update(|n| *n += 1),
        _ => {}
    });
    // Coming back from the checkout with the Back button can restore this page as it was left,
    // button still "opening": let it be pressed again (same key, so it finds the same order).
    let listener = window_event_listener(leptos::ev::pageshow, move |ev| {
        if ev.persisted() {
            result.set(None);
        }
    });
    on_cleanup(move || listener.remove());

    let busy = move || action.pending().get() || matches!(result.get(), Some(Ok(_)));
    let failed = move || matches!(result.get(), Some(Err(_)));
    let name = plan.name.clone();
    let error_id = format!("buy-{plan_id}-error");
    view! {
        <ActionForm action=action attr:class="plan-form">
            <input type="hidden" name="plan_id" value=plan_id.to_string()/>
            <input type="hidden" name="client_key" value=key/>
            <button
                type="submit"
                class="button primary"
                disabled=busy
                aria-describedby=move || failed().then(|| error_id.clone())
            >
                {move || {
                    if busy() {
                        "Opening checkout…".to_string()
                    } else if failed() {
                        format!("Try again: Buy {name}")
                    } else {
                        format!("Buy {name}")
                    }
                }}
            </button>
            {
                let error_id = format!("buy-{plan_id}-error");
                move || result.get().and_then(|r| r.err()).map(|e| view! {
                    <div id=error_id.clone()><ErrorNote error=e/></div>
                })
            }
        </ActionForm>
    }
    .into_any()
}

#[component]
pub fn RequestForm(plan: PlanView, key_base: String, orders: RwSignal<Vec<OrderView>>) -> impl IntoView {
    let action = ServerAction::<RequestPlan>::new();
    let attempt = RwSignal::new(0u32);
    let plan_id = plan.id;
    let key_base = StoredValue::new(key_base);
    let key = move || key_base.with_value(|base| client_key::for_plan(base, plan_id, attempt.get()));
    let result = action.value();

    Effect::new(move |_| match result.get() {
        Some(Ok(order)) => orders.update(|list| {
            if !list.iter().any(|o| o.id == order.id) {
                list.insert(0, order);
            }
        }),
        Some(Err(e)) if needs_fresh_key(&e) => attempt.update(|n| *n += 1),
        _ => {}
    });

    let pending = action.pending();
    let done = move || matches!(result.get(), Some(Ok(_)));
    let name = StoredValue::new(plan.name);
    view! {
        <Show
            when=move || !done()
            fallback=|| view! {
                <p class="notice ok request-done" role="status">"Request received: an admin will contact you."</p>
            }
        >
            <ActionForm action=action attr:class="plan-form">
                <input type="hidden" name="plan_id" value=plan_id.to_string()/>
                <input type="hidden" name="client_key" value=key/>
                <label for=format!("request-{plan_id}-note")>"Note for the admin (optional)"</label>
                <textarea id=format!("request-{plan_id}-note") name="note" rows="2" maxlength="1000"></textarea>
                <button type="submit" class="button" disabled=pending>
                    {move || if pending.get() { "Sending request…".to_string() } else { format!("Request {}", name.read_value()) }}
                </button>
                {move || result.get().and_then(|r| r.err()).map(|e| view! { <ErrorNote error=e/> })}
            </ActionForm>
        </Show>
    }
    .into_any()
}
