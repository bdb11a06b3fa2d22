//! The admin header: the admin pages, with the counts of unmatched payments (they need a person;
//! nothing else will credit them) and of open alerts as badges. Shown only to admins: the
//! unmatched count is an admin-only call, so a visitor it refuses sees no admin links at all.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::api::admin_alerts::admin_alert_count;
use crate::api::admin_unmatched::admin_unmatched_count;

const LINKS: [(&str, &str); 10] = [
    ("/admin", "API keys"),
    ("/admin/orders", "Orders"),
    ("/admin/unmatched", "Unmatched payments"),
    ("/admin/plans", "Plans"),
    ("/admin/settings", "Settings"),
    ("/admin/webhooks", "Webhook events"),
    ("/admin/audit", "Audit log"),
    ("/admin/metrics", "Metrics"),
    ("/admin/alerts", "Alerts"),
    ("/admin/webhook-endpoints", "Webhooks to Atlas"),
];

#[component]
pub fn AdminNav(
    /// Bumped by the page after an action that may change the counts.
    #[prop(into)]
    refresh: Signal<usize>,
) -> impl IntoView {
    let unmatched = Resource::new(move || refresh.get(), |_| admin_unmatched_count());
    let alerts = Resource::new(move || refresh.get(), |_| admin_alert_count());
    let path = use_location().pathname;
    // A detail page (/admin/orders/12) marks its list as current too.
    let current = move |href: &'static str| {
        let p = path.get();
        (p == href || (href != "/admin" && p.starts_with(&format!("{href}/")))).then_some("page")
    };
    let badge = move |id: &'static str, n: i64| {
        (n > 0).then(|| view! { <span class="badge" id=id aria-label=format!("{n} open")>{n.to_string()}</span> })
    };
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let unmatched = unmatched.await.ok()?;
                let alerts = alerts.await.unwrap_or(0);
                Some(view! {
                    <nav class="admin-nav" aria-label="Admin">
                        {LINKS.iter().map(|(href, label)| {
                            let href = *href;
                            let count = match href {
                                "/admin/unmatched" => badge("unmatched-badge", unmatched),
                                "/admin/alerts" => badge("alerts-badge", alerts),
                                _ => None,
                            };
                            view! { <a href=href aria-current=move || current(href)>{*label}{count}</a> }
                        }).collect_view()}
                    </nav>
                })
            })}
        </Transition>
    }
}
