//! The landing page: what Atlas Credits is, and a live check that the server and its database answer.

use leptos::prelude::*;

use crate::api::system::get_system_status;
use crate::app::components::use_hydrated;
use crate::model::{AppError, SystemStatus};

#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <section class="hero">
            <h1>"Credits for Atlas, paid in seconds"</h1>
            <p class="lead">
                "Pick a plan, pay on Whop's secure checkout, and your credits land in your balance "
                "as soon as the payment clears."
            </p>
            <p class="cta">
                <a class="button primary" id="see-plans" href="/credits">"See plans and buy credits"</a>
            </p>
        </section>
        <StatusCheck/>
    }
}

/// A button that asks the server (and through it the database) whether everything is up.
#[component]
fn StatusCheck() -> impl IntoView {
    let hydrated = use_hydrated();
    let check = Action::new(|_: &()| get_system_status());
    let pending = check.pending();
    let result = check.value();

    view! {
        <section class="card" aria-labelledby="status-heading">
            <h2 id="status-heading">"System status"</h2>
            <p class="muted">"Checks that the server and its database answer right now."</p>
            <button
                class="button primary"
                id="check-status"
                // Disabled until hydration: a click before the bundle runs would do nothing.
                disabled=move || !hydrated.get() || pending.get()
                on:click=move |_| {
                    check.dispatch(());
                }
            >
                {move || if pending.get() { "Checking…" } else { "Check status" }}
            </button>
            <div class="status-result" role="status" aria-live="polite">
                {move || result.get().map(|r: Result<SystemStatus, AppError>| match r {
                    Ok(s) => view! {
                        <dl class="facts" id="status-ok">
                            <dt>"Database"</dt><dd id="status-backend">{s.backend}</dd>
                            <dt>"Schema version"</dt><dd id="status-schema">{s.schema_version}</dd>
                            <dt>"Plans on sale"</dt><dd id="status-plans">{s.active_plans}</dd>
                            <dt>"Checked at"</dt><dd>{s.checked_at}</dd>
                        </dl>
                    }.into_any(),
                    Err(e) => view! { <p class="error" id="status-error">{e.to_string()}</p> }.into_any(),
                })}
            </div>
        </section>
    }
}
