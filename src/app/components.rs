//! Pieces shared by several pages.

use leptos::form::ActionForm;
use leptos::prelude::*;

use crate::api::system::get_whop_mode;
use crate::app::Session;
use crate::model::{AppError, Role, WhopMode};

/// The top bar: product name, navigation for the signed-in person, and the skip link.
#[component]
pub fn SiteHeader() -> impl IntoView {
    let session = expect_context::<Session>();
    let whop_mode = Resource::new(|| (), |_| get_whop_mode());
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match whop_mode.await {
                    Ok(WhopMode::Simulated) => Some(view! {
                        <div class="test-banner" id="test-mode-banner" role="note">
                            "TEST MODE: payments go to a simulated Whop checkout. No real money moves."
                        </div>
                    }.into_any()),
                    Ok(WhopMode::Sandbox) => Some(view! {
                        <div class="test-banner" id="test-mode-banner" role="note">
                            "TEST MODE: Whop sandbox. No real money moves."
                        </div>
                    }.into_any()),
                    _ => None,
                }
            })}
        </Suspense>
        <header class="site-header">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                " Atlas Credits"
            </a>
            <nav aria-label="Account">
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match session.viewer.await {
                            Ok(Some(v)) => view! {
                                <ul class="nav">
                                    // Only an address whose origin HOST_APP_ORIGINS lists (checked
                                    // on the server each time it is shown).
                                    {v.back_url.clone().map(|href| view! {
                                        <li><a class="back-to-host" id="back-to-host" href=href rel="noopener">"← Back to Atlas"</a></li>
                                    })}
                                    <li><a href="/credits">"Buy credits"</a></li>
                                    <li><a href="/account">"Account"</a></li>
                                    {(v.role == Role::Admin).then(|| view! { <li><a href="/admin">"Admin"</a></li> })}
                                    <li class="nav-email" title=v.email.clone()>{v.email.clone()}</li>
                                    <li>
                                        <ActionForm action=session.log_out>
                                            <button type="submit" class="link-button" id="log-out">"Log out"</button>
                                        </ActionForm>
                                    </li>
                                </ul>
                            }.into_any(),
                            _ => view! {
                                <ul class="nav">
                                    <li><a href="/login">"Log in"</a></li>
                                    <li><a class="button primary small" href="/signup">"Sign up"</a></li>
                                </ul>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </nav>
        </header>
    }
}

/// True once the WASM bundle has taken over the page. Effects never run during server
/// rendering, so this stays false in the HTML and flips only in the browser.
pub fn use_hydrated() -> ReadSignal<bool> {
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    hydrated
}

/// An error shown where it happened, announced to screen readers.
#[component]
pub fn ErrorNote(error: AppError) -> impl IntoView {
    view! { <p class="error" role="alert">{error.to_string()}</p> }
}

/// Shown while data loads.
#[component]
pub fn Loading(#[prop(into)] label: String) -> impl IntoView {
    view! { <p class="loading" role="status" aria-live="polite">{label}</p> }
}
