//! `/admin/metrics`: the success metrics of the last 7, 30 or 90 days (`?days=`), computed from
//! our own tables, with revenue, credits sold, refunds and time to credit per day drawn as charts.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;

use crate::api::admin_events::admin_metrics;
use crate::app::components::{ErrorNote, Loading};
use crate::app::pages::admin_charts::{Bar, BarChart};
use crate::app::pages::admin_nav::AdminNav;
use crate::app::pages::forbidden::Forbidden;
use crate::model::{format_secs, format_tenths, AppError, Cents, Credits, MetricsView};

const PERIODS: [&str; 3] = ["7", "30", "90"];

fn usd(c: i64) -> String {
    Cents(c).format("usd")
}

fn credits(c: i64) -> String {
    Credits(c).to_string()
}

fn secs(s: i64) -> String {
    format_secs(s)
}

fn or_dash(v: Option<String>) -> String {
    v.unwrap_or_else(|| "–".into())
}

#[component]
pub fn AdminMetricsPage() -> impl IntoView {
    let query = use_query_map();
    let days = Memo::new(move |_| {
        let d = query.read().get("days").unwrap_or_default();
        PERIODS.iter().find(|p| **p == d).copied().unwrap_or("30")
    });
    let metrics = Resource::new(move || days.get(), |d| admin_metrics(Some(d.to_string())));

    view! {
        <Title text="Metrics · Admin"/>
        <h1>"Admin"</h1>
        <AdminNav refresh=Signal::derive(|| 0usize)/>
        <section class="card" aria-labelledby="metrics-heading">
            <h2 id="metrics-heading">"Metrics"</h2>
            <nav class="filters" aria-label="Period">
                {PERIODS.iter().map(|p| {
                    let p = *p;
                    view! {
                        <a href=format!("/admin/metrics?days={p}") aria-current=move || (days.get() == p).then_some("page")>
                            {format!("Last {p} days")}
                        </a>
                    }
                }).collect_view()}
            </nav>
            <Transition fallback=|| view! { <Loading label="Loading…"/> }>
                {move || Suspend::new(async move {
                    match metrics.await {
                        Err(AppError::Unauthorized) => view! { <Redirect path="/login?next=/admin/metrics"/> }.into_any(),
                        Err(AppError::Forbidden) => view! { <Forbidden/> }.into_any(),
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(m) => view! { <MetricsBody m=m/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn MetricsBody(m: MetricsView) -> impl IntoView {
    let revenue: Vec<Bar> = m
        .days
        .iter()
        .map(|d| Bar {
            label: d.date.clone(),
            value: Some(d.revenue_cents),
        })
        .collect();
    let credits_by_day: Vec<Bar> = m
        .days
        .iter()
        .map(|d| Bar {
            label: d.date.clone(),
            value: Some(d.credits_sold),
        })
        .collect();
    let ttc: Vec<Bar> = m
        .days
        .iter()
        .map(|d| Bar {
            label: d.date.clone(),
            value: d.time_to_credit_median_secs,
        })
        .collect();
    let refunds_by_day: Vec<Bar> = m
        .days
        .iter()
        .map(|d| Bar {
            label: d.date.clone(),
            value: Some(d.refunded_cents),
        })
        .collect();
    let stat = |id: &'static str, label: &'static str, value: String, note: String| {
        view! {
            <div class="stat" id=id>
                <dt>{label}</dt>
                <dd><span class="stat-value">{value}</span> <span class="hint">{note}</span></dd>
            </div>
        }
    };
    view! {
        <p class="muted" id="metrics-period">{format!("{} to {} (UTC)", m.from, m.to)}</p>
        {m.truncated.then(|| view! {
            <p class="notice warn" role="note">"This period holds more rows than are read at once: the figures cover the first 200,000."</p>
        })}
        <dl class="stats">
            {stat("metric-conversion", "Checkout conversion",
                or_dash(m.conversion_tenths.map(format_tenths)),
                format!("{} of {} Whop orders paid", m.whop_orders_paid, m.whop_orders_created))}
            {stat("metric-success", "Payment success rate",
                or_dash(m.success_rate_tenths.map(format_tenths)),
                format!("{} paid, {} failed", m.whop_orders_paid, m.whop_orders_failed))}
            {stat("metric-ttc", "Time to credit (median)",
                or_dash(m.time_to_credit_median_secs.map(secs)),
                format!("95th percentile {} over {} payments", or_dash(m.time_to_credit_p95_secs.map(secs)), m.time_to_credit_count))}
            {stat("metric-revenue", "Revenue",
                usd(m.revenue_cents),
                format!("{} credits sold", Credits(m.credits_sold)))}
            {stat("metric-refunds", "Refunds",
                m.refunds.to_string(),
                format!("{} refunded", usd(m.refunded_cents)))}
            {stat("metric-manual", "Manual orders approved",
                m.manual_approved.to_string(),
                format!("waited {} (median), {} (95th percentile)",
                    or_dash(m.manual_wait_median_secs.map(secs)), or_dash(m.manual_wait_p95_secs.map(secs))))}
            {stat("metric-disputes", "Disputes", m.disputes.to_string(), String::new())}
            {stat("metric-unmatched", "Unmatched payments", m.unmatched.to_string(), String::new())}
        </dl>
        <div class="charts">
            <BarChart id="revenue-chart" title="Revenue per day".into() value_label="Revenue" bars=revenue format=usd/>
            <BarChart id="credits-chart" title="Credits sold per day".into() value_label="Credits" bars=credits_by_day format=credits/>
            <BarChart id="refunds-chart" title="Refunds per day".into() value_label="Refunded" bars=refunds_by_day format=usd/>
            <BarChart id="ttc-chart" title="Time to credit per day (median)".into() value_label="Median" bars=ttc format=secs/>
        </div>
    }
}
