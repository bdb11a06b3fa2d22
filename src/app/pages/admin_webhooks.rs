//! `/admin/webhooks`: the stored Whop webhook events, newest first, filterable by status and
//! type; `/admin/webhooks/{id}`: one event's payload and a Replay button that re-applies it
//! through the same idempotent path as the webhook route (it can never double an effect).

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::admin_events::{admin_list_webhooks, admin_webhook, AdminReplayWebhook};
use crate::app::components::{ErrorNote, Loading};
use crate::app::pages::admin_nav::AdminNav;
use crate::app::pages::forbidden::Forbidden;
use crate::model::{AppError, WebhookEventView};

const STATUSES: [(&str, &str); 5] = [
    ("all", "All"),
    ("pending", "Pending"),
    ("processed", "Processed"),
    ("failed", "Failed"),
    ("ignored", "Ignored"),
];

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn when(t: &str) -> String {
    t.replace('T', " ").replace('Z', " UTC")
}

#[component]
pub fn AdminWebhooksPage() -> impl IntoView {
    let query = use_query_map();
    let status = Memo::new(move |_| {
        let s = query.read().get("status").unwrap_or_default();
        STATUSES.iter().find(|(k, _)| *k == s).map_or("all", |(k, _)| *k)
    });
    let event_type = Memo::new(move |_| query.read().get("type").unwrap_or_default());
    let before = Memo::new(move |_| query.read().get("before"));
    let page = Resource::new(
        move || (status.get(), event_type.get(), before.get()),
        |(status, event_type, before)| admin_list_webhooks(Some(status.to_string()), Some(event_type), before),
    );

    view! {
        <Title text="Webhook events · Admin"/>
        <h1>"Admin"</h1>
        <AdminNav refresh=Signal::derive(|| 0usize)/>
        <section class="card" aria-labelledby="webhooks-heading">
            <h2 id="webhooks-heading">"Webhook events"</h2>
            <p class="muted">
                "Every delivery Whop sent, as stored, and how applying it went. Open one to see its
                 payload or to replay it."
            </p>
            <form method="get" action="/admin/webhooks" class="inline-form" role="search" aria-label="Filter events">
                <label for="wh-status">"Status"</label>
                <select id="wh-status" name="status">
                    {move || STATUSES.iter().map(|(key, label)| {
                        let key = *key;
                        view! { <option value=key selected=move || status.get() == key>{*label}</option> }
                    }).collect_view()}
                </select>
                <label for="wh-type">"Type"</label>
                <input id="wh-type" name="type" maxlength="100" placeholder="payment.succeeded"
                       prop:value=move || event_type.get()/>
                <button type="submit" class="button">"Filter"</button>
            </form>
            <Transition fallback=|| view! { <Loading label="Loading…"/> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Err(AppError::Unauthorized) => view! { <Redirect path="/login?next=/admin/webhooks"/> }.into_any(),
                        Err(AppError::Forbidden) => view! { <Forbidden/> }.into_any(),
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(p) if p.items.is_empty() => view! {
                            <p class="empty" id="webhooks-empty">"No webhook events here."</p>
                        }.into_any(),
                        Ok(p) => {
                            let next = p.next_before.map(|b| format!(
                                "/admin/webhooks?status={}&type={}&before={}",
                                status.get_untracked(), encode(&event_type.get_untracked()), encode(&b)
                            ));
                            view! {
                                <div class="table-wrap">
                                    <table class="webhooks" id="webhooks">
                                        <caption class="visually-hidden">"Webhook events, newest first"</caption>
                                        <thead><tr>
                                            <th scope="col">"Type"</th><th scope="col">"Status"</th>
                                            <th scope="col" class="num">"Attempts"</th><th scope="col">"Last error"</th>
                                            <th scope="col">"Received"</th><th scope="col">"Order"</th>
                                            <th scope="col">"Payment"</th>
                                        </tr></thead>
                                        <tbody>
                                            {p.items.into_iter().map(|e| view! { <WebhookRow event=e/> }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                {next.map(|href| view! { <a class="button" id="webhooks-next" href=href>"Older"</a> })}
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn WebhookRow(event: WebhookEventView) -> impl IntoView {
    let href = format!("/admin/webhooks/{}", encode(&event.id));
    view! {
        <tr data-webhook=event.id.clone()>
            <td><a href=href aria-label=format!("{} event {}", event.event_type, event.id)><code>{event.event_type.clone()}</code></a></td>
            <td><span class=format!("tag status-{}", event.status)>{event.status.clone()}</span></td>
            <td class="num">{event.attempts}</td>
            <td class="reason">{event.last_error.clone().unwrap_or_default()}</td>
            <td>{when(&event.received_at)}</td>
            <td>{event.order_id.map(|o| view! { <a href=format!("/admin/orders/{o}")>{format!("#{o}")}</a> })}</td>
            <td>{event.payment_id.clone().map(|p| view! { <code>{p}</code> })}</td>
        </tr>
    }
}

#[component]
pub fn AdminWebhookPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let replay = ServerAction::<AdminReplayWebhook>::new();
    let detail = Resource::new(move || (id.get(), replay.version().get()), |(id, _)| admin_webhook(id));

    view! {
        <Title text="Webhook event · Admin"/>
        <h1>"Admin"</h1>
        <AdminNav refresh=Signal::derive(|| 0usize)/>
        <section class="card" aria-labelledby="webhook-heading">
            <h2 id="webhook-heading">"Webhook event"</h2>
            <p><a href="/admin/webhooks">"← All webhook events"</a></p>
            {move || replay.value().get().map(|r| match r {
                Ok(msg) => view! { <p class="notice ok" role="status" id="replay-result">{msg}</p> }.into_any(),
                Err(e) => view! { <div id="replay-result"><ErrorNote error=e/></div> }.into_any(),
            })}
            <Transition fallback=|| view! { <Loading label="Loading…"/> }>
                {move || Suspend::new(async move {
                    match detail.await {
                        Err(AppError::Unauthorized) => view! {
                            <Redirect path=format!("/login?next=/admin/webhooks/{}", encode(&id.get_untracked()))/>
                        }.into_any(),
                        Err(AppError::Forbidden) => view! { <Forbidden/> }.into_any(),
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(d) => {
                            let e = d.event;
                            view! {
                                <dl class="payment-facts" id="webhook-facts">
                                    <dt>"Id"</dt><dd><code>{e.id.clone()}</code></dd>
                                    <dt>"Type"</dt><dd><code>{e.event_type.clone()}</code></dd>
                                    <dt>"Status"</dt><dd id="webhook-status">{e.status.clone()}</dd>
                                    <dt>"Attempts"</dt><dd>{e.attempts}</dd>
                                    <dt>"Received"</dt><dd>{when(&e.received_at)}</dd>
                                    {d.processed_at.map(|t| view! { <dt>"Settled"</dt><dd>{when(&t)}</dd> })}
                                    {d.next_attempt_at.map(|t| view! { <dt>"Next try"</dt><dd>{when(&t)}</dd> })}
                                    {e.last_error.clone().map(|t| view! { <dt>"Last error"</dt><dd>{t}</dd> })}
                                    {e.order_id.map(|o| view! { <dt>"Order"</dt><dd><a href=format!("/admin/orders/{o}")>{format!("#{o}")}</a></dd> })}
                                    {e.payment_id.clone().map(|p| view! { <dt>"Payment"</dt><dd><code>{p}</code></dd> })}
                                </dl>
                                <h3 id="payload-heading">"Payload"</h3>
                                <pre class="raw" id="webhook-payload" aria-labelledby="payload-heading" tabindex="0">{d.payload}</pre>
                                <details class="action">
                                    <summary>"Replay"</summary>
                                    <p class="hint">
                                        "Applies the event again through the same path as Whop's delivery. What it did
                                         before is never done twice: a payment credits its order once."
                                    </p>
                                    <ActionForm action=replay attr:class="form">
                                        <input type="hidden" name="id" value=e.id.clone()/>
                                        <label for="replay-reason">"Reason"</label>
                                        <input id="replay-reason" name="reason" required maxlength="500"
                                               placeholder="e.g. The order was fixed by hand"/>
                                        <label class="check">
                                            <input type="checkbox" name="confirm" value="yes" required/>
                                            " I confirm: apply this event again."
                                        </label>
                                        <button type="submit" class="button primary" id="replay" disabled=replay.pending()>"Replay"</button>
                                    </ActionForm>
                                </details>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}
