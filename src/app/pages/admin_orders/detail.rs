//! `/admin/orders/{id}`: one order's facts, its timeline (its own changes, webhook events, ledger
//! rows, refunds and audit lines in time order) and the actions it allows.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_params_map;

use super::adjust_form::AdjustForm;
use crate::api::admin_orders::{
    admin_get_order, AdminAdjustCredits, AdminApproveOrder, AdminRefundOrder, AdminRejectOrder,
};
use crate::app::client_key;
use crate::app::components::{ErrorNote, Loading};
use crate::app::pages::admin_nav::AdminNav;
use crate::app::pages::forbidden::Forbidden;
use crate::model::{AdminOrderDetail, AppError, TimelineEntry};

/// The answer of an action, shown where it was taken.
fn outcome(id: &'static str, r: Option<Result<String, AppError>>) -> impl IntoView {
    r.map(|r| match r {
        Ok(msg) => view! { <p class="notice ok" role="status" id=id>{msg}</p> }.into_any(),
        Err(e) => view! { <div id=id><ErrorNote error=e/></div> }.into_any(),
    })
}

#[component]
pub fn AdminOrderPage() -> impl IntoView {
    let approve = ServerAction::<AdminApproveOrder>::new();
    let reject = ServerAction::<AdminRejectOrder>::new();
    let refund = ServerAction::<AdminRefundOrder>::new();
    let adjust = ServerAction::<AdminAdjustCredits>::new();
    let key_base = Resource::new(|| (), |_| async { client_key::new_base() });
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let changes = Signal::derive(move || {
        approve.version().get() + reject.version().get() + refund.version().get() + adjust.version().get()
    });
    let order = Resource::new(move || (id.get(), changes.get()), |(id, _)| admin_get_order(id));
    let actions = Actions {
        approve,
        reject,
        refund,
        adjust,
    };

    view! {
        <Title text="Order · Admin"/>
        <h1>"Admin"</h1>
        <AdminNav refresh=changes/>
        <p><a href="/admin/orders">"← All orders"</a></p>
        // Above the order, which is drawn again after each action (a reviewed order has no form).
        {move || outcome("approve-result", approve.value().get())}
        {move || outcome("reject-result", reject.value().get())}
        {move || outcome("refund-result", refund.value().get())}
        <Transition fallback=|| view! { <Loading label="Loading the order…"/> }>
            {move || Suspend::new(async move {
                let result = order.await;
                let key_base = key_base.await;
                match result {
                    Err(AppError::Unauthorized) => {
                        let next = format!("/login?next=/admin/orders/{}", super::urlencode(&id.get_untracked()));
                        view! { <Redirect path=next/> }.into_any()
                    }
                    Err(AppError::Forbidden) => view! { <Forbidden/> }.into_any(),
                    Err(e) => view! { <div id="order-error"><ErrorNote error=e/></div> }.into_any(),
                    Ok(d) => view! { <OrderBody d=d actions=actions key_base=key_base/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[derive(Clone, Copy)]
struct Actions {
    approve: ServerAction<AdminApproveOrder>,
    reject: ServerAction<AdminRejectOrder>,
    refund: ServerAction<AdminRefundOrder>,
    adjust: ServerAction<AdminAdjustCredits>,
}

#[component]
fn OrderBody(d: AdminOrderDetail, actions: Actions, key_base: String) -> impl IntoView {
    let o = d.item.clone();
    let id = o.id.to_string();
    let review_form = d
        .reviewable
        .then(|| view! { <ReviewForms id=o.id custom_price=d.custom_price actions=actions/> });
    let refund_form = d
        .refundable
        .clone()
        .map(|left| view! { <RefundForm id=o.id left=left action=actions.refund/> });
    view! {
        <section class="card" aria-labelledby="order-heading">
            <h2 id="order-heading">{format!("Order #{id}")}</h2>
            <dl class="facts" id="order-facts">
                <dt>"User"</dt><dd><a href=format!("/admin/orders?email={}", super::urlencode(&o.user_email))>{o.user_email.clone()}</a></dd>
                <dt>"Balance"</dt><dd id="user-balance">{format!("{} credits", d.user_balance)}</dd>
                <dt>"Plan"</dt><dd>{o.plan_name.clone()}</dd>
                <dt>"Credits"</dt><dd>{o.credits.to_string()}</dd>
                <dt>"Price"</dt><dd id="order-price">{o.price.clone()}</dd>
                <dt>"Method"</dt><dd>{o.method.clone()}</dd>
                <dt>"Payment"</dt><dd id="order-payment-status">{o.payment_status.clone()}</dd>
                <dt>"Review"</dt><dd id="order-status">{o.status.clone()}</dd>
                {d.whop_payment_id.clone().map(|p| view! { <dt>"Whop payment"</dt><dd><code>{p}</code></dd> })}
                {d.notes.clone().map(|n| view! { <dt>"User's note"</dt><dd>{n}</dd> })}
                {d.hold_reason.clone().map(|n| view! { <dt>"Held"</dt><dd>{n}</dd> })}
                {d.failure_message.clone().map(|n| view! { <dt>"Failure"</dt><dd>{n}</dd> })}
                {d.review_note.clone().map(|n| view! {
                    <dt>"Review note"</dt><dd>{format!("{n} ({})", d.reviewed_by.clone().unwrap_or_default())}</dd>
                })}
            </dl>
        </section>
        {review_form}
        {refund_form}
        <section class="card" aria-labelledby="adjust-heading">
            <h2 id="adjust-heading">{format!("Credits of {}", o.user_email)}</h2>
            <AdjustForm action=actions.adjust key_base=key_base user_id=Some(d.user_id)/>
        </section>
        <section class="card" aria-labelledby="timeline-heading">
            <h2 id="timeline-heading">"Timeline"</h2>
            <ol class="timeline" id="timeline">
                {d.timeline.into_iter().map(|t| view! { <TimelineLine t=t/> }).collect_view()}
            </ol>
        </section>
    }
}

#[component]
fn TimelineLine(t: TimelineEntry) -> impl IntoView {
    view! {
        <li class=format!("timeline-{}", t.source) data-source=t.source.clone()>
            <time datetime=t.at.clone()>{t.at.replace('T', " ").replace('Z', " UTC")}</time>
            " "
            <span class="tag">{t.source.clone()}</span>
            " "
            <strong>{t.title.clone()}</strong>
            {t.webhook_id.clone().map(|w| view! {
                " " <a href=format!("/admin/webhooks/{w}")><code>{w.clone()}</code></a>
            })}
            {t.detail.clone().map(|d| view! { <p class="reason">{d}</p> })}
        </li>
    }
}

#[component]
fn ReviewForms(id: i64, custom_price: bool, actions: Actions) -> impl IntoView {
    let (approve_id, reject_id) = (id.to_string(), id.to_string());
    view! {
        <section class="card" aria-labelledby="review-heading">
            <h2 id="review-heading">"Review this request"</h2>
            <ActionForm action=actions.approve attr:class="form" attr:id="approve-form">
                <input type="hidden" name="id" value=approve_id.clone()/>
                {custom_price.then(|| view! {
                    <label for="approve-price">"Agreed price in dollars (custom plan)"</label>
                    <input id="approve-price" name="price" inputmode="decimal" placeholder="1,250.00"
                           pattern="\\$?[0-9,]+(\\.[0-9]{1,2})?" aria-describedby="approve-price-hint"/>
                    <p class="hint" id="approve-price-hint">"Recorded on the order; leave empty for no charge."</p>
                })}
                <label for="approve-reason">"Reason"</label>
                <input id="approve-reason" name="reason" required maxlength="500" placeholder="e.g. Invoice 2026-114 paid"/>
                <label class="check">
                    <input type="checkbox" name="confirm" value="yes" required/>
                    " I confirm these credits go to this account."
                </label>
                <button type="submit" class="button primary" disabled=actions.approve.pending()>"Approve and grant credits"</button>
            </ActionForm>
            <ActionForm action=actions.reject attr:class="form" attr:id="reject-form">
                <input type="hidden" name="id" value=reject_id.clone()/>
                <label for="reject-reason">"Reason (the user sees it)"</label>
                <input id="reject-reason" name="reason" required maxlength="500"/>
                <button type="submit" class="button danger" disabled=actions.reject.pending()>"Reject"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn RefundForm(id: i64, left: String, action: ServerAction<AdminRefundOrder>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="refund-heading">
            <h2 id="refund-heading">"Refund through Whop"</h2>
            <p class="muted">
                {format!("Up to {left} can be refunded. ")}
                "Whop refunds the payment; the credits are taken back when Whop confirms the refund."
            </p>
            <ActionForm action=action attr:class="form" attr:id="refund-form">
                <input type="hidden" name="id" value=id.to_string()/>
                <label for="refund-amount">"Amount in dollars (empty: all that is left)"</label>
                <input id="refund-amount" name="amount" inputmode="decimal" pattern="\\$?[0-9,]+(\\.[0-9]{1,2})?"/>
                <label for="refund-reason">"Reason"</label>
                <input id="refund-reason" name="reason" required maxlength="500"/>
                <label class="check">
                    <input type="checkbox" name="confirm" value="yes" required/>
                    " I confirm this refund."
                </label>
                <button type="submit" class="button danger" disabled=action.pending()>"Request refund"</button>
            </ActionForm>
        </section>
    }
}
