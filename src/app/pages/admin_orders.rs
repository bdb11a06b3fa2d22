//! `/admin/orders`: every order, newest first, filtered by what the URL query says (a plain GET
//! form, so a filtered view is a link and works without JavaScript). The manual queue (manual
//! requests waiting for review) is one click away, with its count.

pub mod adjust_form;
pub mod detail;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;

use crate::api::admin_orders::{admin_list_orders, AdminAdjustCredits};
use crate::app::client_key;
use crate::app::components::{ErrorNote, Loading};
use crate::app::pages::admin_nav::AdminNav;
use crate::app::pages::forbidden::Forbidden;
use crate::model::{AdminOrderItem, AppError};
use adjust_form::AdjustForm;

/// The query keys the list reads, in the order links write them.
const KEYS: [&str; 6] = ["payment_status", "status", "method", "email", "from", "to"];
pub const QUEUE_HREF: &str = "/admin/orders?method=manual&status=pending";

fn option(value: &'static str, label: &'static str, current: String) -> impl IntoView {
    view! { <option value=value selected=current == value>{label}</option> }
}

#[component]
pub fn AdminOrdersPage() -> impl IntoView {
    let adjust = ServerAction::<AdminAdjustCredits>::new();
    let key_base = Resource::new(|| (), |_| async { client_key::new_base() });
    let query = use_query_map();
    let get = move |k: &str| query.read().get(k).unwrap_or_default();
    let filters = Memo::new(move |_| KEYS.map(get));
    let before = Memo::new(move |_| query.read().get("before").filter(|b| !b.trim().is_empty()));
    let page = Resource::new(
        move || (filters.get(), before.get()),
        |(f, before)| {
            let o = |s: &str| (!s.trim().is_empty()).then(|| s.to_string());
            admin_list_orders(o(&f[0]), o(&f[1]), o(&f[2]), o(&f[3]), o(&f[4]), o(&f[5]), before)
        },
    );
    // The current filters as a query string, for the "Older" link.
    let current_query = move || {
        filters
            .get()
            .iter()
            .zip(KEYS)
            .filter(|(v, _)| !v.is_empty())
            .map(|(v, k)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&")
    };
    let is_queue = move || get("method") == "manual" && get("status") == "pending";

    view! {
        <Title text="Orders · Admin"/>
        <h1>"Admin"</h1>
        <AdminNav refresh=Signal::derive(move || adjust.version().get())/>
        <section class="card" aria-labelledby="orders-heading">
            <h2 id="orders-heading">"Orders"</h2>
            <Transition fallback=|| view! { <Loading label="Loading orders…"/> }>
                {move || Suspend::new(async move {
                    let result = page.await;
                    let key_base = key_base.await;
                    match result {
                        Err(AppError::Unauthorized) => view! { <Redirect path="/login?next=/admin/orders"/> }.into_any(),
                        Err(AppError::Forbidden) => view! { <Forbidden/> }.into_any(),
                        Err(e) => view! {
                            {filter_form(get)}
                            <div id="orders-error"><ErrorNote error=e/></div>
                        }.into_any(),
                        Ok(p) => {
                            let next = p.next_before.map(|b| {
                                let q = current_query();
                                if q.is_empty() { format!("/admin/orders?before={b}") } else { format!("/admin/orders?{q}&before={b}") }
                            });
                            let empty = p.items.is_empty();
                            view! {
                                <nav class="filters" aria-label="Quick filters">
                                    <a href="/admin/orders" aria-current=move || current_query().is_empty().then_some("page")>"All"</a>
                                    <a href=QUEUE_HREF id="queue-chip" aria-current=move || is_queue().then_some("page")>
                                        {format!("Manual requests waiting ({})", p.queue_count)}
                                    </a>
                                    <a href="/admin/orders?method=whop&payment_status=paid">"Whop paid"</a>
                                    <a href="/admin/orders?payment_status=failed">"Failed"</a>
                                </nav>
                                {filter_form(get)}
                                {if empty {
                                    view! { <p class="empty" id="orders-empty">"No orders match these filters."</p> }.into_any()
                                } else {
                                    view! { <OrdersTable items=p.items/> }.into_any()
                                }}
                                {next.map(|href| view! { <a class="button" id="orders-next" href=href>"Older"</a> })}
                                <AdjustForm action=adjust key_base=key_base user_id=None/>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

/// Percent-encodes a query value (emails carry `+` and `@`).
pub(crate) fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The filter form: a GET to this page, so the filters land in the URL.
fn filter_form(get: impl Fn(&str) -> String) -> impl IntoView {
    view! {
        <form method="get" action="/admin/orders" class="order-filters" role="search" aria-label="Filter orders">
            <div>
                <label for="f-payment">"Payment"</label>
                <select id="f-payment" name="payment_status">
                    {option("", "Any", get("payment_status"))}
                    {option("pending", "Pending", get("payment_status"))}
                    {option("paid", "Paid", get("payment_status"))}
                    {option("failed", "Failed", get("payment_status"))}
                    {option("refunded", "Refunded", get("payment_status"))}
                    {option("partially_refunded", "Partially refunded", get("payment_status"))}
                    {option("disputed", "Disputed", get("payment_status"))}
                </select>
            </div>
            <div>
                <label for="f-status">"Review"</label>
                <select id="f-status" name="status">
                    {option("", "Any", get("status"))}
                    {option("pending", "Pending", get("status"))}
                    {option("approved", "Approved", get("status"))}
                    {option("rejected", "Rejected", get("status"))}
                    {option("cancelled", "Cancelled", get("status"))}
                </select>
            </div>
            <div>
                <label for="f-method">"Method"</label>
                <select id="f-method" name="method">
                    {option("", "Any", get("method"))}
                    {option("manual", "Manual", get("method"))}
                    {option("whop", "Whop", get("method"))}
                </select>
            </div>
            <div>
                <label for="f-email">"User email"</label>
                <input id="f-email" name="email" type="email" maxlength="254" value=get("email")/>
            </div>
            <div>
                <label for="f-from">"From (UTC)"</label>
                <input id="f-from" name="from" type="date" value=get("from")/>
            </div>
            <div>
                <label for="f-to">"To (UTC)"</label>
                <input id="f-to" name="to" type="date" value=get("to")/>
            </div>
            <button type="submit" class="button small">"Filter"</button>
        </form>
    }
}

#[component]
fn OrdersTable(items: Vec<AdminOrderItem>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="admin-orders" id="orders-table">
                <thead>
                    <tr>
                        <th scope="col">"Order"</th>
                        <th scope="col">"Created (UTC)"</th>
                        <th scope="col">"User"</th>
                        <th scope="col">"Plan"</th>
                        <th scope="col" class="num">"Credits"</th>
                        <th scope="col" class="num">"Price"</th>
                        <th scope="col">"Method"</th>
                        <th scope="col">"Payment"</th>
                        <th scope="col">"Review"</th>
                    </tr>
                </thead>
                <tbody>
                    {items.into_iter().map(|o| view! {
                        <tr data-order-id=o.id.to_string()>
                            <td><a href=format!("/admin/orders/{}", o.id)>{format!("#{}", o.id)}</a></td>
                            <td><time datetime=o.created_at.clone()>{o.created_at.replace('T', " ").replace('Z', "")}</time></td>
                            <td>{o.user_email}</td>
                            <td>{o.plan_name}</td>
                            <td class="num">{o.credits.to_string()}</td>
                            <td class="num">{o.price}</td>
                            <td>{o.method}</td>
                            <td><span class="tag">{o.payment_status}</span></td>
                            <td><span class="tag">{o.status}</span></td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
