//! `/admin/alerts`: what needs an admin's eye (failed payments, unmatched payments, webhook
//! events that keep failing, reconciliation errors), newest first. Acknowledging one, or all on
//! screen, clears them from the open list and the badge; it is audited.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;

use crate::api::admin_alerts::{admin_list_alerts, AdminAcknowledgeAlert, AdminAcknowledgeAllAlerts};
use crate::app::components::{ErrorNote, Loading};
use crate::app::pages::admin_nav::AdminNav;
use crate::app::pages::forbidden::Forbidden;
use crate::model::{AlertView, AppError};

const FILTERS: [(&str, &str); 3] = [("open", "Open"), ("acknowledged", "Acknowledged"), ("all", "All")];

#[component]
pub fn AdminAlertsPage() -> impl IntoView {
    let ack = ServerAction::<AdminAcknowledgeAlert>::new();
    let ack_all = ServerAction::<AdminAcknowledgeAllAlerts>::new();
    let query = use_query_map();
    let status = Memo::new(move |_| {
        let s = query.read().get("status").unwrap_or_default();
        FILTERS.iter().find(|(k, _)| *k == s).map_or("open", |(k, _)| *k)
    });
    let before = Memo::new(move |_| query.read().get("before").and_then(|b| b.trim().parse::<i64>().ok()));
    let changes = Signal::derive(move || ack.version().get() + ack_all.version().get());
    let page = Resource::new(
        move || (status.get(), before.get(), changes.get()),
        |(status, before, _)| admin_list_alerts(Some(status.to_string()), before.map(|b| b.to_string())),
    );

    view! {
        <Title text="Alerts · Admin"/>
        <h1>"Admin"</h1>
        <AdminNav refresh=changes/>
        <section class="card" aria-labelledby="alerts-heading">
            <h2 id="alerts-heading">"Alerts"</h2>
            <p class="muted">
                "Failed payments, payments waiting in the unmatched queue, webhook events that keep
                 failing and reconciliation errors. Each condition raises one alert. Acknowledge an
                 alert once you have looked into it."
            </p>
            <nav class="filters" aria-label="Filter by status">
                {FILTERS.iter().map(|(key, label)| {
                    let key = *key;
                    view! {
                        <a href=format!("/admin/alerts?status={key}")
                           aria-current=move || (status.get() == key).then_some("page")>{*label}</a>
                    }
                }).collect_view()}
            </nav>
            {move || ack.value().get().map(|r| match r {
                Ok(msg) => view! { <p class="notice ok" role="status" id="alerts-result">{msg}</p> }.into_any(),
                Err(e) => view! { <div id="alerts-result"><ErrorNote error=e/></div> }.into_any(),
            })}
            {move || ack_all.value().get().map(|r| match r {
                Ok(msg) => view! { <p class="notice ok" role="status" id="alerts-result">{msg}</p> }.into_any(),
                Err(e) => view! { <div id="alerts-result"><ErrorNote error=e/></div> }.into_any(),
            })}
            <Transition fallback=|| view! { <Loading label="Loading…"/> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Err(AppError::Unauthorized) => view! { <Redirect path="/login?next=/admin/alerts"/> }.into_any(),
                        Err(AppError::Forbidden) => view! { <Forbidden/> }.into_any(),
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(p) if p.items.is_empty() => view! {
                            <p class="empty" id="alerts-empty">
                                {if status.get_untracked() == "open" { "No open alerts." } else { "No alerts here." }}
                            </p>
                        }.into_any(),
                        Ok(p) => {
                            let next = p.next_before.map(|b| format!("/admin/alerts?status={}&before={b}", status.get_untracked()));
                            let newest_open = p.items.iter().filter(|a| a.status == "open").map(|a| a.id).max();
                            view! {
                                {newest_open.map(|up_to| view! {
                                    <ActionForm action=ack_all attr:class="inline-form">
                                        <input type="hidden" name="up_to" value=up_to.to_string()/>
                                        <button type="submit" class="button" id="alerts-ack-all"
                                                disabled=ack_all.pending()>"Acknowledge all open"</button>
                                    </ActionForm>
                                })}
                                <div class="table-wrap">
                                    <table class="alerts-table" id="alerts-table">
                                        <caption class="visually-hidden">"Alerts, newest first"</caption>
                                        <thead>
                                            <tr>
                                                <th scope="col">"Raised"</th>
                                                <th scope="col">"Kind"</th>
                                                <th scope="col">"What happened"</th>
                                                <th scope="col">"Status"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {p.items.into_iter().map(|a| view! { <AlertRow alert=a ack=ack/> }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                {next.map(|href| view! { <a class="button" id="alerts-next" href=href>"Older"</a> })}
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn AlertRow(alert: AlertView, ack: ServerAction<AdminAcknowledgeAlert>) -> impl IntoView {
    let open = alert.status == "open";
    let id = alert.id.to_string();
    let status = match (&alert.acknowledged_by, &alert.acknowledged_at) {
        (Some(by), Some(at)) => format!("Acknowledged by {by} at {}", at.replace('T', " ").replace('Z', " UTC")),
        _ => "Open".to_string(),
    };
    view! {
        <tr class="alert-row" data-kind=alert.kind.clone() data-status=alert.status.clone()>
            <td>{alert.created_at.replace('T', " ").replace('Z', " UTC")}</td>
            <td><span class="tag">{alert.kind_label.clone()}</span></td>
            <td>
                {alert.message.clone()}
                " "
                <code>{alert.subject.clone()}</code>
            </td>
            <td>
                {if open {
                    view! {
                        <ActionForm action=ack attr:class="inline-form">
                            <input type="hidden" name="id" value=id/>
                            <button type="submit" class="button small"
                                    aria-label=format!("Acknowledge alert {}", alert.id)
                                    disabled=ack.pending()>"Acknowledge"</button>
                        </ActionForm>
                    }.into_any()
                } else {
                    view! { <span class="muted">{status}</span> }.into_any()
                }}
            </td>
        </tr>
    }
}
