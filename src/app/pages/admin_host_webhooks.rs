//! `/admin/webhook-endpoints`: where the host app (Atlas) hears about changes. The endpoints
//! (add one, its secret shown once; enable or disable), and the deliveries to them, newest first,
//! filterable by status and endpoint. `/admin/webhook-endpoints/deliveries/{id}`: one delivery's
//! payload and tries, and a Resend that sends it again with the same `webhook-id` (audited).

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::admin_host_webhooks::{
    admin_host_delivery, admin_list_host_deliveries, admin_list_webhook_endpoints, AdminCreateWebhookEndpoint,
    AdminResendHostDelivery, AdminSetWebhookEndpointEnabled,
};
use crate::app::components::{ErrorNote, Loading};
use crate::app::pages::admin_nav::AdminNav;
use crate::app::pages::forbidden::Forbidden;
use crate::model::{AppError, HostDeliveryView, WebhookEndpointView, HOST_EVENT_TYPES};

const PATH: &str = "/admin/webhook-endpoints";

const STATUSES: [(&str, &str); 4] = [
    ("", "All"),
    ("pending", "Pending"),
    ("delivered", "Delivered"),
    ("failed", "Failed"),
];

fn when(t: &str) -> String {
    t.replace('T', " ").replace('Z', " UTC")
}

/// The list's address with these filters (empty ones left out).
fn list_href(status: &str, endpoint: Option<i64>, before: Option<i64>) -> String {
    let mut q = Vec::new();
    if !status.is_empty() {
        q.push(format!("status={status}"));
    }
    if let Some(e) = endpoint {
        q.push(format!("endpoint={e}"));
    }
    if let Some(b) = before {
        q.push(format!("before={b}"));
    }
    if q.is_empty() {
        PATH.to_string()
    } else {
        format!("{PATH}?{}", q.join("&"))
    }
}

