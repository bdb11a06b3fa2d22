//! `/admin/unmatched`: paid Whop payments no order could take. Each waits for an admin to attach
//! it to an account (which credits it) or to mark it resolved, both with a reason.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;

use crate::api::admin_unmatched::{admin_list_unmatched, AdminAttachUnmatched, AdminResolveUnmatched};
use crate::app::components::{ErrorNote, Loading};
use crate::app::pages::admin_nav::AdminNav;
use crate::app::pages::forbidden::Forbidden;
use crate::model::{AppError, UnmatchedPaymentView};

const FILTERS: [(&str, &str); 4] = [
    ("open", "Open"),
    ("attached", "Attached"),
    ("resolved", "Resolved"),
    ("all", "All"),
];

#[component]
pub fn AdminUnmatchedPage() -> impl IntoView {
    let attach = ServerAction::<AdminAttachUnmatched>::new();
    let resolve = ServerAction::<AdminResolveUnmatched>::new();
    let query = use_query_map();
    let status = Memo::new(move |_| {
        let s = query.read().get("status").unwrap_or_default();
        FILTERS.iter().find(|(k, _)| *k == s).map_or("open", |(k, _)| *k)
    });
    let before = Memo::new(move |_| query.read().get("before").and_then(|b| b.trim().parse::<i64>().ok()));
    let changes = Signal::derive(move || attach.version().get() + resolve.version().get());
    let page = Resource::new(
        move || (status.get(), before.get(), changes.get()),
        |(status, before, _)| admin_list_unmatched(Some(status.to_string()), before),
    );

    view! {
        <Title text="Unmatched payments · Admin"/>
        <h1>"Admin"</h1>
        <AdminNav refresh=changes/>
        <section class="card" aria-labelledby="unmatched-heading">
            <h2 id="unmatched-heading">"Unmatched payments"</h2>
            <p class="muted">
                "Payments Whop took for credits that no order could take: no order matches them, or the
                 amount or currency differs from the order. They are never credited on their own.
                 Attach one to the account it was for (that credits it once), or mark it resolved, for
                 example after refunding it in Whop."
            </p>
            <nav class="filters" aria-label="Filter by status">
                {FILTERS.iter().map(|(key, label)| {
                    let key = *key;
                    view! {
                        <a href=format!("/admin/unmatched?status={key}")
                           aria-current=move || (status.get() == key).then_some("page")>{*label}</a>
                    }
                }).collect_view()}
            </nav>
            {move || attach.value().get().map(|r| match r {
                Ok(msg) => view! { <p class="notice ok" role="status" id="unmatched-result">{msg}</p> }.into_any(),
                Err(e) => view! { <div id="unmatched-result"><ErrorNote error=e/></div> }.into_any(),
            })}
            {move || resolve.value().get().map(|r| match r {
                Ok(msg) => view! { <p class="notice ok" role="status" id="unmatched-result">{msg}</p> }.into_any(),
                Err(e) => view! { <div id="unmatched-result"><ErrorNote error=e/></div> }.into_any(),
            })}
            <Transition fallback=|| view! { <Loading label="Loading…"/> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Err(AppError::Unauthorized) => view! { <Redirect path="/login?next=/admin/unmatched"/> }.into_any(),
                        Err(AppError::Forbidden) => view! { <Forbidden/> }.into_any(),
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(p) if p.items.is_empty() => view! {
                            <p class="empty" id="unmatched-empty">
                                {if status.get_untracked() == "open" { "Nothing waits for you: every payment was matched." } else { "No payments here." }}
                            </p>
                        }.into_any(),
                        Ok(p) => {
                            let next = p.next_before.map(|b| format!("/admin/unmatched?status={}&before={b}", status.get_untracked()));
                            view! {
                                <ul class="unmatched-list" id="unmatched-list">
                                    {p.items.into_iter().map(|u| view! { <UnmatchedItem item=u attach=attach resolve=resolve/> }).collect_view()}
                                </ul>
                                {next.map(|href| view! { <a class="button" id="unmatched-next" href=href>"Older"</a> })}
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn UnmatchedItem(
    item: UnmatchedPaymentView,
    attach: ServerAction<AdminAttachUnmatched>,
    resolve: ServerAction<AdminResolveUnmatched>,
) -> impl IntoView {
    let id = item.id.to_string();
    let (email_field, credits_field) = (format!("email-{id}"), format!("credits-{id}"));
    let (attach_reason, resolve_reason) = (format!("attach-reason-{id}"), format!("resolve-reason-{id}"));
    let payer = item.email.clone().unwrap_or_default();
    let (attach_id, resolve_id) = (id.clone(), id.clone());
    let open = item.status == "open";
    let outcome = match (item.status.as_str(), item.attached_order_id) {
        ("attached", Some(order)) => format!("Attached as order #{order}"),
        ("resolved", _) => "Resolved without credits".to_string(),
        _ => String::new(),
    };
    view! {
        <li class="unmatched card-inset" data-payment=item.payment_id.clone()>
            <div class="unmatched-head">
                <strong class="amount">{item.amount.clone()}</strong>
                " "
                <code>{item.payment_id.clone()}</code>
                " "
                <span class="tag">{item.kind_label.clone()}</span>
                {(!open).then(|| view! { " " <span class="tag">{outcome.clone()}</span> })}
            </div>
            <dl class="payment-facts">
                <dt>"Payer"</dt><dd>{item.email.clone().unwrap_or_else(|| "not given by Whop".into())}</dd>
                <dt>"Why"</dt><dd>{item.reason.clone()}</dd>
                <dt>"Received"</dt><dd>{item.created_at.replace('T', " ").replace('Z', " UTC")}</dd>
                {item.checkout_id.clone().map(|c| view! { <dt>"Checkout"</dt><dd><code>{c}</code></dd> })}
                {item.resolution_note.clone().map(|n| view! {
                    <dt>"Note"</dt><dd>{format!("{n} ({})", item.resolved_by.clone().unwrap_or_default())}</dd>
                })}
            </dl>
            <details>
                <summary>"Raw event"</summary>
                <pre class="raw">{item.raw_event.clone()}</pre>
            </details>
            {open.then(move || view! {
                <details class="action">
                    <summary>"Attach to an account"</summary>
                    <ActionForm action=attach attr:class="form">
                        <input type="hidden" name="id" value=attach_id.clone()/>
                        <label for=email_field.clone()>"Account email"</label>
                        <input id=email_field name="email" type="email" required maxlength="254" value=payer/>
                        <label for=credits_field.clone()>"Credits to grant"</label>
                        <input id=credits_field name="credits" inputmode="numeric" required pattern="[0-9,_]+"/>
                        <label for=attach_reason.clone()>"Reason"</label>
                        <input id=attach_reason name="reason" required maxlength="500"
                               placeholder="e.g. Starter bought through an old checkout link"/>
                        <label class="check">
                            <input type="checkbox" name="confirm" value="yes" required/>
                            " I confirm these credits go to this account."
                        </label>
                        <button type="submit" class="button primary" disabled=attach.pending()>"Attach and credit"</button>
                    </ActionForm>
                </details>
                <details class="action">
                    <summary>"Mark resolved"</summary>
                    <ActionForm action=resolve attr:class="form">
                        <input type="hidden" name="id" value=resolve_id.clone()/>
                        <label for=resolve_reason.clone()>"Reason"</label>
                        <input id=resolve_reason name="reason" required maxlength="500"
                               placeholder="e.g. Refunded in Whop"/>
                        <button type="submit" class="button" disabled=resolve.pending()>"Mark resolved"</button>
                    </ActionForm>
                </details>
            })}
        </li>
    }
}
