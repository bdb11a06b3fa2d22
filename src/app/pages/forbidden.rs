use leptos::prelude::*;
use leptos_meta::Title;

/// Shown to a signed-in person who opened a page they may not see (the server answers 403).
#[component]
pub fn Forbidden() -> impl IntoView {
    view! {
        <Title text="Not allowed"/>
        <section class="card narrow" id="forbidden">
            <h1>"Not allowed"</h1>
            <p>"This page is for administrators. You are signed in without admin rights."</p>
            <p><a href="/account">"Go to your account"</a></p>
        </section>
    }
}