#[component]
pub fn AdminWebhookEndpointsPage() -> impl IntoView {
    let create = ServerAction::<AdminCreateWebhookEndpoint>::new();
    let switch = ServerAction::<AdminSetWebhookEndpointEnabled>::new();
    let query = use_query_map();
    let status = Memo::new(move |_| {
        let s = query.read().get("status").unwrap_or_default();
        STATUSES.iter().find(|(k, _)| *k == s).map_or("", |(k, _)| *k)
    });
    let endpoint = Memo::new(move |_| query.read().get("endpoint").and_then(|e| e.trim().parse::<i64>().ok()));
    let before = Memo::new(move |_| query.read().get("before").and_then(|b| b.trim().parse::<i64>().ok()));
    let changes = Signal::derive(move || create.version().get() + switch.version().get());
    let endpoints = Resource::new(move || changes.get(), |_| admin_list_webhook_endpoints());
    let deliveries = Resource::new(
        move || (status.get(), endpoint.get(), before.get()),
        |(status, endpoint, before)| {
            admin_list_host_deliveries(
                Some(status.to_string()),
                endpoint.map(|e| e.to_string()),
                before.map(|b| b.to_string()),
            )
        },
    );
    // What the form subscribes to: every type but credits.spent, unless chosen.
    let chosen = RwSignal::new(
        HOST_EVENT_TYPES
            .iter()
            .copied()
            .filter(|t| *t != "credits.spent")
            .collect::<Vec<&'static str>>(),
    );

    view! {
        <Title text="Webhook endpoints · Admin"/>
        <h1>"Admin"</h1>
        <AdminNav refresh=changes/>
        <section class="card" aria-labelledby="endpoints-heading">
            <h2 id="endpoints-heading">"Webhook endpoints"</h2>
            <p class="muted">
                "Atlas hears about purchases, refunds, disputes, low balances and orders through signed
                 webhooks (Standard Webhooks) sent to these addresses, in order per user, retried for
                 more than a day."
            </p>
            {move || switch.value().get().map(|r| match r {
                Ok(msg) => view! { <p class="notice ok" role="status" id="endpoint-switch-result">{msg}</p> }.into_any(),
                Err(e) => view! { <div id="endpoint-switch-result"><ErrorNote error=e/></div> }.into_any(),
            })}
            <Transition fallback=|| view! { <Loading label="Loading…"/> }>
                {move || Suspend::new(async move {
                    match endpoints.await {
                        Err(AppError::Unauthorized) => view! { <Redirect path=format!("/login?next={PATH}")/> }.into_any(),
                        Err(AppError::Forbidden) => view! { <Forbidden/> }.into_any(),
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <p class="empty" id="endpoints-empty">"No endpoint yet: add Atlas's below."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap">
                                <table id="endpoints-table">
                                    <caption class="visually-hidden">"Webhook endpoints"</caption>
                                    <thead>
                                        <tr>
                                            <th scope="col">"#"</th>
                                            <th scope="col">"URL"</th>
                                            <th scope="col">"Events"</th>
                                            <th scope="col">"State"</th>
                                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {list.into_iter().map(|e| view! { <EndpointRow endpoint=e switch=switch/> }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any(),
                    }
                })}
            </Transition>
            <details class="action" open=true>
                <summary>"Add endpoint"</summary>
                <ActionForm action=create attr:class="form" attr:id="endpoint-form">
                    <label for="endpoint-url">"URL"</label>
                    <input id="endpoint-url" name="url" type="url" required maxlength="2000"
                           placeholder="https://atlas.example.com/webhooks/credits"/>
                    <fieldset>
                        <legend>"Events"</legend>
                        {HOST_EVENT_TYPES.iter().map(|ty| {
                            let ty: &'static str = ty;
                            let id = format!("event-{}", ty.replace('.', "-"));
                            view! {
                                <label class="check">
                                    <input type="checkbox" id=id
                                           prop:checked=move || chosen.read().contains(&ty)
                                           on:change=move |ev| {
                                               let on = event_target_checked(&ev);
                                               chosen.update(|c| {
                                                   c.retain(|x| *x != ty);
                                                   if on { c.push(ty) }
                                               });
                                           }/>
                                    " " <code>{ty}</code>
                                    {(ty == "credits.spent").then(|| view! { <span class="muted">" (every spend; off unless needed)"</span> })}
                                </label>
                            }
                        }).collect_view()}
                    </fieldset>
                    <input type="hidden" name="events" value=move || {
                        HOST_EVENT_TYPES.iter().copied().filter(|t| chosen.read().contains(t)).collect::<Vec<_>>().join(",")
                    }/>
                    <label for="endpoint-description">"Description (optional)"</label>
                    <input id="endpoint-description" name="description" maxlength="200" placeholder="e.g. Atlas production"/>
                    <button type="submit" class="button primary" id="endpoint-add" disabled=create.pending()>"Add endpoint"</button>
                </ActionForm>
                {move || create.value().get().map(|r| match r {
                    Ok(created) => view! {
                        <div class="notice ok" role="status" id="endpoint-created">
                            <p>{format!("Endpoint #{} added. Its signing secret, shown only this once:", created.id)}</p>
                            <p><code id="endpoint-secret" class="secret">{created.secret}</code></p>
                            <p class="hint">"Copy it now into Atlas's configuration (e.g. ATLAS_CREDITS_WEBHOOK_SECRET): it cannot be shown again."</p>
                        </div>
                    }.into_any(),
                    Err(e) => view! { <div id="endpoint-created"><ErrorNote error=e/></div> }.into_any(),
                })}
            </details>
        </section>
        <section class="card" aria-labelledby="deliveries-heading">
            <h2 id="deliveries-heading">"Deliveries"</h2>
            <nav class="filters" aria-label="Filter by status">
                {STATUSES.iter().map(|(key, label)| {
                    let key: &'static str = key;
                    view! {
                        <a href=move || list_href(key, endpoint.get(), None)
                           aria-current=move || (status.get() == key).then_some("page")>{*label}</a>
                    }
                }).collect_view()}
                {move || endpoint.get().map(|e| view! {
                    " " <span class="tag">{format!("Endpoint #{e}")}</span>
                    " " <a href=move || list_href(status.get(), None, None)>"All endpoints"</a>
                })}
            </nav>
            <Transition fallback=|| view! { <Loading label="Loading…"/> }>
                {move || Suspend::new(async move {
                    match deliveries.await {
                        Err(AppError::Unauthorized | AppError::Forbidden) => ().into_any(),
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(p) if p.items.is_empty() => view! {
                            <p class="empty" id="deliveries-empty">"No deliveries here."</p>
                        }.into_any(),
                        Ok(p) => {
                            let next = p.next_before.map(|b| list_href(status.get_untracked(), endpoint.get_untracked(), Some(b)));
                            view! {
                                <div class="table-wrap">
                                    <table id="deliveries-table">
                                        <caption class="visually-hidden">"Deliveries, newest first"</caption>
                                        <thead>
                                            <tr>
                                                <th scope="col">"#"</th>
                                                <th scope="col">"Event"</th>
                                                <th scope="col">"Endpoint"</th>
                                                <th scope="col">"Status"</th>
                                                <th scope="col">"Tries"</th>
                                                <th scope="col">"Last answer"</th>
                                                <th scope="col">"Next try"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {p.items.into_iter().map(|d| view! { <DeliveryRow delivery=d/> }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                {next.map(|href| view! { <a class="button" id="deliveries-next" href=href>"Older"</a> })}
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn EndpointRow(endpoint: WebhookEndpointView, switch: ServerAction<AdminSetWebhookEndpointEnabled>) -> impl IntoView {
    let e = endpoint;
    let target = (!e.enabled).to_string();
    let label = if e.enabled { "Disable" } else { "Enable" };
    view! {
        <tr class="endpoint-row" data-enabled=e.enabled.to_string()>
            <td>{e.id}</td>
            <td>
                <code>{e.url.clone()}</code>
                {e.description.clone().map(|d| view! { <br/><span class="muted">{d}</span> })}
            </td>
            <td>{e.event_types.iter().map(|t| view! { <code class="tag">{t.clone()}</code> " " }).collect_view()}</td>
            <td>{if e.enabled { "Enabled" } else { "Disabled (deliveries paused)" }}</td>
            <td>
                <ActionForm action=switch attr:class="inline-form">
                    <input type="hidden" name="id" value=e.id.to_string()/>
                    <input type="hidden" name="enabled" value=target/>
                    <button type="submit" class="button small" aria-label=format!("{label} endpoint {}", e.id)
                            disabled=switch.pending()>{label}</button>
                </ActionForm>
                " " <a href=list_href("", Some(e.id), None)>"Deliveries"</a>
            </td>
        </tr>
    }
}

#[component]
fn DeliveryRow(delivery: HostDeliveryView) -> impl IntoView {
    let d = delivery;
    let answer = match (d.last_status_code, &d.last_error) {
        (_, Some(err)) => err.clone(),
        (Some(code), None) => format!("HTTP {code}"),
        (None, None) => "—".to_string(),
    };
    view! {
        <tr class="delivery-row" data-status=d.status.clone()>
            <td><a href=format!("{PATH}/deliveries/{}", d.id)>{format!("#{}", d.id)}</a></td>
            <td><code>{d.event_type.clone()}</code></td>
            <td>{format!("#{}", d.endpoint_id)}</td>
            <td><span class="tag">{d.status.clone()}</span></td>
            <td>{d.attempts}</td>
            <td>{answer}</td>
            <td>{d.next_attempt_at.as_deref().map(when).unwrap_or_default()}</td>
        </tr>
    }
}

#[component]
pub fn AdminHostDeliveryPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let resend = ServerAction::<AdminResendHostDelivery>::new();
    let detail = Resource::new(
        move || (id.get(), resend.version().get()),
        |(id, _)| admin_host_delivery(id),
    );

    view! {
        <Title text="Webhook delivery · Admin"/>
        <h1>"Admin"</h1>
        <AdminNav refresh=Signal::derive(|| 0usize)/>
        <section class="card" aria-labelledby="delivery-heading">
            <h2 id="delivery-heading">"Webhook delivery"</h2>
            <p><a href=PATH>"← Webhook endpoints"</a></p>
            {move || resend.value().get().map(|r| match r {
                Ok(msg) => view! { <p class="notice ok" role="status" id="resend-result">{msg}</p> }.into_any(),
                Err(e) => view! { <div id="resend-result"><ErrorNote error=e/></div> }.into_any(),
            })}
            <Transition fallback=|| view! { <Loading label="Loading…"/> }>
                {move || Suspend::new(async move {
                    match detail.await {
                        Err(AppError::Unauthorized) => view! {
                            <Redirect path=format!("/login?next={PATH}")/>
                        }.into_any(),
                        Err(AppError::Forbidden) => view! { <Forbidden/> }.into_any(),
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(detail) => {
                            let d = detail.delivery;
                            let pending = d.status == "pending";
                            view! {
                                <dl class="payment-facts" id="delivery-facts">
                                    <dt>"webhook-id"</dt><dd><code>{d.webhook_id.clone()}</code></dd>
                                    <dt>"Event"</dt><dd><code>{d.event_type.clone()}</code></dd>
                                    <dt>"Endpoint"</dt><dd>{format!("#{} ", d.endpoint_id)}<code>{d.endpoint_url.clone()}</code></dd>
                                    <dt>"Status"</dt><dd id="delivery-status">{d.status.clone()}</dd>
                                    <dt>"Tries"</dt><dd>{d.attempts}</dd>
                                    <dt>"Created"</dt><dd>{when(&d.created_at)}</dd>
                                    {d.delivered_at.clone().map(|t| view! { <dt>"Delivered"</dt><dd>{when(&t)}</dd> })}
                                    {d.next_attempt_at.clone().map(|t| view! { <dt>"Next try"</dt><dd>{when(&t)}</dd> })}
                                </dl>
                                <h3 id="payload-heading">"Payload"</h3>
                                <pre class="raw" id="delivery-payload" aria-labelledby="payload-heading" tabindex="0">{detail.payload}</pre>
                                <h3>"Tries"</h3>
                                {if detail.attempts.is_empty() {
                                    view! { <p class="empty" id="attempts-empty">"Not tried yet."</p> }.into_any()
                                } else {
                                    view! {
                                        <div class="table-wrap">
                                            <table id="attempts-table">
                                                <thead>
                                                    <tr>
                                                        <th scope="col">"When"</th>
                                                        <th scope="col">"Answer"</th>
                                                        <th scope="col">"Took"</th>
                                                    </tr>
                                                </thead>
                                                <tbody>
                                                    {detail.attempts.into_iter().map(|a| view! {
                                                        <tr>
                                                            <td>{when(&a.attempted_at)}</td>
                                                            <td>{a.error.clone().unwrap_or_else(|| a.status_code.map(|c| format!("HTTP {c}")).unwrap_or_default())}</td>
                                                            <td>{format!("{} ms", a.duration_ms)}</td>
                                                        </tr>
                                                    }).collect_view()}
                                                </tbody>
                                            </table>
                                        </div>
                                    }.into_any()
                                }}
                                {(!pending).then(|| view! {
                                    <details class="action">
                                        <summary>"Resend"</summary>
                                        <p class="hint">
                                            "Sends this event again within seconds, with the same webhook-id, so Atlas
                                             can tell it is the same event."
                                        </p>
                                        <ActionForm action=resend attr:class="form">
                                            <input type="hidden" name="id" value=d.id.to_string()/>
                                            <label for="resend-reason">"Reason"</label>
                                            <input id="resend-reason" name="reason" required maxlength="500"
                                                   placeholder="e.g. Atlas was down during the retries"/>
                                            <label class="check">
                                                <input type="checkbox" name="confirm" value="yes" required/>
                                                " I confirm: send this event again."
                                            </label>
                                            <button type="submit" class="button primary" id="resend" disabled=resend.pending()>"Resend"</button>
                                        </ActionForm>
                                    </details>
                                })}
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}
