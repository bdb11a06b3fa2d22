//! `/admin/settings`: the Whop switch, the Whop beta list, the low-balance threshold, and which
//! Whop the app talks to (from the configuration, read-only). Changes apply on every instance
//! within seconds and are audited.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

use crate::api::admin_settings::{
    admin_get_settings, AdminSetLowBalanceThreshold, AdminSetWhopBeta, AdminSetWhopEnabled,
};
use crate::app::components::{ErrorNote, Loading};
use crate::app::pages::admin_nav::AdminNav;
use crate::app::pages::forbidden::Forbidden;
use crate::model::{AppError, SettingsView, WhopMode};

fn outcome(id: &'static str, r: Option<Result<String, AppError>>) -> Option<AnyView> {
    r.map(|r| match r {
        Ok(msg) => view! { <p class="notice ok" role="status" id=id>{msg}</p> }.into_any(),
        Err(e) => view! { <div id=id><ErrorNote error=e/></div> }.into_any(),
    })
}

#[component]
pub fn AdminSettingsPage() -> impl IntoView {
    let switch = ServerAction::<AdminSetWhopEnabled>::new();
    let beta = ServerAction::<AdminSetWhopBeta>::new();
    let threshold = ServerAction::<AdminSetLowBalanceThreshold>::new();
    let changes = Signal::derive(move || switch.version().get() + beta.version().get() + threshold.version().get());
    let settings = Resource::new(move || changes.get(), |_| admin_get_settings());

    view! {
        <Title text="Settings · Admin"/>
        <h1>"Admin"</h1>
        <AdminNav refresh=changes/>
        <Transition fallback=|| view! { <Loading label="Loading settings…"/> }>
            {move || Suspend::new(async move {
                match settings.await {
                    Err(AppError::Unauthorized) => view! { <Redirect path="/login?next=/admin/settings"/> }.into_any(),
                    Err(AppError::Forbidden) => view! { <Forbidden/> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    Ok(s) => view! { <SettingsForms s=s switch=switch beta=beta threshold=threshold/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn SettingsForms(
    s: SettingsView,
    switch: ServerAction<AdminSetWhopEnabled>,
    beta: ServerAction<AdminSetWhopBeta>,
    threshold: ServerAction<AdminSetLowBalanceThreshold>,
) -> impl IntoView {
    let mode = match s.whop_mode {
        WhopMode::Simulated => "Simulator (test mode: nothing is charged)",
        WhopMode::Sandbox => "Whop sandbox (no real money)",
        WhopMode::Live => "Whop production (real payments)",
    };
    let on = s.whop_enabled;
    view! {
        <section class="card" aria-labelledby="whop-heading">
            <h2 id="whop-heading">"Whop"</h2>
            <dl class="payment-facts" id="whop-target">
                <dt>"Talking to"</dt><dd id="whop-mode">{mode}</dd>
                <dt>"API address"</dt><dd><code>{s.whop_api_base.clone()}</code></dd>
            </dl>
            <p class="muted">"Set by the server's configuration (WHOP_MODE, WHOP_BASE_URL); read-only here."</p>
        </section>
        <section class="card" aria-labelledby="switch-heading">
            <h2 id="switch-heading">"Card payments through Whop"</h2>
            <p class="muted" id="switch-help">
                "On: plans with a price show Buy and pay through Whop. Off: every plan uses the request
                 flow (the buyer asks, an admin approves); orders already at Whop still settle when
                 their payment arrives. Takes effect on every server within a few seconds."
            </p>
            <p>"Now: " <strong id="switch-state">{if on { "on" } else { "off" }}</strong></p>
            <ActionForm action=switch attr:class="form">
                <fieldset aria-describedby="switch-help">
                    <legend>"Whop payments"</legend>
                    <label class="check"><input type="radio" name="enabled" value="on" checked=on/>" On"</label>
                    <label class="check"><input type="radio" name="enabled" value="off" checked={!on}/>" Off"</label>
                </fieldset>
                <button type="submit" class="button primary" id="switch-save" disabled=switch.pending()>"Save"</button>
            </ActionForm>
            {move || outcome("switch-result", switch.value().get())}
        </section>
        <section class="card" aria-labelledby="beta-heading">
            <h2 id="beta-heading">"Whop beta"</h2>
            <p class="muted" id="beta-help">
                "Empty: everyone sees Whop checkout. With addresses: only those signed-in users see Buy;
                 everyone else gets the request flow. One address per line (or separated by commas), at
                 most 500."
            </p>
            <ActionForm action=beta attr:class="form">
                <label for="beta-emails">"Beta users' emails"</label>
                <textarea id="beta-emails" name="emails" rows="5" aria-describedby="beta-help">
                    {s.beta_emails.join("\n")}
                </textarea>
                <button type="submit" class="button primary" id="beta-save" disabled=beta.pending()>"Save beta list"</button>
            </ActionForm>
            {move || outcome("beta-result", beta.value().get())}
        </section>
        <section class="card" aria-labelledby="threshold-heading">
            <h2 id="threshold-heading">"Low-balance warning"</h2>
            <p class="muted" id="threshold-help">
                "A user whose balance falls below this many credits sees a warning once, until they top
                 up. 0 switches the warning off."
            </p>
            <ActionForm action=threshold attr:class="form">
                <label for="threshold">"Threshold (credits)"</label>
                <input id="threshold" name="threshold" inputmode="numeric" required pattern="[0-9,_ ]+"
                       aria-describedby="threshold-help" value=s.low_balance_threshold.to_string()/>
                <button type="submit" class="button primary" id="threshold-save" disabled=threshold.pending()>"Save threshold"</button>
            </ActionForm>
            {move || outcome("threshold-result", threshold.value().get())}
        </section>
    }
}
