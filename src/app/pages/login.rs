//! Log in, then go back where the person was (`?next=`).

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::app::components::ErrorNote;
use crate::app::Session;
use crate::model::HOST_USER_HINT;

#[component]
pub fn LoginPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_else(|| "/account".to_string());
    let pending = session.log_in.pending();

    view! {
        <Title text="Log in"/>
        <section class="card narrow" aria-labelledby="login-heading">
            <h1 id="login-heading">"Log in"</h1>
            <ActionForm action=session.log_in attr:class="form" attr:novalidate="">
                <input type="hidden" name="next" value=next/>
                <label for="login-email">"Email"</label>
                <input id="login-email" name="email" type="email" autocomplete="email" required/>
                <label for="login-password">"Password"</label>
                <input id="login-password" name="password" type="password" autocomplete="current-password" required/>
                {move || session.log_in.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNote error=e/> })}
                <button type="submit" class="button primary" disabled=pending>
                    {move || if pending.get() { "Logging in…" } else { "Log in" }}
                </button>
            </ActionForm>
            <p class="muted">"New here? " <a href="/signup">"Create an account"</a></p>
            // Always shown, to everyone: whether an account has a password is never revealed.
            <p class="muted" id="host-app-hint">{HOST_USER_HINT}</p>
        </section>
    }
}
