//! A bar chart drawn as inline SVG by the app itself (no chart library, no script): one bar per
//! day, scaled to the largest value. It is an image with a text alternative naming the figures,
//! and the same figures follow in a table for screen readers and for reading exact values.

use leptos::prelude::*;

const W: f64 = 600.0;
const H: f64 = 200.0;
/// Room at the bottom for the first and last date, and at the top for the largest value.
const BOTTOM: f64 = 22.0;
const TOP: f64 = 18.0;

/// One bar: its label (a date) and value, None for "no data that day" (drawn as nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub label: String,
    pub value: Option<i64>,
}

#[component]
pub fn BarChart(
    /// The element id prefix, e.g. "revenue-chart".
    id: &'static str,
    title: String,
    /// What a value is, for the table header, e.g. "Revenue".
    value_label: &'static str,
    bars: Vec<Bar>,
    /// How a value reads, e.g. "$7.50" or "4 s".
    format: fn(i64) -> String,
) -> impl IntoView {
    let max = bars.iter().filter_map(|b| b.value).max().unwrap_or(0);
    if max <= 0 {
        return view! {
            <figure class="chart" id=id>
                <figcaption>{title}</figcaption>
                <p class="empty" id=format!("{id}-empty")>"No data in this period."</p>
            </figure>
        }
        .into_any();
    }
    let n = bars.len().max(1) as f64;
    let slot = W / n;
    let bar_w = (slot * 0.8).max(1.0);
    let plot = H - BOTTOM - TOP;
    let with_data: Vec<&Bar> = bars.iter().filter(|b| b.value.is_some_and(|v| v > 0)).collect();
    let peak = bars
        .iter()
        .find(|b| b.value == Some(max))
        .map(|b| b.label.clone())
        .unwrap_or_default();
    let summary = format!(
        "{title}: {} of {} days with data; highest {} on {peak}.",
        with_data.len(),
        bars.len(),
        format(max)
    );
    let first = bars.first().map(|b| b.label.clone()).unwrap_or_default();
    let last = bars.last().map(|b| b.label.clone()).unwrap_or_default();
    let rects = bars
        .iter()
        .enumerate()
        .filter_map(|(i, b)| {
            let v = b.value.filter(|v| *v > 0)?;
            let h = (v as f64 / max as f64 * plot).max(1.0);
            let x = i as f64 * slot + (slot - bar_w) / 2.0;
            let y = TOP + plot - h;
            let tip = format!("{}: {}", b.label, format(v));
            Some(view! {
                <rect class="bar" x=format!("{x:.1}") y=format!("{y:.1}") width=format!("{bar_w:.1}") height=format!("{h:.1}")>
                    <title>{tip}</title>
                </rect>
            })
        })
        .collect_view();
    let rows = bars
        .iter()
        .map(|b| {
            let v = b.value.map(format).unwrap_or_else(|| "–".into());
            view! { <tr><td>{b.label.clone()}</td><td class="num">{v}</td></tr> }
        })
        .collect_view();
    view! {
        <figure class="chart" id=id>
            <figcaption>{title.clone()}</figcaption>
            <svg viewBox=format!("0 0 {W} {H}") width="100%"
                 role="img" aria-label=summary.clone() xmlns="http://www.w3.org/2000/svg">
                <title>{summary.clone()}</title>
                <line class="axis" x1="0" y1=format!("{}", H - BOTTOM) x2=format!("{W}") y2=format!("{}", H - BOTTOM)/>
                <text class="chart-label" x="2" y="12">{format(max)}</text>
                {rects}
                <text class="chart-label" x="2" y=format!("{}", H - 6.0)>{first}</text>
                <text class="chart-label" x=format!("{}", W - 2.0) y=format!("{}", H - 6.0) text-anchor="end">{last}</text>
            </svg>
            <details>
                <summary>{format!("{title} as a table")}</summary>
                <div class="table-wrap">
                    <table id=format!("{id}-table")>
                        <thead><tr><th scope="col">"Day"</th><th scope="col" class="num">{value_label}</th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            </details>
        </figure>
    }
    .into_any()
}
