//! Create an account.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::app::components::ErrorNote;
use crate::app::Session;

/// Kept equal to `server::service::auth::MIN_PASSWORD_CHARS` (the server checks; this only hints).
const MIN_PASSWORD_CHARS: usize = 10;

#[component]
pub fn SignupPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_else(|| "/account".to_string());
    let pending = session.sign_up.pending();

    view! {
        <Title text="Sign up"/>
        <section class="card narrow" aria-labelledby="signup-heading">
            <h1 id="signup-heading">"Create your account"</h1>
            <ActionForm action=session.sign_up attr:class="form" attr:novalidate="">
                <input type="hidden" name="next" value=next/>
                <label for="signup-email">"Email"</label>
                <input id="signup-email" name="email" type="email" autocomplete="email" required/>
                <label for="signup-password">"Password"</label>
                <input
                    id="signup-password"
                    name="password"
                    type="password"
                    autocomplete="new-password"
                    minlength=MIN_PASSWORD_CHARS.to_string()
                    aria-describedby="signup-password-hint"
                    required
                />
                <p class="hint" id="signup-password-hint">{format!("At least {MIN_PASSWORD_CHARS} characters.")}</p>
                {move || session.sign_up.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNote error=e/> })}
                <button type="submit" class="button primary" disabled=pending>
                    {move || if pending.get() { "Creating account…" } else { "Create account" }}
                </button>
            </ActionForm>
            <p class="muted">"Already have an account? " <a href="/login">"Log in"</a></p>
        </section>
    }
}
