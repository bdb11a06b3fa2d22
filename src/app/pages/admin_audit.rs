//! `/admin/audit`: every admin action, newest first, filterable by actor and action (exact, or
//! a prefix ending in `*`), with the state before and after.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;

use crate::api::admin_events::admin_list_audit;
use crate::app::components::{ErrorNote, Loading};
use crate::app::pages::admin_nav::AdminNav;
use crate::app::pages::forbidden::Forbidden;
use crate::model::{AppError, AuditView};

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'*' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[component]
pub fn AdminAuditPage() -> impl IntoView {
    let query = use_query_map();
    let actor = Memo::new(move |_| query.read().get("actor").unwrap_or_default());
    let action = Memo::new(move |_| query.read().get("action").unwrap_or_default());
    let before = Memo::new(move |_| query.read().get("before").and_then(|b| b.trim().parse::<i64>().ok()));
    let page = Resource::new(
        move || (actor.get(), action.get(), before.get()),
        |(actor, action, before)| admin_list_audit(Some(actor), Some(action), before),
    );

    view! {
        <Title text="Audit log · Admin"/>
        <h1>"Admin"</h1>
        <AdminNav refresh=Signal::derive(|| 0usize)/>
        <section class="card" aria-labelledby="audit-heading">
            <h2 id="audit-heading">"Audit log"</h2>
            <p class="muted">"Every admin action: who, what, when, and the state before and after."</p>
            <form method="get" action="/admin/audit" class="inline-form" role="search" aria-label="Filter the audit log">
                <label for="audit-actor">"Actor"</label>
                <input id="audit-actor" name="actor" maxlength="100" placeholder="admin:1"
                       prop:value=move || actor.get()/>
                <label for="audit-action">"Action"</label>
                <input id="audit-action" name="action" maxlength="100" placeholder="webhook.* or webhook.replay"
                       prop:value=move || action.get()/>
                <button type="submit" class="button">"Filter"</button>
            </form>
            <p class="hint">"End a filter with * to match every value starting with it."</p>
            <Transition fallback=|| view! { <Loading label="Loading…"/> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Err(AppError::Unauthorized) => view! { <Redirect path="/login?next=/admin/audit"/> }.into_any(),
                        Err(AppError::Forbidden) => view! { <Forbidden/> }.into_any(),
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(p) if p.items.is_empty() => view! {
                            <p class="empty" id="audit-empty">"No audit entries here."</p>
                        }.into_any(),
                        Ok(p) => {
                            let next = p.next_before.map(|b| format!(
                                "/admin/audit?actor={}&action={}&before={b}",
                                encode(&actor.get_untracked()), encode(&action.get_untracked())
                            ));
                            view! {
                                <div class="table-wrap">
                                    <table class="audit" id="audit">
                                        <caption class="visually-hidden">"Audit log, newest first"</caption>
                                        <thead><tr>
                                            <th scope="col">"When"</th><th scope="col">"Actor"</th>
                                            <th scope="col">"Action"</th><th scope="col">"Subject"</th>
                                            <th scope="col">"Change"</th>
                                        </tr></thead>
                                        <tbody>
                                            {p.items.into_iter().map(|a| view! { <AuditRow entry=a/> }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                {next.map(|href| view! { <a class="button" id="audit-next" href=href>"Older"</a> })}
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn AuditRow(entry: AuditView) -> impl IntoView {
    view! {
        <tr data-audit=entry.id.to_string()>
            <td>{entry.created_at.replace('T', " ").replace('Z', " UTC")}</td>
            <td><code>{entry.actor.clone()}</code></td>
            <td><code>{entry.action.clone()}</code></td>
            <td><code>{entry.subject.clone()}</code></td>
            <td>
                {entry.before.clone().map(|b| view! {
                    <details><summary>"Before"</summary><pre class="raw">{b}</pre></details>
                })}
                {entry.after.clone().map(|a| view! {
                    <details><summary>"After"</summary><pre class="raw">{a}</pre></details>
                })}
            </td>
        </tr>
    }
}
