//! Pieces shared by several pages.

use leptos::prelude::*;

/// The top bar: product name and the skip link for keyboard users.
#[component]
pub fn SiteHeader() -> impl IntoView {
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="site-header">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                " Atlas Credits"
            </a>
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
