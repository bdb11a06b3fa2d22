//! `/admin/plans`: the credit plans, created, edited and archived here and pushed to Whop on save.
//! Each shows where it stands on Whop; a failed push keeps the change and can be retried.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

use crate::api::admin_plans::{
    admin_list_plans, AdminCreatePlan, AdminRetryPlanSync, AdminSetPlanActive, AdminUpdatePlan,
};
use crate::app::components::{ErrorNote, Loading};
use crate::app::pages::admin_nav::AdminNav;
use crate::app::pages::forbidden::Forbidden;
use crate::model::{AppError, PlanAdminView};

/// The currencies the server accepts (`service::plans::CURRENCIES`).
const CURRENCIES: [&str; 5] = ["usd", "eur", "gbp", "cad", "aud"];

/// The result of the last action, where it happened.
fn outcome(id: &'static str, r: Option<Result<String, AppError>>) -> Option<AnyView> {
    r.map(|r| match r {
        Ok(msg) => view! { <p class="notice ok" role="status" id=id>{msg}</p> }.into_any(),
        Err(e) => view! { <div id=id><ErrorNote error=e/></div> }.into_any(),
    })
}

#[component]
pub fn AdminPlansPage() -> impl IntoView {
    let create = ServerAction::<AdminCreatePlan>::new();
    let update = ServerAction::<AdminUpdatePlan>::new();
    let set_active = ServerAction::<AdminSetPlanActive>::new();
    let retry = ServerAction::<AdminRetryPlanSync>::new();
    let changes = Signal::derive(move || {
        create.version().get() + update.version().get() + set_active.version().get() + retry.version().get()
    });
    let plans = Resource::new(move || changes.get(), |_| admin_list_plans());
    // The table's actions share one result line: the latest one's.
    let last = RwSignal::new(None::<Result<String, AppError>>);
    Effect::new(move |_| {
        if let Some(r) = update.value().get() {
            last.set(Some(r));
        }
    });
    Effect::new(move |_| {
        if let Some(r) = set_active.value().get() {
            last.set(Some(r));
        }
    });
    Effect::new(move |_| {
        if let Some(r) = retry.value().get() {
            last.set(Some(r));
        }
    });

    view! {
        <Title text="Plans · Admin"/>
        <h1>"Admin"</h1>
        <AdminNav refresh=changes/>
        <section class="card" aria-labelledby="plans-heading">
            <h2 id="plans-heading">"Plans"</h2>
            <p class="muted">
                "The credit packs on sale at /credits. Saving pushes the change to Whop (a hidden one-time
                 plan per pack; a new price makes a new Whop plan and archives the old one). Custom-price
                 plans are never on Whop: buyers request them and an admin approves. Archiving takes a
                 plan off sale and archives it on Whop; nothing is deleted, and past orders keep the
                 name, credits and price they were bought at."
            </p>
            {move || outcome("plans-result", last.get())}
            <Transition fallback=|| view! { <Loading label="Loading plans…"/> }>
                {move || Suspend::new(async move {
                    match plans.await {
                        Err(AppError::Unauthorized) => view! { <Redirect path="/login?next=/admin/plans"/> }.into_any(),
                        Err(AppError::Forbidden) => view! { <Forbidden/> }.into_any(),
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(list) if list.is_empty() => view! {
                            <p class="empty" id="plans-empty">"No plans yet: create the first one below."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <div class="table-wrap">
                                <table class="plans" id="plans">
                                    <thead><tr>
                                        <th scope="col">"Name"</th>
                                        <th scope="col" class="num">"Credits"</th>
                                        <th scope="col" class="num">"Price"</th>
                                        <th scope="col" class="num">"Order"</th>
                                        <th scope="col">"On sale"</th>
                                        <th scope="col">"Whop"</th>
                                        <th scope="col">"Actions"</th>
                                    </tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|p| view! {
                                            <PlanRow plan=p update=update set_active=set_active retry=retry/>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <section class="card" aria-labelledby="new-plan-heading">
            <h2 id="new-plan-heading">"New plan"</h2>
            <ActionForm action=create attr:class="form" attr:id="new-plan">
                <PlanFields prefix="new".to_string() plan=None/>
                <button type="submit" class="button primary" disabled=create.pending()>"Create plan"</button>
            </ActionForm>
            {move || outcome("new-plan-result", create.value().get())}
        </section>
    }
}

/// The form fields shared by "New plan" and "Edit" (ids made unique by `prefix`).
#[component]
fn PlanFields(prefix: String, plan: Option<PlanAdminView>) -> impl IntoView {
    let id = |f: &str| format!("{prefix}-{f}");
    let (name, credits, price, currency, order) = (id("name"), id("credits"), id("price"), id("currency"), id("order"));
    let current = plan.as_ref().map_or("usd".to_string(), |p| p.currency.clone());
    view! {
        <label for=name.clone()>"Name (shown to buyers, up to 30 characters)"</label>
        <input id=name name="name" required maxlength="30" value=plan.as_ref().map(|p| p.name.clone())/>
        <label for=credits.clone()>"Credits"</label>
        <input id=credits name="credits" required inputmode="numeric" pattern="[0-9,_ ]+"
               value=plan.as_ref().map(|p| p.credits.to_string())/>
        <label for=price.clone()>"Price (e.g. 7.50), or \"custom\" for the request flow"</label>
        <input id=price name="price" required maxlength="20"
               value=plan.as_ref().map(|p| p.price_input.clone())/>
        <label for=currency.clone()>"Currency"</label>
        <select id=currency name="currency">
            {CURRENCIES.iter().map(|c| {
                let selected = *c == current;
                view! { <option value=*c selected=selected>{c.to_ascii_uppercase()}</option> }
            }).collect_view()}
        </select>
        <label for=order.clone()>"Order on the page (smaller first)"</label>
        <input id=order name="sort_order" inputmode="numeric" pattern="-?[0-9]+"
               value=plan.as_ref().map_or("0".to_string(), |p| p.sort_order.to_string())/>
    }
}

#[component]
fn PlanRow(
    plan: PlanAdminView,
    update: ServerAction<AdminUpdatePlan>,
    set_active: ServerAction<AdminSetPlanActive>,
    retry: ServerAction<AdminRetryPlanSync>,
) -> impl IntoView {
    let id = plan.id.to_string();
    let sync_label = match plan.sync_status.as_str() {
        "synced" => "Synced",
        "pending" => "Pending",
        "failed" => "Failed",
        "manual" => "Not on Whop (custom price)",
        _ => "Unknown",
    };
    let failed = plan.sync_status == "failed";
    let retryable = plan.sync_status != "synced" && plan.sync_status != "manual";
    let (name, active) = (plan.name.clone(), plan.active);
    let (edit_id, toggle_id, retry_id) = (id.clone(), id.clone(), id.clone());
    let toggle_label = format!("{} {}", if active { "Archive" } else { "Restore" }, name);
    let retry_label = format!("Retry pushing {name} to Whop");
    let sync_class = format!("tag sync-{}", plan.sync_status);
    let sync_status = plan.sync_status.clone();
    let sync_error = plan.sync_error.clone().unwrap_or_default();
    let credits = crate::model::Credits(plan.credits).to_string();
    let (price, order, whop_id) = (
        plan.price_label.clone(),
        plan.sort_order.to_string(),
        plan.whop_plan_id.clone(),
    );
    let edit_prefix = format!("edit-{edit_id}");
    view! {
        <tr data-plan=name.clone() data-sync=sync_status>
            <td>{name.clone()}</td>
            <td class="num">{credits}</td>
            <td class="num">{price}</td>
            <td class="num">{order}</td>
            <td>{if active { "On sale" } else { "Archived" }}</td>
            <td>
                <span class=sync_class>{sync_label}</span>
                {failed.then(|| view! { <p class="error sync-error">{sync_error}</p> })}
                {whop_id.map(|w| view! { <br/><code class="whop-id">{w}</code> })}
            </td>
            <td class="plan-actions">
                {retryable.then(|| view! {
                    <ActionForm action=retry>
                        <input type="hidden" name="id" value=retry_id/>
                        <button type="submit" class="button small" aria-label=retry_label>"Retry"</button>
                    </ActionForm>
                })}
                <ActionForm action=set_active>
                    <input type="hidden" name="id" value=toggle_id/>
                    <input type="hidden" name="active" value=if active { "false" } else { "true" }/>
                    <button type="submit" class="button small" aria-label=toggle_label>
                        {if active { "Archive" } else { "Restore" }}
                    </button>
                </ActionForm>
                <details class="action">
                    <summary>"Edit"</summary>
                    <ActionForm action=update attr:class="form">
                        <input type="hidden" name="id" value=edit_id/>
                        <PlanFields prefix=edit_prefix plan=Some(plan)/>
                        <button type="submit" class="button primary" disabled=update.pending()>"Save"</button>
                    </ActionForm>
                </details>
            </td>
        </tr>
    }
}
