//! The admin header: the admin pages, with the counts of unmatched payments (they need a person;
//! nothing else will credit them) and of open alerts as badges.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::api::admin_alerts::admin_alert_count;
use crate::api::admin_unmatched::admin_unmatched_count;

#[component]
pub fn AdminNav(
    /// Bumped by the page after an action that may change the count.
    #[prop(into)]
    refresh: Signal<usize>,
) -> impl IntoView {
    let count = Resource::new(move || refresh.get(), |_| admin_unmatched_count());
    let alerts = Resource::new(move || refresh.get(), |_| admin_alert_count());
    let path = use_location().pathname;
    let current = move |href: &'static str| (path.get() == href).then_some("page");
    view! {
        <nav class="admin-nav" aria-label="Admin">
            <a href="/admin" aria-current=move || current("/admin")>"API keys"</a>
            <a href="/admin/orders" aria-current=move || current("/admin/orders")>"Orders"</a>
            <a href="/admin/unmatched" aria-current=move || current("/admin/unmatched")>
                "Unmatched payments"
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match count.await {
                            Ok(n) if n > 0 => Some(view! {
                                <span class="badge" id="unmatched-badge" aria-label=format!("{n} open")>{n.to_string()}</span>
                            }),
                            _ => None,
                        }
                    })}
                </Transition>
            </a>
            <a href="/admin/webhooks" aria-current=move || current("/admin/webhooks")>"Webhook events"</a>
            <a href="/admin/audit" aria-current=move || current("/admin/audit")>"Audit log"</a>
            <a href="/admin/metrics" aria-current=move || current("/admin/metrics")>"Metrics"</a>
            <a href="/admin/plans" aria-current=move || current("/admin/plans")>"Plans"</a>
            <a href="/admin/settings" aria-current=move || current("/admin/settings")>"Settings"</a>
            <a href="/admin/alerts" aria-current=move || current("/admin/alerts")>
                "Alerts"
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match alerts.await {
                            Ok(n) if n > 0 => Some(view! {
                                <span class="badge" id="alerts-badge" aria-label=format!("{n} open")>{n.to_string()}</span>
                            }),
                            _ => None,
                        }
                    })}
                </Transition>
            </a>
        </nav>
    }
}
